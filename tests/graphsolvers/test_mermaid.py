from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphsolvers.errors import MermaidSyntaxError
from graphsolvers.graph import Edge, Graph, Node
from graphsolvers.mermaid import SHAPES, parse_mermaid, to_mermaid

from .strategies import graphs


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(graphs())
def test_graph_mermaid_graph_round_trip(g: Graph) -> None:
    text = to_mermaid(g)
    assert parse_mermaid(text) == g


@st.composite
def plain_flowcharts(draw) -> Graph:
    """Graphs that Mermaid syntax expresses on its own: Mermaid ids, shape-derived kinds, labels only."""
    ids = draw(st.lists(st.from_regex(r"[A-Z][A-Za-z0-9_]{0,3}", fullmatch=True), max_size=8, unique=True))
    kinds = st.sampled_from(["process", "decision", "io", "connector"])
    nodes = [Node(id=i, text=draw(st.text(max_size=30)), kind=draw(kinds)) for i in ids]
    edges = [
        Edge(source=draw(st.sampled_from(ids)), target=draw(st.sampled_from(ids)), label=draw(st.none() | st.text()))
        for _ in range(draw(st.integers(0, 10) if ids else st.just(0)))
    ]
    return Graph(nodes=nodes, edges=edges)


@pytest.mark.slow
@settings(max_examples=100, deadline=None)
@given(plain_flowcharts())
def test_plain_flowcharts_need_no_meta_comment(g: Graph) -> None:
    text = to_mermaid(g)
    assert "flowpath:meta" not in text
    assert parse_mermaid(text) == g


@pytest.mark.parametrize(
    ("decl", "shape", "kind", "text"),
    [
        ('X["Rect text"]', "rect", "process", "Rect text"),
        ('X("Rounded")', "round", "process", "Rounded"),
        ('X(["Stadium"])', "stadium", "start", "Stadium"),
        ('X{"Decide?"}', "rhombus", "decision", "Decide?"),
        ('X{{"Prepare"}}', "hexagon", "process", "Prepare"),
        ('X[/"In or out"/]', "parallelogram", "io", "In or out"),
        ('X[\\"Alt io"\\]', "parallelogram_alt", "io", "Alt io"),
        ('X[/"Trap"\\]', "trapezoid", "io", "Trap"),
        ('X(("Circle"))', "circle", "connector", "Circle"),
        ('X((("Double")))', "double_circle", "connector", "Double"),
        ('X[("Database")]', "cylinder", "io", "Database"),
        ('X[["Sub"]]', "subroutine", "process", "Sub"),
        ('X>"Flag"]', "flag", "other", "Flag"),
        ("X[Unquoted label]", "rect", "process", "Unquoted label"),
        ("X{Unquoted decision?}", "rhombus", "decision", "Unquoted decision?"),
        ("X[/Unquoted io/]", "parallelogram", "io", "Unquoted io"),
        ('X["say #quot;hi#quot; #35; #amp;"]', "rect", "process", 'say "hi" # &'),
        ('X{"/Is it melted?"/}', "rhombus", "decision", "/Is it melted?/"),  # Mermaid renders the stray slashes
        ('X["Has [brackets] and (parens) | pipes"]', "rect", "process", "Has [brackets] and (parens) | pipes"),
    ],
)
def test_node_shapes(decl: str, shape: str, kind: str, text: str) -> None:
    g = parse_mermaid(f"flowchart TD\n    {decl}\n")
    (node,) = g.nodes
    assert (node.id, node.text, node.kind) == ("X", text, kind)
    assert node.attrs.get("shape", shape) == shape
    assert parse_mermaid(to_mermaid(g)) == g


def test_edges_labels_chains_and_ampersands() -> None:
    g = parse_mermaid(
        """graph LR;
        %% a comment
        A([Start]) --> B{"Ok?"} -->|Yes| C & D
        B -->|"No"| A
        B --> |"Maybe"| E
        C -- text label --> E
        D -.-> E
        E ==> F & G
        F --- G; G -.->|x| A
        H <--> A
        A--oB
        A-->B
        style A fill:#f9f
        classDef hot fill:#f00
        I:::hot --x A
        """
    )
    assert g.attrs["direction"] == "LR"
    assert g.attrs["mermaid_directives"] == ["style A fill:#f9f", "classDef hot fill:#f00"]
    got = [(e.source, e.target, e.label, e.attrs.get("link", "-->")) for e in g.edges]
    assert got == [
        ("A", "B", None, "-->"),
        ("B", "C", "Yes", "-->"),
        ("B", "D", "Yes", "-->"),
        ("B", "A", "No", "-->"),
        ("B", "E", "Maybe", "-->"),
        ("C", "E", "text label", "-->"),
        ("D", "E", None, "-.->"),
        ("E", "F", None, "==>"),
        ("E", "G", None, "==>"),
        ("F", "G", None, "---"),
        ("G", "A", "x", "-.->"),
        ("H", "A", None, "<-->"),
        ("A", "B", None, "--o"),
        ("A", "B", None, "-->"),
        ("I", "A", None, "--x"),
    ]
    assert g.node("C").text == "C" and g.node("I").attrs["class"] == "hot"
    assert parse_mermaid(to_mermaid(g)) == g


def test_front_matter_and_isolated_nodes() -> None:
    g = parse_mermaid('---\ntitle: demo\n---\nflowchart TB\n  Lonely["Alone"]\n')
    assert g.node_ids == ["Lonely"] and g.edges == [] and g.attrs == {"direction": "TB"}


@pytest.mark.parametrize(
    ("text", "line", "column", "match"),
    [
        ("", 1, 1, "empty diagram"),
        ("sequenceDiagram\n A->>B: hi", 1, 1, "expected a 'flowchart' or 'graph' header"),
        ("flowchart XY\n A --> B", 1, 11, "unknown direction; use one of"),
        ('flowchart TD\n    A["unclosed\n', 2, 6, "unterminated quoted label|not closed"),
        ("flowchart TD\n    A[no close\n    B --> C", 2, 6, "not closed"),
        ("flowchart TD\n    A --> ", 2, 11, "expected a node id"),
        ("flowchart TD\n    A ~~ B", 2, 7, "expected a link"),
        ("flowchart TD\n    A -->|Yes B", 2, 10, "edge label opened with '|' is not closed"),
        ("flowchart TD\n  subgraph one\n  A --> B\n  end", 2, 3, "not supported"),
        ("flowchart TD\n  A --> B\n  %% flowpath:meta {bad", 3, 3, "unreadable flowpath:meta"),
        ("---\ntitle: x\nflowchart TD\n", 1, 1, "front matter"),
    ],
)
def test_syntax_errors_have_line_and_column(text: str, line: int, column: int, match: str) -> None:
    with pytest.raises(MermaidSyntaxError, match=match) as info:
        parse_mermaid(text)
    assert (info.value.line, info.value.column) == (line, column), str(info.value)
    assert str(info.value).startswith(f"line {line}, column {column}: ")


def test_non_string_input() -> None:
    with pytest.raises(MermaidSyntaxError, match="expected Mermaid text"):
        parse_mermaid(b"flowchart TD")  # type: ignore[arg-type]


def test_every_shape_is_emittable() -> None:
    nodes = [Node(id=f"N{i}", text=name, attrs={"shape": name}) for i, name in enumerate(SHAPES)]
    g = Graph(nodes=nodes)
    back = parse_mermaid(to_mermaid(g))
    assert back == g
    assert [n.attrs.get("shape", "rect") for n in back.nodes] == list(SHAPES)


def test_unsafe_ids_are_aliased_and_restored() -> None:
    g = Graph(nodes=[Node(id="end"), Node(id="a b"), Node(id="n0")], edges=[Edge(source="end", target="a b")])
    text = to_mermaid(g)
    assert " end" not in text.split("%%")[0]
    assert parse_mermaid(text) == g

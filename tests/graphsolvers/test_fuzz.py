"""Fuzzing the core's front doors (issue 25, item 7): Mermaid text, graph JSON, graph files, `graphsolvers convert`.

Property: any input gives a valid graph or a :class:`~graphsolvers.errors.ToolkitError` (for the CLI: exit 2 and
one stderr line, no output file), never another exception.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from graphsolvers.cli import main
from graphsolvers.errors import GraphValidationError, LimitExceededError, MermaidSyntaxError, ToolkitError
from graphsolvers.graph import Graph, ensure_graph
from graphsolvers.io import load_graph
from graphsolvers.mermaid import SHAPES, parse_mermaid, to_mermaid

from ..fuzzing import budget, expect_typed, mermaid_sources, mutated_bytes, mutated_text
from .strategies import graphs, json_values

pytestmark = pytest.mark.fuzz

SOURCES = mermaid_sources()
MERMAID_TOKENS = [
    *"AB01_ \t\n\r;&|[](){}<>/\\\"'=.:%#-ox",
    *["-->", "---", "-.->", "==>", "--o", "--x", "<-->", "-- text -->", "|label|", "((", "))", "[[", "]]"],
    *["[/", "/]", "{{", "}}", "([", "])", ">", ":::cls", "%%", "%% flowpath:meta {", '"', "#quot;", "#9;"],
    *["#99999999;", "subgraph S", "end", "direction LR", "style A fill:#f00", "click A", "flowchart LR\n"],
    *["graph TD;", "---\n", "\x00", "\u2028", "é", "🙂", "A & B & C"],
]
mermaid_pieces = st.lists(st.sampled_from(MERMAID_TOKENS), max_size=12).map("".join) | st.text(max_size=12)


# Each piece of a flowchart comes as (well formed, broken or odd); `flowcharts` builds half its charts from well-formed
# pieces only (they parse, and the parser's full path and round trip run) and half with broken pieces mixed in.
NODE_IDS = (["A", "B", "C1", "node_2", "é", "1"], ["end", "subgraph", "style", "A-B", "", "A B"])
SHAPE_PAIRS = sorted(SHAPES.values())
LABELS = (["", "x", "Start here", '"quoted"', "#quot;", "a &amp; b", "#35;"], ['"unterminated', "a|b", "#99999999;"])
LABELS[1].extend(["[", "}", '"a" tail', "(", '""'])
LINKS = (["-->", "---", "-.->", "==>", "--o", "--x", "<-->", "-- text -->", "-. dotted .->"], ["-- open", "->", "--"])
EDGE_LABELS = (["", "|yes|", '|"q"|', '|"x" y|'], ["|unclosed", "| |", "|a|b|"])
DIRECTIVES = (["%% comment", "%% flowpath:meta {}", "style A fill:#f00", "classDef c fill:#fff", "class A c"], [])
DIRECTIVES[1].extend(["%% flowpath:meta [", "end", "subgraph S", "direction LR", "click A call", "linkStyle"])
HEADERS = (
    ["flowchart TD", "graph LR", "flowchart", "graph TD;", "---\ntitle: x\n---\nflowchart TD", "%% c\ngraph BT"],
    [],
)
HEADERS[1].extend(["flowchart XY", "flowchart TD A --> B", "---\nflowchart TD", "", "graph-LR"])


@st.composite
def flowcharts(draw: st.DrawFn) -> str:
    """Flowcharts built from Mermaid's own pieces: headers, ids, shapes, labels, links, edge labels, '&' groups,
    comments and directives, on lines or separated by ';'."""
    clean = draw(st.booleans())

    def pick(pair: tuple[list, list]) -> Any:
        good, bad = pair
        return draw(st.sampled_from(good) if clean or not bad or draw(st.integers(0, 3)) else st.sampled_from(bad))

    def node() -> str:
        shape = draw(st.none() | st.sampled_from(SHAPE_PAIRS))
        text = pick(LABELS) if clean or draw(st.integers(0, 3)) else draw(st.text(max_size=6))
        closer = shape[1] if shape and (clean or draw(st.integers(0, 5))) else ""
        suffix = draw(st.sampled_from(["", "", ":::cls"] + ([] if clean else [":::", ":::a-b"])))
        return pick(NODE_IDS) + (shape[0] + text + closer if shape else "") + suffix

    def group() -> str:
        return " & ".join(node() for _ in range(draw(st.integers(1, 3))))

    def link() -> str:
        op = pick(LINKS)
        return op + (pick(EDGE_LABELS) if " " not in op else "")  # '-- text -->' carries its label already

    lines = []
    for _ in range(draw(st.integers(0, 8))):
        if draw(st.integers(0, 4)):
            lines.append(group() + "".join(f" {link()} {group()}" for _ in range(draw(st.integers(0, 3)))))
        else:
            lines.append(pick(DIRECTIVES))
    sep = draw(st.sampled_from(["\n", "\n", ";", "\n\n", "\r\n", " ;\n", "\n    "]))
    return pick(HEADERS) + "\n" + sep.join(lines)


mermaid_texts = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(MERMAID_TOKENS), max_size=60).map(lambda tokens: "flowchart TD\n" + "".join(tokens)),
    flowcharts(),
    flowcharts(),
    flowcharts().flatmap(lambda text: mutated_text(text, mermaid_pieces)),
    st.sampled_from(SOURCES).flatmap(lambda src: mutated_text(src, mermaid_pieces)),
)

# keys a graph document or a flowpath:meta comment uses, so that random documents get past the first checks
DOC_KEYS = ["nodes", "edges", "directed", "attrs", "schema_version", "ids", "id", "text", "kind", "bbox"]
DOC_KEYS += ["source", "target", "label", "weight", "features", "A", "B", "0", "1", "x"]
doc_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([1, 2**64, -(2**70)])
    | st.floats()
    | st.text(max_size=6)
    | st.sampled_from(DOC_KEYS),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(DOC_KEYS) | st.text(max_size=3), inner),
    max_leaves=16,
)
documents = doc_values | st.dictionaries(st.sampled_from(DOC_KEYS), doc_values, max_size=6)


def assert_json_round_trip(graph: Graph) -> None:
    """What ``to_json`` writes, ``from_json`` reads back to the same document, and so does Mermaid (what
    ``graphsolvers convert`` does with a JSON file). Compared as JSON: a NaN or infinite number in attrs is
    written as ``null``, so the graph read back differs from one that held it."""
    assert Graph.from_json(graph.to_json()).to_json() == graph.to_json()
    assert_mermaid_round_trip(graph)


def assert_mermaid_round_trip(graph: Graph) -> None:
    """What ``to_mermaid`` writes, ``parse_mermaid`` reads back to the same graph (compared as JSON, as above)."""
    assert parse_mermaid(to_mermaid(graph)).to_json() == graph.to_json()


def _check_mermaid(text: str) -> None:
    """The property of every Mermaid text: a graph that survives its own round trip, or a typed error; a
    syntax error points at a line and column inside the text."""
    try:
        graph = parse_mermaid(text)
    except MermaidSyntaxError as e:
        event("MermaidSyntaxError")
        lines = text.split("\n")
        assert 1 <= e.line <= len(lines), (e.line, len(lines))
        assert 1 <= e.column <= len(lines[e.line - 1]) + 1, (e.column, len(lines[e.line - 1]))
        return
    except LimitExceededError:
        event("LimitExceededError")
        return
    except Exception as e:
        pytest.fail(f"{type(e).__name__} escaped parse_mermaid instead of a ToolkitError: {e!s:.300}")
    event(f"a graph of {min(len(graph.nodes), 3)}{'+' if len(graph.nodes) >= 3 else ''} nodes")
    assert_mermaid_round_trip(graph)


@pytest.mark.slow
@budget(250)
@given(mermaid_texts)
@example("flowchart TD\n  A --> B\n%% flowpath:meta {}")
@example("flowchart TD\n  A[")
@example("graph\n" + "A & " * 200 + "B --> C & D")
@example("flowchart BT\n  A --> B\nstyle ")  # a bare 'style' was written back as a node: to_mermaid raised ValueError
def test_any_mermaid_text_parses_or_is_a_syntax_error(text: str) -> None:
    _check_mermaid(text)


META_BODIES = ["flowchart TD\n  A --> B\n", 'flowchart LR\n  A["x"] -->|y| B{z}\n  B --> A\n', "graph TD\nA\n"]


@pytest.mark.slow
@budget(100)
@given(st.sampled_from(META_BODIES), st.dictionaries(st.sampled_from(DOC_KEYS), doc_values, max_size=5))
@example(META_BODIES[1], {"ids": {"A": "B"}})  # two nodes renamed to one id
@example(META_BODIES[0], {"nodes": {"A": {"bbox": [1, 2, 3]}}, "edges": {"0": {"weight": "heavy"}}})
def test_flowpath_meta_comment_with_any_json_object(body: str, meta: dict) -> None:
    """A ``%% flowpath:meta`` comment holds JSON the parser applies to the graph: any object gives a graph or a
    MermaidSyntaxError."""
    text = body + "%% flowpath:meta " + json.dumps(meta) + "\n"
    graph = expect_typed(ToolkitError, parse_mermaid, text)
    if graph is not None:
        assert_mermaid_round_trip(graph)


@pytest.mark.slow
@budget(150)
@given(documents)
@example({"nodes": [{"id": "a"}], "edges": [{"source": "a", "target": "b"}]})
@example({"nodes": [{"id": "a", "bbox": [0, 0, float("nan"), 1]}]})
@example({"schema_version": [1]})
@example({"nodes": {"id": "a"}, "edges": "a->b"})
@example({"nodes": [{"id": "a"}], "attrs": {"mermaid_directives": ["style", "click", "classDef\tx", "A --> B"]}})
def test_any_json_document_is_a_graph_or_a_validation_error(doc: object) -> None:
    """Graph documents as a dict, as JSON text and as bytes: a graph that round-trips, or a typed error."""
    try:
        text = json.dumps(doc, allow_nan=True)
    except (ValueError, OverflowError):
        text = "{}"
    for value in (doc, text, text.encode()):
        graph = expect_typed(ToolkitError, ensure_graph, value)
        if graph is not None:
            assert_json_round_trip(graph)


@pytest.mark.slow
@budget(100)
@given(
    graphs(max_nodes=5, max_edges=6).flatmap(
        lambda g: mutated_text(
            g.to_json(),
            st.text(max_size=6)
            | st.sampled_from(['"', "{", "}", "[", "]", ",", ":", "null", "1e999", '"\\ud800"', '"id"']),
        )
    )
)
def test_mutated_graph_json_text(text: str) -> None:
    graph = expect_typed(GraphValidationError, Graph.from_json, text)
    if graph is not None:
        assert_json_round_trip(graph)


def _replace_somewhere(draw: st.DrawFn, value: object, new: st.SearchStrategy) -> object:
    """``value`` (JSON data) with one of its sub-values, chosen by walking down at random, replaced by a drawn one."""
    if isinstance(value, dict) and value and draw(st.integers(0, 3)):
        key = draw(st.sampled_from(sorted(value)))
        return {**value, key: _replace_somewhere(draw, value[key], new)}
    if isinstance(value, list) and value and draw(st.integers(0, 3)):
        i = draw(st.integers(0, len(value) - 1))
        return [*value[:i], _replace_somewhere(draw, value[i], new), *value[i + 1 :]]
    return draw(new)


@st.composite
def structurally_mutated_graphs(draw: st.DrawFn) -> dict:
    doc = json.loads(draw(graphs(max_nodes=5, max_edges=6)).to_json())
    for _ in range(draw(st.integers(1, 3))):
        doc = _replace_somewhere(draw, doc, doc_values | json_values)
    return doc


@pytest.mark.slow
@budget(100)
@given(structurally_mutated_graphs())
def test_valid_graphs_with_a_value_swapped_for_any_json(doc: dict) -> None:
    """A valid graph document with one field replaced by any JSON value: a graph or a GraphValidationError."""
    graph = expect_typed(GraphValidationError, Graph.from_dict, doc)
    if graph is not None:
        assert_json_round_trip(graph)


WRONG_VALUES = [None, True, 0, -1, 1.5, float("inf"), float("nan"), "", "x", [], [1, "a"], {}, {"a": 1}, 2**70]
TEMPLATE = {
    "schema_version": 1,
    "nodes": [{"id": "a", "text": "A", "kind": "decision", "bbox": [0, 0, 1, 1], "attrs": {"k": 1}}, {"id": "b"}],
    "edges": [{"source": "a", "target": "b", "label": "yes", "weight": 0.5, "attrs": {}}],
    "directed": True,
    "attrs": {"direction": "LR"},
}
FIELD_PATHS = [(key,) for key in TEMPLATE] + [("nodes", 0, f) for f in TEMPLATE["nodes"][0]]
FIELD_PATHS += [("edges", 0, f) for f in TEMPLATE["edges"][0]] + [("nodes", 0, "bbox", 2), ("nodes", 1)]


def _with(doc: Any, path: tuple, value: Any) -> Any:
    """A deep copy of ``doc`` with the field at ``path`` set to ``value`` (removed when ``value`` is ``_GONE``)."""
    doc = json.loads(json.dumps(doc))
    *parents, last = path
    holder = doc
    for step in parents:
        holder = holder[step]
    if value is _GONE:
        del holder[last]
    else:
        holder[last] = value
    return doc


_GONE = object()


@pytest.mark.parametrize("path", FIELD_PATHS, ids=lambda p: ".".join(map(str, p)))
def test_every_field_of_a_graph_document_with_every_wrong_type(path: tuple) -> None:
    """Not random: each field of a valid document, in turn, missing or holding each JSON type (and out-of-range
    numbers): a graph that round-trips, or a GraphValidationError, as a dict and as JSON text."""
    assert Graph.from_dict(TEMPLATE).node_ids == ["a", "b"]
    for value in [_GONE, *WRONG_VALUES]:
        doc = _with(TEMPLATE, path, value)
        for form in (doc, json.dumps(doc)):
            graph = expect_typed(GraphValidationError, ensure_graph, form)
            if graph is not None:
                assert_json_round_trip(graph)


GRAPH_FILES = {
    "chart.mmd": SOURCES[0].encode(),
    "graph.json": parse_mermaid(SOURCES[0]).to_json(indent=2).encode(),
}


@budget(60, fixtures=True)
@given(st.sampled_from(sorted(GRAPH_FILES)).flatmap(lambda n: st.tuples(st.just(n), mutated_bytes(GRAPH_FILES[n]))))
@example(("chart.mmd", b"\xff\xfe\x00flowchart"))
@example(("graph.json", b""))
def test_damaged_graph_files_through_load_graph_and_convert(
    tmp_path_factory: pytest.TempPathFactory, capsys: pytest.CaptureFixture[str], named: tuple[str, bytes]
) -> None:
    """``graphsolvers.io.load_graph`` and ``graphsolvers convert`` on a damaged ``.mmd`` / ``.json`` file: a graph
    (exit 0, the output written) or a typed error (exit 2, exactly one line on stderr, no output left behind)."""
    name, data = named
    folder = tmp_path_factory.mktemp("convert")
    path, out = folder / name, folder / "out.txt"
    path.write_bytes(data)
    graph = expect_typed(ToolkitError, load_graph, path)
    capsys.readouterr()
    code = main(["convert", str(path), "-o", str(out)])
    captured = capsys.readouterr()
    if graph is None:
        assert code == 2, captured.err
        assert captured.err.count("\n") == 1 and "Traceback" not in captured.err, captured.err
        assert not out.exists()
    else:
        assert code == 0, captured.err
        assert load_graph(out, "mermaid" if name.endswith(".json") else "json").to_json() == graph.to_json()
    assert sorted(p.name for p in Path(folder).iterdir()) == sorted({name, *(["out.txt"] if graph else [])})


# ---------------------------------------------------------------------- deep nesting
def _nested(depth: int, kind: str) -> str:
    return ("[" * depth + "]" * depth) if kind == "list" else ('{"a":' * depth + "1" + "}" * depth)


deep = st.tuples(st.integers(1, 150) | st.integers(900, 20_000), st.sampled_from(["list", "dict"]))


@budget(30)
@given(deep, st.sampled_from(["document", "graph attrs", "node attrs", "meta comment"]))
@example((100_000, "list"), "document")
@example((5_000, "dict"), "meta comment")
def test_deeply_nested_json_is_a_typed_error_or_a_graph(shape: tuple[int, str], where: str) -> None:
    """JSON nested a little (a graph) or far too deep (a typed error, never RecursionError) in a graph document or
    a flowpath:meta comment."""
    nested = _nested(*shape)
    if where == "meta comment":
        text = 'flowchart TD\n  A --> B\n%% flowpath:meta {"attrs": {"deep": ' + nested + "}}"
        graph = expect_typed(ToolkitError, parse_mermaid, text)
        if graph is not None:
            assert_mermaid_round_trip(graph)
        return
    text = {
        "document": nested,
        "graph attrs": '{"nodes": [], "attrs": {"deep": ' + nested + "}}",
        "node attrs": '{"nodes": [{"id": "a", "attrs": {"deep": ' + nested + "}}]}",
    }[where]
    graph = expect_typed(ToolkitError, Graph.from_json, text)
    if graph is not None:
        assert_json_round_trip(graph)

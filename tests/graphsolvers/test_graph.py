from __future__ import annotations

import json
import math

import networkx as nx
import pytest
import torch
from hypothesis import given, settings

from graphsolvers.errors import GraphValidationError, ToolkitError
from graphsolvers.graph import NODE_KINDS, Edge, Graph, Node, ensure_graph, subgraph, to_tensors

from .strategies import graphs


def _chain() -> Graph:
    return Graph(
        nodes=[Node(id="A", text="Start", kind="start"), Node(id="B", kind="decision"), Node(id="C", kind="neuron")],
        edges=[Edge(source="A", target="B"), Edge(source="B", target="C", label="Yes", weight=0.5)],
    )


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(graphs())
def test_json_round_trip(g: Graph) -> None:
    assert Graph.from_json(g.to_json()) == g
    assert json.loads(g.to_json())["schema_version"] == 1


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(graphs())
def test_networkx_round_trip(g: Graph) -> None:
    G = g.to_networkx()
    assert G.is_directed() == g.directed
    assert G.number_of_nodes() == len(g.nodes) and G.number_of_edges() == len(g.edges)
    assert Graph.from_networkx(G) == g


def test_from_plain_networkx_graph_maps_known_keys() -> None:
    G = nx.DiGraph()
    G.add_node(1, text="one", color="red")
    G.add_node(2)
    G.add_edge(1, 2, weight=3.0, label="go", style="bold")
    g = Graph.from_networkx(G)
    assert g.node_ids == ["1", "2"]
    assert g.node("1").text == "one" and g.node("1").attrs == {"color": "red"}
    assert g.edges[0].weight == 3.0 and g.edges[0].label == "go" and g.edges[0].attrs == {"style": "bold"}


def test_from_networkx_rejects_colliding_ids() -> None:
    G = nx.Graph()
    G.add_nodes_from([1, "1"])
    with pytest.raises(GraphValidationError, match="collides"):
        Graph.from_networkx(G)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nodes": [Node(id="a"), Node(id="a")]}, "duplicate node id 'a'"),
        ({"nodes": [Node(id="a")], "edges": [Edge(source="a", target="zz")]}, "unknown node 'zz'"),
        ({"nodes": [Node(id="a")], "edges": [Edge(source="a", target="a", weight=math.inf)]}, "non-finite weight"),
        ({"nodes": [Node(id="a")], "edges": [Edge(source="a", target="a", weight=math.nan)]}, "non-finite weight"),
        ({"nodes": [Node(id="a", bbox=(5, 0, 1, 1))]}, "inverted bbox"),
        ({"nodes": [Node(id="a", bbox=(0, 0, math.inf, 1))]}, "non-finite bbox"),
        ({"nodes": [{"id": 3}]}, "nodes.0.id"),
        ({"nodes": [{"id": "a", "kind": " "}]}, "kind must be a non-empty string"),
        ({"nodes": [], "colour": "red"}, "colour"),
    ],
)
def test_validation_errors_name_the_offender(kwargs: dict, match: str) -> None:
    with pytest.raises(GraphValidationError, match=match) as info:
        Graph(**kwargs)
    assert isinstance(info.value, ToolkitError)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"schema_version": 2, "nodes": []}', "unsupported graph schema_version 2"),
        ('{"nodes": [{"id": "a"}], "edges": [{"source": "a", "target": "b"}]}', "unknown node 'b'"),
    ],
)
def test_from_json_errors(text: str, match: str) -> None:
    with pytest.raises(GraphValidationError, match=match):
        Graph.from_json(text)


def test_lookup_and_adjacency() -> None:
    g = _chain()
    assert g.successors("B") == ["C"] and g.predecessors("B") == ["A"]
    with pytest.raises(KeyError, match="no node 'Z'"):
        g.node("Z")
    und = g.model_copy(update={"directed": False})
    assert und.successors("B") == ["C", "A"] == und.predecessors("B")


def test_tensor_view_documented_order() -> None:
    g = _chain()
    t = to_tensors(g)
    assert t.node_ids == ["A", "B", "C"]
    assert t.edge_index.tolist() == [[0, 1], [1, 2]]
    assert t.edge_weight.tolist() == [1.0, 0.5]
    other = NODE_KINDS.index("other")
    assert t.x[:, NODE_KINDS.index("start")].tolist() == [1.0, 0.0, 0.0]
    assert t.x[2, other] == 1.0  # a free-string kind counts as "other"
    assert t.x.sum().item() == 3


def test_tensor_view_undirected_lists_both_directions_and_features() -> None:
    g = Graph(
        nodes=[Node(id="a", attrs={"f": [1, 2]}), Node(id="b", attrs={"f": [3, 4]})],
        edges=[Edge(source="a", target="b", weight=2.0), Edge(source="a", target="a")],
        directed=False,
    )
    t = to_tensors(g, feature_keys=["f"], dtype=torch.float64)
    assert t.edge_index.tolist() == [[0, 0, 1], [1, 0, 0]]
    assert t.edge_weight.tolist() == [2.0, 1.0, 2.0]
    assert t.x.dtype == torch.float64 and t.x.tolist() == [[1, 2], [3, 4]]
    with pytest.raises(GraphValidationError, match="no feature attribute 'g'"):
        to_tensors(g, feature_keys=["g"])


def test_tensor_view_of_empty_graph() -> None:
    t = to_tensors(Graph())
    assert t.edge_index.shape == (2, 0) and t.x.shape == (0, len(NODE_KINDS))


def test_non_numeric_feature_is_rejected() -> None:
    g = Graph(nodes=[Node(id="a", attrs={"f": "x"})])
    with pytest.raises(GraphValidationError, match="not numeric"):
        to_tensors(g, feature_keys=["f"])


def test_subgraph_and_ensure_graph() -> None:
    g = _chain()
    s = subgraph(g, ["B", "C"])
    assert s.node_ids == ["B", "C"] and len(s.edges) == 1
    assert ensure_graph(g.to_json()) == g == ensure_graph(g.model_dump())
    with pytest.raises(GraphValidationError, match="unknown nodes"):
        subgraph(g, ["Q"])


def test_json_schema_is_published() -> None:
    schema = Graph.model_json_schema()
    assert set(schema["properties"]) == {"schema_version", "nodes", "edges", "directed", "attrs"}


def test_readme_python_example_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    section = (repo / "README.md").read_text(encoding="utf-8").split("## Python API", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    monkeypatch.chdir(repo)  # the example reads a committed sample by its relative path
    exec(compile(code, "README.md#python-api", "exec"), {})
    assert capsys.readouterr().out.startswith("['")  # the shortest path's node ids

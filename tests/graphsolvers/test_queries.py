"""graphsolvers.queries on its own: each query on a small chart, pinned branches, unknown ids, and
properties checked against networkx on random graphs."""

from __future__ import annotations

import itertools

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphsolvers.errors import ToolkitError
from graphsolvers.graph import Edge, Graph, Node
from graphsolvers.mermaid import parse_mermaid
from graphsolvers.queries import (
    NodeNotFoundError,
    ancestors,
    bfs,
    decision_branches,
    descendants,
    dfs,
    end_nodes,
    get_statement,
    in_degree,
    loops,
    max_in_degree,
    max_out_degree,
    neighbours,
    out_degree,
    paths_between,
    shortest_path,
    start_nodes,
)

CHART = """flowchart TD
    A(["Start"]) --> B{"Paid?"}
    B -->|Yes| C["Pack"]
    B -->|" no "| D["Remind"]
    D --> E["Wait"] --> B
    C --> F(["Done"])
    D --> F
"""


@pytest.fixture(scope="module")
def chart() -> Graph:
    return parse_mermaid(CHART)


def test_statement_neighbours_and_degrees(chart: Graph) -> None:
    assert get_statement(chart, "C") == "Pack"
    assert neighbours(chart, "B") == ["C", "D"]
    assert neighbours(chart, "B", direction="in") == ["A", "E"]
    assert neighbours(chart, "D", direction="both") == ["B", "E", "F"]
    assert (in_degree(chart, "B"), out_degree(chart, "B")) == (2, 2)
    assert (in_degree(chart, "A"), out_degree(chart, "F")) == (0, 0)
    assert max_in_degree(chart) == (2, ["B", "F"])
    assert max_out_degree(chart) == (2, ["B", "D"])
    assert max_in_degree(Graph()) == (0, [])


def test_parallel_edges_count_in_degrees_but_not_in_neighbours() -> None:
    g = Graph(nodes=[Node(id="a"), Node(id="b")], edges=[Edge(source="a", target="b")] * 2)
    assert out_degree(g, "a") == 2 and neighbours(g, "a") == ["b"]


def test_reachability_and_orders(chart: Graph) -> None:
    assert descendants(chart, "A") == {"B": 1, "C": 2, "D": 2, "F": 3, "E": 3}
    assert ancestors(chart, "C") == {"B": 1, "A": 2, "E": 2, "D": 3}
    assert bfs(chart, "A") == ["A", "B", "C", "D", "F", "E"]
    assert dfs(chart, "A") == ["A", "B", "C", "F", "D", "E"]
    assert start_nodes(chart) == ["A"] and end_nodes(chart) == ["F"]


def test_paths_and_branches(chart: Graph) -> None:
    assert shortest_path(chart, "A", "F") == ["A", "B", "C", "F"]
    assert shortest_path(chart, "F", "A") == []
    assert shortest_path(chart, "C", "C") == ["C"]
    assert paths_between(chart, "B", "F") == [["B", "C", "F"], ["B", "D", "F"]]
    assert paths_between(chart, "B", "F", max_paths=1) == [["B", "C", "F"]]
    assert decision_branches(chart, "B") == {"Yes": "C", " no ": "D"}
    assert decision_branches(chart, "D") == {"E": "E", "F": "F"}  # unlabelled: keyed by target
    assert loops(chart) == [["B", "D", "E"]]  # each loop starts at its node first in node order
    two = parse_mermaid("flowchart TD\n a --> b --> a\n b --> c --> d --> b")
    assert loops(two) == [["a", "b"], ["b", "c", "d"]] and loops(two, max_loops=1) in ([["a", "b"]], [["b", "c", "d"]])


def test_pinned_branches_match_labels_loosely(chart: Graph) -> None:
    # "NO" matches the label ' no ' (case, quotes and spaces ignored); the Yes branch is then closed
    assert shortest_path(chart, "A", "F", pinned={"B": "NO"}) == ["A", "B", "D", "F"]
    assert shortest_path(chart, "A", "C", pinned={"B": "no"}) == []
    assert descendants(chart, "B", pinned={"B": "Yes"}) == {"C": 1, "F": 2}
    assert bfs(chart, "B", pinned={"B": "Yes"}) == ["B", "C", "F"]
    assert dfs(chart, "B", pinned={"B": "maybe"}) == ["B"]  # no branch has that label
    assert paths_between(chart, "A", "F", pinned={"B": "Yes"}) == [["A", "B", "C", "F"]]


def test_undirected_graphs_walk_both_ways() -> None:
    nodes = [Node(id="a"), Node(id="b"), Node(id="c")]
    g = Graph(nodes=nodes, edges=[Edge(source="a", target="b"), Edge(source="c", target="b")], directed=False)
    assert shortest_path(g, "a", "c") == ["a", "b", "c"]
    assert descendants(g, "c") == {"b": 1, "a": 2}


@pytest.mark.parametrize(
    ("query", "args"),
    [
        (get_statement, ("Z",)),
        (neighbours, ("Z",)),
        (in_degree, ("Z",)),
        (out_degree, ("Z",)),
        (descendants, ("Z",)),
        (ancestors, ("Z",)),
        (bfs, ("Z",)),
        (dfs, ("Z",)),
        (shortest_path, ("A", "Z")),
        (shortest_path, ("Z", "A")),
        (paths_between, ("A", "Z")),
        (decision_branches, ("Z",)),
    ],
)
def test_unknown_ids_raise_node_not_found(chart: Graph, query, args) -> None:
    with pytest.raises(NodeNotFoundError, match=r"node 'Z' is not in the graph \(ids: A, B, C, D, E, F\)") as info:
        query(chart, *args)
    assert isinstance(info.value, ToolkitError) and isinstance(info.value, KeyError)


edge_lists = st.integers(2, 8).flatmap(
    lambda n: st.tuples(
        st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), min_size=1, max_size=20)
    )
)


def _graph(n: int, edges: list[tuple[int, int]]) -> Graph:
    return Graph(
        nodes=[Node(id=f"n{i}") for i in range(n)], edges=[Edge(source=f"n{s}", target=f"n{t}") for s, t in edges]
    )


@settings(max_examples=60, deadline=None)
@given(edge_lists)
def test_reachability_and_shortest_paths_agree_with_networkx(case: tuple[int, list[tuple[int, int]]]) -> None:
    g = _graph(*case)
    G = g.to_networkx()
    for source in g.node_ids:
        assert set(descendants(g, source)) == nx.descendants(G, source)
        assert set(ancestors(g, source)) == nx.ancestors(G, source)
        for target in g.node_ids:
            path = shortest_path(g, source, target)
            if nx.has_path(G, source, target):
                assert len(path) - 1 == nx.shortest_path_length(G, source, target)
                assert all(G.has_edge(u, v) for u, v in itertools.pairwise(path))
            else:
                assert path == []


def _rotated(cycle: list[str]) -> tuple[str, ...]:
    k = cycle.index(min(cycle))
    return tuple(cycle[k:] + cycle[:k])


@settings(max_examples=60, deadline=None)
@given(edge_lists)
def test_loops_are_the_simple_cycles(case: tuple[int, list[tuple[int, int]]]) -> None:
    g = _graph(*case)
    found = loops(g, max_loops=10_000)
    simple = nx.simple_cycles(nx.DiGraph([(e.source, e.target) for e in g.edges]))
    assert sorted(map(_rotated, found)) == sorted(map(_rotated, simple))
    assert all(len(c) <= len(d) for c, d in itertools.pairwise(found))  # shortest first

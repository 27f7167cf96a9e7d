"""Symbolic queries over a :class:`~graphsolvers.graph.Graph`: the graph tools of the attribution agent.

Every function takes the graph first and node ids after, returns plain data (ids, ints, dicts)
and raises :class:`NodeNotFoundError` for an unknown id. Paths can *pin* decision branches:
``pinned={"E": "Yes"}`` lets a path leave node ``E`` only along its edge labelled ``Yes``
(labels compare case-insensitively, ignoring surrounding quotes and spaces).

Examples
--------
>>> from graphsolvers.mermaid import parse_mermaid
>>> g = parse_mermaid('''flowchart TD
...     A(["Start"]) --> B{"Ok?"}
...     B -->|Yes| C["Ship"]
...     B -->|No| D["Fix"] --> B
...     C --> E(["End"])''')
>>> shortest_path(g, "A", "E")
['A', 'B', 'C', 'E']
>>> decision_branches(g, "B")
{'Yes': 'C', 'No': 'D'}
>>> shortest_path(g, "B", "C", pinned={"B": "No"})
[]
>>> loops(g)
[['B', 'D']]
"""

from __future__ import annotations

from collections import deque
from typing import Annotated, Literal

from pydantic import Field

from graphsolvers.errors import ToolkitError
from graphsolvers.graph import Graph
from graphsolvers.security import quote

__all__ = [
    "MAX_LOOPS",
    "MAX_PATHS",
    "PARAMETERS",
    "NodeNotFoundError",
    "ancestors",
    "bfs",
    "decision_branches",
    "descendants",
    "dfs",
    "end_nodes",
    "get_statement",
    "in_degree",
    "loops",
    "max_in_degree",
    "max_out_degree",
    "neighbours",
    "out_degree",
    "paths_between",
    "shortest_path",
    "start_nodes",
]

Direction = Literal["out", "in", "both"]

MAX_PATHS = 200
"""Most paths :func:`paths_between` returns in one call: each is a list of ids, and a caller (a model, a client over
MCP) cannot use more; the search itself stops after ten times as many."""
MAX_LOOPS = 500
"""Most cycles :func:`loops` returns in one call: a dense graph has exponentially many."""

PARAMETERS = {
    "node_id": "A node id of the graph (e.g. 'B', 'n7'), not its text.",
    "start": "Node id to start the traversal from.",
    "source": "Node id the path starts at.",
    "target": "Node id the path ends at.",
    "pinned": 'Decision branches to follow, as {decision_node_id: edge_label}, e.g. {"B": "Yes"}: the walk leaves '
    "node B only along its edge labelled Yes (case-insensitive).",
}
"""What the parameters every query shares mean, said once (the graph tools show them to a model); a query's
own parameters are described in its docstring."""


class NodeNotFoundError(ToolkitError, KeyError):
    """A query named a node id that the graph does not have."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "node not found"


def _check(graph: Graph, *node_ids: str) -> None:
    ids = set(graph.node_ids)
    for nid in node_ids:
        if nid not in ids:
            sample = ", ".join(graph.node_ids[:10])
            raise NodeNotFoundError(f"node {quote(nid)} is not in the graph (ids: {sample})")


def _norm_label(label: str | None) -> str:
    return (label or "").strip().strip("\"'").strip().lower()


def _out_edges(graph: Graph, node_id: str, pinned: dict[str, str] | None = None) -> list[str]:
    targets = []
    want = _norm_label(pinned[node_id]) if pinned and node_id in pinned else None
    for e in graph.edges:
        if e.source == node_id and (want is None or _norm_label(e.label) == want):
            targets.append(e.target)
        elif not graph.directed and e.target == node_id and want is None:
            targets.append(e.source)
    return list(dict.fromkeys(targets))


def get_statement(graph: Graph, node_id: str) -> str:
    """The text of one node of a flowchart graph (the graph tool also returns its kind: start, end, process,
    decision, io, ...).
    """
    _check(graph, node_id)
    return graph.node(node_id).text


def neighbours(graph: Graph, node_id: str, *, direction: Direction = "out") -> list[str]:
    """The nodes directly after (direction 'out'), before ('in') or around ('both') a node, in edge order, without
    repeats.

    Parameters
    ----------
    direction : {'out', 'in', 'both'}
        'out': successors, 'in': predecessors, 'both': either.
    """
    _check(graph, node_id)
    if direction == "out":
        return graph.successors(node_id)
    if direction == "in":
        return graph.predecessors(node_id)
    return list(dict.fromkeys(graph.predecessors(node_id) + graph.successors(node_id)))


def in_degree(graph: Graph, node_id: str) -> int:
    """How many edges enter a node (parallel edges counted)."""
    _check(graph, node_id)
    return sum(e.target == node_id for e in graph.edges)


def out_degree(graph: Graph, node_id: str) -> int:
    """How many edges leave a node (parallel edges counted)."""
    _check(graph, node_id)
    return sum(e.source == node_id for e in graph.edges)


def max_in_degree(graph: Graph) -> tuple[int, list[str]]:
    """The largest in-degree in the graph and the nodes that have it (the busiest merge points); (0, []) for an
    empty graph."""
    return _max_degree(graph, "in")


def max_out_degree(graph: Graph) -> tuple[int, list[str]]:
    """The largest out-degree in the graph and the nodes that have it (the widest branch points); (0, []) for an
    empty graph."""
    return _max_degree(graph, "out")


def _max_degree(graph: Graph, which: str) -> tuple[int, list[str]]:
    counts = dict.fromkeys(graph.node_ids, 0)
    for e in graph.edges:
        counts[e.target if which == "in" else e.source] += 1
    if not counts:
        return 0, []
    best = max(counts.values())
    return best, [n for n, c in counts.items() if c == best]


def _levels(graph: Graph, node_id: str, step) -> dict[str, int]:
    seen = {node_id: 0}
    queue = deque([node_id])
    while queue:
        cur = queue.popleft()
        for nxt in step(cur):
            if nxt not in seen:
                seen[nxt] = seen[cur] + 1
                queue.append(nxt)
    seen.pop(node_id)
    return seen


def descendants(graph: Graph, node_id: str, *, pinned: dict[str, str] | None = None) -> dict[str, int]:
    """Every node reachable from a node, with its level (1 = direct successor); pin decision branches to follow
    one outcome only.
    """
    _check(graph, node_id)
    return _levels(graph, node_id, lambda n: _out_edges(graph, n, pinned))


def ancestors(graph: Graph, node_id: str) -> dict[str, int]:
    """Every node from which a node can be reached, with its level (1 = direct predecessor)."""
    _check(graph, node_id)
    return _levels(graph, node_id, graph.predecessors)


def bfs(graph: Graph, start: str, *, pinned: dict[str, str] | None = None) -> list[str]:
    """Breadth-first order of the nodes reachable from a start node along edge directions (nearest first)."""
    levels = descendants(graph, start, pinned=pinned)
    return [start, *sorted(levels, key=levels.__getitem__)]


def dfs(graph: Graph, start: str, *, pinned: dict[str, str] | None = None) -> list[str]:
    """Depth-first order of the nodes reachable from a start node (follows each branch to its end first, edges in
    edge order).
    """
    _check(graph, start)
    order: list[str] = []
    stack = [start]
    seen: set[str] = set()
    while stack:
        cur = stack.pop()
        if cur in seen:
            continue
        seen.add(cur)
        order.append(cur)
        stack.extend(reversed([n for n in _out_edges(graph, cur, pinned) if n not in seen]))
    return order


def shortest_path(graph: Graph, source: str, target: str, *, pinned: dict[str, str] | None = None) -> list[str]:
    """A shortest directed path from source to target as node ids ([] when target cannot be reached).

    Among equally short paths, the one that follows earlier edges wins (deterministic).
    """
    _check(graph, source, target)
    if source == target:
        return [source]
    parent: dict[str, str] = {}
    queue = deque([source])
    seen = {source}
    while queue:
        cur = queue.popleft()
        for nxt in _out_edges(graph, cur, pinned):
            if nxt in seen:
                continue
            seen.add(nxt)
            parent[nxt] = cur
            if nxt == target:
                path = [target]
                while path[-1] != source:
                    path.append(parent[path[-1]])
                return path[::-1]
            queue.append(nxt)
    return []


def paths_between(
    graph: Graph,
    source: str,
    target: str,
    *,
    pinned: dict[str, str] | None = None,
    max_paths: Annotated[int, Field(ge=1, le=MAX_PATHS)] = 20,
) -> list[list[str]]:
    """All simple directed paths from source to target (shortest first, at most max_paths); pin decision branches
    to keep only the paths through one outcome.

    Parameters
    ----------
    max_paths : int
        Most paths returned (shortest first).
    """
    _check(graph, source, target)
    if source == target:
        return [[source]]
    found: list[list[str]] = []
    stack: list[tuple[str, list[str]]] = [(source, [source])]
    while stack and len(found) < 10 * max_paths:
        cur, path = stack.pop()
        for nxt in reversed(_out_edges(graph, cur, pinned)):
            if nxt == target:
                found.append([*path, nxt])
            elif nxt not in path:
                stack.append((nxt, [*path, nxt]))
    found.sort(key=len)
    return found[:max_paths]


def start_nodes(graph: Graph) -> list[str]:
    """The start nodes of a flowchart (kind 'start', or else the nodes nothing enters)."""
    starts = [n.id for n in graph.nodes if n.kind == "start"]
    return starts or [n.id for n in graph.nodes if not any(e.target == n.id for e in graph.edges)]


def end_nodes(graph: Graph) -> list[str]:
    """The end nodes of a flowchart (kind 'end', or else the nodes nothing leaves)."""
    ends = [n.id for n in graph.nodes if n.kind == "end"]
    return ends or [n.id for n in graph.nodes if not any(e.source == n.id for e in graph.edges)]


def decision_branches(graph: Graph, node_id: str) -> dict[str, str]:
    """The outgoing branches of a node as {edge label: target node id} (e.g. {"Yes": "C", "No": "D"}; an unlabelled
    edge keyed by its target id).
    """
    _check(graph, node_id)
    out: dict[str, str] = {}
    for e in graph.edges:
        if e.source == node_id:
            out.setdefault(e.label if e.label else e.target, e.target)
    return out


def loops(graph: Graph, *, max_loops: Annotated[int, Field(ge=1, le=MAX_LOOPS)] = 50) -> list[list[str]]:
    """The directed cycles of the graph (retry and rework loops) as lists of node ids, shortest first, each starting
    at its node that comes first in node order.

    Parameters
    ----------
    max_loops : int
        Most cycles returned.
    """
    import networkx as nx

    order = graph.index()
    G = nx.DiGraph()
    G.add_nodes_from(graph.node_ids)
    G.add_edges_from((e.source, e.target) for e in graph.edges)
    cycles = []
    for cyc in nx.simple_cycles(G):
        k = min(range(len(cyc)), key=lambda i: order[cyc[i]])
        cycles.append(cyc[k:] + cyc[:k])
        if len(cycles) >= max_loops:
            break
    return sorted(cycles, key=lambda c: (len(c), [order[n] for n in c]))

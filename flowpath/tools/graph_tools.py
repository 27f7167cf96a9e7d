"""Graph tools: the symbolic queries of :mod:`graphsolvers.queries` over a graph handle, JSON or Mermaid.

Each tool resolves its ``graph`` argument in the caller's session (see
:data:`~flowpath.tools.store.GraphRef`; a file must lie under the session's root), calls the
query and returns a small dict. Unknown node ids raise
:class:`~graphsolvers.queries.NodeNotFoundError` whose message lists some of the graph's ids.

Examples
--------
>>> from flowpath.tools import call_tool
>>> chart = '''flowchart TD
...     A(["Start"]) --> B{"Paid?"}
...     B -->|Yes| C["Ship"] --> E(["End"])
...     B -->|No| D["Remind"] --> B'''
>>> call_tool("decision_branches", {"graph": chart, "node_id": "B"})["branches"]
{'Yes': 'C', 'No': 'D'}
>>> call_tool("paths_between", {"graph": chart, "source": "A", "target": "E", "pinned": {"B": "Yes"}})["paths"]
[['A', 'B', 'C', 'E']]
>>> call_tool("descendants", {"graph": chart, "node_id": "B"})["descendants"]
{'C': 1, 'D': 1, 'E': 2}
>>> call_tool("loops", {"graph": chart})
{'loops': [['B', 'D']]}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from flowpath.tools.registry import REGISTRY
from flowpath.tools.session import ToolSession
from flowpath.tools.store import GRAPH_REF_HELP, GraphRef
from graphsolvers import queries
from graphsolvers.graph import Graph

__all__ = [
    "GraphArgs",
    "LoopsArgs",
    "NeighboursArgs",
    "NodeArgs",
    "PathArgs",
    "PathsBetweenArgs",
    "PinnedNodeArgs",
    "TraversalArgs",
]

PINNED_HELP = (
    'Decision branches to follow, as {decision_node_id: edge_label}, e.g. {"B": "Yes"}: the walk leaves node B '
    "only along its edge labelled Yes (case-insensitive)."
)


class GraphArgs(BaseModel):
    """A graph only."""

    model_config = ConfigDict(extra="forbid")

    graph: GraphRef = Field(description=GRAPH_REF_HELP)


class NodeArgs(GraphArgs):
    """A graph and one of its node ids."""

    node_id: str = Field(description="A node id of the graph (e.g. 'B', 'n7'), not its text.")


class NeighboursArgs(NodeArgs):
    direction: Literal["out", "in", "both"] = Field(
        "out", description="'out': successors, 'in': predecessors, 'both': either."
    )


class PinnedNodeArgs(NodeArgs):
    pinned: dict[str, str] | None = Field(None, description=PINNED_HELP)


class TraversalArgs(GraphArgs):
    start: str = Field(description="Node id to start the traversal from.")
    pinned: dict[str, str] | None = Field(None, description=PINNED_HELP)


class PathArgs(GraphArgs):
    source: str = Field(description="Node id the path starts at.")
    target: str = Field(description="Node id the path ends at.")
    pinned: dict[str, str] | None = Field(None, description=PINNED_HELP)


class PathsBetweenArgs(PathArgs):
    max_paths: int = Field(20, ge=1, le=200, description="Most paths returned (shortest first).")


class LoopsArgs(GraphArgs):
    max_loops: int = Field(50, ge=1, le=500, description="Most cycles returned.")


def _graph(args: GraphArgs, session: ToolSession) -> Graph:
    graph = session.graph(args.graph)
    pinned: dict[str, str] = getattr(args, "pinned", None) or {}
    for nid in pinned:  # a pinned id the graph lacks is an error, not a silent no-op
        queries.get_statement(graph, nid)
    return graph


@REGISTRY.register("get_statement", NodeArgs)
def get_statement(args: NodeArgs, session: ToolSession) -> dict[str, Any]:
    """The text and kind (start, end, process, decision, io, ...) of one node of a flowchart graph."""
    graph = _graph(args, session)
    text = queries.get_statement(graph, args.node_id)
    return {"node_id": args.node_id, "text": text, "kind": graph.node(args.node_id).kind}


@REGISTRY.register("neighbours", NeighboursArgs)
def neighbours(args: NeighboursArgs, session: ToolSession) -> dict[str, Any]:
    """The nodes directly after (direction 'out'), before ('in') or around ('both') a node, in edge order."""
    ids = queries.neighbours(_graph(args, session), args.node_id, direction=args.direction)
    return {"node_id": args.node_id, "direction": args.direction, "neighbours": ids}


@REGISTRY.register("in_degree", NodeArgs)
def in_degree(args: NodeArgs, session: ToolSession) -> dict[str, Any]:
    """How many edges enter a node (parallel edges counted)."""
    return {"node_id": args.node_id, "in_degree": queries.in_degree(_graph(args, session), args.node_id)}


@REGISTRY.register("out_degree", NodeArgs)
def out_degree(args: NodeArgs, session: ToolSession) -> dict[str, Any]:
    """How many edges leave a node (parallel edges counted)."""
    return {"node_id": args.node_id, "out_degree": queries.out_degree(_graph(args, session), args.node_id)}


@REGISTRY.register("max_in_degree", GraphArgs)
def max_in_degree(args: GraphArgs, session: ToolSession) -> dict[str, Any]:
    """The largest in-degree in the graph and the nodes that have it (the busiest merge points)."""
    degree, nodes = queries.max_in_degree(_graph(args, session))
    return {"degree": degree, "nodes": nodes}


@REGISTRY.register("max_out_degree", GraphArgs)
def max_out_degree(args: GraphArgs, session: ToolSession) -> dict[str, Any]:
    """The largest out-degree in the graph and the nodes that have it (the widest branch points)."""
    degree, nodes = queries.max_out_degree(_graph(args, session))
    return {"degree": degree, "nodes": nodes}


@REGISTRY.register("ancestors", NodeArgs)
def ancestors(args: NodeArgs, session: ToolSession) -> dict[str, Any]:
    """Every node from which a node can be reached, with its level (1 = direct predecessor)."""
    return {"node_id": args.node_id, "ancestors": queries.ancestors(_graph(args, session), args.node_id)}


@REGISTRY.register("descendants", PinnedNodeArgs)
def descendants(args: PinnedNodeArgs, session: ToolSession) -> dict[str, Any]:
    """Every node reachable from a node, with its level (1 = direct successor); pin decision branches to follow one
    outcome only."""
    levels = queries.descendants(_graph(args, session), args.node_id, pinned=args.pinned)
    return {"node_id": args.node_id, "descendants": levels}


@REGISTRY.register("bfs", TraversalArgs)
def bfs(args: TraversalArgs, session: ToolSession) -> dict[str, Any]:
    """Breadth-first order of the nodes reachable from a start node (nearest first)."""
    return {"order": queries.bfs(_graph(args, session), args.start, pinned=args.pinned)}


@REGISTRY.register("dfs", TraversalArgs)
def dfs(args: TraversalArgs, session: ToolSession) -> dict[str, Any]:
    """Depth-first order of the nodes reachable from a start node (follows each branch to its end first)."""
    return {"order": queries.dfs(_graph(args, session), args.start, pinned=args.pinned)}


@REGISTRY.register("shortest_path", PathArgs)
def shortest_path(args: PathArgs, session: ToolSession) -> dict[str, Any]:
    """A shortest directed path from source to target as node ids ([] when target cannot be reached)."""
    return {"path": queries.shortest_path(_graph(args, session), args.source, args.target, pinned=args.pinned)}


@REGISTRY.register("paths_between", PathsBetweenArgs)
def paths_between(args: PathsBetweenArgs, session: ToolSession) -> dict[str, Any]:
    """All simple directed paths from source to target (shortest first, at most max_paths); pin decision branches to
    keep only the paths through one outcome."""
    paths = queries.paths_between(
        _graph(args, session), args.source, args.target, pinned=args.pinned, max_paths=args.max_paths
    )
    return {"paths": paths}


@REGISTRY.register("start_nodes", GraphArgs)
def start_nodes(args: GraphArgs, session: ToolSession) -> dict[str, Any]:
    """The start nodes of a flowchart (kind 'start', or else the nodes nothing enters)."""
    return {"nodes": queries.start_nodes(_graph(args, session))}


@REGISTRY.register("end_nodes", GraphArgs)
def end_nodes(args: GraphArgs, session: ToolSession) -> dict[str, Any]:
    """The end nodes of a flowchart (kind 'end', or else the nodes nothing leaves)."""
    return {"nodes": queries.end_nodes(_graph(args, session))}


@REGISTRY.register("decision_branches", NodeArgs)
def decision_branches(args: NodeArgs, session: ToolSession) -> dict[str, Any]:
    """The outgoing branches of a node as {edge label: target node id} (e.g. {"Yes": "C", "No": "D"})."""
    return {"node_id": args.node_id, "branches": queries.decision_branches(_graph(args, session), args.node_id)}


@REGISTRY.register("loops", LoopsArgs)
def loops(args: LoopsArgs, session: ToolSession) -> dict[str, Any]:
    """The directed cycles of the graph (retry and rework loops) as lists of node ids, shortest first."""
    return {"loops": queries.loops(_graph(args, session), max_loops=args.max_loops)}

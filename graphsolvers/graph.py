"""The shared graph model: one ``Graph`` for flowcharts, solver inputs and connectomes.

A :class:`Graph` is the only object that crosses package borders in this project. It is a
pydantic model, so it validates itself on construction and serialises to a versioned JSON
document; it converts losslessly to and from networkx, Mermaid (:mod:`graphsolvers.mermaid`)
and a tensor view for solvers (:func:`to_tensors`).

Node order
----------
Wherever the model hands out arrays (``edge_index``, the node feature matrix) row ``i`` is the
``i``-th entry of ``Graph.nodes``. The order of ``nodes`` and ``edges`` is preserved by every
conversion.

Examples
--------
>>> g = Graph(nodes=[Node(id="A", text="Start", kind="start"), Node(id="B", text="Stop", kind="end")],
...           edges=[Edge(source="A", target="B", label="go")])
>>> g.successors("A")
['B']
>>> Graph.from_json(g.to_json()) == g
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator, model_validator

from graphsolvers import safe_json
from graphsolvers.errors import GraphValidationError
from graphsolvers.security import check_graph_size, describe_validation_error, quote

if TYPE_CHECKING:
    import networkx as nx
    import torch

__all__ = [
    "NODE_KINDS",
    "SCHEMA_VERSION",
    "Edge",
    "Graph",
    "GraphTensors",
    "Node",
    "to_tensors",
]

SCHEMA_VERSION = 1
"""Version of the JSON document written by :meth:`Graph.to_json`."""

NODE_KINDS: tuple[str, ...] = ("start", "end", "process", "decision", "io", "connector", "other")
"""The flowchart node kinds. ``Node.kind`` also accepts any other non-empty string (a neuron
class, a solver-specific role); such kinds count as ``"other"`` in the default feature matrix."""

BBox = tuple[float, float, float, float]


class Node(BaseModel):
    """A node of a :class:`Graph`.

    Parameters
    ----------
    id : str
        Unique within its graph.
    text : str
        The node's statement (flowchart label, neuron name, ...).
    kind : str
        One of :data:`NODE_KINDS` or a free, non-empty string.
    bbox : (x1, y1, x2, y2) or None
        Region in image pixels, ``x1 <= x2`` and ``y1 <= y2``.
    attrs : dict
        JSON-compatible extra data (e.g. ``shape`` for Mermaid shapes).
    """

    model_config = ConfigDict(extra="forbid")

    id: str
    text: str = ""
    kind: str = "process"
    bbox: BBox | None = None
    attrs: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _kind_not_empty(cls, kind: str) -> str:
        if not kind.strip():
            raise ValueError("kind must be a non-empty string")
        return kind


class Edge(BaseModel):
    """A connection ``source -> target`` (or ``source -- target`` in an undirected graph).

    Parameters
    ----------
    source, target : str
        Ids of existing nodes.
    label : str or None
        Edge text such as ``"Yes"``; ``None`` means no label (distinct from ``""``).
    weight : float or None
        Finite weight; ``None`` means unweighted (read as 1.0 by solvers).
    attrs : dict
        JSON-compatible extra data (e.g. ``link`` for a non-default Mermaid arrow).
    """

    model_config = ConfigDict(extra="forbid")

    source: str
    target: str
    label: str | None = None
    weight: float | None = None
    attrs: dict[str, JsonValue] = Field(default_factory=dict)


class Graph(BaseModel):
    """Nodes, edges and graph-level attributes, validated on construction.

    Raises
    ------
    GraphValidationError
        On duplicate node ids, edges naming unknown nodes, non-finite weights or boxes,
        inverted boxes, or fields of the wrong type.
    """

    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = SCHEMA_VERSION
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    directed: bool = True
    attrs: dict[str, JsonValue] = Field(default_factory=dict)

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as e:
            raise GraphValidationError(_describe_validation_error(e)) from e

    @model_validator(mode="after")
    def _check_references(self) -> Graph:
        seen: set[str] = set()
        for i, node in enumerate(self.nodes):
            if node.id in seen:
                raise GraphValidationError(f"duplicate node id {quote(node.id)} (nodes[{i}]); node ids must be unique")
            seen.add(node.id)
            if node.bbox is not None:
                x1, y1, x2, y2 = node.bbox
                if not all(math.isfinite(v) for v in node.bbox):
                    raise GraphValidationError(f"node {quote(node.id)} has a non-finite bbox")
                if x1 > x2 or y1 > y2:
                    raise GraphValidationError(
                        f"node {quote(node.id)} has an inverted bbox; expected x1 <= x2 and y1 <= y2"
                    )
        for i, edge in enumerate(self.edges):
            for end in (edge.source, edge.target):
                if end not in seen:
                    raise GraphValidationError(
                        f"edge {i} ({quote(edge.source)} -> {quote(edge.target)}) references unknown node {quote(end)}"
                    )
            if edge.weight is not None and not math.isfinite(edge.weight):
                raise GraphValidationError(
                    f"edge {i} ({quote(edge.source)} -> {quote(edge.target)}) has a non-finite weight"
                )
        return self

    # ------------------------------------------------------------------ lookup
    @property
    def node_ids(self) -> list[str]:
        """Node ids in node order."""
        return [n.id for n in self.nodes]

    def node(self, node_id: str) -> Node:
        """The node with id ``node_id``.

        Raises
        ------
        KeyError
            If no such node exists (the message lists a few valid ids).
        """
        for n in self.nodes:
            if n.id == node_id:
                return n
        sample = ", ".join(self.node_ids[:8])
        raise KeyError(f"no node {node_id!r} in the graph (ids: {sample}{', ...' if len(self.nodes) > 8 else ''})")

    def index(self) -> dict[str, int]:
        """Map from node id to its row in the tensor view."""
        return {n.id: i for i, n in enumerate(self.nodes)}

    def successors(self, node_id: str) -> list[str]:
        """Targets of edges leaving ``node_id`` (both ends in an undirected graph), in edge order."""
        self.node(node_id)
        out = [e.target for e in self.edges if e.source == node_id]
        if not self.directed:
            out += [e.source for e in self.edges if e.target == node_id and e.source != node_id]
        return list(dict.fromkeys(out))

    def predecessors(self, node_id: str) -> list[str]:
        """Sources of edges entering ``node_id`` (same as successors when undirected), in edge order."""
        if not self.directed:
            return self.successors(node_id)
        self.node(node_id)
        return list(dict.fromkeys(e.source for e in self.edges if e.target == node_id))

    # ------------------------------------------------------------------ JSON
    def to_json(self, *, indent: int | None = None) -> str:
        """The versioned JSON document of this graph (schema: ``Graph.model_json_schema()``)."""
        return self.model_dump_json(indent=indent)

    @classmethod
    def from_json(cls, text: str | bytes) -> Graph:
        """Parse a JSON document written by :meth:`to_json`.

        Raises
        ------
        GraphValidationError
            If the text is not JSON, has another schema version, or breaks a model rule.
        """
        return cls.from_dict(safe_json.loads_or_raise(text, what="graph JSON", error=GraphValidationError))

    @classmethod
    def from_dict(cls, data: Any) -> Graph:
        """Build a graph from the dict form of its JSON document (see :meth:`from_json`)."""
        if not isinstance(data, dict):
            raise GraphValidationError(f"a graph document must be a JSON object, got {type(data).__name__}")
        version = data.get("schema_version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            shown = version if isinstance(version, int) else f"of type {type(version).__name__}"
            raise GraphValidationError(f"unsupported graph schema_version {shown}; this version reads {SCHEMA_VERSION}")
        nodes, edges = data.get("nodes"), data.get("edges")
        check_graph_size(  # before a model is built for any of them
            len(nodes) if isinstance(nodes, list) else 0, len(edges) if isinstance(edges, list) else 0
        )
        return cls(**data)

    # ------------------------------------------------------------------ networkx
    def to_networkx(self) -> nx.MultiDiGraph | nx.MultiGraph:
        """A networkx multigraph holding everything in this graph.

        Nodes carry ``text``, ``kind``, ``bbox`` (when set) and ``attrs``; edges are keyed by their
        position in ``edges`` and carry ``label``, ``weight`` (when set) and ``attrs``, so parallel
        edges survive and ``weight`` is usable by networkx algorithms directly.

        Examples
        --------
        >>> g = Graph(nodes=[Node(id="a"), Node(id="b")], edges=[Edge(source="a", target="b", weight=2.0)])
        >>> G = g.to_networkx()
        >>> G["a"]["b"][0]["weight"]
        2.0
        >>> Graph.from_networkx(G) == g
        True
        """
        import networkx as nx

        graph = nx.MultiDiGraph() if self.directed else nx.MultiGraph()
        graph.graph.update(attrs=dict(self.attrs))
        for n in self.nodes:
            data: dict[str, Any] = {"text": n.text, "kind": n.kind, "attrs": dict(n.attrs)}
            if n.bbox is not None:
                data["bbox"] = n.bbox
            graph.add_node(n.id, **data)
        for i, e in enumerate(self.edges):
            data = {"label": e.label, "attrs": dict(e.attrs)}
            if e.weight is not None:
                data["weight"] = e.weight
            if not self.directed:
                data["source"] = e.source  # an undirected multigraph forgets which end came first
            graph.add_edge(e.source, e.target, key=i, **data)
        return graph

    @classmethod
    def from_networkx(cls, graph: nx.Graph) -> Graph:
        """Build a graph from any networkx graph.

        Graphs made by :meth:`to_networkx` come back unchanged. For other graphs, node ids are
        converted with ``str``; node data ``text``/``kind``/``bbox`` and edge data ``label``/``weight``
        map to fields and every other key goes to ``attrs``.

        Raises
        ------
        GraphValidationError
            If two node ids collide after ``str`` or data has the wrong type.
        """
        ids: dict[Any, str] = {}
        for raw in graph.nodes:
            sid = raw if isinstance(raw, str) else str(raw)
            if sid in ids.values():
                raise GraphValidationError(f"networkx node {raw!r} collides with another node as id {sid!r}")
            ids[raw] = sid
        nodes = [_node_from_data(ids[raw], data) for raw, data in graph.nodes(data=True)]
        if graph.is_multigraph():
            raw_edges = list(graph.edges(keys=True, data=True))
            if all(isinstance(k, int) for _, _, k, _ in raw_edges):
                raw_edges.sort(key=lambda t: t[2])
            triples = [(u, v, d) for u, v, _, d in raw_edges]
        else:
            triples = list(graph.edges(data=True))
        edges = [_edge_from_data(ids[u], ids[v], data, graph.is_directed()) for u, v, data in triples]
        attrs = graph.graph.get("attrs")
        if not isinstance(attrs, dict):
            attrs = {k: v for k, v in graph.graph.items() if k != "attrs"}
        return cls(nodes=nodes, edges=edges, directed=graph.is_directed(), attrs=attrs)


# ---------------------------------------------------------------------- tensors
@dataclass(frozen=True)
class GraphTensors:
    """Tensor view of a graph for solvers; row ``i`` is ``node_ids[i]``.

    Attributes
    ----------
    edge_index : torch.LongTensor, shape (2, E)
        Source row, target row. Undirected graphs list each edge in both directions.
    edge_weight : torch.Tensor, shape (E,)
        ``Edge.weight``, or 1.0 where it is ``None``.
    x : torch.Tensor, shape (N, F)
        Node features (see :func:`to_tensors`).
    node_ids : list of str
        Node ids in row order.
    """

    edge_index: torch.Tensor
    edge_weight: torch.Tensor
    x: torch.Tensor
    node_ids: list[str]

    @property
    def num_nodes(self) -> int:
        return len(self.node_ids)


def to_tensors(
    graph: Graph,
    *,
    feature_keys: Sequence[str] | None = None,
    dtype: torch.dtype | None = None,
) -> GraphTensors:
    """The tensor view of ``graph``, in node order.

    Parameters
    ----------
    graph : Graph
    feature_keys : sequence of str, optional
        Numeric ``Node.attrs`` keys (scalars or equal-length lists) stacked as features.
        By default the features are a one-hot of ``kind`` over :data:`NODE_KINDS`
        (free-string kinds count as ``"other"``).
    dtype : torch.dtype, optional
        Float dtype of ``x`` and ``edge_weight`` (default ``torch.float32``).

    Raises
    ------
    GraphValidationError
        If a requested feature is missing or not numeric.

    Examples
    --------
    >>> g = Graph(nodes=[Node(id="a", kind="start"), Node(id="b", kind="end")], edges=[Edge(source="a", target="b")])
    >>> t = to_tensors(g)
    >>> t.edge_index.tolist(), t.x.shape
    ([[0], [1]], torch.Size([2, 7]))
    """
    import torch

    dtype = dtype or torch.float32
    index = graph.index()
    src = [index[e.source] for e in graph.edges]
    dst = [index[e.target] for e in graph.edges]
    weights = [1.0 if e.weight is None else e.weight for e in graph.edges]
    if not graph.directed:
        loops = [s == d for s, d in zip(src, dst, strict=True)]
        rsrc = [d for d, loop in zip(dst, loops, strict=True) if not loop]
        rdst = [s for s, loop in zip(src, loops, strict=True) if not loop]
        rw = [w for w, loop in zip(weights, loops, strict=True) if not loop]
        src, dst, weights = src + rsrc, dst + rdst, weights + rw
    edge_index = torch.tensor([src, dst], dtype=torch.long).reshape(2, -1)
    edge_weight = torch.tensor(weights, dtype=dtype)
    x = _feature_matrix(graph.nodes, feature_keys, dtype)
    return GraphTensors(edge_index=edge_index, edge_weight=edge_weight, x=x, node_ids=graph.node_ids)


def _feature_matrix(nodes: Sequence[Node], feature_keys: Sequence[str] | None, dtype: torch.dtype) -> torch.Tensor:
    import torch

    if feature_keys is None:
        x = torch.zeros((len(nodes), len(NODE_KINDS)), dtype=dtype)
        other = NODE_KINDS.index("other")
        for i, n in enumerate(nodes):
            x[i, NODE_KINDS.index(n.kind) if n.kind in NODE_KINDS else other] = 1.0
        return x
    rows = []
    for n in nodes:
        row: list[float] = []
        for key in feature_keys:
            if key not in n.attrs:
                raise GraphValidationError(f"node {n.id!r} has no feature attribute {key!r}")
            row.extend(_as_floats(n.attrs[key], n.id, key))
        rows.append(row)
    widths = {len(r) for r in rows}
    if len(widths) > 1:
        raise GraphValidationError(f"feature attributes {list(feature_keys)} have different lengths across nodes")
    return torch.tensor(rows, dtype=dtype).reshape(len(nodes), -1)


def _as_floats(value: Any, node_id: str, key: str) -> list[float]:
    values = value if isinstance(value, list) else [value]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        raise GraphValidationError(
            f"node {quote(node_id)} feature {key!r} is not numeric (a number or a list of numbers)"
        )
    return [float(v) for v in values]


# ---------------------------------------------------------------------- helpers
_NODE_FIELDS = ("text", "kind", "bbox")
_EDGE_FIELDS = ("label", "weight")


def _node_from_data(node_id: str, data: dict[str, Any]) -> Node:
    fields = {k: data[k] for k in _NODE_FIELDS if data.get(k) is not None}
    return _build(Node, id=node_id, attrs=_extra_attrs(data, _NODE_FIELDS), **fields)


def _edge_from_data(source: str, target: str, data: dict[str, Any], directed: bool) -> Edge:
    data = dict(data)
    if not directed and data.pop("source", source) == target:
        source, target = target, source
    fields = {k: data[k] for k in _EDGE_FIELDS if k in data}
    return _build(Edge, source=source, target=target, attrs=_extra_attrs(data, _EDGE_FIELDS), **fields)


def _extra_attrs(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """``data["attrs"]`` when written by :meth:`Graph.to_networkx`, else every key that is not a field."""
    if isinstance(data.get("attrs"), dict):
        return dict(data["attrs"])
    return {k: v for k, v in data.items() if k not in fields}


def _build(model: type[BaseModel], **data: Any) -> Any:
    try:
        return model(**data)
    except ValidationError as e:
        raise GraphValidationError(_describe_validation_error(e)) from e


def _describe_validation_error(error: ValidationError) -> str:
    return "invalid graph: " + describe_validation_error(error)  # never the values: they may come from a file


def ensure_graph(value: Graph | dict[str, Any] | str) -> Graph:
    """Accept a :class:`Graph`, its dict form or its JSON text and return a :class:`Graph`."""
    if isinstance(value, Graph):
        return value
    if isinstance(value, str | bytes):
        return Graph.from_json(value)
    return Graph.from_dict(value)


def subgraph(graph: Graph, node_ids: Iterable[str]) -> Graph:
    """The graph induced by ``node_ids`` (kept in the original node order).

    Examples
    --------
    >>> g = Graph(nodes=[Node(id="a"), Node(id="b"), Node(id="c")],
    ...           edges=[Edge(source="a", target="b"), Edge(source="b", target="c")])
    >>> [e.target for e in subgraph(g, ["a", "b"]).edges]
    ['b']
    """
    keep = set(node_ids)
    missing = keep - set(graph.node_ids)
    if missing:
        raise GraphValidationError(f"subgraph asks for unknown nodes {sorted(missing)}")
    return Graph(
        nodes=[n for n in graph.nodes if n.id in keep],
        edges=[e for e in graph.edges if e.source in keep and e.target in keep],
        directed=graph.directed,
        attrs=dict(graph.attrs),
    )

"""The sample type shared by the task generators, and its round trip through the shared ``Graph``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graphsolvers.errors import FeatureError, GraphValidationError
from graphsolvers.fixedpoint.linear import validate_structure
from graphsolvers.graph import Edge, Graph, Node

__all__ = ["TaskSample", "sample_from_graph"]


@dataclass
class TaskSample:
    """One graph of a task, as arrays (row ``i`` of ``x`` is node ``i``).

    Attributes
    ----------
    task : str
        ``"gvi"`` or ``"porous"``.
    x : ndarray, shape (N, F), float32
        Node features.
    edge_index : ndarray, shape (2, E), int64
        Source and target rows; messages flow source -> target.
    edge_attr : ndarray, shape (E, Fe), float32
        Edge features.
    y : ndarray, shape (N, 1), float32, or None
        Node targets from the exact solver (None for an unlabelled input).
    meta : dict
        Task-specific data for metrics (MDP rewards and transitions, pore coordinates, ...).
    """

    task: str
    x: np.ndarray
    edge_index: np.ndarray
    edge_attr: np.ndarray
    y: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_index.shape[1])

    def to_graph(self) -> Graph:
        """The shared graph form: features in ``attrs["features"]``, targets in ``attrs["target"]``.

        Examples
        --------
        >>> from graphsolvers.tasks import generate_gvi
        >>> s = generate_gvi(1, seed=0)[0]
        >>> g = s.to_graph()
        >>> g.attrs["task"], len(g.nodes) == s.num_nodes
        ('gvi', True)
        """
        nodes = []
        for i in range(self.num_nodes):
            attrs: dict[str, Any] = {"features": [float(v) for v in self.x[i]]}
            if self.y is not None:
                attrs["target"] = float(self.y[i, 0])
            nodes.append(Node(id=str(i), kind="other", attrs=attrs))
        edges = [
            Edge(source=str(int(s)), target=str(int(t)), attrs={"features": [float(v) for v in self.edge_attr[k]]})
            for k, (s, t) in enumerate(self.edge_index.T)
        ]
        return Graph(nodes=nodes, edges=edges, directed=True, attrs={"task": self.task})


def sample_from_graph(graph: Graph, *, task: str, node_dim: int, edge_dim: int) -> TaskSample:
    """Read a task input back from a :class:`Graph` and check it thoroughly.

    Node features come from ``Node.attrs["features"]`` and edge features from
    ``Edge.attrs["features"]`` (lists of numbers); ``attrs["target"]`` is read when every node has it.

    Raises
    ------
    GraphStructureError
        No edges, self-loops, or disconnected parts.
    FeatureError
        Missing, non-numeric or non-finite (NaN/inf) features, or features whose size differs from
        ``node_dim`` / ``edge_dim``.
    GraphValidationError
        ``graph.attrs["task"]`` names another task.
    """
    declared = graph.attrs.get("task")
    if declared is not None and declared != task:
        raise GraphValidationError(f"graph is marked as task {declared!r} but a {task!r} model was asked to read it")
    validate_structure(graph)
    x = _feature_rows([n.attrs.get("features") for n in graph.nodes], [n.id for n in graph.nodes], "node", node_dim)
    names = [f"{e.source}->{e.target}" for e in graph.edges]
    edge_attr = _feature_rows([e.attrs.get("features") for e in graph.edges], names, "edge", edge_dim)
    index = graph.index()
    edge_index = np.array([[index[e.source] for e in graph.edges], [index[e.target] for e in graph.edges]], np.int64)
    targets = [n.attrs.get("target") for n in graph.nodes]
    y = None
    if all(isinstance(t, int | float) and not isinstance(t, bool) for t in targets):
        y = np.asarray(targets, np.float32).reshape(-1, 1)
    return TaskSample(task=task, x=x, edge_index=edge_index, edge_attr=edge_attr, y=y)


def _feature_rows(rows: list[Any], names: list[str], what: str, dim: int) -> np.ndarray:
    out = np.empty((len(rows), dim), np.float32)
    for i, (row, name) in enumerate(zip(rows, names, strict=True)):
        if not isinstance(row, list) or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in row):
            raise FeatureError(f"{what} {name!r} needs attrs['features'] as a list of {dim} numbers, got {row!r:.80}")
        if len(row) != dim:
            raise FeatureError(
                f"{what} {name!r} has {len(row)} features; this model expects {dim} per {what} "
                "(mismatched feature size)"
            )
        values = np.asarray(row, np.float64)
        if not np.isfinite(values).all():
            raise FeatureError(f"{what} {name!r} has non-finite features (NaN or inf): {row}")
        out[i] = values
    return out

"""Weighted neuron graphs from NTF components, and the array views community detectors work on.

:func:`component_graph` turns one component's pair loadings into a sparse weighted :class:`Graph`;
:func:`edge_arrays` and :func:`compact_labels` are shared by the detectors in :mod:`connectome.sbm` and
:mod:`connectome.leiden`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from connectome.errors import ParameterError
from graphsolvers.graph import Edge, Graph, Node, to_tensors

__all__ = ["compact_labels", "component_graph", "edge_arrays"]


def component_graph(
    pair_weights: np.ndarray,
    pairs: np.ndarray,
    neurons: Sequence[str],
    *,
    knn: int = 10,
    attrs: Mapping[str, object] | None = None,
) -> Graph:
    """The weighted, undirected neuron graph of one component's pair loadings.

    Each neuron keeps edges to its ``knn`` strongest partners (positive weight only); the graph is the union
    of those edges (symmetric k-nearest-neighbour sparsification). Weights are scaled so the largest is 1.

    Parameters
    ----------
    pair_weights : ndarray, shape (pairs,)
        Non-negative loading of each neuron pair.
    pairs : ndarray of int, shape (pairs, 2)
        Neuron rows of each pair.
    neurons : sequence of str
        Node ids (every neuron is a node, also when it has no edge).
    knn : int
        Neighbours kept per neuron (>= 1).

    Examples
    --------
    >>> from connectome.affinity import pair_index
    >>> g = component_graph(np.array([1.0, 0.0, 0.5]), pair_index(3), ["A", "B", "C"], knn=1)
    >>> [(e.source, e.target, e.weight) for e in g.edges]
    [('A', 'B', 1.0), ('B', 'C', 0.5)]
    """
    if knn < 1:
        raise ParameterError(f"knn must be >= 1, got {knn}")
    n = len(neurons)
    pair_weights = np.asarray(pair_weights, dtype=float)
    if pair_weights.shape != (len(pairs),):
        raise ParameterError(f"{pair_weights.shape[0]} pair weights for {len(pairs)} pairs")
    dense = np.zeros((n, n))
    dense[pairs[:, 0], pairs[:, 1]] = pair_weights
    dense += dense.T
    keep = np.zeros((n, n), dtype=bool)
    k = min(knn, n - 1)
    top = np.argsort(-dense, axis=1, kind="stable")[:, :k]
    keep[np.repeat(np.arange(n), k), top.ravel()] = True
    keep |= keep.T
    keep &= dense > 0
    scale = dense.max() if dense.max() > 0 else 1.0
    iu, ju = np.nonzero(np.triu(keep, k=1))
    return Graph(
        nodes=[Node(id=name, text=name, kind="neuron") for name in neurons],
        edges=[
            Edge(source=neurons[i], target=neurons[j], weight=float(dense[i, j] / scale))
            for i, j in zip(iu.tolist(), ju.tolist(), strict=True)
        ],
        directed=False,
        attrs=dict(attrs or {}),
    )


def edge_arrays(graph: Graph) -> tuple[int, np.ndarray, np.ndarray]:
    """Node count, unique undirected edges ``(E, 2)`` with ``u < v`` and their summed weights."""
    t = to_tensors(graph)
    n = t.num_nodes
    ei = t.edge_index.numpy()
    w = t.edge_weight.double().numpy()
    if (w < 0).any():
        raise ParameterError(f"community detection needs non-negative edge weights; found {w.min():g}")
    u, v = np.minimum(ei[0], ei[1]), np.maximum(ei[0], ei[1])
    keep = (u != v) & (w > 0)
    key = u[keep] * n + v[keep]
    uniq, inv = np.unique(key, return_inverse=True)
    weights = np.bincount(inv, weights=w[keep], minlength=len(uniq))
    if not graph.directed:
        weights = weights / 2.0  # to_tensors lists every undirected edge in both directions
    edges = np.stack([uniq // n, uniq % n], axis=1) if len(uniq) else np.zeros((0, 2), dtype=np.int64)
    return n, edges.astype(np.int64), weights


def compact_labels(labels: np.ndarray) -> np.ndarray:
    """Relabel blocks 0..K-1 by decreasing size (ties: smaller old label first)."""
    uniq, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.lexsort((uniq, -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inv]

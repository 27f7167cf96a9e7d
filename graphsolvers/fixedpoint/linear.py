"""The plain API on a :class:`~graphsolvers.graph.Graph`: linear fixed points ``x = γ·P·x + b``.

:func:`solve_fixed_point` solves stationary and diffusion problems on a graph;
:func:`validate_structure` checks that a graph is a usable solver input.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from graphsolvers.errors import GraphStructureError, GraphValidationError
from graphsolvers.fixedpoint.graphmap import GraphLinearMap
from graphsolvers.fixedpoint.solvers import OnFail, SolverResult, check_result, get_solver

__all__ = ["LinearFixedPointResult", "solve_fixed_point", "validate_structure"]

logger = logging.getLogger(__name__)


@dataclass
class LinearFixedPointResult:
    """Solution of ``x = γ·P·x + b`` on a graph: values per node id plus solver diagnostics."""

    values: dict[str, float]
    result: SolverResult
    node_ids: list[str]


def solve_fixed_point(
    graph: Any,
    *,
    bias: Sequence[float] | torch.Tensor | str = "bias",
    gamma: float = 0.9,
    normalize: Literal["in", "none"] = "in",
    solver: str = "anderson",
    max_iter: int = 500,
    tol: float = 1e-8,
    on_fail: OnFail = "raise",
    device: str | torch.device = "cpu",
) -> LinearFixedPointResult:
    """Solve the linear graph fixed point ``x = γ·P·x + b`` (stationary / diffusion problems).

    ``P[i, j]`` is the weight of edge ``j -> i`` (``Edge.weight``, 1.0 when unset; both directions
    for an undirected graph), divided by the total weight entering ``i`` when ``normalize="in"``
    (then ``P`` is row-stochastic, ``‖γP‖_∞ = γ < 1`` and the fixed point is unique for any
    ``b``). With ``normalize="none"`` the caller must make ``γ·P`` a contraction.

    Parameters
    ----------
    graph : Graph
        Nodes, edges (non-negative weights) and the node term ``b``.
    bias : str or sequence of float, default "bias"
        ``Node.attrs`` key holding ``b`` per node, or the values in node order.
    gamma : float, default 0.9
        Must lie in ``[0, 1)`` when ``normalize="in"``.
    normalize : {"in", "none"}, default "in"
    solver, max_iter, tol, on_fail
        See :func:`implicit_fixed_point`. Default: Anderson, 500 iterations, ``tol=1e-8``, raise.
    device : str or torch.device, default "cpu"

    Returns
    -------
    LinearFixedPointResult

    Raises
    ------
    GraphValidationError
        For a graph with no edges, self-loops, negative weights, a missing or non-finite bias, or
        ``gamma`` outside ``[0, 1)``.
    ConvergenceError
        If the solver misses ``tol`` and ``on_fail="raise"``.

    Examples
    --------
    >>> from graphsolvers.graph import Graph, Node, Edge
    >>> g = Graph(nodes=[Node(id="a", attrs={"bias": 1.0}), Node(id="b", attrs={"bias": 0.0})],
    ...           edges=[Edge(source="a", target="b"), Edge(source="b", target="a")])
    >>> r = solve_fixed_point(g, gamma=0.5)
    >>> {k: round(v, 4) for k, v in r.values.items()}    # a = 0.5 b + 1, b = 0.5 a
    {'a': 1.3333, 'b': 0.6667}
    """
    from graphsolvers.graph import to_tensors

    validate_structure(graph, allow_disconnected=True)
    if normalize not in ("in", "none"):
        raise ValueError(f"normalize must be 'in' or 'none', got {normalize!r}")
    if normalize == "in" and not 0 <= gamma < 1:
        raise GraphValidationError(f"gamma must lie in [0, 1) for a normalised operator, got {gamma}")
    t = to_tensors(graph, dtype=torch.float64)
    weight = t.edge_weight
    if bool((weight < 0).any()):
        raise GraphValidationError("edge weights must be non-negative for a linear graph fixed point")
    b = _bias_vector(graph, bias)
    dev = torch.device(device)
    edge_index, weight, b = t.edge_index.to(dev), weight.to(dev), b.to(dev)
    if normalize == "in":
        total = torch.zeros(t.num_nodes, dtype=weight.dtype, device=dev).index_add_(0, edge_index[1], weight)
        weight = weight / total.clamp_min(1e-300)[edge_index[1]]
    op = GraphLinearMap(edge_index, t.num_nodes, gamma=gamma).bind(weight.unsqueeze(1))
    bb = b.unsqueeze(1)
    with torch.no_grad():
        result = get_solver(solver)(lambda x: op.matvec(x) + bb, torch.zeros_like(bb), max_iter=max_iter, tol=tol)
    check_result(result, on_fail=on_fail, what="linear graph fixed point")
    result.x = result.x[:, 0].cpu()
    logger.info("solve_fixed_point: %s", result.summary())
    return LinearFixedPointResult(
        values=dict(zip(t.node_ids, result.x.tolist(), strict=True)), result=result, node_ids=t.node_ids
    )


def _bias_vector(graph: Any, bias: Sequence[float] | torch.Tensor | str) -> torch.Tensor:
    if isinstance(bias, str):
        values = []
        for n in graph.nodes:
            v = n.attrs.get(bias)
            if not isinstance(v, int | float) or isinstance(v, bool):
                raise GraphValidationError(f"node {n.id!r} needs a numeric attrs[{bias!r}] (the term b), got {v!r}")
            values.append(float(v))
        b = torch.tensor(values, dtype=torch.float64)
    else:
        b = torch.as_tensor(bias, dtype=torch.float64).reshape(-1)
    if b.numel() != len(graph.nodes):
        raise GraphValidationError(f"bias has {b.numel()} values for a graph of {len(graph.nodes)} nodes")
    if not bool(torch.isfinite(b).all()):
        raise GraphValidationError("bias contains NaN or infinite values")
    return b


def validate_structure(graph: Any, *, allow_disconnected: bool = False) -> None:
    """Check that ``graph`` is a usable solver input: nodes, edges, no self-loops, (one component).

    Raises
    ------
    GraphStructureError
        For a graph without nodes or edges, with self-loops, or (unless ``allow_disconnected``)
        with more than one weakly connected component; the message names the offenders.

    Examples
    --------
    >>> from graphsolvers.graph import Graph, Node, Edge
    >>> validate_structure(Graph(nodes=[Node(id="a")], edges=[Edge(source="a", target="a")]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    graphsolvers.errors.GraphStructureError: graph has 1 self-loop(s) (at 'a'); ...
    """
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not graph.nodes:
        raise GraphStructureError("graph has no nodes; a solver input needs at least one node and one edge")
    if not graph.edges:
        raise GraphStructureError(f"graph has {len(graph.nodes)} nodes but no edges; a solver input needs edges")
    loops = [e.source for e in graph.edges if e.source == e.target]
    if loops:
        where = ", ".join(repr(v) for v in loops[:5]) + (", ..." if len(loops) > 5 else "")
        raise GraphStructureError(
            f"graph has {len(loops)} self-loop(s) (at {where}); self-loops are not allowed: "
            "the node term carries self-influence"
        )
    if allow_disconnected:
        return
    index = graph.index()
    src = np.array([index[e.source] for e in graph.edges])
    dst = np.array([index[e.target] for e in graph.edges])
    n = len(graph.nodes)
    n_comp, labels = connected_components(
        coo_matrix((np.ones(len(src)), (src, dst)), shape=(n, n)), directed=True, connection="weak"
    )
    if n_comp > 1:
        sizes = np.bincount(labels)
        small = int(np.argmin(sizes))
        example = graph.nodes[int(np.flatnonzero(labels == small)[0])].id
        raise GraphStructureError(
            f"graph has {n_comp} disconnected parts (sizes {sorted(sizes.tolist(), reverse=True)[:5]}, e.g. the part "
            f"holding node {example!r}); connect them or solve each part separately"
        )

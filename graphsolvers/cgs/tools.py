"""Typed agent tools: ``cgs_solve`` (linear fixed point on a graph) and ``cgs_predict`` (a trained CGS).

Each tool follows :mod:`graphsolvers.toolspec`: ``tool(args, context=None) -> dict`` with ``args`` its argument
model (or a dict of it) and ``context`` the host that resolves the ``graph`` argument and confines the
checkpoint path to its root (a plain Python call: graph JSON, any path). :data:`TOOLS` publishes both in the
``graphsolvers.tools`` entry-point group.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from graphsolvers.errors import GraphValidationError
from graphsolvers.graph import Graph
from graphsolvers.security import resolve_under_root
from graphsolvers.toolspec import GRAPH_REF_HELP, GraphRef, ToolArgs, ToolContext, ToolSpec, TrustedContext

__all__ = ["TOOLS", "CgsPredictArgs", "CgsSolveArgs", "cgs_predict", "cgs_solve"]


class CgsSolveArgs(ToolArgs):
    """Arguments of :func:`cgs_solve`."""

    graph: GraphRef = Field(
        description=GRAPH_REF_HELP + " Each node's attrs hold its constant term under the key `bias`."
    )
    bias: str = Field("bias", description="Node attrs key holding the constant term b of each node.")
    gamma: float = Field(0.9, ge=0.0, lt=1.0, description="Discount/damping factor γ in [0, 1).")
    normalize: Literal["in", "none"] = Field(
        "in", description="'in': divide edge weights by the total weight entering each node (row-stochastic)."
    )
    max_iter: int = Field(500, ge=1, le=1_000_000, description="Most solver iterations.")
    tol: float = Field(1e-8, gt=0.0, description="Relative residual at which the solver stops.")
    device: str = Field("cpu", description="torch device, e.g. 'cpu' or 'cuda'.")


class CgsPredictArgs(ToolArgs):
    """Arguments of :func:`cgs_predict`."""

    graph: GraphRef = Field(
        description=GRAPH_REF_HELP + " Every node and edge has attrs['features'] (a list of numbers)."
    )
    task: Literal["gvi", "porous"] = Field(
        description="'gvi': optimal state values of an MDP graph; 'porous': normalised pore pressure."
    )
    checkpoint: str | None = Field(None, description="Checkpoint path; default: the committed CGS checkpoint.")
    device: str = Field("cpu", description="torch device, e.g. 'cpu' or 'cuda'.")


def cgs_solve(args: CgsSolveArgs | dict[str, Any], context: ToolContext | None = None) -> dict[str, Any]:
    """Solve the linear fixed point x = γ·P·x + b on a graph (stationary values, diffusion, discounted reach).

    P[i, j] is the weight of edge j -> i (Edge.weight, 1 when unset), normalised per target node by
    default; b comes from each node's attrs (key ``bias``). The solution is unique for γ < 1.

    Returns
    -------
    dict
        ``{"values": {node_id: float}, "n_iter": int, "residual": float, "converged": bool}``.

    Raises
    ------
    GraphValidationError
        Bad arguments or graph (no edges, self-loops, missing/NaN bias): the message says what to fix.

    Examples
    --------
    >>> g = {"nodes": [{"id": "a", "attrs": {"bias": 1}}, {"id": "b", "attrs": {"bias": 0}}],
    ...      "edges": [{"source": "a", "target": "b"}, {"source": "b", "target": "a"}]}
    >>> out = cgs_solve({"graph": g, "gamma": 0.5})
    >>> round(out["values"]["a"], 4), out["converged"]
    (1.3333, True)
    """
    from graphsolvers.fixedpoint.linear import solve_fixed_point  # torch loads with a solve, not the registry

    a = CgsSolveArgs.coerce(_graph_as_json(args), error=GraphValidationError)
    graph = (context or TrustedContext()).graph(a.graph)
    res = solve_fixed_point(
        graph, bias=a.bias, gamma=a.gamma, normalize=a.normalize, max_iter=a.max_iter, tol=a.tol, device=a.device
    )
    return {"values": res.values, **res.result.summary()}


def cgs_predict(args: CgsPredictArgs | dict[str, Any], context: ToolContext | None = None) -> dict[str, Any]:
    """Run a trained Convergent Graph Solver on a graph and return one prediction per node.

    Tasks: ``gvi`` (MDP graph: node features = rewards of up to 9 actions + action mask, edge s'->s
    features = transition probabilities and their logs; predicts the optimal value of each state and
    the greedy action) and ``porous`` (pore network: node features = x, y, z in mm, diameter/100 µm,
    inlet, outlet; edge features = ln(g/mean g), length in mm; predicts pressure / inlet pressure).
    Given a ``context`` with a root (a tool session's root folder), the checkpoint path must lie under it.

    Returns
    -------
    dict
        ``{"task", "model", "predictions": {node_id: float}, "n_iter", "residual", "converged"}``;
        for ``gvi`` also ``"policy": {node_id: action index}``.

    Raises
    ------
    FeatureError, GraphStructureError, CheckpointError
        Missing/NaN/mis-sized features, no edges, self-loops, disconnected parts, or a checkpoint
        trained for another task.

    Examples
    --------
    >>> from graphsolvers.tasks import generate_porous
    >>> g = generate_porous(1, seed=3, n_pores=(60, 60))[0].to_graph()
    >>> out = cgs_predict({"graph": g.model_dump(), "task": "porous"})
    >>> len(out["predictions"]), out["converged"]
    (60, True)
    """
    from graphsolvers.cgs.training import default_checkpoint, get_task, predict
    from graphsolvers.tasks.base import sample_from_graph

    args = CgsPredictArgs.coerce(_graph_as_json(args), error=GraphValidationError)
    context = context or TrustedContext()
    graph = context.graph(args.graph)
    spec = get_task(args.task)
    checkpoint = args.checkpoint
    if checkpoint is not None and context.root is not None:
        checkpoint = str(resolve_under_root(checkpoint, context.root))  # before the file is touched
    ckpt = _cached_checkpoint(str(checkpoint or default_checkpoint(args.task)), args.task, args.device)
    sample = sample_from_graph(graph, task=args.task, node_dim=spec.node_dim, edge_dim=spec.edge_dim)
    (pred,) = predict(ckpt, [sample])
    stats = getattr(ckpt.model, "last_stats", {}).get("forward")
    out: dict[str, Any] = {
        "task": args.task,
        "model": ckpt.kind,
        "predictions": dict(zip(graph.node_ids, (float(v) for v in pred), strict=True)),
        **(stats.summary() if stats is not None else {"n_iter": 0, "residual": 0.0, "converged": True}),
    }
    if args.task == "gvi":
        out["policy"] = dict(zip(graph.node_ids, _greedy_policy(sample, pred), strict=True))
    return out


def _greedy_policy(sample: Any, values: np.ndarray) -> list[int]:
    from graphsolvers.tasks.gvi import DISCOUNT, MAX_ACTIONS

    rewards, mask = sample.x[:, :MAX_ACTIONS], sample.x[:, MAX_ACTIONS:] > 0.5
    q = rewards.astype(np.float64).copy()
    src, dst = sample.edge_index
    np.add.at(q, dst, DISCOUNT * sample.edge_attr[:, :MAX_ACTIONS] * values[src, None])
    q[~mask] = -np.inf
    return [int(a) for a in q.argmax(axis=1)]


@functools.lru_cache(maxsize=8)
def _cached_checkpoint(path: str, task: str, device: str) -> Any:
    from graphsolvers.cgs.training import load_checkpoint

    return load_checkpoint(Path(path), task=task, device=device)


def _graph_as_json(args: ToolArgs | dict[str, Any]) -> ToolArgs | dict[str, Any]:
    """``args`` with a :class:`Graph` given by a Python caller as its JSON form, which the model holds."""
    if isinstance(args, dict) and isinstance(args.get("graph"), Graph):
        return {**args, "graph": args["graph"].model_dump()}
    return args


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec.from_function(cgs_solve, CgsSolveArgs),
    ToolSpec.from_function(cgs_predict, CgsPredictArgs),
)
"""The CGS tools, for hosts that load the ``graphsolvers.tools`` entry points."""

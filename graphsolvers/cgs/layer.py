"""The CGS layer: edge coefficients from attention scores and gates, the sparse fixed point, its gradient.

``A_m[i, j] = σ(gate_{i,m}) · softmax_{e ∈ in(i)}(score_{e,m})`` for the edge ``e = (j → i)``: the
coefficients entering a node are non-negative and sum to ``σ(gate) < 1``, so ``γ·A_m`` is a
contraction in the max-norm (see :mod:`graphsolvers.cgs.model`). :func:`cgs_fixed_point` is the
whole layer as one autograd function — coefficients, forward solve (CSR products), adjoint solve
and the gradients of ``score``, ``gate`` and ``b`` — so that the only ``(E, M)`` tensors it
makes are the coefficients and the score gradient. :func:`gated_segment_softmax` and
:func:`segment_softmax` are the coefficient step alone.

With edges stored target-major (sorted by target, as :func:`~graphsolvers.cgs.data.collate` keeps
them) the per-node sums are contiguous reductions and the forward CSR needs no permutation.
"""

from __future__ import annotations

from typing import Any

import torch

from graphsolvers.fixedpoint.csr import is_sorted
from graphsolvers.fixedpoint.graphmap import BoundGraphMap, GraphLinearMap
from graphsolvers.fixedpoint.implicit import _SolveConfig
from graphsolvers.fixedpoint.solvers import OnFail, SolverResult

__all__ = ["SLAB_EDGES", "cgs_fixed_point", "gated_segment_softmax", "segment_softmax"]

SLAB_EDGES = 1 << 16
"""Edges per slab of the score gradient: ``SLAB_EDGES × M`` numbers (4 MB at M = 16) stay in cache."""


def cgs_fixed_point(
    score: torch.Tensor,
    gate: torch.Tensor,
    bias_t: torch.Tensor,
    op: GraphLinearMap,
    x0t: torch.Tensor | None = None,
    *,
    tanh: bool = False,
    solver: str = "fixed_point",
    max_iter: int = 100,
    tol: float = 1e-5,
    on_fail: OnFail = "warn",
) -> tuple[torch.Tensor, dict[str, SolverResult]]:
    """The CGS fixed point ``x_m = φ(γ·A_m·x_m + b_m)`` of every head, head-major ``(M, N)``.

    ``A_m`` comes from ``score`` and ``gate`` as in the module docstring; ``γ`` and the graph come
    from ``op``. Differentiable in ``score``, ``gate`` and ``bias_t`` by the implicit-function
    theorem: after the adjoint solve ``v = ∂L/∂(γAx* + b)``, with ``y = γ·A·x*`` (one product),

    * ``∂score_e = c_e · v_i · (γ·x*_j − y_i / σ_i)`` for ``e = (j → i)``,
    * ``∂gate_i = (1 − σ_i) · v_i · y_i``,  ``∂b = v``,

    computed a cache-sized slab of edges at a time.

    Parameters
    ----------
    score : torch.Tensor, shape (E, M)
        Attention scores of the edges, in ``op``'s edge order.
    gate : torch.Tensor, shape (N, M)
    bias_t : torch.Tensor, shape (M, N)
        Biases, head-major.
    op : GraphLinearMap
        The graph and ``γ``.
    x0t : torch.Tensor, optional
        Starting point (M, N); by default ``φ(bias_t)``, the first iterate from zero.
    tanh : bool, default False
        ``φ = tanh`` instead of the identity.
    solver, max_iter, tol, on_fail
        As in :func:`~graphsolvers.fixedpoint.implicit.implicit_fixed_point` (the adjoint uses the same budget).

    Returns
    -------
    xt : torch.Tensor, shape (M, N)
    stats : dict
        ``{"forward": SolverResult}``, and ``"backward"`` after ``backward()``.

    Examples
    --------
    >>> import torch
    >>> op = GraphLinearMap(torch.tensor([[0, 1], [1, 0]]), 2, gamma=0.5)         # 0 <-> 1
    >>> gate = torch.full((2, 1), 40.0)                                           # σ(gate) = 1
    >>> xt, stats = cgs_fixed_point(torch.zeros(2, 1), gate, torch.ones(1, 2), op, tol=1e-8)
    >>> [round(v, 4) for v in xt.flatten().tolist()], stats["forward"].converged   # x = 0.5·x + 1
    ([2.0, 2.0], True)
    """
    if score.shape != (op.num_edges, gate.shape[1]) or gate.shape[0] != op.num_nodes:
        raise ValueError(
            f"score must be (E, M) = ({op.num_edges}, M) and gate (N, M) = ({op.num_nodes}, M); "
            f"got {tuple(score.shape)} and {tuple(gate.shape)}"
        )
    if bias_t.shape != (gate.shape[1], op.num_nodes):
        raise ValueError(
            f"bias_t must be head-major (M, N) = {(gate.shape[1], op.num_nodes)}, got {tuple(bias_t.shape)}"
        )
    cfg = _SolveConfig.checked(solver, max_iter, tol, on_fail)
    xt = _CGSLayer.apply(op, cfg, tanh, score, gate, bias_t, x0t)
    return xt, cfg.stats


class _CGSLayer(torch.autograd.Function):
    """:func:`cgs_fixed_point` with its fused backward pass."""

    @staticmethod
    def forward(
        ctx: Any,
        op: GraphLinearMap,
        cfg: _SolveConfig,
        tanh: bool,
        score: torch.Tensor,
        gate: torch.Tensor,
        bias_t: torch.Tensor,
        x0t: torch.Tensor | None,
    ) -> torch.Tensor:
        coeff, sig = _gated_coefficients(score, gate, _Segments(op.dst, op.num_nodes))
        bound = op.bind(coeff)
        x_star = bound.forward_solve(bias_t, x0t, cfg, tanh=tanh)
        ctx.bound, ctx.cfg, ctx.tanh = bound, cfg, tanh
        ctx.save_for_backward(coeff, sig, x_star)
        return x_star

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor):
        coeff, sig, x_star = ctx.saved_tensors
        bound: BoundGraphMap = ctx.bound
        # γ·A·x* by one product: x* − b would equal it at the fixed point, but in float32 that difference
        # loses eps·|b|, which ∂gate and y/σ magnify where σ(gate) is small
        y = bound.matvec_heads(x_star)
        bound.release("fwd")  # the transposed matrix is built into its memory
        v = bound.adjoint_solve(x_star, grad.contiguous(), ctx.cfg, tanh=ctx.tanh)  # (M, N)
        d_score = d_gate = None
        if ctx.needs_input_grad[3]:
            spare = bound.take_values("bwd")  # the adjoint is solved: ∂score goes into its matrix's memory
            d_score = _score_grad(coeff, v, x_star, y, sig, bound.op, out=spare)
        if ctx.needs_input_grad[4]:
            d_gate = (v * y).T.mul(1 - sig)
        return None, None, None, d_score, d_gate, v if ctx.needs_input_grad[5] else None, None


def _score_grad(
    coeff: torch.Tensor,
    v: torch.Tensor,
    x_star: torch.Tensor,
    y: torch.Tensor,
    sig: torch.Tensor,
    op: GraphLinearMap,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """``c_e · v_i · (γ·x*_j − y_i / σ_i)`` for every edge ``e = (j → i)``, :data:`SLAB_EDGES` edges at a time.

    The node factors are node-major ``(N, M)`` copies (cheap); each slab of gathers stays in cache,
    and the result goes into ``out`` (any ``E·M`` array of the dtype, e.g. a spent CSR matrix's values)
    or a fresh tensor.
    """
    n_edges, n_heads = coeff.shape
    vn, xn, qn = v.T.contiguous(), (x_star.T * op.gamma).contiguous(), (y.T / sig).contiguous()
    if out is None or out.numel() != coeff.numel() or out.dtype != coeff.dtype:
        out = torch.empty_like(coeff)
    out = out.view(coeff.shape)
    chunk = SLAB_EDGES
    width = min(chunk, n_edges)
    a = torch.empty(width, n_heads, dtype=coeff.dtype, device=coeff.device)
    b = torch.empty_like(a)
    for start in range(0, n_edges, chunk):
        stop = min(start + chunk, n_edges)
        src, dst = op.src[start:stop], op.dst[start:stop]
        slab = torch.index_select(xn, 0, src, out=a[: stop - start])
        slab.sub_(torch.index_select(qn, 0, dst, out=b[: stop - start]))
        slab.mul_(torch.index_select(vn, 0, dst, out=b[: stop - start]))
        torch.mul(slab, coeff[start:stop], out=out[start:stop])
    return out


def segment_softmax(score: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
    """Softmax of ``score`` (E, H) over the entries sharing the same ``index`` (E,).

    Examples
    --------
    >>> import torch
    >>> segment_softmax(torch.tensor([[0.0], [0.0], [1.0]]), torch.tensor([0, 0, 1]), 2).flatten().tolist()
    [0.5, 0.5, 1.0]
    """
    return _SegmentSoftmax.apply(score, index, num_segments)


def gated_segment_softmax(
    score: torch.Tensor, gate: torch.Tensor, index: torch.Tensor, num_segments: int
) -> torch.Tensor:
    """``σ(gate)[index] ⊙ segment_softmax(score, index)``: CGS edge coefficients, in few passes.

    Per segment (the edges entering one node) and head the result is non-negative and sums to
    ``σ(gate)`` of that node — the sub-stochastic rows that make ``γ·A`` a contraction. One fused
    function: the exponentials are shifted by each head's overall maximum (one reduction, no
    per-segment maximum; a segment whose sum would underflow falls back to per-segment shifts),
    the gate and the normaliser are applied in one gather, and the backward pass is
    ``∂score = c ⊙ (g − Σ_seg p ⊙ g)`` and ``∂gate = σ'(gate) · Σ_seg p ⊙ g`` with ``c`` the output.
    With ``index`` sorted (edges stored target-major, as :func:`~graphsolvers.cgs.data.collate`
    keeps them) the segment sums are contiguous reductions.

    Parameters
    ----------
    score : torch.Tensor, shape (E, H)
    gate : torch.Tensor, shape (num_segments, H)
    index : torch.LongTensor, shape (E,)
        Segment (target node) of each entry.
    num_segments : int

    Examples
    --------
    >>> import torch
    >>> c = gated_segment_softmax(torch.zeros(3, 1), torch.zeros(2, 1), torch.tensor([0, 0, 1]), 2)
    >>> c.flatten().tolist()                      # σ(0) = 0.5, split evenly inside each segment
    [0.25, 0.25, 0.5]
    """
    return _GatedSegmentSoftmax.apply(score, gate, index, num_segments)


class _Segments:
    """Sums over the segments of ``index``; contiguous ``segment_reduce`` when ``index`` is sorted."""

    def __init__(self, index: torch.Tensor, num_segments: int) -> None:
        self.index, self.num_segments = index, num_segments
        self.counts = torch.bincount(index, minlength=num_segments)
        self.sorted = is_sorted(index)

    def sum(self, data: torch.Tensor) -> torch.Tensor:
        if self.sorted:
            return torch.segment_reduce(data, "sum", lengths=self.counts, unsafe=True)
        out = torch.zeros(self.num_segments, *data.shape[1:], dtype=data.dtype, device=data.device)
        return out.index_add_(0, self.index, data)

    def max(self, data: torch.Tensor) -> torch.Tensor:
        if self.sorted:
            return torch.segment_reduce(data, "max", lengths=self.counts, unsafe=True)
        out = torch.full((self.num_segments, *data.shape[1:]), -torch.inf, dtype=data.dtype, device=data.device)
        return out.scatter_reduce(0, self.index.unsqueeze(1).expand_as(data), data, reduce="amax", include_self=True)


def _shifted_exp(score: torch.Tensor, seg: _Segments) -> tuple[torch.Tensor, torch.Tensor]:
    """``exp(score − shift)`` and its segment sums, shifted by each head's maximum when that is safe.

    A segment whose largest score lies far below the head's maximum would sum to (almost) zero;
    then the shift is each segment's own maximum (exact, two more passes).
    """
    if score.shape[0] == 0:
        return score.clone(), torch.zeros(seg.num_segments, *score.shape[1:], dtype=score.dtype, device=score.device)
    p = torch.sub(score, _column_max(score)).exp_()
    total = seg.sum(p)
    floor = torch.finfo(score.dtype).tiny ** 0.5
    if bool((total[seg.counts > 0] < floor).any()):
        p = (score - seg.max(score).index_select(0, seg.index)).exp_()
        total = seg.sum(p)
    return p, total


def _column_max(data: torch.Tensor, fold: int = 16) -> torch.Tensor:
    """``data.amax(dim=0)`` for a tall, narrow ``(E, H)`` tensor, several times faster.

    A reduction down 16 columns vectorises poorly; ``fold`` rows side by side make it 16·H wide.
    """
    n_rows, width = data.shape
    body = n_rows - n_rows % fold
    top = data[:body].reshape(-1, fold * width).amax(dim=0).view(fold, width).amax(dim=0) if body else None
    if body == n_rows:
        return top
    rest = data[body:].amax(dim=0)
    return rest if top is None else torch.maximum(top, rest)


def _gated_coefficients(score: torch.Tensor, gate: torch.Tensor, seg: _Segments) -> tuple[torch.Tensor, torch.Tensor]:
    """``σ(gate)[index] ⊙ softmax_seg(score)`` and ``σ(gate)`` (clamped above 0: a backward pass divides by it)."""
    p, total = _shifted_exp(score, seg)
    tiny = torch.finfo(score.dtype).tiny
    sig = torch.sigmoid(gate).clamp_min_(tiny)
    scale = sig / total.clamp_min_(tiny)  # empty segments: no entry reads them
    slab = torch.empty(min(SLAB_EDGES, p.shape[0]), *p.shape[1:], dtype=p.dtype, device=p.device)
    for start in range(0, p.shape[0], SLAB_EDGES):  # no (E, M) temporary for the gathered scale
        stop = min(start + SLAB_EDGES, p.shape[0])
        p[start:stop].mul_(torch.index_select(scale, 0, seg.index[start:stop], out=slab[: stop - start]))
    return p, sig


class _SegmentSoftmax(torch.autograd.Function):
    """Segment softmax with a hand-written backward ``p ⊙ (g − Σ_segment p ⊙ g)``.

    The shift of the exponentials is a constant (softmax does not depend on it), so no gradient
    flows through it; autograd would otherwise differentiate a per-segment ``amax`` scatter and the
    division separately, several passes over the ``E × H`` entries each.
    """

    @staticmethod
    def forward(ctx: Any, score: torch.Tensor, index: torch.Tensor, num_segments: int) -> torch.Tensor:
        seg = _Segments(index, num_segments)
        p, total = _shifted_exp(score, seg)
        p = p.div_(total.index_select(0, index))
        ctx.save_for_backward(p, index)
        ctx.seg = seg
        return p

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor):
        p, index = ctx.saved_tensors
        pg = p * g
        return pg.sub_(p * ctx.seg.sum(pg).index_select(0, index)), None, None


class _GatedSegmentSoftmax(torch.autograd.Function):
    """:func:`gated_segment_softmax` with its hand-written backward."""

    @staticmethod
    def forward(
        ctx: Any, score: torch.Tensor, gate: torch.Tensor, index: torch.Tensor, num_segments: int
    ) -> torch.Tensor:
        seg = _Segments(index, num_segments)
        coeff, sig = _gated_coefficients(score, gate, seg)
        ctx.save_for_backward(coeff, sig, index)
        ctx.seg = seg
        return coeff

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor):
        coeff, sig, index = ctx.saved_tensors
        work = coeff * g  # the one (E, H) allocation of the backward pass, reused below
        pg_sum = ctx.seg.sum(work).div_(sig)  # Σ_seg p·g = Σ_seg c·g / σ
        d_score = torch.sub(g, torch.index_select(pg_sum, 0, index, out=work), out=work).mul_(coeff)
        d_gate = pg_sum.mul_(sig).mul_(torch.sub(1, sig))  # σ' = σ(1 − σ)
        return d_score, d_gate, None, None

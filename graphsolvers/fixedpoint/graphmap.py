"""Linear graph operators ``x ↦ γ·A·x`` for ``M`` edge-weighted heads, and their fixed points.

:class:`GraphLinearMap` applies ``γ·A·x`` from an edge list (``A[i, j]`` = weight of the edge
``j -> i``); :meth:`GraphLinearMap.bind` fixes the weights in a block-diagonal CSR matrix
(:class:`BoundGraphMap`) for the many products of a solve; nothing of size ``N × N`` is ever
formed. Batches of graphs are one block-diagonal system: concatenate their node rows and offset
their edge lists. Two autograd Functions give a bound product and a bound fixed-point solve their
gradients by transposed CSR products and gathers.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from graphsolvers.errors import GraphValidationError
from graphsolvers.fixedpoint.csr import _csr_apply_heads, _csr_pattern, _head_major, _Ring
from graphsolvers.fixedpoint.implicit import _checked_solve, _SolveConfig
from graphsolvers.fixedpoint.solvers import OnFail, SolverResult

__all__ = ["BoundGraphMap", "GraphLinearMap"]


class GraphLinearMap:
    """``x ↦ γ · A · x`` for ``M`` heads on an edge list; nothing ``N × N`` is ever formed.

    ``A_m[i, j] = weight[e, m]`` for each edge ``e = (j -> i)`` (messages flow along edges; parallel
    edges add up). ``x`` has shape ``(N, M)``; head ``m`` uses column ``m``. :meth:`matvec` and
    :meth:`rmatvec` gather / ``index_add`` along the edges and are differentiable in ``weight``;
    :meth:`bind` fixes ``weight`` in a block-diagonal ``(M·N) × (M·N)`` CSR matrix (``M·E`` stored
    values) for the many products of a solve.

    Parameters
    ----------
    edge_index : torch.LongTensor, shape (2, E)
        Source and target rows.
    num_nodes : int
    gamma : float, default 1.0
        Scale of the operator.

    Examples
    --------
    >>> import torch
    >>> ei = torch.tensor([[0, 1], [1, 2]])                # 0 -> 1 -> 2
    >>> op = GraphLinearMap(ei, 3)
    >>> w = torch.tensor([[2.0, 0.5]]).expand(2, 2)
    >>> op.matvec(w, torch.eye(3, 2)).tolist()
    [[0.0, 0.0], [2.0, 0.0], [0.0, 0.5]]
    >>> op.bind(w).matvec(torch.eye(3, 2)).tolist()
    [[0.0, 0.0], [2.0, 0.0], [0.0, 0.5]]
    """

    def __init__(self, edge_index: torch.Tensor, num_nodes: int, *, gamma: float = 1.0) -> None:
        if edge_index.dim() != 2 or edge_index.shape[0] != 2:
            raise GraphValidationError(f"edge_index must have shape (2, E), got {tuple(edge_index.shape)}")
        self.src, self.dst = edge_index[0], edge_index[1]
        self.num_nodes = num_nodes
        self.gamma = gamma
        self._patterns: dict[str, tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]] = {}

    @property
    def num_edges(self) -> int:
        return int(self.src.numel())

    def matvec(self, weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``γ · A · x`` with ``A`` from ``weight`` (shape ``(E, M)``); ``x`` is ``(N, M)``."""
        out = torch.zeros(self.num_nodes, x.shape[1], dtype=x.dtype, device=x.device)
        return self.gamma * out.index_add_(0, self.dst, weight * x.index_select(0, self.src))

    def rmatvec(self, weight: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``γ · Aᵀ · u`` (the adjoint)."""
        out = torch.zeros(self.num_nodes, u.shape[1], dtype=u.dtype, device=u.device)
        return self.gamma * out.index_add_(0, self.src, weight * u.index_select(0, self.dst))

    def bind(self, weight: torch.Tensor) -> BoundGraphMap:
        """A fast, non-differentiable operator for fixed ``weight`` (CSR; the adjoint built on first use)."""
        return BoundGraphMap(self, weight.detach())

    def _pattern(self, key: str) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
        if key not in self._patterns:
            rows, cols = (self.dst, self.src) if key == "fwd" else (self.src, self.dst)
            self._patterns[key] = _csr_pattern(rows, cols, self.num_nodes)
        return self._patterns[key]


class BoundGraphMap:
    """A :class:`GraphLinearMap` with its weights fixed in block-diagonal CSR matrices (see ``bind``).

    Besides :meth:`matvec` / :meth:`rmatvec` on node-major ``(N, M)`` tensors it works on
    **head-major** ``(M, N)`` tensors (:meth:`matvec_heads`, :meth:`rmatvec_heads`,
    :meth:`matvec_heads_diff`): row ``m`` is head ``m``, which is the CSR's own vector layout, so a
    solve in that layout needs no transposed copies and all its elementwise work is contiguous.
    ``γ`` is folded into the stored values.
    """

    def __init__(self, op: GraphLinearMap, weight: torch.Tensor) -> None:
        self.op, self.weight = op, weight
        self._csr: dict[str, torch.Tensor] = {}
        self._spare: tuple[torch.Tensor, torch.Tensor] | None = None  # arrays of a released matrix

    def matvec(self, x: torch.Tensor) -> torch.Tensor:
        """``γ · A · x`` for ``x`` of shape ``(N, M)``."""
        return self.matvec_heads(x.T.contiguous()).T

    def rmatvec(self, u: torch.Tensor) -> torch.Tensor:
        """``γ · Aᵀ · u`` for ``u`` of shape ``(N, M)``."""
        return self.rmatvec_heads(u.T.contiguous()).T

    def solve_heads(
        self,
        weight: torch.Tensor,
        bias_t: torch.Tensor,
        x0t: torch.Tensor | None = None,
        *,
        tanh: bool = False,
        solver: str = "fixed_point",
        max_iter: int = 100,
        tol: float = 1e-5,
        on_fail: OnFail = "warn",
    ) -> tuple[torch.Tensor, dict[str, SolverResult]]:
        """The fixed point ``xt = φ(γ·A·xt + bias_t)`` of every head, head-major ``(M, N)``, differentiable.

        ``φ`` is the identity or ``tanh`` (both 1-Lipschitz, so a contraction stays one). Gradients
        reach ``weight`` (the tensor this operator was bound to, (E, M)) and ``bias_t`` (M, N) by the
        implicit-function theorem: :meth:`adjoint_solve`, then two gathers for ``weight``. Without
        ``x0t`` the solve starts from ``φ(bias_t)``, the first iterate from zero.

        Examples
        --------
        >>> import torch
        >>> op = GraphLinearMap(torch.tensor([[0, 1], [1, 0]]), 2, gamma=0.5)      # 0 <-> 1
        >>> w = torch.ones(2, 1, requires_grad=True)
        >>> xt, stats = op.bind(w).solve_heads(w, torch.ones(1, 2), tol=1e-8)    # x = 0.5·x + 1 -> 2
        >>> [round(v, 4) for v in xt.flatten().tolist()], stats["forward"].converged
        ([2.0, 2.0], True)
        """
        if weight.shape != self.weight.shape:
            raise ValueError(f"weight has shape {tuple(weight.shape)}, but the bound one {tuple(self.weight.shape)}")
        cfg = _SolveConfig.checked(solver, max_iter, tol, on_fail)
        xt = _BoundFixedPoint.apply(self, cfg, tanh, weight, bias_t, x0t)
        return xt, cfg.stats

    def forward_solve(
        self, bias_t: torch.Tensor, x0t: torch.Tensor | None, cfg: _SolveConfig, *, tanh: bool = False
    ) -> torch.Tensor:
        """``x* = φ(γ·A·x* + bias_t)`` (head-major, no gradient); products go to two alternating buffers."""
        ring = _Ring()
        fwd = self._matrix("fwd")

        def f(xt: torch.Tensor) -> torch.Tensor:
            out = _csr_apply_heads(fwd, xt, bias_t, out=ring.next(xt))
            return out.tanh_() if tanh else out

        if x0t is None:  # the first iterate from 0 is φ(bias): no product with a zero vector
            x0t = torch.tanh(bias_t) if tanh else bias_t.clone()
        return _checked_solve(cfg, f, x0t).x

    def adjoint_solve(
        self, x_star: torch.Tensor, grad: torch.Tensor, cfg: _SolveConfig, *, tanh: bool = False
    ) -> torch.Tensor:
        """``v = ∂L/∂(γ·A·x* + b)`` from ``grad = ∂L/∂x*``: the adjoint fixed point ``u = grad + γ·Aᵀ(φ' ⊙ u)``.

        ``φ'`` is taken at the fixed point (``1 − x*²`` for tanh, where ``tanh(γAx* + b) = x*``);
        returns ``v = φ' ⊙ u``. Each iteration is one transposed CSR product with ``grad`` added in.
        """
        dphi = 1 - x_star**2 if tanh else None
        ring = _Ring()
        bwd = self._matrix("bwd")

        def adjoint(u: torch.Tensor) -> torch.Tensor:
            return _csr_apply_heads(bwd, u if dphi is None else u * dphi, grad, out=ring.next(u))

        u = _checked_solve(cfg, adjoint, grad.clone(), backward=True).x
        return u if dphi is None else u * dphi

    def _weight_grad(self, g: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
        """``∂/∂weight[e, m] = γ · g[m, dst_e] · xt[m, src_e]`` for head-major ``g`` and ``xt``: two gathers.

        Node-major copies of the ``(M, N)`` vectors are cheap, ``(E, M)`` ones are not; ``γ`` goes
        into the small factor.
        """
        op = self.op
        gn, xn = (g.T * op.gamma).contiguous(), xt.T.contiguous()
        return gn.index_select(0, op.dst).mul_(xn.index_select(0, op.src))

    def matvec_heads(self, xt: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        """``γ · A_m · xt[m]`` for every head, ``xt`` head-major ``(M, N)``; plus ``add`` (M, N) if given.

        One CSR product (``addmv`` when ``add`` is given), result contiguous ``(M, N)``.

        Examples
        --------
        >>> import torch
        >>> op = GraphLinearMap(torch.tensor([[0, 1], [1, 2]]), 3, gamma=0.5)   # 0 -> 1 -> 2
        >>> op.bind(torch.ones(2, 1)).matvec_heads(torch.tensor([[2.0, 4.0, 0.0]]), add=torch.ones(1, 3)).tolist()
        [[1.0, 2.0, 3.0]]
        """
        return _csr_apply_heads(self._matrix("fwd"), xt, add)

    def rmatvec_heads(self, ut: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        """``γ · A_mᵀ · ut[m]`` for every head (head-major ``(M, N)``), plus ``add`` if given."""
        return _csr_apply_heads(self._matrix("bwd"), ut, add)

    def matvec_heads_diff(self, weight: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
        """:meth:`matvec_heads`, differentiable in ``weight`` (E, M) and ``xt`` (M, N).

        ``weight`` must be the tensor this operator was bound to (it only routes the gradient:
        the product itself uses the stored CSR values). The forward pass is one CSR product; the
        backward pass gives ``∂/∂xt`` by one transposed CSR product and ``∂/∂weight[e, m] =
        γ · g[m, dst_e] · xt[m, src_e]`` by two gathers — no ``index_add`` over the edges.
        """
        if weight.shape != self.weight.shape:
            raise ValueError(f"weight has shape {tuple(weight.shape)}, but the bound one {tuple(self.weight.shape)}")
        return _BoundMatvec.apply(self, weight, xt)

    def _matrix(self, key: str) -> torch.Tensor:
        if key not in self._csr:
            perm, crow, col = self.op._pattern(key)
            weight = self.weight
            n_heads, n, n_edges = weight.shape[1], self.op.num_nodes, weight.shape[0]
            # 32-bit indices when they fit: half the memory of the M·E column indices, faster products
            itype = torch.int32 if n_heads * max(n, n_edges) < 2**31 - 1 else torch.long
            offsets = torch.arange(n_heads, dtype=itype, device=weight.device).unsqueeze(1)
            crow_m = torch.cat([(crow[:-1].to(itype) + offsets * n_edges).reshape(-1), crow[-1:].to(itype) * n_heads])
            spare = self._spare if self._spare is not None and self._spare[0].dtype == itype else None
            self._spare = None
            col_m = torch.add(col.to(itype), offsets * n, out=None if spare is None else spare[0].view(n_heads, -1))
            values = _head_major(weight, perm, self.op.gamma, out=None if spare is None else spare[1])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
                self._csr[key] = torch.sparse_csr_tensor(
                    crow_m, col_m.reshape(-1), values.reshape(-1), (n_heads * n, n_heads * n), check_invariants=False
                )
        return self._csr[key]

    def take_values(self, key: str) -> torch.Tensor | None:
        """Drop the ``key`` CSR matrix and hand its ``M·E`` value array over for the caller to keep (or None).

        For a backward pass done with the matrix: its gradient of the ``(E, M)`` edge weights can be
        written there instead of into a fresh array (rebuilt on demand if the matrix is asked for again).
        """
        csr = self._csr.pop(key, None)
        return None if csr is None else csr.values()

    def release(self, key: str) -> None:
        """Drop the ``key`` CSR matrix (``"fwd"`` or ``"bwd"``) and keep its arrays for the next one built.

        A backward pass that no longer needs the forward matrix builds the transposed one into the
        same memory: no fresh ``M·E``-sized arrays to page in (rebuilt on demand if asked for again).
        """
        csr = self._csr.pop(key, None)
        if csr is not None:
            self._spare = (csr.col_indices(), csr.values().view(self.weight.shape[1], -1))


class _BoundMatvec(torch.autograd.Function):
    """``BoundGraphMap.matvec_heads`` with gradients to the bound weights and the vector."""

    @staticmethod
    def forward(ctx: Any, bound: BoundGraphMap, weight: torch.Tensor, xt: torch.Tensor) -> torch.Tensor:
        ctx.bound = bound
        ctx.save_for_backward(xt)
        return bound.matvec_heads(xt)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, g: torch.Tensor):
        (xt,) = ctx.saved_tensors
        bound: BoundGraphMap = ctx.bound
        g = g.contiguous()
        grad_w = grad_x = None
        if ctx.needs_input_grad[1]:
            grad_w = bound._weight_grad(g, xt)
        if ctx.needs_input_grad[2]:
            grad_x = bound.rmatvec_heads(g)
        return None, grad_w, grad_x


class _BoundFixedPoint(torch.autograd.Function):
    """:meth:`BoundGraphMap.solve_heads`: forward solve, adjoint solve and two gathers; ``f`` is never re-run."""

    @staticmethod
    def forward(
        ctx: Any,
        bound: BoundGraphMap,
        cfg: _SolveConfig,
        tanh: bool,
        weight: torch.Tensor,
        bias_t: torch.Tensor,
        x0t: torch.Tensor | None,
    ) -> torch.Tensor:
        x_star = bound.forward_solve(bias_t, x0t, cfg, tanh=tanh)
        ctx.bound, ctx.cfg, ctx.tanh = bound, cfg, tanh
        ctx.save_for_backward(x_star)
        return x_star

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx: Any, grad: torch.Tensor):
        (x_star,) = ctx.saved_tensors
        ctx.bound.release("fwd")  # the transposed matrix is built into its memory
        v = ctx.bound.adjoint_solve(x_star, grad.contiguous(), ctx.cfg, tanh=ctx.tanh)
        grad_w = ctx.bound._weight_grad(v, x_star) if ctx.needs_input_grad[3] else None
        return None, None, None, grad_w, v if ctx.needs_input_grad[4] else None, None

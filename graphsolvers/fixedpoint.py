"""Fixed-point solvers on sparse graphs, with an implicit (adjoint) backward pass.

Three pieces, kept apart (as in torchdeq):

* **solvers** — :func:`fixed_point_iteration` and :func:`anderson`, one signature
  ``solver(f, x0, *, max_iter, tol) -> SolverResult``, chosen by name from :data:`SOLVERS`;
* **the implicit layer** — :func:`implicit_fixed_point` solves ``x = f(x, *inputs)`` without
  recording the iterations and differentiates through the solution with the implicit-function
  theorem: the adjoint ``u = g + J_xᵀ u`` is solved by the same solver, so memory does not grow
  with the number of iterations;
* **linear graph operators** — :class:`GraphLinearMap` applies ``γ·A·x`` for ``M`` edge-weighted
  heads from an edge list (``A[i, j]`` = weight of the edge ``j -> i``) through a block-diagonal
  CSR matrix; nothing of size ``N × N`` is ever formed. Batches of graphs are one block-diagonal
  system: concatenate their node rows and offset their edge lists.

:func:`solve_fixed_point` is the plain API for linear fixed points ``x = γ·P·x + b`` on a
:class:`~graphsolvers.graph.Graph` (stationary and diffusion problems).

Residual
--------
Every solver reports the relative residual ``‖f(x) − x‖₂ / (‖f(x)‖₂ + 1e-8)`` of the whole
(batched) system and stops when it is ``<= tol``.

Examples
--------
>>> import torch
>>> res = fixed_point_iteration(lambda x: 0.5 * x + 1.0, torch.zeros(3), max_iter=100, tol=1e-8)
>>> res.converged, round(float(res.x[0]), 6)
(True, 2.0)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch

from graphsolvers.errors import ConvergenceError, ConvergenceWarning, GraphStructureError, GraphValidationError

__all__ = [
    "SOLVERS",
    "BoundGraphMap",
    "GraphLinearMap",
    "LinearFixedPointResult",
    "SolverResult",
    "anderson",
    "check_result",
    "fixed_point_iteration",
    "get_solver",
    "implicit_fixed_point",
    "is_sorted",
    "solve_fixed_point",
    "validate_structure",
]

logger = logging.getLogger(__name__)

OnFail = Literal["raise", "warn", "ignore"]
_EPS = 1e-8


@dataclass
class SolverResult:
    """What a fixed-point solve returns.

    Attributes
    ----------
    x : torch.Tensor
        The last iterate (same shape as ``x0``).
    n_iter : int
        Evaluations of ``f``.
    residual : float
        Relative residual ``‖f(x) − x‖ / (‖f(x)‖ + 1e-8)`` at the returned ``x``.
    converged : bool
        ``residual <= tol``.
    """

    x: torch.Tensor
    n_iter: int
    residual: float
    converged: bool

    def summary(self) -> dict[str, Any]:
        """JSON-able diagnostics (everything but ``x``)."""
        return {"n_iter": self.n_iter, "residual": self.residual, "converged": self.converged}


Solver = Callable[..., SolverResult]


def _residual(fx: torch.Tensor, x: torch.Tensor, scratch: torch.Tensor | None = None) -> float:
    """``‖fx − x‖ / (‖fx‖ + ε)``, the difference written into ``scratch`` when given (no fresh tensor)."""
    fx, x = fx.detach(), x.detach()  # a number for the stopping test, not part of any gradient
    diff = fx - x if scratch is None else torch.sub(fx, x, out=scratch)
    return float(torch.linalg.vector_norm(diff) / (torch.linalg.vector_norm(fx) + _EPS))


def fixed_point_iteration(
    f: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    *,
    max_iter: int = 100,
    tol: float = 1e-5,
) -> SolverResult:
    """Picard iteration ``x_{k+1} = f(x_k)`` until the relative residual is ``<= tol``.

    Parameters
    ----------
    f : callable
        ``(x) -> x`` of the same shape; a contraction converges for any ``x0`` (Banach).
    x0 : torch.Tensor
        Starting point, any shape.
    max_iter : int, default 100
        Most evaluations of ``f``.
    tol : float, default 1e-5
        Relative residual to stop at.

    Returns
    -------
    SolverResult
        ``converged`` is False when ``max_iter`` ran out; callers decide (see :func:`check_result`).

    Examples
    --------
    >>> import torch
    >>> r = fixed_point_iteration(torch.cos, torch.zeros(1, dtype=torch.float64), max_iter=200, tol=1e-10)
    >>> round(float(r.x), 6), r.converged
    (0.739085, True)
    """
    _check_budget(max_iter, tol)
    x = x0
    residual = float("inf")
    scratch: torch.Tensor | None = None  # one tensor for every residual: no fresh (page-faulting) allocation
    for k in range(1, max_iter + 1):
        fx = f(x)
        if fx.is_floating_point() and (scratch is None or scratch.shape != fx.shape or scratch.dtype != fx.dtype):
            scratch = torch.empty_like(fx, requires_grad=False)
        residual = _residual(fx, x, scratch if fx.is_floating_point() else None)
        x = fx
        if residual <= tol:
            return SolverResult(x, k, residual, True)
    return SolverResult(x, max_iter, residual, False)


def anderson(
    f: Callable[[torch.Tensor], torch.Tensor],
    x0: torch.Tensor,
    *,
    max_iter: int = 100,
    tol: float = 1e-5,
    m: int = 5,
    lam: float = 1e-4,
    beta: float = 1.0,
) -> SolverResult:
    """Anderson acceleration (type II, Walker & Ni 2011) of the iteration ``x = f(x)``.

    Mixes the last ``m`` iterates with weights that minimise the regularised residual
    ``‖Σ αᵢ (f(xᵢ) − xᵢ)‖² + lam ‖α‖²`` subject to ``Σ αᵢ = 1``. The whole tensor is one
    system, so a block-diagonal batch of graphs shares one set of weights.

    Parameters
    ----------
    f, x0, max_iter, tol
        As in :func:`fixed_point_iteration`.
    m : int, default 5
        History length (memory ``2·m·x0.numel()``).
    lam : float, default 1e-4
        Tikhonov regularisation of the small least-squares problem, relative to the mean squared
        residual norm in the history.
    beta : float, default 1.0
        Mixing (damping) parameter.

    Examples
    --------
    >>> import torch
    >>> r = anderson(torch.cos, torch.zeros(1, dtype=torch.float64), max_iter=50, tol=1e-10)
    >>> round(float(r.x), 6), r.n_iter < 20
    (0.739085, True)
    """
    _check_budget(max_iter, tol)
    if m < 1:
        raise ValueError(f"anderson history m must be >= 1, got {m}")
    shape, n = x0.shape, x0.numel()
    X = torch.zeros(m, n, dtype=x0.dtype, device=x0.device)
    F = torch.zeros_like(X)
    X[0] = x0.reshape(-1)
    F[0] = f(x0).reshape(-1)
    residual = _residual(F[0], X[0])
    best_x, best_res, k = F[0].clone(), residual, 1  # a copy: the ring buffer overwrites F[0] later
    if residual <= tol or max_iter == 1:
        return SolverResult(F[0].reshape(shape), 1, residual, residual <= tol)
    H = torch.zeros(m + 1, m + 1, dtype=x0.dtype, device=x0.device)
    H[0, 1:] = H[1:, 0] = 1
    y = torch.zeros(m + 1, 1, dtype=x0.dtype, device=x0.device)
    y[0] = 1
    X[1 % m] = F[0]
    F[1 % m] = f(F[0].reshape(shape)).reshape(-1)
    for k in range(2, max_iter + 1):
        cur = (k - 1) % m
        residual = _residual(F[cur], X[cur])
        if residual < best_res:  # a copy: the ring buffer overwrites F[cur] later
            best_x, best_res = F[cur].clone(), residual
        if residual <= tol or k == max_iter:
            break
        n_hist = min(k, m)
        G = F[:n_hist] - X[:n_hist]
        GG = G @ G.T
        reg = lam * (torch.diagonal(GG).mean() + torch.finfo(x0.dtype).tiny)
        H[1 : n_hist + 1, 1 : n_hist + 1] = GG + reg * torch.eye(n_hist, dtype=x0.dtype, device=x0.device)
        alpha = torch.linalg.solve(H[: n_hist + 1, : n_hist + 1], y[: n_hist + 1])[1 : n_hist + 1, 0]
        nxt = k % m
        X[nxt] = beta * (alpha @ F[:n_hist]) + (1 - beta) * (alpha @ X[:n_hist])
        F[nxt] = f(X[nxt].reshape(shape)).reshape(-1)
    return SolverResult(best_x.reshape(shape), k, best_res, best_res <= tol)


SOLVERS: dict[str, Solver] = {"fixed_point": fixed_point_iteration, "anderson": anderson}
"""The solvers by name: ``"fixed_point"`` (Picard iteration) and ``"anderson"``.

A solver added here must copy any output of ``f`` it keeps beyond the last two: the CGS solves write
their products into two alternating buffers."""


def get_solver(name: str) -> Solver:
    """The solver registered under ``name`` in :data:`SOLVERS`.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones).
    """
    try:
        return SOLVERS[name]
    except KeyError:
        raise ValueError(f"unknown solver {name!r}; choose one of {sorted(SOLVERS)}") from None


def check_result(result: SolverResult, *, on_fail: OnFail = "warn", what: str = "fixed-point solve") -> SolverResult:
    """Raise or warn when ``result`` did not converge; return it unchanged otherwise.

    Raises
    ------
    ConvergenceError
        When ``on_fail="raise"`` and the solve did not reach its tolerance.
    """
    if not result.converged:
        msg = f"{what} did not reach its tolerance"
        if on_fail == "raise":
            raise ConvergenceError(msg, n_iter=result.n_iter, residual=result.residual)
        if on_fail == "warn":
            warnings.warn(
                f"{msg} (after {result.n_iter} iterations, residual {result.residual:.3g})",
                ConvergenceWarning,
                stacklevel=3,
            )
    return result


def _check_budget(max_iter: int, tol: float) -> None:
    if max_iter < 1:
        raise ValueError(f"max_iter must be >= 1, got {max_iter}")
    if not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol}")


# ---------------------------------------------------------------------------- implicit layer
@dataclass
class _SolveConfig:
    solver: str
    max_iter: int
    tol: float
    backward_max_iter: int
    backward_tol: float
    on_fail: OnFail
    f_x_vjp: Callable[..., torch.Tensor] | None
    stats: dict[str, SolverResult] = field(default_factory=dict)

    @classmethod
    def checked(
        cls,
        solver: str,
        max_iter: int,
        tol: float,
        on_fail: OnFail,
        *,
        backward_max_iter: int | None = None,
        backward_tol: float | None = None,
        f_x_vjp: Callable[..., torch.Tensor] | None = None,
    ) -> _SolveConfig:
        """A configuration naming a known solver (else ``ValueError``); the adjoint budget defaults to the forward's."""
        get_solver(solver)
        return cls(solver, max_iter, tol, backward_max_iter or max_iter, backward_tol or tol, on_fail, f_x_vjp)


class _ImplicitFixedPoint(torch.autograd.Function):
    """``x* = f(x*, *inputs)``; the gradient comes from the adjoint fixed point ``u = g + J_xᵀ u``."""

    @staticmethod
    def forward(ctx: Any, f: Callable[..., torch.Tensor], cfg: _SolveConfig, x0: torch.Tensor, *inputs: torch.Tensor):
        result = _checked_solve(cfg, lambda x: f(x, *inputs), x0)
        ctx.f, ctx.cfg = f, cfg
        ctx.save_for_backward(result.x, *inputs)
        return result.x

    @staticmethod
    def backward(ctx: Any, grad_x: torch.Tensor):
        x_star, *inputs = ctx.saved_tensors
        f, cfg = ctx.f, ctx.cfg
        with torch.enable_grad():
            x_ = x_star.detach().requires_grad_(cfg.f_x_vjp is None)  # J_xᵀu by autograd only without f_x_vjp
            ins = [t.detach().requires_grad_(t.requires_grad) if t.is_floating_point() else t for t in inputs]
            fx = f(x_, *ins)
        if cfg.f_x_vjp is not None:

            def adjoint(u: torch.Tensor) -> torch.Tensor:
                return grad_x + cfg.f_x_vjp(x_star, inputs, u)
        else:

            def adjoint(u: torch.Tensor) -> torch.Tensor:
                (vjp,) = torch.autograd.grad(fx, x_, u, retain_graph=True)
                return grad_x + vjp

        u = _adjoint_solution(cfg, adjoint, grad_x)
        wanted = [t for t in ins if t.requires_grad]
        grads = iter(torch.autograd.grad(fx, wanted, u, allow_unused=True) if wanted else ())
        out = [next(grads) if t.requires_grad else None for t in ins]
        return (None, None, None, *out)


def _adjoint_solution(
    cfg: _SolveConfig, adjoint: Callable[[torch.Tensor], torch.Tensor], grad_x: torch.Tensor
) -> torch.Tensor:
    """The fixed point ``u = adjoint(u)`` from ``u₀ = ∂L/∂x``, checked and recorded in ``cfg.stats``."""
    result = _checked_solve(cfg, adjoint, grad_x.clone(), backward=True)
    return result.x


def _checked_solve(
    cfg: _SolveConfig, f: Callable[[torch.Tensor], torch.Tensor], x0: torch.Tensor, *, backward: bool = False
) -> SolverResult:
    """Solve ``x = f(x)`` with ``cfg``'s solver and budget (the adjoint's when ``backward``); check and record it."""
    key = "backward" if backward else "forward"
    max_iter, tol = (cfg.backward_max_iter, cfg.backward_tol) if backward else (cfg.max_iter, cfg.tol)
    with torch.no_grad():
        result = get_solver(cfg.solver)(f, x0, max_iter=max_iter, tol=tol)
    what = "backward (adjoint) fixed-point solve" if backward else "forward fixed-point solve"
    check_result(result, on_fail=cfg.on_fail, what=what)
    # a detached x: the solve's output becomes the autograd node's output, and a stats entry holding that very
    # tensor would close a reference cycle (output -> node -> cfg -> stats -> output) that only the GC frees
    cfg.stats[key] = replace(result, x=result.x.detach())
    return result


def implicit_fixed_point(
    f: Callable[..., torch.Tensor],
    x0: torch.Tensor,
    inputs: Sequence[torch.Tensor],
    *,
    solver: str = "fixed_point",
    max_iter: int = 100,
    tol: float = 1e-5,
    backward_max_iter: int | None = None,
    backward_tol: float | None = None,
    on_fail: OnFail = "warn",
    f_x_vjp: Callable[..., torch.Tensor] | None = None,
) -> tuple[torch.Tensor, dict[str, SolverResult]]:
    """Solve ``x = f(x, *inputs)`` and make the solution differentiable in ``inputs``.

    The forward solve runs under ``no_grad`` (memory independent of the iterations). The backward
    pass solves the adjoint fixed point ``u = ∂L/∂x + (∂f/∂x)ᵀ u`` with the same solver and returns
    ``(∂f/∂inputs)ᵀ u`` — the implicit-function theorem, exact at the fixed point.

    Parameters
    ----------
    f : callable
        ``(x, *inputs) -> x``; every tensor ``f`` should differentiate must be in ``inputs``
        (closures over parameters get no gradient).
    x0 : torch.Tensor
        Starting point.
    inputs : sequence of torch.Tensor
        Tensors ``f`` depends on.
    solver : {"fixed_point", "anderson"}, default "fixed_point"
    max_iter, tol : forward budget (defaults 100, 1e-5).
    backward_max_iter, backward_tol : adjoint budget (default: the forward's).
    on_fail : {"warn", "raise", "ignore"}, default "warn"
        What to do when a solve misses its tolerance (:class:`~graphsolvers.errors.ConvergenceWarning`
        or :class:`~graphsolvers.errors.ConvergenceError`, both with the residual).
    f_x_vjp : callable, optional
        ``(x, inputs, u) -> (∂f/∂x)ᵀ u`` without autograd (faster for linear maps); by default
        autograd computes it.

    Returns
    -------
    x : torch.Tensor
        The fixed point, differentiable in ``inputs``.
    stats : dict
        ``{"forward": SolverResult}`` now and ``"backward"`` after ``backward()``.

    Examples
    --------
    >>> import torch
    >>> a = torch.tensor([0.5], requires_grad=True)
    >>> x, stats = implicit_fixed_point(lambda x, a: a * x + 1, torch.zeros(1), [a], tol=1e-10, max_iter=200)
    >>> x.backward()              # x* = 1 / (1 - a)  ->  dx*/da = 1 / (1 - a)^2 = 4
    >>> round(float(a.grad), 4), stats["forward"].converged
    (4.0, True)
    """
    cfg = _SolveConfig.checked(
        solver, max_iter, tol, on_fail, backward_max_iter=backward_max_iter, backward_tol=backward_tol, f_x_vjp=f_x_vjp
    )
    x = _ImplicitFixedPoint.apply(f, cfg, x0, *inputs)
    return x, cfg.stats


# ---------------------------------------------------------------------------- linear graph maps
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


def _head_major(
    weight: torch.Tensor, perm: torch.Tensor | None, scale: float, chunk: int = 1 << 16, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``scale · weight[perm].T`` as a contiguous ``(M, E)`` tensor, built a cache-sized slab at a time.

    Gathering and transposing ``chunk`` edges at a time keeps the slab in cache between the two
    steps and needs no ``(E, M)`` temporary (on a CPU a fresh tensor of hundreds of megabytes
    costs as much in page faults as the copy itself).
    """
    n_edges, n_heads = weight.shape
    values = torch.empty(n_heads, n_edges, dtype=weight.dtype, device=weight.device) if out is None else out
    slab = None if perm is None else torch.empty(min(chunk, n_edges), n_heads, dtype=weight.dtype, device=weight.device)
    for start in range(0, n_edges, chunk):
        stop = min(start + chunk, n_edges)
        if perm is None:
            rows = weight[start:stop]
        else:
            rows = torch.index_select(weight, 0, perm[start:stop], out=slab[: stop - start])
        torch.mul(rows.T, scale, out=values[:, start:stop])
    return values


def _csr_pattern(
    rows: torch.Tensor, cols: torch.Tensor, n: int
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """``(perm, crow, col)`` of the CSR pattern; ``perm`` is None when ``rows`` is already sorted."""
    crow = torch.zeros(n + 1, dtype=torch.long, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    if is_sorted(rows):
        return None, crow, cols
    perm = torch.argsort(rows, stable=True)
    return perm, crow, cols[perm]


def is_sorted(index: torch.Tensor) -> bool:
    """Whether a 1-D index tensor is in non-decreasing order (edges stored target-major, as CSR keeps them).

    Examples
    --------
    >>> import torch
    >>> is_sorted(torch.tensor([0, 0, 2])), is_sorted(torch.tensor([1, 0]))
    (True, False)
    """
    return index.numel() < 2 or bool((index[1:] >= index[:-1]).all())


def _csr_apply_heads(
    csr: torch.Tensor, xt: torch.Tensor, add: torch.Tensor | None = None, *, out: torch.Tensor | None = None
) -> torch.Tensor:
    flat = xt.reshape(-1)
    res = None if out is None else out.view(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        # CSR matrix-vector product: about a third faster than sparse.mm on a (M·N, 1) matrix on CPU
        res = torch.mv(csr, flat, out=res) if add is None else torch.addmv(add.reshape(-1), csr, flat, out=res)
    return res.view(xt.shape)


class _Ring:
    """Two output buffers used in turn: an iteration's product never overwrites its own input.

    A solver may therefore keep at most the last two outputs of ``f`` without copying them (both
    solvers of :data:`SOLVERS` do: Picard iteration holds the current and previous iterate, Anderson
    copies each output into its history); a solver registered there must do the same.

    Reusing memory matters on a CPU: a fresh tensor of tens of megabytes costs more in page faults
    than the arithmetic written into it.
    """

    def __init__(self) -> None:
        self.buffers: list[torch.Tensor] = []
        self.turn = 0

    def next(self, like: torch.Tensor) -> torch.Tensor:
        if len(self.buffers) < 2:
            self.buffers.append(torch.empty_like(like, memory_format=torch.contiguous_format))
            self.turn = len(self.buffers) - 1
            return self.buffers[-1]
        self.turn ^= 1
        buf = self.buffers[self.turn]
        if buf.data_ptr() == like.data_ptr():  # never the input (a solver may feed an output back)
            self.turn ^= 1
            buf = self.buffers[self.turn]
        return buf


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


# ---------------------------------------------------------------------------- plain API on a Graph
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

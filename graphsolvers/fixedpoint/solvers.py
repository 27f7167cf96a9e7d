"""Fixed-point solvers: one signature ``solver(f, x0, *, max_iter, tol) -> SolverResult``.

:func:`fixed_point_iteration` (Picard) and :func:`anderson` are registered by name in
:data:`SOLVERS`; :func:`check_result` decides what a solve that missed its tolerance does.

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

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import torch

from graphsolvers.errors import ConvergenceError, ConvergenceWarning

__all__ = [
    "SOLVERS",
    "OnFail",
    "Solver",
    "SolverResult",
    "anderson",
    "check_result",
    "fixed_point_iteration",
    "get_solver",
]

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

"""The implicit layer: a fixed point differentiated through its solution, not its iterations.

:func:`implicit_fixed_point` solves ``x = f(x, *inputs)`` under ``no_grad`` and differentiates the
solution with the implicit-function theorem: the adjoint ``u = g + J_xᵀ u`` is solved by the same
solver, so memory does not grow with the number of iterations. :class:`_SolveConfig` and
:func:`_checked_solve` carry one solve's budget and diagnostics; the sparse graph operators of
:mod:`graphsolvers.fixedpoint.graphmap` use them too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from graphsolvers.fixedpoint.solvers import OnFail, SolverResult, check_result, get_solver

__all__ = ["implicit_fixed_point"]


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

"""Fixed-point solvers on sparse graphs, with an implicit (adjoint) backward pass.

Four pieces, one module each (as torchdeq keeps ``solver/``, ``grad.py`` and ``core.py`` apart):

* :mod:`~graphsolvers.fixedpoint.solvers` — :func:`fixed_point_iteration` and :func:`anderson`,
  one signature ``solver(f, x0, *, max_iter, tol) -> SolverResult``, chosen by name from
  :data:`SOLVERS`;
* :mod:`~graphsolvers.fixedpoint.implicit` — :func:`implicit_fixed_point` solves
  ``x = f(x, *inputs)`` without recording the iterations and differentiates through the solution
  with the implicit-function theorem: the adjoint ``u = g + J_xᵀ u`` is solved by the same solver,
  so memory does not grow with the number of iterations;
* :mod:`~graphsolvers.fixedpoint.graphmap` — :class:`GraphLinearMap` applies ``γ·A·x`` for ``M``
  edge-weighted heads from an edge list through a block-diagonal CSR matrix (kernels in
  :mod:`~graphsolvers.fixedpoint.csr`); nothing of size ``N × N`` is ever formed;
* :mod:`~graphsolvers.fixedpoint.linear` — :func:`solve_fixed_point`, the plain API for linear
  fixed points ``x = γ·P·x + b`` on a :class:`~graphsolvers.graph.Graph` (stationary and diffusion
  problems), and :func:`validate_structure`.

Every public name is importable from here.

Examples
--------
>>> import torch
>>> sorted(SOLVERS)
['anderson', 'fixed_point']
>>> get_solver("anderson")(torch.cos, torch.zeros(1, dtype=torch.float64), max_iter=50, tol=1e-10).converged
True
"""

from graphsolvers.fixedpoint.csr import is_sorted
from graphsolvers.fixedpoint.graphmap import BoundGraphMap, GraphLinearMap
from graphsolvers.fixedpoint.implicit import implicit_fixed_point
from graphsolvers.fixedpoint.linear import LinearFixedPointResult, solve_fixed_point, validate_structure
from graphsolvers.fixedpoint.solvers import (
    SOLVERS,
    OnFail,
    SolverResult,
    anderson,
    check_result,
    fixed_point_iteration,
    get_solver,
)

__all__ = [
    "SOLVERS",
    "BoundGraphMap",
    "GraphLinearMap",
    "LinearFixedPointResult",
    "OnFail",
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

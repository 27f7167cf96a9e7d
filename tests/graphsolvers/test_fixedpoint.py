from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from graphsolvers.errors import ConvergenceError, ConvergenceWarning, GraphStructureError, GraphValidationError
from graphsolvers.fixedpoint import (
    GraphLinearMap,
    anderson,
    fixed_point_iteration,
    get_solver,
    implicit_fixed_point,
    is_sorted,
    solve_fixed_point,
    validate_structure,
)
from graphsolvers.fixedpoint.csr import _Ring
from graphsolvers.graph import Edge, Graph, Node


def _random_graph(n: int, e: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (e,), generator=g)
    dst = (src + torch.randint(1, n, (e,), generator=g)) % n  # no self-loops
    return torch.stack([src, dst])


def _substochastic(edge_index: torch.Tensor, n: int, heads: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    w = torch.rand(edge_index.shape[1], heads, generator=g, dtype=torch.float64)
    total = torch.zeros(n, heads, dtype=torch.float64).index_add_(0, edge_index[1], w)
    return w / total[edge_index[1]].clamp_min(1e-12)


def _dense(edge_index: torch.Tensor, w: torch.Tensor, n: int) -> torch.Tensor:
    A = torch.zeros(w.shape[1], n, n, dtype=w.dtype)
    for m in range(w.shape[1]):
        A[m].index_put_((edge_index[1], edge_index[0]), w[:, m], accumulate=True)
    return A


@pytest.mark.parametrize("solver", ["fixed_point", "anderson"])
def test_solvers_reach_the_exact_linear_fixed_point(solver: str) -> None:
    n, heads, gamma = 40, 3, 0.9
    ei = _random_graph(n, 200, 0)
    w = _substochastic(ei, n, heads, 1)
    b = torch.randn(n, heads, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    op = GraphLinearMap(ei, n, gamma=gamma)
    fast = op.bind(w)
    res = get_solver(solver)(lambda x: fast.matvec(x) + b, torch.zeros_like(b), max_iter=500, tol=1e-10)
    A = _dense(ei, w, n)
    exact = torch.linalg.solve(torch.eye(n, dtype=torch.float64) - gamma * A, b.T.unsqueeze(2))[:, :, 0].T
    assert res.converged and res.residual <= 1e-10
    torch.testing.assert_close(res.x, exact, atol=1e-8, rtol=1e-8)


def test_anderson_needs_fewer_iterations_than_picard() -> None:
    n = 200
    ei = _random_graph(n, 1200, 3)
    w = _substochastic(ei, n, 2, 4)
    op = GraphLinearMap(ei, n, gamma=0.99)
    b = torch.ones(n, 2, dtype=torch.float64)
    f = lambda x: op.matvec(w, x) + b  # noqa: E731
    picard = fixed_point_iteration(f, torch.zeros_like(b), max_iter=5000, tol=1e-8)
    acc = anderson(f, torch.zeros_like(b), max_iter=5000, tol=1e-8)
    assert picard.converged and acc.converged
    assert acc.n_iter < picard.n_iter / 3
    torch.testing.assert_close(acc.x, picard.x, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("solver", ["fixed_point", "anderson"])
def test_non_convergence_reports_the_residual(solver: str) -> None:
    f = lambda x: x + 1  # noqa: E731  (no fixed point)
    res = get_solver(solver)(f, torch.zeros(3), max_iter=5, tol=1e-8)
    assert not res.converged and res.n_iter == 5 and res.residual > 1e-3
    a = torch.tensor(1.0, requires_grad=True)
    with pytest.raises(ConvergenceError, match="residual") as info:
        implicit_fixed_point(lambda x, a: x + a, torch.zeros(3), [a], solver=solver, max_iter=5, on_fail="raise")
    assert info.value.n_iter == 5 and info.value.residual > 1e-3
    with pytest.warns(ConvergenceWarning, match="residual"):
        implicit_fixed_point(lambda x, a: x + a, torch.zeros(3), [a], solver=solver, max_iter=5, on_fail="warn")


def test_bad_solver_arguments() -> None:
    with pytest.raises(ValueError, match="unknown solver 'newton'"):
        get_solver("newton")
    with pytest.raises(ValueError, match="max_iter"):
        fixed_point_iteration(torch.cos, torch.zeros(1), max_iter=0)


def test_csr_and_gather_paths_agree_and_rmatvec_is_the_adjoint() -> None:
    n, heads = 30, 4
    ei = _random_graph(n, 150, 5)
    w = _substochastic(ei, n, heads, 6)
    op = GraphLinearMap(ei, n, gamma=0.7)
    x = torch.randn(n, heads, dtype=torch.float64)
    u = torch.randn(n, heads, dtype=torch.float64)
    bound = op.bind(w)
    fast, slow = bound.matvec(x), op.matvec(w, x)
    torch.testing.assert_close(fast, slow)
    dense = _dense(ei, w, n)
    torch.testing.assert_close(fast, 0.7 * torch.einsum("mij,jm->im", dense, x))
    torch.testing.assert_close(bound.rmatvec(u), 0.7 * torch.einsum("mji,jm->im", dense, u))
    torch.testing.assert_close(bound.rmatvec(u), op.rmatvec(w, u))
    torch.testing.assert_close((fast * u).sum(), (x * bound.rmatvec(u)).sum())


def _cgs_map(op: GraphLinearMap):
    def f(x, w, b):
        return torch.tanh(op.matvec(w, x) + b)

    def vjp(x, inputs, u):
        return op.rmatvec(inputs[0], u * (1 - f(x, *inputs) ** 2))

    return f, vjp


@pytest.mark.parametrize("use_vjp", [True, False])
def test_implicit_gradient_matches_unrolled_autograd(use_vjp: bool) -> None:
    n, heads = 25, 2
    ei = _random_graph(n, 100, 7)
    op = GraphLinearMap(ei, n, gamma=0.8)
    f, vjp = _cgs_map(op)
    w = _substochastic(ei, n, heads, 8).requires_grad_()
    b = torch.randn(n, heads, dtype=torch.float64, requires_grad=True)
    target = torch.randn(n, heads, dtype=torch.float64)
    x, stats = implicit_fixed_point(
        f, torch.zeros(n, heads, dtype=torch.float64), [w, b], tol=1e-12, max_iter=500, f_x_vjp=vjp if use_vjp else None
    )
    ((x - target) ** 2).sum().backward()
    assert stats["forward"].converged and stats["backward"].converged
    implicit = (w.grad.clone(), b.grad.clone())
    w.grad = b.grad = None
    xu = torch.zeros(n, heads, dtype=torch.float64)
    for _ in range(300):  # unrolled: autograd through every iteration
        xu = f(xu, w, b)
    ((xu - target) ** 2).sum().backward()
    torch.testing.assert_close(implicit[0], w.grad, atol=1e-9, rtol=1e-7)
    torch.testing.assert_close(implicit[1], b.grad, atol=1e-9, rtol=1e-7)


@pytest.mark.slow
@pytest.mark.parametrize("solver", ["fixed_point", "anderson"])
def test_gradcheck_float64(solver: str) -> None:
    n, heads = 8, 2
    ei = _random_graph(n, 24, 9)
    op = GraphLinearMap(ei, n, gamma=0.6)
    f, vjp = _cgs_map(op)
    w = _substochastic(ei, n, heads, 10).requires_grad_()
    b = torch.randn(n, heads, dtype=torch.float64, requires_grad=True)

    def fn(w, b):
        x, _ = implicit_fixed_point(
            f, torch.zeros(n, heads, dtype=torch.float64), [w, b], solver=solver, tol=1e-13, max_iter=1000, f_x_vjp=vjp
        )
        return x

    assert torch.autograd.gradcheck(fn, (w, b), eps=1e-6, atol=1e-6)


def test_block_diagonal_batch_equals_separate_solves() -> None:
    sizes = [10, 17, 5]
    parts = [_random_graph(n, 3 * n, s) for s, n in enumerate(sizes)]
    weights = [_substochastic(ei, n, 2, 20 + s) for s, (ei, n) in enumerate(zip(parts, sizes, strict=True))]
    biases = [torch.randn(n, 2, dtype=torch.float64) for n in sizes]
    singles = []
    for ei, n, w, b in zip(parts, sizes, weights, biases, strict=True):
        op = GraphLinearMap(ei, n, gamma=0.9)
        singles.append(anderson(lambda x, op=op, w=w, b=b: op.matvec(w, x) + b, b * 0, max_iter=300, tol=1e-11).x)
    offsets = np.cumsum([0, *sizes[:-1]])
    ei = torch.cat([p + int(o) for p, o in zip(parts, offsets, strict=True)], dim=1)
    op = GraphLinearMap(ei, sum(sizes), gamma=0.9)
    w, b = torch.cat(weights), torch.cat(biases)
    batched = anderson(lambda x: op.matvec(w, x) + b, b * 0, max_iter=300, tol=1e-11)
    torch.testing.assert_close(batched.x, torch.cat(singles), atol=1e-8, rtol=1e-8)


def _chain(n: int = 4, *, bias: list[float] | None = None) -> Graph:
    bias = bias or [1.0] + [0.0] * (n - 1)
    nodes = [Node(id=f"v{i}", attrs={"bias": b}) for i, b in enumerate(bias)]
    edges = [Edge(source=f"v{i}", target=f"v{i + 1}", weight=1.0 + i) for i in range(n - 1)]
    edges.append(Edge(source=f"v{n - 1}", target="v0", weight=2.0))
    return Graph(nodes=nodes, edges=edges)


def test_solve_fixed_point_on_a_graph_matches_numpy() -> None:
    g = _chain(5, bias=[1.0, -2.0, 0.5, 0.0, 3.0])
    res = solve_fixed_point(g, gamma=0.8)
    # each node has one in-edge, so P (normalised) is the cycle permutation
    P = np.zeros((5, 5))
    for e in g.edges:
        P[int(e.target[1:]), int(e.source[1:])] = 1.0
    exact = np.linalg.solve(np.eye(5) - 0.8 * P, np.array([1.0, -2.0, 0.5, 0.0, 3.0]))
    assert res.result.converged and res.result.residual <= 1e-8
    np.testing.assert_allclose([res.values[f"v{i}"] for i in range(5)], exact, atol=1e-7)


@pytest.mark.parametrize(
    ("graph", "kwargs", "error", "match"),
    [
        (Graph(nodes=[Node(id="a", attrs={"bias": 1.0})]), {}, GraphStructureError, "no edges"),
        (
            Graph(nodes=[Node(id="a", attrs={"bias": 1.0})], edges=[Edge(source="a", target="a")]),
            {},
            GraphStructureError,
            "self-loop",
        ),
        (_chain(3, bias=[1.0, float("nan"), 0.0]), {}, GraphValidationError, "NaN"),
        (_chain(3), {"gamma": 1.0}, GraphValidationError, "gamma must lie in"),
        (_chain(3), {"bias": "missing"}, GraphValidationError, "attrs\\['missing'\\]"),
    ],
)
def test_solve_fixed_point_bad_input(graph: Graph, kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        solve_fixed_point(graph, **kwargs)


def test_disconnected_parts_are_named() -> None:
    g = Graph(
        nodes=[Node(id=i) for i in "abcd"],
        edges=[Edge(source="a", target="b"), Edge(source="c", target="d")],
    )
    with pytest.raises(GraphStructureError, match="2 disconnected parts"):
        validate_structure(g)
    validate_structure(g, allow_disconnected=True)


def test_no_warning_when_converged() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        implicit_fixed_point(lambda x, a: a * x, torch.ones(2), [torch.tensor(0.5)], tol=1e-6)


def test_anderson_returns_the_iterate_it_reports() -> None:
    """The returned x must be the one whose residual is reported, even after the history wraps."""
    n = 300
    ei = _random_graph(n, 1800, 11)
    w = _substochastic(ei, n, 1, 12)
    op = GraphLinearMap(ei, n, gamma=0.995).bind(w)
    b = torch.randn(n, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(13))
    f = lambda x: op.matvec(x) + b  # noqa: E731
    res = anderson(f, torch.zeros_like(b), max_iter=12, tol=1e-14, m=3)
    fx = f(res.x)
    assert not res.converged
    assert abs(float(torch.linalg.vector_norm(f(fx) - fx) / torch.linalg.vector_norm(f(fx))) - res.residual) < 1e-3


def test_head_major_products_and_their_gradients() -> None:
    """The head-major CSR path equals the gather path, and its hand-written backward passes gradcheck."""
    n, heads = 20, 3
    ei = _random_graph(n, 70, 11)
    w = _substochastic(ei, n, heads, 12).requires_grad_()
    op = GraphLinearMap(ei, n, gamma=0.8)
    bound = op.bind(w)
    x = torch.randn(n, heads, dtype=torch.float64)
    add = torch.randn(heads, n, dtype=torch.float64)
    torch.testing.assert_close(bound.matvec_heads(x.T.contiguous()), op.matvec(w, x).T.detach())
    torch.testing.assert_close(bound.matvec_heads(x.T.contiguous(), add=add), op.matvec(w, x).T.detach() + add)
    torch.testing.assert_close(bound.rmatvec_heads(x.T.contiguous()), op.rmatvec(w, x).T.detach())
    xt = x.T.contiguous().requires_grad_()
    assert torch.autograd.gradcheck(lambda w_, x_: op.bind(w_).matvec_heads_diff(w_, x_), (w, xt))
    with pytest.raises(ValueError, match="bound one"):
        bound.matvec_heads_diff(w[:5], xt)


@pytest.mark.slow
@pytest.mark.parametrize("tanh", [False, True])
@pytest.mark.parametrize("sort", [False, True])
def test_solve_heads_passes_gradcheck_and_matches_a_plain_solve(tanh: bool, sort: bool) -> None:
    """The fused head-major solve (no autograd graph of f, φ' at the fixed point) has exact gradients."""
    n, heads = 9, 2
    ei = _random_graph(n, 30, 21)
    if sort:  # target-major edges: the forward CSR needs no permutation
        ei = ei[:, torch.argsort(ei[1], stable=True)]
    op = GraphLinearMap(ei, n, gamma=0.7)
    w = _substochastic(ei, n, heads, 22).requires_grad_()
    bt = torch.randn(heads, n, dtype=torch.float64, requires_grad=True)

    def fn(w_: torch.Tensor, b_: torch.Tensor) -> torch.Tensor:
        xt, stats = op.bind(w_).solve_heads(w_, b_, tanh=tanh, tol=1e-13, max_iter=1000)
        assert stats["forward"].converged
        return xt

    assert torch.autograd.gradcheck(fn, (w, bt), eps=1e-6, atol=1e-6)
    phi = torch.tanh if tanh else (lambda z: z)
    plain = fixed_point_iteration(
        lambda x: phi(op.matvec(w.detach(), x) + bt.detach().T), torch.zeros(n, heads, dtype=torch.float64), tol=1e-13
    )
    torch.testing.assert_close(fn(w, bt).detach(), plain.x.T)
    from_zero, _ = op.bind(w).solve_heads(w, bt, torch.zeros(heads, n, dtype=torch.float64), tanh=tanh, tol=1e-13)
    torch.testing.assert_close(from_zero.detach(), plain.x.T)


def test_solve_heads_rejects_weights_it_was_not_bound_to() -> None:
    ei = _random_graph(6, 12, 1)
    w = _substochastic(ei, 6, 2, 2)
    with pytest.raises(ValueError, match="bound one"):
        GraphLinearMap(ei, 6).bind(w).solve_heads(w[:4], torch.zeros(2, 6, dtype=torch.float64))


def test_output_ring_never_hands_back_its_input() -> None:
    ring = _Ring()
    x = torch.zeros(3)
    a, b = ring.next(x), ring.next(x)
    assert a.data_ptr() != b.data_ptr()
    for inp in (b, a, a, b, b):
        assert ring.next(inp).data_ptr() != inp.data_ptr()


def test_is_sorted() -> None:
    assert is_sorted(torch.tensor([0, 0, 1, 5])) and is_sorted(torch.tensor([], dtype=torch.long))
    assert not is_sorted(torch.tensor([0, 2, 1]))


def test_fixed_point_iteration_can_be_differentiated_unrolled_and_takes_integer_starts() -> None:
    a = torch.tensor([0.5], requires_grad=True)
    res = fixed_point_iteration(lambda x: a * x + 1, torch.zeros(1), tol=1e-9, max_iter=200)
    res.x.backward()  # x* = 1 / (1 - a): dx*/da = 4, through every iteration
    assert abs(float(a.grad) - 4.0) < 1e-4
    res = fixed_point_iteration(lambda x: 0.5 * x + 1, torch.zeros(1, dtype=torch.long), tol=1e-9, max_iter=200)
    assert res.converged and abs(float(res.x) - 2.0) < 1e-6


def test_anderson_returns_the_first_step_when_it_stays_the_best() -> None:
    """When the first step stays the best (a map that does not contract), that step is what comes back."""
    hits = 0
    for seed in range(200):
        g = torch.Generator().manual_seed(seed)
        c = torch.randn(2, generator=g, dtype=torch.float64) * 0.1
        a = 1 + 20 * torch.rand(1, generator=g, dtype=torch.float64)

        def f(x: torch.Tensor, c: torch.Tensor = c, a: torch.Tensor = a) -> torch.Tensor:
            return c + a * x + x**3

        x0 = torch.randn(2, generator=g, dtype=torch.float64)
        r = anderson(f, x0, max_iter=7, tol=1e-12, m=3)
        first = f(x0)
        if abs(r.residual - float((first - x0).norm() / (first.norm() + 1e-8))) < 1e-15 and r.n_iter >= 3:
            hits += 1
            torch.testing.assert_close(r.x, first)
    assert hits > 0

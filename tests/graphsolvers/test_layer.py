from __future__ import annotations

import math

import pytest
import torch

import graphsolvers.cgs.layer as layer
from graphsolvers.cgs.layer import _column_max, cgs_fixed_point, gated_segment_softmax, segment_softmax
from graphsolvers.fixedpoint.graphmap import GraphLinearMap
from graphsolvers.fixedpoint.solvers import fixed_point_iteration


def test_segment_softmax_backward_passes_gradcheck() -> None:
    g = torch.Generator().manual_seed(0)
    score = (torch.randn(40, 3, generator=g, dtype=torch.float64) * 3).requires_grad_()
    index = torch.randint(0, 7, (40,), generator=g)
    p = segment_softmax(score, index, 7)
    sums = torch.zeros(7, 3, dtype=torch.float64).index_add_(0, index, p.detach())
    present = torch.bincount(index, minlength=7) > 0
    torch.testing.assert_close(sums[present], torch.ones_like(sums[present]))
    assert torch.autograd.gradcheck(lambda s: segment_softmax(s, index, 7), (score,))


def _composed_coefficients(score: torch.Tensor, gate: torch.Tensor, index: torch.Tensor, n: int) -> torch.Tensor:
    return torch.sigmoid(gate).index_select(0, index) * segment_softmax(score, index, n)


@pytest.mark.parametrize("sort", [True, False])
def test_gated_segment_softmax_matches_the_composed_form_and_passes_gradcheck(sort: bool) -> None:
    g = torch.Generator().manual_seed(3)
    index = torch.randint(0, 9, (50,), generator=g)  # some of the 9 segments are empty
    if sort:
        index = torch.sort(index).values
    score = (torch.randn(50, 3, generator=g, dtype=torch.float64) * 4).requires_grad_()
    gate = torch.randn(9, 3, generator=g, dtype=torch.float64).requires_grad_()
    c = gated_segment_softmax(score, gate, index, 9)
    torch.testing.assert_close(c, _composed_coefficients(score, gate, index, 9))
    rows = torch.zeros(9, 3, dtype=torch.float64).index_add_(0, index, c.detach())
    present = torch.bincount(index, minlength=9) > 0
    torch.testing.assert_close(rows[present], torch.sigmoid(gate.detach())[present])  # rows sum to σ(gate)
    assert torch.autograd.gradcheck(lambda s, q: gated_segment_softmax(s, q, index, 9), (score, gate))


def test_gated_segment_softmax_keeps_segments_whose_scores_lie_far_below_the_rest() -> None:
    """A shift by the head's maximum would underflow a segment 1000 below it; the fallback keeps it exact."""
    index = torch.tensor([0, 0, 1, 1])
    score = torch.tensor([[1000.0], [999.0], [0.0], [0.0]])
    c = gated_segment_softmax(score, torch.zeros(2, 1), index, 2)
    assert torch.isfinite(c).all()
    torch.testing.assert_close(c.flatten(), torch.tensor([0.5 / (1 + math.exp(-1)), 0.5 / (1 + math.e), 0.25, 0.25]))


def test_gated_segment_softmax_of_no_edges_is_empty() -> None:
    c = gated_segment_softmax(torch.zeros(0, 2), torch.zeros(3, 2), torch.zeros(0, dtype=torch.long), 3)
    assert c.shape == (0, 2)


def test_column_max_equals_amax_for_any_height() -> None:
    g = torch.Generator().manual_seed(0)
    for rows in (1, 15, 16, 17, 100):
        data = torch.randn(rows, 5, generator=g)
        assert torch.equal(_column_max(data), data.amax(dim=0)), rows


def _graph(n: int, e: int, seed: int, *, sort: bool) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (e,), generator=g)
    dst = (src + torch.randint(1, n, (e,), generator=g)) % n
    ei = torch.stack([src, dst])
    return ei[:, torch.argsort(dst, stable=True)] if sort else ei


@pytest.mark.slow
@pytest.mark.parametrize("tanh", [False, True])
@pytest.mark.parametrize("sort", [False, True])
def test_cgs_layer_passes_gradcheck_and_matches_a_plain_solve(tanh: bool, sort: bool) -> None:
    """The fused layer (coefficients, solves, slab-wise score gradient) has exact gradients in float64."""
    n, heads = 9, 2
    ei = _graph(n, 30, 4, sort=sort)
    op = GraphLinearMap(ei, n, gamma=0.7)
    g = torch.Generator().manual_seed(5)
    score = torch.randn(30, heads, generator=g, dtype=torch.float64, requires_grad=True)
    gate = torch.randn(n, heads, generator=g, dtype=torch.float64, requires_grad=True)
    bt = torch.randn(heads, n, generator=g, dtype=torch.float64, requires_grad=True)

    def fn(s: torch.Tensor, q: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        xt, stats = cgs_fixed_point(s, q, b, op, tanh=tanh, tol=1e-13, max_iter=1000)
        assert stats["forward"].converged
        return xt

    assert torch.autograd.gradcheck(fn, (score, gate, bt), eps=1e-6, atol=1e-6)
    phi = torch.tanh if tanh else (lambda z: z)
    coeff = _composed_coefficients(score, gate, ei[1], n).detach()
    plain = fixed_point_iteration(
        lambda x: phi(op.matvec(coeff, x) + bt.detach().T), torch.zeros(n, heads, dtype=torch.float64), tol=1e-13
    )
    torch.testing.assert_close(fn(score, gate, bt).detach(), plain.x.T)


def test_cgs_layer_slabs_cover_every_edge(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slab narrower than the edge list (and not dividing it) gives the same score gradient."""
    n, heads = 12, 3
    ei = _graph(n, 50, 6, sort=True)
    op = GraphLinearMap(ei, n, gamma=0.8)
    g = torch.Generator().manual_seed(7)
    score = torch.randn(50, heads, generator=g, dtype=torch.float64, requires_grad=True)
    gate = torch.randn(n, heads, generator=g, dtype=torch.float64)
    bt = torch.randn(heads, n, generator=g, dtype=torch.float64)
    grads = []
    for slab in (layer.SLAB_EDGES, 7):
        monkeypatch.setattr(layer, "SLAB_EDGES", slab)
        xt, _ = cgs_fixed_point(score, gate, bt, op, tol=1e-12, max_iter=500)
        grads.append(torch.autograd.grad((xt**2).sum(), score)[0])
    torch.testing.assert_close(grads[0], grads[1])


def test_cgs_layer_rejects_mismatched_shapes() -> None:
    op = GraphLinearMap(_graph(5, 8, 1, sort=True), 5)
    with pytest.raises(ValueError, match="score must be"):
        cgs_fixed_point(torch.zeros(7, 2), torch.zeros(5, 2), torch.zeros(2, 5), op)
    with pytest.raises(ValueError, match="head-major"):
        cgs_fixed_point(torch.zeros(8, 2), torch.zeros(5, 2), torch.zeros(5, 2), op)


def test_cgs_layer_leaves_no_reference_cycle() -> None:
    """The output, its autograd node and the solver stats must not keep each other alive (freed without the GC)."""
    import gc
    import weakref

    op = GraphLinearMap(_graph(20, 60, 3, sort=True), 20, gamma=0.8)
    score = torch.randn(60, 2, requires_grad=True)
    gate, bt = torch.randn(20, 2), torch.randn(2, 20)
    gc.disable()
    try:
        xt, stats = cgs_fixed_point(score, gate, bt, op)
        xt.sum().backward()
        alive = weakref.ref(xt)
        del xt
        assert alive() is None
        assert stats["forward"].converged and stats["backward"].converged
    finally:
        gc.enable()

import numpy as np
import pytest
import torch

from connectome.errors import FactorizationError, ParameterError
from connectome.ntf import (
    NTFResult,
    factor_similarity,
    ntf_hals,
    plot_rank_selection,
    rank_selection,
    relative_error,
    resolve_device,
)


def _planted(rank=3, shape=(80, 30, 6), seed=0, noise=0.0):
    rng = np.random.default_rng(seed)
    factors = [rng.random((n, rank)) ** 3 for n in shape]
    x = np.einsum("ir,jr,kr->ijk", *factors)
    x += noise * x.std() * rng.random(x.shape)
    norms = [np.linalg.norm(f, axis=0) for f in factors]
    truth = NTFResult(
        factors=[f / n for f, n in zip(factors, norms, strict=True)],
        weights=np.prod(norms, axis=0),
        rel_error=0.0,
        n_iter=0,
        converged=True,
        seed=0,
    )
    return x, truth


def test_recovers_planted_factors():
    x, truth = _planted()
    fit = ntf_hals(x, rank=3, max_iter=1000, tol=1e-10, seed=1, dtype=torch.float64)
    assert fit.rel_error < 1e-3
    assert factor_similarity(fit, truth) > 0.95
    assert all((f >= 0).all() for f in fit.factors)
    assert list(fit.weights) == sorted(fit.weights, reverse=True)


@pytest.mark.slow
def test_missing_entries_are_ignored_not_read_as_zero():
    x, truth = _planted(seed=2, shape=(50, 20, 5))
    mask = np.random.default_rng(0).random(x.shape) > 0.3  # 30% missing
    masked = ntf_hals(np.where(mask, x, np.nan), rank=3, max_iter=400, tol=1e-9, seed=1, dtype=torch.float64)
    zero_filled = ntf_hals(np.where(mask, x, 0.0), rank=3, max_iter=400, tol=1e-9, seed=1, dtype=torch.float64)
    # the masked fit predicts the held-out (missing) entries; the zero-filled one pulls them to zero
    held_out = ~mask
    err_masked = np.linalg.norm((masked.reconstruct() - x)[held_out]) / np.linalg.norm(x[held_out])
    err_zero = np.linalg.norm((zero_filled.reconstruct() - x)[held_out]) / np.linalg.norm(x[held_out])
    assert err_masked < 0.02 < 0.3 < err_zero
    assert factor_similarity(masked, truth) > 0.9


def test_seeded_runs_are_deterministic_and_seeds_differ():
    x, _ = _planted(noise=0.3)
    a, b = ntf_hals(x, rank=4, seed=5, max_iter=40), ntf_hals(x, rank=4, seed=5, max_iter=40)
    c = ntf_hals(x, rank=4, seed=6, max_iter=40)
    for fa, fb in zip(a.factors, b.factors, strict=True):
        np.testing.assert_array_equal(fa, fb)
    assert not np.array_equal(a.factors[0], c.factors[0])


def test_error_is_reported_on_observed_entries():
    x, _ = _planted(noise=0.2)
    fit = ntf_hals(x, rank=2, max_iter=50)
    assert fit.rel_error == pytest.approx(relative_error(x, None, fit.factors, fit.weights), rel=1e-6)
    assert fit.errors[-1] == pytest.approx(fit.rel_error, rel=1e-3)


def test_matches_tensorly_hals_error():
    from tensorly.decomposition import non_negative_parafac_hals

    x, _ = _planted(noise=0.2, shape=(60, 20, 5))
    ours = ntf_hals(x, rank=3, max_iter=300, tol=1e-8, seed=0)
    cp = non_negative_parafac_hals(x, rank=3, n_iter_max=300, init="random", random_state=0, tol=1e-8)
    theirs = relative_error(x, None, cp.factors, cp.weights)
    assert ours.rel_error <= theirs * 1.01


@pytest.mark.slow
def test_rank_selection_finds_the_planted_rank(tmp_path):
    x, _ = _planted(rank=3, noise=0.05, seed=4)
    sel = rank_selection(x, ranks=[1, 2, 3, 4], n_restarts=3, max_iter=200, tol=1e-7)
    assert sel.chosen == 3
    best = [min(e) for e in sel.errors]
    assert best[2] < best[1] < best[0]
    assert np.mean(sel.similarities[2][1:]) > 0.9 > np.mean(sel.similarities[3][1:])
    plot_rank_selection(sel, str(tmp_path / "rank.png"))
    assert (tmp_path / "rank.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("rank", [0, -1, 2.5, True])
def test_bad_rank(rank):
    with pytest.raises(ParameterError, match="rank must be a positive integer"):
        ntf_hals(np.ones((5, 4, 2)), rank=rank)


def test_fewer_windows_than_rank():
    with pytest.raises(FactorizationError, match="only 4 windows for rank 5"):
        ntf_hals(np.ones((5, 4, 2)), rank=5)


def test_bad_tensors():
    with pytest.raises(FactorizationError, match="3-way"):
        ntf_hals(np.ones((5, 4)), rank=1)
    with pytest.raises(FactorizationError, match="non-negative"):
        ntf_hals(-np.ones((5, 4, 2)), rank=1)
    with pytest.raises(FactorizationError, match="no observed entry"):
        ntf_hals(np.full((5, 4, 2), np.nan), rank=1)


def test_bad_device():
    with pytest.raises(ParameterError):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="CUDA is not available"):
            resolve_device("cuda")

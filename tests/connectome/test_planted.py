"""The planted benchmark's parts: the low-SNR generator, the reference baseline, the scoring, the time courses."""

import numpy as np
import pytest

from connectome.affinity import affinity_tensor, smoothed_derivative
from connectome.baseline import epoch_spectral_baseline
from connectome.errors import FactorizationError, ParameterError
from connectome.metrics import BACKGROUND, ari, best_homolog_component, homolog_share, planted_scores
from connectome.ntf import ntf_hals
from connectome.synthetic import weak_dynamic_recordings
from connectome.timecourses import symmetric_nmf, time_course_selection, window_similarity


@pytest.fixture(scope="module")
def weak():
    return weak_dynamic_recordings(n_neurons=40, n_animals=3, n_epochs=2, epoch_s=200.0, within_corr=0.3, seed=5)


def _pair_correlations(rec, truth, epoch):
    lo, hi = (round(t * rec.fps) for t in truth.epochs[epoch])
    groups = np.array([truth.partitions[epoch][n] for n in rec.neurons])
    same, other = [], []
    for a in range(rec.n_animals):
        d = smoothed_derivative(rec.traces[a], rec.fps)[:, lo:hi]
        ok = np.isfinite(d).all(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # rows of missing neurons are all zero
            c = np.corrcoef(np.where(ok[:, None], d, 0.0))
        for i in range(rec.n_neurons):
            for j in range(i + 1, rec.n_neurons):
                if ok[i] and ok[j] and groups[i] != BACKGROUND:
                    (same if groups[i] == groups[j] else other).append(c[i, j])
    return np.mean(same), np.mean(other)


def test_weak_generator_plants_the_asked_correlation(weak):
    rec, truth = weak
    within, between = _pair_correlations(rec, truth, 0)
    assert within == pytest.approx(0.3, abs=0.06)
    assert abs(between) < 0.05
    for part in truth.partitions:
        labels = np.array(list(part.values()))
        assert (labels == BACKGROUND).mean() == pytest.approx(0.7, abs=0.01)
        assert set(labels[labels != BACKGROUND]) == {0, 1, 2}
    assert np.isnan(rec.traces).all(axis=2).any()  # some neurons missing in some animals
    assert not np.isnan(rec.traces).all(axis=(0, 2)).any()  # none missing everywhere


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"background_fraction": 1.0}, "background_fraction"),
        ({"within_corr": 1.0}, "within_corr"),
        ({"missing_fraction": -0.1}, "missing_fraction"),
        ({"n_neurons": 10, "groups_per_epoch": 3}, "cannot form 3 groups"),
    ],
)
def test_weak_generator_refuses_bad_options(option, match):
    with pytest.raises(ParameterError, match=match):
        weak_dynamic_recordings(**option)


def test_baseline_recovers_clear_communities(weak):
    rec, truth = weak
    parts = epoch_spectral_baseline(rec, truth.epochs, [3, 3])
    mids = [(lo + hi) / 2 for lo, hi in truth.epochs]
    scores = planted_scores(mids, np.eye(2), parts, truth.epochs, truth.partitions)
    assert [s.component for s in scores] == [0, 1]
    assert min(s.ari for s in scores) > 0.9
    with pytest.raises(ParameterError, match="2 epochs but 1 group counts"):
        epoch_spectral_baseline(rec, truth.epochs, [3])


def test_scoring_rules():
    windows = [5.0, 15.0, 25.0, 35.0]
    epochs = [(0.0, 20.0), (20.0, 40.0)]
    truth = [{"a": 0, "b": 0, "c": 1, "d": 1, "x": BACKGROUND}, {"a": 0, "b": 1, "c": 0, "d": 1, "x": BACKGROUND}]
    right = {"a": 0, "b": 0, "c": 1, "d": 1, "x": 0}  # x is background: not scored
    # both components peak in epoch 0: epoch 1 scores 0; the higher peak (first) is scored for epoch 0
    courses = np.array([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.5, 0.5]])
    scores = planted_scores(windows, courses, [right, {n: 0 for n in right}], epochs, truth)
    assert [(s.component, s.ari, s.scored) for s in scores] == [(0, 1.0, 4), (None, 0.0, 4)]
    # a member left out of every community is its own community
    left_out = {"a": BACKGROUND, "b": BACKGROUND, "c": 1, "d": 1}
    assert planted_scores(windows[:2], np.eye(2), [left_out, right], epochs, truth)[0].ari < 1.0
    with pytest.raises(ParameterError, match="time courses of shape"):
        planted_scores(windows, courses[:1], [right, right], epochs, truth)


def test_ari_is_one_for_equal_partitions_and_near_zero_for_random_ones():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 400)
    assert ari(a, (a + 1) % 4) == 1.0
    assert abs(ari(a, rng.integers(0, 4, 400))) < 0.05


def test_homolog_share_and_best_component():
    comms = [{"AVAL": 0, "AVAR": 1, "ASEL": 0, "ASER": 1}, {"AVAL": 0, "AVAR": 0, "ASEL": 1, "ASER": 1}]
    best, shares = best_homolog_component(comms)
    assert best == 1 and shares[1].share == 1.0 and shares[0].share == 0.0
    assert shares[1].chance == pytest.approx(2 / 6)
    assert homolog_share({"AVAL": BACKGROUND, "AVAR": BACKGROUND}).share == 0.0  # background shares nothing


def test_symmetric_nmf_and_rank_selection_recover_block_time_courses():
    h = np.zeros((30, 3))
    for r, strength in enumerate((1.0, 0.8, 0.6)):  # components of different strength, as in data
        h[10 * r : 10 * (r + 1), r] = strength
    noise = 0.01 * np.random.default_rng(0).normal(size=(30, 30))
    courses = time_course_selection(h @ h.T + noise + noise.T, ranks=range(1, 6), n_restarts=3, seed=0)
    assert courses.selection.chosen in (3, 4)  # at worst one block split in two (still stable)
    unit = h / np.linalg.norm(h, axis=0)
    assert (courses.courses.T @ unit).max(axis=0).min() > 0.7  # every block has its course
    assert courses.selection.errors[2][0] < 0.05 < courses.selection.errors[1][0]  # rank 3 explains the blocks
    with pytest.raises(FactorizationError, match="no co-change"):
        symmetric_nmf(-np.ones((4, 4)), rank=1)


def test_window_similarity_finds_the_epochs_of_weak_communities(weak):
    rec, truth = weak
    signed = affinity_tensor(rec, window_s=30.0, stride_s=10.0, signed=True)
    g = window_similarity(signed)
    epoch = truth.epoch_indicator(np.asarray(signed.windows_s)).argmax(axis=0)
    same = epoch[:, None] == epoch[None, :]
    assert g[same].mean() > 3 * abs(g[~same].mean())  # windows of one epoch share co-change across animals


def test_ntf_keeps_a_fixed_time_factor():
    rng = np.random.default_rng(0)
    a, b, c = rng.random((20, 2)), rng.random((8, 2)), rng.random((3, 2))
    x = np.einsum("ir,jr,kr->ijk", a, b, c)
    fit = ntf_hals(x, rank=2, fixed_time=b, max_iter=300, tol=1e-10)
    unit = b / np.linalg.norm(b, axis=0)
    matched = fit.factors[1] if np.allclose(fit.factors[1][:, 0], unit[:, 0]) else fit.factors[1][:, ::-1]
    np.testing.assert_allclose(matched, unit, atol=1e-6)  # components may be reordered by weight, never changed
    assert fit.rel_error < 1e-2
    with pytest.raises(FactorizationError, match="fixed time factor"):
        ntf_hals(x, rank=2, fixed_time=-b)

import numpy as np
import pytest

from connectome.affinity import affinity_tensor, pair_index, smoothed_derivative, window_starts
from connectome.errors import ParameterError
from connectome.io import Recordings


def test_formula_matches_a_direct_computation():
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=(1, 4, 120)), axis=2)
    rec = Recordings(traces=x, neurons=list("ABCD"), fps=4.0)
    t = affinity_tensor(rec, window_s=10.0, stride_s=5.0, sigma_s=0.5)
    d = smoothed_derivative(x[0], 4.0, sigma_s=0.5)
    z = d / d.std(axis=1, keepdims=True)
    starts, length = window_starts(120, 4.0, window_s=10.0, stride_s=5.0)
    for p, (i, j) in enumerate(pair_index(4)):
        for w, s in enumerate(starts):
            expect = max(0.0, float(np.mean(z[i, s : s + length] * z[j, s : s + length])))
            assert t.values[p, w, 0] == pytest.approx(expect, rel=1e-5, abs=1e-6)
    np.testing.assert_allclose(t.windows_s, (starts + length / 2) / 4.0)


def test_co_change_is_high_anti_correlation_is_zero_quiet_is_low():
    rng = np.random.default_rng(0)
    s = np.cumsum(rng.normal(size=400))
    x = np.stack([s, 2 * s + 5, -s, np.cumsum(rng.normal(size=400))])[None]
    t = affinity_tensor(Recordings(traces=x, neurons=list("ABCD"), fps=5.0), window_s=20.0, stride_s=20.0)
    by_pair = {tuple(p): t.values[k, :, 0] for k, p in enumerate(t.pairs.tolist())}
    assert (by_pair[(0, 1)] > 0.3).all()  # offset and gain do not matter, change does
    assert by_pair[(0, 1)].mean() > 2 * by_pair[(0, 3)].mean()  # an independent neuron: low
    assert (by_pair[(0, 2)] == 0).all()  # anti-correlated: zero, not negative
    assert (t.values >= 0).all()


def test_missing_neurons_are_masked_not_zero_filled():
    rng = np.random.default_rng(0)
    x = np.cumsum(rng.normal(size=(2, 3, 100)), axis=2)
    x[1, 2] = np.nan  # neuron C not recorded in animal 1
    t = affinity_tensor(Recordings(traces=x, neurons=list("ABC"), fps=2.0), window_s=10.0, stride_s=5.0)
    pairs_with_c = [k for k, (i, j) in enumerate(t.pairs.tolist()) if 2 in (i, j)]
    assert not t.mask[pairs_with_c, :, 1].any()
    assert np.isnan(t.values[pairs_with_c, :, 1]).all()
    assert t.mask[pairs_with_c, :, 0].all() and t.mask[0, :, 1].all()
    assert t.observed_fraction == pytest.approx(1 - 2 / 6)


@pytest.mark.parametrize(
    ("window", "stride", "message"),
    [
        (-5.0, 1.0, "window length must be a positive"),
        (0.0, 1.0, "window length must be a positive"),
        (5.0, -1.0, "stride must be a positive"),
        (500.0, 1.0, "longer than the recording"),
    ],
)
def test_bad_windows(window, stride, message):
    rec = Recordings(traces=np.random.default_rng(0).normal(size=(1, 2, 50)), neurons=["A", "B"], fps=1.0)
    with pytest.raises(ParameterError, match=message):
        affinity_tensor(rec, window_s=window, stride_s=stride)

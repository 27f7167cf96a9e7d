"""Claims about the real Flavell 2023 recordings (skipped when ../shared is absent)."""

import numpy as np

from connectome.affinity import affinity_tensor
from connectome.io import load_flavell2023
from connectome.ntf import ntf_hals


def test_real_tensor_masks_unrecorded_neurons_and_factorizes(flavell_dir):
    rec = load_flavell2023(flavell_dir, min_animals=6)
    t = affinity_tensor(rec, window_s=60.0, stride_s=30.0)
    present = rec.present()
    i, j = t.pairs[:, 0], t.pairs[:, 1]
    expected = present[:, i] & present[:, j]  # [animals, pairs]
    np.testing.assert_array_equal(t.mask.all(axis=1), expected.T)
    assert 0.5 < t.observed_fraction < 1.0
    fit = ntf_hals(t.values, rank=2, mask=t.mask, max_iter=60, seed=0)
    assert fit.rel_error < 0.95
    assert np.all(fit.factors[2] >= 0) and fit.factors[1].shape == (t.shape[1], 2)

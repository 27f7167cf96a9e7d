"""Shared fixtures of the connectome tests (small, fixed seeds)."""

from __future__ import annotations

import pytest
import torch

from connectome.io import default_flavell_dir, validate_recordings
from connectome.synthetic import planted_dynamic_recordings


@pytest.fixture(scope="session")
def planted():
    """Planted dynamic communities: 45 neurons, 4 animals, 3 epochs of 120 s, 10% neurons missing per animal."""
    rec, truth = planted_dynamic_recordings(seed=0)
    return validate_recordings(rec), truth


@pytest.fixture(scope="session")
def small_planted():
    rec, truth = planted_dynamic_recordings(n_neurons=12, n_animals=2, n_epochs=2, epoch_s=40.0, seed=0)
    return validate_recordings(rec), truth


@pytest.fixture(scope="session")
def flavell_dir():
    path = default_flavell_dir()
    if not (path / "neuropal_labels.json").is_file():
        pytest.skip(f"Flavell 2023 recordings not found at {path} (set CONNECTOME_FLAVELL_DIR)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """The CI machine has 2 shared cores; tiny tensors run fastest on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

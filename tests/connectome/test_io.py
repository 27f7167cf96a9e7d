import h5py
import numpy as np
import pytest

from connectome.errors import DataFormatError
from connectome.io import Recordings, load_flavell2023, load_recordings, save_recordings, validate_recordings


def _rec(**kw):
    rng = np.random.default_rng(0)
    base = {"traces": rng.normal(size=(2, 3, 40)), "neurons": ["A", "B", "C"], "fps": 2.0}
    base.update(kw)
    return Recordings(**base)


def test_npz_round_trip_keeps_everything(tmp_path, small_planted):
    rec, _ = small_planted
    rec.covariates = {"velocity": np.arange(rec.n_animals * rec.n_frames, dtype=float).reshape(rec.n_animals, -1)}
    back = load_recordings(save_recordings(tmp_path / "r.npz", rec))
    np.testing.assert_array_equal(np.isnan(back.traces), np.isnan(rec.traces))
    np.testing.assert_allclose(np.nan_to_num(back.traces), np.nan_to_num(rec.traces))
    assert back.neurons == rec.neurons and back.fps == rec.fps and back.animals == rec.animals
    np.testing.assert_array_equal(back.covariates["velocity"], rec.covariates["velocity"])


def test_hdf5_reader(tmp_path):
    x = np.random.default_rng(1).normal(size=(2, 3, 30))
    with h5py.File(tmp_path / "r.h5", "w") as f:
        f["traces"] = x
        f["neurons"] = np.array([b"A", b"B", b"C"])
        f["fps"] = 4.0
        f["stimulus_names"] = np.array([b"salt"])
        f["stimulus_times"] = np.array([[1.0, 3.0]])
        f.create_group("covariates")["speed"] = np.ones((2, 30))
    rec = load_recordings(tmp_path / "r.h5")
    assert rec.neurons == ["A", "B", "C"] and rec.fps == 4.0
    assert rec.stimuli[0].name == "salt" and rec.stimuli[0].offset_s == 3.0
    assert rec.covariates["speed"].shape == (2, 30)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"traces": np.zeros((3, 40))}, "shape \\[animals, neurons, time\\]"),
        ({"neurons": ["A", "B"]}, "2 neuron names for 3 neurons"),
        ({"neurons": ["A", "A", "C"]}, "duplicate neuron names"),
        ({"fps": 0.0}, "fps must be a positive"),
        ({"fps": -2.0}, "fps must be a positive"),
        ({"fps": float("nan")}, "fps must be a positive"),
        ({"covariates": {"v": np.zeros((2, 39))}}, "covariate 'v' has shape"),
    ],
)
def test_validation_errors(change, message):
    with pytest.raises(DataFormatError, match=message):
        validate_recordings(_rec(**change))


def test_all_nan_animal_is_an_error():
    rec = _rec()
    rec.traces[1] = np.nan
    with pytest.raises(DataFormatError, match="animal 'animal1' has no finite sample"):
        validate_recordings(rec)


def test_nan_only_neuron_is_an_error():
    rec = _rec()
    rec.traces[:, 2] = np.nan
    with pytest.raises(DataFormatError, match="neuron 'C' is NaN in every animal"):
        validate_recordings(rec)


def test_constant_trace_is_an_error_but_missing_is_not():
    rec = _rec()
    rec.traces[0, 1] = np.nan  # missing in one animal: fine
    validate_recordings(rec)
    rec.traces[1, 1] = 3.0
    with pytest.raises(DataFormatError, match="neuron 'B' is constant in animal 'animal1'"):
        validate_recordings(rec)


def test_mismatched_frame_rates_are_an_error(tmp_path):
    np.savez(
        tmp_path / "r.npz", traces=np.random.default_rng(0).normal(size=(2, 2, 20)), neurons=["A", "B"], fps=[2.0, 3.0]
    )
    with pytest.raises(DataFormatError, match="different frame rates"):
        load_recordings(tmp_path / "r.npz")


def test_missing_array_and_unknown_suffix(tmp_path):
    np.savez(tmp_path / "r.npz", traces=np.zeros((1, 2, 5)))
    with pytest.raises(DataFormatError, match="no array 'neurons'"):
        load_recordings(tmp_path / "r.npz")
    (tmp_path / "r.csv").write_text("1,2")
    with pytest.raises(DataFormatError, match=r"unknown recordings file type '\.csv'"):
        load_recordings(tmp_path / "r.csv")
    with pytest.raises(FileNotFoundError):
        load_recordings(tmp_path / "absent.npz")


def test_flavell_reader_aligns_animals_by_name(flavell_dir):
    rec = load_flavell2023(flavell_dir)
    assert rec.n_animals == 7 and rec.n_frames == 800
    assert abs(rec.fps - 1 / 0.6) < 0.02
    present = rec.present()
    assert present.sum(axis=0).max() == 7  # some neurons in every animal
    assert (present.sum(axis=0) < 7).any()  # and others missing in some, as NaN
    assert rec.neurons == sorted(rec.neurons) and not any(n.endswith("?") for n in rec.neurons)
    assert {"velocity", "reversal", "angular_velocity"} <= set(rec.covariates)
    assert "pumping" not in rec.covariates  # all NaN in these files: dropped, not kept as a fake signal
    core = load_flavell2023(flavell_dir, min_animals=7)
    assert core.n_neurons == int((present.sum(axis=0) == 7).sum())
    with pytest.raises(DataFormatError, match="unknown trace version"):
        load_flavell2023(flavell_dir, trace="nope")

"""Fuzzing the connectome loaders (issue 25, item 7): damaged and malformed ``.npz`` / HDF5 recordings and Flavell
folders, built in the test.

Property: :func:`connectome.io.load_recordings` returns validated recordings or raises a
:class:`~connectome.errors.ConnectomeError`, never another exception.
"""

from __future__ import annotations

import io
import json
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from connectome.errors import ConnectomeError
from connectome.io import Recordings, Stimulus, load_recordings, save_recordings

from ..fuzzing import budget, expect_typed, mutated_bytes

# Warnings fail the fuzz tests: a cast of complex numbers to float drops the imaginary part with only a
# ComplexWarning, and numpy's RuntimeWarnings (overflow, invalid value) are extra lines on a CLI's stderr.
pytestmark = [
    pytest.mark.fuzz,
    pytest.mark.filterwarnings("error::numpy.exceptions.ComplexWarning"),
    pytest.mark.filterwarnings("error::RuntimeWarning"),
]

_RNG = np.random.default_rng(0)
REC = Recordings(
    traces=_RNG.normal(size=(2, 3, 12)),
    neurons=["AVAL", "AVAR", "RIML"],
    fps=2.0,
    stimuli=[Stimulus("light", 1.0, 2.0)],
    covariates={"velocity": _RNG.normal(size=(2, 12))},
)


def _npz_bytes(arrays: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def _h5_bytes(fill) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scratch.h5"
        with h5py.File(path, "w") as f:
            fill(f)
        return path.read_bytes()


def _valid_h5(f: h5py.File) -> None:
    f["traces"] = REC.traces
    f["neurons"] = np.array(REC.neurons, dtype="S")
    f["fps"] = REC.fps
    f["stimulus_names"] = np.array(["light"], dtype="S")
    f["stimulus_times"] = np.array([[1.0, 2.0]])
    f.create_group("covariates")["velocity"] = REC.covariates["velocity"]


def _valid_npz() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        return save_recordings(Path(tmp) / "rec.npz", REC).read_bytes()


VALID = {".npz": _valid_npz(), ".h5": _h5_bytes(_valid_h5)}
"""One valid recordings file per format, as bytes to damage."""


def _check(path: Path) -> Recordings | None:
    rec = expect_typed(ConnectomeError, load_recordings, path)
    if rec is not None:  # what load_recordings promises: validated recordings
        assert rec.traces.dtype == np.float64 and rec.traces.ndim == 3
        assert len(rec.neurons) == rec.n_neurons and len(set(rec.neurons)) == rec.n_neurons
        assert np.isfinite(rec.fps) and rec.fps > 0
    return rec


def test_the_undamaged_files_load(tmp_path: Path) -> None:
    for suffix, data in VALID.items():
        (tmp_path / f"rec{suffix}").write_bytes(data)
        rec = load_recordings(tmp_path / f"rec{suffix}")
        assert rec.neurons == REC.neurons and np.allclose(rec.traces, REC.traces), suffix
        assert rec.stimuli == REC.stimuli and set(rec.covariates) == {"velocity"}, suffix


def _npz_member_patched(offset: int, value: bytes) -> bytes:
    """:data:`VALID`'s ``.npz`` with bytes at ``offset`` of its first central-directory record replaced (what
    zipfile trusts: +8 the flags, +10 the compression method)."""
    data = bytearray(VALID[".npz"])
    at = data.index(b"PK\x01\x02") + offset
    data[at : at + len(value)] = value
    return bytes(data)


@budget(80)
@given(st.sampled_from([".npz", ".h5"]).flatmap(lambda s: st.tuples(st.just(s), mutated_bytes(VALID[s], max_flips=6))))
@example((".npz", _npz_member_patched(10, (99).to_bytes(2, "little"))))  # was NotImplementedError
@example((".npz", _npz_member_patched(8, b"\x01")))  # encrypted: was RuntimeError
def test_damaged_recordings_files(tmp_path_factory: pytest.TempPathFactory, damaged: tuple[str, bytes]) -> None:
    """Truncations and byte flips of a valid ``.npz`` (a zip of ``.npy`` members) and HDF5 recordings file."""
    suffix, data = damaged
    path = tmp_path_factory.mktemp("damaged") / f"rec{suffix}"
    path.write_bytes(data)
    _check(path)


# ---------------------------------------------------------------------- well-formed files, malformed content
KEYS = ["traces", "neurons", "fps", "animals", "stimulus_names", "stimulus_times", "covariate/velocity"]
dtypes = st.sampled_from(["f8", "f4", "i8", "u1", "?", "c16", "U4", "S4", "M8[s]", "f2"])
arrays = hnp.arrays(dtypes, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
good_values = {
    "traces": st.just(REC.traces),
    "neurons": st.just(np.array(REC.neurons)),
    "fps": st.sampled_from([np.array(2.0), np.array([2.0, 2.0])]),
    "animals": st.just(np.array(["a", "b"])),
    "stimulus_names": st.just(np.array(["light"])),
    "stimulus_times": st.just(np.array([[1.0, 2.0]])),
    "covariate/velocity": st.just(REC.covariates["velocity"]),
}
odd_values = st.sampled_from(
    [
        np.array("2.0"),
        np.array([np.nan]),
        np.array([]),
        np.array([1.0, 2.0, 3.0]),
        np.zeros((2, 3, 12)),
        np.full((2, 3, 12), np.inf),
        np.array(["AVAL", "AVAL", "RIML"]),
        np.array([b"\xff\xfe", b"ok"]),
        np.array([[1.0, 2.0, 3.0]]),
        np.array([[5.0, 1.0]]),
    ]
)


@st.composite
def recordings_arrays(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """The arrays of a recordings file, each either right or replaced by an odd or random array, some missing."""
    out = {}
    for key in KEYS:
        choice = draw(st.integers(0, 5))
        if choice == 0:
            continue
        out[key] = draw(good_values[key] if choice > 2 else odd_values if choice == 2 else arrays)
    return out


@pytest.mark.slow
@budget(120)
@given(recordings_arrays())
@example({"traces": REC.traces, "neurons": np.array(REC.neurons), "fps": np.array("fast")})
@example({"traces": REC.traces, "neurons": np.array(REC.neurons), "fps": np.array(2 + 1j)})  # was cast to 2.0
@example({"traces": REC.traces, "neurons": np.array(REC.neurons), "fps": np.array([1e308, 2.0])})  # overflow warning
@example({"traces": REC.traces + 1j, "neurons": np.array(REC.neurons), "fps": np.array(2.0)})
@example(
    {
        "traces": REC.traces,
        "neurons": np.array(REC.neurons),
        "fps": np.array(2.0),
        "covariate/velocity": REC.covariates["velocity"] * 1j,
    }
)
@example(
    {
        "traces": REC.traces,
        "neurons": np.array(REC.neurons),
        "fps": np.array(2.0),
        "stimulus_names": np.array(["a"]),
        "stimulus_times": np.array([1.0, 2.0, 3.0]),
    }
)
def test_npz_with_any_arrays(tmp_path_factory: pytest.TempPathFactory, arrays: dict[str, np.ndarray]) -> None:
    path = tmp_path_factory.mktemp("npz") / "rec.npz"
    path.write_bytes(_npz_bytes(arrays))
    rec = _check(path)
    if rec is not None:
        assert {"traces", "neurons", "fps"} <= set(arrays)


@st.composite
def h5_layouts(draw: st.DrawFn) -> list[tuple[str, Any]]:
    """Datasets and groups at the paths the HDF5 reader looks at, each right, odd, random, or of the wrong kind."""
    items: list[tuple[str, Any]] = []
    for key in KEYS:
        name = key.replace("covariate/", "covariates/")
        choice = draw(st.integers(0, 6))
        if choice == 0:
            continue
        if choice == 1:
            items.append((name + "/inner", draw(arrays)))  # a group where a dataset belongs
            continue
        value = draw(good_values[key] if choice > 3 else odd_values if choice == 3 else arrays)
        items.append((name, value))
    if draw(st.booleans()):
        items.append(
            ("covariates" if not any(n.startswith("covariates/") for n, _ in items) else "extra", draw(arrays))
        )
    return items


def _write_h5(path: Path, items: list[tuple[str, Any]]) -> None:
    with h5py.File(path, "w") as f:
        for name, value in items:
            if name in f:
                continue
            try:
                f[name] = value.astype("S") if value.dtype.kind == "U" else value
            except (TypeError, ValueError):  # a dtype HDF5 cannot store (datetimes): leave the path empty
                continue


@pytest.mark.slow
@budget(100)
@given(h5_layouts())
@example(
    [
        ("traces", REC.traces),
        ("neurons", np.array(REC.neurons, "S")),
        ("fps", np.array(2.0)),
        ("covariates", np.ones(3)),
    ]
)
def test_hdf5_with_any_layout(tmp_path_factory: pytest.TempPathFactory, items: list[tuple[str, Any]]) -> None:
    path = tmp_path_factory.mktemp("h5") / "rec.h5"
    _write_h5(path, items)
    _check(path)


# ---------------------------------------------------------------------- Flavell-2023 folders
def _flavell_h5(path: Path, *, n_frames: int = 20, n_neurons: int = 3) -> None:
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        f["gcamp/trace_array"] = rng.normal(size=(n_frames, n_neurons))
        f["timing/timestamp_confocal"] = np.arange(n_frames) * 0.6
        for key in ("velocity", "angular_velocity", "head_angle", "pumping", "worm_curvature", "reversal_vec"):
            f[f"behavior/{key}"] = rng.normal(size=n_frames)


LABEL_KEYS = ["label", "trace_index_1based", "confidence", "x"]
label_values = st.one_of(
    st.sampled_from(["AVAL", "AVAR?", "", "RIML", 1, 2, 3, 0, -1, 99, 5.0, None, "2", True, [], {}]),
    st.text(max_size=4),
)
labels_documents = st.one_of(
    st.dictionaries(
        st.sampled_from(["w1", "w2", "zz"]),
        st.lists(st.dictionaries(st.sampled_from(LABEL_KEYS), label_values, max_size=4), max_size=4)
        | st.sampled_from([None, "AVAL", 3, {}]),
        max_size=3,
    ),
    st.sampled_from([[], "labels", 1, None]),
)


@pytest.mark.slow
@budget(60)
@given(labels_documents)
@example({"w1": [{"label": "AVAL"}]})
@example({"w1": [{"label": "AVAL", "trace_index_1based": "one"}]})
def test_flavell_folder_with_any_labels(tmp_path_factory: pytest.TempPathFactory, labels: Any) -> None:
    root = tmp_path_factory.mktemp("flavell")
    (root / "swf702_with_id").mkdir()
    for uid in ("w1", "w2"):
        _flavell_h5(root / "swf702_with_id" / f"{uid}-data.h5")
    (root / "neuropal_labels.json").write_text(json.dumps(labels))
    _check(root)

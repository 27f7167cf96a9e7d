"""Hostile recordings and output paths for ``connectome`` (issue #25): every broken file is one stderr line
with exit code 2, and a failed run leaves no --out folder behind."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import connectome.pipeline
from connectome.cli import main
from connectome.errors import DataFormatError
from connectome.io import load_recordings, save_recordings

REPO = Path(__file__).resolve().parents[2]


def _connectome(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "connectome", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd
    )


def _arrays(**extra) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {"traces": rng.normal(size=(2, 3, 60)), "neurons": np.array(["A", "B", "C"]), "fps": np.array(2.0), **extra}


def _truncated_npz(path: Path) -> None:
    buf = io.BytesIO()
    np.savez(buf, **_arrays())
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def _h5_covariates_dataset(path: Path) -> None:
    with h5py.File(path, "w") as f:
        for name, value in _arrays().items():
            f[name] = value.astype("S") if value.dtype.kind == "U" else value
        f["covariates"] = np.zeros((2, 60))  # a dataset where the format has a group of datasets


def _zeros_bomb_npz(path: Path) -> None:
    """An .npz whose traces declare 2.4 GB (3e8 float64 zeros), written as a compressed header alone."""
    buf = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": (2, 3, 50_000_000)}
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("traces.npy", buf.getvalue() + bytes(4096))  # the data stops short: never read


def _h5_external_storage(path: Path) -> None:
    """An HDF5 recording whose neurons are stored in a file beside it (any file the reader can open)."""
    (path.parent / "secret.txt").write_bytes(b"sk-SECRET" * 8)
    with h5py.File(path, "w") as f:
        for name, value in _arrays().items():
            if name != "neurons":
                f[name] = value
        f.create_dataset("neurons", shape=(3,), dtype="S8", external=[(str(path.parent / "secret.txt"), 0, 24)])


def _h5_external_link(path: Path) -> None:
    other = path.parent / "other.h5"
    with h5py.File(other, "w") as f:
        f["traces"] = _arrays()["traces"]
    with h5py.File(path, "w") as f:
        f["neurons"], f["fps"] = np.array([b"A", b"B", b"C"]), 2.0
        f["traces"] = h5py.ExternalLink(str(other), "/traces")


BROKEN = {
    "truncated.npz": (_truncated_npz, "cannot read truncated.npz as .npz: File is not a zip file"),
    "fps_text.npz": (
        lambda p: np.savez(p, **_arrays(fps=np.array("fast"))),
        "fps_text.npz: fps must be numbers, got an array of dtype <U4",
    ),
    "fps_empty.npz": (lambda p: np.savez(p, **_arrays(fps=np.zeros(0))), "fps is empty"),
    "stimuli.npz": (
        lambda p: np.savez(p, **_arrays(stimulus_names=np.array(["odour"]), stimulus_times=np.array([1.0, 2, 3]))),
        "stimuli.npz: stimulus_times has shape (3,); expected [stimuli, 2]",
    ),
    "stimulus_text.npz": (
        lambda p: np.savez(p, **_arrays(stimulus_names=np.array(["o"]), stimulus_times=np.array([["a", "b"]]))),
        "stimulus_times must be numbers",
    ),
    "covariates.h5": (_h5_covariates_dataset, "covariates.h5: 'covariates' must be a group of datasets"),
    "bomb.npz": (_zeros_bomb_npz, "bomb.npz: an array of 2,400,000,000 bytes, over the cap MAX_ARRAY_BYTES"),
    "external.h5": (_h5_external_storage, "external.h5: a dataset is stored in other files"),
    "link.h5": (_h5_external_link, "link.h5: a link leads to another file"),
    "garbage.h5": (lambda p: p.write_bytes(b"not hdf5" * 10), "cannot read garbage.h5 as HDF5"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_recordings_are_one_typed_error(tmp_path, name):
    make, expect = BROKEN[name]
    make(tmp_path / name)
    with pytest.raises(DataFormatError) as e:
        load_recordings(tmp_path / name)
    assert expect in str(e.value).replace(f"{tmp_path}/", "")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["truncated.npz", "fps_text.npz", "stimuli.npz", "covariates.h5"])
def test_run_on_broken_recordings_is_one_line_and_leaves_no_out(tmp_path, name):
    make, expect = BROKEN[name]
    make(tmp_path / name)
    proc = _connectome("run", name, "--out", "runs/out", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(f"connectome: error: {expect}")
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_flavell_folder_with_malformed_labels_is_one_typed_error(tmp_path):
    (tmp_path / "swf702_with_id").mkdir()
    (tmp_path / "swf702_with_id" / "2022-01-01-01-data.h5").write_bytes(b"")
    (tmp_path / "neuropal_labels.json").write_text("[]")
    with pytest.raises(DataFormatError, match="expected an object"):
        load_recordings(tmp_path)
    (tmp_path / "neuropal_labels.json").write_text("[" * 200 + "]" * 200)
    with pytest.raises(DataFormatError, match="nested deeper than 100 levels"):
        load_recordings(tmp_path)
    (tmp_path / "neuropal_labels.json").write_text('{"2022-01-01-01": []}')
    with pytest.raises(DataFormatError, match=r"cannot read .*2022-01-01-01-data\.h5 as a flavell2023 recording"):
        load_recordings(tmp_path)


def test_malformed_flavell_labels_are_not_quoted(tmp_path):
    (tmp_path / "swf702_with_id").mkdir()
    with h5py.File(tmp_path / "swf702_with_id" / "2022-01-01-01-data.h5", "w") as f:
        f["gcamp/trace_array"] = np.zeros((10, 3))
        f["timing/timestamp_confocal"] = np.arange(10.0)
        for key in ("velocity", "angular_velocity", "head_angle", "pumping", "worm_curvature", "reversal_vec"):
            f[f"behavior/{key}"] = np.zeros(10)
    labels = '{"2022-01-01-01": [{"label": "AVA", "trace_index_1based": "sk-SECRET123"}]}'
    (tmp_path / "neuropal_labels.json").write_text(labels)
    with pytest.raises(DataFormatError, match=r"malformed labels of 2022-01-01-01 \(ValueError\)") as e:
        load_recordings(tmp_path)
    assert "SECRET" not in str(e.value)


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory, small_planted):
    rec, _ = small_planted
    return save_recordings(tmp_path_factory.mktemp("data") / "synth.npz", rec)


def test_a_run_that_fails_while_writing_leaves_no_out_folder(synth_file, tmp_path, capsys, monkeypatch):
    def figures(run, rec, folder):
        (folder / "half.png").write_bytes(b"\x89PNG")
        raise OSError(28, "No space left on device", str(folder / "communities.png"))

    monkeypatch.setattr(connectome.pipeline, "_figures", figures)
    out = tmp_path / "runs" / "today"
    argv = ["-q", "run", str(synth_file), "--window", "10", "--stride", "5", "--rank", "2", "--restarts", "1"]
    assert main([*argv, "--out", str(out)]) == 2
    assert capsys.readouterr().err == f"connectome: error: No space left on device: {out / 'communities.png'}\n"
    assert list(tmp_path.iterdir()) == []  # neither --out, nor its parent, nor a temporary folder


def test_outputs_of_the_wrong_kind_are_refused_before_the_work(synth_file, tmp_path, capsys):
    (tmp_path / "taken").write_text("mine")
    assert main(["run", str(synth_file), "--out", str(tmp_path / "taken")]) == 2
    assert capsys.readouterr().err == f"connectome: error: --out {tmp_path / 'taken'}: is a file; give a folder\n"
    assert main(["run", str(synth_file.parent), "--out", str(synth_file.parent)]) == 2
    assert "is also an input" in capsys.readouterr().err
    assert main(["synth", str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"connectome: error: OUTPUT {tmp_path}: is a folder; give a file name\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]

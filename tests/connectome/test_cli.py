import json

import numpy as np
import pytest

from connectome.cli import main
from connectome.io import Recordings, load_recordings, save_recordings


@pytest.fixture(scope="module")
def synth_file(tmp_path_factory, small_planted):
    rec, _ = small_planted
    rec.covariates = {"reversal": (np.random.default_rng(0).random((rec.n_animals, rec.n_frames)) > 0.9).astype(float)}
    return save_recordings(tmp_path_factory.mktemp("data") / "synth.npz", rec)


@pytest.mark.slow
def test_run_writes_result_and_figures(synth_file, tmp_path, capsys):
    out = tmp_path / "run"
    args = [str(synth_file), "--window", "10", "--stride", "5", "--rank", "2", "--method", "leiden", "--out", str(out)]
    assert main(["-q", "run", *args, "--restarts", "1"]) == 0
    assert "2 components" in capsys.readouterr().out
    data = json.loads((out / "result.json").read_text())
    assert len(data["components"]) == 2 and data["params"]["method"] == "leiden"
    assert (out / "behaviour.json").is_file() and (out / "communities.png").is_file()
    assert (out / "behaviour.png").read_bytes()[:4] == b"\x89PNG"


def _one_line_error(capsys, argv, expect):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse usage errors exit from inside the parser
        code = e.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert expect in err
    return err


@pytest.mark.parametrize(
    ("extra", "expect"),
    [
        (["--rank", "0"], "rank must be a positive integer or 'auto'"),
        (["--window", "-5"], "expected a positive number of seconds"),
        (["--rank", "9", "--window", "40", "--stride", "20"], "windows for rank 9"),
        (["--method", "louvain"], "invalid choice"),
        (["--device", "cuda:7"], "device"),
    ],
)
def test_bad_arguments_are_one_line_and_write_nothing(synth_file, tmp_path, capsys, extra, expect):
    out = tmp_path / "out"
    _one_line_error(capsys, ["-q", "run", str(synth_file), "--out", str(out), "--restarts", "1", *extra], expect)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_all_nan_animal_file(tmp_path, capsys):
    x = np.random.default_rng(0).normal(size=(2, 3, 60))
    x[1] = np.nan
    np.savez(tmp_path / "bad.npz", traces=x, neurons=["A", "B", "C"], fps=2.0)
    _one_line_error(capsys, ["run", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o")], "no finite sample")
    assert not (tmp_path / "o").exists()


def test_wrong_shape_file(tmp_path, capsys):
    np.savez(tmp_path / "bad.npz", traces=np.zeros((3, 60)), neurons=["A", "B", "C"], fps=2.0)
    _one_line_error(
        capsys, ["run", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "o")], "[animals, neurons, time]"
    )


def test_non_empty_out_is_refused(synth_file, tmp_path, capsys):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "x").write_text("x")
    _one_line_error(capsys, ["run", str(synth_file), "--out", str(tmp_path / "o")], "not empty")


def test_synth_command(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "s.npz"), "--neurons", "12", "--animals", "2", "--epochs", "2"]) == 0
    assert "wrote" in capsys.readouterr().out
    rec = load_recordings(tmp_path / "s.npz")
    assert isinstance(rec, Recordings) and (rec.n_animals, rec.n_neurons) == (2, 12)


@pytest.mark.slow
def test_bench_quick_prints_tables(capsys):
    assert main(["bench", "planted", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "| mu |" in out and "sbm_nmi" in out
    assert "| regime |" in out and "| low-SNR | 1 |" in out and "| within_corr |" in out and "baseline_ari" in out

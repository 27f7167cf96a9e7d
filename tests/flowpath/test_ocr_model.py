"""The int8 text recogniser: built from the wheel's model, cached, chosen by FLOWPATH_OCR_MODEL, with a fallback."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import flowpath.vision.ocr as ocr
import flowpath.vision.ocr_model as ocr_model
from flowpath.bench.images import cache_name
from flowpath.cli import main
from flowpath.errors import FlowpathError
from flowpath.vision.ocr_model import (
    ENV,
    RECIPE,
    calibration_lines,
    int8_model,
    ocr_precision,
    source_model,
    text_line_image,
)


@pytest.fixture
def fresh_recogniser():
    """The recogniser is loaded once per process; tests that change how it loads start and end without it."""
    ocr._fast_model_once.cache_clear()
    yield
    ocr._fast_model_once.cache_clear()


def test_precision_defaults_to_int8_and_reads_the_environment(monkeypatch):
    monkeypatch.delenv(ENV, raising=False)
    assert ocr_precision() == "int8"
    monkeypatch.setenv(ENV, " FP32 ")
    assert ocr_precision() == "fp32"
    monkeypatch.setenv(ENV, "fp16")
    with pytest.raises(FlowpathError, match="set it to int8 or fp32"):
        ocr_precision()


def test_parse_cache_names_keep_the_precisions_apart(monkeypatch, fresh_recogniser):
    monkeypatch.setenv(ENV, "int8")
    a = cache_name(b"chart")
    ocr._fast_model_once.cache_clear()  # the precision is decided once per process
    monkeypatch.setenv(ENV, "fp32")
    assert cache_name(b"chart") != a and a.endswith(".int8.json")


def test_calibration_lines_are_deterministic_and_vary():
    a, b = calibration_lines(8, seed=3), calibration_lines(8, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert len({x.shape for x in a}) > 1  # sizes vary
    assert any(x.mean() < 128 for x in a) and any(x.mean() > 128 for x in a)  # dark and light fills


@pytest.mark.slow
def test_int8_model_is_built_once_and_reads_like_the_original(ocr_cache):
    path = int8_model()
    assert path.parent == ocr_cache and f".int8-r{RECIPE}-ort" in path.name
    stamp = path.stat().st_mtime_ns
    assert int8_model() == path and path.stat().st_mtime_ns == stamp  # reused, not rebuilt

    from rapidocr import RapidOCR

    def engine(model):
        params = {"Global.use_det": False, "Global.use_cls": False, "Rec.rec_batch_num": 1}
        return RapidOCR(params={**params, "Rec.model_path": str(model)})

    lines = calibration_lines(12, seed=99)
    exact = engine(source_model()).recognize_txt(lines).txts
    fast = engine(path).recognize_txt(lines).txts
    assert sum(a == b for a, b in zip(exact, fast, strict=True)) >= 11
    assert all(t.strip() for t in fast)


def test_unwritable_cache_folder_says_where_and_what_to_do(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(FlowpathError, match="FLOWPATH_CACHE_DIR to a writable folder, or FLOWPATH_OCR_MODEL=fp32"):
        int8_model(folder=blocker / "cache")


def test_unwritable_cache_falls_back_end_to_end(tmp_path, monkeypatch, caplog, fresh_recogniser):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FLOWPATH_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setenv(ENV, "int8")
    with caplog.at_level(logging.WARNING, logger="flowpath.vision.ocr"):
        texts = ocr.read_lines(calibration_lines(3, seed=2))
    assert all(t for t, _ in texts) and "full-precision recogniser" in caplog.text
    assert ocr.recogniser_precision() == "fp32" and cache_name(b"chart").endswith(".fp32.json")


def test_failed_build_is_a_typed_error_and_leaves_no_build_folder(tmp_path, monkeypatch):
    def broken(source, tmp):
        (tmp / "partial.onnx").write_bytes(b"half")
        raise RuntimeError("quantiser exploded")

    monkeypatch.setattr(ocr_model, "_quantise", broken)
    with pytest.raises(FlowpathError, match=r"RuntimeError: quantiser exploded.*FLOWPATH_OCR_MODEL=fp32"):
        int8_model(folder=tmp_path)
    assert not list(tmp_path.glob(".build-*")) and not list(tmp_path.glob("*.onnx"))


@pytest.mark.slow
def test_a_damaged_cached_model_is_built_again(tmp_path, caplog):
    good = int8_model()
    damaged = tmp_path / good.name
    damaged.write_bytes(good.read_bytes()[:1000])
    with caplog.at_level(logging.WARNING, logger="flowpath.vision.ocr_model"):
        again = int8_model(folder=tmp_path)
    assert again == damaged and "cannot load" in caplog.text
    assert again.read_bytes() == good.read_bytes()  # the build is deterministic


def test_quiet_root_logger_restores_the_root_logger_even_after_an_error():
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    with pytest.raises(ValueError), ocr_model._quiet_root_logger():
        logging.info("advice nobody asked for")
        raise ValueError("boom")
    assert root.level == level and root.handlers == handlers


def test_recogniser_falls_back_to_the_wheel_model_with_a_warning(monkeypatch, caplog, fresh_recogniser):
    def broken():
        raise FlowpathError("cannot build the int8 recogniser: test")

    monkeypatch.setattr(ocr, "int8_model", broken)
    monkeypatch.setenv(ENV, "int8")
    lines = calibration_lines(4, seed=5)
    with caplog.at_level(logging.WARNING, logger="flowpath.vision.ocr"):
        texts = ocr.read_lines(lines)
    assert "full-precision recogniser" in caplog.text
    assert all(t for t, _ in texts)


def _label(text: str, *, dark: bool, size: int = 24) -> np.ndarray:
    """A padded crop of one edge label, like the parser's crops."""
    fill, ink = ((40, 60, 30), (240, 240, 240)) if dark else ((250, 235, 200), (20, 20, 20))
    return text_line_image(text, size=size, fill=fill, ink=ink)


@pytest.mark.parametrize("precision", ["int8", "fp32"])
def test_short_lines_read_side_by_side_keep_their_order_and_text(precision, monkeypatch, fresh_recogniser):
    monkeypatch.setenv(ENV, precision)
    words = ["Yes", "No", "OK", "Yes", "No", "Fail", "No", "Yes", "OK", "No", "Yes", "No"]
    crops = [_label(w, dark=i % 3 == 0, size=18 + 2 * i) for i, w in enumerate(words)]
    assert all(c.shape[1] < ocr.SHORT_LINE * c.shape[0] for c in crops)
    framed = sum(ocr._framed(c).shape[2] for c in crops)
    assert framed > 2 * ocr.STRIP_WIDTH  # three strips or more
    texts = [t for t, _ in ocr.read_packed(ocr._recogniser(ocr._fast_model()), crops)]
    assert texts == words


def test_read_lines_reads_long_lines_alone_short_ones_packed_in_input_order(monkeypatch):
    asked = []

    def alone(engine, crops):
        asked.append(("alone", len(crops)))
        return [(f"alone:{c.shape[1]}", 1.0) for c in crops]

    def packed(engine, crops):
        asked.append(("packed", len(crops)))
        return [(f"packed:{c.shape[1]}", 1.0) for c in crops]

    monkeypatch.setattr(ocr, "_recogniser", lambda model: None)
    monkeypatch.setattr(ocr, "_read_with", alone)
    monkeypatch.setattr(ocr, "read_packed", packed)
    crops = [np.zeros((20, w, 3), np.uint8) for w in (100, 30, 39, 40, 200)]
    texts = [t for t, _ in ocr.read_lines(crops)]
    assert texts == ["alone:100", "packed:30", "packed:39", "alone:40", "alone:200"]
    assert asked == [("alone", 3), ("packed", 2)]


def test_doubtful_short_lines_are_read_again_alone_and_the_surer_reading_wins(monkeypatch):
    again = []

    def packed(engine, crops):
        return [("Wo", 0.6), ("Yes", 0.99), ("No", 0.8)]

    def alone(engine, crops):
        again.append(len(crops))
        return [("No", 0.9), ("Na", 0.7)]

    monkeypatch.setattr(ocr, "_recogniser", lambda model: model)
    monkeypatch.setattr(ocr, "read_packed", packed)
    monkeypatch.setattr(ocr, "_read_with", alone)
    crops = [np.zeros((20, 30, 3), np.uint8)] * 3
    assert ocr._read_short("int8 engine", crops) == [("No", 0.9), ("Yes", 0.99), ("No", 0.8)]
    assert again == [2]


def test_a_failing_model_gives_empty_text_and_a_warning(caplog):
    class Broken:
        def _load_rec_model(self):
            raise RuntimeError("model gone")

    with caplog.at_level(logging.WARNING, logger="flowpath.vision.ocr"):
        assert ocr.read_packed(Broken(), [_label("No", dark=False)]) == [("", 0.0)]
    assert "model gone" in caplog.text


def test_fp32_does_not_touch_the_int8_model(monkeypatch, fresh_recogniser):
    def unexpected():
        raise AssertionError("the int8 model was asked for")

    monkeypatch.setattr(ocr, "int8_model", unexpected)
    monkeypatch.setenv(ENV, "fp32")
    assert ocr.read_lines(calibration_lines(2, seed=1))[0][0]


@pytest.mark.parametrize(
    "command",
    [["parse", "x.png"], ["eval-parse", "--data", "."], ["demo"], ["tools", "call", "load_graph", "--args", "{}"]],
)
def test_cli_refuses_an_unknown_precision_before_any_work(command, monkeypatch, capsys):
    monkeypatch.setenv(ENV, "int4")
    assert main(command) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "FLOWPATH_OCR_MODEL='int4'" in err

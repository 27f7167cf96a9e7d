"""Which weights the text recogniser runs: PP-OCR's recogniser from the rapidocr wheel, or an int8 copy of it.

The int8 copy has its convolutions and matrix products quantised: weights per output channel (in
7 bits, so that CPUs without VNNI instructions do not overflow their 16-bit sums),
activations with ranges measured on text lines rendered here with Pillow's built-in font (the mean
of the lines' minima and maxima, steadier than the extremes). On CPUs with int8 dot-product
instructions it reads a line in about half the time and reads the same text on almost every line
(lines about as short as an edge label stay on the wheel's model: see
:data:`flowpath.vision.ocr.SHORT_LINE`). It is built from the wheel's model on first use (about
10 s, nothing is downloaded) and kept in a cache folder, named by the source model's hash and
:data:`RECIPE`.

``FLOWPATH_OCR_MODEL`` picks the weights: ``int8`` (default) or ``fp32``. The cache folder is
``FLOWPATH_CACHE_DIR``, else ``$XDG_CACHE_HOME/flowpath``, else ``~/.cache/flowpath``. When the
int8 copy cannot be built or stored, the wheel's model is used and a warning says why.
"""

from __future__ import annotations

import contextlib
import logging
import math
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from flowpath.errors import FlowpathError
from flowpath.model_cache import build_errors, cache_folder, derived_model, env_choice

__all__ = [
    "ENV",
    "PRECISIONS",
    "RECIPE",
    "cache_folder",
    "calibration_lines",
    "int8_model",
    "model_input",
    "ocr_precision",
    "source_model",
    "text_line_image",
]

logger = logging.getLogger(__name__)

ENV = "FLOWPATH_OCR_MODEL"
PRECISIONS = ("int8", "fp32")
RECIPE = 2
"""Version of the quantisation recipe below; a change builds a new file instead of reusing the old."""
CALIBRATION_LINES = 128
LINE_HEIGHT = 48
"""The recogniser's input height; calibration lines are resized to it, as rapidocr does."""
CALIBRATION_WIDTH = 384
"""Calibration inputs are padded to this width (the recogniser's 320 and a little more), as rapidocr pads
lines; wider lines are squeezed."""
_WORDS = (
    "start end check input output process data if else yes no loop return value count total order user "
    "request send receive error valid invalid update record file open close read write calculate result "
    "display print set get add remove item list next step wait approve reject review submit payment "
    "customer system server login password temperature patient repair install measure"
)
"""Vocabulary of the calibration lines (the ranges depend on strokes and colours, not on words)."""
_SHORT = ("Yes", "No", "True", "False", "Y", "N", "OK", "Fail", "1", "0")


def ocr_precision() -> str:
    """The recogniser precision asked for by ``FLOWPATH_OCR_MODEL`` (``int8`` when unset).

    Examples
    --------
    >>> ocr_precision() in PRECISIONS
    True
    """
    return env_choice(ENV, PRECISIONS, "a recogniser precision")


def source_model() -> Path:
    """The recogniser model file inside the rapidocr wheel (the one rapidocr runs by default).

    Examples
    --------
    >>> source_model().suffix
    '.onnx'
    """
    import rapidocr
    from rapidocr.inference_engine.base import FileInfo, InferSession
    from rapidocr.utils.typings import EngineType, LangRec, ModelType, OCRVersion, TaskType

    info = InferSession.get_model_url(
        FileInfo(
            engine_type=EngineType.ONNXRUNTIME,
            ocr_version=OCRVersion.PPOCRV6,
            task_type=TaskType.REC,
            lang_type=LangRec.CH,
            model_type=ModelType.SMALL,
        )
    )
    path = Path(rapidocr.__file__).parent / "models" / Path(info["model_dir"]).name
    if not path.is_file():
        raise FlowpathError(f"the rapidocr wheel has no {path.name}: reinstall rapidocr==3.10.0")
    return path


def calibration_lines(n: int = CALIBRATION_LINES, *, seed: int = 0) -> list[np.ndarray]:
    """Images of one text line each, like the crops the parser reads, drawn with Pillow's font.

    Words, letter case, punctuation, font size (12-36 px) and colours (dark on light, light on dark)
    vary; a fifth are edge labels (Yes, No, ...); each line has the crop padding of
    :func:`flowpath.vision.ocr.line_crop`.

    Parameters
    ----------
    n : int
        How many lines.
    seed : int
        Seed of the random choices; the same seed draws the same lines.

    Returns
    -------
    list of numpy.ndarray
        ``n`` uint8 BGR images of different sizes.

    Examples
    --------
    >>> lines = calibration_lines(3)
    >>> len(lines), lines[0].ndim, lines[0].shape[2]
    (3, 3, 3)
    """
    rng = random.Random(seed)
    words = _WORDS.split()
    out = []
    for _ in range(n):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 5)))
        if rng.random() < 0.5:
            text = text.capitalize()
        if rng.random() < 0.3:
            text += rng.choice("?:.")
        if rng.random() < 0.2:
            text = f"'{rng.choice(words)}' = {rng.randint(0, 99)}"
        elif rng.random() < 0.2:  # edge labels
            text = rng.choice(_SHORT)
        size = rng.randint(12, 36)
        dark = rng.random() < 0.3
        fill = tuple(rng.randint(0, 90) if dark else rng.randint(170, 255) for _ in range(3))
        ink = tuple(rng.randint(200, 255) if dark else rng.randint(0, 80) for _ in range(3))
        out.append(text_line_image(text, size=size, fill=fill, ink=ink))
    return out


def text_line_image(text: str, *, size: int, fill: tuple[int, ...], ink: tuple[int, ...]) -> np.ndarray:
    """``text`` in ``ink`` on ``fill`` (RGB), Pillow's built-in font at ``size`` px, with the crop
    padding of :func:`flowpath.vision.ocr.line_crop`: a uint8 BGR image like the lines the parser reads.

    Examples
    --------
    >>> text_line_image("Yes", size=24, fill=(255, 255, 255), ink=(0, 0, 0)).shape[2]
    3
    """
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size)
    x1, y1, x2, y2 = (int(v) for v in font.getbbox(text))
    pad = max(4, (y2 - y1) // 4)
    im = Image.new("RGB", (x2 - x1 + 2 * pad, y2 - y1 + 2 * pad), fill)
    ImageDraw.Draw(im).text((pad - x1, pad - y1), text, fill=ink, font=font)
    return np.asarray(im)[:, :, ::-1].copy()


def model_input(line: np.ndarray, *, max_width: int | None = None) -> np.ndarray:
    """A uint8 BGR ``line`` as the recogniser reads it, as rapidocr prepares it: channels first,
    :data:`LINE_HEIGHT` high, as wide as its aspect ratio gives (at most ``max_width``), values in [-1, 1].

    Examples
    --------
    >>> model_input(np.zeros((24, 60, 3), np.uint8)).shape
    (3, 48, 120)
    >>> float(model_input(np.full((24, 60, 3), 255, np.uint8), max_width=100).max())
    1.0
    """
    import cv2

    h, w = line.shape[:2]
    width = max(1, math.ceil(LINE_HEIGHT * w / h))
    if max_width is not None:
        width = min(max_width, width)
    return cv2.resize(line, (width, LINE_HEIGHT)).astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0


def _calibration_input(line: np.ndarray) -> np.ndarray:
    """One line as a calibration batch (1, 3, 48, :data:`CALIBRATION_WIDTH`), padded as rapidocr pads."""
    x = model_input(line, max_width=CALIBRATION_WIDTH)
    out = np.zeros((1, 3, LINE_HEIGHT, CALIBRATION_WIDTH), np.float32)
    out[0, :, :, : x.shape[2]] = x
    return out


def int8_model(source: Path | None = None, folder: Path | None = None) -> Path:
    """The int8 copy of the recogniser ``source``, built in ``folder`` if it is not there yet.

    The file name holds a prefix of the source's SHA-256, :data:`RECIPE` and the onnxruntime
    version, so a new rapidocr model, recipe or runtime builds a new file; building, locking and
    replacing a damaged copy are :func:`flowpath.model_cache.built_model`'s.

    Parameters
    ----------
    source : Path, optional
        The full-precision ONNX recogniser (default: :func:`source_model`).
    folder : Path, optional
        Where built models are kept (default: :func:`cache_folder`).

    Returns
    -------
    Path
        The int8 model file.

    Raises
    ------
    FlowpathError
        When the copy cannot be built or written; the message says why and what to do.

    Examples
    --------
    >>> int8_model().name.startswith("PP-OCRv6_rec")  # doctest: +SKIP
    True
    """
    folder = folder or cache_folder()
    with build_errors(
        "the int8 text recogniser", folder, fallback=f"{ENV}=fp32", packages="onnx, onnxruntime, rapidocr"
    ):
        import onnxruntime

        source = source or source_model()
        name = f"{source.stem}.{{digest}}.int8-r{RECIPE}-ort{onnxruntime.__version__}.onnx"
        note = f"building the int8 text recogniser once (about 10 s) in {folder}; {ENV}=fp32 skips it"
        target = derived_model(source, name, lambda tmp: _quantise(source, tmp), folder=folder, note=note)
    logger.info("built the int8 text recogniser: %s", target)
    return target


def _quantise(source: Path, tmp: Path) -> Path:
    """Quantise ``source`` in ``tmp`` and return the result's path (opset 17, QDQ, per-channel weights)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(source)
    # per-channel scales need DequantizeLinear's axis (opset 13+); the character list rides in the metadata
    onnx.save(version_converter.convert_version(model, 17), tmp / "opset17.onnx")
    with _quiet_root_logger():
        quant_pre_process(str(tmp / "opset17.onnx"), str(tmp / "prepared.onnx"), skip_symbolic_shape=True)
        inputs = iter([{model.graph.input[0].name: _calibration_input(line)} for line in calibration_lines()])

        class Lines(CalibrationDataReader):
            def get_next(self) -> dict | None:
                return next(inputs, None)

        quantize_static(
            str(tmp / "prepared.onnx"),
            str(tmp / "int8.onnx"),
            Lines(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            # 7-bit weights: CPUs without VNNI add int8 products in 16 bits, which full-range weights overflow
            reduce_range=True,
            op_types_to_quantize=["Conv", "MatMul"],
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            # one batch of lines, averaged: each range is the mean of the lines' minima and maxima
            extra_options={"CalibMovingAverage": True},
        )
    return tmp / "int8.onnx"


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantisation tools log advice through the root logger; keep it out of the user's
    output. A root logger without handlers gets a null one meanwhile, so that their ``logging.info``
    calls do not install a stderr handler for good."""
    root = logging.getLogger()
    level, handler = root.level, None
    if not root.handlers:
        handler = logging.NullHandler()
        root.addHandler(handler)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)
        if handler is not None:
            root.removeHandler(handler)

"""Text lines inside shapes and label boxes, read with rapidocr's PP-OCR recogniser (ONNX, inside the wheel).

Text is located with plain image processing (pixels that differ from the shape's fill colour,
grouped into rows), and each line is read at full resolution by the recognition model alone, and
short lines side by side; rapidocr's detector is not needed. The recogniser loads once per
process, on first use: an int8 copy of the model (see :mod:`flowpath.vision.ocr_model`), or the
wheel's model with ``FLOWPATH_OCR_MODEL=fp32``.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from typing import Any

import cv2
import numpy as np

from flowpath.errors import FlowpathError
from flowpath.vision.image import colour_distance, masked_median
from flowpath.vision.ocr_model import LINE_HEIGHT, int8_model, model_input, ocr_precision

__all__ = [
    "border_margin",
    "erode",
    "ink_threshold",
    "join_lines",
    "line_crop",
    "read_lines",
    "recogniser_precision",
    "text_lines",
]

logger = logging.getLogger(__name__)

TEXT_CONTRAST = 60
"""Minimum channel difference between a text pixel and the fill colour around it."""
LOW_CONTRAST = 8
"""Where text does not reach :data:`TEXT_CONTRAST` (dark text on a dark fill), text pixels are those
at least half as far from the fill as the strongest ones, provided those reach twice this."""


SHORT_LINE = 2.0
"""Crops narrower than this many times their height (edge labels such as Yes/No) are read side by
side in strips (see :func:`read_packed`) rather than one by one: alone, such a line fills a small
part of the model's input, which is padded to :data:`MIN_INPUT_WIDTH`; the padding costs as much
as text, and the int8 copy of the model reads stray characters into it ("No0", "Yes/")."""

MIN_INPUT_WIDTH = 320
"""Narrowest input the recogniser is given (rapidocr pads each line to it with grey)."""
STRIP_WIDTH = 640
"""Widest strip of short lines read in one call (input pixels); the model's cost grows with width."""
STRIP_GAP = 32
"""Blank input pixels between two lines of a strip, in each line's own background colour."""
RECHECK_SCORE = 0.85
"""A short line read in a strip with less confidence than this is read again alone by the
full-precision model, and the more confident reading is kept (about one short line in twenty:
neighbours in a strip can sway a faint or crossed-out label, "No" read as "Wo")."""


@functools.cache
def _recogniser(model: str | None = None) -> Any:
    """A rapidocr engine for the recogniser file ``model`` (None: the wheel's), detection and angle
    classification switched off; each is loaded once per process."""
    from rapidocr import RapidOCR

    logging.getLogger("RapidOCR").setLevel(logging.WARNING)
    params: dict[str, Any] = {
        "Global.use_det": False,
        "Global.use_cls": False,
        "Global.log_level": "warning",
        "EngineConfig.onnxruntime.intra_op_num_threads": 1,
        "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        "Rec.rec_batch_num": 1,
    }
    if model is not None:
        params["Rec.model_path"] = model
    return RapidOCR(params=params)


_FAST_MODEL_LOCK = threading.Lock()


def _fast_model() -> str | None:
    """The int8 recogniser's file when ``FLOWPATH_OCR_MODEL`` asks for it and it can be built, else None
    (with a warning saying why); decided once per process."""
    with _FAST_MODEL_LOCK:
        return _fast_model_once()


@functools.cache
def _fast_model_once() -> str | None:
    if ocr_precision() != "int8":
        return None
    try:
        return str(int8_model())
    except FlowpathError as e:
        logger.warning("%s; reading text with the full-precision recogniser instead", e)
        return None


def recogniser_precision() -> str:
    """The recogniser precision this process reads long lines with: ``int8``, or ``fp32`` when that
    is asked for or the int8 copy could not be built (which this call may do, once).

    Examples
    --------
    >>> recogniser_precision() in ("int8", "fp32")  # doctest: +SKIP
    True
    """
    return "int8" if _fast_model() else "fp32"


def text_lines(
    img: np.ndarray, mask: np.ndarray, origin: tuple[int, int], *, stroke: int, border: bool = True
) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
    """Boxes (x1, y1, x2, y2, image pixels) of the text lines inside ``mask`` and the fill colour there.

    ``mask`` is a boolean array placed at ``origin`` (x, y) in ``img``; the border of the shape is
    ignored by eroding the mask by a few strokes (by one pixel only when ``border`` is False, for
    label boxes that have no border and text close to their edges).
    """
    x0, y0 = origin
    h, w = mask.shape
    crop = img[y0 : y0 + h, x0 : x0 + w]
    inner = erode(mask, border_margin(stroke) if border else 3)
    if inner.sum() < 16:
        return [], np.array([255, 255, 255])
    fill = masked_median(crop, inner)
    if border:
        depth = _border_depth(crop, mask, fill)
        if depth > stroke:  # an outline thicker than the chart's lines (a theme's node border)
            inner = erode(mask, 2 * depth + 3)
            if inner.sum() < 16:
                return [], np.array([255, 255, 255])
            fill = masked_median(crop, inner)
    diff = colour_distance(crop, fill)
    ink = (diff > ink_threshold(diff[inner])) & inner
    if border:
        ink = _drop_edge_marks(ink, inner & ~erode(inner, 3))
    rows = ink.sum(axis=1)
    on = rows > 0
    boxes: list[tuple[int, int, int, int]] = []
    y = 0
    while y < h:
        if not on[y]:
            y += 1
            continue
        start = y
        while y < h and on[y]:
            y += 1
        band = ink[start:y]
        cols = np.flatnonzero(band.any(axis=0))
        if band.sum() >= 6:
            boxes.append((x0 + int(cols.min()), y0 + start, x0 + int(cols.max()) + 1, y0 + y))
    return _merge_small_bands(boxes), fill


def border_margin(stroke: int) -> int:
    """Width of the disc a shape's mask is eroded by to leave its border out of the text (pixels).

    Examples
    --------
    >>> border_margin(1), border_margin(4)
    (3, 9)
    """
    return max(3, 2 * stroke + 1)


MAX_BORDER = 12
"""Deepest outline looked for, in pixels from a shape's edge."""


def _border_depth(crop: np.ndarray, mask: np.ndarray, fill: np.ndarray) -> int:
    """How many pixels deep from the edge of ``mask`` the shape's outline reaches: the rings of pixels
    at each distance from the edge, taken while most of each differs from the ``fill`` by
    :data:`TEXT_CONTRAST`/2 or more."""
    dist = cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
    unlike = colour_distance(crop, fill) > TEXT_CONTRAST / 2
    depth = 0
    for d in range(1, MAX_BORDER + 1):
        ring = (dist > d - 1) & (dist <= d)
        if not ring.any() or unlike[ring].mean() < 0.5:
            break
        depth = d
    return depth


def ink_threshold(diff: np.ndarray) -> float:
    """The channel difference from the fill above which a pixel is text, for the differences inside a shape.

    :data:`TEXT_CONTRAST` when text reaches it (at least 0.2 % of the pixels: an arrow tip poking
    into the shape is fewer); for low-contrast styles half the strongest difference (its 99.5th
    percentile), never below :data:`LOW_CONTRAST`.

    Examples
    --------
    >>> ink_threshold(np.r_[np.zeros(900), np.full(100, 200)])  # black text on white
    60
    >>> ink_threshold(np.r_[np.zeros(900), np.full(100, 40)])  # dark green text on dark green
    20.0
    >>> ink_threshold(np.r_[np.zeros(990), np.full(10, 12)])  # a plain fill with faint noise
    60
    """
    if diff.size == 0 or (diff > TEXT_CONTRAST).mean() >= 0.002:
        return TEXT_CONTRAST
    strong = float(np.percentile(diff, 99.5))
    return max(LOW_CONTRAST, 0.5 * strong) if strong >= 2 * LOW_CONTRAST else TEXT_CONTRAST


def _drop_edge_marks(ink: np.ndarray, edge: np.ndarray) -> np.ndarray:
    """``ink`` without the marks that touch ``edge`` (inner borders, shadows, arrow tips poking through the
    border), unless that would remove most of it (text cut off at the border of its shape)."""
    n, lab = cv2.connectedComponents(ink.astype(np.uint8), connectivity=8)
    if n <= 1:
        return ink
    touching = np.unique(lab[edge & ink])
    touching = touching[touching > 0]
    if touching.size == 0:
        return ink
    out = ink & ~np.isin(lab, touching)
    return out if out.sum() >= 0.5 * ink.sum() else ink


def erode(mask: np.ndarray, size: int) -> np.ndarray:
    """``mask`` eroded by a ``size``-wide disc, treating everything outside the array as empty."""
    padded = np.pad(mask.astype(np.uint8), size)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    return cv2.erode(padded, kernel)[size:-size, size:-size] > 0


def _merge_small_bands(boxes: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Join bands much thinner than a text line (dots, underscores, accents) to their nearest neighbour."""
    if len(boxes) < 2:
        return boxes
    typical = float(np.median([b[3] - b[1] for b in boxes]))
    out = list(boxes)
    changed = True
    while changed and len(out) > 1:
        changed = False
        for i, b in enumerate(out):
            if b[3] - b[1] >= 0.45 * typical:
                continue
            j = i - 1 if i == len(out) - 1 or (i > 0 and b[1] - out[i - 1][3] < out[i + 1][1] - b[3]) else i + 1
            o = out[j]
            out[min(i, j)] = (min(b[0], o[0]), min(b[1], o[1]), max(b[2], o[2]), max(b[3], o[3]))
            del out[max(i, j)]
            changed = True
            break
    return out


def line_crop(img: np.ndarray, box: tuple[int, int, int, int], fill: np.ndarray, clip: np.ndarray | None) -> np.ndarray:
    """A padded crop of one text line; pixels outside ``clip`` (a mask of the same size, or None) become fill."""
    x1, y1, x2, y2 = box
    pad = max(4, (y2 - y1) // 4)
    H, W = img.shape[:2]
    cx1, cy1, cx2, cy2 = max(0, x1 - pad), max(0, y1 - pad), min(W, x2 + pad), min(H, y2 + pad)
    crop = img[cy1:cy2, cx1:cx2].copy()
    if clip is not None:
        crop[~clip[cy1:cy2, cx1:cx2]] = fill.astype(np.uint8)
    return crop


def read_lines(crops: list[np.ndarray]) -> list[tuple[str, float]]:
    """Recognised text and confidence of each line crop (empty text for unreadable ones).

    Lines at least :data:`SHORT_LINE` times as wide as high are read one by one, shorter ones side
    by side in strips (:func:`read_packed`); both with the int8 recogniser when it is in use. Short
    lines read with little confidence are checked alone with the full-precision model.
    """
    if not crops:
        return []
    engine = _recogniser(_fast_model())
    short = [c.shape[1] < SHORT_LINE * c.shape[0] for c in crops]
    out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    for packed in (False, True):
        idx = [i for i, s in enumerate(short) if s == packed]
        if not idx:
            continue
        group = [crops[i] for i in idx]
        for i, res in zip(idx, _read_short(engine, group) if packed else _read_with(engine, group), strict=True):
            out[i] = res
    return out


def _read_short(engine: Any, crops: list[np.ndarray]) -> list[tuple[str, float]]:
    """:func:`read_packed`, then the lines read with less than :data:`RECHECK_SCORE` confidence read
    again alone by the full-precision model; the more confident of the two readings is kept."""
    out = read_packed(engine, crops)
    doubtful = [k for k, (_t, score) in enumerate(out) if score < RECHECK_SCORE]
    if doubtful:
        again = _read_with(_recogniser(None), [crops[k] for k in doubtful])
        for k, res in zip(doubtful, again, strict=True):
            out[k] = max(out[k], res, key=lambda r: r[1])
    return out


def read_packed(engine: Any, crops: list[np.ndarray]) -> list[tuple[str, float]]:
    """Text and confidence of each crop, read side by side in strips of at most :data:`STRIP_WIDTH`.

    Each crop is scaled to the model's input height and framed by :data:`STRIP_GAP` columns of its
    own background colour (the median of its border pixels); a strip narrower than
    :data:`MIN_INPUT_WIDTH` is padded as rapidocr pads a line. The model emits one character column
    per few input columns; each crop gets the columns whose centres fall in its frame, decoded as
    rapidocr decodes a line. Reading short lines this way costs a fraction of reading them alone.
    """
    try:
        rec = engine._load_rec_model()  # rapidocr's recogniser: its ONNX session and CTC decoder
        frames = [_framed(c) for c in crops]
        out: list[tuple[str, float]] = []
        for strip in _strips([f.shape[2] for f in frames]):
            img = np.concatenate([frames[i] for i in strip], axis=2)
            if img.shape[2] < MIN_INPUT_WIDTH:
                img = np.pad(img, ((0, 0), (0, 0), (0, MIN_INPUT_WIDTH - img.shape[2])))
            preds = rec.session(img[None])
            centres = (np.arange(preds.shape[1]) + 0.5) * img.shape[2] / preds.shape[1]
            left = 0
            for i in strip:
                right = left + frames[i].shape[2]
                lines, _words = rec.postprocess_op(preds[:, (centres >= left) & (centres < right)])
                text, score = lines[0]
                out.append((text.strip(), float(score)))
                left = right
        return out
    except Exception as e:  # the model failing on odd input must not lose the chart
        logger.warning("text recognition failed on %d short lines: %s", len(crops), e)
        return [("", 0.0)] * len(crops)


def _framed(crop: np.ndarray) -> np.ndarray:
    """``crop`` as the recogniser's input (:func:`~flowpath.vision.ocr_model.model_input`) with
    :data:`STRIP_GAP` / 2 columns of its border colour on each side."""
    border = np.concatenate([crop[0], crop[-1], crop[:, 0], crop[:, -1]])
    colour = (np.median(border, axis=0) / 127.5 - 1.0).astype(np.float32)
    side = np.broadcast_to(colour[:, None, None], (3, LINE_HEIGHT, STRIP_GAP // 2))
    return np.concatenate([side, model_input(crop), side], axis=2)


def _strips(widths: list[int]) -> list[list[int]]:
    """Consecutive runs of indices whose widths add up to at most :data:`STRIP_WIDTH` (a wider one alone).

    Examples
    --------
    >>> _strips([300, 300, 100, 700, 50])
    [[0, 1], [2], [3], [4]]
    """
    strips: list[list[int]] = []
    used = STRIP_WIDTH
    for i, w in enumerate(widths):
        if used + w > STRIP_WIDTH:
            strips.append([])
            used = 0
        strips[-1].append(i)
        used += w
    return strips


def _read_with(engine: Any, crops: list[np.ndarray]) -> list[tuple[str, float]]:
    try:
        res = engine.recognize_txt(crops)
    except Exception as e:  # rapidocr raises its own error class on empty results
        logger.warning("text recognition failed on %d lines: %s", len(crops), e)
        return [("", 0.0)] * len(crops)
    txts = res.txts or ("",) * len(crops)
    scores = res.scores or (0.0,) * len(crops)
    return [(t.strip(), float(sc)) for t, sc in zip(txts, scores, strict=True)]


def join_lines(lines: list[str]) -> str:
    """Join wrapped lines into one label: words get a space, a trailing hyphen glues the next line on.

    Examples
    --------
    >>> join_lines(["Maintain emotional well-", "being"])
    'Maintain emotional well-being'
    >>> join_lines(["Use conflict", "", "resolution"])
    'Use conflict resolution'
    """
    text = ""
    for line in (ln.strip() for ln in lines):
        if not line:
            continue
        text = line if not text else (text + line if text.endswith("-") else f"{text} {line}")
    return re.sub(r"\s+", " ", text)

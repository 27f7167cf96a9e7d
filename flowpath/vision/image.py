"""Reading flowchart images into BGR arrays, with clear errors for everything that is not one."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from flowpath.errors import ImageError

__all__ = ["MAX_PIXELS", "colour_distance", "load_image", "masked_median", "near_colour", "relative_luminance"]

MAX_PIXELS = 40_000_000
"""Largest image accepted (width × height); FlowExplainBench charts reach about 7 million."""

_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"RIFF", b"BM", b"GIF8", b"II*\x00", b"MM\x00*")


def load_image(image: str | os.PathLike[str] | np.ndarray, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A flowchart image as a ``uint8`` BGR array of shape ``(height, width, 3)``.

    Transparent pixels are composited on white; grey images are expanded to three channels.

    Parameters
    ----------
    image : path or numpy array
        A PNG/JPEG/WebP/BMP file, or an array of shape ``(H, W)``, ``(H, W, 3)`` (BGR) or ``(H, W, 4)`` (BGRA).
    max_pixels : int
        Refuse images with more pixels than this (default :data:`MAX_PIXELS`).

    Raises
    ------
    ImageError
        If the file is missing, empty, truncated or not an image, or the image is too large or too small.

    Examples
    --------
    >>> load_image(np.zeros((20, 30), np.uint8)).shape
    (20, 30, 3)
    """
    if isinstance(image, np.ndarray):
        arr = _checked_array(image)
        _check_size(arr.shape[1], arr.shape[0], max_pixels, "array")
        return _to_bgr(arr)
    path = Path(image)
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if not path.is_file():
        raise ImageError(f"{path}: not a file")
    data = path.read_bytes()
    if not data:
        raise ImageError(f"{path}: empty file (0 bytes); expected a PNG, JPEG, WebP or BMP image")
    if not data.startswith(_MAGIC):
        raise ImageError(f"{path}: not an image (unknown file signature); expected a PNG, JPEG, WebP or BMP image")
    width, height = _header_size(data)
    if width and height:
        _check_size(width, height, max_pixels, str(path))
    buf = np.frombuffer(data, np.uint8)
    arr = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if arr is None or not _complete(data):
        raise ImageError(f"{path}: truncated or corrupt image data")
    arr = _checked_array(arr)
    _check_size(arr.shape[1], arr.shape[0], max_pixels, str(path))
    return _to_bgr(arr)


def _checked_array(arr: np.ndarray) -> np.ndarray:
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ImageError(f"image array has shape {arr.shape}; expected (H, W), (H, W, 3) or (H, W, 4)")
    if arr.dtype == np.uint16:
        arr = (arr >> 8).astype(np.uint8)
    elif arr.dtype != np.uint8:
        if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
            raise ImageError(f"image array has dtype {arr.dtype}; expected uint8, uint16 or finite floats in [0, 1]")
        arr = np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return arr


def _check_size(width: int, height: int, max_pixels: int, name: str) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: image of {width}×{height} = {width * height:,} pixels is over the limit of {max_pixels:,}"
        )
    if min(width, height) < 16:
        raise ImageError(f"{name}: image of {width}×{height} pixels is too small to hold a flowchart (min 16×16)")


def _to_bgr(arr: np.ndarray) -> np.ndarray:
    if arr.ndim == 2 or arr.shape[2] == 1:
        return cv2.cvtColor(arr.reshape(arr.shape[:2]), cv2.COLOR_GRAY2BGR)
    if arr.shape[2] == 4:
        alpha = arr[:, :, 3]
        if alpha.min() == 255:
            return np.ascontiguousarray(arr[:, :, :3])
        # on white: c·a/255 + 255·(1 − a/255) = round(c·a/255) + (255 − a), in 8-bit arithmetic
        b, g, r, a = cv2.split(arr)
        inv = cv2.bitwise_not(a)
        return cv2.merge([cv2.add(cv2.multiply(c, a, scale=1 / 255), inv) for c in (b, g, r)])
    return np.ascontiguousarray(arr)


def masked_median(img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Per-channel median of the pixels of a ``uint8`` BGR ``img`` where ``mask`` is set.

    The same values as ``np.median(img[mask], axis=0)`` (the mean of the two middle values for an
    even count), from 256-bin histograms instead of a sort.

    Examples
    --------
    >>> img = np.array([[[10, 0, 5], [20, 0, 6]], [[30, 9, 7], [99, 9, 8]]], np.uint8)
    >>> mask = np.array([[True, True], [True, False]])
    >>> masked_median(img, mask).tolist()
    [20.0, 0.0, 6.0]
    >>> masked_median(img, np.ones((2, 2), bool)).tolist()
    [25.0, 4.5, 6.5]
    """
    m = mask.astype(np.uint8)
    n = int(cv2.countNonZero(m))
    if n == 0:
        raise ValueError("masked_median of an empty mask")
    out = np.empty(3)
    for c in range(3):
        cum = np.cumsum(cv2.calcHist([img], [c], m, [256], [0, 256]).ravel())
        lo = int(np.searchsorted(cum, (n - 1) // 2, side="right"))
        hi = int(np.searchsorted(cum, n // 2, side="right"))
        out[c] = (lo + hi) / 2
    return out


def near_colour(img: np.ndarray, colour: np.ndarray, tol: float) -> np.ndarray:
    """``uint8`` 0/1 mask of the pixels of a ``uint8`` BGR ``img`` within ``tol`` of ``colour`` in every
    channel (strictly: ``max |pixel - colour| < tol``); ``colour`` may be fractional.

    Examples
    --------
    >>> img = np.array([[[100, 100, 100], [139, 100, 61], [140, 100, 100]]], np.uint8)
    >>> near_colour(img, np.array([100.0, 100.0, 100.0]), 40).tolist()
    [[1, 1, 0]]
    """
    c = np.asarray(colour, float)
    lower = np.clip(np.floor(c - tol) + 1, 0, 255)
    upper = np.clip(np.ceil(c + tol) - 1, 0, 255)
    return cv2.inRange(img, tuple(lower.tolist()), tuple(upper.tolist())) & 1


def colour_distance(img: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """``uint8`` map of ``max over channels |pixel - colour|`` for a ``uint8`` BGR ``img`` (a fractional
    ``colour`` is truncated to integers first).

    Examples
    --------
    >>> img = np.array([[[0, 10, 250], [5, 5, 5]]], np.uint8)
    >>> colour_distance(img, np.array([5, 5, 5])).tolist()
    [[245, 0]]
    """
    diff = cv2.absdiff(img, (*(float(v) for v in np.asarray(colour).astype(np.uint8)), 0.0))
    b, g, r = cv2.split(diff)
    return cv2.max(cv2.max(b, g), r)


def _header_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG header (checked before decoding, so huge images fail fast); else zeros."""
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return 0, 0


def _complete(data: bytes) -> bool:
    """Whether the file ends as its format requires (decoders fill truncated images with grey silently)."""
    if data.startswith(b"\x89PNG"):
        return b"IEND" in data[-32:]
    if data.startswith(b"\xff\xd8\xff"):
        return data.rstrip(b"\x00").endswith(b"\xff\xd9")
    return True


def relative_luminance(colour) -> float:
    """WCAG 2 relative luminance of a BGR colour (three values 0-255): 0 black … 1 white.

    Examples
    --------
    >>> relative_luminance((255, 255, 255)), relative_luminance((0, 0, 0))
    (1.0, 0.0)
    >>> round(relative_luminance((0, 0, 255)), 4)  # pure red
    0.2126
    """
    b, g, r = (_linear(float(v) / 255) for v in colour)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def _linear(c: float) -> float:
    """An sRGB channel value in [0, 1], linearised."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

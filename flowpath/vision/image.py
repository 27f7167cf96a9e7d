"""Reading flowchart images into BGR arrays, with clear errors for everything that is not one."""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from flowpath.errors import ImageError

__all__ = [
    "MAX_PIXELS",
    "MAX_SIDE",
    "colour_distance",
    "load_image",
    "masked_median",
    "near_colour",
    "relative_luminance",
]

logger = logging.getLogger(__name__)

MAX_PIXELS = 40_000_000
"""Largest image accepted (width × height); FlowExplainBench charts reach about 7 million."""
MAX_SIDE = 1 << 20
"""Longest side accepted, in pixels: OpenCV's decoders refuse a side over ``CV_IO_MAX_IMAGE_WIDTH`` /
``CV_IO_MAX_IMAGE_HEIGHT`` (2^20) with an exception, even within :data:`MAX_PIXELS` (16 × 2,000,000)."""

_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"RIFF", b"BM", b"GIF8", b"II*\x00", b"MM\x00*")
_FORMATS = "a PNG, JPEG, WebP, BMP, GIF or TIFF image"
_BYTES_PER_PIXEL = 8
"""Most bytes one pixel can take in an uncompressed file (16-bit RGBA): a file larger than
``max_pixels`` pixels of this (plus :data:`_SLACK` of metadata) is refused before it is read."""
_SLACK = 16 << 20


def load_image(image: str | os.PathLike[str] | np.ndarray, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """A flowchart image as a ``uint8`` BGR array of shape ``(height, width, 3)``.

    Transparent pixels are composited on white; grey images are expanded to three channels.

    Parameters
    ----------
    image : path or numpy array
        A PNG/JPEG/WebP/BMP/GIF/TIFF file (an animation's first frame, a TIFF's first page), or an array
        of shape ``(H, W)``, ``(H, W, 3)`` (BGR) or ``(H, W, 4)`` (BGRA).
    max_pixels : int
        Refuse images with more pixels than this (default :data:`MAX_PIXELS`), from the size the file's
        header declares, before anything is decoded; every page of a TIFF counts.

    Raises
    ------
    ImageError
        If the file is missing, empty, truncated or not an image, its header is unreadable, or the image
        is too large (over ``max_pixels``, or a side over :data:`MAX_SIDE`) or too small.

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
    size = path.stat().st_size
    if size > max_pixels * _BYTES_PER_PIXEL + _SLACK:
        raise ImageError(
            f"{path}: file of {size:,} bytes is larger than any image within the limit of {max_pixels:,} pixels"
        )
    data = path.read_bytes()
    if not data:
        raise ImageError(f"{path}: empty file (0 bytes); expected {_FORMATS}")
    if not data.startswith(_MAGIC) or (data.startswith(b"RIFF") and data[8:12] != b"WEBP"):
        raise ImageError(f"{path}: not an image (unknown file signature); expected {_FORMATS}")
    try:
        frames = _frame_sizes(data)
    except ValueError as e:
        raise ImageError(f"{path}: truncated or corrupt image header ({e})") from None
    for width, height in frames:  # before any decoding: a small file can declare a huge image
        _check_pixels(width, height, max_pixels, str(path))
    _check_size(*frames[0], max_pixels, str(path))
    with _native_stderr_to_log():  # libjpeg/libpng/OpenCV print their complaints straight to stderr
        try:
            arr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        except cv2.error as e:  # a decoder's own check failed (its message is OpenCV's source location)
            logger.debug("imdecode refused %s: %s", path, e)
            arr = None
    if arr is None or not _complete(data):
        raise ImageError(f"{path}: truncated or corrupt image data")
    arr = _checked_array(arr)
    _check_size(arr.shape[1], arr.shape[0], max_pixels, str(path))
    return _to_bgr(arr)


_STDERR_LOCK = threading.Lock()


@contextlib.contextmanager
def _native_stderr_to_log() -> Iterator[None]:
    """Send what native code writes to file descriptor 2 meanwhile to the debug log instead of the terminal.

    The decoders inside OpenCV print warnings ("Corrupt JPEG data: ...", "libpng error: ...",
    "[ERROR:0@...] imdecode_ ...") with ``fprintf(stderr)``, beyond the reach of Python's logging;
    a CLI error must stay one line. Where descriptor 2 cannot be redirected, nothing changes.
    """
    with _STDERR_LOCK, tempfile.TemporaryFile() as sink:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            saved = None
        if saved is None:
            yield
            return
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            noise = sink.read(4096).decode("utf-8", "replace").strip()
            if noise:
                logger.debug("image decoder said: %s", noise)


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


def _check_pixels(width: int, height: int, max_pixels: int, name: str) -> None:
    if width * height > max_pixels:
        raise ImageError(
            f"{name}: image of {width}×{height} = {width * height:,} pixels is over the limit of {max_pixels:,}"
        )
    if max(width, height) > MAX_SIDE:
        raise ImageError(f"{name}: image of {width}×{height} pixels has a side over the limit of {MAX_SIDE:,}")


def _check_size(width: int, height: int, max_pixels: int, name: str) -> None:
    _check_pixels(width, height, max_pixels, name)
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


def _frame_sizes(data: bytes) -> list[tuple[int, int]]:
    """``(width, height)`` of every frame an image file declares, from its headers alone (nothing is decoded).

    One frame for PNG, JPEG, BMP and WebP (the canvas of an animation); the logical screen of a GIF, which
    bounds every frame (OpenCV refuses a frame outside it), then the extent of its first frame; every page
    of a TIFF, the first first.

    Raises
    ------
    ValueError
        If the header is cut short or breaks its format.

    Examples
    --------
    >>> _frame_sizes(b"\\x89PNG\\r\\n\\x1a\\n" + (13).to_bytes(4, "big") + b"IHDR" + struct.pack(">II", 640, 480))
    [(640, 480)]
    >>> _frame_sizes(b"GIF89a" + struct.pack("<HH", 60_000, 9))
    Traceback (most recent call last):
    ...
    ValueError: GIF header cut short
    """
    if data.startswith(b"\x89PNG"):
        if len(data) < 24 or data[12:16] != b"IHDR":
            raise ValueError("PNG without an IHDR chunk")
        return [struct.unpack(">II", data[16:24])]
    if data.startswith(b"\xff\xd8\xff"):
        return [_jpeg_size(data)]
    if data.startswith(b"BM"):
        return [_bmp_size(data)]
    if data.startswith(b"GIF8"):
        return _gif_sizes(data)
    if data.startswith(b"RIFF"):
        return [_webp_size(data)]
    if data.startswith((b"II*\x00", b"MM\x00*")):
        return _tiff_sizes(data)
    raise ValueError("unknown file signature")


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
"""Start-of-frame markers (baseline, progressive, lossless, arithmetic); C4, C8 and CC are other tables."""


_MAX_HEADER_STEPS = 100_000
"""Most segments, blocks or directory entries read before a frame's size: real files need a few dozen, and a
file made of millions of empty ones would otherwise keep the header reader busy for minutes."""


def _jpeg_size(data: bytes) -> tuple[int, int]:
    pos = 2
    for _ in range(_MAX_HEADER_STEPS):
        if pos + 4 > len(data):
            break
        if data[pos] != 0xFF:
            raise ValueError(f"JPEG marker expected at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no frame header came first
            break
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                break
            height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return width, height
        pos += 2 + length
    raise ValueError("JPEG without a frame header")


def _bmp_size(data: bytes) -> tuple[int, int]:
    if len(data) < 26:
        raise ValueError("BMP header cut short")
    (info,) = struct.unpack("<I", data[14:18])
    if info == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        return struct.unpack("<HH", data[18:22])
    width, height = struct.unpack("<ii", data[18:26])
    if info < 16 or width < 0:
        raise ValueError(f"BMP with info header size {info} and width {width}")
    return width, abs(height)  # a negative height stores the rows top-down


def _gif_sizes(data: bytes) -> list[tuple[int, int]]:
    if len(data) < 13:
        raise ValueError("GIF header cut short")
    width, height, flags = struct.unpack("<HHB", data[6:11])
    sizes = [(width, height)]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    steps = 0
    while pos < len(data) and steps < _MAX_HEADER_STEPS:
        block = data[pos]
        steps += 1
        if block == 0x2C:  # image descriptor: left, top, width, height
            if pos + 9 > len(data):
                break
            left, top, w, h = struct.unpack("<HHHH", data[pos + 1 : pos + 9])
            sizes.append((left + w, top + h))
            return sizes
        if block != 0x21 or pos + 2 > len(data):  # only extensions may come before the first frame
            break
        pos += 2
        while pos < len(data) and data[pos] and steps < _MAX_HEADER_STEPS:  # sub-blocks: length, data; 0 ends
            pos += 1 + data[pos]
            steps += 1
        pos += 1
    raise ValueError("GIF without an image descriptor")


def _webp_size(data: bytes) -> tuple[int, int]:
    if len(data) < 30:
        raise ValueError("WebP header cut short")
    chunk, body = data[12:16], data[20:30]
    if chunk == b"VP8 ":  # lossy: 14-bit sizes after the frame tag and start code
        if body[3:6] != b"\x9d\x01\x2a":
            raise ValueError("WebP VP8 chunk without a start code")
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":  # lossless: signature byte, then 14-bit width - 1 and height - 1
        if body[0] != 0x2F:
            raise ValueError("WebP VP8L chunk without its signature")
        (bits,) = struct.unpack("<I", body[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":  # extended (alpha, animation): 24-bit canvas width - 1 and height - 1
        return int.from_bytes(body[4:7], "little") + 1, int.from_bytes(body[7:10], "little") + 1
    raise ValueError(f"WebP with an unknown first chunk {chunk!r}")


_TIFF_MAX_PAGES = 10_000


def _tiff_sizes(data: bytes) -> list[tuple[int, int]]:
    order = "<" if data.startswith(b"II") else ">"
    sizes: list[tuple[int, int]] = []
    seen: set[int] = set()
    (offset,) = struct.unpack(order + "I", data[4:8]) if len(data) >= 8 else (0,)
    entries = 0
    while offset and len(sizes) < _TIFF_MAX_PAGES:
        if offset in seen or offset + 2 > len(data):
            raise ValueError(f"TIFF directory at byte {offset} is {'a loop' if offset in seen else 'past the end'}")
        seen.add(offset)
        (count,) = struct.unpack(order + "H", data[offset : offset + 2])
        end = offset + 2 + 12 * count
        if end + 4 > len(data):
            raise ValueError(f"TIFF directory at byte {offset} cut short")
        entries += count
        if entries > _MAX_HEADER_STEPS:
            raise ValueError(f"TIFF directories of more than {_MAX_HEADER_STEPS:,} entries")
        tags = {}
        for entry in range(offset + 2, end, 12):
            tag, kind = struct.unpack(order + "HH", data[entry : entry + 4])
            # ImageWidth, ImageLength, TileWidth, TileLength as SHORT or LONG
            if tag in (256, 257, 322, 323) and kind in (3, 4):
                fmt, size = ("H", 2) if kind == 3 else ("I", 4)
                (tags[tag],) = struct.unpack(order + fmt, data[entry + 8 : entry + 8 + size])
        if 256 not in tags or 257 not in tags:
            raise ValueError(f"TIFF page {len(sizes) + 1} without a width and height")
        # the decoder allocates whole tiles: a tiny page of huge tiles is as large as one tile
        sizes.append((max(tags[256], tags.get(322, 0)), max(tags[257], tags.get(323, 0))))
        (offset,) = struct.unpack(order + "I", data[end : end + 4])
    if not sizes:
        raise ValueError("TIFF without an image directory")
    return sizes


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

"""Scan- and photo-like degradations that move the ground-truth boxes with the pixels."""

from __future__ import annotations

import random
from collections.abc import Mapping

import cv2
import numpy as np

__all__ = ["DEGRADATIONS", "degrade"]

Box = tuple[float, float, float, float]

DEGRADATIONS = ("jpeg", "blur", "noise", "rotate", "perspective", "downscale")
"""Names accepted by :func:`degrade`."""

RANGES: dict[str, tuple[float, float]] = {
    "jpeg": (30, 90),
    "blur": (0.5, 1.2),
    "noise": (3, 10),
    "rotate": (-5, 5),
    "perspective": (0, 0.03),
    "downscale": (0.5, 0.9),
}
"""Default strength range of each degradation: JPEG quality, blur σ (px), noise σ (grey levels),
rotation (degrees), perspective corner shift (fraction of the size, either way), downscale factor. These
are the scan-like strengths of the classic synthetic sets; the look zoo passes milder ones."""


def degrade(
    img: np.ndarray,
    boxes: dict[str, Box],
    kinds: list[str],
    *,
    seed: int,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> tuple[np.ndarray, dict[str, Box], str]:
    """Apply the named degradations in order, with random strengths from ``seed``.

    Strengths (defaults in :data:`RANGES`, each replaced by ``ranges[kind]`` when given): JPEG quality
    30–90, Gaussian blur σ 0.5–1.2, noise σ 3–10, rotation up to 5°, perspective corners moved up to
    3 % of the size, downscale to 50–90 %. Boxes become the axis-aligned boxes of their moved corners.

    Returns
    -------
    image, boxes, description
        The description lists the applied steps, e.g. ``"rotate(-3.2) jpeg(41)"``.

    Examples
    --------
    >>> img = np.full((100, 200, 3), 255, np.uint8)
    >>> out, b, what = degrade(img, {"A": (10, 10, 50, 40)}, ["downscale"], seed=0)
    >>> out.shape[1] < 200 and b["A"][2] < 50
    True
    """
    rng = random.Random(seed)
    steps = []
    if unknown := set(ranges or {}) - set(DEGRADATIONS):
        raise ValueError(f"unknown degradation {sorted(unknown)} in ranges; choose from {', '.join(DEGRADATIONS)}")
    span = {**RANGES, **(ranges or {})}
    for kind in kinds:
        if kind not in DEGRADATIONS:
            raise ValueError(f"unknown degradation {kind!r}; choose from {', '.join(DEGRADATIONS)}")
        if kind == "jpeg":
            q = rng.randint(*(int(v) for v in span["jpeg"]))
            _ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
            steps.append(f"jpeg({q})")
        elif kind == "blur":
            sigma = rng.uniform(*span["blur"])
            img = cv2.GaussianBlur(img, (0, 0), sigma)
            steps.append(f"blur({sigma:.1f})")
        elif kind == "noise":
            sigma = rng.uniform(*span["noise"])
            noise = np.random.default_rng(seed).normal(0, sigma, img.shape)
            img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
            steps.append(f"noise({sigma:.0f})")
        elif kind == "rotate":
            angle = rng.uniform(*span["rotate"])
            h, w = img.shape[:2]
            m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
            cos, sin = abs(m[0, 0]), abs(m[0, 1])
            nw, nh = int(w * cos + h * sin + 1), int(h * cos + w * sin + 1)
            m[0, 2] += (nw - w) / 2
            m[1, 2] += (nh - h) / 2
            img = cv2.warpAffine(img, m, (nw, nh), borderValue=_page(img), flags=cv2.INTER_LINEAR)
            boxes = {k: _moved(b, lambda p, m=m: p @ m[:, :2].T + m[:, 2]) for k, b in boxes.items()}
            steps.append(f"rotate({angle:.1f})")
        elif kind == "perspective":
            h, w = img.shape[:2]
            pad_x, pad_y = int(0.04 * w) + 2, int(0.04 * h) + 2
            img = cv2.copyMakeBorder(img, pad_y, pad_y, pad_x, pad_x, cv2.BORDER_CONSTANT, value=_page(img))
            boxes = {k: (b[0] + pad_x, b[1] + pad_y, b[2] + pad_x, b[3] + pad_y) for k, b in boxes.items()}
            h, w = img.shape[:2]
            src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
            lo, hi = span["perspective"]
            jit = np.float32([[_shift(rng, lo, hi) * w, _shift(rng, lo, hi) * h] for _ in range(4)])
            m = cv2.getPerspectiveTransform(src, src + jit)
            img = cv2.warpPerspective(img, m, (w, h), borderValue=_page(img))
            boxes = {k: _moved(b, lambda p, m=m: cv2.perspectiveTransform(p[None], m)[0]) for k, b in boxes.items()}
            steps.append("perspective")
        elif kind == "downscale":
            f = rng.uniform(*span["downscale"])
            h, w = img.shape[:2]
            img = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
            boxes = {k: tuple(v * f for v in b) for k, b in boxes.items()}
            steps.append(f"downscale({f:.2f})")
    return img, boxes, " ".join(steps)


def _shift(rng: random.Random, lo: float, hi: float) -> float:
    """A signed shift whose size is in ``[lo, hi]`` (with the default (0, hi): uniform in ±hi, as before)."""
    if lo == 0:
        return rng.uniform(-1, 1) * hi
    return rng.choice((-1, 1)) * rng.uniform(lo, hi)


def _page(img: np.ndarray) -> tuple[int, int, int]:
    """The page colour: the colour of the top-left pixel."""
    return tuple(int(v) for v in img[0, 0])


def _moved(box: Box, move) -> Box:
    x1, y1, x2, y2 = box
    pts = move(np.float32([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]))
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))

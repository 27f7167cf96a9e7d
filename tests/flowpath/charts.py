"""Tiny flowcharts drawn with OpenCV, with known graphs (deterministic, no files needed)."""

from __future__ import annotations

import itertools

import cv2
import numpy as np

INK = (40, 40, 40)


def arrow(img: np.ndarray, p: tuple[int, int], q: tuple[int, int], *, size: int = 14) -> None:
    """A line from ``p`` to ``q`` with a filled arrowhead whose tip is at ``q``."""
    p_, q_ = np.array(p, float), np.array(q, float)
    d = (q_ - p_) / np.linalg.norm(q_ - p_)
    base = q_ - d * size
    n = np.array([-d[1], d[0]]) * size * 0.5
    cv2.line(img, p, tuple(int(v) for v in base), INK, 2, cv2.LINE_AA)
    tri = np.array([q_, base + n, base - n]).astype(np.int32)
    cv2.fillConvexPoly(img, tri, INK, cv2.LINE_AA)


def box(img: np.ndarray, x1: int, y1: int, x2: int, y2: int, *, fill=(250, 230, 230)) -> None:
    cv2.rectangle(img, (x1, y1), (x2, y2), fill, -1)
    cv2.rectangle(img, (x1, y1), (x2, y2), INK, 2)


def diamond(img: np.ndarray, cx: int, cy: int, rx: int, ry: int, *, fill=(230, 250, 230)) -> None:
    """A diamond outline, filled with ``fill`` unless that is None."""
    pts = np.array([[cx, cy - ry], [cx + rx, cy], [cx, cy + ry], [cx - rx, cy]], np.int32)
    if fill is not None:
        cv2.fillConvexPoly(img, pts, fill)
    cv2.polylines(img, [pts], True, INK, 2, cv2.LINE_AA)


def text(img: np.ndarray, s: str, cx: int, cy: int, *, scale: float = 0.9) -> None:
    (w, h), _ = cv2.getTextSize(s, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.putText(img, s, (cx - w // 2, cy + h // 2), cv2.FONT_HERSHEY_SIMPLEX, scale, INK, 2, cv2.LINE_AA)


def label_box(img: np.ndarray, label: str, cx: int, cy: int) -> None:
    """An edge label on a grey box that fits it closely."""
    (w, h), _ = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, 0.8, 2)
    cv2.rectangle(img, (cx - w // 2 - 3, cy - h // 2 - 4), (cx + w // 2 + 3, cy + h // 2 + 4), (235, 235, 235), -1)
    text(img, label, cx, cy, scale=0.8)


def decision_chart(
    *, diamond_fill=(230, 250, 230), labels_at=((140, 320), (500, 320)), labels=("YES", "NO")
) -> np.ndarray:
    """Top-down: Start box -> decision -> (``labels[0]``) left box, (``labels[1]``) right box; labels on grey
    boxes centred at ``labels_at`` (on the connectors by default); the diamond is only outlined when
    ``diamond_fill`` is None."""
    img = np.full((560, 640, 3), 255, np.uint8)
    box(img, 240, 20, 400, 80)
    text(img, "START", 320, 50)
    diamond(img, 320, 210, 110, 70, fill=diamond_fill)
    text(img, "OK?", 320, 210)
    box(img, 40, 420, 240, 490)
    text(img, "FIX", 140, 455)
    box(img, 400, 420, 600, 490)
    text(img, "SHIP", 500, 455)
    arrow(img, (320, 81), (320, 139))
    cv2.line(img, (210, 210), (140, 210), INK, 2, cv2.LINE_AA)
    arrow(img, (140, 210), (140, 419))
    cv2.line(img, (430, 210), (500, 210), INK, 2, cv2.LINE_AA)
    arrow(img, (500, 210), (500, 419))
    for label, (x, y) in zip(labels, labels_at, strict=True):
        label_box(img, label, x, y)
    return img


def lr_chart(*, reverse: bool = False) -> np.ndarray:
    """Left-to-right (or right-to-left) chain of three outlined boxes."""
    img = np.full((200, 760, 3), 255, np.uint8)
    xs = [(30, 200), (300, 470), (570, 740)]
    for (x1, x2), name in zip(xs, "ABC", strict=True):
        cv2.rectangle(img, (x1, 60), (x2, 140), INK, 2)
        text(img, name, (x1 + x2) // 2, 100)
    for (_a1, a2), (b1, _b2) in itertools.pairwise(xs):
        if reverse:
            arrow(img, (b1 - 1, 100), (a2 + 2, 100))
        else:
            arrow(img, (a2 + 1, 100), (b1 - 2, 100))
    return img


def triangle_chart() -> np.ndarray:
    """A -> B, A -> C, C -> B: three boxes whose connectors fence in a triangle with a free label in it."""
    img = np.full((420, 760, 3), 255, np.uint8)
    box(img, 520, 30, 700, 90)
    text(img, "A", 610, 60)
    box(img, 40, 170, 220, 230)
    text(img, "B", 130, 200)
    box(img, 300, 320, 480, 380)
    text(img, "C", 390, 350)
    arrow(img, (519, 70), (222, 190))
    arrow(img, (560, 91), (420, 318))
    arrow(img, (299, 340), (180, 232))
    text(img, "retry", 385, 215, scale=0.6)
    return img


def blurred_chart() -> np.ndarray:
    """Start -> a box that fits its two lines of text closely, outlined by a thin dark line, blurred so
    that the outline's dark core lies inside a light halo (as a downscaled Graphviz render)."""
    img = np.full((450, 660, 3), 255, np.uint8)
    fill = (253, 232, 201)
    for (x1, y1, x2, y2), lines in (
        ((120, 30, 540, 120), ["Start"]),
        ((90, 285, 570, 405), ["Measure symptoms for", "at least 5 minutes"]),
    ):
        cv2.rectangle(img, (x1, y1), (x2, y2), fill, -1)
        cv2.rectangle(img, (x1, y1), (x2, y2), (30, 30, 30), 2)
        for j, line in enumerate(lines):
            (w, h), _ = cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, 1.35, 1)
            cy = (y1 + y2) // 2 + int((j - (len(lines) - 1) / 2) * h * 1.6)
            cv2.putText(
                img, line, ((x1 + x2) // 2 - w // 2, cy + h // 2), cv2.FONT_HERSHEY_SIMPLEX, 1.35, INK, 1, cv2.LINE_AA
            )
    arrow(img, (330, 121), (330, 283), size=18)
    return cv2.GaussianBlur(img, (0, 0), 2.0)

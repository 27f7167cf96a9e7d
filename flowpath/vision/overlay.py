"""Drawing a parsed graph over its image, for checking the parser by eye."""

from __future__ import annotations

import cv2
import numpy as np

from graphsolvers.graph import Graph

__all__ = ["draw_overlay"]


def draw_overlay(img: np.ndarray, graph: Graph) -> np.ndarray:
    """A copy of ``img`` with node boxes (id, kind), edge polylines with arrowheads, and edge labels.

    Examples
    --------
    >>> from graphsolvers.graph import Node
    >>> out = draw_overlay(np.full((50, 50, 3), 255, np.uint8), Graph(nodes=[Node(id="n1", bbox=(5, 5, 40, 30))]))
    >>> out.shape
    (50, 50, 3)
    """
    out = img.copy()
    scale = max(0.4, min(out.shape[:2]) / 1200)
    thick = max(1, round(2 * scale))
    for e in graph.edges:
        pts = np.asarray(e.attrs.get("polyline") or [], np.float32)
        if len(pts) < 2:
            continue
        colour = (0, 140, 255) if e.attrs.get("arrow") == "none" else (0, 160, 0)
        cv2.polylines(out, [pts.astype(np.int32).reshape(-1, 1, 2)], False, colour, thick, cv2.LINE_AA)
        a, b = pts[-2], pts[-1]
        tip = min(0.9, 18 * scale / max(1.0, float(np.hypot(*(b - a)))))
        cv2.arrowedLine(out, tuple(int(v) for v in a), tuple(int(v) for v in b), colour, thick, tipLength=tip)
        if e.label:
            mid = pts[len(pts) // 2]
            cv2.putText(
                out,
                e.label[:24],
                (int(mid[0]) + 6, int(mid[1])),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.6 * scale,
                (0, 100, 0),
                thick,
                cv2.LINE_AA,
            )
    for n in graph.nodes:
        if n.bbox is None:
            continue
        x1, y1, x2, y2 = (int(v) for v in n.bbox)
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 0, 230), thick)
        cv2.putText(
            out,
            f"{n.id} {n.kind}",
            (x1 + 2, max(12, y1 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (0, 0, 200),
            thick,
            cv2.LINE_AA,
        )
    return out

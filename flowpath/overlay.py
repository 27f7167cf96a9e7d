"""A picture of an attribution: the chart image with the grounding nodes and their path highlighted."""

from __future__ import annotations

import cv2
import numpy as np

from flowpath.agent.result import AttributionResult
from flowpath.errors import ImageError
from graphsolvers.graph import Graph

__all__ = ["attribution_overlay", "comparison_overlay", "draw_attribution"]

_NODE = (40, 40, 220)  # BGR red: attributed node
_PATH = (0, 150, 255)  # orange: edge along the path
_OTHER = (170, 170, 170)  # grey: every other parsed node
_GOLD = (60, 170, 60)  # green: gold node (benchmark reports)


def draw_attribution(img: np.ndarray, result: AttributionResult, graph: Graph | None = None) -> np.ndarray:
    """A copy of ``img`` (BGR) with attributed nodes boxed and labelled and path edges drawn as arrows.

    With ``graph`` (the graph the agent reasoned over), other nodes get a thin grey box and path edges
    follow their traced connector polylines where the parser recorded them; otherwise edges are
    drawn centre to centre.

    Examples
    --------
    >>> from flowpath.agent.result import AttributedNode
    >>> r = AttributionResult(question="q", answer="a", reason="r", intent="lookup",
    ...     nodes=[AttributedNode(id="n1", text="Start", kind="start", bbox=(5, 5, 60, 30), score=0.9)])
    >>> draw_attribution(np.full((80, 100, 3), 255, np.uint8), r).shape
    (80, 100, 3)
    """
    out = img.copy()
    scale = max(0.45, min(out.shape[:2]) / 1100)
    thick = max(2, round(3 * scale))
    chosen = {n.id: n for n in result.nodes}
    if graph is not None:
        for n in graph.nodes:
            if n.bbox is not None and n.id not in chosen:
                x1, y1, x2, y2 = (round(v) for v in n.bbox)
                cv2.rectangle(out, (x1, y1), (x2, y2), _OTHER, 1, cv2.LINE_AA)
    centres = {n.id: ((n.bbox[0] + n.bbox[2]) / 2, (n.bbox[1] + n.bbox[3]) / 2) for n in result.nodes if n.bbox}
    polylines = {}
    if graph is not None:
        polylines = {(e.source, e.target): e.attrs.get("polyline") for e in graph.edges if e.attrs.get("polyline")}
    for e in result.edges:
        pts = polylines.get((e.source, e.target))
        if not pts and e.source in centres and e.target in centres:
            pts = [centres[e.source], centres[e.target]]
        if not pts or len(pts) < 2:
            continue
        arr = np.asarray(pts, np.float32).astype(np.int32)
        cv2.polylines(out, [arr.reshape(-1, 1, 2)], False, _PATH, thick, cv2.LINE_AA)
        a, b = arr[-2], arr[-1]
        tip = min(0.9, 20 * scale / max(1.0, float(np.hypot(*(b - a)))))
        cv2.arrowedLine(out, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), _PATH, thick, tipLength=tip)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for rank, n in enumerate(result.nodes, start=1):
        if n.bbox is None:
            continue
        x1, y1, x2, y2 = (round(v) for v in n.bbox)
        pad = thick + 2
        cv2.rectangle(out, (x1 - pad, y1 - pad), (x2 + pad, y2 + pad), _NODE, thick, cv2.LINE_AA)
        tag = f"{rank}. {n.id} ({n.score:.2f})"
        (tw, th), base = cv2.getTextSize(tag, font, 0.8 * scale, 2)
        ty = max(th + base, y1 - pad - 3)
        cv2.rectangle(out, (x1 - pad, ty - th - base), (x1 - pad + tw + 4, ty + 2), _NODE, -1)
        cv2.putText(out, tag, (x1 - pad + 2, ty - base + 1), font, 0.8 * scale, (255, 255, 255), 2, cv2.LINE_AA)
    return out


def attribution_overlay(image, result: AttributionResult, graph: Graph | None = None) -> bytes:
    """PNG bytes of :func:`draw_attribution` on the chart ``image`` (a path or a BGR array).

    Raises
    ------
    ImageError
        If the image cannot be read or encoded.
    """
    from flowpath.vision import load_image

    return _png(draw_attribution(load_image(image), result, graph))


Box = tuple[float, float, float, float]


def comparison_overlay(image, gold: dict[str, Box], pred: dict[str, Box]) -> bytes:
    """PNG bytes of ``image`` with gold boxes (green, thick) and predicted boxes (red, thin), labelled by id.

    Used by benchmark reports to show why an item scored badly.

    Examples
    --------
    >>> png = comparison_overlay(np.full((60, 90, 3), 255, np.uint8), {"A": (5, 5, 40, 30)}, {"n1": (8, 6, 42, 31)})
    >>> png[:4] == b"\\x89PNG"
    True
    """
    from flowpath.vision import load_image

    out = load_image(image).copy()
    scale = max(0.45, min(out.shape[:2]) / 1100)
    font = cv2.FONT_HERSHEY_SIMPLEX
    for boxes, colour, width, pad in ((gold, _GOLD, 3, 6), (pred, _NODE, 2, 2)):
        for label, box in boxes.items():
            x1, y1, x2, y2 = (round(v) for v in box)
            cv2.rectangle(out, (x1 - pad, y1 - pad), (x2 + pad, y2 + pad), colour, max(1, round(width * scale)))
            y = y1 - pad - 4 if colour == _GOLD else y2 + pad + int(16 * scale)
            cv2.putText(out, label, (x1, max(12, y)), font, 0.6 * scale, colour, max(1, round(scale)), cv2.LINE_AA)
    return _png(out)


def _png(img: np.ndarray) -> bytes:
    ok, png = cv2.imencode(".png", img)
    if not ok:
        raise ImageError("could not encode the overlay as PNG")
    return png.tobytes()

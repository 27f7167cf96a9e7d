"""Naming the shape of a node mask: rectangle, stadium, diamond, parallelogram, trapezoid, hexagon, circle, cylinder.

The names are those of :data:`graphsolvers.mermaid.SHAPES`, so a parsed chart prints back as
Mermaid with the shapes it was drawn with; their kinds come from the core's
:data:`graphsolvers.mermaid.SHAPE_KIND` (re-exported here), the table the Mermaid parser reads.
"""

from __future__ import annotations

import numpy as np

from graphsolvers.mermaid import SHAPE_KIND

__all__ = ["SHAPE_KIND", "classify_shape"]

RHOMBUS_EXTENT = 0.68
"""Largest share of its bounding box a diamond fills: 0.5 drawn exactly, more with its outline, blunt
tips and a tilt (a flat diamond photographed askew fills 0.63); a hexagon or an ellipse fills 0.75 or more."""


def classify_shape(mask: np.ndarray) -> str:
    """The shape name of a filled boolean mask (its bounding box is the mask's extent).

    Examples
    --------
    >>> yy, xx = np.mgrid[0:60, 0:100]
    >>> classify_shape(np.ones((60, 100), bool))
    'rect'
    >>> classify_shape(abs(xx - 49.5) / 50 + abs(yy - 29.5) / 30 <= 1)
    'rhombus'
    >>> classify_shape((xx >= 20 * (1 - yy / 59)) & (xx <= 99 - 20 * yy / 59))  # leaning right: [/ /]
    'parallelogram'
    """
    h, w = mask.shape
    if h < 4 or w < 4:
        return "rect"
    rows = mask.any(axis=1)
    left = np.where(rows, mask.argmax(axis=1), w).astype(float)
    right = np.where(rows, w - 1 - mask[:, ::-1].argmax(axis=1), -1).astype(float)
    extent = float(mask.mean())
    aspect = w / h
    t = max(2, round(0.08 * min(w, h)))
    tl, tr, bl, br = (
        bool(mask[t, t]),
        bool(mask[t, w - 1 - t]),
        bool(mask[h - 1 - t, t]),
        bool(mask[h - 1 - t, w - 1 - t]),
    )
    if tl and tr and bl and br:
        return "rect"
    q = slice(int(0.1 * h), int(0.9 * h) + 1)
    lq, rq = left[q] / w, right[q] / w
    # slant of the left and right sides between 10 % and 90 % of the height
    dl = lq[-1] - lq[0]
    dr = rq[-1] - rq[0]
    mid = h // 2
    if not (tl or tr or bl or br):
        if extent < RHOMBUS_EXTENT and left[mid] < 0.15 * w and left[int(0.1 * h)] > 0.3 * w:
            return "rhombus"
        if 0.8 <= aspect <= 1.25 and extent < 0.86:
            return "circle"
        straight = float(np.mean(left[q] <= 0.04 * h + 1))
        if straight > 0.7:
            return "cylinder"
        upper = left[int(0.05 * h) : mid + 1]
        ys = np.arange(len(upper), dtype=float)
        if len(upper) >= 4:
            coef = np.polyfit(ys, upper, 1)
            resid = float(np.sqrt(np.mean((np.polyval(coef, ys) - upper) ** 2)))
            if resid < 0.02 * h + 0.5 and aspect > 1.2:
                return "hexagon"
        return "stadium"
    if not tl and not br and tr and bl:
        return "parallelogram"
    if not tr and not bl and tl and br:
        return "parallelogram_alt"
    if not tl and not tr and bl and br:
        return "trapezoid"
    if not bl and not br and tl and tr:
        return "trapezoid_alt"
    if dl < -0.05 and dr < -0.05:
        return "parallelogram"
    if dl > 0.05 and dr > 0.05:
        return "parallelogram_alt"
    return "rect"

"""Finding node shapes and edge-label boxes in a flowchart image (OpenCV, no learned model).

Two kinds of evidence make a node: a *filled* shape (a solid area of a colour other than the
background, which survives a morphological opening that erases connectors, arrowheads and text),
and an *outlined* shape (an enclosed area of background colour, bounded by a closed border, that
holds only small islands: the glyphs of its text). Solid boxes whose text fills them edge to edge
are edge-label backgrounds, not nodes; that is decided later, once text lines are known.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from flowpath.vision.image import masked_median, near_colour
from flowpath.vision.scene import Scene
from flowpath.vision.shapes import classify_shape

__all__ = ["Region", "find_regions"]

logger = logging.getLogger(__name__)


@dataclass
class Region:
    """A candidate node or edge-label box. ``mask`` covers ``bbox`` (x1, y1, x2, y2 exclusive)."""

    bbox: tuple[int, int, int, int]
    mask: np.ndarray
    filled: bool
    shape: str = "rect"
    lines: list[tuple[int, int, int, int]] = field(default_factory=list)
    text: str = ""
    is_label: bool = False

    @property
    def width(self) -> int:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> int:
        return self.bbox[3] - self.bbox[1]

    @property
    def centre(self) -> tuple[float, float]:
        return (self.bbox[0] + self.bbox[2]) / 2.0, (self.bbox[1] + self.bbox[3]) / 2.0


def find_regions(scene: Scene) -> list[Region]:
    """Filled and outlined shapes, largest first, with overlapping duplicates removed."""
    s = scene.stroke
    k = max(7, 3 * s + 4)
    min_side = int(1.6 * k)
    regions = _filled_regions(scene.image, scene.foreground, k, min_side, s) + _outlined_regions(
        scene.foreground, s, min_side
    )
    regions.sort(key=lambda r: r.width * r.height, reverse=True)
    kept: list[Region] = []
    for r in regions:
        if any(_overlap(r.bbox, q.bbox) > 0.6 for q in kept) or _between_shapes(r, regions):
            continue
        kept.append(r)
    return kept


def _between_shapes(r: Region, regions: list[Region]) -> bool:
    """Whether ``r`` is an outline that connectors close between shapes rather than a drawn shape: an
    area fenced by connectors running from node to node (three nodes joined in a triangle) reaches
    into the shapes at its corners, where a node's outline keeps clear of every other shape."""
    if r.filled:
        return False
    reached = [q for q in regions if q is not r and _overlap(r.bbox, q.bbox) > SHAPES_TOUCHED]
    return sum(not _inside(q.bbox, r.bbox) for q in reached) >= 2


SHAPES_TOUCHED = 0.05
"""Share of a shape's box (or of the outline's, when smaller) an outlined area must cover to reach into it.
Shapes lying within the area's box (label boxes by a diamond's tips, in the box's empty corners) do not count."""


def _inside(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether box ``a`` lies (nine tenths of it or more) within box ``b``."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    return iw > 0 and ih > 0 and iw * ih >= 0.9 * (a[2] - a[0]) * (a[3] - a[1])


def _filled_regions(img: np.ndarray, fg: np.ndarray, k: int, min_side: int, s: int) -> list[Region]:
    """Solid areas: what survives an opening by a ``k``-square (connectors, arrowheads and text do not),
    grown back over the corners and tips the opening cut off through pixels of the same fill colour,
    plus the border stroke around them."""
    fg8 = fg.astype(np.uint8)
    opened = cv2.morphologyEx(fg8, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (k, k)))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=4)
    H, W = fg.shape
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * s + 1, 2 * s + 1))
    thin = cv2.getStructuringElement(cv2.MORPH_RECT, (s + 1, s + 1))
    out = []
    for i in range(1, n):
        x, y, w, h, _area = stats[i]
        if w < min_side or h < min_side:
            continue
        # the opening cut off the shape's thin parts (the long tips of a flat diamond): take back every
        # fill-coloured area joined to what survived, within half the shape's size around it
        ext = max(k, max(w, h) // 2)
        x1, y1, x2, y2 = max(0, x - ext), max(0, y - ext), min(W, x + w + ext), min(H, y + h + ext)
        crop = img[y1:y2, x1:x2]
        blob = (labels[y1:y2, x1:x2] == i).astype(np.uint8)
        fill = masked_median(crop, blob)
        same = near_colour(crop, fill, 40) & fg8[y1:y2, x1:x2]
        near = cv2.morphologyEx(same, cv2.MORPH_OPEN, thin) | blob  # not along thin lines of a similar colour
        _m, lab2 = cv2.connectedComponents(near, connectivity=4)
        body = (lab2 == int(np.bincount(lab2[blob > 0]).argmax())).astype(np.uint8)
        band = cv2.dilate(body, ring) & fg8[y1:y2, x1:x2] & (1 - body)
        band &= _border_coloured(crop, band, fill)
        border = band | body
        body = (cv2.morphologyEx(border, cv2.MORPH_OPEN, thin) | body) > 0  # the border, not connector stubs
        body = _complete_corners(body, fg8[y1:y2, x1:x2] > 0, k, s)
        bx1, by1, bx2, by2 = _extent(body)
        out.append(
            Region(
                bbox=(int(x1 + bx1), int(y1 + by1), int(x1 + bx2), int(y1 + by2)),
                mask=_fill_holes(body[by1:by2, bx1:bx2]),
                filled=True,
            )
        )
    return out


def _complete_corners(body: np.ndarray, fg: np.ndarray, k: int, stroke: int) -> np.ndarray:
    """``body`` with the sharp ends the opening cut off put back, where the drawing shows them.

    An opening by a ``k``-square blunts every corner sharper than a right angle: the long side tips
    of a flat diamond or a hexagon lose tens of pixels, and a blunted tip, with its two outline
    strokes meeting beyond it, looks like an arrowhead. For diamonds and hexagons (classified as
    blunted), at each of the four ends where the thickness falls off linearly (a wedge), the wedge is
    continued past the cut through the drawing until the drawing thins to a line. Rounded shapes are
    left alone: an arrowhead on top of an ellipse would pass for the rest of a wedge.
    """
    bx1, by1, bx2, by2 = _extent(body)
    if bx2 == bx1 or classify_shape(body[by1:by2, bx1:bx2]) not in (
        "rhombus",
        "hexagon",
    ):
        return body  # only shapes with a vertex at an end: a rounded end with an arrowhead on it is no wedge
    out = body.copy()
    views = (
        lambda m: m,
        lambda m: m[:, ::-1],
        lambda m: m.T,
        lambda m: m.T[:, ::-1],
    )
    for view in views:
        tri = _wedge_tip(view(out), view(fg), k, stroke)
        if tri is not None:
            view(out)[tri] = True
    return out


SHARP = 1.0
"""Largest growth of a wedge's thickness per pixel along it (a tip of about 53°) that counts as sharp: the
opening blunts sharper tips by more than half its size, while the corners of a square diamond (growth 2)
are regrown from their fill."""


def _wedge_tip(body: np.ndarray, fg: np.ndarray, k: int, stroke: int) -> np.ndarray | None:
    """The pixels (bool mask) that complete a wedge cut off at the left end of ``body``, or None.

    The wedge is measured away from the cut (``2k`` to ``4k`` columns in, where the opening left the
    shape whole): its centre line, fitted by a straight line, is followed leftwards column by column
    through the drawing while the drawing there is thicker than a line and no thicker than the wedge.
    """
    cols = np.flatnonzero(body.any(axis=0))
    if cols.size < 4 * k:
        return None
    xl = int(cols[0])
    sub = body[:, xl : xl + 4 * k]
    if sub.shape[1] < 4 * k or not sub.any(axis=0).all():
        return None
    top = sub.argmax(axis=0)
    bottom = sub.shape[0] - 1 - sub[::-1].argmax(axis=0)
    rel = np.arange(2 * k, 4 * k)
    thick = (bottom - top + 1)[rel].astype(np.float64)
    slope, icpt = np.polyfit(rel, thick, 1)
    if not 0.05 < slope < SHARP or np.abs(slope * rel + icpt - thick).max() > max(2.0, 0.1 * thick.max()):
        return None  # not a sharp, straight wedge (a right-angled, rounded or square end)
    mid_slope, mid_icpt = np.polyfit(rel, (top[rel] + bottom[rel]) / 2.0, 1)
    tip = np.zeros(body.shape, bool)
    for x in range(xl - 1, max(-1, xl - 3 * k), -1):
        t, mid = slope * (x - xl) + icpt, round(mid_slope * (x - xl) + mid_icpt)
        if not 0 <= mid < body.shape[0] or not fg[mid, x]:
            break
        col = fg[:, x]
        lo, hi = mid, mid + 1
        while lo > 0 and col[lo - 1] and mid - lo < t:
            lo -= 1
        while hi < body.shape[0] and col[hi] and hi - mid < t:
            hi += 1
        if hi - lo <= stroke + 1 or hi - lo > t + 2:
            break  # down to a line (the connector that leaves the tip), or into something wider
        tip[lo:hi, x] = True
    return tip if tip.sum() >= 4 else None


def _border_coloured(crop: np.ndarray, band: np.ndarray, fill: np.ndarray, *, tol: int = 40) -> np.ndarray:
    """Which pixels of the ``band`` around a filled shape have the colour of its border (uint8 mask).

    The band holds the border stroke and whatever touches it, arrowheads above all. Its commonest
    colour away from the fill is the border's; pixels clearly of another colour (a dark arrowhead on a
    purple border) are connector ink and stay out of the shape, so that the arrowhead stays whole.
    Where border and connectors share a colour nothing is lost.
    """
    sel = band > 0
    if not sel.any():
        return band
    px = crop[sel]
    edge = px[np.abs(px - fill).max(axis=1) >= tol]
    if len(edge) < 8:
        return band
    quant = (edge // 16).astype(np.int32)
    keys = quant[:, 0] * 256 + quant[:, 1] * 16 + quant[:, 2]
    common = edge[keys == np.bincount(keys).argmax()]
    colour = np.median(common, axis=0)
    near_fill = near_colour(crop, fill, tol)  # antialiased pixels between fill and border
    return near_fill | near_colour(crop, colour, tol)


def _outlined_regions(fg: np.ndarray, s: int, min_side: int) -> list[Region]:
    bg = (~fg).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(bg, connectivity=4)
    H, W = fg.shape
    out = []
    pad = s + 1
    inner = [
        i
        for i in range(1, n)
        if stats[i, 2] >= min_side
        and stats[i, 1] > 0
        and stats[i, 0] > 0
        and stats[i, 0] + stats[i, 2] < W
        and stats[i, 1] + stats[i, 3] < H
    ]
    for i in inner:
        x, y, w, h, _area = stats[i]
        if h < min_side:
            continue
        hole = labels[y : y + h, x : x + w] == i
        solid = _fill_holes(hole)
        solid_area = int(solid.sum())
        islands = solid & ~hole
        if not islands.any():
            continue
        _m, _, istats, _ = cv2.connectedComponentsWithStats(islands.astype(np.uint8), connectivity=8)
        if istats[1:, 3].max() > 0.6 * h or istats[1:, 4].sum() > 0.4 * solid_area:
            continue
        ix1, iy1, ix2, iy2 = _extent(islands)
        if abs((ix1 + ix2 - 1) / 2 - w / 2) > 0.15 * w or abs((iy1 + iy2 - 1) / 2 - h / 2) > 0.15 * h:
            continue  # node text is centred in its shape; a sliver between connectors holds stray marks
        x0, y0 = x, y
        if not _is_regular(solid):
            lid = _cylinder_lid(stats, inner, i, s)
            if lid is None:
                continue
            # a cylinder: the body and the lid above it, with the arc between them, are one shape
            lx, ly, lw, lh = stats[lid, :4]
            x0, y0 = min(x, lx), min(y, ly)
            merged = np.zeros((y + h - y0, max(x + w, lx + lw) - x0), np.uint8)
            merged[y - y0 : y - y0 + h, x - x0 : x - x0 + w] |= solid
            merged[ly - y0 : ly - y0 + lh, lx - x0 : lx - x0 + lw] |= labels[ly : ly + lh, lx : lx + lw] == lid
            k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * s + 3, 2 * s + 3))
            solid = _fill_holes(
                cv2.morphologyEx(np.pad(merged, s + 2), cv2.MORPH_CLOSE, k)[s + 2 : -s - 2, s + 2 : -s - 2] > 0
            )
            h, w = solid.shape
            if not _is_regular(solid):
                continue
        x, y = x0, y0
        x1, y1 = max(0, x - pad), max(0, y - pad)
        x2, y2 = min(W, x + w + pad), min(H, y + h + pad)
        mask = np.zeros((y2 - y1, x2 - x1), np.uint8)
        mask[y - y1 : y - y1 + h, x - x1 : x - x1 + w] = solid
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * pad + 1, 2 * pad + 1))) > 0
        bx1, by1, bx2, by2 = _extent(mask)
        out.append(
            Region(
                bbox=(int(x1 + bx1), int(y1 + by1), int(x1 + bx2), int(y1 + by2)),
                mask=mask[by1:by2, bx1:bx2],
                filled=False,
            )
        )
    return out


def _extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x1, y1, x2, y2, exclusive) of the set pixels of a 2-D mask ((0, 0, 0, 0) when empty).

    Examples
    --------
    >>> _extent(np.array([[0, 0, 0], [0, 1, 1], [0, 1, 0]], bool))
    (1, 1, 3, 3)
    """
    x, y, w, h = cv2.boundingRect(mask.astype(np.uint8))
    return x, y, x + w, y + h


def _cylinder_lid(stats: np.ndarray, candidates: list[int], body: int, s: int) -> int | None:
    """An empty enclosed area right above ``body`` with the same left and right ends: a cylinder's lid."""
    x, y, w, h = stats[body, :4]
    for j in candidates:
        lx, ly, lw, lh = stats[j, :4]
        if j == body or lh > 0.6 * h or abs(lx - x) > 0.05 * w + s or abs(lx + lw - x - w) > 0.05 * w + s:
            continue
        if ly < y and ly + lh >= y - 2 * s:
            return j
    return None


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask.astype(np.uint8), 1)
    inv = (1 - padded).astype(np.uint8)
    ff = inv.copy()
    cv2.floodFill(ff, None, (0, 0), 2)
    return (padded.astype(bool) | (ff == 1))[1:-1, 1:-1]


def _is_regular(solid: np.ndarray) -> bool:
    """Whether a region looks like a drawn shape: convex, compact, not a sliver between connectors."""
    contours, _ = cv2.findContours(solid.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return False
    c = max(contours, key=cv2.contourArea)
    area = cv2.contourArea(c)
    hull = cv2.contourArea(cv2.convexHull(c))
    h, w = solid.shape
    return hull > 0 and area / hull > 0.88 and area / (w * h) > 0.4


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    """Intersection over the smaller box."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return iw * ih / small

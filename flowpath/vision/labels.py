"""Edge-label backgrounds or nodes: how a filled box without an outline is told apart (the label boxes of
:func:`flowpath.vision.parse_image`).

A filled box that fits its text closely is an edge label's background; a chart's own fills can say
otherwise (:func:`unlabel_node_fills`, :func:`label_label_fills`).
"""

from __future__ import annotations

import math

import numpy as np

from flowpath.vision.ocr import border_margin, erode
from flowpath.vision.regions import Region
from flowpath.vision.shapes import SHAPE_KIND, classify_shape

__all__ = ["has_border", "hugs_text", "label_label_fills", "text_at_sides", "unlabel_node_fills"]


def hugs_text(r: Region, line_h: float) -> bool:
    """A filled box that fits its text closely: an edge-label background, not a node.

    Shapes pad their text by most of a line height or more on every side; label boxes by a few
    pixels above and below (at the sides wrapped labels keep the width of their wrapping, up to a
    couple of line heights). Measured in line heights, so it holds at every scale: the box's own,
    or the chart's typical ``line_h`` where that is taller (a lowercase "no" is only x-height high,
    and its box's padding would count twice over in its own height).
    """
    if not r.lines:
        return False
    unit = max(float(np.median([b[3] - b[1] for b in r.lines])), line_h)
    top = min(b[1] for b in r.lines) - r.bbox[1]
    bottom = r.bbox[3] - max(b[3] for b in r.lines)
    left = min(b[0] for b in r.lines) - r.bbox[0]
    right = r.bbox[2] - max(b[2] for b in r.lines)
    return top + bottom <= HUG * unit and max(left, right) <= 2.5 * unit


FILL_MATCH = 8.0
"""Largest colour distance (8-bit levels, largest channel) between the fills of two shapes drawn in one
style: the median fills of one Graphviz chart's nodes at JPEG quality 77 and 0.6 scale differ by up
to 3 levels. Not enough to tell every label background from a node: those of Mermaid's neutral
theme lie within 8 levels of its node fill (hence the references of :func:`unlabel_node_fills`)."""


def unlabel_node_fills(
    regions: list[Region], fills: dict[int, np.ndarray], unbordered: dict[int, list[tuple]], line_h: float
) -> None:
    """Boxes taken for edge labels that are nodes: in the fill of the chart's outline-less node shapes,
    with room beside their text.

    ``unbordered`` maps the filled shapes without an outline the parser sees to their text lines read
    inside the border margin (Graphviz outlines a node with one pixel close to its fill, which a
    small chart blurs away). Label backgrounds are rectangles of one text line: a taller diamond,
    parallelogram, ellipse or other shape no label takes shows how this chart draws its nodes, and
    a tight box in the same fill may be one of them. Label backgrounds end a pixel or two beside
    their text (:data:`LABEL_SIDE_PAD`), node shapes leave a margin there. Outlined nodes are no
    reference: themes give label backgrounds a fill near theirs.
    """
    ref = [
        fills[i]
        for i in unbordered
        if not regions[i].is_label and _tall(regions[i], line_h) and classify_shape(regions[i].mask) in NODE_ONLY_SHAPES
    ]
    if not ref:
        return
    for i, lines in unbordered.items():
        r = regions[i]
        if not r.is_label or not lines:
            continue
        if _fill_gap(fills[i], ref) <= FILL_MATCH and _side_room(r, lines) > LABEL_SIDE_PAD * line_h:
            r.is_label = False


def label_label_fills(
    regions: list[Region], fills: dict[int, np.ndarray], unbordered: dict[int, list[tuple]], line_h: float
) -> None:
    """Small outline-less boxes in the fill of the chart's label backgrounds, and in no node's fill, are
    labels too.

    Some themes pad a label's background more than :func:`hugs_text` allows (Mermaid's dark theme
    by about a line height); such a box is as short as a label and filled like the boxes that do
    hug their text, while the chart's nodes (every shape taller than :data:`REFERENCE_HEIGHT` line
    heights, outlined or not) are filled otherwise.
    """
    label_fills = [fills[i] for i, r in enumerate(regions) if r.is_label and r.filled and fills.get(i) is not None]
    node_fills = [
        fills[i]
        for i, r in enumerate(regions)
        if not r.is_label and r.filled and fills.get(i) is not None and _tall(r, line_h)
    ]
    if not label_fills or not node_fills:  # nothing shows how this chart fills its nodes
        return
    for i in unbordered:
        r = regions[i]
        if r.is_label or _tall(r, line_h):
            continue
        if _fill_gap(fills[i], label_fills) <= FILL_MATCH and _fill_gap(fills[i], node_fills) > FILL_MATCH:
            r.is_label = True


def _fill_gap(fill: np.ndarray, others: list[np.ndarray]) -> float:
    """The colour distance (largest channel difference) from ``fill`` to the nearest of ``others``; inf when none."""
    if not others:
        return math.inf
    return float(np.abs(np.asarray(others, dtype=np.float32) - np.asarray(fill, dtype=np.float32)).max(axis=1).min())


NODE_ONLY_SHAPES = frozenset(SHAPE_KIND) - {"rect", "stadium"}
"""Shapes no edge-label background takes (label boxes are rectangles, rounded at most)."""


REFERENCE_HEIGHT = 3.0
"""Least height, in line heights, of a shape whose fill shows how a chart draws its nodes: taller
than a one-line label box, however its outline is classified (a small box's blurred corners can
pass for a trapezoid's)."""


LABEL_SIDE_PAD = 0.4
"""Most room, in line heights, between a label background's side and its text: Mermaid pads a label
by a few pixels; Graphviz pads a node's text by 0.11 inch, about 0.8 line heights at its default
font."""


def text_at_sides(r: Region, stroke: int) -> bool:
    """Whether the text read inside ``r``'s border margin reaches within that margin of its left or
    right side (:func:`~flowpath.vision.ocr.border_margin`, the erosion's width: a little more than
    it removes, to allow for antialiasing)."""
    return bool(r.lines) and _side_room(r, r.lines) <= border_margin(stroke)


def _side_room(r: Region, lines: list[tuple[int, int, int, int]]) -> int:
    """Pixels between ``r``'s nearer side (left or right) and the text ``lines`` (boxes, image pixels)."""
    return min(min(b[0] for b in lines) - r.bbox[0], r.bbox[2] - max(b[2] for b in lines))


def _tall(r: Region, line_h: float) -> bool:
    """Whether ``r`` is taller than any one-line label box (:data:`REFERENCE_HEIGHT` line heights)."""
    return r.height >= REFERENCE_HEIGHT * line_h


HUG = 1.45
"""Most padding above and below the text, in line heights, of an edge-label box. Measured on boxes
without a border: FlowExplainBench dev label boxes 0.9-1.4 (mostly 1.0-1.2), mermaidx ones up to
1.42; nodes from 1.68 on dev, 1.63 on clean synthetic charts, 1.52 on a blurred Graphviz one."""


def has_border(
    img: np.ndarray, r: Region, fill: np.ndarray, background: np.ndarray, *, stroke: int = 2, contrast: int = 60
) -> bool:
    """Whether the shape is outlined (nodes often are, label boxes never).

    Looks at the two outermost pixels of the shape, and where half the chart's ``stroke`` is more, at
    that many: a blur spreads a light halo outside an outline's dark core. A fair share
    (``THIN_BORDER``) of them unlike the fill and unlike every blend of fill and background
    (:data:`BLEND_TOL`) makes a border: a line of its own colour, however thin (Graphviz draws one pixel, antialiased).
    A label box's rim holds only its fill blending into the page, on a light page or a dark one, and
    the connector crossing it.
    """
    x1, y1, x2, y2 = r.bbox
    crop = img[y1:y2, x1:x2]
    fill = fill.astype(np.float32)
    span = background.astype(np.float32) - fill
    for width in sorted({2, (stroke + 1) // 2}):
        ring = r.mask & ~erode(r.mask, 2 * width + 1)
        if not ring.any():
            return False
        px = crop[ring].astype(np.float32) - fill
        t = np.clip(px @ span / max(float(span @ span), 1.0), 0.0, 1.0)
        unlike = (np.abs(px).max(axis=1) > contrast) & (np.abs(px - t[:, None] * span).max(axis=1) > BLEND_TOL)
        if float(unlike.mean()) > THIN_BORDER:
            return True
    return False


BLEND_TOL = 24
"""Largest colour distance from the nearest blend of fill and page at which a rim pixel is still
taken for that blend (antialiasing, JPEG noise): a purple outline between a lavender fill and a
black page lies 50 levels off that line, and a label box's rim a few."""


THIN_BORDER = 0.18
"""Share of a shape's rim unlike its fill, the background and their blends that makes a border: label
boxes measured at most 0.15 (the connector crossing them) on 150 FlowExplainBench charts, Graphviz
nodes with a one-pixel outline 0.22-0.34 on rendered charts."""

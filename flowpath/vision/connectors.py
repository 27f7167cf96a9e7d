"""Tracing connectors between shapes: contacts, arrowheads, and curve following through crossings.

Every place where connector ink touches a shape is a *contact*; a contact whose ink thickens into
a triangle is an arrowhead (the edge's target). From every contact a tracker walks along the ink in
steps of a few strokes, always taking the branch closest to its current heading, so it goes
straight through crossings and follows curves and bends, until it reaches another shape. Walking
from tails finds fan-outs that share a start; walking back from arrowheads finds fan-ins that share
an end. Label boxes are part of the ink, so a trace that crosses one names the label of its edge.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from flowpath.vision.walk import heading_ring, walk_from

__all__ = ["Contact", "Trace", "find_contacts", "settle_by_structure", "trace_edges"]

logger = logging.getLogger(__name__)


@dataclass
class Contact:
    """Where connector ink meets node ``node`` (index); ``head`` when an arrowhead ends there."""

    node: int
    point: tuple[float, float]
    head: bool
    thickness: float
    peak: float = math.nan  # half-width of the widest ink near the node (distance-transform maximum); nan: unknown


@dataclass
class Trace:
    """One connector from node ``source`` to node ``target`` (indices)."""

    source: int
    target: int
    polyline: list[tuple[float, float]]
    labels: set[int] = field(default_factory=set)
    directed: bool = True
    ends: tuple[int, int] = (-1, -1)  # contact indices at source and target
    contrast: float = 1.0  # ink at the head over ink at the tail
    sure: bool = True  # an end passed the arrowhead test on its own (else the direction is a guess)


@dataclass
class _Maps:
    ink: np.ndarray  # uint8, connector ink incl. label boxes
    zone: np.ndarray  # int32, node index + 1 in the contact zone around each node
    label: np.ndarray  # int32, label index + 1
    dist: np.ndarray  # float32 distance transform of ink
    passable: np.ndarray | None = None  # uint8, ink plus the drawing in the outer band of every node's box
    tips: np.ndarray | None = None  # bool, the drawing outside every node's shape grown by one pixel (whole arrowheads)
    label_boxes: list[tuple[int, int, int, int]] = field(default_factory=list)


def build_maps(
    foreground: np.ndarray,
    node_masks: list[tuple[np.ndarray, tuple[int, int]]],
    label_masks: list[tuple[np.ndarray, tuple[int, int]]],
    *,
    stroke: int,
) -> _Maps:
    """Ink, contact-zone and label maps for tracing (masks are placed at their (x, y) origins)."""
    H, W = foreground.shape
    body = np.zeros((H, W), np.int32)
    zone = np.zeros((H, W), np.int32)
    label = np.zeros((H, W), np.int32)
    grow_body = max(1, stroke // 2 + 1)
    grow_zone = 2 * stroke + 3
    for i, (mask, (x, y)) in enumerate(node_masks):
        _paint(body, mask, x, y, grow_body, i + 1)
        _paint(zone, mask, x, y, grow_zone, i + 1, only_empty=True)
    ink = (foreground & (body == 0)).astype(np.uint8)
    for j, (mask, (x, y)) in enumerate(label_masks):
        h, w = mask.shape
        sub = label[y : y + h, x : x + w]
        sub[mask] = j + 1
        ink[y : y + h, x : x + w][mask] = 1
    ink[body > 0] = 0
    ink = _bridged(ink, stroke)
    dist = cv2.distanceTransform(ink, cv2.DIST_L2, 3)
    depth = cv2.distanceTransform((body > 0).astype(np.uint8), cv2.DIST_L2, 3)
    passable = ink | (foreground & (depth <= stroke + grow_body + 1)).astype(np.uint8)
    boxes = [(x, y, x + m.shape[1], y + m.shape[0]) for m, (x, y) in label_masks]
    core = np.zeros((H, W), np.uint8)  # the shapes grown by one pixel
    for mask, (x, y) in node_masks:
        _paint(core, mask, x, y, 1, 1)
    tips = foreground & (core == 0)
    return _Maps(ink=ink, zone=zone, label=label, dist=dist, passable=passable, label_boxes=boxes, tips=tips)


DASH_GAP = 3
"""Size of the closing that bridges dotted and dashed connectors, in strokes (plus two pixels): a
disc this wide joins dashes about two strokes apart, which Mermaid's dotted links (gaps as long as
their dashes, 1.5 strokes) and Graphviz's (about two strokes) leave."""
DASH_LENGTH = 4
"""Longest dash or dot, in units of the widest bridged gap; longer pieces are lines, not dashes."""
MIN_DASHES = 40
"""Fewest dash-like pieces in a chart for any gap to be closed: a dotted link leaves dozens to
hundreds, a chart of solid lines its short stubs and detached arrowheads (FlowExplainBench dev
charts: mostly under 40, a few up to 60, on which the closing added pixels but changed no edge).
An absolute count, so it admits more of the largest solid charts than of small ones."""


LONG_DASH_GAP = 6
"""Widest gap closed between long dashes, in strokes (plus two pixels): the closing grows to the
typical dash length (gaps of dashed links are about as long as their dashes: Graphviz's about five
strokes), up to this."""


def _bridged(ink: np.ndarray, stroke: int) -> np.ndarray:
    """``ink`` with the gaps of dotted and dashed connectors closed: the pixels a closing adds next to
    pieces of ink short enough to be dashes (:data:`DASH_LENGTH`), across gaps of at most
    :data:`DASH_GAP` strokes, in a chart with many such pieces (:data:`MIN_DASHES`)."""
    gap = DASH_GAP * stroke + 2
    _n, lab, stats, _c = cv2.connectedComponentsWithStats(ink, connectivity=8)
    size = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    dash = size <= DASH_LENGTH * gap
    dash[0] = False
    if dash.sum() < MIN_DASHES:
        return ink
    # dashes leave gaps about as long as themselves: long dashes (Graphviz's) get a wider closing. The
    # typical dash is the commonest length above the stroke (smaller specks are JPEG noise, not dashes)
    lengths = size[dash & (size > stroke)]
    if lengths.size:
        gap = int(np.clip(np.bincount(lengths).argmax(), gap, LONG_DASH_GAP * stroke + 2))
    side = 2 * (gap // 2) + 1  # odd: an even kernel shifts the closing off its pixels
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    near = cv2.dilate(dash[lab].view(np.uint8), kernel)
    closed = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, kernel)
    # a disc closes the gaps of curves but not of one-pixel straight runs (the discs grown from dots a
    # few pixels apart leave notches narrower than the disc): straight runs close along their own axis
    for bar in (np.ones((1, side), np.uint8), np.ones((side, 1), np.uint8)):
        closed |= cv2.morphologyEx(ink, cv2.MORPH_CLOSE, bar)
    return ink | (closed & near)


def _paint(target: np.ndarray, mask: np.ndarray, x: int, y: int, grow: int, value: int, only_empty: bool = False):
    H, W = target.shape
    h, w = mask.shape
    x1, y1, x2, y2 = max(0, x - grow), max(0, y - grow), min(W, x + w + grow), min(H, y + h + grow)
    canvas = np.zeros((y2 - y1, x2 - x1), np.uint8)
    canvas[y - y1 : y - y1 + h, x - x1 : x - x1 + w] = mask
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    grown = cv2.dilate(canvas, kernel) > 0
    sub = target[y1:y2, x1:x2]
    if only_empty:
        grown &= sub == 0
    sub[grown] = value


def find_contacts(maps: _Maps, *, stroke: int) -> list[Contact]:
    """Contacts between ink and node zones, each classified as arrowhead or plain end.

    The test is the amount of ink near the contact: a line leaving a shape puts about
    ``radius × width`` pixels in a disc of ``radius`` around its end, an arrowhead twice that or more
    (``width`` is the chart's stroke, or the line's own width where that is clearly more: see
    :func:`_line_width`; :attr:`Contact.thickness` is that ratio).
    Each contact also gets the width of the drawing there (:attr:`Contact.peak`), measured outside
    the shape grown by one pixel only, so that a small head the contact zone swallows still counts.
    """
    touching = ((maps.ink > 0) & (maps.zone > 0)).astype(np.uint8)
    n, labels, stats, cents = cv2.connectedComponentsWithStatsWithAlgorithm(touching, 8, cv2.CV_32S, cv2.CCL_BBDT)
    radius = 3 * stroke + 3
    yy, xx = np.mgrid[-2 * radius : 2 * radius + 1, -2 * radius : 2 * radius + 1]
    disc = (xx * xx + yy * yy) <= radius * radius
    annulus = ~disc & ((xx * xx + yy * yy) <= 4 * radius * radius)
    disc = disc[radius:-radius, radius:-radius]
    out = []
    H, W = touching.shape
    for i in range(1, n):
        if stats[i, 4] < 2:
            continue
        x, y, w, h = stats[i, :4]
        ids = maps.zone[y : y + h, x : x + w][labels[y : y + h, x : x + w] == i]
        node = int(np.bincount(ids).argmax()) - 1
        cx, cy = cents[i]
        ix, iy = round(cx), round(cy)
        x1, y1, x2, y2 = max(0, ix - radius), max(0, iy - radius), min(W, ix + radius + 1), min(H, iy + radius + 1)
        d = disc[y1 - iy + radius : y2 - iy + radius, x1 - ix + radius : x2 - ix + radius]
        ink = (maps.ink[y1:y2, x1:x2] > 0) & d
        width = _line_width(maps, annulus, ix, iy, radius, stroke)
        ratio = float(ink.sum()) / (radius * width)
        if (maps.label[y1:y2, x1:x2] > 0).any():
            ratio, peak = 0.0, math.nan  # a label box is not an arrowhead (and hides how wide the end is)
        else:
            tips = (maps.tips[y1:y2, x1:x2] & d).astype(np.uint8)
            peak = float(cv2.distanceTransform(tips, cv2.DIST_L2, 3).max()) if tips.any() else 0.0
        out.append(
            Contact(node=node, point=(float(cx), float(cy)), head=ratio >= HEAD_RATIO, thickness=ratio, peak=peak)
        )
    return _merge_close(out, radius)


OWN_WIDTH = 2.5
"""Widest a connector's own width is taken to be, in strokes (a thick link is drawn about twice as
wide as a plain one); past that the ink around a contact is more than one line."""


THICKER = 1.5
"""A connector's own width replaces the chart's stroke only from this many strokes on: lines about as
wide as the stroke keep the tested scale of the arrowhead test."""


def _line_width(maps: _Maps, annulus: np.ndarray, ix: int, iy: int, radius: int, stroke: int) -> float:
    """The width of the connector(s) leaving a contact at (``ix``, ``iy``), measured where they are
    plain lines: ink pixels in the ring from ``radius`` to twice that around the contact, per piece
    of ink crossing it and per pixel of the ring's depth, up to :data:`OWN_WIDTH` strokes; the
    chart's ``stroke`` where the line is not clearly wider (:data:`THICKER`). The arrowhead test
    compares the ink at the contact with this, so that a thick link, or a line drawn wider than the
    chart's typical stroke, does not pass for an arrowhead at both ends."""
    H, W = maps.ink.shape
    r2 = 2 * radius
    x1, y1, x2, y2 = max(0, ix - r2), max(0, iy - r2), min(W, ix + r2 + 1), min(H, iy + r2 + 1)
    ring = annulus[y1 - iy + r2 : y2 - iy + r2, x1 - ix + r2 : x2 - ix + r2]
    line = ((maps.ink[y1:y2, x1:x2] > 0) & ring & (maps.label[y1:y2, x1:x2] == 0)).view(np.uint8)
    pieces = cv2.connectedComponents(line, connectivity=8)[0] - 1
    if pieces <= 0:
        return float(stroke)
    own = float(line.sum()) / (pieces * radius)
    return float(min(own, OWN_WIDTH * stroke)) if own >= THICKER * stroke else float(stroke)


def _merge_close(contacts: list[Contact], radius: float) -> list[Contact]:
    """One contact per arrowhead or line end: pieces on the same node closer than ``radius`` are one,
    represented by the piece with the most ink; so is a piece with less ink than a line end
    (``FRAGMENT``) up to twice that from an arrowhead, such as the far flank of a head whose middle
    the node's border hides."""
    kept: list[Contact] = []
    for c in sorted(contacts, key=lambda c: -c.thickness):
        if any(
            k.node == c.node
            and ((d := math.dist(k.point, c.point)) < radius or (k.head and c.thickness < FRAGMENT and d < 2 * radius))
            for k in kept
        ):
            continue
        kept.append(c)
    return kept


FRAGMENT = 0.8
"""Ink near a contact, in units of ``radius × stroke``, under which it holds less than a line end."""


HEAD_RATIO = 1.45
"""Ink near a contact, in units of ``radius × width`` (see :func:`find_contacts`), from which on it is an arrowhead."""


def trace_edges(maps: _Maps, contacts: list[Contact], *, stroke: int) -> list[Trace]:
    """Follow the ink from every contact and turn the walks into directed edges between nodes."""
    step = max(5, 2 * stroke + 2)
    ring = heading_ring(step)
    found: dict[tuple[int, int], Trace] = {}
    passed: list[tuple[int, tuple[float, float]]] = []
    radius = 3 * stroke + 3
    heads = [(k.node, k.point) for k in contacts if k.head]
    walks = [walk_from(maps, c, ring, step, passed, heads=heads, radius=radius) for c in contacts]
    near = 2 * step + 2 * stroke + 3  # a grazing connector touches a node's zone within this of where it passed
    for ci, (c, walk) in enumerate(zip(contacts, walks, strict=True)):
        if walk is None:
            continue
        end_node, path, labels = walk
        if end_node == c.node:
            continue
        end = _nearest_contact(contacts, end_node, path[-1])
        other_head = end is not None and contacts[end].head
        if (not c.head and _grazes(passed, c.node, c.point, near)) or (
            not other_head and _grazes(passed, end_node, path[-1], near)
        ):
            logger.debug("contact %d: connector only passes node %d or %d", ci, c.node, end_node)
            continue
        other = contacts[end] if end is not None else None
        c_head, end_head = _which_is_head(c, other)
        if c_head and end_head:
            continue  # two arrowheads on one line: a double-headed link is read from both ends below
        ratio = max(c.thickness, 1e-3) / max(other.thickness, 1e-3) if other is not None else 1.0
        if c_head:
            src, dst, poly, directed, ends, contrast = end_node, c.node, path[::-1], True, (end, ci), ratio
        elif end_head:
            src, dst, poly, directed, ends, contrast = c.node, end_node, path, True, (ci, end), 1 / ratio
        else:
            first, second = sorted((c.node, end_node))
            src, dst, directed, contrast = first, second, False, 1.0
            poly, ends = (path, (ci, end)) if first == c.node else (path[::-1], (end, ci))
        key = (src, dst)
        if key in found:
            found[key].labels |= labels
            continue
        if not directed and (dst, src) in found:
            continue
        found[key] = Trace(
            source=src,
            target=dst,
            polyline=poly,
            labels=set(labels),
            directed=directed,
            ends=(ends[0] if ends[0] is not None else -1, ends[1] if ends[1] is not None else -1),
            contrast=contrast,
            sure=directed and (c.head or (other is not None and (other.head or _peak_decides(c, other)))),
        )
        logger.debug("contact %d: %d -> %d (%d labels)", ci, src, dst, len(labels))
    for (a, b), t in list(found.items()):
        back = found.get((b, a))
        if back is None or a > b:
            continue
        # the same connector read both ways: one of the two readings shares a contact in the opposite role.
        # A reading with a plain arrowhead beats one that only had more ink at one end (a piece of the
        # same arrowhead, cut off where it overlaps the node, makes the other reading's tail look thin)
        if t.ends[0] == back.ends[1] or t.ends[1] == back.ends[0]:
            del found[(b, a) if (back.sure, back.contrast) < (t.sure, t.contrast) else (a, b)]
    return _follow_the_flow(list(found.values()))


MIN_SURE = 2
"""Connectors with a plain head needed before the chart's flow direction orients the others."""


def _follow_the_flow(traces: list[Trace]) -> list[Trace]:
    """Orient connectors whose direction is a guess along the chart's flow.

    Where neither end of a connector shows an arrowhead on its own (tiny heads drawn into a thick
    border, or none at all), the ink contrast between its ends is a weak cue. The connectors
    whose heads are plain to see give the chart's direction of flow (top to bottom, left to right,
    …); a guessed connector runs the way that agrees with it. With fewer than :data:`MIN_SURE`
    plain heads the flow is unknown and the guesses stay as they are.
    """
    flow = np.zeros(2)
    for t in traces:
        if t.sure:
            v = np.subtract(t.polyline[-1], t.polyline[0])
            flow += v / (np.linalg.norm(v) or 1.0)
    if sum(t.sure for t in traces) < MIN_SURE or np.linalg.norm(flow) < 1e-6:
        return traces  # too few plain heads to tell which way the chart flows
    seen = {(t.source, t.target) for t in traces}
    out = []
    for t in traces:
        v = np.subtract(t.polyline[-1], t.polyline[0])
        if not t.sure and float(v @ flow) < 0 and (t.target, t.source) not in seen:
            t = _reversed(t)
        out.append(t)
    return out


def _reversed(t: Trace) -> Trace:
    """The same connector read the other way."""
    return replace(
        t, source=t.target, target=t.source, polyline=t.polyline[::-1], ends=t.ends[::-1], contrast=1 / t.contrast
    )


SURE_MENDS = 2
"""Faults a turn must mend before a connector with a plain arrowhead is turned round: a diamond's tip
or a label's glyph beside a line end can pass for a head, but one fault mended is not enough to
overrule what was seen."""


def settle_by_structure(
    traces: list[Trace], decisions: AbstractSet[int], labelled: AbstractSet[int] = frozenset()
) -> list[Trace]:
    """The connectors, each turned round where the other way makes a sounder flowchart.

    A connector without a plain arrowhead runs along the chart's flow (:func:`_follow_the_flow`),
    which is wrong for a loop back: "Increment i" then becomes a dead end and the loop's decision
    keeps one branch. A connector is turned round when that lowers the count of such faults: nodes
    nothing leads out of, nodes nothing leads into, decisions with fewer than two ways out, and
    labelled connectors (branch conditions) that lead into a decision from a node that is not one.
    A guessed connector turns when the count drops by one; one whose arrowhead was seen only when
    it drops by :data:`SURE_MENDS`. Dead ends and sources that a chart must have (its start and
    end) count the same either way, so a turn that mends no more than it breaks is not made.
    Connectors read both ways are left alone.

    Parameters
    ----------
    traces : list of Trace
        All connectors of the chart.
    decisions : set of int
        Indices of the decision (diamond) nodes.
    labelled : set of int, optional
        Indices (into ``traces``) of the connectors that carry a label. Default: none.

    Returns
    -------
    list of Trace
        The connectors in the same order, some reversed.

    Examples
    --------
    >>> line = lambda a, b, **kw: Trace(a, b, [(0.0, 50.0 * a), (0.0, 50.0 * b)], **kw)
    >>> chart = [line(0, 1), line(1, 2), line(2, 3), line(1, 3, sure=False), line(3, 4)]  # 3 loops back to 1
    >>> [(t.source, t.target) for t in settle_by_structure(chart, decisions={3}, labelled={3, 4})]
    [(0, 1), (1, 2), (2, 3), (3, 1), (3, 4)]
    """
    out = list(traces)
    pairs = {(t.source, t.target) for t in traces}
    loose = [i for i, t in enumerate(traces) if (t.target, t.source) not in pairs]
    faults = _fault_count(out, decisions, labelled)
    for _ in range(len(loose) + 1):
        turned = False
        for i in loose:
            flipped = [*out[:i], _reversed(out[i]), *out[i + 1 :]]
            after = _fault_count(flipped, decisions, labelled)
            if after <= faults - (SURE_MENDS if out[i].sure else 1):
                logger.debug("connector %d -> %d turned round: a sounder flowchart", out[i].source, out[i].target)
                out, faults, turned = flipped, after, True
        if not turned:
            break
    return out


def _fault_count(traces: list[Trace], decisions: AbstractSet[int], labelled: AbstractSet[int]) -> int:
    """Structural faults of a chart's connectors, as counted by :func:`settle_by_structure`."""
    outs: dict[int, int] = {}
    ins: dict[int, int] = {}
    for t in traces:
        outs[t.source] = outs.get(t.source, 0) + 1
        ins[t.target] = ins.get(t.target, 0) + 1
    nodes = outs.keys() | ins.keys()
    faults = sum(n not in outs for n in nodes) + sum(n not in ins for n in nodes)
    faults += sum(outs.get(n, 0) < 2 for n in decisions & nodes)
    faults += sum(traces[i].target in decisions and traces[i].source not in decisions for i in labelled)
    return faults


def _grazes(passed: list[tuple[int, tuple[float, float]]], node: int, p: tuple[float, float], near: float) -> bool:
    """Whether a walk passed ``node`` by within ``near`` pixels of ``p`` (so a line end there is no end)."""
    return any(n == node and math.dist(q, p) <= near for n, q in passed)


HEAD_CONTRAST = 1.25
"""An end of a connector is its arrowhead when it holds this many times the ink of the other end."""


WEAK_CONTRAST = 1.08
"""Ink contrast that decides the direction of a connector when neither end passes the absolute test."""


PEAK_GAP = 0.7
"""Difference in :attr:`Contact.peak` (pixels) from which the wider end of a connector is its arrowhead."""


def _which_is_head(a: Contact, b: Contact | None) -> tuple[bool, bool]:
    """Which ends of one connector carry an arrowhead: the end whose ink is clearly wider where it meets
    its node (an arrowhead is wider than the line however small it is), else the end with clearly more
    ink near it, else the absolute test of :func:`find_contacts` where it passes one end only, else
    the end with somewhat more ink (``WEAK_CONTRAST``), else the absolute test (both ends for a
    double-headed link, neither for a plain line)."""
    if b is None:
        return a.head, False
    if _peak_decides(a, b):
        return a.peak > b.peak, b.peak > a.peak
    if a.thickness > HEAD_CONTRAST * b.thickness:
        return True, False
    if b.thickness > HEAD_CONTRAST * a.thickness:
        return False, True
    if a.head != b.head:
        return a.head, b.head
    # both ends or neither look like an arrowhead on their own (a diamond's corner with the line leaving it
    # can pass for one): take the end with more ink when it is clearly more
    if a.thickness > WEAK_CONTRAST * b.thickness:
        return True, False
    if b.thickness > WEAK_CONTRAST * a.thickness:
        return False, True
    return a.head, b.head


def _peak_decides(a: Contact, b: Contact) -> bool:
    """Whether the ends of a connector differ in width enough to tell the arrowhead (never when a width is unknown)."""
    return abs(a.peak - b.peak) >= PEAK_GAP


def _nearest_contact(contacts: list[Contact], node: int, p: tuple[float, float]) -> int | None:
    best, best_d = None, float("inf")
    for i, c in enumerate(contacts):
        if c.node != node:
            continue
        d = math.hypot(c.point[0] - p[0], c.point[1] - p[1])
        if d < best_d:
            best, best_d = i, d
    return best

"""Following a connector's ink from a contact to the node it reaches (the walk of
:func:`flowpath.vision.connectors.trace_edges`): headings, bends, crossings, label boxes, corners.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from flowpath.vision.connectors import Contact, _Maps

__all__ = ["heading_ring", "turn", "walk_from"]

logger = logging.getLogger(__name__)


def turn(a: float | np.ndarray, b: float | np.ndarray) -> float | np.ndarray:
    """The signed angle from heading ``b`` to heading ``a``, in radians within [-π, π).

    Examples
    --------
    >>> round(turn(math.pi - 0.1, -math.pi + 0.1), 6)  # across the ±π seam: a small turn, not a whole one
    -0.2
    """
    return (a - b + math.pi) % (2 * math.pi) - math.pi


def _head_near(heads, node: int, p: tuple[float, float], radius: float) -> bool:
    """Whether one of ``heads`` (node, point) is on ``node`` within ``radius`` of ``p``."""
    return any(n == node and math.dist(q, p) <= radius for n, q in heads)


def heading_ring(r: int) -> np.ndarray:
    """Headings and offsets of the points on a circle of radius ``r``: rows (angle, dx, dy), at least 32."""
    n = max(32, int(2 * math.pi * r))
    ang = np.linspace(-math.pi, math.pi, n, endpoint=False)
    return np.stack([ang, np.cos(ang) * r, np.sin(ang) * r], axis=1)


def walk_from(
    maps: _Maps,
    c: Contact,
    ring: np.ndarray,
    step: int,
    passed: list[tuple[int, tuple[float, float]]] | None = None,
    *,
    heads: list[tuple[int, tuple[float, float]]] = (),
    radius: float = 0.0,
) -> tuple[int, list[tuple[float, float]], set[int]] | None:
    """Follow the ink from contact ``c`` to the node it reaches: (node, path, labels crossed), or None.

    A connector that only grazes a node (crosses a corner of its contact zone or box and goes on
    beyond it) does not end there: on entering another node's zone the walk goes on for a few
    steps, through the outer band of the node's box where the box cut the line, and passes the node
    when it leaves the zone again without turning; otherwise the node is the end. A node with an
    arrowhead (one of ``heads``) within ``radius`` of where the walk reached it is always the end.
    Each node passed is added to ``passed`` with the point where the walk reached it.
    """
    H, W = maps.ink.shape
    x, y = c.point
    heading = _initial_heading(maps, c, step)
    if heading is None:
        return None
    path = [(x, y)]
    labels: set[int] = set()
    left_start = False
    max_steps = 4 * (H + W) // step
    pending: tuple[int, int, float] | None = None  # (node, path length, heading) where a node zone was entered
    banded = 0  # steps taken off the ink, along the band of a node's box, since then
    for _ in range(max_steps):
        nxt = _next_point(maps, x, y, heading, ring)
        if nxt is None:
            nxt = _next_point(maps, x, y, heading, ring * np.array([1, 2, 2]), cone=0.6)
            if nxt is None:
                nxt = _corner_point(maps, x, y, heading, ring)
            if nxt is None:
                if pending is None:
                    z = _zone_ahead(maps, x, y, heading, 2 * step, exclude=None if left_start else c.node)
                    if z is None:
                        logger.debug("walk from %s ends off any node at (%.0f, %.0f)", c.point, x, y)
                        return None
                    if _head_near(heads, z, (x, y), radius):
                        return z, path, labels
                    pending, banded = (z, len(path), heading), 0  # the end unless the line goes on past z
                if maps.passable is not None:
                    # along the outer band of the node's box, where a grazing connector was cut from the ink
                    nxt = _next_point(maps, x, y, heading, ring, cone=PASS_TURN, ink=maps.passable)
                    banded += 1
                if nxt is None:
                    return pending[0], path[: pending[1]], labels
        nx_, ny_ = nxt
        d = math.atan2(ny_ - y, nx_ - x)
        if abs(turn(d, heading)) > ELBOW_TURN:
            heading = d  # round an elbow: the old heading would point across the corner into other lines
        else:  # along a line or curve: the mean of the two smooths the step-to-step jitter
            heading = math.atan2(math.sin(heading) + math.sin(d), math.cos(heading) + math.cos(d))
        x, y = nx_, ny_
        path.append((x, y))
        xi, yi = round(x), round(y)
        if not (0 <= xi < W and 0 <= yi < H):
            return None if pending is None else (pending[0], path[: pending[1]], labels)
        lab = int(maps.label[yi, xi]) - 1
        if lab >= 0 and lab not in labels:
            labels.add(lab)
            jump = _label_exit(maps, lab, path[-2], heading)
            if jump is not None:
                (x, y), heading = jump
                path.append((x, y))
                xi, yi = round(x), round(y)
        z = int(maps.zone[yi, xi]) - 1
        if pending is not None:
            turned = abs(turn(heading, pending[2]))
            if turned > PASS_TURN or banded > PASS_STEPS or len(path) - pending[1] > 4 * PASS_STEPS:
                return pending[0], path[: pending[1]], labels
            if z == pending[0]:
                continue
            ex, ey = path[pending[1] - 1]
            away = math.atan2(y - ey, x - ex)
            if abs(turn(away, pending[2])) > PASS_TURN:
                return pending[0], path[: pending[1]], labels  # came back out the way it went in: it ended there
            if passed is not None:
                passed.append((pending[0], path[pending[1] - 1]))
            pending = None  # out of that node's zone again, still going the same way: it was passed
        if z < 0:
            left_start = True
        elif z != c.node or (left_start and len(path) > 6):
            if _head_near(heads, z, (x, y), radius):
                return z, path, labels
            pending, banded = (z, len(path), heading), 0
    return None


ELBOW_TURN = 0.8
"""Turn of one step (radians) from which on the walk takes the step's direction as its heading
instead of the mean of old and new (curves turn far less per step; elbows about 1.6)."""

PASS_STEPS = 12
"""Steps a walk may take off the ink, along the band of another node's box, and still pass that node by."""

PASS_TURN = 0.8
"""Largest turn (radians) of a walk that passes a node by."""


def _label_exit(
    maps: _Maps, lab: int, entry: tuple[float, float], heading: float
) -> tuple[tuple[float, float], float] | None:
    """Where the connector leaves label box ``lab`` (entered near ``entry``): the piece of ink just outside
    the box, other than the one it came in by and specks of the box's rim, most in line with the
    heading; and the heading out of it."""
    H, W = maps.ink.shape
    x1, y1, x2, y2 = maps.label_boxes[lab]
    g = 3
    X1, Y1, X2, Y2 = max(0, x1 - g), max(0, y1 - g), min(W, x2 + g), min(H, y2 + g)
    band = maps.ink[Y1:Y2, X1:X2].copy()
    band[max(0, y1 - Y1) : y2 - Y1, max(0, x1 - X1) : x2 - X1] = 0
    n, lab_map, stats, cents = cv2.connectedComponentsWithStats(band, connectivity=8)
    if n <= 1:
        return None
    ys, xs = np.nonzero(lab_map)
    came_in = lab_map[ys, xs][np.argmin(np.hypot(xs + X1 - entry[0], ys + Y1 - entry[1]))]
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    best, best_score = None, float("inf")
    for i in range(1, n):
        if i == came_in or stats[i, cv2.CC_STAT_AREA] <= g:
            continue  # the line coming in, or a speck of the box's antialiased rim
        px, py = cents[i][0] + X1, cents[i][1] + Y1
        if math.hypot(px - entry[0], py - entry[1]) < 0.25 * max(x2 - x1, y2 - y1, 8):
            continue
        ang = math.atan2(py - cy, px - cx)
        score = abs(turn(ang, heading))
        if score < best_score:
            best, best_score = (px, py, ang), score
    if best is None or best_score > 2.0:
        return None
    px, py, ang = best
    return (px, py), ang


def _zone_ahead(maps: _Maps, x: float, y: float, heading: float, r: int, exclude: int | None) -> int | None:
    """The node whose contact zone lies ahead within ``r`` pixels of a dead end (arrow tips stop short)."""
    H, W = maps.zone.shape
    x1, y1, x2, y2 = max(0, int(x) - r), max(0, int(y) - r), min(W, int(x) + r + 1), min(H, int(y) + r + 1)
    zone = maps.zone[y1:y2, x1:x2]
    yy, xx = np.mgrid[y1:y2, x1:x2]
    dx, dy = xx - x, yy - y
    ahead = (dx * math.cos(heading) + dy * math.sin(heading)) > 0.5 * np.hypot(dx, dy)
    ok = (zone > 0) & ahead & (dx * dx + dy * dy <= r * r)
    if exclude is not None:
        ok &= zone != exclude + 1
    if not ok.any():
        return None
    return int(np.bincount(zone[ok]).argmax()) - 1


def _initial_heading(maps: _Maps, c: Contact, step: int) -> float | None:
    H, W = maps.ink.shape
    x, y = c.point
    r = 2 * step
    x1, y1, x2, y2 = max(0, int(x) - r), max(0, int(y) - r), min(W, int(x) + r + 1), min(H, int(y) + r + 1)
    ink = maps.ink[y1:y2, x1:x2] > 0
    zone = maps.zone[y1:y2, x1:x2]
    ys, xs = np.nonzero(ink & (zone != c.node + 1))
    if xs.size == 0:
        ys, xs = np.nonzero(ink)
        if xs.size == 0:
            return None
    dx, dy = xs + x1 - x, ys + y1 - y
    near = (dx * dx + dy * dy) <= r * r
    if not near.any():
        return None
    return math.atan2(float(dy[near].mean()), float(dx[near].mean()))


BRANCH_HALF = 0.5
"""Half the widest arc (radians) of the step ring that one line covers: a line crosses the ring of
radius ``2 × stroke + 2`` over about a radian; more is a crossing or junction."""


def _next_point(
    maps: _Maps,
    x: float,
    y: float,
    heading: float,
    ring: np.ndarray,
    cone: float = 1.25,
    ink: np.ndarray | None = None,
) -> tuple[float, float] | None:
    ink = maps.ink if ink is None else ink
    H, W = ink.shape
    px = np.round(x + ring[:, 1]).astype(int)
    py = np.round(y + ring[:, 2]).astype(int)
    inside = (px >= 0) & (px < W) & (py >= 0) & (py < H)
    on = np.zeros(len(ring), bool)
    on[inside] = ink[py[inside], px[inside]] > 0
    delta = turn(ring[:, 0], heading)
    on &= np.abs(delta) <= cone
    if not on.any():
        return None
    # group consecutive ring samples into branches; take the branch nearest the heading
    idx = np.flatnonzero(on)
    cuts = np.flatnonzero(np.diff(idx) > 1)
    if cuts.size:  # a junction: several branches (most steps see one)
        idx = min(np.split(idx, cuts + 1), key=lambda g: abs(float(np.mean(delta[g]))))
    if np.ptp(delta[idx]) > 2 * BRANCH_HALF:
        # one branch wider than a line: two lines meet or cross on the ring; keep the way nearest straight on
        ahead = delta[idx[np.argmin(np.abs(delta[idx]))]]
        idx = idx[np.abs(delta[idx] - ahead) <= BRANCH_HALF]
    ang = heading + float(np.mean(delta[idx]))
    r = float(np.hypot(ring[0, 1], ring[0, 2]))
    return x + r * math.cos(ang), y + r * math.sin(ang)


CORNER_CONE = 1.9
"""Widest turn (radians) a walk takes at a dead end: a right-angle elbow met a step too late lies about
90 degrees off the heading, beyond the cone of an ordinary step."""

CORNER_INK = 0.8
"""Share of the straight way to a turn's next point that must be ink: the elbow's own line, not a
neighbouring line across the page."""


def _corner_point(maps: _Maps, x: float, y: float, heading: float, ring: np.ndarray) -> tuple[float, float] | None:
    """The next point round a sharp corner of the line (see :data:`CORNER_CONE`), or None."""
    nxt = _next_point(maps, x, y, heading, ring, cone=CORNER_CONE)
    if nxt is None:
        return None
    r = float(np.hypot(ring[0, 1], ring[0, 2]))
    t = np.linspace(0.0, 1.0, max(3, int(r)))
    px = np.round(x + t * (nxt[0] - x)).astype(int)
    py = np.round(y + t * (nxt[1] - y)).astype(int)
    H, W = maps.ink.shape
    if not ((px >= 0) & (px < W) & (py >= 0) & (py < H)).all():
        return None
    return nxt if float((maps.ink[py, px] > 0).mean()) >= CORNER_INK else None

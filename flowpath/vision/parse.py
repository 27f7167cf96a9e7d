"""Flowchart image → :class:`~graphsolvers.graph.Graph`: shapes, text, connectors, arrowheads, edge labels."""

from __future__ import annotations

import logging
import os
from dataclasses import replace

import cv2
import numpy as np

from flowpath.errors import NoFlowchartError
from flowpath.vision.connectors import Trace, build_maps, find_contacts, settle_by_structure, trace_edges
from flowpath.vision.image import MAX_PIXELS, load_image
from flowpath.vision.labels import has_border, hugs_text, label_label_fills, text_at_sides, unlabel_node_fills
from flowpath.vision.ocr import border_margin, erode, join_lines, line_crop, read_lines, text_lines
from flowpath.vision.regions import Region, find_regions
from flowpath.vision.scene import MIN_STROKE, analyse_scene
from flowpath.vision.shapes import SHAPE_KIND, classify_shape
from flowpath.vision.words import complete_clipped, correct_misread, mend_branch_labels
from graphsolvers.graph import Edge, Graph, Node

__all__ = ["parse_image"]

logger = logging.getLogger(__name__)

PARSER_VERSION = 16
"""Bumped whenever a change to the parser can change its output; parse caches are keyed by it."""
CONNECTOR_GLYPHS = " /\\|"
"""What a connector stroke touching the first or last letter of a free label reads as."""
BRANCH_LETTERS = frozenset("YNTF")
"""One-letter edge labels kept (yes/no, true/false); any other lone Latin letter or digit of a free
label is a corner, a junction of lines or a small circle misread ("L", "I", "o", "1", "4")."""
LINE_GLYPHS = frozenset(CONNECTOR_GLYPHS + "-_=~.,:;'\"`·—–→Λ一二三丨八人")
"""What parallel, crossing or meeting connectors and arrowheads read as when they pass for text:
dashes, bars, arrows and CJK characters made of a few straight strokes (the recogniser reads
Chinese too)."""
MIN_TEXT_SCORE = 0.5
"""Recognised lines below this confidence count as unreadable."""


def parse_image(
    image: str | os.PathLike[str] | np.ndarray,
    *,
    max_pixels: int = MAX_PIXELS,
    ocr: bool = True,
) -> Graph:
    """The flowchart drawn in ``image`` as a directed graph.

    Nodes get ids ``n1, n2, …`` in reading order (top to bottom, then left to right), their OCR
    text, a ``kind`` from their shape (the shape itself in ``attrs["shape"]``) and ``bbox`` in
    pixels of the original image. Edges carry their label text (``None`` when unlabelled) and the
    traced connector in ``attrs["polyline"]``; a connector without any arrowhead gets
    ``attrs["arrow"] = "none"`` and is oriented top-to-bottom.

    Parameters
    ----------
    image : path or numpy array
        PNG/JPEG/WebP/BMP file or a BGR(A)/grey array.
    max_pixels : int
        Largest accepted image (width × height).
    ocr : bool
        Read the text (default). Without it nodes have empty text, which is much faster.

    Notes
    -----
    Any page colour and polarity: ink is colour distance from the page (the commonest edge colour),
    beyond a tolerance set from the page (:func:`~flowpath.vision.scene.page_tolerance`) and its
    noise. A chart whose text lines are under :data:`MIN_LINE_HEIGHT` pixels is parsed enlarged to
    :data:`TARGET_LINE_HEIGHT` (at most :data:`MAX_UPSCALE` times and :data:`MAX_ENLARGED_PIXELS`),
    and one in which no shape is found at all, enlarged to :data:`RETRY_SIDE` on its shorter side;
    boxes and polylines are given in the original image's pixels either way.

    Raises
    ------
    ImageError
        The image cannot be read or is too large (see :func:`~flowpath.vision.image.load_image`).
    NoFlowchartError
        The image holds no shapes (blank) or is mostly non-background (a photo).

    Examples
    --------
    >>> img = np.full((200, 160, 3), 255, np.uint8)
    >>> _ = cv2.rectangle(img, (30, 20), (130, 60), (200, 230, 250), -1)
    >>> _ = cv2.rectangle(img, (30, 130), (130, 170), (200, 230, 250), -1)
    >>> _ = cv2.line(img, (80, 61), (80, 118), (0, 0, 0), 2)
    >>> _ = cv2.fillConvexPoly(img, np.array([[72, 116], [88, 116], [80, 129]]), (0, 0, 0))
    >>> g = parse_image(img, ocr=False)
    >>> [(e.source, e.target) for e in g.edges]
    [('n1', 'n2')]
    """
    img = load_image(image, max_pixels=max_pixels)
    return _parse(img, _name(image), ocr=ocr)


MAX_COVERAGE = 0.6
"""Largest share of the image unlike the page colour in a flowchart; more is a photo or a picture."""
MAX_COVERAGE_PLAIN = 0.85
"""The same where the image's edges are plainly one colour (:data:`PLAIN_PAGE`): a chart cropped
tight, or 200 px tall with shapes filling its height, covers more of it."""
PLAIN_PAGE = 0.5
"""Least share of the edge pixels in the page colour's bin for a plain page."""
MIN_LINE_HEIGHT = 14.0
"""Text lines lower than this (pixels, the median over the chart) mark a chart drawn too small to
trace and read as it is: a 1.5 : 1 line two pixels wide, an arrowhead of a dozen pixels. Mermaid at
scale 1 sets 13-16, FlowExplainBench charts 16-31."""
TARGET_LINE_HEIGHT = 20.0
"""Median text-line height a chart drawn too small is enlarged to (bilinear: bicubic overshoot rings
light lines on a dark page with specks that pass for ink)."""
MAX_UPSCALE = 4.0
"""Most a chart is enlarged: a 250 px tall chart with 5 px text comes out near 1000 px."""
MIN_UPSCALE = 1.2
"""Least enlargement worth a second pass."""
MAX_ENLARGED_PIXELS = 16_000_000
"""Largest enlarged image parsed (width × height); the maps of a pass take tens of bytes a pixel."""
RETRY_SIDE = 600
"""A chart in which no shape is found at all, and whose shorter side is under this many pixels, is
looked at again enlarged to it: its text could not be measured, and its lines may be under a pixel."""


def _parse(img: np.ndarray, name: str, *, ocr: bool, upscaled: bool = False, stroke_floor: int = 0) -> Graph:
    """The graph of the BGR image ``img``, enlarged first when its text is small (see :data:`MIN_LINE_HEIGHT`).

    ``stroke_floor`` is the least stroke width to assume: an enlarged image's lines are as many times
    wider as it was enlarged, though its blurred, ragged edges may measure thinner.
    """
    scene = analyse_scene(img)
    if scene.stroke < stroke_floor:
        scene = replace(scene, stroke=stroke_floor)
    coverage = float(scene.foreground.mean())
    if coverage < 1e-4:
        raise NoFlowchartError(f"{name}: blank image (no drawing on the background)")
    if coverage > (MAX_COVERAGE_PLAIN if scene.page_share >= PLAIN_PAGE else MAX_COVERAGE):
        raise NoFlowchartError(
            f"{name}: no flowchart found ({coverage:.0%} of the image differs from its background colour; "
            "a flowchart is shapes and lines on a plain background)"
        )
    regions = find_regions(scene)
    s = scene.stroke
    fills = {}
    for i, r in enumerate(regions):
        r.lines, fills[i] = text_lines(img, r.mask, r.bbox[:2], stroke=s)
    line_h = _typical_line_height(regions)
    if not upscaled and line_h < MIN_LINE_HEIGHT and _enlargement(img, TARGET_LINE_HEIGHT / line_h) > MIN_UPSCALE:
        logger.debug("%s: text lines %.0f px high; parsing it enlarged", name, line_h)
        factor = _enlargement(img, TARGET_LINE_HEIGHT / line_h)
        try:
            return _parse_enlarged(img, name, factor, ocr=ocr)
        except NoFlowchartError:  # nothing found enlarged: read what the original size shows
            logger.debug("%s: no shapes when enlarged; parsing it at its own size", name)
    unbordered = {}  # index -> text lines read inside the border margin
    for i, r in enumerate(regions):
        if not r.filled or has_border(img, r, fills[i], scene.background, stroke=s):
            continue
        unbordered[i] = r.lines
        r.is_label = hugs_text(r, line_h)
        edge_to_edge = None
        if not r.is_label and text_at_sides(r, s):
            # a label box may clip its text at its sides (sized for another font), which the border
            # margin cut off: judge it by its text read edge to edge
            edge_to_edge = text_lines(img, r.mask, r.bbox[:2], stroke=s, border=False)
            r.is_label = hugs_text(replace(r, lines=edge_to_edge[0]), line_h)
        if r.is_label:  # read label boxes edge to edge
            r.lines, fills[i] = edge_to_edge or text_lines(img, r.mask, r.bbox[:2], stroke=s, border=False)
    unlabel_node_fills(regions, fills, unbordered, line_h)
    label_label_fills(regions, fills, unbordered, line_h)
    nodes = [r for r in regions if not r.is_label]
    labels = [r for r in regions if r.is_label]
    if not nodes:
        retry = _enlargement(img, RETRY_SIDE / min(img.shape[:2]))
        if not upscaled and retry > MIN_UPSCALE:  # too small to find anything in: look again, enlarged
            graph = _parse_enlarged(img, name, retry, ocr=ocr)
            if len(graph.nodes) >= 2:
                return graph
        raise NoFlowchartError(f"{name}: no flowchart found (no node shapes in the image)")
    labels += _free_labels(scene, nodes, labels, line_h)
    if ocr:
        _read_texts(img, nodes + labels, fills={id(r): fills.get(i) for i, r in enumerate(regions)}, stroke=s)
    for lb in labels:
        if not lb.filled:
            lb.text = _free_label_text(lb.text)
    labels = [lb for lb in labels if lb.text or lb.filled]
    for r in nodes:
        r.shape = classify_shape(r.mask)
    maps = build_maps(
        scene.foreground,
        [(r.mask, r.bbox[:2]) for r in nodes],
        [(r.mask, r.bbox[:2]) for r in labels],
        stroke=s,
    )
    contacts = find_contacts(maps, stroke=s)
    traces = trace_edges(maps, contacts, stroke=s)
    edge_labels = _assign_labels(traces, labels)
    decisions = {i for i, r in enumerate(nodes) if SHAPE_KIND.get(r.shape) == "decision"}
    # a connector through a label box is a labelled branch even where the box's text was unreadable
    labelled = set(edge_labels) | {i for i, t in enumerate(traces) if t.labels}
    traces = settle_by_structure(traces, decisions, labelled)
    return _build_graph(nodes, traces, edge_labels, labels, img.shape)


def _near_other(c, regions: list[Region], gap: int) -> bool:
    """Whether contact ``c`` lies within ``gap`` pixels of a region other than its own."""
    x, y = c.point
    for i, r in enumerate(regions):
        if i != c.node and r.bbox[0] - gap <= x <= r.bbox[2] + gap and r.bbox[1] - gap <= y <= r.bbox[3] + gap:
            return True
    return False


def _enlargement(img: np.ndarray, wanted: float) -> float:
    """``wanted`` within :data:`MAX_UPSCALE` and :data:`MAX_ENLARGED_PIXELS` for ``img``."""
    return min(wanted, MAX_UPSCALE, (MAX_ENLARGED_PIXELS / img.shape[0] / img.shape[1]) ** 0.5)


def _parse_enlarged(img: np.ndarray, name: str, factor: float, *, ocr: bool) -> Graph:
    """The graph of ``img`` parsed ``factor`` times enlarged (bilinear), in ``img``'s pixels.

    Its stroke is taken to be at least :data:`~flowpath.vision.scene.MIN_STROKE` enlarged: JPEG
    ringing, enlarged, leaves ragged line edges that measure thinner than the lines.
    """
    big = cv2.resize(img, None, fx=factor, fy=factor, interpolation=cv2.INTER_LINEAR)
    graph = _parse(big, name, ocr=ocr, upscaled=True, stroke_floor=round(MIN_STROKE * factor))
    fx, fy = big.shape[1] / img.shape[1], big.shape[0] / img.shape[0]
    nodes = [
        n.model_copy(update={"bbox": tuple(round(v / f, 1) for v, f in zip(n.bbox, (fx, fy, fx, fy), strict=True))})
        for n in graph.nodes
    ]
    edges = []
    for e in graph.edges:
        if "polyline" in e.attrs:
            poly = [[round(x / fx, 1), round(y / fy, 1)] for x, y in e.attrs["polyline"]]
            e = e.model_copy(update={"attrs": {**e.attrs, "polyline": poly}})
        edges.append(e)
    size = [int(img.shape[1]), int(img.shape[0])]
    return graph.model_copy(update={"nodes": nodes, "edges": edges, "attrs": {**graph.attrs, "image_size": size}})


def _name(image: object) -> str:
    return str(image) if not isinstance(image, np.ndarray) else f"array {image.shape}"


def _typical_line_height(regions: list[Region]) -> float:
    heights = [b[3] - b[1] for r in regions for b in r.lines]
    return float(np.median(heights)) if heights else 16.0


def _free_label_text(text: str) -> str:
    """The text of a free label without the connector strokes read at its ends; empty when nothing
    but strokes was read (a bundle of lines, not a label) or a lone Latin letter or digit other than
    the branch letters of :data:`BRANCH_LETTERS` (lines meeting or bending read as "L" or "I"). A
    one-character label in a script such as Chinese ("是") stays.

    Examples
    --------
    >>> [_free_label_text(t) for t in ("/Yes", "二", "L", "1", "N", "是")]
    ['Yes', '', '', '', 'N', '是']
    """
    text = text.strip(CONNECTOR_GLYPHS)
    if all(c in LINE_GLYPHS for c in text) or (len(text) == 1 and text.isascii() and text not in BRANCH_LETTERS):
        return ""
    return text


def _free_labels(scene, nodes: list[Region], labels: list[Region], line_h: float) -> list[Region]:
    """Text outside every shape (edge labels without a background box): ink dense enough to survive
    a closing that joins glyphs and an opening that erases lines.

    The opening is at least twice the stroke wide, so that lines running side by side are erased
    too. Text in a smaller type than the nodes' (Graphviz sets edge labels two points smaller) can
    be thinner than that; what survives only an opening of one stroke is taken where the wider one
    left nothing.
    """
    s = scene.stroke
    H, W = scene.foreground.shape
    ink = scene.foreground.copy()
    for r in nodes + labels:
        x1, y1, x2, y2 = r.bbox
        g = 2 * s + 2
        ink[max(0, y1 - g) : min(H, y2 + g), max(0, x1 - g) : min(W, x2 + g)] = False
    ink = ink.astype(np.uint8)
    kc = max(3, int(0.35 * line_h))
    closed = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (kc, kc)))
    blobs: list[tuple[int, int, int, int]] = []
    taken = np.zeros_like(closed)
    for ko in dict.fromkeys((max(2 * s + 3, int(0.45 * line_h)), max(s + 3, int(0.45 * line_h)))):
        opened = cv2.morphologyEx(closed, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (ko, ko)))
        n, lab, stats, _ = cv2.connectedComponentsWithStatsWithAlgorithm(opened, 8, cv2.CV_32S, cv2.CCL_BBDT)
        for i in range(1, n):
            x, y, w, h, _a = stats[i]
            if h < 0.6 * line_h or h > 3.5 * line_h or w < 0.6 * line_h:
                continue
            if taken[y : y + h, x : x + w][lab[y : y + h, x : x + w] == i].any():
                continue  # already found by the wider opening
            blobs.append((int(x), int(y), int(x + w), int(y + h)))
        taken |= opened
    out = []
    g = max(2, s)
    for box in blobs:
        x1, y1, x2, y2 = max(0, box[0] - g), max(0, box[1] - g), min(W, box[2] + g), min(H, box[3] + g)
        mask = np.ones((y2 - y1, x2 - x1), bool)
        out.append(Region(bbox=(x1, y1, x2, y2), mask=mask, filled=False, lines=[box], is_label=True))
    return out


def _read_texts(img: np.ndarray, regions: list[Region], *, fills: dict[int, np.ndarray | None], stroke: int) -> None:
    crops, owners = [], []
    H, W = img.shape[:2]
    for r in regions:
        fill = fills.get(id(r))
        if fill is None:
            fill = np.median(img[r.bbox[1] : r.bbox[3], r.bbox[0] : r.bbox[2]].reshape(-1, 3), axis=0)
        # keep what lies outside the shape (and its border) out of the crop; label boxes have no border
        clip = np.zeros((H, W), bool)
        x1, y1, x2, y2 = r.bbox
        clip[y1:y2, x1:x2] = r.mask if r.is_label else erode(r.mask, border_margin(stroke))
        for box in r.lines:
            crops.append(line_crop(img, box, fill, clip))
            owners.append(r)
    texts = read_lines(crops)
    per: dict[int, list[str]] = {}
    for r, (t, score) in zip(owners, texts, strict=True):
        t = t if score >= MIN_TEXT_SCORE else ""
        if not r.is_label or len(t.split()) >= 2:  # a box may clip a line's end; a one-word label is
            t = correct_misread(complete_clipped(t))  # often an abbreviation ("iter", "Thr"), left as read
        per.setdefault(id(r), []).append(t)
    for r in regions:
        r.text = join_lines(per.get(id(r), []))
        if not r.text and not r.is_label:
            logger.warning("no readable text in the shape at %s", r.bbox)


def _assign_labels(traces: list[Trace], labels: list[Region]) -> dict[int, list[int]]:
    """Map trace index → the labels it carries: a label goes to a connector it lies on, else to the
    nearest one. A connector keeps its nearest label and the free labels that continue it on the same line
    or the next one (the words of one label, found apart where the space between them is wide), even
    those too far from any connector to be given one on their own."""
    owner: dict[int, list[int]] = {}
    claimed: dict[int, list[int]] = {}
    for ti, t in enumerate(traces):
        for li in t.labels:
            claimed.setdefault(li, []).append(ti)
    dist: dict[int, float] = {}
    loose: list[int] = []
    for li, lb in enumerate(labels):
        if not lb.text:
            continue
        cands = claimed.get(li) or list(range(len(traces)))
        dists = [(_distance_to(traces[ti].polyline, lb.centre), ti) for ti in cands]
        if not dists:
            continue
        d, ti = min(dists)
        if li not in claimed and d > 2.5 * max(lb.height, 10):
            loose.append(li)  # near no connector: perhaps the next word of a label that is
            continue
        dist[li] = d
        owner.setdefault(ti, []).append(li)
    out = {}
    for ti, group in sorted(owner.items(), key=lambda kv: min(dist[li] for li in kv[1])):
        best = min(group, key=lambda li: dist[li])
        words = [best] if labels[best].filled else _same_label(best, group + loose, labels)
        loose = [li for li in loose if li not in words]
        out[ti] = _reading_order(words, labels)
    for li in loose:
        logger.debug("label %r is near no connector", labels[li].text)
    return out


def _reading_order(ids: list[int], labels: list[Region]) -> list[int]:
    """``ids`` in reading order: rows top to bottom (a box joins the row it overlaps by half its
    height), each row left to right."""
    rows: list[list[int]] = []
    for li in sorted(ids, key=lambda i: labels[i].centre[1]):
        b = labels[li].bbox
        last = labels[rows[-1][-1]].bbox if rows else None
        if last is not None and _shared(b, last, 1) >= 0.5 * min(b[3] - b[1], last[3] - last[1]):
            rows[-1].append(li)
        else:
            rows.append([li])
    return [li for row in rows for li in sorted(row, key=lambda i: labels[i].bbox[0])]


def _same_label(seed: int, group: list[int], labels: list[Region]) -> list[int]:
    """The free labels of ``group`` that join ``seed`` through neighbours on one text line (at most a
    line height apart) or on the next line down or up (less than half a line height between them).
    A label box holds a whole label; two boxes side by side are two labels."""
    keep, todo = [seed], [seed]
    while todo:
        a = labels[todo.pop()].bbox
        for li in group:
            if li in keep or labels[li].filled:
                continue
            b = labels[li].bbox
            h = max(a[3] - a[1], b[3] - b[1])
            rows, cols = _shared(a, b, 1), _shared(a, b, 0)
            if len(keep) < MAX_LABEL_PARTS and ((rows >= 0.5 * h and -cols <= h) or (cols > 0 and -rows <= 0.5 * h)):
                keep.append(li)
                todo.append(li)
    return keep


def _shared(a: tuple[int, int, int, int], b: tuple[int, int, int, int], axis: int) -> int:
    """Pixels two boxes share along ``axis`` (0: x, 1: y); negative, the gap between them.

    Examples
    --------
    >>> _shared((0, 0, 10, 10), (5, 20, 30, 30), 0), _shared((0, 0, 10, 10), (5, 20, 30, 30), 1)
    (5, -10)
    """
    return min(a[axis + 2], b[axis + 2]) - max(a[axis], b[axis])


MAX_LABEL_PARTS = 6
"""Most pieces joined into one edge label (words or lines found apart); a block of notes beside a
connector is not its label."""


def _distance_to(poly: list[tuple[float, float]], p: tuple[float, float]) -> float:
    pts = np.asarray(poly, float)
    if len(pts) == 1:
        return float(np.hypot(*(pts[0] - p)))
    a, b = pts[:-1], pts[1:]
    ab = b - a
    t = np.clip(((np.asarray(p) - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-9), 0, 1)
    proj = a + ab * t[:, None]
    return float(np.hypot(*(proj - p).T).min())


def _build_graph(
    nodes: list[Region], traces: list[Trace], edge_labels: dict[int, list[int]], labels: list[Region], shape: tuple
) -> Graph:
    order = sorted(range(len(nodes)), key=lambda i: (nodes[i].bbox[1] // 8, nodes[i].bbox[0]))
    ids = {old: f"n{new + 1}" for new, old in enumerate(order)}
    has_in = {t.target for t in traces}
    has_out = {t.source for t in traces}
    out_nodes = []
    for old in order:
        r = nodes[old]
        kind = SHAPE_KIND.get(r.shape, "process")
        if r.shape == "stadium":
            kind = "end" if old in has_in and old not in has_out else "start"
        out_nodes.append(
            Node(id=ids[old], text=r.text, kind=kind, bbox=tuple(float(v) for v in r.bbox), attrs={"shape": r.shape})
        )
    texts = [" ".join(labels[li].text for li in edge_labels.get(ti, [])) or None for ti in range(len(traces))]
    leaving: dict[int, list[int]] = {}
    for ti, t in enumerate(traces):
        leaving.setdefault(t.source, []).append(ti)
    for out in leaving.values():  # the branches leaving one node are read together
        for ti, text in zip(out, mend_branch_labels([texts[ti] for ti in out]), strict=True):
            texts[ti] = text
    edges = []
    for ti, t in enumerate(traces):
        poly = np.asarray(t.polyline, np.float32).reshape(-1, 1, 2)
        simple = cv2.approxPolyDP(poly, 1.5, False).reshape(-1, 2) if len(poly) > 2 else poly.reshape(-1, 2)
        attrs: dict = {"polyline": [[round(float(x), 1), round(float(y), 1)] for x, y in simple]}
        if not t.directed:
            attrs["arrow"] = "none"
        edges.append(Edge(source=ids[t.source], target=ids[t.target], label=texts[ti], attrs=attrs))
    edges.sort(key=lambda e: (int(e.source[1:]), int(e.target[1:])))
    return Graph(nodes=out_nodes, edges=edges, attrs={"image_size": [int(shape[1]), int(shape[0])]})

"""Gold node boxes of FlowExplainBench charts, with the benchmark's degenerate boxes repaired.

About 17 % of the benchmark's ``annotations.json`` boxes are degenerate (1 px high and as wide as
the image). Each chart folder also holds the Mermaid SVG the PNG was rendered from; a node is
``<g id="flowchart-<ID>-<n>" class="node …" transform="translate(cx, cy)">`` holding a ``rect``,
``polygon``, ``circle``/``ellipse`` or ``path``, and PNG pixels are SVG units × PNG width / viewBox
width. :func:`load_gold_boxes` replaces every degenerate box (and adds missing ones) from the SVG.

Examples
--------
>>> import os, pytest  # doctest: +SKIP
>>> gold_boxes("../shared/flowexplainbench/dev", "code00027")["A"]  # doctest: +SKIP
(1019.0, 14.0, 1122.0, 82.0)
"""

from __future__ import annotations

import json
import os
import re
import struct
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from flowpath.errors import DataError
from graphsolvers import safe_json

__all__ = ["GoldBoxes", "gold_boxes", "is_degenerate", "load_gold_boxes", "svg_node_boxes"]

Box = tuple[float, float, float, float]
_NUM = re.compile(r"-?\d*\.?\d+(?:[eE][-+]?\d+)?")
_TRANSLATE = re.compile(r"translate\(\s*(" + _NUM.pattern + r")[\s,]+(" + _NUM.pattern + r")\s*\)")
_NODE_ID = re.compile(r"(?:^|-)flowchart-(.+)-\d+$")


@dataclass
class GoldBoxes:
    """Gold boxes of one chart (``node_id -> (x1, y1, x2, y2)`` in PNG pixels) and what was repaired."""

    boxes: dict[str, Box]
    recovered: list[str] = field(default_factory=list)
    """Ids whose annotation box was degenerate or missing and came from the SVG instead."""
    unrecoverable: list[str] = field(default_factory=list)
    """Ids with a degenerate annotation box and no usable SVG shape (left out of ``boxes``)."""


def is_degenerate(box: Box) -> bool:
    """Whether an annotation box is one of the benchmark's broken ones (at most 2 px high or wide).

    Examples
    --------
    >>> is_degenerate((0, 120, 1600, 121)), is_degenerate((10, 10, 90, 50))
    (True, False)
    """
    return box[3] - box[1] <= 2 or box[2] - box[0] <= 2


def load_gold_boxes(data_dir: str | os.PathLike[str], key: str) -> GoldBoxes:
    """Gold boxes of chart ``key`` in ``data_dir`` (the folder holding ``dataset.json`` and ``images/``).

    Good annotation boxes are kept as they are; degenerate or missing ones (for ids found in the
    SVG) are recovered from ``flowchart.svg``.

    Raises
    ------
    DataError
        If the chart folder, its ``annotations.json`` or ``original.png`` is missing or malformed.
    """
    folder = Path(data_dir) / "images" / key
    ann_path = folder / "annotations.json"
    try:
        ann = safe_json.loads(ann_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"{ann_path}: cannot read annotations ({e})") from e
    if not isinstance(ann, dict):
        raise DataError(f"{ann_path}: expected a JSON object {{node_id: [x1, y1, x2, y2]}}")
    boxes: dict[str, Box] = {}
    bad: list[str] = []
    for node_id, b in ann.items():
        if not (isinstance(b, list) and len(b) == 4):
            raise DataError(f"{ann_path}: box of {node_id!r} is {b!r}; expected [x1, y1, x2, y2]")
        box = tuple(float(v) for v in b)
        (bad.append(node_id) if is_degenerate(box) else boxes.__setitem__(node_id, box))
    svg_path = folder / "flowchart.svg"
    svg = svg_node_boxes(svg_path, png_width=_png_width(folder / "original.png")) if svg_path.is_file() else {}
    recovered, unrecoverable = [], []
    for node_id in bad:
        if node_id in svg:
            boxes[node_id] = svg[node_id]
            recovered.append(node_id)
        else:
            unrecoverable.append(node_id)
    for node_id, box in svg.items():
        if node_id not in ann:
            boxes[node_id] = box
            recovered.append(node_id)
    return GoldBoxes(boxes=boxes, recovered=recovered, unrecoverable=unrecoverable)


def gold_boxes(data_dir: str | os.PathLike[str], key: str) -> dict[str, Box]:
    """``node_id -> (x1, y1, x2, y2)`` for chart ``key``, degenerate boxes recovered (see :func:`load_gold_boxes`)."""
    return load_gold_boxes(data_dir, key).boxes


def svg_node_boxes(svg_path: str | os.PathLike[str], *, png_width: float) -> dict[str, Box]:
    """Node boxes of a Mermaid flowchart SVG, in pixels of a PNG of width ``png_width`` rendered from it.

    Raises
    ------
    DataError
        If the SVG cannot be parsed or has no usable viewBox.
    """
    try:
        root = ET.parse(svg_path).getroot()
    except (OSError, ET.ParseError) as e:
        raise DataError(f"{svg_path}: cannot parse SVG ({e})") from e
    vb = [float(v) for v in _NUM.findall(root.get("viewBox", ""))]
    if len(vb) != 4 or vb[2] <= 0:
        raise DataError(f"{svg_path}: missing or invalid viewBox {root.get('viewBox')!r}")
    scale = png_width / vb[2]
    out: dict[str, Box] = {}
    for g in root.iter():
        if not g.tag.endswith("}g") and g.tag != "g":
            continue
        m = _NODE_ID.search(g.get("id", ""))
        if not m or "node" not in g.get("class", "").split():
            continue
        box = _shape_box(g)
        if box is None:
            continue
        tx, ty = _translate(g.get("transform", ""))
        x1, y1, x2, y2 = box
        out[m.group(1)] = (
            (x1 + tx - vb[0]) * scale,
            (y1 + ty - vb[1]) * scale,
            (x2 + tx - vb[0]) * scale,
            (y2 + ty - vb[1]) * scale,
        )
    return out


def _translate(transform: str) -> tuple[float, float]:
    m = _TRANSLATE.search(transform or "")
    return (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)


def _shape_box(g: ET.Element) -> Box | None:
    """Box of the node's outline shape in the group's own coordinates (union over its shape children)."""
    xs: list[float] = []
    ys: list[float] = []
    for child in g:
        tag = child.tag.rsplit("}", 1)[-1]
        tx, ty = _translate(child.get("transform", ""))
        if tag == "rect" and child.get("width"):
            x, y = float(child.get("x", 0)), float(child.get("y", 0))
            xs += [x + tx, x + tx + float(child.get("width"))]
            ys += [y + ty, y + ty + float(child.get("height", 0))]
        elif tag == "polygon":
            pts = [float(v) for v in _NUM.findall(child.get("points", ""))]
            xs += [p + tx for p in pts[0::2]]
            ys += [p + ty for p in pts[1::2]]
        elif tag in ("circle", "ellipse"):
            cx, cy = float(child.get("cx", 0)) + tx, float(child.get("cy", 0)) + ty
            rx = float(child.get("r", child.get("rx", 0)))
            ry = float(child.get("r", child.get("ry", 0)))
            xs += [cx - rx, cx + rx]
            ys += [cy - ry, cy + ry]
        elif tag == "g" and "label" not in child.get("class", "").split():
            inner = _shape_box(child)
            if inner:
                xs += [inner[0] + tx, inner[2] + tx]
                ys += [inner[1] + ty, inner[3] + ty]
        elif tag == "path" and child.get("d"):
            box = _path_box(child.get("d"))
            if box:
                xs += [box[0] + tx, box[2] + tx]
                ys += [box[1] + ty, box[3] + ty]
    if not xs or max(xs) - min(xs) <= 0 or max(ys) - min(ys) <= 0:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def _path_box(d: str) -> Box | None:
    """Bounding box of the end points of an SVG path (absolute and relative M/L/H/V/C/A/Z commands)."""
    x = y = 0.0
    start = (0.0, 0.0)
    xs, ys = [], []
    arity = {"M": 2, "L": 2, "T": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "A": 7, "Z": 0}
    for cmd, args in re.findall(r"([MLHVCSQTAZmlhvcsqtaz])([^MLHVCSQTAZmlhvcsqtaz]*)", d):
        nums = [float(v) for v in _NUM.findall(args)]
        up, rel = cmd.upper(), cmd.islower()
        n = arity[up]
        if up == "Z":
            x, y = start
            continue
        for i in range(0, max(len(nums), 1) if n else 1, n or 1):
            chunk = nums[i : i + n]
            if len(chunk) < n:
                break
            if up == "H":
                x = chunk[0] + (x if rel else 0)
            elif up == "V":
                y = chunk[0] + (y if rel else 0)
            else:
                ex, ey = chunk[-2], chunk[-1]
                x, y = (x + ex, y + ey) if rel else (ex, ey)
            if up == "M" and i == 0:
                start = (x, y)
            xs.append(x)
            ys.append(y)
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def _png_width(path: Path) -> float:
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as e:
        raise DataError(f"{path}: cannot read the chart image ({e})") from e
    if len(head) < 24 or not head.startswith(b"\x89PNG"):
        raise DataError(f"{path}: not a PNG file")
    return float(struct.unpack(">I", head[16:20])[0])

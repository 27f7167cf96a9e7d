"""Node boxes of a Mermaid flowchart SVG: where each node's outline lies, in pixels of a PNG rendered from it.

A node is ``<g id="flowchart-<ID>-<n>" class="node …" transform="translate(cx, cy)">`` holding a ``rect``,
``polygon``, ``circle``/``ellipse`` or ``path``; PNG pixels are SVG units × PNG width / viewBox width. The
renderer (:mod:`flowpath.synth.render`) takes its charts' exact boxes from here, and
:mod:`flowpath.bench.gold` repairs FlowExplainBench's degenerate annotation boxes with it.

Examples
--------
>>> import pathlib, tempfile
>>> svg = pathlib.Path(tempfile.mkdtemp()) / "c.svg"
>>> _ = svg.write_text('<svg viewBox="0 0 200 100"><g id="flowchart-A-0" class="node" transform="translate(50, 50)">'
...                    '<rect x="-20" y="-10" width="40" height="20"/></g></svg>')
>>> svg_node_boxes(svg, png_width=400)
{'A': (60.0, 80.0, 140.0, 120.0)}
"""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET

from flowpath.errors import DataError

__all__ = ["Box", "svg_node_boxes"]

Box = tuple[float, float, float, float]
"""``(x1, y1, x2, y2)`` in pixels."""
_NUM = re.compile(r"-?\d*\.?\d+(?:[eE][-+]?\d+)?")
_TRANSLATE = re.compile(r"translate\(\s*(" + _NUM.pattern + r")[\s,]+(" + _NUM.pattern + r")\s*\)")
_NODE_ID = re.compile(r"(?:^|-)flowchart-(.+)-\d+$")


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

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
import struct
from dataclasses import dataclass, field
from pathlib import Path

from flowpath.errors import DataError
from flowpath.synth.svg import Box, svg_node_boxes
from graphsolvers import safe_json

__all__ = ["GoldBoxes", "gold_boxes", "is_degenerate", "load_gold_boxes"]


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


def _png_width(path: Path) -> float:
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError as e:
        raise DataError(f"{path}: cannot read the chart image ({e})") from e
    if len(head) < 24 or not head.startswith(b"\x89PNG"):
        raise DataError(f"{path}: not a PNG file")
    return float(struct.unpack(">I", head[16:20])[0])

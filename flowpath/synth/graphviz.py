"""Rendering synthetic charts with Graphviz ``dot`` (Debian package ``graphviz``), gold boxes from its SVG."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import cv2
import numpy as np

from flowpath.errors import InputError
from graphsolvers.graph import Graph

__all__ = ["dot_available", "render_graphviz", "to_dot"]

_SHAPE = {
    "start": "ellipse",
    "end": "ellipse",
    "decision": "diamond",
    "io": "parallelogram",
    "connector": "circle",
}
_ATTR_SHAPE = {"cylinder": "cylinder", "hexagon": "hexagon", "round": "box", "subroutine": "box"}
_FILLS = ["#ffffff", "#dde8f7", "#fde9c9", "#e3f4dc", "#f6dede", "#ececff"]
_NUM = re.compile(r"-?\d*\.?\d+(?:[eE][-+]?\d+)?")


def dot_available() -> bool:
    """Whether the Graphviz ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


def to_dot(graph: Graph, *, rankdir: str = "TB", seed: int = 0) -> str:
    """Graphviz source for ``graph``: flowchart shapes, wrapped labels, one fill colour per chart."""
    rng = random.Random(seed)
    fill = rng.choice(_FILLS)
    lines = [
        "digraph G {",
        f"  rankdir={rankdir}; nodesep=0.4; ranksep=0.5;",
        f'  node [fontname="DejaVu Sans", fontsize=14, style=filled, fillcolor="{fill}", margin="0.15,0.08"];',
        '  edge [fontname="DejaVu Sans", fontsize=12];',
    ]
    for n in graph.nodes:
        shape = _ATTR_SHAPE.get(str(n.attrs.get("shape", "")), _SHAPE.get(n.kind, "box"))
        style = ', style="filled,rounded"' if n.attrs.get("shape") == "round" else ""
        lines.append(f'  "{n.id}" [label="{_wrap(n.text)}", shape={shape}{style}];')
    for e in graph.edges:
        label = f' [label="{_esc(e.label)}"]' if e.label else ""
        lines.append(f'  "{e.source}" -> "{e.target}"{label};')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _wrap(text: str, width: int = 22) -> str:
    out, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    out.append(line)
    return "\\n".join(_esc(x) for x in out)


def render_graphviz(graph: Graph, *, rankdir: str = "TB", dpi: int = 110, seed: int = 0):
    """Render ``graph`` with ``dot``: (BGR image, gold boxes in image pixels, DOT source).

    Raises
    ------
    InputError
        If ``dot`` is not installed (``apt-get install graphviz``) or fails on the source.
    """
    if not dot_available():
        raise InputError("Graphviz 'dot' is not installed; run 'make install' or 'apt-get install graphviz'")
    src = to_dot(graph, rankdir=rankdir, seed=seed)
    try:
        svg = subprocess.run(["dot", "-Tsvg"], input=src.encode(), capture_output=True, check=True, timeout=60).stdout
        png = subprocess.run(
            ["dot", "-Tpng", f"-Gdpi={dpi}"], input=src.encode(), capture_output=True, check=True, timeout=60
        ).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise InputError(f"dot failed on the generated chart: {e}") from e
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if img.ndim == 3 and img.shape[2] == 4:
        a = img[:, :, 3:4].astype(np.float32) / 255
        img = (img[:, :, :3] * a + 255 * (1 - a)).astype(np.uint8)
    return img, _svg_boxes(svg, png_width=img.shape[1]), src


def _svg_boxes(svg: bytes, *, png_width: int) -> dict[str, tuple[float, float, float, float]]:
    root = ET.fromstring(svg)
    vb = [float(v) for v in _NUM.findall(root.get("viewBox", ""))]
    scale = png_width / vb[2]
    ns = "{http://www.w3.org/2000/svg}"
    graph0 = root.find(f"{ns}g")
    m = re.search(r"translate\(\s*(" + _NUM.pattern + r")\s+(" + _NUM.pattern + r")\s*\)", graph0.get("transform", ""))
    tx, ty = (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)
    out = {}
    for g in graph0.iter(f"{ns}g"):
        if g.get("class") != "node":
            continue
        node_id = (g.findtext(f"{ns}title") or "").strip()
        xs: list[float] = []
        ys: list[float] = []
        for child in g:
            tag = child.tag.replace(ns, "")
            if tag == "polygon":
                pts = [float(v) for v in _NUM.findall(child.get("points", ""))]
                xs += pts[0::2]
                ys += pts[1::2]
            elif tag == "ellipse":
                cx, cy, rx, ry = (float(child.get(k)) for k in ("cx", "cy", "rx", "ry"))
                xs += [cx - rx, cx + rx]
                ys += [cy - ry, cy + ry]
            elif tag == "path":
                pts = [float(v) for v in _NUM.findall(child.get("d", ""))]
                xs += pts[0::2]
                ys += pts[1::2]
        if node_id and xs:
            out[node_id] = (
                (min(xs) + tx - vb[0]) * scale,
                (min(ys) + ty - vb[1]) * scale,
                (max(xs) + tx - vb[0]) * scale,
                (max(ys) + ty - vb[1]) * scale,
            )
    return out

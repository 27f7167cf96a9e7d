"""Rendering synthetic charts with Graphviz ``dot`` (Debian package ``graphviz``), gold boxes from its SVG."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import cv2
import numpy as np

from flowpath.errors import InputError
from graphsolvers.graph import Graph

__all__ = ["DotStyle", "GraphvizRender", "dot_available", "graphviz_height", "render_graphviz", "to_dot"]

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
_POINTS_PER_INCH = 72
"""Graphviz SVG units are points; a PNG at ``dpi`` is ``points * dpi / 72`` pixels."""
_XLABEL_SPLINES = ("ortho", "curved")
"""Routings for which ``dot`` cannot place edge labels (it warns and floats them away from the edge):
these charts carry their labels as ``xlabel``, which ``dot`` places beside the edge."""


@dataclass(frozen=True)
class DotStyle:
    """Colours and line styles of a Graphviz chart (``#rrggbb`` colours).

    ``dotted`` is the Graphviz style (``dashed`` or ``dotted``) of edges whose ``attrs["link"]`` is
    Mermaid's dotted ``-.->``; thick ``==>`` edges are drawn ``bold``.
    """

    bgcolor: str
    fill: str
    outline: str
    font: str
    edge: str
    edge_font: str
    splines: str = "spline"
    arrowhead: str = "normal"
    dotted: str = "dashed"


@dataclass
class GraphvizRender:
    """A chart drawn by ``dot``: BGR image, gold boxes (image pixels), DOT source and the dpi used."""

    image: np.ndarray
    boxes: dict[str, tuple[float, float, float, float]]
    source: str
    dpi: float


def dot_available() -> bool:
    """Whether the Graphviz ``dot`` program is on the PATH."""
    return shutil.which("dot") is not None


def to_dot(graph: Graph, *, rankdir: str = "TB", seed: int = 0, style: DotStyle | None = None) -> str:
    """Graphviz source for ``graph``: flowchart shapes, wrapped labels, one fill colour per chart.

    Without ``style`` the fill comes from a pale palette (by ``seed``) on a white page; with it, the page,
    node, text and edge colours, routing, arrowheads and dotted/thick edges (from ``attrs["link"]``)
    follow the style.

    Examples
    --------
    >>> from graphsolvers.graph import Edge, Node
    >>> g = Graph(nodes=[Node(id="A", text="Go"), Node(id="B", text="Stop")],
    ...           edges=[Edge(source="A", target="B", label="Yes", attrs={"link": "==>"})])
    >>> st = DotStyle("#111111", "#264653", "#ffffff", "#ffffff", "#aaaaaa", "#ffffff", splines="ortho")
    >>> print(to_dot(g, style=st).splitlines()[-2])
      "A" -> "B" [xlabel="Yes", style=bold, penwidth=2];
    """
    rng = random.Random(seed)
    fill = rng.choice(_FILLS) if style is None else style.fill
    graph_attrs = f"rankdir={rankdir}; nodesep=0.4; ranksep=0.5;"
    node_attrs = f'fontname="DejaVu Sans", fontsize=14, style=filled, fillcolor="{fill}", margin="0.15,0.08"'
    edge_attrs = 'fontname="DejaVu Sans", fontsize=12'
    label_attr = "label"
    if style is not None:
        label_attr = "xlabel" if style.splines in _XLABEL_SPLINES else "label"
        graph_attrs += f' bgcolor="{style.bgcolor}"; splines={style.splines};'
        graph_attrs += " forcelabels=true;" if label_attr == "xlabel" else ""
        node_attrs += f', color="{style.outline}", fontcolor="{style.font}"'
        edge_attrs += f', color="{style.edge}", fontcolor="{style.edge_font}", arrowhead={style.arrowhead}'
    lines = ["digraph G {", f"  {graph_attrs}", f"  node [{node_attrs}];", f"  edge [{edge_attrs}];"]
    for n in graph.nodes:
        shape = _ATTR_SHAPE.get(str(n.attrs.get("shape", "")), _SHAPE.get(n.kind, "box"))
        node_style = ', style="filled,rounded"' if n.attrs.get("shape") == "round" else ""
        lines.append(f'  "{n.id}" [label="{_wrap(n.text)}", shape={shape}{node_style}];')
    for e in graph.edges:
        attrs = [f'{label_attr}="{_esc(e.label)}"'] if e.label else []
        if style is not None:
            link = e.attrs.get("link")
            if link == "-.->":
                attrs.append(f"style={style.dotted}")
            elif link == "==>":
                attrs.append("style=bold, penwidth=2")
        extra = f" [{', '.join(attrs)}]" if attrs else ""
        lines.append(f'  "{e.source}" -> "{e.target}"{extra};')
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


def graphviz_height(
    graph: Graph, *, rankdir: str = "TB", dpi: float = 96, seed: int = 0, style: DotStyle | None = None
) -> float:
    """Height in pixels of ``graph`` drawn at ``dpi`` (from the size ``dot -Tsvg`` gives, in points).

    Raises
    ------
    InputError
        If ``dot`` is not installed or fails on the source.
    """
    return _svg_height_points(_dot_svg(to_dot(graph, rankdir=rankdir, seed=seed, style=style))) * dpi / _POINTS_PER_INCH


def _dot_svg(src: str) -> bytes:
    if not dot_available():
        raise InputError("Graphviz 'dot' is not installed; run 'make install' or 'apt-get install graphviz'")
    try:
        return subprocess.run(["dot", "-Tsvg"], input=src.encode(), capture_output=True, check=True, timeout=60).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise InputError(f"dot failed on the generated chart: {e}") from e


def render_graphviz(
    graph: Graph,
    *,
    rankdir: str = "TB",
    dpi: float = 110,
    seed: int = 0,
    style: DotStyle | None = None,
    height: int | None = None,
) -> GraphvizRender:
    """Render ``graph`` with ``dot``: image, gold boxes in image pixels, DOT source and dpi.

    ``style`` sets colours and lines (see :func:`to_dot`); ``height`` (pixels) overrides ``dpi`` with
    the dpi that gives about that image height (within a pixel or two of rounding).

    Raises
    ------
    InputError
        If ``dot`` is not installed (``apt-get install graphviz``) or fails on the source.
    """
    src = to_dot(graph, rankdir=rankdir, seed=seed, style=style)
    svg = _dot_svg(src)
    try:
        if height is not None:
            dpi = height * _POINTS_PER_INCH / _svg_height_points(svg)
        png = subprocess.run(
            ["dot", "-Tpng", f"-Gdpi={dpi}"], input=src.encode(), capture_output=True, check=True, timeout=60
        ).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        raise InputError(f"dot failed on the generated chart: {e}") from e
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    if img.ndim == 3 and img.shape[2] == 4:
        page = np.float32([255, 255, 255] if style is None else _bgr(style.bgcolor))
        a = img[:, :, 3:4].astype(np.float32) / 255
        img = (img[:, :, :3] * a + page * (1 - a)).astype(np.uint8)
    return GraphvizRender(image=img, boxes=_svg_boxes(svg, png_width=img.shape[1]), source=src, dpi=dpi)


def _bgr(hex_colour: str) -> list[int]:
    h = hex_colour.lstrip("#")
    return [int(h[4:6], 16), int(h[2:4], 16), int(h[0:2], 16)]


def _svg_height_points(svg: bytes) -> float:
    root = ET.fromstring(svg)
    vb = [float(v) for v in _NUM.findall(root.get("viewBox", ""))]
    return vb[3]


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

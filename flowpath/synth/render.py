"""Rendering synthetic charts with mermaidx (offline Mermaid) and writing FlowExplainBench-layout sets."""

from __future__ import annotations

import json
import logging
import os
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from flowpath.bench.gold import svg_node_boxes
from flowpath.errors import InputError
from flowpath.synth.degrade import DEGRADATIONS, degrade
from flowpath.synth.generator import random_flowchart
from flowpath.synth.graphviz import dot_available, render_graphviz
from graphsolvers.cli_support import write_atomic
from graphsolvers.graph import Graph
from graphsolvers.mermaid import to_mermaid

__all__ = ["THEMES", "RenderedChart", "render_chart", "write_dataset"]

logger = logging.getLogger(__name__)

THEMES = {"default": "#ffffff", "forest": "#ffffff", "neutral": "#ffffff", "dark": "#1e1e1e"}
"""Mermaid themes used, with the page colour each is drawn on."""
DIRECTIONS = ("TD", "LR", "BT", "RL")


@dataclass
class RenderedChart:
    """A rendered chart: BGR image, its Mermaid source, gold boxes (image pixels) and how it was made."""

    image: np.ndarray
    mermaid: str
    boxes: dict[str, tuple[float, float, float, float]]
    style: str


def render_chart(graph: Graph, *, theme: str = "default", scale: float = 1.5) -> RenderedChart:
    """Render ``graph`` with mermaidx; gold boxes come from the node groups of the rendered SVG.

    Raises
    ------
    InputError
        If ``theme`` is not one of :data:`THEMES`.
    """
    import mermaidx

    if theme not in THEMES:
        raise InputError(f"unknown theme {theme!r}; choose from {', '.join(THEMES)}")
    source = to_mermaid(graph).split("\n%% flowpath:meta")[0]
    diagram = mermaidx.render(source, theme=theme)
    png = diagram.png(scale=scale, background=THEMES[theme])
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    svg_path = _temp_svg(diagram.svg())
    try:
        boxes = svg_node_boxes(svg_path, png_width=img.shape[1])
    finally:
        os.unlink(svg_path)
    return RenderedChart(image=img, mermaid=source, boxes=boxes, style=theme)


def _temp_svg(text: str) -> str:
    import tempfile

    fd, path = tempfile.mkstemp(suffix=".svg")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def write_dataset(
    out: str | os.PathLike[str],
    *,
    n: int,
    seed: int = 0,
    degraded: float = 0.5,
    min_nodes: int = 5,
    max_nodes: int = 45,
    degradations: tuple[str, ...] = DEGRADATIONS,
    scales: tuple[float, ...] = (1.0, 1.5, 2.0),
    graphviz: float = 0.3,
    progress=None,
) -> Path:
    """Write ``n`` random charts in the FlowExplainBench layout under ``out`` and return ``out``.

    Chart ``i`` uses seed ``seed * 100003 + i``: a random domain, size in ``[min_nodes, max_nodes]``,
    direction (TD/LR/BT/RL), theme and render scale (from ``scales``); a fraction ``degraded`` of them get
    1–3 random degradations from ``degradations``. A fraction ``graphviz`` is drawn by Graphviz ``dot``
    instead of mermaidx (when ``dot`` is installed; else all use mermaidx, with a warning).
    ``dataset.json`` maps each key to ``{"key", "mermaid", "style"}``.

    Raises
    ------
    InputError
        On a non-positive ``n`` or an empty size range.
    """
    if n < 1:
        raise InputError(f"n must be at least 1, got {n}")
    if unknown := set(degradations) - set(DEGRADATIONS):
        raise InputError(f"unknown degradations {sorted(unknown)}; choose from {', '.join(DEGRADATIONS)}")
    if not 3 <= min_nodes <= max_nodes:
        raise InputError(f"node range [{min_nodes}, {max_nodes}] is empty or below 3")
    root = Path(out)
    data = {}
    use_dot = graphviz > 0 and dot_available()
    if graphviz > 0 and not use_dot:
        logger.warning("Graphviz 'dot' not found; rendering every chart with mermaidx")
    for i in range(n):
        s = seed * 100003 + i
        rng = random.Random(s)
        direction = rng.choice(DIRECTIONS)
        theme = rng.choice(sorted(THEMES))
        graph = random_flowchart(s, n_nodes=rng.randint(min_nodes, max_nodes), direction=direction)
        if use_dot and rng.random() < graphviz:
            rankdir = {"TD": "TB"}.get(direction, direction)
            gv_img, gv_boxes, _src = render_graphviz(graph, rankdir=rankdir, dpi=rng.choice([80, 110, 150]), seed=s)
            source = to_mermaid(graph).split("\n%% flowpath:meta")[0]
            chart = RenderedChart(image=gv_img, mermaid=source, boxes=gv_boxes, style="graphviz")
        else:
            chart = render_chart(graph, theme=theme, scale=rng.choice(scales))
        img, boxes, how = chart.image, chart.boxes, ""
        if rng.random() < degraded and degradations:
            kinds = rng.sample(degradations, min(len(degradations), rng.randint(1, 3)))
            img, boxes, how = degrade(img, boxes, [k for k in DEGRADATIONS if k in kinds], seed=s)
        key = f"synth{s:08d}"
        folder = root / "images" / key
        _ok, png = cv2.imencode(".png", img)
        write_atomic(folder / "chart.png", png.tobytes())  # original.png is FlowExplainBench's name
        write_atomic(folder / "annotations.json", json.dumps({k: [round(v, 1) for v in b] for k, b in boxes.items()}))
        name = "graphviz" if chart.style == "graphviz" else theme
        data[key] = {"key": key, "mermaid": chart.mermaid, "style": f"{name} {direction}" + (f" {how}" if how else "")}
        if progress is not None:
            progress()
    write_atomic(root / "dataset.json", json.dumps(data, indent=1))
    return root

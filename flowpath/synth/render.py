"""Rendering synthetic charts with mermaidx (offline Mermaid) and writing FlowExplainBench-layout sets."""

from __future__ import annotations

import json
import logging
import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from flowpath.errors import InputError
from flowpath.synth.degrade import DEGRADATIONS, degrade
from flowpath.synth.edges import add_crossings, set_links
from flowpath.synth.generator import random_flowchart
from flowpath.synth.graphviz import DotStyle, dot_available, graphviz_height, render_graphviz
from flowpath.synth.looks import (
    GRAPHVIZ_BASE_DPI,
    HARD_LOOK_GRAPHS,
    HARD_LOOKS,
    LOOK_PRESETS,
    MILD_RANGES,
    GraphSeed,
    Look,
    graphviz_rankdir,
    mermaid_init,
    random_look,
    small_height,
)
from flowpath.synth.svg import svg_node_boxes
from graphsolvers.cli_support import write_atomic
from graphsolvers.graph import Graph
from graphsolvers.mermaid import to_mermaid

__all__ = ["THEMES", "RenderedChart", "render_chart", "render_look", "write_dataset", "write_hard_looks"]

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


def render_look(graph: Graph, look: Look) -> tuple[RenderedChart, Look]:
    """Render ``graph`` in ``look`` (Mermaid with an init directive, or Graphviz with a :class:`DotStyle`).

    The page is ``look.page``; the size is ``look.scale`` (Mermaid ``png(scale=…)``, Graphviz dpi
    96 × scale) or, when ``look.height`` is set, an image height near it (exactly
    :func:`~flowpath.synth.looks.small_height`, which keeps the scale moderate). Gold boxes come from the
    SVG as in :func:`render_chart`. No JPEG or distortion here (see :func:`write_dataset`).

    Returns
    -------
    chart, look
        The chart (``mermaid`` is the gold source without the init directive) and the look with
        ``scale`` set to the scale actually used.
    """
    source = to_mermaid(graph).split("\n%% flowpath:meta")[0]
    if look.renderer == "graphviz":
        c = look.colours
        style = DotStyle(
            bgcolor=look.page_hex,
            fill=c["fill"],
            outline=c["outline"],
            font=c["font"],
            edge=c["edge"],
            edge_font=c["edge_font"],
            splines=look.routing,
            arrowhead=look.arrowhead,
            dotted=look.dotted,
        )
        rankdir = graphviz_rankdir(look.direction)
        if look.height is not None:
            natural = graphviz_height(graph, rankdir=rankdir, dpi=GRAPHVIZ_BASE_DPI, style=style)
            look = replace(look, height=small_height(look.height, natural))
        gv = render_graphviz(
            graph, rankdir=rankdir, dpi=GRAPHVIZ_BASE_DPI * look.scale, style=style, height=look.height
        )
        img, boxes, scale = gv.image, gv.boxes, gv.dpi / GRAPHVIZ_BASE_DPI
    else:
        import mermaidx

        diagram = mermaidx.render(mermaid_init(look) + "\n" + source)
        svg_path = _temp_svg(diagram.svg())
        try:
            width, natural = _svg_size(svg_path)
            if look.height is not None:
                look = replace(look, height=small_height(look.height, natural))
                png = diagram.png(height=look.height, background=look.page_hex)
            else:
                png = diagram.png(scale=look.scale, background=look.page_hex)
            img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
            boxes = svg_node_boxes(svg_path, png_width=img.shape[1])
            scale = img.shape[1] / width
        finally:
            os.unlink(svg_path)
    if look.height is not None and img.shape[0] != look.height:  # Graphviz rounds its size: fit exactly
        f = look.height / img.shape[0]
        img = cv2.resize(img, (max(1, round(img.shape[1] * f)), look.height), interpolation=cv2.INTER_AREA)
        boxes = {k: tuple(v * f for v in b) for k, b in boxes.items()}
        scale *= f
    name = "graphviz" if look.renderer == "graphviz" else look.theme
    return RenderedChart(image=img, mermaid=source, boxes=boxes, style=name), replace(look, scale=scale)


def _svg_size(svg_path: str) -> tuple[float, float]:
    """Width and height of a mermaidx SVG's viewBox (pixels at scale 1)."""
    import re

    head = Path(svg_path).read_text(encoding="utf-8")[:2000]
    m = re.search(r'viewBox="\s*[-\d.eE]+[\s,]+[-\d.eE]+[\s,]+([\d.eE]+)[\s,]+([\d.eE]+)', head)
    if m is None:
        raise InputError(f"mermaidx wrote an SVG without a viewBox: {head[:200]!r}")
    return float(m.group(1)), float(m.group(2))


def _temp_svg(text: str) -> str:
    import tempfile

    fd, path = tempfile.mkstemp(suffix=".svg")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _write_look_chart(
    folder: Path, key: str, seed: int, preset: str, nodes: tuple[int, int], use_dot: bool
) -> dict[str, object]:
    """Draw, render and write one chart of a look preset; returns its ``dataset.json`` row."""
    rng = random.Random(seed)
    look = random_look(rng, preset=preset, graphviz=use_dot)
    graph = random_flowchart(seed, n_nodes=rng.randint(*nodes), direction=look.direction)
    return _write_chart_in_look(folder, key, seed, graph, look, rng)


DOT_FALLBACK_ROUTING = "spline"
"""Graphviz routing a chart is drawn with when ``dot`` fails on its look's own (it aborts now and then on
``splines=ortho`` or ``curved`` with edge labels); the chart's recorded look says which was used."""


def _write_chart_in_look(
    folder: Path, key: str, seed: int, graph: Graph, look: Look, rng: random.Random
) -> dict[str, object]:
    """Add ``look``'s crossing edges and link styles to ``graph`` (drawn from ``rng``), render it, distort
    and JPEG-encode it as the look says, and write it; returns its ``dataset.json`` row."""
    graph, added = add_crossings(graph, look.crossing, rng)
    graph = set_links(graph, look.links, rng)
    look = replace(look, crossing=added)
    try:
        chart, look = render_look(graph, look)
    except InputError:
        if look.renderer != "graphviz" or look.routing == DOT_FALLBACK_ROUTING or not dot_available():
            raise
        # dot aborts on some graphs with orthogonal or curved splines and labels: keep the chart, routed plainly
        logger.warning(
            "dot failed on %s with splines=%s; drawing it with splines=%s", key, look.routing, DOT_FALLBACK_ROUTING
        )
        chart, look = render_look(graph, replace(look, routing=DOT_FALLBACK_ROUTING))
    img, boxes, steps = chart.image, chart.boxes, []
    if look.distort != "none":
        img, boxes, how = degrade(img, boxes, [look.distort], seed=seed, ranges=MILD_RANGES)
        steps.append(how)
    if look.jpeg_quality is not None:
        _ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, look.jpeg_quality])
        write_atomic(folder / "chart.jpg", buf.tobytes())
        steps.append(f"jpeg({look.jpeg_quality})")
    else:
        _ok, buf = cv2.imencode(".png", img)
        write_atomic(folder / "chart.png", buf.tobytes())
    write_atomic(folder / "annotations.json", json.dumps({k: [round(v, 1) for v in b] for k, b in boxes.items()}))
    style = " ".join([chart.style, look.direction, *steps])
    return {"key": key, "mermaid": chart.mermaid, "style": style, "look": look.factors(), "render": look.details()}


def write_hard_looks(out: str | os.PathLike[str], *, graphs: dict[str, GraphSeed] | None = None, progress=None) -> Path:
    """Write the seven :data:`~flowpath.synth.looks.HARD_LOOKS` charts in the FlowExplainBench layout under
    ``out`` and return ``out`` (what ``flowpath synth --looks hard --out DIR`` does).

    Chart ``name`` has key ``hard-<name>`` and the graph
    ``random_flowchart(g.seed, n_nodes=g.n_nodes, direction=look.direction)`` with
    ``g = graphs[name]`` (default :data:`~flowpath.synth.looks.HARD_LOOK_GRAPHS`); ``g.seed`` also seeds
    its crossing edges and link styles. Rows are those of ``write_dataset(..., looks="zoo")`` plus
    ``"hard_look": name``; images are ``chart.png``, or ``chart.jpg`` for the JPEG look.

    Raises
    ------
    InputError
        If ``graphs`` lacks one of the looks.

    Examples
    --------
    >>> import tempfile
    >>> from flowpath.bench.parse_eval import load_charts
    >>> with tempfile.TemporaryDirectory() as d:  # doctest: +SKIP
    ...     [c.key for c in load_charts(write_hard_looks(d))][:2]
    ['hard-dark-page-dark-lines', 'hard-dark-theme']
    """
    graphs = HARD_LOOK_GRAPHS if graphs is None else graphs
    if missing := [name for name in HARD_LOOKS if name not in graphs]:
        raise InputError(f"no graph seed for hard looks {missing}; give one for each of {', '.join(HARD_LOOKS)}")
    root = Path(out)
    data = {}
    for name, look in HARD_LOOKS.items():
        g = graphs[name]
        key = f"hard-{name}"
        graph = random_flowchart(g.seed, n_nodes=g.n_nodes, direction=look.direction)
        row = _write_chart_in_look(root / "images" / key, key, g.seed, graph, look, random.Random(g.seed))
        data[key] = {**row, "hard_look": name}
        if progress is not None:
            progress()
    write_atomic(root / "dataset.json", json.dumps(data, indent=1))
    return root


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
    looks: str = "classic",
    progress=None,
) -> Path:
    """Write ``n`` random charts in the FlowExplainBench layout under ``out`` and return ``out``.

    Chart ``i`` uses seed ``seed * 100003 + i``: a random domain and size in ``[min_nodes, max_nodes]``.

    With ``looks="classic"``: direction (TD/LR/BT/RL), theme and render scale (from ``scales``); a
    fraction ``degraded`` of them get 1–3 random degradations from ``degradations``. A fraction
    ``graphviz`` is drawn by Graphviz ``dot`` instead of mermaidx (when ``dot`` is installed; else all
    use mermaidx, with a warning). ``dataset.json`` maps each key to ``{"key", "mermaid", "style"}``.

    With ``looks="zoo"`` or ``"small"`` each chart draws a :class:`~flowpath.synth.looks.Look`
    (:func:`~flowpath.synth.looks.random_look`): renderer, theme, page, direction, scale, link style,
    routing, extra crossing edges (part of the gold graph), JPEG (written as ``chart.jpg``) and mild
    blur or rotation; ``degraded``, ``degradations`` and ``scales`` are not used and ``graphviz`` only
    says whether Graphviz may be drawn (> 0). Rows also hold ``"look"`` (the factors, strings) and
    ``"render"`` (the exact values). ``mermaid`` is the gold source without the init directive.

    With ``looks="hard"`` it writes the seven fixed charts of :func:`write_hard_looks`; every other
    option (``n`` included) is ignored.

    Raises
    ------
    InputError
        On a non-positive ``n``, an empty size range or an unknown ``looks``.
    """
    if looks not in LOOK_PRESETS:
        raise InputError(f"unknown looks {looks!r}; choose from {', '.join(LOOK_PRESETS)}")
    if looks == "hard":
        return write_hard_looks(out, progress=progress)
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
    if looks != "classic":
        for i in range(n):
            s = seed * 100003 + i
            key = f"synth{s:08d}"
            data[key] = _write_look_chart(root / "images" / key, key, s, looks, (min_nodes, max_nodes), use_dot)
            if progress is not None:
                progress()
        write_atomic(root / "dataset.json", json.dumps(data, indent=1))
        return root
    for i in range(n):
        s = seed * 100003 + i
        rng = random.Random(s)
        direction = rng.choice(DIRECTIONS)
        theme = rng.choice(sorted(THEMES))
        graph = random_flowchart(s, n_nodes=rng.randint(min_nodes, max_nodes), direction=direction)
        if use_dot and rng.random() < graphviz:
            rankdir = {"TD": "TB"}.get(direction, direction)
            gv = render_graphviz(graph, rankdir=rankdir, dpi=rng.choice([80, 110, 150]), seed=s)
            source = to_mermaid(graph).split("\n%% flowpath:meta")[0]
            chart = RenderedChart(image=gv.image, mermaid=source, boxes=gv.boxes, style="graphviz")
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

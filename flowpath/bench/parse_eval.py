"""Scoring ``parse_image`` against charts with known graphs (FlowExplainBench layout or synthetic sets).

A data folder holds ``dataset.json`` (``{id: {"key": …, "mermaid": …}}``; several ids may share a
key) and ``images/<key>/original.png`` with ``annotations.json`` (gold node boxes; FlowExplainBench's
degenerate ones are recovered from ``flowchart.svg``, see :mod:`flowpath.bench.gold`).

Per chart: nodes are matched one-to-one to gold boxes by IoU (Hungarian assignment); node
precision/recall at IoU ≥ 0.5 and ≥ 0.7; label word-F1 of matched nodes; directed edges compared
over matched node pairs; edge-label accuracy on correctly found edges; exact-graph flags.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel
from scipy.optimize import linear_sum_assignment

from flowpath.bench.dataset import chart_image
from flowpath.bench.gold import load_gold_boxes
from flowpath.errors import DataError
from graphsolvers.errors import ToolkitError
from graphsolvers.graph import Graph
from graphsolvers.mermaid import parse_mermaid

__all__ = ["ChartScore", "ParseSummary", "load_charts", "score_chart", "style_group", "summarise", "word_f1"]

logger = logging.getLogger(__name__)


@dataclass
class GoldChart:
    """A chart to score: its key, image path, gold graph (from Mermaid) and gold boxes."""

    key: str
    image: Path
    graph: Graph
    boxes: dict[str, tuple[float, float, float, float]]
    recovered: int
    style: str = ""


@dataclass
class ChartScore:
    """Counts and flags of one chart (sums over charts give micro averages)."""

    key: str
    style: str
    n_gold: int
    n_pred: int
    tp50: int
    tp70: int
    word_f1_sum: float
    n_words_scored: int
    edges_gold: int
    edges_pred: int
    edges_tp: int
    edge_labels_right: int
    labelled_gold: int
    labelled_right: int
    exact_structure: bool
    exact_graph: bool
    seconds: float
    error: str | None = None
    recovered_boxes: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def node_f1(self) -> float:
        return _f1(self.tp50, self.n_pred, self.n_gold)

    @property
    def edge_f1(self) -> float:
        return _f1(self.edges_tp, self.edges_pred, self.edges_gold)


class ParseSummary(BaseModel):
    """Benchmark figures over a set of charts (micro averages unless said otherwise)."""

    charts: int
    failed: int
    node_precision_50: float
    node_recall_50: float
    node_f1_50: float
    node_f1_70: float
    label_word_f1: float
    edge_precision: float
    edge_recall: float
    edge_f1: float
    edge_label_accuracy: float
    labelled_edge_accuracy: float
    exact_structure_rate: float
    exact_graph_rate: float
    seconds_p50: float
    seconds_p95: float
    recovered_gold_boxes: int
    by_style: dict[str, dict[str, float]] = {}


def load_charts(data_dir: str | os.PathLike[str], *, keys: list[str] | None = None) -> list[GoldChart]:
    """The charts of a data folder, in key order (or ``keys`` order).

    Raises
    ------
    DataError
        If ``dataset.json`` is missing or malformed, or a requested key is unknown.
    """
    root = Path(data_dir)
    ds_path = root / "dataset.json"
    if not ds_path.is_file():
        raise DataError(f"{root}: no dataset.json here; expected the FlowExplainBench layout (dataset.json, images/)")
    try:
        data = json.loads(ds_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{ds_path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise DataError(f"{ds_path}: expected an object {{id: {{key, mermaid, ...}}}}")
    sources: dict[str, str] = {}
    for qid, row in data.items():
        if not isinstance(row, dict) or "key" not in row or "mermaid" not in row:
            raise DataError(f"{ds_path}: entry {qid!r} lacks 'key' or 'mermaid'")
        sources.setdefault(str(row["key"]), str(row["mermaid"]))
    wanted = keys if keys is not None else sorted(sources)
    out = []
    for key in wanted:
        if key not in sources:
            raise DataError(f"{ds_path}: no chart with key {key!r} ({len(sources)} keys, e.g. {next(iter(sources))})")
        gb = load_gold_boxes(root, key)
        graph = parse_mermaid(sources[key])
        style = ""
        meta = data.get(key) if isinstance(data.get(key), dict) else None
        if meta and "style" in meta:
            style = str(meta["style"])
        out.append(
            GoldChart(
                key=key,
                image=chart_image(root, key),
                graph=graph,
                boxes=gb.boxes,
                recovered=len(gb.recovered),
                style=style,
            )
        )
    return out


def chart_style(img: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> str:
    """A colour-style name from the fills inside the gold boxes: ``outline``, ``multicolour`` or ``single fill``."""
    fills = []
    for x1, y1, x2, y2 in boxes:
        cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
        dx, dy = max(1, int((x2 - x1) * 0.1)), max(1, int((y2 - y1) * 0.1))
        patch = img[max(0, cy - dy) : cy + dy, max(0, cx - dx) : cx + dx].reshape(-1, 3)
        if patch.size:
            fills.append(np.median(patch, axis=0))
    if not fills:
        return "unknown"
    f = np.array(fills)
    bg = img[0, 0].astype(float)
    if np.median(np.abs(f - bg).max(axis=1)) < 10:
        return "outline"
    q = {tuple((c // 24).astype(int)) for c in f}
    if len(q) >= 3:
        return "multicolour"
    return "single fill"


_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").lower())


def word_f1(pred: str | None, gold: str | None) -> float:
    """F1 of the word multisets of two labels (case and punctuation ignored; two empty labels score 1).

    Examples
    --------
    >>> word_f1("Check the oil", "check oil level")
    0.6666666666666666
    >>> word_f1("", "")
    1.0
    """
    p, g = _words(pred), _words(gold)
    if not p and not g:
        return 1.0
    if not p or not g:
        return 0.0
    common = 0
    rest = list(g)
    for w in p:
        if w in rest:
            rest.remove(w)
            common += 1
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


def _norm(text: str | None) -> str:
    return " ".join(_words(text))


def _iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def score_chart(pred: Graph, gold: GoldChart, *, seconds: float = 0.0) -> ChartScore:
    """Compare a parsed graph with the gold chart (see the module docstring for the rules)."""
    gold_ids = [n.id for n in gold.graph.nodes if n.id in gold.boxes]
    pred_nodes = [n for n in pred.nodes if n.bbox is not None]
    m = np.zeros((len(pred_nodes), len(gold_ids)))
    for i, pn in enumerate(pred_nodes):
        for j, gid in enumerate(gold_ids):
            m[i, j] = _iou(pn.bbox, gold.boxes[gid])
    match: dict[str, str] = {}
    tp70 = 0
    if m.size:
        rows, cols = linear_sum_assignment(-m)
        for i, j in zip(rows, cols, strict=True):
            if m[i, j] >= 0.5:
                match[pred_nodes[i].id] = gold_ids[j]
                tp70 += m[i, j] >= 0.7
    gtext = {n.id: n.text for n in gold.graph.nodes}
    f1s = [word_f1(pn.text, gtext[match[pn.id]]) for pn in pred_nodes if pn.id in match]
    gold_edges: dict[tuple[str, str], str | None] = {}
    for e in gold.graph.edges:
        if e.source != e.target:
            gold_edges.setdefault((e.source, e.target), e.label)
    pred_edges: dict[tuple[str | None, str | None], str | None] = {}
    for k, e in enumerate(pred.edges):
        key = (match.get(e.source), match.get(e.target))
        if None in key:
            key = (f"?{k}", None)  # an edge with an unmatched end is a false positive
        pred_edges.setdefault(key, e.label)
    tp = [k for k in pred_edges if k in gold_edges]
    labels_right = sum(_norm(pred_edges[k]) == _norm(gold_edges[k]) for k in tp)
    labelled = [k for k, v in gold_edges.items() if v]
    labelled_right = sum(k in pred_edges and _norm(pred_edges[k]) == _norm(gold_edges[k]) for k in labelled)
    structure = (
        len(match) == len(gold_ids) == len(pred_nodes) == len(gold.graph.nodes)
        and len(tp) == len(gold_edges) == len(pred_edges)
        and labels_right == len(tp)
    )
    texts_right = all(_norm(pn.text) == _norm(gtext[match[pn.id]]) for pn in pred_nodes if pn.id in match)
    return ChartScore(
        key=gold.key,
        style=gold.style,
        n_gold=len(gold_ids),
        n_pred=len(pred_nodes),
        tp50=len(match),
        tp70=int(tp70),
        word_f1_sum=float(sum(f1s)),
        n_words_scored=len(f1s),
        edges_gold=len(gold_edges),
        edges_pred=len(pred_edges),
        edges_tp=len(tp),
        edge_labels_right=int(labels_right),
        labelled_gold=len(labelled),
        labelled_right=int(labelled_right),
        exact_structure=bool(structure),
        exact_graph=bool(structure and texts_right),
        seconds=seconds,
        recovered_boxes=gold.recovered,
    )


def failed_score(gold: GoldChart, error: str, seconds: float) -> ChartScore:
    """The score of a chart the parser raised on: nothing found."""
    return ChartScore(
        key=gold.key,
        style=gold.style,
        n_gold=len([n for n in gold.graph.nodes if n.id in gold.boxes]),
        n_pred=0,
        tp50=0,
        tp70=0,
        word_f1_sum=0.0,
        n_words_scored=0,
        edges_gold=len({(e.source, e.target) for e in gold.graph.edges if e.source != e.target}),
        edges_pred=0,
        edges_tp=0,
        edge_labels_right=0,
        labelled_gold=sum(1 for e in gold.graph.edges if e.label),
        labelled_right=0,
        exact_structure=False,
        exact_graph=False,
        seconds=seconds,
        error=error,
        recovered_boxes=gold.recovered,
    )


def evaluate(
    charts: list[GoldChart],
    parse: Callable[[Path], Graph],
    *,
    on_result: Callable[[GoldChart, Graph | None, ChartScore], None] | None = None,
) -> Iterator[ChartScore]:
    """Parse and score each chart in turn (a failing chart scores zero and records its error)."""
    import cv2

    for gold in charts:
        t0 = time.perf_counter()
        pred: Graph | None = None
        try:
            pred = parse(gold.image)
            dt = time.perf_counter() - t0
            score = score_chart(pred, gold, seconds=dt)
        except ToolkitError as e:
            dt = time.perf_counter() - t0
            score = failed_score(gold, str(e), dt)
        if not score.style:
            img = cv2.imread(str(gold.image))
            score.style = chart_style(img, list(gold.boxes.values())) if img is not None else "unknown"
        if on_result is not None:
            on_result(gold, pred, score)
        yield score


def summarise(scores: list[ChartScore], *, by_style: bool = True) -> ParseSummary:
    """Micro-averaged figures over ``scores`` (and per colour style)."""
    n = len(scores)
    numeric = [k for k, v in asdict(scores[0]).items() if isinstance(v, int | float)] if scores else []
    s = {k: sum(getattr(c, k) for c in scores) for k in numeric}

    def tot(k: str) -> float:
        return float(s.get(k, 0))

    secs = [c.seconds for c in scores if c.error is None] or [0.0]
    styles: dict[str, dict[str, float]] = {}
    if by_style:
        for st in sorted({style_group(c.style) for c in scores}):
            sub = summarise([c for c in scores if style_group(c.style) == st], by_style=False)
            styles[st] = {
                "charts": sub.charts,
                "node_f1_50": sub.node_f1_50,
                "label_word_f1": sub.label_word_f1,
                "edge_f1": sub.edge_f1,
                "edge_label_accuracy": sub.edge_label_accuracy,
                "exact_graph_rate": sub.exact_graph_rate,
            }
    return ParseSummary(
        charts=n,
        failed=sum(c.error is not None for c in scores),
        node_precision_50=_div(tot("tp50"), tot("n_pred")),
        node_recall_50=_div(tot("tp50"), tot("n_gold")),
        node_f1_50=_f1(tot("tp50"), tot("n_pred"), tot("n_gold")),
        node_f1_70=_f1(tot("tp70"), tot("n_pred"), tot("n_gold")),
        label_word_f1=_div(tot("word_f1_sum"), tot("n_words_scored")),
        edge_precision=_div(tot("edges_tp"), tot("edges_pred")),
        edge_recall=_div(tot("edges_tp"), tot("edges_gold")),
        edge_f1=_f1(tot("edges_tp"), tot("edges_pred"), tot("edges_gold")),
        edge_label_accuracy=_div(tot("edge_labels_right"), tot("edges_tp")),
        labelled_edge_accuracy=_div(tot("labelled_right"), tot("labelled_gold")),
        exact_structure_rate=_div(sum(c.exact_structure for c in scores), n),
        exact_graph_rate=_div(sum(c.exact_graph for c in scores), n),
        seconds_p50=float(np.percentile(secs, 50)),
        seconds_p95=float(np.percentile(secs, 95)),
        recovered_gold_boxes=int(tot("recovered_boxes")),
        by_style=styles,
    )


_DIRECTIONS = {"TD", "TB", "LR", "BT", "RL"}


def style_group(style: str) -> str:
    """The group a chart's style is reported under: synthetic ``"<theme> <dir> [degradations]"`` become
    ``"<theme> clean"`` or ``"<theme> degraded"``; other styles stay as they are.

    Examples
    --------
    >>> style_group("dark TD jpeg(41) rotate(2.0)"), style_group("forest LR"), style_group("single fill")
    ('dark degraded', 'forest clean', 'single fill')
    """
    parts = style.split()
    if len(parts) >= 2 and parts[1] in _DIRECTIONS:
        return f"{parts[0]} {'degraded' if len(parts) > 2 else 'clean'}"
    return style


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


def _f1(tp: float, n_pred: float, n_gold: float) -> float:
    return 2 * tp / (n_pred + n_gold) if n_pred + n_gold else 1.0


def markdown_report(
    summary: ParseSummary, scores: list[ChartScore], *, overlays: dict[str, str], worst: int = 15
) -> str:
    """The Markdown report: headline figures, per-style table, and the worst charts with their overlays."""
    lines = [
        "# Flowchart parsing report",
        "",
        f"{summary.charts} charts ({summary.failed} failed to parse); "
        f"{summary.recovered_gold_boxes} degenerate or missing gold boxes recovered from the SVGs.",
        "",
        "| figure | value |",
        "|---|---|",
    ]
    for name in (
        "node_precision_50",
        "node_recall_50",
        "node_f1_50",
        "node_f1_70",
        "label_word_f1",
        "edge_precision",
        "edge_recall",
        "edge_f1",
        "edge_label_accuracy",
        "labelled_edge_accuracy",
        "exact_structure_rate",
        "exact_graph_rate",
        "seconds_p50",
        "seconds_p95",
    ):
        lines.append(f"| {name} | {getattr(summary, name):.3f} |")
    if summary.by_style:
        lines += [
            "",
            "## By colour style",
            "",
            "| style | charts | node F1 | word F1 | edge F1 | edge-label acc | exact |",
        ]
        lines.append("|---|---|---|---|---|---|---|")
        for st, v in summary.by_style.items():
            lines.append(
                f"| {st} | {int(v['charts'])} | {v['node_f1_50']:.3f} | {v['label_word_f1']:.3f} | {v['edge_f1']:.3f} "
                f"| {v['edge_label_accuracy']:.3f} | {v['exact_graph_rate']:.3f} |"
            )
    ranked = sorted(scores, key=lambda c: (c.edge_f1 + c.node_f1, c.key))[:worst]
    lines += [
        "",
        f"## Worst {len(ranked)} charts",
        "",
        "| chart | node F1 | edge F1 | error | overlay |",
        "|---|---|---|---|---|",
    ]
    for c in ranked:
        ov = f"![{c.key}]({overlays[c.key]})" if c.key in overlays else ""
        lines.append(f"| {c.key} | {c.node_f1:.3f} | {c.edge_f1:.3f} | {c.error or ''} | {ov} |")
    return "\n".join(lines) + "\n"

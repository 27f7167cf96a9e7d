"""Figures over many parsed charts: each chart's counts (:class:`ChartScore`), their micro averages per
colour style and look value (:func:`summarise`, :class:`ParseSummary`), and the text and Markdown
reports ``flowpath eval-parse`` prints and writes.

:mod:`flowpath.bench.parse_eval` scores one chart at a time; this module only adds up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
from pydantic import BaseModel

__all__ = [
    "LOOK_FIGURES",
    "ChartScore",
    "ParseSummary",
    "look_tables",
    "look_text",
    "look_warning",
    "markdown_report",
    "style_group",
    "summarise",
]

WARN_EDGE_F1 = 0.90
"""Look values whose edge F1 is below this are marked ⚠ in reports."""
WARN_MIN_CHARTS = 20
"""Look values with fewer charts than this are marked ⚠ (too few to trust the figures)."""
WARN_MARK = "⚠"


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
    look: dict[str, str] = field(default_factory=dict)
    node_count_exact: bool = False
    """The parsed node count equals the gold graph's."""
    edge_count_exact: bool = False
    """The parsed edge count (distinct directed pairs) equals the gold graph's."""
    no_graph: bool = False
    """A chart of at least two gold nodes whose parse raised or found no node."""
    arrow_questions: int = 0
    arrow_right: int = 0

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
    node_count_exact_rate: float = 0.0
    counts_exact_rate: float = 0.0
    """Charts whose node and edge counts both equal the gold counts."""
    no_graph_charts: int = 0
    arrow_answer_accuracy: float = 0.0
    """Share of right yes/no answers to "does an arrow go from A to B?" (see :func:`arrow_questions`)."""
    by_style: dict[str, dict[str, float]] = {}
    by_look: dict[str, dict[str, dict[str, float]]] = {}
    """``{factor: {value: figures}}`` for sets whose charts record a look (``flowpath synth --looks``)."""


LOOK_FIGURES = (
    "charts",
    "node_count_exact_rate",
    "node_f1_50",
    "edge_f1",
    "edge_label_accuracy",
    "label_word_f1",
    "no_graph",
    "arrow_answer_accuracy",
)
"""The figures reported per look value (``no_graph`` is a count of charts, the rest rates)."""


def summarise(scores: list[ChartScore], *, by_style: bool = True, by_look: bool = True) -> ParseSummary:
    """Micro-averaged figures over ``scores``, per colour style and, for charts that record a look,
    per value of each look factor.

    Examples
    --------
    >>> a = ChartScore("a", "s", 2, 2, 2, 2, 2.0, 2, 1, 1, 1, 1, 0, 0, True, True, 1.0, look={"page": "white"},
    ...                node_count_exact=True, edge_count_exact=True, arrow_questions=2, arrow_right=2)
    >>> b = ChartScore("b", "s", 2, 0, 0, 0, 0.0, 0, 1, 0, 0, 0, 0, 0, False, False, 1.0, look={"page": "black"},
    ...                no_graph=True, arrow_questions=2, arrow_right=1)
    >>> s = summarise([a, b])
    >>> s.counts_exact_rate, s.no_graph_charts, s.arrow_answer_accuracy
    (0.5, 1, 0.75)
    >>> s.by_look["page"]["black"]["edge_f1"], s.by_look["page"]["white"]["edge_f1"]
    (0.0, 1.0)
    """
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
    looks: dict[str, dict[str, dict[str, float]]] = {}
    if by_look:
        for factor in _look_factors(scores):
            looks[factor] = {}
            for value in sorted({c.look[factor] for c in scores if factor in c.look}):
                sub = summarise([c for c in scores if c.look.get(factor) == value], by_style=False, by_look=False)
                figures = {**sub.model_dump(), "no_graph": sub.no_graph_charts}
                looks[factor][value] = {k: float(figures[k]) for k in LOOK_FIGURES}
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
        node_count_exact_rate=_div(sum(c.node_count_exact for c in scores), n),
        counts_exact_rate=_div(sum(c.node_count_exact and c.edge_count_exact for c in scores), n),
        no_graph_charts=sum(c.no_graph for c in scores),
        arrow_answer_accuracy=_div(tot("arrow_right"), tot("arrow_questions")),
        by_style=styles,
        by_look=looks,
    )


def _look_factors(scores: list[ChartScore]) -> list[str]:
    """The look factors the charts record, in first-seen order."""
    seen: dict[str, None] = {}
    for c in scores:
        seen.update(dict.fromkeys(c.look))
    return list(seen)


def look_warning(figures: dict[str, float]) -> str:
    """:data:`WARN_MARK` for a look value with edge F1 below :data:`WARN_EDGE_F1` or fewer than
    :data:`WARN_MIN_CHARTS` charts, else ``""``.

    Examples
    --------
    >>> look_warning({"charts": 40, "edge_f1": 0.95}), look_warning({"charts": 12, "edge_f1": 0.99})
    ('', '⚠')
    """
    return WARN_MARK if figures["edge_f1"] < WARN_EDGE_F1 or figures["charts"] < WARN_MIN_CHARTS else ""


def look_text(summary: ParseSummary) -> list[str]:
    """Plain-text lines: per look factor, one row per value with the :data:`LOOK_FIGURES`, marked by
    :func:`look_warning` (what ``flowpath eval-parse`` prints). Empty when no chart recorded a look."""
    if not summary.by_look:
        return []
    lines = [f"{WARN_MARK}: edge F1 below {WARN_EDGE_F1:.2f} or fewer than {WARN_MIN_CHARTS} charts"]
    cols = ("charts", "count=", "node F1", "edge F1", "e-label", "word F1", "no graph", "arrows")
    for factor, values in summary.by_look.items():
        width = max(len(factor), *(len(v) for v in values)) + 2
        lines.append(f"look {factor:<{width - 3}}" + "".join(f"{c:>9}" for c in cols))
        for value, v in values.items():
            row = [f"{int(v['charts'])}"] + [
                f"{v[k]:.3f}"
                for k in ("node_count_exact_rate", "node_f1_50", "edge_f1", "edge_label_accuracy", "label_word_f1")
            ]
            row += [f"{int(v['no_graph'])}", f"{v['arrow_answer_accuracy']:.3f}"]
            mark = look_warning(v)
            lines.append(f"  {value:<{width}}" + "".join(f"{x:>9}" for x in row) + (f"  {mark}" if mark else ""))
    return lines


def look_tables(summary: ParseSummary) -> list[str]:
    """Markdown lines: one table per look factor (value, charts and the :data:`LOOK_FIGURES`), values
    marked by :func:`look_warning`. Empty when no chart recorded a look."""
    lines: list[str] = []
    header = "| {} | charts | node count exact | node F1 | edge F1 | edge-label acc | word F1 | no graph | arrow acc |"
    for factor, values in summary.by_look.items():
        lines += ["", f"### {factor}", "", header.format(factor), "|---|---|---|---|---|---|---|---|---|"]
        for value, v in values.items():
            mark = look_warning(v)
            lines.append(
                f"| {value}{' ' + mark if mark else ''} | {int(v['charts'])} | {v['node_count_exact_rate']:.3f} "
                f"| {v['node_f1_50']:.3f} | {v['edge_f1']:.3f} | {v['edge_label_accuracy']:.3f} "
                f"| {v['label_word_f1']:.3f} | {int(v['no_graph'])} | {v['arrow_answer_accuracy']:.3f} |"
            )
    return lines


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
        "node_count_exact_rate",
        "counts_exact_rate",
        "arrow_answer_accuracy",
        "seconds_p50",
        "seconds_p95",
    ):
        lines.append(f"| {name} | {getattr(summary, name):.3f} |")
    lines.append(f"| no_graph_charts | {summary.no_graph_charts} |")
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
    if summary.by_look:
        lines += [
            "",
            "## By look",
            "",
            f"{WARN_MARK} marks values with edge F1 below {WARN_EDGE_F1:.2f} or fewer than {WARN_MIN_CHARTS} charts.",
            *look_tables(summary),
        ]
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

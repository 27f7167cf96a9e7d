"""``flowpath bench``: run the agent and baselines over FlowExplainBench and score them honestly."""

from __future__ import annotations

import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from flowpath.agent.embed import Embedder
from flowpath.agent.graph import FlowPathAgent
from flowpath.agent.grounding import ground
from flowpath.bench.dataset import BenchItem
from flowpath.bench.scoring import Counts, match_boxes, match_ids
from graphsolvers.graph import Graph
from graphsolvers.mermaid import parse_mermaid

__all__ = [
    "BenchRun",
    "ItemPrediction",
    "baseline_embedding_topk",
    "baseline_lexical",
    "markdown_report",
    "run_bench",
    "worst_items",
]

log = logging.getLogger(__name__)

GraphSource = Literal["mermaid", "image"]
METHODS = ("lexical", "embedding_topk", "agent")


@dataclass
class ItemPrediction:
    """One question's predictions by every method."""

    item: BenchItem
    graph: Graph
    preds: dict[str, list[str]]
    scores: dict[str, float]
    seconds: float
    agent_scores: dict[str, float] = field(default_factory=dict)
    """The agent's confidence per attributed node."""


@dataclass
class BenchRun:
    """Counts per method and group, plus the per-item predictions."""

    source: GraphSource
    counts: dict[str, dict[str, Counts]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(Counts)))
    items: list[ItemPrediction] = field(default_factory=list)
    excluded_gold: int = 0
    recovered_boxes: int = 0
    seconds_per_question: list[float] = field(default_factory=list)
    """The agent's time on each question, its chart parsed and the chart's node texts embedded."""
    seconds_per_chart: list[float] = field(default_factory=list)
    """Embedding each chart's node texts once, before its first question (the parse itself is not in it)."""
    answer: str = "a1"
    """Which reference answer was attributed (``a1``, ``a2`` or ``a3``)."""


def baseline_lexical(graph: Graph, question: str, answer: str, embedder: Embedder | None) -> list[str]:
    """Nodes whose IDF-weighted word overlap with the answer is at least half the best (at most 3)."""
    g = ground(graph, question, answer, None)
    best = float(g.lex_a.max()) if len(g.lex_a) else 0.0
    if best <= 0:
        return []
    order = np.argsort(-g.lex_a, kind="stable")[:3]
    return [g.node_ids[i] for i in order if g.lex_a[i] >= 0.5 * best]


def baseline_embedding_topk(
    graph: Graph, question: str, answer: str, embedder: Embedder | None, k: int = 2
) -> list[str]:
    """The ``k`` nodes whose MiniLM embedding is closest to the question + answer."""
    if embedder is None or not graph.nodes:
        return []
    vecs = embedder.embed([n.text for n in graph.nodes] + [f"{question} {answer}"])
    order = np.argsort(-(vecs[:-1] @ vecs[-1]), kind="stable")[:k]
    return [graph.node_ids[i] for i in order]


def run_bench(
    items: Iterable[BenchItem],
    *,
    agent: FlowPathAgent,
    source: GraphSource = "mermaid",
    graph_for: Callable[[BenchItem], Graph] | None = None,
    gold_boxes_for: Callable[[str], dict[str, tuple[float, float, float, float]]] | None = None,
    scorer_for: Callable[[str], object] | None = None,
    progress: Callable[[Iterable[BenchItem]], Iterable[BenchItem]] = lambda it: it,
    answer: str = "a1",
) -> BenchRun:
    """Score the agent and the baselines on ``items``, attributing each question's reference answer ``answer``.

    With ``source="mermaid"`` graphs come from each item's Mermaid source and nodes match by id.
    With ``source="image"``, ``graph_for`` parses the chart image and ``gold_boxes_for(key)`` gives
    the gold boxes; predicted regions match gold boxes one-to-one at IoU 0.5 (and 0.7).
    ``scorer_for(key)`` gives the learned policy a scorer that never saw chart ``key`` (cross-validation).
    """
    run = BenchRun(source=source, answer=answer)
    graphs: dict[str, Graph] = {}
    boxes: dict[str, dict[str, tuple[float, float, float, float]]] = {}
    embedder = agent.embedder
    for item in progress(items):
        if item.key not in graphs:
            graphs[item.key] = graph_for(item) if graph_for else parse_mermaid(item.mermaid)
            if source == "image" and gold_boxes_for is not None:
                boxes[item.key] = gold_boxes_for(item.key)
            if embedder is not None:  # chart preparation, once per chart: timed apart from its questions
                t0 = time.perf_counter()
                embedder.embed([n.text for n in graphs[item.key].nodes])
                run.seconds_per_chart.append(time.perf_counter() - t0)
        graph = graphs[item.key]
        t0 = time.perf_counter()
        text = item.answer(answer)
        result = agent.attribute(graph, item.q, text, scorer=scorer_for(item.key) if scorer_for else None)
        run.seconds_per_question.append(time.perf_counter() - t0)
        preds = {
            "agent": result.node_ids,
            "lexical": baseline_lexical(graph, item.q, text, embedder),
            "embedding_topk": baseline_embedding_topk(graph, item.q, text, embedder),
        }
        gold = list(item.attribution)
        if source == "image":
            gold_boxes = boxes.get(item.key, {})
            missing = [g for g in gold if g not in gold_boxes]
            run.excluded_gold += len(missing)
            gold = [g for g in gold if g in gold_boxes]
        scores: dict[str, float] = {}
        for method, pred in preds.items():
            if source == "image":
                pred_boxes = [graph.node(n).bbox for n in pred if graph.node(n).bbox is not None]
                gb = [gold_boxes[g] for g in gold]
                counts = {
                    "@0.5": match_boxes(pred_boxes, gb, threshold=0.5),
                    "@0.7": match_boxes(pred_boxes, gb, threshold=0.7),
                }
            else:
                counts = {"": match_ids(pred, gold)}
            for suffix, (tp, fp, fn) in counts.items():
                for group in ("all", f"domain:{item.domain}", f"type:{item.type}"):
                    run.counts[method + suffix][group].add(tp, fp, fn)
            tp, fp, fn = next(iter(counts.values()))
            scores[method] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
        confidence = {n.id: n.score for n in result.nodes}
        run.items.append(ItemPrediction(item, graph, preds, scores, run.seconds_per_question[-1], confidence))
    return run


def prediction_rows(run: BenchRun) -> list[dict]:
    """One JSON-able row per question: ``{"id","key","type","domain","pred":[…],"gold":[…]}``."""
    rows = []
    for p in run.items:
        scores = {n.id: n for n in p.graph.nodes}
        rows.append(
            {
                "id": p.item.id,
                "key": p.item.key,
                "type": p.item.type,
                "domain": p.item.domain,
                "pred": [
                    {
                        "node": nid,
                        "bbox": list(scores[nid].bbox) if scores[nid].bbox else None,
                        "text": scores[nid].text,
                        "score": round(p.agent_scores.get(nid, 1.0), 4),
                    }
                    for nid in p.preds["agent"]
                ],
                "gold": list(p.item.attribution),
                "baselines": {m: p.preds[m] for m in p.preds if m != "agent"},
            }
        )
    return rows


def summary_table(run: BenchRun) -> str:
    """Markdown table: micro P/R/F1 per method, overall, by domain and by question type."""
    methods = sorted(run.counts, key=lambda m: (METHODS.index(m.split("@")[0]) if m.split("@")[0] in METHODS else 9, m))
    groups = ["all", *sorted(g for g in next(iter(run.counts.values()), {}) if g != "all")]
    lines = [
        "| group | n gold | " + " | ".join(f"{m} F1" for m in methods) + " | agent P | agent R |",
        "|---|---|" + "---|" * (len(methods) + 2),
    ]
    main = "agent@0.5" if "agent@0.5" in run.counts else "agent"
    for g in groups:
        c_main = run.counts[main][g]
        cells = " | ".join(f"{run.counts[m][g].f1:.3f}" for m in methods)
        lines.append(f"| {g} | {c_main.tp + c_main.fn} | {cells} | {c_main.precision:.3f} | {c_main.recall:.3f} |")
    return "\n".join(lines)


def worst_items(run: BenchRun, n: int = 15) -> list[ItemPrediction]:
    """The ``n`` questions where the agent scored lowest (ties in benchmark order)."""
    return sorted(run.items, key=lambda p: p.scores["agent"])[:n]


def markdown_report(run: BenchRun, *, worst: int = 15, overlays: dict[str, str] | None = None) -> str:
    """The full Markdown report: summary, timing, data defects and the worst items.

    ``overlays`` maps question ids to image paths (relative to the report) shown under each worst item.
    """
    secs = np.array(run.seconds_per_question) * 1000 if run.seconds_per_question else np.zeros(1)
    lines = [
        f"# FlowExplainBench — graph source: {run.source}",
        "",
        f"{len(run.items)} questions. Micro precision / recall / F1 over nodes; empty predictions count as misses.",
        "",
        summary_table(run),
        "",
        f"Agent time per question (chart already parsed, its node texts embedded): p50 "
        f"{np.percentile(secs, 50):.1f} ms, p95 {np.percentile(secs, 95):.1f} ms.",
    ]
    if run.seconds_per_chart:
        chart = np.array(run.seconds_per_chart) * 1000
        lines.append(
            f"Embedding a chart's node texts (once per chart): p50 {np.percentile(chart, 50):.1f} ms, "
            f"p95 {np.percentile(chart, 95):.1f} ms."
        )
    if run.source == "image":
        lines.append(
            f"Gold ids without a box (excluded): {run.excluded_gold}; degenerate gold boxes recovered "
            f"from flowchart.svg: {run.recovered_boxes}."
        )
    lines += ["", f"## Worst {worst} questions (agent)", ""]
    for p in worst_items(run, worst):
        texts = {n.id: n.text for n in p.graph.nodes}
        gold_texts = texts if run.source == "mermaid" else {n.id: n.text for n in parse_mermaid(p.item.mermaid).nodes}

        def named(ids: list[str], texts: dict[str, str] = texts) -> str:
            return ", ".join(f"{i} ({texts.get(i, '?')})" for i in ids)

        lines += [
            f"### {p.item.id} ({p.item.domain}, {p.item.type}) — F1 {p.scores['agent']:.2f}",
            f"- Q: {p.item.q}",
            f"- A ({run.answer}): {p.item.answer(run.answer)}",
            f"- gold: {named(p.item.attribution, gold_texts)}",
            f"- pred: {named(p.preds['agent']) or '(empty)'}",
            "",
        ]
        if overlays and p.item.id in overlays:
            lines += [f"![gold in green, prediction in red]({overlays[p.item.id]})", ""]
    return "\n".join(lines)


def write_jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)

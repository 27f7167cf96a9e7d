"""The whole ``flowpath bench`` job as one function: cross-validation scorers, chart parsing in worker processes,
the run, and the pictures of its worst items.

With ``--cv`` on chart images two things run at once: the fold scorers' features are built in this process on one
torch thread (and the trees train on one thread) while worker processes, started by a fork server so no thread is
forked, parse the charts; the questions then run alone with every thread.

Examples
--------
>>> outcome = run_benchmark(folder, items, agent, graph_source="mermaid")  # doctest: +SKIP
>>> outcome.run.counts["agent"]["all"].f1  # doctest: +SKIP
0.74
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowpath.bench.dataset import ANSWER_FIELDS, BenchItem, chart_image, load_items
from flowpath.bench.gold import Box, gold_boxes
from flowpath.bench.run import BenchRun, GraphSource, run_bench, worst_items
from graphsolvers.cli_support import write_atomic
from graphsolvers.errors import ToolkitError

__all__ = [
    "WORST_OVERLAYS",
    "BenchOutcome",
    "ProgressBar",
    "fold_scorers",
    "in_sample_charts",
    "run_benchmark",
    "write_worst_overlays",
]

log = logging.getLogger(__name__)

WORST_OVERLAYS = 15
"""Items drawn beside a report (gold against predicted boxes): enough to see the failure modes, few enough to look
at."""

ProgressBar = Callable[..., Any]
"""A ``tqdm``-like factory, ``bar(iterable=None, *, total, desc, unit)``; a CLI passes ``tqdm``."""


def _silent_bar(iterable: Iterable[Any] | None = None, **kwargs: Any) -> Any:
    from tqdm import tqdm

    return tqdm(iterable, disable=True, **kwargs)


@dataclass
class BenchOutcome:
    """A benchmark run, the charts that could not be parsed (their questions count as misses) and the gold boxes."""

    run: BenchRun
    failed_charts: int = 0
    gold_boxes_for: Callable[[str], dict[str, Box]] | None = None


def run_benchmark(
    folder: Path,
    items: list[BenchItem],
    agent: Any,
    *,
    graph_source: GraphSource = "image",
    answer: str = "a1",
    cv: int | None = None,
    seed: int = 0,
    workers: int = 1,
    parse_cache: Path | None = None,
    bar: ProgressBar = _silent_bar,
    parse_bar: ProgressBar = _silent_bar,
    note: Callable[[str], object] = log.warning,
) -> BenchOutcome:
    """Run the agent and the baselines on ``items`` of ``folder``; with ``cv`` folds, each chart is scored by a
    scorer trained on the other folds of the whole folder; chart images are parsed by ``workers`` processes
    (cached in ``parse_cache``). ``bar`` shows the questions (and the fold scorers' features), ``parse_bar`` the
    charts parsed. Charts that cannot be parsed are told to ``note`` before the questions run."""
    kwargs: dict[str, Any] = {}
    concurrent = bool(cv) and graph_source == "image"
    if concurrent:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
    with ThreadPoolExecutor(max_workers=1) as background:
        scorers = background.submit(fold_scorers, folder, agent, folds=cv, seed=seed, bar=bar) if cv else None
        if graph_source == "image":
            from flowpath.bench.images import image_sources

            with parse_bar(total=len({i.key for i in items}), desc="parse charts", unit="chart") as parsed:
                sources = image_sources(
                    folder,
                    items,
                    workers=workers,
                    cache=parse_cache,
                    progress=parsed.update,
                    start_method="forkserver" if concurrent else None,
                )
        if scorers is not None:
            kwargs["scorer_for"] = scorers.result()
    if concurrent:
        torch.set_num_threads(threads)  # the questions run alone
    failed, gold_for, recovered = 0, None, 0
    if graph_source == "image":
        kwargs.update(graph_for=sources.graph_for, gold_boxes_for=sources.gold_boxes_for)
        failed, gold_for, recovered = len(sources.failed), sources.gold_boxes_for, sources.recovered
        if failed:
            note(f"{failed} charts could not be parsed; their questions count as misses")
    run = run_bench(
        items,
        agent=agent,
        source=graph_source,
        progress=lambda it: bar(it, total=len(items), desc="questions", unit="q"),
        answer=answer,
        **kwargs,
    )
    run.recovered_boxes = recovered
    return BenchOutcome(run, failed, gold_for)


def fold_scorers(folder: Path, agent: Any, *, folds: int, seed: int, bar: ProgressBar = _silent_bar):
    """Fold scorers trained on the whole ``folder``; returns chart key -> the scorer that never saw that chart."""
    from flowpath.bench.train import build_examples, out_of_fold_scorers

    all_items = load_items(folder)
    examples = build_examples(
        all_items,
        embedder=agent.embedder.fresh(),  # its own memo: the timed questions must embed their texts
        answers=ANSWER_FIELDS,
        progress=lambda it: bar(it, total=len(all_items), desc="cv features", unit="q"),
    )
    import sklearn.ensemble  # noqa: F401 - loaded first: threadpoolctl limits only libraries already loaded
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # the trees train on one thread: the other cores parse charts
        fold_of, scorers = out_of_fold_scorers(examples, folds=folds, seed=seed)
    return lambda key: scorers[fold_of[key]] if key in fold_of else scorers[0]


def write_worst_overlays(
    outcome: BenchOutcome,
    folder: Path,
    out_dir: Path,
    *,
    n: int = WORST_OVERLAYS,
    note: Callable[[str], object] = log.warning,
) -> dict[str, str]:
    """Write gold-vs-prediction pictures of the ``n`` worst items into ``out_dir``; question id -> path relative to
    the folder above it. A picture that cannot be drawn is told to ``note`` and left out."""
    from flowpath.overlay import comparison_overlay

    run, gold_boxes_for = outcome.run, outcome.gold_boxes_for
    paths = {}
    for p in worst_items(run, n):
        image = chart_image(folder, p.item.key)
        try:
            gold_all = gold_boxes_for(p.item.key) if gold_boxes_for else gold_boxes(folder, p.item.key)
            gold = {g: gold_all[g] for g in p.item.attribution if g in gold_all}
            if run.source == "image":
                pred = {n: p.graph.node(n).bbox for n in p.preds["agent"] if p.graph.node(n).bbox}
            else:  # Mermaid ids are the gold ids: draw predictions on the gold boxes
                pred = {n: gold_all[n] for n in p.preds["agent"] if n in gold_all}
            name = f"{p.item.id}.png"
            write_atomic(out_dir / name, comparison_overlay(image, gold, pred))
        except ToolkitError as e:  # a picture is a convenience: never lose the report over it
            note(f"no overlay for {p.item.id}: {e}")
            continue
        paths[p.item.id] = f"{out_dir.name}/{name}"
    return paths


def in_sample_charts(items: Iterable[BenchItem]) -> int:
    """How many charts of ``items`` trained the committed scorer (their figures are in-sample)."""
    from flowpath.agent.scorer import load_scorer

    return len({i.key for i in items} & set(load_scorer().trained_on))

"""Training and chart-split cross-validation of the learned policy's node scorer (``flowpath train-scorer``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from flowpath.agent.embed import Embedder
from flowpath.agent.features import node_features
from flowpath.agent.graphnet import EPOCHS, NETS
from flowpath.agent.grounding import ground
from flowpath.agent.planner import Toolbox, structural_selection
from flowpath.agent.scorer import ITERATIONS, NodeScorer, fit_scorer
from flowpath.bench.dataset import ANSWER_FIELDS, BenchItem
from flowpath.bench.scoring import Counts
from graphsolvers.graph import Graph
from graphsolvers.mermaid import parse_mermaid

__all__ = [
    "Example",
    "TrainedScorer",
    "build_examples",
    "chart_folds",
    "out_of_fold_counts",
    "out_of_fold_scorers",
    "train_scorer",
]

log = logging.getLogger(__name__)


@dataclass
class Example:
    """Features and labels of one content question (structural questions are answered by tools)."""

    item: BenchItem
    graph: Graph
    features: np.ndarray
    labels: np.ndarray
    answer: str = "a1"
    """Which reference answer the features were computed for."""


def build_examples(
    items: Iterable[BenchItem],
    *,
    embedder: Embedder | None,
    answers: tuple[str, ...] = ("a1",),
    progress: Callable[[Iterable[BenchItem]], Iterable[BenchItem]] = lambda it: it,
) -> list[Example]:
    """Examples for every question the structural intents do not answer, graphs from the Mermaid source.

    Each of ``answers`` present on an item (``a1`` and its paraphrases ``a2``/``a3``) gives one
    example with the same gold nodes, so the scorer learns the content of an answer, not one wording.
    """
    graphs: dict[str, Graph] = {}
    out = []
    for item in progress(items):
        graph = graphs.setdefault(item.key, parse_mermaid(item.mermaid))
        gold = set(item.attribution)
        labels = np.array([n in gold for n in graph.node_ids], dtype=np.float32)
        for which in answers:
            text = getattr(item, which, None)
            if not text:
                continue
            g = ground(graph, item.q, text, embedder)
            if structural_selection(graph, item.q, text, g, Toolbox(graph), embedder, next_steps=False):
                continue
            out.append(Example(item, graph, node_features(graph, item.q, text, g, embedder), labels, which))
    return out


def chart_folds(keys: Iterable[str], *, folds: int, seed: int = 0) -> dict[str, int]:
    """Assign each chart key to one of ``folds`` folds (all questions of a chart share a fold).

    Examples
    --------
    >>> f = chart_folds(["a", "b", "c", "d"], folds=2)
    >>> sorted(f.values())
    [0, 0, 1, 1]
    """
    unique = sorted(set(keys))
    rng = np.random.default_rng(seed)
    rng.shuffle(unique)
    return {k: i % folds for i, k in enumerate(unique)}


def out_of_fold_scorers(
    examples: list[Example], *, folds: int, seed: int = 0, **fit: int
) -> tuple[dict[str, int], list[NodeScorer]]:
    """One scorer per fold, each trained on the charts of the other folds (``fit``: options of :func:`fit_scorer`)."""
    fold_of = chart_folds((e.item.key for e in examples), folds=folds, seed=seed)
    scorers = []
    for f in range(folds):
        train = [e for e in examples if fold_of[e.item.key] != f]
        scorers.append(
            fit_scorer(
                [e.features for e in train],
                [e.labels for e in train],
                [e.graph for e in train],
                seed=seed,
                trained_on=sorted({e.item.key for e in train}),
                **fit,
            )
        )
        log.info("fold %d: trained on %d questions", f, len(train))
    return fold_of, scorers


def out_of_fold_counts(examples: list[Example], fold_of: dict[str, int], scorers: list[NodeScorer]) -> Counts:
    """Micro counts of each example scored by the scorer of its own (held-out) fold, before path joining.

    Each question keeps at least its best node; gold ids that are not nodes of the chart (defects of
    the gold data) still count as misses.
    """
    counts = Counts()
    for e in examples:
        scorer = scorers[fold_of[e.item.key]]
        probs = scorer.predict(e.features, e.graph)
        pred = probs >= scorer.threshold
        if not pred.any():
            pred[int(probs.argmax())] = True
        gold = e.labels > 0
        outside = len(set(e.item.attribution) - set(e.graph.node_ids))
        counts.add(int((pred & gold).sum()), int((pred & ~gold).sum()), int((~pred & gold).sum()) + outside)
    return counts


@dataclass
class TrainedScorer:
    """A scorer trained on every example, with its chart-split cross-validated figures on the first answers."""

    scorer: NodeScorer
    counts: Counts
    """Out-of-fold counts of the scorer alone (before path joining) on the content questions' answer a1."""
    n_questions: int
    n_charts: int
    n_examples: int
    """Examples trained on: every content question once with each of its reference answers."""


def train_scorer(
    items: list[BenchItem],
    *,
    embedder: Embedder,
    folds: int = 5,
    seed: int = 0,
    iterations: int = ITERATIONS,
    epochs: int = EPOCHS,
    nets: int = NETS,
    progress: Callable[[Iterable[BenchItem]], Iterable[BenchItem]] = lambda it: it,
) -> TrainedScorer:
    """Cross-validate the node scorer by chart on ``items`` (``folds`` folds), then train it on all of them.

    Examples
    --------
    >>> trained = train_scorer(load_items(data_dir(None)), embedder=get_embedder())  # doctest: +SKIP
    >>> round(trained.counts.f1, 3)  # doctest: +SKIP
    0.81
    """
    examples = build_examples(items, embedder=embedder, answers=ANSWER_FIELDS, progress=progress)
    fit = {"iterations": iterations, "epochs": epochs, "nets": nets}
    fold_of, scorers = out_of_fold_scorers(examples, folds=folds, seed=seed, **fit)
    first = [e for e in examples if e.answer == "a1"]
    counts = out_of_fold_counts(first, fold_of, scorers)
    final = fit_scorer(
        [e.features for e in examples],
        [e.labels for e in examples],
        [e.graph for e in examples],
        seed=seed,
        trained_on=sorted(fold_of),
        **fit,
    )
    return TrainedScorer(final, counts, len(first), len(fold_of), len(examples))

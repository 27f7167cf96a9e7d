"""``flowpath bench`` and ``flowpath train-scorer``: attribution figures on FlowExplainBench, and the scorer behind
them (the work: :mod:`flowpath.bench.pipeline`, :mod:`flowpath.bench.train`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flowpath.agent.graphnet import EPOCHS, NETS
from flowpath.bench.dataset import ANSWER_FIELDS
from flowpath.cli.common import add_policy, agent_for, ocr_checked
from flowpath.errors import InputError
from graphsolvers.cli_support import add_command, check_at_least, check_output, options, write_atomic

__all__ = ["register"]

DATA_HELP = "FollowTheFlow data/ folder (default: $FLOWEXPLAINBENCH_DIR)"


def register(sub) -> None:
    bench = add_command(
        sub,
        _bench,
        epilog="Example:\n  flowpath bench --data ../shared/flowexplainbench/dev --graph-source mermaid "
        "--report report.md",
    )
    bench.add_argument("--data", type=Path, help=DATA_HELP)
    bench.add_argument(
        "--graph-source",
        choices=["image", "mermaid"],
        default="image",
        help="parse chart images (default) or use the Mermaid source as an oracle graph",
    )
    bench.add_argument("--out", type=Path, help="write one JSON line of predictions per question here")
    bench.add_argument("--report", type=Path, help="write a Markdown report here")
    bench.add_argument("--limit", type=int, help="only the first N questions")
    bench.add_argument("--workers", type=int, default=1, help="processes for parsing chart images (default 1)")
    bench.add_argument(
        "--parse-cache",
        type=Path,
        metavar="DIR",
        help="keep parsed chart graphs here (by image hash) so reruns skip parsing",
    )
    add_policy(bench)
    bench.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="learned policy: score each chart with a scorer trained on the other K-1 folds of "
        "--data (honest numbers on the data the committed weights were trained on)",
    )
    bench.add_argument("--seed", type=int, default=0, help="fold assignment seed for --cv (default 0)")
    bench.add_argument(
        "--answer",
        choices=ANSWER_FIELDS,
        default="a1",
        help="which reference answer to attribute: a1 (default) or its paraphrases a2 / a3, a check that "
        "the agent does not hang on one wording",
    )

    train = add_command(
        sub,
        _train_scorer,
        epilog="Reproduce the committed weights:\n  flowpath train-scorer --data ../shared/flowexplainbench/dev",
    )
    train.add_argument("--data", type=Path, help=DATA_HELP)
    train.add_argument("--folds", type=int, default=5, help="cross-validation folds, split by chart (default 5)")
    train.add_argument(
        "--iterations", type=int, default=300, help="boosting iterations (trees) of the scorer (default 300)"
    )
    train.add_argument(
        "--epochs", type=int, default=EPOCHS, help=f"training epochs of each message-passing net (default {EPOCHS})"
    )
    train.add_argument(
        "--nets", type=int, default=NETS, help=f"message-passing nets averaged with the trees (default {NETS})"
    )
    train.add_argument("--seed", type=int, default=0, help="seed for the folds, the trees and the nets (default 0)")
    train.add_argument("--out", type=Path, help="weights file (default: the committed flowpath/agent/weights/…)")


@ocr_checked
def _bench(args: argparse.Namespace) -> int:
    """score attribution on FlowExplainBench

    Run the agent and two baselines (lexical overlap, embedding top-k) over FlowExplainBench and report micro
    precision/recall/F1 overall, by domain and by question type. Empty predictions count as misses. The benchmark
    comes from the public FollowTheFlow repository (its data/ folder), accepted unchanged.
    """
    from functools import partial

    from tqdm import tqdm

    from flowpath.bench.dataset import data_dir, load_items
    from flowpath.bench.pipeline import in_sample_charts, run_benchmark, write_worst_overlays
    from flowpath.bench.run import markdown_report, prediction_rows, summary_table, write_jsonl

    check_at_least(args, limit=1, workers=1)
    if args.cv is not None and (args.cv < 2 or args.policy != "learned"):
        raise InputError("--cv needs K >= 2 and the learned policy")
    if args.cv is not None and args.no_embeddings:
        raise InputError("--cv trains scorers on MiniLM features, which --no-embeddings turns off: drop one of them")
    folder = data_dir(args.data)
    overlays_dir = _check_bench_outputs(args, folder)
    items = load_items(folder, limit=args.limit)
    for item in items:  # every question must have the answer before any chart is parsed
        item.answer(args.answer)
    agent = agent_for(args)
    if args.policy == "learned" and not args.cv and (overlap := in_sample_charts(items)):
        _note(
            f"{overlap} of these charts trained the committed scorer; these numbers are in-sample "
            "(use --cv K for honest ones)"
        )
    outcome = run_benchmark(
        folder,
        items,
        agent,
        **options(args, "graph_source", "answer", "cv", "seed", "workers", "parse_cache"),
        bar=tqdm,
        parse_bar=partial(tqdm, disable=True if args.quiet else None),
        note=_note,
    )
    if args.out:
        write_atomic(args.out, write_jsonl(prediction_rows(outcome.run)))
    if args.report:
        overlays = write_worst_overlays(outcome, folder, overlays_dir, note=_note)
        write_atomic(args.report, markdown_report(outcome.run, overlays=overlays))
    print(summary_table(outcome.run))
    return 0


def _note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)


def _check_bench_outputs(args: argparse.Namespace, folder: Path) -> Path | None:
    """--out, --report (and the report's overlay folder beside it, returned) and --parse-cache, before any work."""
    if args.out and args.report and args.out.resolve() == args.report.resolve():
        raise InputError(f"--out and --report are the same file {args.out}; give two names")
    if args.out:
        check_output(args.out, flag="--out", inputs=[folder])
    overlays = None
    if args.report:
        check_output(args.report, flag="--report", inputs=[folder])
        overlays = args.report.with_name(args.report.stem + "_overlays")
        check_output(overlays, flag="--report's overlay folder", kind="folder", inputs=[folder])
    if args.parse_cache:
        check_output(args.parse_cache, flag="--parse-cache", kind="folder", inputs=[folder])
    return overlays


def _train_scorer(args: argparse.Namespace) -> int:
    """train the learned policy's node scorer

    Train the node-relevance scorer of the learned policy on a FlowExplainBench folder (Mermaid graphs; every
    content question once with each of its reference answers a1/a2/a3), report its chart-split cross-validated F1
    on content questions (answer a1), and write the weights.
    """
    from tqdm import tqdm

    from flowpath.agent.embed import get_embedder
    from flowpath.agent.scorer import DEFAULT_WEIGHTS
    from flowpath.bench.dataset import data_dir, load_items
    from flowpath.bench.train import train_scorer

    check_at_least(args, folds=2, iterations=1, epochs=1, nets=1)
    if args.out:
        check_output(args.out, flag="--out")
    items = load_items(data_dir(args.data))
    trained = train_scorer(
        items,
        embedder=get_embedder(),
        **options(args, "folds", "seed", "iterations", "epochs", "nets"),
        progress=lambda it: tqdm(it, total=len(items), desc="features", unit="q"),
    )
    counts = trained.counts
    print(
        f"{trained.n_questions} content questions on {trained.n_charts} charts ({trained.n_examples} examples with "
        f"the paraphrased answers); {args.folds}-fold chart-split CV on a1 (scorer alone, before path joining): "
        f"P {counts.precision:.3f} R {counts.recall:.3f} F1 {counts.f1:.3f}"
    )
    out = args.out or DEFAULT_WEIGHTS
    write_atomic(out, trained.scorer.to_bytes())
    print(f"weights written to {out}")
    return 0

"""``flowpath`` command line. Parses arguments and prints; the work happens in library functions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flowpath.errors import InputError
from graphsolvers.cli_support import OneLineArgumentParser, add_verbosity, run_cli, write_atomic
from graphsolvers.graph import Graph
from graphsolvers.io import load_graph

GRAPH_SUFFIXES = {".json", ".mmd", ".mermaid"}
DEMO_QUESTION = "What happens when the card payment is declined?"
DEMO_ANSWER = "The customer is emailed to update the payment details, and the card is charged again."

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_CHART = REPO_ROOT / "bench_data" / "samples" / "order_fulfilment.mmd"


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="flowpath",
        description="Fine-grained flowchart attribution: which flowchart nodes ground an answer.",
        epilog="Start with:  flowpath demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_verbosity(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="run the main job on a committed sample chart",
        description="Attribute an answer about the committed sample flowchart and print the grounding nodes.",
    )
    demo.add_argument("--chart", type=Path, default=SAMPLE_CHART, help="chart file (default: the committed sample)")
    demo.set_defaults(func=_demo)

    attribute = sub.add_parser(
        "attribute",
        help="which nodes of a flowchart ground an answer",
        description="Return the minimal set of flowchart nodes (ids, texts, regions) that ground ANSWER to "
        "QUESTION, with the path between them and the agent's reasoning trace. CHART is a flowchart image "
        "or a graph file (.mmd Mermaid, .json graph).",
        epilog='Example:\n  flowpath attribute chart.png -q "What if the payment fails?" -a "Email the customer" '
        "--overlay out.png",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    attribute.add_argument("chart", type=Path, help="flowchart image (PNG/JPEG/WebP/BMP) or .mmd/.json graph")
    attribute.add_argument("-q", "--question", required=True, help="the question asked about the chart")
    attribute.add_argument("-a", "--answer", required=True, help="the answer to attribute (e.g. an LLM's)")
    attribute.add_argument("--json", action="store_true", help="print the full result as JSON")
    attribute.add_argument("--overlay", type=Path, help="write the chart image with attributed nodes highlighted")
    attribute.add_argument("--no-embeddings", action="store_true", help="lexical grounding only (no MiniLM)")
    _add_policy(attribute)
    attribute.set_defaults(func=_attribute)

    bench = sub.add_parser(
        "bench",
        help="score attribution on FlowExplainBench",
        description="Run the agent and two baselines (lexical overlap, embedding top-k) over FlowExplainBench and "
        "report micro precision/recall/F1 overall, by domain and by question type. Empty predictions count as "
        "misses. The benchmark comes from the public FollowTheFlow repository (its data/ folder), accepted "
        "unchanged.",
        epilog="Example:\n  flowpath bench --data ../shared/flowexplainbench/dev --graph-source mermaid "
        "--report report.md",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bench.add_argument("--data", type=Path, help="FollowTheFlow data/ folder (default: $FLOWEXPLAINBENCH_DIR)")
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
    bench.add_argument("--no-embeddings", action="store_true", help="lexical grounding only (no MiniLM)")
    _add_policy(bench)
    bench.add_argument(
        "--cv",
        type=int,
        metavar="K",
        help="learned policy: score each chart with a scorer trained on the other K-1 folds of "
        "--data (honest numbers on the data the committed weights were trained on)",
    )
    bench.add_argument("--seed", type=int, default=0, help="fold assignment seed for --cv (default 0)")
    bench.set_defaults(func=_bench)

    train = sub.add_parser(
        "train-scorer",
        help="train the learned policy's node scorer",
        description="Train the node-relevance scorer of the learned policy on a FlowExplainBench folder (Mermaid "
        "graphs), report its chart-split cross-validated F1 on content questions, and write the weights.",
        epilog="Reproduce the committed weights:\n  flowpath train-scorer --data ../shared/flowexplainbench/dev",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument("--data", type=Path, help="FollowTheFlow data/ folder (default: $FLOWEXPLAINBENCH_DIR)")
    train.add_argument("--folds", type=int, default=5, help="cross-validation folds, split by chart (default 5)")
    train.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    train.add_argument("--seed", type=int, default=0, help="seed for folds and initialisation (default 0)")
    train.add_argument("--out", type=Path, help="weights file (default: the committed flowpath/agent/weights/…)")
    train.set_defaults(func=_train_scorer)
    return parser


def _add_policy(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policy",
        choices=["learned", "symbolic"],
        default="learned",
        help="learned: tools for structural questions + trained node scorer (default); symbolic: rules only",
    )


def _load_chart(path: Path) -> Graph | Path:
    """A graph file is loaded; an image path is handed to the agent (which parses it)."""
    if not path.is_file():
        raise InputError(f"no such file: {str(path)!r}")
    return load_graph(path) if path.suffix.lower() in GRAPH_SUFFIXES else path


def _demo(args: argparse.Namespace) -> int:
    from flowpath.agent.graph import build_agent

    chart = _load_chart(args.chart)
    print(f"chart: {args.chart.name}")
    print(f"question: {DEMO_QUESTION}")
    print(f"answer:   {DEMO_ANSWER}")
    result = build_agent().attribute(chart, DEMO_QUESTION, DEMO_ANSWER)
    print(format_result(result))
    return 0


def _attribute(args: argparse.Namespace) -> int:
    from flowpath.agent.graph import build_agent

    chart = _load_chart(args.chart)
    agent = build_agent(policy=args.policy, use_embeddings=not args.no_embeddings)
    result = agent.attribute(chart, args.question, args.answer)
    if args.overlay:
        if not isinstance(chart, Path):
            raise InputError("--overlay needs a chart image, not a graph file")
        from flowpath.overlay import attribution_overlay

        write_atomic(args.overlay, attribution_overlay(chart, result))
    print(result.model_dump_json(indent=2) if args.json else format_result(result))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from flowpath.agent.graph import build_agent
    from flowpath.bench.dataset import data_dir, load_items
    from flowpath.bench.run import markdown_report, prediction_rows, run_bench, summary_table, write_jsonl

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    if args.cv is not None and (args.cv < 2 or args.policy != "learned"):
        raise InputError("--cv needs K >= 2 and the learned policy")
    folder = data_dir(args.data)
    items = load_items(folder, limit=args.limit)
    agent = build_agent(policy=args.policy, use_embeddings=not args.no_embeddings)
    kwargs: dict = {}
    if args.cv:
        kwargs["scorer_for"] = _cv_scorers(folder, agent, folds=args.cv, seed=args.seed)
    elif args.policy == "learned":
        _warn_if_in_sample(items)
    if args.graph_source == "image":
        from flowpath.bench.images import image_sources

        kwargs.update(image_sources(folder, items, workers=args.workers))
    run = run_bench(
        items,
        agent=agent,
        source=args.graph_source,
        progress=lambda it: tqdm(it, total=len(items), desc="questions", unit="q"),
        **kwargs,
    )
    if args.out:
        write_atomic(args.out, write_jsonl(prediction_rows(run)))
    if args.report:
        write_atomic(args.report, markdown_report(run))
    print(summary_table(run))
    return 0


def _cv_scorers(folder: Path, agent, *, folds: int, seed: int):
    """Fold scorers trained on the whole --data folder; chart key -> the scorer that never saw it."""
    from tqdm import tqdm

    from flowpath.agent.train import build_examples, out_of_fold_scorers
    from flowpath.bench.dataset import load_items

    all_items = load_items(folder)
    examples = build_examples(
        all_items,
        embedder=agent.embedder,
        progress=lambda it: tqdm(it, total=len(all_items), desc="cv features", unit="q"),
    )
    fold_of, scorers = out_of_fold_scorers(examples, folds=folds, seed=seed)
    return lambda key: scorers[fold_of[key]] if key in fold_of else scorers[0]


def _warn_if_in_sample(items) -> None:
    from flowpath.agent.scorer import load_scorer

    seen = set(load_scorer().trained_on)
    overlap = len({i.key for i in items} & seen)
    if overlap:
        print(
            f"note: {overlap} of these charts trained the committed scorer; these numbers are in-sample "
            "(use --cv K for honest ones)",
            file=sys.stderr,
        )


def _train_scorer(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from flowpath.agent.embed import get_embedder
    from flowpath.agent.scorer import DEFAULT_WEIGHTS, fit_scorer
    from flowpath.agent.train import build_examples, out_of_fold_scorers
    from flowpath.bench.dataset import data_dir, load_items
    from flowpath.bench.scoring import Counts

    if args.folds < 2:
        raise InputError(f"--folds must be at least 2, got {args.folds}")
    items = load_items(data_dir(args.data))
    examples = build_examples(
        items, embedder=get_embedder(), progress=lambda it: tqdm(it, total=len(items), desc="features", unit="q")
    )
    fold_of, scorers = out_of_fold_scorers(examples, folds=args.folds, seed=args.seed, epochs=args.epochs)
    counts = Counts()
    for e in examples:
        scorer = scorers[fold_of[e.item.key]]
        probs = scorer.predict(e.features)
        pred = probs >= scorer.threshold
        if not pred.any():
            pred[int(probs.argmax())] = True
        gold = e.labels > 0
        counts.add(int((pred & gold).sum()), int((pred & ~gold).sum()), int((~pred & gold).sum()) + _gold_outside(e))
    print(
        f"{len(examples)} content questions on {len(fold_of)} charts; {args.folds}-fold chart-split CV "
        f"(scorer alone, before path joining): P {counts.precision:.3f} R {counts.recall:.3f} F1 {counts.f1:.3f}"
    )
    final = fit_scorer(
        [e.features for e in examples],
        [e.labels for e in examples],
        seed=args.seed,
        epochs=args.epochs,
        trained_on=sorted(fold_of),
    )
    out = args.out or DEFAULT_WEIGHTS
    tmp = out.with_name(out.name + ".tmp")
    final.save(tmp)
    tmp.replace(out)
    print(f"weights written to {out}")
    return 0


def _gold_outside(example) -> int:
    """Gold ids that are not nodes of the chart (defects of the gold data) still count as misses."""
    return len(set(example.item.attribution) - set(example.graph.node_ids))


def format_result(result) -> str:
    """Human-readable attribution: nodes with scores and regions, path edges, reason."""
    if not result.nodes:
        return f"no attribution: {result.reason}"
    lines = [f"attributed nodes ({result.intent}):"]
    for n in result.nodes:
        box = f"  bbox={[round(v) for v in n.bbox]}" if n.bbox else ""
        lines.append(f"  {n.id:<4} {n.kind:<9} {n.score:.2f}  {n.text}{box}")
    if result.edges:
        lines.append("path edges:")
        lines += [f"  {e.source} -> {e.target}" + (f"  [{e.label}]" if e.label else "") for e in result.edges]
    lines.append(f"reason: {result.reason}")
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines)


def format_graph(graph: Graph) -> str:
    """A readable two-part listing of a graph: nodes (id, kind, text), then edges with labels."""
    width = max((len(n.id) for n in graph.nodes), default=2)
    lines = ["nodes:"]
    lines += [f"  {n.id:<{width}}  {n.kind:<9} {n.text}" for n in graph.nodes]
    lines.append("edges:")
    arrow = "->" if graph.directed else "--"
    lines += [
        f"  {e.source:<{width}} {arrow} {e.target:<{width}}" + (f"  [{e.label}]" if e.label is not None else "")
        for e in graph.edges
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``flowpath`` console script."""
    return run_cli(build_parser, argv)


if __name__ == "__main__":
    sys.exit(main())

"""``flowpath`` command line. Parses arguments and prints; the work happens in library functions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphsolvers.cli_support import OneLineArgumentParser, add_verbosity, run_cli
from graphsolvers.graph import Graph
from graphsolvers.io import load_graph

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
        description="Parse the committed sample flowchart into the shared graph model and print it.",
    )
    demo.add_argument("--chart", type=Path, default=SAMPLE_CHART, help="Mermaid or graph-JSON file (default: sample)")
    demo.set_defaults(func=_demo)

    parse = sub.add_parser(
        "parse",
        help="read flowchart images into graphs",
        description="Parse flowchart images (PNG/JPEG/WebP/BMP) into the shared graph model. Prints one JSON line "
        'per image in input order: {"image": PATH, "graph": GRAPH} or {"image": PATH, "error": MESSAGE}.',
    )
    parse.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="flowchart image files")
    parse.add_argument("--jsonl", type=Path, metavar="OUT", help="write the JSON lines to OUT instead of stdout")
    parse.add_argument("--mermaid", action="store_true", help="print each graph as Mermaid instead of JSON")
    parse.add_argument("--overlay", type=Path, metavar="DIR", help="write each image with the parse drawn on it")
    parse.set_defaults(func=_parse)

    ev = sub.add_parser(
        "eval-parse",
        help="score the image parser on charts with known graphs",
        description="Parse every chart of a FlowExplainBench-layout folder (dataset.json, images/<key>/original.png, "
        "annotations.json) and score nodes, labels, edges and edge labels against the gold graphs.",
    )
    ev.add_argument("--data", type=Path, required=True, metavar="DIR", help="data folder (dataset.json, images/)")
    ev.add_argument("--limit", type=int, metavar="N", help="score only the first N charts (in key order)")
    ev.add_argument("--report", type=Path, metavar="DIR", help="write report.md, scores.jsonl and overlays here")
    ev.add_argument("--json", action="store_true", help="print the summary as JSON")
    ev.set_defaults(func=_eval_parse)

    syn = sub.add_parser(
        "synth",
        help="generate random rendered flowcharts with exact ground truth",
        description="Write random flowcharts rendered with mermaidx (4 themes, TD/LR/BT/RL), some degraded "
        "(JPEG, blur, noise, rotation, perspective, downscale), in the layout eval-parse reads.",
    )
    syn.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    syn.add_argument("--n", type=int, default=50, help="number of charts (default 50)")
    syn.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    syn.add_argument("--degraded", type=float, default=0.5, help="fraction of degraded charts (default 0.5)")
    syn.add_argument("--nodes", type=int, nargs=2, default=(5, 45), metavar=("MIN", "MAX"), help="node count range")
    syn.add_argument("--no-noise", action="store_true", help="leave out the noise degradation (smaller PNGs)")
    syn.add_argument("--graphviz", type=float, default=0.3, help="fraction drawn by Graphviz dot (default 0.3)")
    syn.set_defaults(func=_synth)
    return parser


def _demo(args: argparse.Namespace) -> int:
    graph = load_graph(args.chart)
    print(f"{args.chart.name}: {len(graph.nodes)} nodes, {len(graph.edges)} edges")
    print(format_graph(graph))
    return 0


def _parse(args: argparse.Namespace) -> int:
    import json
    import tempfile

    import cv2
    from tqdm import tqdm

    from flowpath.errors import InputError
    from flowpath.vision import load_image, parse_image
    from flowpath.vision.overlay import draw_overlay
    from graphsolvers.cli_support import write_atomic
    from graphsolvers.errors import ToolkitError
    from graphsolvers.mermaid import to_mermaid

    if args.jsonl is not None and args.jsonl.is_dir():
        raise InputError(f"--jsonl {args.jsonl} is a folder; give a file name")
    lines, failed = [], 0
    staged = Path(tempfile.mkdtemp(prefix=".overlay-", dir=args.overlay.parent)) if args.overlay else None
    if args.overlay:
        args.overlay.parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(args.images, unit="image", disable=True if len(args.images) < 2 or args.quiet else None, file=sys.stderr)
    for i, path in enumerate(bar):
        try:
            graph = parse_image(path)
        except ToolkitError as e:
            failed += 1
            print(f"flowpath: error: {e}", file=sys.stderr)
            lines.append(json.dumps({"image": str(path), "error": str(e)}))
            continue
        if args.mermaid:
            lines.append(f"%% {path}\n{to_mermaid(graph)}")
        else:
            lines.append(json.dumps({"image": str(path), "graph": json.loads(graph.to_json())}))
        if staged is not None:
            cv2.imwrite(str(staged / f"{i:04d}_{path.stem}.png"), draw_overlay(load_image(path), graph))
    text = "\n".join(lines) + "\n"
    if args.jsonl is not None:
        write_atomic(args.jsonl, text)
    else:
        sys.stdout.write(text)
    if staged is not None:
        args.overlay.mkdir(parents=True, exist_ok=True)
        for f in sorted(staged.iterdir()):
            f.replace(args.overlay / f.name)
        staged.rmdir()
    return 2 if failed else 0


def _eval_parse(args: argparse.Namespace) -> int:
    import json

    import cv2
    from tqdm import tqdm

    from flowpath.bench.parse_eval import evaluate, load_charts, markdown_report, summarise
    from flowpath.errors import InputError
    from flowpath.vision import load_image, parse_image
    from flowpath.vision.overlay import draw_overlay
    from graphsolvers.cli_support import write_atomic

    if args.limit is not None and args.limit < 1:
        raise InputError(f"--limit must be at least 1, got {args.limit}")
    charts = load_charts(args.data)[: args.limit]
    overlays: dict[str, str] = {}
    graphs = {}

    def keep(gold, pred, score) -> None:
        if pred is not None:
            graphs[gold.key] = pred

    bar = tqdm(total=len(charts), unit="chart", file=sys.stderr, disable=True if args.quiet else None)
    scores = []
    for score in evaluate(charts, parse_image, on_result=keep):
        scores.append(score)
        bar.update()
    bar.close()
    summary = summarise(scores)
    if args.report is not None:
        worst = sorted(scores, key=lambda c: (c.edge_f1 + c.node_f1, c.key))[:15]
        byname = {c.key: c for c in charts}
        for c in worst:
            if c.key in graphs:
                img = draw_overlay(load_image(byname[c.key].image), graphs[c.key])
                ok, png = cv2.imencode(".png", img)
                if ok:
                    write_atomic(args.report / "overlays" / f"{c.key}.png", png.tobytes())
                    overlays[c.key] = f"overlays/{c.key}.png"
        write_atomic(args.report / "report.md", markdown_report(summary, scores, overlays=overlays))
        rows = [json.dumps({**c.__dict__, "node_f1": c.node_f1, "edge_f1": c.edge_f1}) for c in scores]
        write_atomic(args.report / "scores.jsonl", "\n".join(rows) + "\n")
        write_atomic(args.report / "summary.json", summary.model_dump_json(indent=2))
    if args.json:
        print(summary.model_dump_json(indent=2))
    else:
        for name, value in summary.model_dump().items():
            if name != "by_style":
                print(f"{name:<24} {value:.3f}" if isinstance(value, float) else f"{name:<24} {value}")
        for style, v in summary.by_style.items():
            print(f"style {style:<18} " + "  ".join(f"{k}={x:.3f}" for k, x in v.items() if k != "charts"))
    return 0


def _synth(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from flowpath.errors import InputError
    from flowpath.synth import DEGRADATIONS, write_dataset

    for name in ("degraded", "graphviz"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise InputError(f"--{name} must be in [0, 1], got {getattr(args, name)}")
    if args.out.exists() and any(args.out.iterdir()):
        raise InputError(f"--out {args.out} exists and is not empty; choose a new folder")
    kinds = tuple(k for k in DEGRADATIONS if not (args.no_noise and k == "noise"))
    with tqdm(total=args.n, unit="chart", file=sys.stderr, disable=True if args.quiet else None) as bar:
        write_dataset(
            args.out,
            n=args.n,
            seed=args.seed,
            degraded=args.degraded,
            min_nodes=args.nodes[0],
            max_nodes=args.nodes[1],
            degradations=kinds,
            graphviz=args.graphviz,
            progress=bar.update,
        )
    print(f"wrote {args.n} charts to {args.out}")
    return 0


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

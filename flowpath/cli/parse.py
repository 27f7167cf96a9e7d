"""``flowpath parse``, ``flowpath eval-parse`` and ``flowpath synth``: flowchart images into graphs, the parser's
figures on charts with known graphs, and such charts made to order."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from flowpath.cli.common import OCR_EPILOG, ocr_checked
from flowpath.errors import InputError
from graphsolvers.cli_support import add_command, check_at_least, check_output, staged_folder, write_atomic

__all__ = ["register"]


def register(sub) -> None:
    parse = add_command(sub, _parse, epilog="Example:\n  flowpath parse chart.png --mermaid\n\n" + OCR_EPILOG)
    parse.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="flowchart image files")
    parse.add_argument("--jsonl", type=Path, metavar="OUT", help="write the JSON lines to OUT instead of stdout")
    parse.add_argument("--mermaid", action="store_true", help="print each graph as Mermaid instead of JSON")
    parse.add_argument("--overlay", type=Path, metavar="DIR", help="write each image with the parse drawn on it")

    ev = add_command(
        sub,
        _eval_parse,
        epilog="Example:\n  flowpath eval-parse --data ../shared/flowexplainbench/dev --limit 80 --json\n\n"
        + OCR_EPILOG,
    )
    ev.add_argument("--data", type=Path, required=True, metavar="DIR", help="data folder (dataset.json, images/)")
    ev.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="score only the first N charts in key order (FlowExplainBench keys sort by domain, code charts "
        "first, which are smaller than most: time the whole set)",
    )
    ev.add_argument("--report", type=Path, metavar="DIR", help="write report.md, scores.jsonl and overlays here")
    ev.add_argument("--json", action="store_true", help="print the summary as JSON")

    syn = add_command(
        sub,
        _synth,
        description="Write random flowcharts with their exact graphs and node boxes, in the layout eval-parse "
        "reads. --looks picks what they look like:\n"
        "  classic  mermaidx in 4 themes on their own page colour, TD/LR/BT/RL, scale 1-2, about 30% drawn by "
        "Graphviz;\n"
        "           --degraded of them get 1-3 of JPEG, blur, noise, rotation, perspective, downscale "
        "(the default)\n"
        "  zoo      any look: mermaid (3/4; themes default/forest/neutral/dark or base with random colours) or "
        "Graphviz,\n"
        "           named page colours (white to near-black; connectors at least 1.5:1 against the page), "
        "any direction,\n"
        "           scale 0.5-1.5, solid/dotted/thick/mixed links, curved/straight/elbow routing, half with "
        "1-3 extra\n"
        "           crossing edges, half JPEG (quality 50-95, written as chart.jpg), a quarter mildly blurred "
        "or rotated\n"
        "  small    another renderer's small JPEGs: height 200-500 px, always JPEG (quality 50-90), coloured "
        "or grey pages,\n"
        "           mostly LR, dotted and thick links, mostly with crossing edges; both renderers\n"
        "  hard     the 7 fixed Mermaid charts of issue #8's hard looks (7-8 nodes each; --n, --seed, --nodes "
        "and the\n"
        "           classic options are ignored): default theme on a mid-grey page, default theme on black "
        "(#333333 lines),\n"
        "           dark theme (LR), a 250 px tall JPEG (quality 60) on light blue, LR with 2 crossing "
        "edges, mixed\n"
        "           solid/dotted/thick links, elbow routing; keys hard-<look> (bench_data/looks is this "
        "output)\n"
        "Zoo, small and hard charts record their look in dataset.json; eval-parse reports every figure per look.",
        epilog="Examples:\n  flowpath synth --out /tmp/zoo --n 200 --looks zoo --nodes 5 20\n"
        "  flowpath synth --out /tmp/small --n 200 --looks small --nodes 4 12\n"
        "  flowpath synth --out bench_data/looks --looks hard",
    )
    syn.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder (created)")
    syn.add_argument("--n", type=int, default=50, help="number of charts (default 50)")
    syn.add_argument("--seed", type=int, default=0, help="random seed; chart i uses seed*100003+i (default 0)")
    syn.add_argument(
        "--looks",
        default="classic",
        metavar="PRESET",
        help="what the charts look like: classic, zoo, small or hard (see above; default classic)",
    )
    syn.add_argument("--degraded", type=float, default=0.5, help="classic: fraction of degraded charts (default 0.5)")
    syn.add_argument("--nodes", type=int, nargs=2, default=(5, 45), metavar=("MIN", "MAX"), help="node count range")
    syn.add_argument("--no-noise", action="store_true", help="classic: leave out the noise degradation (smaller PNGs)")
    syn.add_argument(
        "--graphviz",
        type=float,
        default=0.3,
        help="classic: fraction drawn by Graphviz dot (default 0.3); zoo/small: 0 leaves Graphviz out, any "
        "other value keeps the preset's share",
    )


@ocr_checked
def _parse(args: argparse.Namespace) -> int:
    """read flowchart images into graphs

    Parse flowchart images (PNG/JPEG/WebP/BMP) into the shared graph model. Prints one JSON line per image in input
    order: {"image": PATH, "graph": GRAPH} or {"image": PATH, "error": MESSAGE}.
    """
    import cv2
    from tqdm import tqdm

    from flowpath.vision import load_image, parse_image
    from flowpath.vision.overlay import draw_overlay
    from graphsolvers.errors import ToolkitError
    from graphsolvers.mermaid import to_mermaid

    overlay_names = [f"{i:04d}_{path.stem}.png" for i, path in enumerate(args.images)]
    if args.jsonl is not None:
        check_output(args.jsonl, flag="--jsonl", inputs=args.images)
    if args.overlay is not None:
        check_output(args.overlay, flag="--overlay", kind="folder", inputs=args.images)
        for name in overlay_names:
            check_output(args.overlay / name, flag="--overlay", inputs=args.images)
    lines, failed = [], 0
    # overlays go to a temporary folder beside --overlay, moved in at the end (removed if the command fails)
    with staged_folder(args.overlay, merge=True) if args.overlay else contextlib.nullcontext() as staged:
        bar = tqdm(
            args.images, unit="image", disable=True if len(args.images) < 2 or args.quiet else None, file=sys.stderr
        )
        for path, name in zip(bar, overlay_names, strict=True):
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
                cv2.imwrite(str(staged / name), draw_overlay(load_image(path), graph))
        text = "\n".join(lines) + "\n"
        if args.jsonl is not None:
            write_atomic(args.jsonl, text)
        else:
            sys.stdout.write(text)
    return 2 if failed else 0


@ocr_checked
def _eval_parse(args: argparse.Namespace) -> int:
    """score the image parser on charts with known graphs

    Parse every chart of a FlowExplainBench-layout folder (dataset.json, images/<key>/original.png or chart.png,
    annotations.json) and score nodes, labels, edges and edge labels against the gold graphs.
    """
    from tqdm import tqdm

    from flowpath.bench.parse_eval import evaluate, load_charts, look_text, summarise
    from flowpath.bench.parse_report import write_parse_report
    from flowpath.vision import parse_image

    check_at_least(args, limit=1)
    if args.report is not None:
        check_output(args.report, flag="--report", kind="folder", inputs=[args.data])
    charts = load_charts(args.data)[: args.limit]
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
        write_parse_report(args.report, summary, scores, charts=charts, graphs=graphs)
    if args.json:
        print(summary.model_dump_json(indent=2))
    else:
        for name, value in summary.model_dump().items():
            if name not in ("by_style", "by_look"):
                print(f"{name:<24} {value:.3f}" if isinstance(value, float) else f"{name:<24} {value}")
        for style, v in summary.by_style.items():
            print(f"style {style:<18} " + "  ".join(f"{k}={x:.3f}" for k, x in v.items() if k != "charts"))
        for line in look_text(summary):
            print(line)
    return 0


def _synth(args: argparse.Namespace) -> int:
    """generate random rendered flowcharts with exact ground truth"""  # the description: the table in register()
    from tqdm import tqdm

    from flowpath.synth import DEGRADATIONS, write_dataset
    from flowpath.synth.looks import HARD_LOOKS, LOOK_PRESETS

    if args.looks not in LOOK_PRESETS:
        raise InputError(f"--looks must be one of {', '.join(LOOK_PRESETS)}, got {args.looks!r}")
    for name in ("degraded", "graphviz"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise InputError(f"--{name} must be in [0, 1], got {getattr(args, name)}")
    check_output(args.out, flag="--out", kind="folder", empty=True)
    kinds = tuple(k for k in DEGRADATIONS if not (args.no_noise and k == "noise"))
    n = len(HARD_LOOKS) if args.looks == "hard" else args.n
    with (
        tqdm(total=n, unit="chart", file=sys.stderr, disable=True if args.quiet else None) as bar,
        staged_folder(args.out) as staged,  # a failed or interrupted run leaves no half-written --out
    ):
        write_dataset(
            staged,
            n=args.n,
            seed=args.seed,
            degraded=args.degraded,
            min_nodes=args.nodes[0],
            max_nodes=args.nodes[1],
            degradations=kinds,
            graphviz=args.graphviz,
            looks=args.looks,
            progress=bar.update,
        )
    print(f"wrote {n} {args.looks} charts to {args.out}")
    return 0

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
    return parser


def _demo(args: argparse.Namespace) -> int:
    graph = load_graph(args.chart)
    print(f"{args.chart.name}: {len(graph.nodes)} nodes, {len(graph.edges)} edges")
    print(format_graph(graph))
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

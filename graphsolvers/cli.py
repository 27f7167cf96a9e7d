"""``graphsolvers`` command line: convert graphs between formats and print the JSON schema."""

from __future__ import annotations

import argparse
import json
import sys

from graphsolvers.cli_support import OneLineArgumentParser, add_verbosity, run_cli, write_atomic
from graphsolvers.graph import Graph
from graphsolvers.io import dumps_graph, guess_format, loads_graph, read_source


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="graphsolvers",
        description="The shared graph model of flowpath: conversions and schema.",
        epilog="Examples:\n  graphsolvers convert chart.mmd --to json\n  graphsolvers schema > graph.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_verbosity(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    convert = sub.add_parser(
        "convert",
        help="convert a graph between JSON and Mermaid",
        description="Read a graph (JSON or Mermaid flowchart) and write it in the other format. "
        "The input format comes from the suffix (.json, .mmd, .mermaid) or, for '-', from the content.",
    )
    convert.add_argument("input", help="graph file, or - for stdin")
    convert.add_argument("--from", dest="src", choices=["json", "mermaid"], help="input format (default: guessed)")
    convert.add_argument("--to", dest="dst", choices=["json", "mermaid"], help="output format (default: the other one)")
    convert.add_argument("-o", "--output", help="write here (atomically) instead of stdout")
    convert.set_defaults(func=_convert)

    schema = sub.add_parser("schema", help="print the JSON schema of the graph document")
    schema.set_defaults(func=_schema)
    return parser


def _convert(args: argparse.Namespace) -> int:
    text = read_source(args.input)
    src = args.src or guess_format(args.input, text)
    graph = loads_graph(text, src)
    dst = args.dst or ("mermaid" if src == "json" else "json")
    text = dumps_graph(graph, dst) + "\n"
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    return 0


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(Graph.model_json_schema(), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``graphsolvers`` console script."""
    return run_cli(build_parser, argv)


if __name__ == "__main__":
    sys.exit(main())

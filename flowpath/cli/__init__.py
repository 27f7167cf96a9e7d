"""``flowpath`` command line: one module per command group; they parse arguments and print, the work happens in
library functions.

A command group is a module with ``register(sub)`` (adds its sub-commands to the ``argparse`` sub-parsers); adding
one is that module and one line in :data:`COMMAND_GROUPS`. A command is its handler, ``_name(args) -> int``, added
with :func:`~graphsolvers.cli_support.add_command`: the command's name comes from the handler's, its help line and
description from the handler's docstring.
"""

from __future__ import annotations

import argparse

from flowpath.cli import attribute, bench, parse, serve, tools
from graphsolvers.cli_support import command_parser, run_cli

__all__ = ["COMMAND_GROUPS", "build_parser", "main"]

COMMAND_GROUPS = (attribute, bench, parse, tools, serve)
"""The command groups, in the order ``flowpath --help`` lists their commands."""


def build_parser() -> argparse.ArgumentParser:
    parser, sub = command_parser(
        "flowpath",
        description="Fine-grained flowchart attribution: which flowchart nodes ground an answer.",
        epilog="Start with:  flowpath demo",
    )
    for group in COMMAND_GROUPS:
        group.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``flowpath`` console script."""
    return run_cli(build_parser, argv)

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from graphsolvers.cli import main
from graphsolvers.cli_support import EXIT_USAGE, add_command, command_parser
from graphsolvers.graph import Graph
from graphsolvers.mermaid import parse_mermaid

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bench_data" / "samples" / "order_fulfilment.mmd"


def test_convert_mermaid_to_json_and_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "g.json"
    assert main(["convert", str(SAMPLE), "-o", str(out)]) == 0
    graph = Graph.from_json(out.read_text())
    assert graph == parse_mermaid(SAMPLE.read_text())
    assert main(["convert", str(out)]) == 0
    assert parse_mermaid(capsys.readouterr().out) == graph


@pytest.mark.slow
@pytest.mark.parametrize(
    ("content", "name", "match"),
    [
        (None, "missing.mmd", "no such file"),
        (b"\xff\xfe\x00", "binary.mmd", "not UTF-8"),
        (b"flowchart TD\n  A --> ", "broken.mmd", "line 2, column"),
        (b'{"nodes": [{"id": "a"}, {"id": "a"}]}', "dup.json", "duplicate node id 'a'"),
        (b"", "empty.json", "not valid JSON"),
        (b"A --> B", "graph.txt", "expected a 'flowchart' or 'graph' header"),
    ],
)
def test_bad_input_is_one_line_exit_2(tmp_path: Path, content: bytes | None, name: str, match: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "out.json"
    proc = subprocess.run(
        [sys.executable, "-m", "graphsolvers.cli", "convert", str(path), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and match in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists() and list(tmp_path.glob(".out.json*")) == []


def test_usage_error_is_one_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "graphsolvers.cli", "convert"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--help" in proc.stderr


def test_published_schema_is_current() -> None:
    published = json.loads((REPO / "docs" / "graph.schema.json").read_text())
    assert published == Graph.model_json_schema(), "run: graphsolvers schema > docs/graph.schema.json"


def test_write_atomic_gives_normal_permissions_and_leaves_no_temp(tmp_path) -> None:
    import os
    import stat

    from graphsolvers.cli_support import write_atomic

    old = os.umask(0o022)
    try:
        out = write_atomic(tmp_path / "sub" / "out.bin", b"\x00\x01")
    finally:
        os.umask(old)
    assert out.read_bytes() == b"\x00\x01"
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    assert [p.name for p in out.parent.iterdir()] == ["out.bin"]


def _commands(parser: argparse.ArgumentParser, prog: str = "") -> Iterator[tuple[str, str | None]]:
    """(the command's words, its help line) of every sub-command below ``parser``."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help for choice in action._choices_actions}
            for name, sub in action.choices.items():
                yield f"{prog} {name}".strip(), helps.get(name)
                yield from _commands(sub, f"{prog} {name}")


@pytest.mark.parametrize("cli", ["flowpath.cli", "graphsolvers.cli", "connectome.cli"])
def test_every_command_has_a_help_line_from_its_handler(cli: str) -> None:
    commands = dict(_commands(importlib.import_module(cli).build_parser()))
    assert len(commands) >= 3
    assert all(commands.values()), [name for name, text in commands.items() if not text]


def test_add_command_reads_the_handler_and_a_bare_group_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    def _make_table(args: argparse.Namespace) -> int:
        """write a table

        Write the table of the
        input.

        Second paragraph.
        """
        return 0

    parser, sub = command_parser("tool", description="Does things.", epilog="Example: tool make-table")
    table = add_command(sub, _make_table)
    assert (table.prog, table.description) == ("tool make-table", "Write the table of the input.\n\nSecond paragraph.")
    group = add_command(sub, name="group", help="a group", description="line one\n  line two")
    group.add_subparsers().add_parser("inner")
    assert "line one\n  line two" in group.format_help()  # a description given keeps its line breaks
    assert "write a table" in parser.format_help()
    args = parser.parse_args(["group"])
    assert args.func(args) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("usage: tool group")

"""Hostile input to the core package and the CLI plumbing every app shares (issue #25): deep JSON, huge
numbers, outputs checked before the work, atomic writes that leave nothing behind, one-line errors."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from graphsolvers import safe_json
from graphsolvers.cli_support import EXIT_BUG, check_output, run_cli, staged_folder, write_atomic
from graphsolvers.errors import GraphValidationError, MermaidSyntaxError, OutputPathError
from graphsolvers.graph import Graph
from graphsolvers.mermaid import parse_mermaid

REPO = Path(__file__).resolve().parents[2]
DEEP = "[" * 5000 + "]" * 5000


def _convert(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "graphsolvers.cli", "convert", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
    )


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


# ------------------------------------------------------------------------------------------- deep JSON
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "text", "expect"),
    [
        ("deep.json", '{"nodes": ' + DEEP + "}", "graph JSON is nested deeper than 100 levels"),
        ("objects.json", '{"a": ' * 3000 + "1" + "}" * 3000, "graph JSON is nested deeper than 100 levels"),
        ("meta.mmd", "flowchart TD\n%% flowpath:meta " + DEEP + "\nA --> B\n", "line 2, column 1: unreadable"),
        ("bigint.json", '{"nodes": [{"id": "a", "attrs": {"n": ' + "9" * 5000 + "}}]}", "4300 digits"),
    ],
)
def test_convert_deep_or_huge_json_is_one_line(tmp_path, name, text, expect):
    (tmp_path / name).write_text(text)
    line = _one_line_error(_convert(name, "-o", "out.txt", cwd=tmp_path))
    assert line.startswith("graphsolvers: error: ") and expect in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_graph_readers_refuse_deep_json_with_their_own_errors():
    with pytest.raises(GraphValidationError, match="nested deeper than 100 levels"):
        Graph.from_json('{"nodes": [], "edges": [], "attrs": ' + "[" * 101 + "]" * 101 + "}")
    with pytest.raises(MermaidSyntaxError, match="flowpath:meta comment: nested deeper"):
        parse_mermaid("flowchart TD\n%% flowpath:meta " + DEEP + "\n")
    nested = '{"nodes": [{"id": "a", "attrs": {"x": ' + "[" * 90 + "]" * 90 + "}}]}"
    assert Graph.from_json(nested).nodes[0].id == "a"  # deep, but within the limit


def test_safe_json_counts_only_structure_outside_strings():
    assert safe_json.loads('["' + "[" * 500 + '"]') == ["[" * 500]
    assert safe_json.loads('{"a": "\\\\", "b": "\\"[[["}') == {"a": "\\", "b": '"[[['}
    with pytest.raises(json.JSONDecodeError, match="nested deeper than 3 levels"):
        safe_json.loads("[[[[]]]]", max_depth=3)
    with pytest.raises(json.JSONDecodeError, match="nested deeper"):  # the interpreter's own limit, caught
        safe_json.loads(DEEP, max_depth=10**6)
    with pytest.raises(json.JSONDecodeError, match="Expecting value"):
        safe_json.loads("[1, ]")


# --------------------------------------------------------------------------------------------- outputs
def test_convert_output_that_is_its_input_is_refused(tmp_path):
    text = (REPO / "bench_data" / "samples" / "order_fulfilment.mmd").read_text()
    (tmp_path / "g.mmd").write_text(text)
    line = _one_line_error(_convert("g.mmd", "--to", "mermaid", "-o", tmp_path / "g.mmd", cwd=tmp_path))
    assert (
        line
        == f"graphsolvers: error: --output {tmp_path / 'g.mmd'}: is also an input; writing it would overwrite the input"
    )
    assert (tmp_path / "g.mmd").read_text() == text


def test_check_output_refuses_the_wrong_kind_and_unwritable_places(tmp_path):
    (tmp_path / "file").write_text("x")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    assert check_output(tmp_path / "new" / "deeper" / "out.json", flag="-o") == tmp_path / "new" / "deeper" / "out.json"
    assert not (tmp_path / "new").exists()  # checked, not created
    for path, kwargs, expect in [
        (tmp_path / "full", {}, "is a folder; give a file name"),
        (tmp_path / "file", {"kind": "folder"}, "is a file; give a folder"),
        (tmp_path / "full", {"kind": "folder", "empty": True}, "folder exists and is not empty"),
        (tmp_path / "file" / "sub" / "out.json", {}, f"{tmp_path / 'file'} is a file, not a folder"),
        (tmp_path / "file" / "sub", {"kind": "folder"}, f"{tmp_path / 'file'} is a file, not a folder"),
        (tmp_path / "." / "full" / ".." / "file", {"inputs": [tmp_path / "file"]}, "is also an input"),
    ]:
        with pytest.raises(OutputPathError, match=expect):
            check_output(path, flag="--out", **kwargs)
    assert check_output(tmp_path / "full", flag="--out", kind="folder") == tmp_path / "full"


def test_write_atomic_names_the_users_path_and_removes_the_folders_it_made(tmp_path):
    (tmp_path / "out.json").mkdir()  # a folder where the file goes: the rename fails
    with pytest.raises(IsADirectoryError) as e:
        write_atomic(tmp_path / "out.json", "{}")
    assert e.value.filename == str(tmp_path / "out.json")
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
    (tmp_path / "a").write_text("x")
    with pytest.raises(OSError, match=r"a/b"):
        write_atomic(tmp_path / "a" / "b" / "out.json", "{}")


def test_staged_folder_removes_everything_it_made_when_the_work_fails(tmp_path):
    with pytest.raises(OSError) as e, staged_folder(tmp_path / "a" / "b" / "run") as tmp:
        (tmp / "result.json").write_text("{}")
        raise OSError(28, "No space left on device", str(tmp / "figure.png"))
    assert e.value.filename == str(tmp_path / "a" / "b" / "run" / "figure.png")  # not the temporary name
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "old.txt").write_text("old")
    with staged_folder(tmp_path / "run", merge=True) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["new.txt", "old.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["run"]


# ------------------------------------------------------------------------------------- one-line errors
def _cli_raising(error: BaseException):
    def build() -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(prog="tool")
        parser.set_defaults(func=lambda args: (_ for _ in ()).throw(error))
        return parser

    return build


@pytest.mark.parametrize(
    ("error", "code", "expect"),
    [
        (RecursionError("maximum recursion depth exceeded"), 2, "tool: error: the input is nested too deeply"),
        (MemoryError(), 2, "tool: error: out of memory"),
        (
            FileNotFoundError(2, "No such file or directory", "x.json"),
            2,
            "tool: error: No such file or directory: x.json",
        ),
        (GraphValidationError("two\nlines"), 2, "tool: error: two lines"),
        (ZeroDivisionError("division by zero"), EXIT_BUG, "tool: internal error: ZeroDivisionError: division by zero"),
        (BrokenPipeError(32, "Broken pipe"), 0, None),
    ],
)
def test_run_cli_turns_every_error_into_one_line(capsys, error, code, expect):
    assert run_cli(_cli_raising(error), []) == code
    err = capsys.readouterr().err
    if expect is None:
        assert err == ""
    else:
        assert err.count("\n") == 1 and err.startswith(expect), err
        assert "Traceback" not in err
    if code == EXIT_BUG:
        assert "please report" in err

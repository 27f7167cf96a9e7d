"""Optional parts: a missing package names its extra, in the API and in the CLIs; the table matches pyproject.

A new extra adds its import names to ``graphsolvers.extras.EXTRAS`` and itself to ``dev``."""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

import pytest

from graphsolvers.cli_support import EXIT_BUG, EXIT_USAGE, run_cli
from graphsolvers.errors import MissingExtraError, ToolkitError
from graphsolvers.extras import EXTRAS, require

REPO = Path(__file__).resolve().parents[2]


def test_require_names_the_extra_of_a_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)  # what an uninstalled package looks like to import
    with pytest.raises(MissingExtraError, match=re.escape("pip install 'flowpath[connectome]'")) as info:
        require("h5py")
    assert (info.value.module, info.value.extra) == ("h5py", "connectome")
    assert isinstance(info.value, ToolkitError) and isinstance(info.value, ImportError)


def test_require_leaves_other_missing_modules_alone() -> None:
    with pytest.raises(ModuleNotFoundError) as info:
        require("flowpath_no_such_module")
    assert not isinstance(info.value, MissingExtraError)


def _parser(module: str) -> argparse.ArgumentParser:
    def run(args: argparse.Namespace) -> int:
        __import__(module)  # a library's own lazy import, not through require
        return 0

    parser = argparse.ArgumentParser(prog="demo")
    parser.set_defaults(func=run)
    return parser


def test_cli_turns_a_missing_extra_into_one_line(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    assert run_cli(lambda: _parser("mcp"), []) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err == "demo: error: mcp is not installed: it comes with the 'mcp' extra (pip install 'flowpath[mcp]')\n"


def test_cli_reports_other_missing_modules_as_a_bug(capsys) -> None:
    assert run_cli(lambda: _parser("flowpath_no_such_module"), []) == EXIT_BUG
    assert capsys.readouterr().err.startswith("demo: internal error: ModuleNotFoundError")


def test_the_table_matches_the_extras_of_pyproject() -> None:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    declared = {
        re.split(r"[<>=!\[; ]", req, maxsplit=1)[0].lower().replace("-", "_"): extra
        for extra, reqs in extras.items()
        if extra != "dev"
        for req in reqs
    }
    assert declared == EXTRAS  # every optional package is one import name away from its extra
    assert set(extras) - {"dev"} == set(extras["dev"][0].partition("[")[2].rstrip("]").split(","))  # dev: all

"""Read and write graphs in the formats the project speaks (JSON, Mermaid), by file name or stream."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from graphsolvers.errors import GraphValidationError
from graphsolvers.graph import Graph
from graphsolvers.mermaid import parse_mermaid, to_mermaid

__all__ = ["GRAPH_SUFFIXES", "GraphFormat", "dumps_graph", "guess_format", "load_graph", "loads_graph", "read_source"]

GraphFormat = Literal["json", "mermaid"]
_SUFFIXES: dict[str, GraphFormat] = {".json": "json", ".mmd": "mermaid", ".mermaid": "mermaid"}
GRAPH_SUFFIXES = frozenset(_SUFFIXES)
"""File suffixes read as graph files (anything else is not a graph file)."""


def guess_format(path: str | Path, text: str | None = None) -> GraphFormat:
    """The format of a graph file from its suffix, or from its first character when read from ``-``.

    Examples
    --------
    >>> guess_format("chart.mmd"), guess_format("-", '{"nodes": []}')
    ('mermaid', 'json')
    """
    suffix = Path(path).suffix.lower()
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    if text is not None:
        return "json" if text.lstrip().startswith("{") else "mermaid"
    raise GraphValidationError(f"cannot tell the format of {str(path)!r}: use a .json, .mmd or .mermaid file")


def loads_graph(text: str, fmt: GraphFormat) -> Graph:
    """Parse ``text`` in format ``fmt``."""
    return Graph.from_json(text) if fmt == "json" else parse_mermaid(text)


def read_source(path: str | Path) -> str:
    """The UTF-8 text of a graph file (``-`` reads stdin).

    Raises
    ------
    GraphValidationError
        If the file is missing or not UTF-8 text.
    """
    p = Path(path)
    if str(path) != "-" and not p.is_file():
        raise GraphValidationError(f"no such file: {str(path)!r}")
    try:
        return sys.stdin.read() if str(path) == "-" else p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise GraphValidationError(f"{str(path)!r} is not UTF-8 text: {e.reason}") from e


def load_graph(path: str | Path, fmt: GraphFormat | None = None) -> Graph:
    """Read a graph from a JSON or Mermaid file (``-`` reads stdin); the format is guessed if not given.

    Raises
    ------
    GraphValidationError, MermaidSyntaxError
        On a missing file or malformed content.
    """
    text = read_source(path)
    return loads_graph(text, fmt or guess_format(path, text))


def dumps_graph(graph: Graph, fmt: GraphFormat, *, indent: int | None = 2) -> str:
    """``graph`` as text in format ``fmt``."""
    return graph.to_json(indent=indent) if fmt == "json" else to_mermaid(graph)

"""Hostile input: the one root folder a tool client may read, and the size caps every entry point applies.

Who is trusted (``docs/security.md``): the user at the local command line and Python code that imports
the project. Who is not: tool clients — an MCP client, an HTTP client, an LLM handed the tools. A tool
call may name only files under its session's root (:func:`resolve_under_root`); its arguments are at most
:data:`MAX_TOOL_ARGS_BYTES` of JSON; the caps below bound what one input can cost. A cap refuses with
:class:`~graphsolvers.errors.LimitExceededError`, whose message names the cap and its value. Errors never
quote values read from files, and quote a caller's own argument only as a short marked prefix
(:func:`quote`).

The module lives in the core so that every app (flowpath's tools, connectome's tools, an HTTP server)
uses the same function and the same numbers without importing each other.

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp()).resolve()
>>> resolve_under_root("charts/a.mmd", root) == root / "charts" / "a.mmd"
True
>>> resolve_under_root("../secret.json", root)
Traceback (most recent call last):
...
graphsolvers.errors.OutsideRootError: '../secret.json' is not a path under the tool root ...
>>> check_text("the answer", "x" * 30_000)
Traceback (most recent call last):
...
graphsolvers.errors.LimitExceededError: the answer: 30,000 characters, over the cap MAX_INPUT_CHARS = 20,000
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from graphsolvers.errors import LimitExceededError, OutsideRootError

__all__ = [
    "MAX_ATTRIBUTE_EDGES",
    "MAX_ATTRIBUTE_NODES",
    "MAX_GRAPH_EDGES",
    "MAX_GRAPH_NODES",
    "MAX_INPUT_CHARS",
    "MAX_MERMAID_FANOUT",
    "MAX_STORE_BYTES",
    "MAX_STORE_GRAPHS",
    "MAX_TOOL_ARGS_BYTES",
    "PATH_QUOTE_CHARS",
    "QUOTE_CHARS",
    "check_cap",
    "check_graph_size",
    "check_text",
    "describe_validation_error",
    "json_size",
    "quote",
    "resolve_tree_under_root",
    "resolve_under_root",
]

# ---------------------------------------------------------------------- caps
MAX_INPUT_CHARS = 20_000
"""Characters in one text of ``embed_text`` and in one question or answer to attribute. FlowExplainBench's
longest question is 439 characters and its longest answer 394; MiniLM reads 256 word pieces (about 1,500
characters) and the agent keeps 2,000 (``flowpath.agent.graph.MAX_TEXT_CHARS``), so a longer text is refused
before any tokenisation instead of being carried through the agent."""

MAX_TOOL_ARGS_BYTES = 4 * 1024 * 1024
"""Bytes of one tool call's arguments as JSON (4 MiB). A chart's Mermaid text or graph JSON takes a few KB
(FlowExplainBench's largest Mermaid source: 2,932 characters); bigger graphs, such as CGS graphs of a
million nodes, are passed as a file path under the root."""

MAX_GRAPH_NODES = 4_194_304
"""Nodes in one graph read from JSON or Mermaid (2^22): room above the 1M-node / 6.3M-edge CGS graphs of
``docs/graphsolvers.md`` and the 4M-node GPU run, against documents that would exhaust memory."""

MAX_GRAPH_EDGES = 33_554_432
"""Edges in one graph read from JSON or Mermaid (2^25; the 4M-node GPU run has 25M)."""

MAX_MERMAID_FANOUT = 10_000
"""Edges that ``&`` groups may create in one Mermaid text, counted while parsing (``A & B --> C & D`` makes
four). ``A0&…&A999 --> B0&…&B999`` would build a million edges from 12 KB of text; charts in the wild join
a handful of nodes."""

MAX_ATTRIBUTE_NODES = 2_000
"""Nodes of a chart to attribute an answer in (FlowExplainBench's largest chart has 44)."""

MAX_ATTRIBUTE_EDGES = 10_000
"""Edges of a chart to attribute an answer in (FlowExplainBench's largest chart has 46)."""

MAX_STORE_GRAPHS = 256
"""Graphs one tool session keeps by handle (the oldest is dropped first)."""

MAX_STORE_BYTES = 1024 * 1024 * 1024
"""Estimated memory of the graphs one tool session keeps by handle (1 GiB; the oldest are dropped first,
and one graph larger than this is refused: pass its file path instead of a handle)."""

QUOTE_CHARS = 40
"""Characters of a caller's own argument an error message quotes before cutting it with '…'."""

PATH_QUOTE_CHARS = 120
"""The same for a path argument (long enough to tell which file was meant)."""


# ---------------------------------------------------------------------- messages
def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """``repr`` of a caller's own argument, cut to ``limit`` characters and marked with '…' when cut.

    Examples
    --------
    >>> quote("chart.mmd")
    "'chart.mmd'"
    >>> quote("x" * 100)
    "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'…"
    """
    text = os.fspath(value) if isinstance(value, os.PathLike) else str(value)
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "…"


def describe_validation_error(error: ValidationError, *, max_items: int = 3) -> str:
    """The first problems of a pydantic error as ``field: message``, from location and message only.

    The offending values are never quoted: they may have been read from a file. A key in the location that
    is long or holds a line break or other unprintable character (a caller's or a file's own key) is shown
    as :func:`quote` shows it: escaped, cut to :data:`QUOTE_CHARS`, so the message stays one short line.

    Examples
    --------
    >>> from pydantic import BaseModel, ConfigDict
    >>> class M(BaseModel):
    ...     model_config = ConfigDict(extra="forbid")
    ...     n: int
    >>> try:
    ...     M.model_validate({"n": 1, "api_key": "sk-secret"})
    ... except ValidationError as e:
    ...     print(describe_validation_error(e))
    api_key: Extra inputs are not permitted
    >>> try:
    ...     M.model_validate({"n": 1, "two\\nlines": 0, "k" * 50: 0})
    ... except ValidationError as e:
    ...     print(describe_validation_error(e).replace("; ", "\\n"))
    'two\\nlines': Extra inputs are not permitted
    'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk'…: Extra inputs are not permitted
    """
    parts = []
    for err in error.errors(include_input=False, include_url=False)[:max_items]:
        loc = ".".join(_location_part(p) for p in err["loc"]) or "input"
        parts.append(f"{loc}: {err['msg']}")
    more = f" (+{error.error_count() - max_items} more)" if error.error_count() > max_items else ""
    return "; ".join(parts) + more


def _location_part(part: object) -> str:
    """One step of a pydantic error location: a field name or index as it is, any other key through :func:`quote`."""
    text = str(part)
    return text if text and text.isprintable() and len(text) <= QUOTE_CHARS else quote(text)


# ---------------------------------------------------------------------- caps
def check_cap(size: int, *, cap: str, limit: int, what: str, unit: str, hint: str = "") -> None:
    """Raise :class:`LimitExceededError` when ``size`` (in ``unit``) is over ``limit`` (the cap named ``cap``).

    Examples
    --------
    >>> check_cap(3, cap="MAX_X", limit=5, what="the input", unit="items")
    >>> check_cap(7, cap="MAX_X", limit=5, what="the input", unit="items")
    Traceback (most recent call last):
    ...
    graphsolvers.errors.LimitExceededError: the input: 7 items, over the cap MAX_X = 5
    """
    if size > limit:
        raise LimitExceededError(
            f"{what}: {size:,} {unit}, over the cap {cap} = {limit:,}{hint}", cap=cap, limit=limit, size=size
        )


def check_text(what: str, text: object, *, limit: int = MAX_INPUT_CHARS, cap: str = "MAX_INPUT_CHARS") -> None:
    """Refuse a text longer than :data:`MAX_INPUT_CHARS` (a length test only: nothing is copied or tokenised);
    ``what`` names it in the message (``"the answer"``, ``"texts[3]"``)."""
    if isinstance(text, str):
        check_cap(len(text), cap=cap, limit=limit, what=what, unit="characters")


def check_graph_size(
    n_nodes: int,
    n_edges: int,
    *,
    what: str = "the graph",
    nodes: tuple[str, int] = ("MAX_GRAPH_NODES", MAX_GRAPH_NODES),
    edges: tuple[str, int] = ("MAX_GRAPH_EDGES", MAX_GRAPH_EDGES),
) -> None:
    """Refuse a graph with more nodes or edges than the caps ``nodes`` / ``edges`` (name, value).

    Examples
    --------
    >>> check_graph_size(5000, 10, what="the chart", nodes=("MAX_ATTRIBUTE_NODES", MAX_ATTRIBUTE_NODES))
    Traceback (most recent call last):
    ...
    graphsolvers.errors.LimitExceededError: the chart has 5,000 nodes, over the cap MAX_ATTRIBUTE_NODES = 2,000
    """
    for size, (cap, limit), unit in ((n_nodes, nodes, "nodes"), (n_edges, edges, "edges")):
        if size > limit:
            raise LimitExceededError(
                f"{what} has {size:,} {unit}, over the cap {cap} = {limit:,}", cap=cap, limit=limit, size=size
            )


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON (pydantic models by their JSON dump; other objects as text).

    Examples
    --------
    >>> json_size({"a": "é"})
    10
    """
    if isinstance(value, BaseModel):
        return len(value.model_dump_json().encode("utf-8"))
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8", errors="surrogatepass"))


# ---------------------------------------------------------------------- root
def resolve_under_root(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """The absolute, resolved form of a caller's ``path``, which must lie under ``root``.

    A relative path is taken relative to ``root`` (not the process's current folder); ``..`` and symbolic
    links are resolved first, so neither leads out. Containment is decided on the resolved paths
    (``Path.is_relative_to``: a sibling ``/srv/root-evil`` is not under ``/srv/root``) before the file
    is opened or tested, and a refusal has one message, whether or not the file exists. A path that
    cannot be resolved (a symbolic-link loop, a NUL character, a name too long to look up) is refused
    the same way.

    Raises
    ------
    OutsideRootError
        Naming the path (as the caller wrote it, cut to :data:`PATH_QUOTE_CHARS`) and the root.
    """
    base = Path(root).resolve()
    raw = os.fspath(path)
    try:
        full: Path | None = (base / raw).resolve()
    except (OSError, RuntimeError, ValueError):  # symlink loop, NUL byte
        full = None
    if full is None or not full.is_relative_to(base) or not _within_name_limits(full):
        raise OutsideRootError(
            f"{quote(raw, PATH_QUOTE_CHARS)} is not a path under the tool root {base}; tools read only files inside it "
            "(the server's --root sets it)"
        )
    return full


NAME_MAX = 255
"""Longest file name in bytes that Linux's and macOS's file systems look up (``NAME_MAX``)."""

PATH_MAX = 4096
"""Longest path in bytes that Linux looks up (``PATH_MAX``, counting the final NUL)."""


def _within_name_limits(path: Path) -> bool:
    """Whether every name in ``path``, and ``path`` itself, is short enough for the file system to look up.

    ``Path.resolve`` passes a 5,000-character name through unchanged, and testing it later (``is_file``)
    raises ``OSError`` (``ENAMETOOLONG``) instead of answering: such a path is refused up front.

    Examples
    --------
    >>> _within_name_limits(Path("/tmp") / ("a" * 300)), _within_name_limits(Path("/tmp/a"))
    (False, True)
    """
    return len(os.fsencode(path)) < PATH_MAX and all(len(os.fsencode(part)) <= NAME_MAX for part in path.parts)


MAX_TREE_ENTRIES = 100_000
"""Most entries of a folder argument checked by :func:`resolve_tree_under_root`: a recording folder
holds a few dozen files; a client pointing at a huge tree is refused instead of walked for minutes."""


def resolve_tree_under_root(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """:func:`resolve_under_root` for an argument that may be a folder: every entry inside it must lie under
    ``root`` too (a symbolic link in the folder that points out of the root is refused like the folder itself).

    Raises
    ------
    OutsideRootError
        As :func:`resolve_under_root`, for the folder or for any link inside it (named relative to the folder).
    LimitExceededError
        If the folder holds more than :data:`MAX_TREE_ENTRIES` entries.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     (Path(d) / "data").mkdir()
    ...     (Path(d) / "data" / "out").symlink_to("/")
    ...     try:
    ...         resolve_tree_under_root("data", d)
    ...     except OutsideRootError as e:
    ...         print(str(e).split(" is not")[0])
    'data/out'
    """
    full = resolve_under_root(path, root)
    if not full.is_dir():
        return full
    base = Path(root).resolve()
    count = 0
    for folder, dirs, files in os.walk(full, followlinks=False):
        for name in dirs + files:
            count += 1
            check_cap(count, cap="MAX_TREE_ENTRIES", limit=MAX_TREE_ENTRIES, what="the folder", unit="entries")
            entry = Path(folder) / name
            if entry.is_symlink():  # os.walk does not follow it; where does it lead?
                resolve_under_root(entry.relative_to(base), base)
    return full

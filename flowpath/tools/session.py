"""The context of one tool client: the root folder its file arguments must lie under, its graph store, its caps.

Every tool runs with a :class:`ToolSession`. ``flowpath mcp`` and ``flowpath tools call`` open one with
``--root DIR`` (default: the current folder); an HTTP server would open one per client. A tool resolves
every file argument with :meth:`ToolSession.path` (:func:`graphsolvers.security.resolve_under_root`), keeps
graphs by handle in :attr:`ToolSession.store`, and a call's arguments are refused above
:attr:`ToolSession.max_arg_bytes` of JSON before they are validated. Plain Python calls
(:func:`~flowpath.tools.registry.call_tool`, ``Tool(...)``, the LangChain tools) use the process-wide
:func:`default_session`, rooted at the folder that was current when it was first used.

Examples
--------
>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> _ = (root / "chart.mmd").write_text("flowchart TD\\n  A --> B")
>>> session = ToolSession(root)
>>> session.call("end_nodes", {"graph": "chart.mmd"})
{'nodes': ['B']}
>>> session.call("end_nodes", {"graph": "../chart.mmd"})
Traceback (most recent call last):
...
graphsolvers.errors.OutsideRootError: '../chart.mmd' is not a path under the tool root ...
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
from pathlib import Path
from typing import Any

from flowpath.tools.errors import ToolInputError
from flowpath.tools.store import IMAGE_SUFFIXES, GraphRef, GraphStore, resolve_graph
from graphsolvers.graph import Graph
from graphsolvers.security import (
    MAX_STORE_BYTES,
    MAX_STORE_GRAPHS,
    MAX_TOOL_ARGS_BYTES,
    check_cap,
    json_size,
    quote,
    resolve_under_root,
)

__all__ = ["ToolSession", "default_session"]

log = logging.getLogger(__name__)


class ToolSession:
    """What one tool client may reach and hold.

    Parameters
    ----------
    root : path, optional
        The folder every file argument must lie under (default: the current folder). Resolved once.
    store : GraphStore, optional
        Where handles live (default: a new store of :data:`~graphsolvers.security.MAX_STORE_GRAPHS`
        graphs and :data:`~graphsolvers.security.MAX_STORE_BYTES`, or ``store_bytes``).
    max_arg_bytes : int
        Most bytes of one call's arguments as JSON (cap ``MAX_TOOL_ARGS_BYTES``).

    Raises
    ------
    ToolInputError
        If ``root`` is not a folder.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        store: GraphStore | None = None,
        max_arg_bytes: int = MAX_TOOL_ARGS_BYTES,
        store_bytes: int = MAX_STORE_BYTES,
    ) -> None:
        folder = Path(root if root is not None else Path.cwd())
        if not folder.is_dir():
            raise ToolInputError(f"the tool root {quote(str(folder))} is not a folder")
        self.root = folder.resolve()
        self.store = store if store is not None else GraphStore(MAX_STORE_GRAPHS, max_bytes=store_bytes)
        self.max_arg_bytes = max_arg_bytes

    def __repr__(self) -> str:
        return f"ToolSession(root={str(self.root)!r}, graphs={len(self.store)})"

    # ------------------------------------------------------------------ arguments
    def path(self, user_path: str | os.PathLike[str]) -> Path:
        """A file argument as a resolved path under the root (raises ``OutsideRootError`` otherwise)."""
        return resolve_under_root(user_path, self.root)

    def graph(self, ref: GraphRef | Graph) -> Graph:
        """The graph a ``graph`` argument names: a handle of this session, JSON, Mermaid or a file under the root."""
        return resolve_graph(ref, store=self.store, root=self.root)

    def chart(self, ref: GraphRef | Graph) -> Graph:
        """Like :meth:`graph`, but an image path (under the root) is parsed, once per image content."""
        if isinstance(ref, str) and Path(ref.strip()).suffix.lower() in IMAGE_SUFFIXES and "\n" not in ref:
            return self.store.get(self.parse_image(ref.strip()))
        return self.graph(ref)

    def parse_image(self, user_path: str) -> str:
        """Parse the image at ``user_path`` (or reuse this session's parse of the same bytes); return its handle."""
        path = self.path(user_path)
        if not path.is_file():
            raise ToolInputError(f"no such image file: {quote(user_path)}")
        key = hashlib.sha256(path.read_bytes()).hexdigest()
        handle = self.store.image_handle(key)
        if handle is None:
            from flowpath.vision import parse_image  # lazily: OpenCV + OCR models

            log.info("parsing flowchart image %s", path)
            handle = self.store.put(parse_image(path))
            self.store.remember_image(key, handle)
        return handle

    def check_args(self, args: Any) -> None:
        """Refuse arguments over :attr:`max_arg_bytes` of JSON (before they are validated or used)."""
        check_cap(
            json_size(args),
            cap="MAX_TOOL_ARGS_BYTES",
            limit=self.max_arg_bytes,
            what="the tool arguments",
            unit="bytes of JSON",
            hint="; pass large graphs as a file path under the tool root",
        )

    # ------------------------------------------------------------------ calls
    def call(self, name: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run tool ``name`` on ``args`` in this session and return its JSON-able result."""
        from flowpath.tools.registry import REGISTRY

        return REGISTRY.get(name).run(args or {}, self)


@functools.cache
def default_session() -> ToolSession:
    """The process-wide session of plain Python calls, rooted at the folder current at its first use."""
    return ToolSession()

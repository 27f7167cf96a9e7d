"""Graphs pass between tools by *handle*: an id in a session store, keyed by the graph's content hash.

A tool argument that names a graph (:data:`GraphRef`) accepts a handle (``"graph-1a2b3c4d5e6f"``,
returned by ``load_graph`` / ``parse_flowchart``), a graph JSON document (object or string), Mermaid
flowchart text, or the path of a ``.json`` / ``.mmd`` / ``.mermaid`` graph file. Handles live as long
as the process (an MCP server session, a Python session); a one-shot CLI call passes the graph itself.

Examples
--------
>>> store = GraphStore()
>>> h = store.put(resolve_graph("flowchart TD\\n  A --> B", store=store))
>>> h.startswith("graph-"), store.get(h).node_ids
(True, ['A', 'B'])
>>> resolve_graph(h, store=store) is store.get(h)
True
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from flowpath.tools.errors import ToolInputError, UnknownHandleError
from graphsolvers.errors import ToolkitError
from graphsolvers.graph import Graph
from graphsolvers.io import GRAPH_SUFFIXES

__all__ = [
    "GRAPH_REF_HELP",
    "HANDLE_PREFIX",
    "IMAGE_SUFFIXES",
    "GraphRef",
    "GraphStore",
    "default_store",
    "resolve_graph",
]

HANDLE_PREFIX = "graph-"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
_MERMAID_HEADERS = ("flowchart", "graph", "---", "%%")

GraphRef = str | dict[str, Any]
"""A graph handle, graph JSON (object or string), Mermaid text or a graph file path."""

GRAPH_REF_HELP = (
    "The graph: a handle returned by load_graph or parse_flowchart (e.g. 'graph-1a2b3c4d5e6f'), "
    "a graph JSON document (object or string), Mermaid flowchart text, or a path to a .json/.mmd graph file."
)


class GraphStore:
    """Graphs of one session by handle (content hash), at most ``capacity`` of them (oldest dropped first)."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self._graphs: OrderedDict[str, Graph] = OrderedDict()
        self._images: dict[str, str] = {}  # image content hash -> handle of its parsed graph
        self._lock = threading.Lock()

    def put(self, graph: Graph) -> str:
        """Store ``graph`` and return its handle (the same graph always gets the same handle)."""
        handle = HANDLE_PREFIX + hashlib.sha256(graph.to_json().encode("utf-8")).hexdigest()[:12]
        with self._lock:
            self._graphs[handle] = graph
            self._graphs.move_to_end(handle)
            while len(self._graphs) > self.capacity:
                self._graphs.popitem(last=False)
        return handle

    def get(self, handle: str) -> Graph:
        """The graph stored under ``handle``.

        Raises
        ------
        UnknownHandleError
            If no graph has that handle in this session.
        """
        with self._lock:
            graph = self._graphs.get(handle)
            known = list(self._graphs)[-5:]
        if graph is None:
            hint = f"known handles: {', '.join(known)}" if known else "no graph has been loaded in this session"
            raise UnknownHandleError(
                f"unknown graph handle {handle!r} ({hint}); call load_graph or parse_flowchart first, "
                "or pass the graph JSON or Mermaid text instead"
            )
        return graph

    def image_handle(self, image_key: str) -> str | None:
        """The handle of the graph parsed from the image with content hash ``image_key``, if still stored."""
        with self._lock:
            handle = self._images.get(image_key)
            return handle if handle in self._graphs else None

    def remember_image(self, image_key: str, handle: str) -> None:
        """Record that the image with content hash ``image_key`` parsed to the graph ``handle``."""
        with self._lock:
            self._images[image_key] = handle

    def __len__(self) -> int:
        return len(self._graphs)

    def __contains__(self, handle: object) -> bool:
        return handle in self._graphs


_DEFAULT = GraphStore()


def default_store() -> GraphStore:
    """The process-wide store the registered tools use."""
    return _DEFAULT


def resolve_graph(ref: GraphRef | Graph, *, store: GraphStore | None = None) -> Graph:
    """The :class:`Graph` that ``ref`` names (see :data:`GraphRef`).

    Raises
    ------
    UnknownHandleError
        For a handle the store does not hold.
    ToolInputError
        For text that is neither a handle, graph JSON, Mermaid nor a graph file, or a malformed graph.

    Examples
    --------
    >>> resolve_graph({"nodes": [{"id": "a"}], "edges": []}).node_ids
    ['a']
    >>> resolve_graph('{"nodes": [{"id": "x"}, {"id": "y"}], "edges": [{"source": "x", "target": "y"}]}').node_ids
    ['x', 'y']
    """
    store = store or default_store()
    if isinstance(ref, Graph):
        return ref
    try:
        if isinstance(ref, dict):
            return Graph.from_dict(ref)
        if not isinstance(ref, str):
            raise ToolInputError(f"expected a graph handle, graph JSON or Mermaid text, got {type(ref).__name__}")
        text = ref.strip()
        if text.startswith(HANDLE_PREFIX) and "\n" not in text and Path(text).suffix.lower() not in GRAPH_SUFFIXES:
            return store.get(text)
        if text.startswith("{"):
            return Graph.from_json(text)
        if text.lower().startswith(_MERMAID_HEADERS):
            from graphsolvers.mermaid import parse_mermaid

            return parse_mermaid(text)
        return _graph_file(text)
    except (ToolInputError, UnknownHandleError):
        raise
    except ToolkitError as e:
        raise ToolInputError(f"invalid graph: {e}") from e
    except json.JSONDecodeError as e:
        raise ToolInputError(f"invalid graph JSON: {e}") from e


def _graph_file(text: str) -> Graph:
    path = Path(text)
    if "\n" in text or len(text) > 4096 or path.suffix.lower() not in GRAPH_SUFFIXES | IMAGE_SUFFIXES:
        raise ToolInputError(
            f"cannot read a graph from {text[:60]!r}: pass a graph handle (graph-…), graph JSON, Mermaid text "
            "starting with 'flowchart', or a .json/.mmd file path"
        )
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise ToolInputError(f"{text!r} is an image: call parse_flowchart on it first and pass the returned handle")
    if not path.is_file():
        raise ToolInputError(f"no such graph file: {text!r}")
    from graphsolvers.io import load_graph

    return load_graph(path)

"""Graphs pass between tools by *handle*: an id in a session store, keyed by the graph's content hash.

A tool argument that names a graph (:data:`GraphRef`) accepts a handle (``"graph-1a2b3c4d5e6f"``,
returned by ``load_graph`` / ``parse_flowchart``), a graph JSON document (object or string), Mermaid
flowchart text, or the path of a ``.json`` / ``.mmd`` / ``.mermaid`` graph file (under the tool
session's root: :class:`~flowpath.tools.session.ToolSession`). Handles live as long as their store (an
MCP server session, a Python session); a one-shot CLI call passes the graph itself. A store holds at
most :data:`~graphsolvers.security.MAX_STORE_GRAPHS` graphs and about
:data:`~graphsolvers.security.MAX_STORE_BYTES` of them (the oldest are dropped first).

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
import re
import threading
from collections import OrderedDict
from pathlib import Path

from flowpath.tools.errors import ToolInputError, UnknownHandleError
from graphsolvers.errors import LimitExceededError, OutsideRootError, ToolkitError
from graphsolvers.graph import Graph
from graphsolvers.io import GRAPH_SUFFIXES
from graphsolvers.security import MAX_STORE_BYTES, MAX_STORE_GRAPHS, check_cap, quote, resolve_under_root
from graphsolvers.toolspec import GRAPH_REF_HELP, GraphRef

__all__ = [
    "GRAPH_REF_HELP",
    "HANDLE_PREFIX",
    "IMAGE_SUFFIXES",
    "GraphRef",
    "GraphStore",
    "default_store",
    "estimate_graph_bytes",
    "resolve_graph",
]

HANDLE_PREFIX = "graph-"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp"}
_MERMAID_HEADER = re.compile(r"(flowchart|graph)(?=[\s;]|$)|---|%%", re.IGNORECASE)  # not "graph-x.mmd"


NODE_BYTES = 300
"""Estimated memory of one stored node beyond its JSON text (the Python objects of a pydantic ``Node``)."""
EDGE_BYTES = 250
"""Estimated memory of one stored edge beyond its JSON text."""
JSON_CHAR_BYTES = 5
"""Estimated memory per character of a graph's JSON text (ids, texts and attrs as Python objects)."""


def estimate_graph_bytes(graph: Graph, json_chars: int | None = None) -> int:
    """Estimated memory of ``graph`` in a store, from its node and edge counts and the length of its JSON.

    Fitted with ``tracemalloc`` on graphs of 20,000 nodes and 60,000 edges with texts or feature lists
    (within 20%).

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> estimate_graph_bytes(parse_mermaid("flowchart TD\\n  A --> B")) > 0
    True
    """
    chars = len(graph.to_json()) if json_chars is None else json_chars
    return NODE_BYTES * len(graph.nodes) + EDGE_BYTES * len(graph.edges) + JSON_CHAR_BYTES * chars


class GraphStore:
    """Graphs of one session by handle (content hash): at most ``capacity`` of them and about ``max_bytes``
    of memory (:func:`estimate_graph_bytes`); the oldest are dropped first."""

    def __init__(self, capacity: int = MAX_STORE_GRAPHS, *, max_bytes: int = MAX_STORE_BYTES) -> None:
        self.capacity = capacity
        self.max_bytes = max_bytes
        self._graphs: OrderedDict[str, Graph] = OrderedDict()
        self._sizes: dict[str, int] = {}  # handle -> estimated bytes
        self._images: dict[str, str] = {}  # image content hash -> handle of its parsed graph
        self._lock = threading.Lock()

    @property
    def nbytes(self) -> int:
        """Estimated memory of the graphs held now."""
        return sum(self._sizes.values())

    def put(self, graph: Graph) -> str:
        """Store ``graph`` and return its handle (the same graph always gets the same handle).

        Raises
        ------
        LimitExceededError
            If the graph alone is estimated larger than ``max_bytes`` (cap ``MAX_STORE_BYTES``).
        """
        text = graph.to_json()
        size = estimate_graph_bytes(graph, len(text))
        check_cap(
            size,
            cap="MAX_STORE_BYTES",
            limit=self.max_bytes,
            what=f"a graph of {len(graph.nodes):,} nodes and {len(graph.edges):,} edges",
            unit="bytes (estimated)",
            hint="; pass its graph file path to each tool instead of storing it under a handle",
        )
        handle = HANDLE_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
        with self._lock:
            self._graphs[handle] = graph
            self._sizes[handle] = size
            self._graphs.move_to_end(handle)
            total = sum(self._sizes.values())
            while len(self._graphs) > self.capacity or total > self.max_bytes:
                old, _ = self._graphs.popitem(last=False)
                total -= self._sizes.pop(old)
            if len(self._images) > 4 * self.capacity:  # forget images whose graph was dropped
                self._images = {k: h for k, h in self._images.items() if h in self._graphs}
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
                f"unknown graph handle {quote(handle)} ({hint}); call load_graph or parse_flowchart first, "
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


def default_store() -> GraphStore:
    """The store of the process-wide tool session (:func:`~flowpath.tools.session.default_session`)."""
    from flowpath.tools.session import default_session

    return default_session().store


def resolve_graph(ref: GraphRef | Graph, *, store: GraphStore | None = None, root: str | Path | None = None) -> Graph:
    """The :class:`Graph` that ``ref`` names (see :data:`GraphRef`).

    A graph file path must lie under ``root`` when one is given (tool sessions always give theirs);
    without ``root`` (trusted Python callers) any path is read.

    Raises
    ------
    UnknownHandleError
        For a handle the store does not hold.
    OutsideRootError
        For a file path outside ``root``.
    LimitExceededError
        For a graph over a size cap (nodes, edges, Mermaid ``&`` fan-out).
    ToolInputError
        For text that is neither a handle, graph JSON, Mermaid nor a graph file, or a malformed graph.

    Examples
    --------
    >>> resolve_graph({"nodes": [{"id": "a"}], "edges": []}).node_ids
    ['a']
    >>> resolve_graph('{"nodes": [{"id": "x"}, {"id": "y"}], "edges": [{"source": "x", "target": "y"}]}').node_ids
    ['x', 'y']
    """
    if isinstance(ref, Graph):
        return ref
    try:
        if isinstance(ref, dict):
            return Graph.from_dict(ref)
        if not isinstance(ref, str):
            raise ToolInputError(f"expected a graph handle, graph JSON or Mermaid text, got {type(ref).__name__}")
        text = ref.strip()
        if text.startswith(HANDLE_PREFIX) and "\n" not in text and Path(text).suffix.lower() not in GRAPH_SUFFIXES:
            return (store or default_store()).get(text)
        if text.startswith("{"):
            return Graph.from_json(text)
        if _MERMAID_HEADER.match(text):
            from graphsolvers.mermaid import parse_mermaid

            return parse_mermaid(text)
        return _graph_file(text, root)
    except (ToolInputError, UnknownHandleError, OutsideRootError, LimitExceededError):
        raise
    except ToolkitError as e:
        raise ToolInputError(str(e) if str(e).startswith("invalid graph") else f"invalid graph: {e}") from e
    except json.JSONDecodeError as e:
        raise ToolInputError(f"invalid graph JSON: {e}") from e


def _graph_file(text: str, root: str | Path | None) -> Graph:
    suffix = Path(text).suffix.lower()
    if "\n" in text or len(text) > 4096 or suffix not in GRAPH_SUFFIXES | IMAGE_SUFFIXES:
        raise ToolInputError(
            f"cannot read a graph from {quote(text)}: pass a graph handle (graph-…), graph JSON, Mermaid text "
            "starting with 'flowchart', or a .json/.mmd file path"
        )
    if suffix in IMAGE_SUFFIXES:
        raise ToolInputError(
            f"{quote(text)} is an image: call parse_flowchart on it first and pass the returned handle"
        )
    path = resolve_under_root(text, root) if root is not None else Path(text)  # before the file is touched
    if not path.is_file():
        raise ToolInputError(f"no such graph file: {quote(text)}")
    from graphsolvers.io import load_graph

    return load_graph(path)

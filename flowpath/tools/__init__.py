"""Typed tool library for agents: one registry, used as Python calls, LangChain tools, CLI and MCP server.

Graphs pass between tools as handles (``load_graph`` / ``parse_flowchart`` return one) or as graph
JSON / Mermaid text, never as Python objects. Every call runs in a :class:`ToolSession`: the root folder
its file arguments must lie under, its graph store and its caps (``docs/security.md``). See
:mod:`flowpath.tools.registry`.

Examples
--------
>>> from flowpath.tools import call_tool
>>> h = call_tool("load_graph", {"source": "flowchart TD\\n  A --> B --> C"})["handle"]
>>> call_tool("neighbours", {"graph": h, "node_id": "B", "direction": "both"})["neighbours"]
['A', 'C']
"""

from flowpath.tools.errors import ToolInputError, UnknownHandleError, UnknownToolError
from flowpath.tools.registry import REGISTRY, Tool, as_langchain_tools, call_tool, get_tool, list_tools
from flowpath.tools.session import ToolSession, default_session
from flowpath.tools.store import GraphStore, default_store, resolve_graph

__all__ = [
    "REGISTRY",
    "GraphStore",
    "Tool",
    "ToolInputError",
    "ToolSession",
    "UnknownHandleError",
    "UnknownToolError",
    "as_langchain_tools",
    "call_tool",
    "default_session",
    "default_store",
    "get_tool",
    "list_tools",
    "resolve_graph",
]

"""The tool registry served over the Model Context Protocol on stdio (``flowpath mcp``).

Every registered tool is listed with its argument JSON schema; a call runs it in a worker thread
and returns its result both as JSON text and as structured content. Deliberate errors (bad
arguments, unknown handle or node id, unreadable image) come back as a tool result with
``isError`` set and a one-line message. Graph handles persist for the life of the server process.
Stdout carries the protocol only: logging goes to stderr.
"""

from __future__ import annotations

import logging
from typing import Any

from flowpath.tools.registry import REGISTRY, dumps, jsonable

__all__ = ["SERVER_NAME", "build_server", "call", "serve", "tool_list"]

log = logging.getLogger(__name__)

SERVER_NAME = "flowpath"
INSTRUCTIONS = (
    "Flowchart reasoning tools. Start with parse_flowchart (image) or load_graph (Mermaid/JSON); pass the returned "
    "handle as `graph` to the graph tools (neighbours, paths_between, decision_branches, ...) or as `chart` to "
    "attribute, which finds the nodes that ground an answer."
)


def tool_list() -> list[Any]:
    """The registered tools as MCP ``Tool`` descriptions.

    Examples
    --------
    >>> tools = {t.name: t for t in tool_list()}
    >>> tools["neighbours"].input_schema["required"]
    ['graph', 'node_id']
    """
    from mcp import types

    return [types.Tool(name=t.name, description=t.description, input_schema=t.input_schema()) for t in REGISTRY.tools()]


def call(name: str, arguments: dict[str, Any] | None) -> Any:
    """Run a tool and wrap its result (or its deliberate error) as an MCP ``CallToolResult``.

    Examples
    --------
    >>> call("start_nodes", {"graph": "flowchart TD\\n  A --> B"}).content[0].text
    '{"nodes": ["A"]}'
    >>> r = call("start_nodes", {"graph": "graph-000000000000"})
    >>> r.is_error, r.content[0].text.startswith("unknown graph handle")
    (True, True)
    """
    from mcp import types

    from graphsolvers.errors import ToolkitError

    try:
        result = jsonable(REGISTRY.get(name)(arguments or {}))
    except (ToolkitError, OSError) as e:
        log.info("tool %s failed: %s", name, e)
        return types.CallToolResult(content=[types.TextContent(text=str(e))], is_error=True)
    except Exception as e:  # a bug in a tool must not end the server session
        log.exception("tool %s crashed", name)
        return types.CallToolResult(
            content=[types.TextContent(text=f"internal error in {name}: {type(e).__name__}: {e}")], is_error=True
        )
    return types.CallToolResult(content=[types.TextContent(text=dumps(result))], structured_content=result)


def build_server() -> Any:
    """A low-level MCP ``Server`` whose tools are the registry's.

    Examples
    --------
    >>> build_server().name
    'flowpath'
    """
    import anyio
    from mcp import types
    from mcp.server.lowlevel import Server

    from flowpath import __version__

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_list())

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        log.info("call %s", params.name)
        return await anyio.to_thread.run_sync(call, params.name, params.arguments)

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def serve() -> None:
    """Serve the registry over stdio until the client closes the connection."""
    import anyio
    from mcp.server.stdio import stdio_server

    server = build_server()

    async def run() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    log.info("flowpath MCP server on stdio (%d tools)", len(REGISTRY.tools()))
    anyio.run(run)

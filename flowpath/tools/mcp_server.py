"""The tool registry served over the Model Context Protocol on stdio (``flowpath mcp``).

Every registered tool is listed with its argument JSON schema; a call runs it in a worker thread
and returns its result both as JSON text and as structured content. Deliberate errors (bad
arguments, unknown handle or node id, unreadable image, a file outside the root, an input over a
size cap) come back as a tool result with ``isError`` set and a one-line message; an unexpected
error says only its type (the details go to the server's log, never to the client). The server runs
one :class:`~flowpath.tools.session.ToolSession`: file arguments must lie under its root (``flowpath
mcp --root DIR``, default the current folder) and graph handles persist for the life of the server
process. Stdout carries the protocol only: logging goes to stderr.
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


def call(name: str, arguments: dict[str, Any] | None, session: Any = None) -> Any:
    """Run a tool in ``session`` (default: the process-wide one) and wrap its result (or its deliberate error)
    as an MCP ``CallToolResult``.

    Examples
    --------
    >>> call("start_nodes", {"graph": "flowchart TD\\n  A --> B"}).content[0].text
    '{"nodes": ["A"]}'
    >>> r = call("start_nodes", {"graph": "graph-000000000000"})
    >>> r.is_error, r.content[0].text.startswith("unknown graph handle")
    (True, True)
    """
    from mcp import types

    from flowpath.tools.session import default_session
    from graphsolvers.errors import ToolkitError

    try:
        result = jsonable(
            REGISTRY.get(name).run(arguments or {}, session if session is not None else default_session())
        )
    except (ToolkitError, OSError) as e:
        log.info("tool %s failed: %s", name, e)
        return types.CallToolResult(content=[types.TextContent(text=str(e))], is_error=True)
    except Exception as e:  # a bug in a tool must not end the server session
        log.exception("tool %s crashed", name)  # the message may hold file content: the log has it, the client not
        return types.CallToolResult(
            content=[types.TextContent(text=f"internal error in {name}: {type(e).__name__} (see the server log)")],
            is_error=True,
        )
    return types.CallToolResult(content=[types.TextContent(text=dumps(result))], structured_content=result)


def build_server(session: Any = None) -> Any:
    """A low-level MCP ``Server`` whose tools are the registry's, run in ``session`` (default: a new
    :class:`~flowpath.tools.session.ToolSession` rooted at the current folder).

    Examples
    --------
    >>> build_server().name
    'flowpath'
    """
    import anyio
    from mcp import types
    from mcp.server.lowlevel import Server

    from flowpath import __version__
    from flowpath.tools.session import ToolSession

    session = session if session is not None else ToolSession()

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tool_list())

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        log.info("call %s", params.name)
        return await anyio.to_thread.run_sync(call, params.name, params.arguments, session)

    return Server(
        SERVER_NAME,
        version=__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def serve(session: Any = None) -> None:
    """Serve the registry over stdio in ``session`` (default: rooted at the current folder) until the client
    closes the connection."""
    import anyio
    from mcp.server.stdio import stdio_server

    from flowpath.tools.session import ToolSession

    session = session if session is not None else ToolSession()
    server = build_server(session)

    async def run() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    log.info("flowpath MCP server on stdio (%d tools, root %s)", len(REGISTRY.tools()), session.root)
    anyio.run(run)

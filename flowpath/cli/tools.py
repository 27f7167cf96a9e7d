"""``flowpath tools`` and ``flowpath mcp``: list or call the typed tools, or serve them over MCP (stdio)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from flowpath.cli.common import ocr_checked
from flowpath.errors import InputError
from graphsolvers import safe_json
from graphsolvers.cli_support import add_command

__all__ = ["format_tool", "register"]


def register(sub) -> None:
    tools = add_command(
        sub,
        name="tools",
        help="list or call the typed agent tools",
        description="The typed tools an agent can call (also as LangChain tools: flowpath.tools.as_langchain_tools, "
        "and over MCP: flowpath mcp). One CLI call is one process, so graph handles do not carry over between "
        "calls: pass graph JSON, Mermaid text or a graph file path where a tool takes a graph.",
        epilog="Examples:\n  flowpath tools list\n  flowpath tools call shortest_path --args "
        '\'{"graph": "flowchart TD\\n A --> B --> C", "source": "A", "target": "C"}\'',
    )
    tsub = tools.add_subparsers(title="tool commands", metavar="COMMAND")
    tlist = add_command(tsub, _tools_list, name="list")
    tlist.add_argument("--json", action="store_true", help="print the tools and their JSON schemas as JSON")
    tcall = add_command(tsub, _tools_call, name="call")
    tcall.add_argument("name", help="tool name (see: flowpath tools list)")
    tcall.add_argument(
        "--args", default="{}", metavar="JSON", help="the arguments as a JSON object, or @FILE holding one (default {})"
    )
    _add_session_options(tcall)
    _add_session_options(add_command(sub, _mcp), store=True)


def _add_session_options(parser: argparse.ArgumentParser, *, store: bool = False) -> None:
    """--root and the caps of a tool session (graphsolvers.security; docs/security.md)."""
    from graphsolvers.security import MAX_STORE_BYTES, MAX_TOOL_ARGS_BYTES

    parser.add_argument(
        "--root",
        default=".",
        metavar="DIR",
        help="tools may read only files under this folder; relative paths are taken from it (default: .)",
    )
    parser.add_argument(
        "--max-arg-bytes",
        type=int,
        default=MAX_TOOL_ARGS_BYTES,
        metavar="N",
        help=f"refuse a call whose arguments exceed N bytes of JSON (default {MAX_TOOL_ARGS_BYTES})",
    )
    if store:
        parser.add_argument(
            "--store-bytes",
            type=int,
            default=MAX_STORE_BYTES,
            metavar="N",
            help=f"estimated memory of the graphs kept by handle; the oldest are dropped (default {MAX_STORE_BYTES})",
        )


def _session(args: argparse.Namespace):
    from flowpath.tools.session import ToolSession
    from graphsolvers.security import MAX_STORE_BYTES

    store_bytes = getattr(args, "store_bytes", MAX_STORE_BYTES)
    if args.max_arg_bytes < 1 or store_bytes < 1:
        raise InputError("--max-arg-bytes and --store-bytes must be positive")
    return ToolSession(args.root, max_arg_bytes=args.max_arg_bytes, store_bytes=store_bytes)


def _tools_list(args: argparse.Namespace) -> int:
    """every tool with its argument schema"""
    from flowpath.tools import list_tools

    tools = list_tools()
    if args.json:
        rows = [{"name": t.name, "description": t.description, "input_schema": t.input_schema()} for t in tools]
        print(json.dumps(rows, indent=2, ensure_ascii=False))
    else:
        print("\n\n".join(format_tool(t) for t in tools))
    return 0


def format_tool(tool) -> str:
    """A tool as readable text: name, description, then one line per argument (type, default, meaning)."""
    schema = tool.input_schema()
    required = set(schema.get("required", []))
    lines = [tool.name, *(f"  {line}" for line in tool.description.splitlines()), "  arguments:"]
    for name, prop in schema.get("properties", {}).items():
        kind = _schema_type(prop)
        default = "required" if name in required else f"default {json.dumps(prop.get('default'))}"
        lines.append(f"    {name} ({kind}, {default}): {prop.get('description', '')}".rstrip(": "))
    return "\n".join(lines)


def _schema_type(prop: dict) -> str:
    if "anyOf" in prop:
        return " | ".join(_schema_type(p) for p in prop["anyOf"])
    if "enum" in prop:
        return "one of " + "/".join(map(str, prop["enum"]))
    if prop.get("const") is not None:
        return repr(prop["const"])
    kind = prop.get("type", "any")
    if kind == "array" and "items" in prop:
        return f"list of {_schema_type(prop['items'])}"
    return {"object": "object", "string": "text", "integer": "int", "number": "float", "boolean": "bool"}.get(
        kind, str(kind)
    )


@ocr_checked
def _tools_call(args: argparse.Namespace) -> int:
    """run one tool and print its JSON result"""
    import logging

    from flowpath.errors import FlowpathError
    from flowpath.tools import get_tool
    from flowpath.tools.registry import dumps
    from graphsolvers.errors import ToolkitError

    tool = get_tool(args.name)
    session = _session(args)
    text = args.args
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise InputError(f"--args {text}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    tool_args = safe_json.loads_or_raise(text, what="--args", error=InputError)
    if not isinstance(tool_args, dict):
        raise InputError(f"--args must be a JSON object of arguments, got {type(tool_args).__name__}")
    try:
        result = tool.run(tool_args, session)
    except (ToolkitError, OSError):
        raise
    except Exception as e:  # a tool bug still ends in one line, with the traceback in the debug log
        logging.getLogger(__name__).debug("tool %s crashed", args.name, exc_info=True)
        raise FlowpathError(f"tool {args.name} failed: {type(e).__name__}: {e} (rerun with -vv for details)") from e
    print(dumps(result, indent=2))
    return 0


@ocr_checked
def _mcp(args: argparse.Namespace) -> int:
    """serve the tools over the Model Context Protocol (stdio)

    Serve every tool of `flowpath tools list` to an MCP client over stdin/stdout. Graph handles returned by
    load_graph / parse_flowchart stay valid for the life of the server. The client may name only files under --root
    (docs/security.md). Logs go to stderr.
    """
    from flowpath.tools.mcp_server import serve

    serve(_session(args))
    return 0

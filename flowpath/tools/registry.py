"""One registry of typed tools: name, a description for an LLM, a pydantic argument model, a function.

The tools are :class:`~graphsolvers.toolspec.ToolSpec` entries, in this order: flowpath's own
(:data:`~flowpath.tools.app_tools.APP_TOOLS`), those the installed apps publish in the ``graphsolvers.tools``
entry-point group (:func:`~graphsolvers.toolspec.plugin_tools`: the CGS and connectome tools), then the graph
tools generated from :mod:`graphsolvers.queries` (:func:`~graphsolvers.query_tools.query_tools`). A tool's
function takes its validated argument model and the caller's :class:`~flowpath.tools.session.ToolSession`
(root folder, graph store, caps; the tool's context) and returns a JSON-able dict. The same tool runs as a
plain Python call (:func:`call_tool`, or calling the :class:`Tool`), as a LangChain ``StructuredTool``
(:func:`as_langchain_tools`, to bind to a LangGraph agent), from the CLI (``flowpath tools call``) and over MCP
(``flowpath mcp``).

Examples
--------
>>> out = call_tool("shortest_path", {"graph": "flowchart TD\\n  A --> B --> C", "source": "A", "target": "C"})
>>> out["path"]
['A', 'B', 'C']
>>> call_tool("no_such_tool", {})
Traceback (most recent call last):
...
flowpath.tools.errors.UnknownToolError: unknown tool 'no_such_tool'; available: ...
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from flowpath.tools.errors import ToolInputError, UnknownToolError
from graphsolvers.query_tools import query_tools
from graphsolvers.security import describe_validation_error, quote
from graphsolvers.toolspec import ToolSpec, plugin_tools

__all__ = ["REGISTRY", "Registry", "Tool", "as_langchain_tools", "call_tool", "get_tool", "list_tools"]

log = logging.getLogger(__name__)

ToolFunc = Callable[[Any, Any], dict[str, Any]]


@dataclass(frozen=True)
class Tool:
    """A typed tool: ``func(args_model(**args), session) -> dict``."""

    name: str
    description: str
    args_model: type[BaseModel]
    func: ToolFunc

    @classmethod
    def from_spec(cls, spec: ToolSpec) -> Tool:
        """The registry's tool for ``spec``."""
        return cls(spec.name, spec.description, spec.args_model, spec.run)

    def parse_args(self, args: BaseModel | dict[str, Any] | None = None, /, **kwargs: Any) -> BaseModel:
        """Validate ``args`` (a dict or the argument model) and/or keyword arguments.

        Raises
        ------
        ToolInputError
            With the first few validation problems, each as ``field: problem`` (values are never quoted).
        """
        if isinstance(args, self.args_model) and not kwargs:
            return args
        data = self._merged(args, kwargs)
        try:
            return self.args_model.model_validate(data)
        except ValidationError as e:
            raise ToolInputError(f"invalid arguments for {self.name}: {describe_validation_error(e)}") from e

    def _merged(self, args: BaseModel | dict[str, Any] | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        data = {**(args.model_dump(exclude_unset=True) if isinstance(args, BaseModel) else args or {}), **kwargs}
        if not isinstance(data, dict):
            raise ToolInputError(f"{self.name}: arguments must be a JSON object, got {type(data).__name__}")
        return data

    def __call__(self, args: BaseModel | dict[str, Any] | None = None, /, **kwargs: Any) -> dict[str, Any]:
        """Run the tool in the process-wide session (:func:`~flowpath.tools.session.default_session`)."""
        from flowpath.tools.session import default_session

        return self.run(args, default_session(), **kwargs)

    def run(self, args: BaseModel | dict[str, Any] | None, session: Any, /, **kwargs: Any) -> dict[str, Any]:
        """Run the tool in ``session`` (a :class:`~flowpath.tools.session.ToolSession`) and return its JSON-able
        result: the arguments' size is checked first, then they are validated, then the tool runs.

        Raises
        ------
        LimitExceededError
            Arguments over the session's ``max_arg_bytes`` of JSON (cap ``MAX_TOOL_ARGS_BYTES``).
        ToolInputError
            Arguments that do not validate.
        """
        if not isinstance(args, dict | BaseModel | None):
            raise ToolInputError(f"{self.name}: arguments must be a JSON object, got {type(args).__name__}")
        session.check_args(args if isinstance(args, self.args_model) and not kwargs else self._merged(args, kwargs))
        parsed = self.parse_args(args, **kwargs)
        log.debug("tool %s in %r", self.name, session)
        return jsonable(self.func(parsed, session))

    def input_schema(self) -> dict[str, Any]:
        """The JSON schema of the arguments (what MCP and ``flowpath tools list`` show)."""
        return self.args_model.model_json_schema()

    def as_langchain(self, session: Any = None) -> Any:
        """This tool as a LangChain ``StructuredTool`` running in ``session`` (default: the process-wide one);
        errors come back to the model as the tool's output."""
        from langchain_core.tools import StructuredTool, ToolException

        from flowpath.tools.session import default_session

        bound = session if session is not None else default_session()

        def run(**kwargs: Any) -> dict[str, Any]:
            from graphsolvers.errors import ToolkitError

            try:
                return self.run(kwargs, bound)
            except (ToolkitError, OSError) as e:
                raise ToolException(f"error: {e}") from e

        return StructuredTool.from_function(
            func=run,
            name=self.name,
            description=self.description,
            args_schema=self.args_model,
            handle_tool_error=True,
            handle_validation_error=lambda e: (
                f"error: invalid arguments for {self.name}: "
                + (describe_validation_error(e) if isinstance(e, ValidationError) else str(e))
            ),
        )


class Registry:
    """Tools by name, in registration order."""

    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def add(self, spec: ToolSpec) -> None:
        """Register the tool ``spec`` describes (a name registered twice is a programming error)."""
        if spec.name in self._tools:
            raise ValueError(f"tool {spec.name!r} is registered twice")
        self._tools[spec.name] = Tool.from_spec(spec)

    def get(self, name: str) -> Tool:
        """The tool called ``name``.

        Raises
        ------
        UnknownToolError
            Naming the available tools.
        """
        try:
            return self._tools[name]
        except KeyError:
            raise UnknownToolError(f"unknown tool {quote(name)}; available: {', '.join(self._tools)}") from None

    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tools


def default_registry() -> Registry:
    """flowpath's tools, the installed apps' tools, then the graph tools (see the module docstring)."""
    from flowpath.tools.app_tools import APP_TOOLS

    registry = Registry()
    for spec in (*APP_TOOLS, *plugin_tools(), *query_tools()):
        registry.add(spec)
    return registry


REGISTRY = default_registry()


def get_tool(name: str) -> Tool:
    """The registered tool ``name`` (raises :class:`UnknownToolError`).

    Examples
    --------
    >>> get_tool("neighbours").args_model.__name__
    'NeighboursArgs'
    """
    return REGISTRY.get(name)


def list_tools() -> list[Tool]:
    """Every registered tool, in registration order.

    Examples
    --------
    >>> "attribute" in [t.name for t in list_tools()]
    True
    """
    return REGISTRY.tools()


def call_tool(name: str, args: dict[str, Any] | None = None, *, session: Any = None) -> dict[str, Any]:
    """Run tool ``name`` on ``args`` in ``session`` (default: the process-wide
    :func:`~flowpath.tools.session.default_session`) and return its JSON-able result.

    Raises
    ------
    UnknownToolError, ToolInputError
        Unknown tool or arguments that do not validate; tools raise further
        :class:`~graphsolvers.errors.ToolkitError` subclasses (unknown node id, unreadable image, a file
        outside the session's root, an input over a size cap, ...).

    Examples
    --------
    >>> call_tool("start_nodes", {"graph": "flowchart TD\\n  A --> B"})
    {'nodes': ['A']}
    """
    from flowpath.tools.session import default_session

    return REGISTRY.get(name).run(args or {}, session if session is not None else default_session())


def as_langchain_tools(names: list[str] | None = None, *, session: Any = None) -> list[Any]:
    """The registered tools (or those named) as LangChain ``StructuredTool`` objects for an agent to bind,
    running in ``session`` (default: the process-wide one; give an agent that reads untrusted text its own
    :class:`~flowpath.tools.session.ToolSession` with a narrow root).

    Examples
    --------
    >>> tools = {t.name: t for t in as_langchain_tools(["load_graph", "end_nodes"])}
    >>> h = tools["load_graph"].invoke({"source": "flowchart TD\\n  A --> B"})["handle"]
    >>> tools["end_nodes"].invoke({"graph": h})
    {'nodes': ['B']}
    """
    chosen = [REGISTRY.get(n) for n in names] if names is not None else REGISTRY.tools()
    return [t.as_langchain(session) for t in chosen]


def jsonable(value: Any) -> Any:
    """``value`` with tuples as lists and pydantic models dumped, so ``json.dumps`` takes it."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def dumps(value: Any, *, indent: int | None = None) -> str:
    """JSON text of a tool result."""
    return json.dumps(jsonable(value), indent=indent, ensure_ascii=False)

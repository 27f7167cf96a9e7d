"""The graph tools: every :mod:`graphsolvers.queries` function as a tool, generated from its signature and docstring.

Names, argument types, defaults and bounds come from the query's signature; the tool's description and its own
arguments' from its numpydoc docstring, the shared arguments' from :data:`graphsolvers.queries.PARAMETERS`. The
graph is either an argument (:func:`query_tools`: a :data:`~graphsolvers.toolspec.GraphRef` the host resolves, as
MCP and the tool library need) or already bound (:func:`bound_args_model`: a chat model reasoning about one chart).
Nothing here is written twice.

Examples
--------
>>> from graphsolvers.toolspec import TrustedContext
>>> tools = {t.name: t for t in query_tools()}
>>> graph = {"nodes": [{"id": "A"}, {"id": "B"}], "edges": [{"source": "A", "target": "B"}]}
>>> tool = tools["neighbours"]
>>> tool.run(tool.args_model(graph=graph, node_id="A"), TrustedContext())
{'node_id': 'A', 'direction': 'out', 'neighbours': ['B']}
>>> sorted(bound_args_model(queries.paths_between).model_json_schema()["properties"])
['max_paths', 'pinned', 'source', 'target']
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, create_model

from graphsolvers import queries
from graphsolvers.graph import Graph
from graphsolvers.toolspec import GRAPH_REF_HELP, GraphRef, ToolArgs, ToolContext, ToolSpec, parameter_docs

__all__ = ["QUERIES", "QueryTool", "bound_args_model", "query_tools"]


def _node_text_and_kind(args: BaseModel, graph: Graph, text: str) -> dict[str, Any]:
    return {"node_id": args.node_id, "text": text, "kind": graph.node(args.node_id).kind}  # type: ignore[attr-defined]


@dataclass(frozen=True)
class QueryTool:
    """How a tool reports one query's value: under ``key`` (a tuple result spread over several keys), after the
    arguments named in ``echo``; or by ``present(args, graph, value)`` where the tool adds to the value."""

    query: Callable[..., Any]
    key: str | tuple[str, ...] = ""
    echo: tuple[str, ...] = ()
    present: Callable[[BaseModel, Graph, Any], dict[str, Any]] | None = None

    def result(self, args: BaseModel, graph: Graph, value: Any) -> dict[str, Any]:
        """The tool's JSON-able result for the query's ``value``."""
        if self.present is not None:
            return self.present(args, graph, value)
        out = {name: getattr(args, name) for name in self.echo}
        if isinstance(self.key, tuple):
            return out | dict(zip(self.key, value, strict=True))
        return out | {self.key: value}


QUERIES: tuple[QueryTool, ...] = (
    QueryTool(queries.get_statement, present=_node_text_and_kind),
    QueryTool(queries.neighbours, "neighbours", echo=("node_id", "direction")),
    QueryTool(queries.in_degree, "in_degree", echo=("node_id",)),
    QueryTool(queries.out_degree, "out_degree", echo=("node_id",)),
    QueryTool(queries.max_in_degree, ("degree", "nodes")),
    QueryTool(queries.max_out_degree, ("degree", "nodes")),
    QueryTool(queries.ancestors, "ancestors", echo=("node_id",)),
    QueryTool(queries.descendants, "descendants", echo=("node_id",)),
    QueryTool(queries.bfs, "order"),
    QueryTool(queries.dfs, "order"),
    QueryTool(queries.shortest_path, "path"),
    QueryTool(queries.paths_between, "paths"),
    QueryTool(queries.start_nodes, "nodes"),
    QueryTool(queries.end_nodes, "nodes"),
    QueryTool(queries.decision_branches, "branches", echo=("node_id",)),
    QueryTool(queries.loops, "loops"),
)
"""The queries offered as tools, in the order tool listings and prompts show them."""


def query_tools() -> list[ToolSpec]:
    """Every query as a tool whose ``graph`` argument the host resolves (a handle, JSON, Mermaid or a file)."""
    return [_spec(q) for q in QUERIES]


def bound_args_model(query: Callable[..., Any]) -> type[ToolArgs]:
    """The argument model of ``query`` with its graph already bound: every argument after the graph."""
    return _args_model(query, bound=True)


@functools.cache
def _args_model(query: Callable[..., Any], *, bound: bool) -> type[ToolArgs]:
    hints = typing.get_type_hints(query, include_extras=True)
    docs = queries.PARAMETERS | parameter_docs(query)
    graph_param, *params = inspect.signature(query).parameters.values()
    fields: dict[str, Any] = {} if bound else {graph_param.name: (GraphRef, Field(description=GRAPH_REF_HELP))}
    for p in params:
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[p.name] = (hints[p.name], Field(default, description=docs.get(p.name)))
    name = "".join(word.capitalize() for word in query.__name__.split("_")) + "Args"
    return create_model(name, __base__=ToolArgs, __module__=__name__, **fields)


def _spec(tool: QueryTool) -> ToolSpec:
    query = tool.query

    def run(args: Any, context: ToolContext) -> dict[str, Any]:
        graph = context.graph(args.graph)
        for node_id in getattr(args, "pinned", None) or {}:  # a pinned id the graph lacks is an error, not a no-op
            queries.get_statement(graph, node_id)
        value = query(graph, **args.model_dump(exclude={"graph"}))
        return tool.result(args, graph, value)

    run.__doc__ = query.__doc__
    return ToolSpec.from_function(run, _args_model(query, bound=False), name=query.__name__)

"""Graph tools for a chat model: the graph tools of :mod:`graphsolvers.query_tools` bound to one graph.

They are the tool library's graph tools (the same names, argument models and descriptions, generated from the
:mod:`graphsolvers.queries` signatures and docstrings) with the ``graph`` argument already bound, as LangChain
``StructuredTool`` objects. A call goes through :class:`~flowpath.agent.planner.Toolbox`, so it lands in the
trace.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import StructuredTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from flowpath.agent.planner import Toolbox
from graphsolvers.graph import Graph
from graphsolvers.query_tools import QUERIES, bound_args_model
from graphsolvers.toolspec import tool_description

__all__ = [
    "FINAL_ANSWER",
    "TOOL_NAMES",
    "FinalAnswer",
    "chart_listing",
    "graph_tools",
    "openai_schemas",
    "tool_listing",
]

TOOL_NAMES: tuple[str, ...] = tuple(q.query.__name__ for q in QUERIES)
"""The query functions offered to the model, in the order the prompt lists them."""

FINAL_ANSWER = "final_answer"


class FinalAnswer(BaseModel):
    """The model's last word: the chart nodes that ground the answer, and why."""

    nodes: list[str] = Field(description="ids of the chart nodes that ground the answer (may be empty)")
    reason: str = Field(default="", description="one sentence on why these nodes")


def _final_answer(nodes: list[str], reason: str = "") -> dict[str, Any]:
    return {"nodes": nodes, "reason": reason}


def graph_tools(toolbox: Toolbox) -> dict[str, StructuredTool]:
    """The graph tools bound to ``toolbox.graph`` plus ``final_answer``, by name.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> box = Toolbox(parse_mermaid('flowchart TD\\n  A["Start"] --> B["Stop"]'))
    >>> tools = graph_tools(box)
    >>> tools["neighbours"].invoke({"node_id": "A"})
    ['B']
    >>> box.trace[0].tool, box.trace[0].args
    ('neighbours', {'node_id': 'A', 'direction': 'out'})
    """
    tools = {}
    for q in QUERIES:
        name = q.query.__name__

        def call(_name: str = name, **kwargs: Any) -> Any:
            return toolbox.call(_name, **kwargs)

        tools[name] = StructuredTool.from_function(
            call,
            name=name,
            description=" ".join(tool_description(q.query).split()),
            args_schema=bound_args_model(q.query),
        )
    tools[FINAL_ANSWER] = StructuredTool.from_function(
        _final_answer,
        name=FINAL_ANSWER,
        description="Finish: give the ids of the chart nodes that ground the answer and one sentence why.",
        args_schema=FinalAnswer,
    )
    return tools


def openai_schemas(tools: dict[str, StructuredTool]) -> list[dict[str, Any]]:
    """The tools in the chat-completions ``tools`` format."""
    return [convert_to_openai_tool(t) for t in tools.values()]


def tool_listing(tools: dict[str, StructuredTool]) -> str:
    """One line per tool, ``name(arg: type, ...) - description``, for models without native tool calls.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> listing = tool_listing(graph_tools(Toolbox(parse_mermaid('flowchart TD\\n  A --> B'))))
    >>> listing.splitlines()[1]
    "neighbours(node_id: string, direction: out|in|both = out) - The nodes directly after (direction 'out'), before \
('in') or around ('both') a node, in edge order, without repeats."
    """
    lines = []
    for name, tool in tools.items():
        args = []
        for arg, spec in tool.args.items():
            kind = "|".join(spec["enum"]) if "enum" in spec else _type_name(spec)
            args.append(f"{arg}: {kind}" + (f" = {spec['default']}" if spec.get("default") is not None else ""))
        lines.append(f"{name}({', '.join(args)}) - {tool.description}")
    return "\n".join(lines)


def _type_name(spec: dict[str, Any]) -> str:
    if "type" in spec:
        if spec["type"] == "array":
            return f"list[{_type_name(spec.get('items', {}))}]"
        if spec["type"] == "object":
            return "object"
        return spec["type"]
    options = [_type_name(s) for s in spec.get("anyOf", []) if s.get("type") != "null"]
    return "|".join(options) or "any"


def chart_listing(graph: Graph) -> str:
    """A compact listing of the chart for a prompt: one line per node, then one per edge.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> print(chart_listing(parse_mermaid('flowchart TD\\n  A(["Start"]) --> B{"Ok?"}\\n  B -->|Yes| C["Ship"]')))
    Nodes (id [kind] text):
    A [start] Start
    B [decision] Ok?
    C [process] Ship
    Edges:
    A -> B
    B -> C [Yes]
    """
    lines = ["Nodes (id [kind] text):"]
    lines += [f"{n.id} [{n.kind}] {' '.join(n.text.split())}" for n in graph.nodes]
    lines.append("Edges:")
    arrow = "->" if graph.directed else "--"
    lines += [f"{e.source} {arrow} {e.target}" + (f" [{e.label.strip()}]" if e.label else "") for e in graph.edges]
    return "\n".join(lines)

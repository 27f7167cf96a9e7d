"""The LLM policy: a chat model picks graph tools in a bounded LangGraph loop, then names the nodes.

The model sees a compact listing of the chart, the question and the answer, and the graph tools
(:func:`~flowpath.agent.llm.tools.graph_tools`). Each turn it either calls a tool (natively or as
JSON ``{"tool": ..., "args": {...}}`` in its text) or finishes with ``final_answer`` / JSON
``{"nodes": [...], "reason": "..."}``. The loop runs at most ``max_steps`` model turns; the last
turn offers only ``final_answer``.

Everything the model can get wrong is recovered: bad JSON, an unknown tool, bad arguments or an
unknown node id in a tool call are fed back as the tool's error; unknown ids in the final answer
are dropped with a warning (all unknown: fed back while turns remain). A backend failure (HTTP
error, timeout) or no final answer within the step limit falls back to the learned policy (or to
an empty selection with ``fallback="none"``), with the reason in the warnings. Every tool call,
failed ones included, lands in the trace.
"""

from __future__ import annotations

import json
import logging
from functools import lru_cache
from typing import Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flowpath.agent.embed import Embedder
from flowpath.agent.llm.backends import (
    BackendError,
    ChatBackend,
    ChatReply,
    LocalHFBackend,
    OpenAICompatBackend,
    ToolRequest,
)
from flowpath.agent.llm.tools import FINAL_ANSWER, FinalAnswer, chart_listing, graph_tools, openai_schemas, tool_listing
from flowpath.agent.planner import PlannerConfig, Selection, Toolbox, learned_policy
from flowpath.agent.result import ToolCall
from flowpath.errors import InputError
from graphsolvers.errors import ToolkitError
from graphsolvers.graph import Graph

__all__ = ["LLMConfig", "get_backend", "llm_policy"]

log = logging.getLogger(__name__)

MAX_RESULT_CHARS = 1500
"""Tool results longer than this are cut in the message to the model (the trace keeps them whole)."""


class LLMConfig(BaseModel):
    """Which chat model the LLM policy talks to and how long it may go on.

    Exactly one backend: ``base_url`` + ``model`` (OpenAI-compatible server) or ``path`` (+ ``gguf``)
    for a local Hugging Face model.

    Examples
    --------
    >>> LLMConfig(base_url="http://127.0.0.1:8000/v1", model="m").backend_kind
    'openai'
    >>> try:
    ...     LLMConfig(model="m")
    ... except ValueError as e:
    ...     print(e.errors()[0]["msg"])
    Value error, the llm policy needs a backend: --llm-base-url URL --llm-model NAME, or --llm-path DIR
    """

    model_config = ConfigDict(frozen=True)

    base_url: str | None = None
    model: str | None = None
    path: str | None = None
    gguf: str | None = None
    max_steps: int = Field(default=6, ge=1, le=50)
    max_new_tokens: int = Field(default=96, ge=8, le=4096)
    timeout: float = Field(default=60.0, gt=0)
    fallback: Literal["learned", "none"] = "learned"

    @model_validator(mode="after")
    def _one_backend(self) -> LLMConfig:
        if self.base_url and self.path:
            raise ValueError("give either --llm-base-url (a server) or --llm-path (a local model), not both")
        if self.base_url and not self.model:
            raise ValueError("--llm-base-url needs --llm-model NAME")
        if not self.base_url and not self.path:
            raise ValueError("the llm policy needs a backend: --llm-base-url URL --llm-model NAME, or --llm-path DIR")
        if self.gguf and not self.path:
            raise ValueError("--llm-gguf needs --llm-path DIR (the folder that holds the file)")
        return self

    @property
    def backend_kind(self) -> str:
        return "openai" if self.base_url else "local"


@lru_cache(maxsize=4)
def get_backend(cfg: LLMConfig) -> ChatBackend:
    """The backend for ``cfg`` (one per distinct config per process; the local model loads on first use)."""
    if cfg.base_url:
        return OpenAICompatBackend(cfg.base_url, cfg.model or "", timeout=cfg.timeout)
    return LocalHFBackend(cfg.path or ".", gguf_file=cfg.gguf, max_new_tokens=cfg.max_new_tokens)


# ---------------------------------------------------------------------- prompt
_SYSTEM = """You attribute an answer about a flowchart to the chart nodes that ground it.
Check the flow with the graph tools if needed, then give the final answer.
Tools:
{tools}
To call a tool, reply with only JSON: {{"tool": "<name>", "args": {{...}}}}
To finish, reply with only JSON: {{"nodes": ["<node id>", ...], "reason": "<one sentence>"}}
Use only node ids from the chart. You have at most {steps} turns."""

_USER = """Chart:
{chart}

Question: {question}
Answer: {answer}

Which nodes ground the answer?"""

_LAST_TURN = 'Last turn: reply now with only the final JSON {"nodes": [...], "reason": "..."}.'
_NO_CALL = 'Your reply had no tool call. Reply with only JSON: a tool call or {"nodes": [...], "reason": "..."}.'


def _opening(graph: Graph, question: str, answer: str, tools: dict, max_steps: int) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": _SYSTEM.format(tools=tool_listing(tools), steps=max_steps)},
        {"role": "user", "content": _USER.format(chart=chart_listing(graph), question=question, answer=answer)},
    ]


# ---------------------------------------------------------------------- the loop
class LoopState(TypedDict, total=False):
    """State of the tool-calling loop."""

    messages: list[dict[str, Any]]
    steps: int
    pending: ChatReply | None
    final: FinalAnswer | None
    error: str | None
    warnings: list[str]


class _Loop:
    """One question's loop: the backend, the bound tools and the graph."""

    def __init__(self, graph: Graph, backend: ChatBackend, max_steps: int) -> None:
        self.graph = graph
        self.backend = backend
        self.max_steps = max_steps
        self.toolbox = Toolbox(graph)
        self.tools = graph_tools(self.toolbox)
        self.schemas = openai_schemas(self.tools)
        self.final_schema = [s for s in self.schemas if s["function"]["name"] == FINAL_ANSWER]

    def compile(self):
        sg = StateGraph(LoopState)
        sg.add_node("model", self.model_turn)
        sg.add_node("tools", self.run_tools)
        sg.add_edge(START, "model")
        sg.add_conditional_edges("model", self.after_model, {"tools": "tools", "model": "model", "end": END})
        sg.add_conditional_edges("tools", self.after_tools, {"model": "model", "end": END})
        return sg.compile()

    # -------------------------------------------------------------- nodes
    def model_turn(self, state: LoopState) -> LoopState:
        steps = state.get("steps", 0) + 1
        messages = list(state["messages"])
        last = steps >= self.max_steps
        if last and self.max_steps > 1:
            messages.append({"role": "user", "content": _LAST_TURN})
        try:
            reply = self.backend.chat(messages, self.final_schema if last else self.schemas)
        except BackendError as e:
            return {"steps": steps, "error": str(e), "pending": None}
        warnings = list(state.get("warnings", []))
        messages.append(_assistant_message(reply))
        if not reply.tool_calls:
            warnings.append(f"turn {steps}: the model's reply had no tool call or final answer")
            messages.append({"role": "user", "content": _NO_CALL})
        return {"steps": steps, "messages": messages, "pending": reply, "warnings": warnings}

    def run_tools(self, state: LoopState) -> LoopState:
        reply = state["pending"]
        assert reply is not None
        messages, warnings = list(state["messages"]), list(state.get("warnings", []))
        final = None
        for call in reply.tool_calls:
            if call.name == FINAL_ANSWER:
                final, feedback = self._final(call, warnings, can_retry=state["steps"] < self.max_steps)
            else:
                feedback = self._graph_tool(call)
            messages.append(_tool_message(reply, call, feedback))
            if final is not None:
                break
        return {"messages": messages, "final": final, "pending": None, "warnings": warnings}

    # -------------------------------------------------------------- routing
    def after_model(self, state: LoopState) -> str:
        if state.get("error"):
            return "end"
        if state.get("pending") is not None and state["pending"].tool_calls:
            return "tools"
        return "end" if state["steps"] >= self.max_steps else "model"

    def after_tools(self, state: LoopState) -> str:
        return "end" if state.get("final") is not None or state["steps"] >= self.max_steps else "model"

    # -------------------------------------------------------------- tool execution
    def _graph_tool(self, call: ToolRequest) -> str:
        """Run one graph tool; an unknown tool or bad arguments come back as the error text."""
        tool = self.tools.get(call.name)
        error = None
        if tool is None:
            error = f"unknown tool {call.name!r}; the tools are {', '.join(self.tools)}"
        elif call.args is None:
            error = f"the arguments of {call.name} are not a JSON object: {call.raw_args[:200]!r}"
        else:
            try:
                return _cut(json.dumps(tool.invoke(call.args), default=str))
            except ValidationError as e:
                error = f"bad arguments for {call.name}: {_validation_summary(e)}"
            except (ToolkitError, TypeError, ValueError) as e:
                error = f"{call.name} failed: {e}"
        self.toolbox.trace.append(ToolCall(tool=call.name, args=call.args or {}, result={"error": error}))
        return json.dumps({"error": error})

    def _final(self, call: ToolRequest, warnings: list[str], *, can_retry: bool) -> tuple[FinalAnswer | None, str]:
        """The final answer with unknown ids dropped, or None (and the error) when nothing usable is left."""
        try:
            answer = FinalAnswer.model_validate(_coerce_final(call.args))
        except ValidationError as e:
            error = f"bad final answer: {_validation_summary(e)}"
            self.toolbox.trace.append(ToolCall(tool=FINAL_ANSWER, args=call.args or {}, result={"error": error}))
            return None, json.dumps({"error": error})
        ids = self._resolve_ids(answer.nodes)
        known = list(dict.fromkeys(i for i in ids if i is not None))
        unknown = [n for n, i in zip(answer.nodes, ids, strict=True) if i is None]
        result: dict[str, Any] = {"accepted": known}
        if unknown:
            result["unknown"] = unknown
            if not known and can_retry:
                result["error"] = f"unknown node ids {unknown}; use ids from the chart listing"
                self.toolbox.trace.append(ToolCall(tool=FINAL_ANSWER, args=call.args or {}, result=result))
                return None, json.dumps(result)
            warnings.append(f"dropped node ids the chart does not have: {unknown}")
        self.toolbox.trace.append(ToolCall(tool=FINAL_ANSWER, args=call.args or {}, result=result))
        return FinalAnswer(nodes=known, reason=answer.reason), json.dumps(result)

    def _resolve_ids(self, names: list[str]) -> list[str | None]:
        """Node ids for what the model named: an id, or else a node's exact text (case-insensitive)."""
        ids = set(self.graph.node_ids)
        by_text = {" ".join(n.text.split()).lower(): n.id for n in self.graph.nodes}
        return [n if n in ids else by_text.get(" ".join(n.split()).lower()) for n in names]


def _coerce_final(args: dict[str, Any] | None) -> Any:
    """Small models write ids as numbers or a single string; read those as a list of strings."""
    if not isinstance(args, dict):
        return args
    nodes = args.get("nodes")
    if isinstance(nodes, str | int | float):
        nodes = [nodes]
    if isinstance(nodes, list):
        nodes = [str(n) if isinstance(n, str | int | float) else n for n in nodes]
    reason = args.get("reason", "")
    return {"nodes": nodes, "reason": reason if isinstance(reason, str) else json.dumps(reason)}


def _assistant_message(reply: ChatReply) -> dict[str, Any]:
    if reply.native and reply.tool_calls:
        calls = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.raw_args or "{}"}}
            for c in reply.tool_calls
        ]
        return {"role": "assistant", "content": reply.content or None, "tool_calls": calls}
    return {"role": "assistant", "content": reply.content}


def _tool_message(reply: ChatReply, call: ToolRequest, content: str) -> dict[str, Any]:
    """A native call gets a ``tool`` message; a call read from text gets the result as a user turn."""
    if reply.native:
        return {"role": "tool", "tool_call_id": call.id, "content": content}
    return {"role": "user", "content": f"Result of {call.name}: {content}"}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_RESULT_CHARS else text[:MAX_RESULT_CHARS] + " ...(cut)"


def _validation_summary(e: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, err['loc'])) or 'input'}: {err['msg']}" for err in e.errors()[:3])


# ---------------------------------------------------------------------- the policy
def llm_policy(
    graph: Graph,
    question: str,
    answer: str,
    *,
    embedder: Embedder | None,
    config: PlannerConfig | None = None,
    llm: LLMConfig | None = None,
    backend: ChatBackend | None = None,
    scorer: Any = None,
) -> Selection:
    """Attribute ``answer`` with a chat model that calls the graph tools (see the module docs).

    Parameters
    ----------
    graph, question, answer
        As for every policy.
    embedder, config, scorer
        Used only by the learned-policy fallback.
    llm : LLMConfig
        The backend and the step limit (required unless ``backend`` is given).
    backend : ChatBackend, optional
        A ready backend (tests); ``llm`` still gives the limits when set.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> g = parse_mermaid('flowchart TD\\n  A(["Start"]) --> B["Pay"] --> C(["End"])')
    >>> cfg = LLMConfig(base_url="http://127.0.0.1:8000/v1", model="qwen2.5-7b-instruct")
    >>> llm_policy(g, "What is paid?", "The bill", embedder=None, llm=cfg).scores  # doctest: +SKIP
    {'B': 1.0}
    """
    if llm is None and backend is None:
        raise InputError("the llm policy needs a backend: --llm-base-url URL --llm-model NAME, or --llm-path DIR")
    max_steps = llm.max_steps if llm else LLMConfig.model_fields["max_steps"].default
    fallback = llm.fallback if llm else "learned"
    if not graph.nodes:
        return Selection({}, "the chart has no nodes", "empty")
    loop = _Loop(graph, backend or get_backend(llm), max_steps)  # type: ignore[arg-type]
    state = loop.compile().invoke(
        {"messages": _opening(graph, question, answer, loop.tools, max_steps), "steps": 0, "warnings": []},
        {"recursion_limit": 2 * max_steps + 5},
    )
    warnings = list(state.get("warnings", []))
    final = state.get("final")
    if final is not None:
        reason = final.reason.strip() or "the model gave no reason"
        return Selection(
            dict.fromkeys(final.nodes, 1.0),
            f"llm ({state['steps']} turns): {reason}",
            "llm",
            loop.toolbox.trace,
            warnings,
        )
    why = state.get("error") or f"no final answer within {max_steps} turns"
    log.warning("llm policy: %s; %s", why, "falling back to the learned policy" if fallback == "learned" else "empty")
    if fallback == "none":
        return Selection({}, f"llm policy failed: {why}", "llm-failed", loop.toolbox.trace, [*warnings, why])
    sel = learned_policy(graph, question, answer, embedder=embedder, config=config, scorer=scorer)
    return Selection(
        sel.scores,
        f"learned-policy fallback ({why}): {sel.reason}",
        sel.intent,
        [*loop.toolbox.trace, *sel.trace],
        [*warnings, f"llm policy: {why}; fell back to the learned policy", *sel.warnings],
    )

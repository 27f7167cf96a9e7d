"""FlowPathAgent as a LangGraph ``StateGraph``: parse → ground → reason → select → verify → answer.

Every stage is a plain function of the typed state returning a partial update; the policy that
reasons over the graph tools is pluggable (``"learned"`` by default, ``"symbolic"``, ``"llm"``; more register in
:data:`POLICIES`). Build the agent with :func:`build_agent` (never at import time).

Examples
--------
>>> from graphsolvers.mermaid import parse_mermaid
>>> chart = parse_mermaid('''flowchart TD
...     A(["Start"]) --> B{"Is the water boiling?"}
...     B -->|Yes| C["Add the pasta"]
...     B -->|No| D["Wait two minutes"] --> B''')
>>> agent = build_agent(policy="symbolic", use_embeddings=False)
>>> result = agent.attribute(chart, "What do you do if the water is not boiling yet?", "Wait two minutes")
>>> result.node_ids
['B', 'D']
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from langgraph.graph import END, START, StateGraph

from flowpath.agent.embed import Embedder, get_embedder
from flowpath.agent.llm import llm_policy
from flowpath.agent.planner import PlannerConfig, Selection, learned_policy, symbolic_policy
from flowpath.agent.result import AttributedNode, AttributionResult, PathEdge
from flowpath.agent.text import content_tokens
from flowpath.errors import InputError
from graphsolvers.graph import Graph
from graphsolvers.security import MAX_ATTRIBUTE_EDGES, MAX_ATTRIBUTE_NODES, check_graph_size, check_text

__all__ = ["MAX_TEXT_CHARS", "POLICIES", "AgentState", "FlowPathAgent", "build_agent"]

log = logging.getLogger(__name__)

MAX_TEXT_CHARS = 2000
"""Questions and answers longer than this are truncated (with a warning in the result)."""

Policy = Callable[..., Selection]
POLICIES: dict[str, Policy] = {"learned": learned_policy, "symbolic": symbolic_policy, "llm": llm_policy}


class AgentState(TypedDict, total=False):
    """The state that flows through the agent's stages."""

    source: Any  # a Graph, or an image path / array for the parse stage
    graph: Graph
    question: str
    answer: str
    warnings: list[str]
    selection: Selection
    result: AttributionResult
    scorer: Any  # optional NodeScorer override for the learned policy (cross-validation)


class FlowPathAgent:
    """A compiled attribution agent; reuse one instance for many questions (models load once)."""

    def __init__(
        self,
        *,
        policy: str = "learned",
        use_embeddings: bool = True,
        config: PlannerConfig | None = None,
        image_parser: Callable[[Any], Graph] | None = None,
        policy_options: dict[str, Any] | None = None,
    ) -> None:
        if policy not in POLICIES:
            raise InputError(f"unknown policy {policy!r}; choose one of {sorted(POLICIES)}")
        self.policy = POLICIES[policy]
        self.config = config or PlannerConfig()
        self.policy_options = dict(policy_options or {})  # extra keyword arguments of the policy (e.g. llm=LLMConfig)
        self._use_embeddings = use_embeddings
        self._image_parser = image_parser
        self._parsed: dict[str, Graph] = {}
        self._app = self._build()

    @property
    def embedder(self) -> Embedder | None:
        return get_embedder() if self._use_embeddings else None

    # ------------------------------------------------------------------ stages
    def graph_of(self, source: Graph | str | Path | Any) -> Graph:
        """The graph the agent reasons over for ``source`` (an image is parsed once, cached by content hash)."""
        if isinstance(source, Graph):
            return source
        key = _image_key(source)
        if key not in self._parsed:
            if self._image_parser is None:
                from flowpath.vision import parse_image  # imported lazily: OpenCV + OCR

                self._image_parser = parse_image
            self._parsed[key] = self._image_parser(source)
        return self._parsed[key]

    def _parse(self, state: AgentState) -> AgentState:
        graph = self.graph_of(state["source"])
        check_graph_size(
            len(graph.nodes),
            len(graph.edges),
            what="the chart",
            nodes=("MAX_ATTRIBUTE_NODES", MAX_ATTRIBUTE_NODES),
            edges=("MAX_ATTRIBUTE_EDGES", MAX_ATTRIBUTE_EDGES),
        )
        return {"graph": graph}

    def _ground(self, state: AgentState) -> AgentState:
        warnings = list(state.get("warnings", []))
        question, answer = state["question"], state["answer"]
        for name, text in (("question", question), ("answer", answer)):
            if len(text) > MAX_TEXT_CHARS:
                warnings.append(f"the {name} was truncated to {MAX_TEXT_CHARS} characters")
        return {"question": question[:MAX_TEXT_CHARS], "answer": answer[:MAX_TEXT_CHARS], "warnings": warnings}

    def _reason(self, state: AgentState) -> AgentState:
        extra = dict(self.policy_options)
        if state.get("scorer") is not None:
            extra["scorer"] = state["scorer"]
        sel = self.policy(
            state["graph"], state["question"], state["answer"], embedder=self.embedder, config=self.config, **extra
        )
        return {"selection": sel}

    def _select(self, state: AgentState) -> AgentState:
        # keep the selection in flow order so paths read naturally
        graph, sel = state["graph"], state["selection"]
        order = {nid: i for i, nid in enumerate(_flow_order(graph))}
        sel.scores = dict(sorted(sel.scores.items(), key=lambda kv: order.get(kv[0], len(order))))
        return {"selection": sel}

    def _verify(self, state: AgentState) -> AgentState:
        graph, sel = state["graph"], state["selection"]
        known = set(graph.node_ids)
        invented = [n for n in sel.scores if n not in known]
        for n in invented:  # a policy must never return ids the chart does not have
            del sel.scores[n]
        if invented:
            sel.warnings.append(f"dropped unknown node ids {invented}")
        if sel.scores and not content_tokens(state["answer"]) and sel.intent == "lookup":
            sel.scores, sel.reason = {}, "the answer has no content words to ground"
        return {"selection": sel}

    def _answer(self, state: AgentState) -> AgentState:
        graph, sel = state["graph"], state["selection"]
        nodes = [
            AttributedNode(id=n.id, text=n.text, kind=n.kind, bbox=n.bbox, score=round(min(max(s, 0.0), 1.0), 4))
            for nid, s in sel.scores.items()
            for n in [graph.node(nid)]
        ]
        chosen = set(sel.scores)
        edges = [
            PathEdge(source=e.source, target=e.target, label=e.label)
            for e in graph.edges
            if e.source in chosen and e.target in chosen
        ]
        result = AttributionResult(
            question=state["question"],
            answer=state["answer"],
            nodes=nodes,
            edges=edges,
            reason=sel.reason,
            intent=sel.intent,
            trace=sel.trace,
            warnings=[*state.get("warnings", []), *sel.warnings],
        )
        return {"result": result}

    def _build(self):
        sg = StateGraph(AgentState)
        for name, fn in (
            ("parse", self._parse),
            ("ground", self._ground),
            ("reason", self._reason),
            ("select", self._select),
            ("verify", self._verify),
            ("answer", self._answer),
        ):
            sg.add_node(name, fn)
        sg.add_edge(START, "parse")
        for a, b in (
            ("parse", "ground"),
            ("ground", "reason"),
            ("reason", "select"),
            ("select", "verify"),
            ("verify", "answer"),
        ):
            sg.add_edge(a, b)
        sg.add_edge("answer", END)
        return sg.compile()

    # ------------------------------------------------------------------ API
    def attribute(
        self, source: Graph | str | Path | Any, question: str, answer: str, *, scorer: Any = None
    ) -> AttributionResult:
        """Attribute ``answer`` (to ``question``) to nodes of a chart.

        Parameters
        ----------
        source : Graph, image path or image array
            The flowchart; images are parsed once and cached by content hash.
        question, answer : str
            Non-empty texts; longer than :data:`MAX_TEXT_CHARS` they are truncated with a warning, longer than
            :data:`graphsolvers.security.MAX_INPUT_CHARS` refused.
        scorer : NodeScorer, optional
            Overrides the learned policy's committed scorer (used for cross-validated benchmarks).

        Raises
        ------
        InputError
            On an empty or whitespace-only question or answer.
        LimitExceededError
            On a question or answer over ``MAX_INPUT_CHARS``, or a chart over ``MAX_ATTRIBUTE_NODES`` nodes or
            ``MAX_ATTRIBUTE_EDGES`` edges.
        """
        for name, text in (("question", question), ("answer", answer)):
            check_text(f"the {name}", text)
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"the {name} is empty; pass the text to attribute")
        state = self._app.invoke(
            {"source": source, "question": question.strip(), "answer": answer.strip(), "scorer": scorer}
        )
        return state["result"]


def build_agent(**kwargs: Any) -> FlowPathAgent:
    """A ready :class:`FlowPathAgent` (see its parameters)."""
    return FlowPathAgent(**kwargs)


def _image_key(source: Any) -> str:
    if isinstance(source, str | Path):
        path = Path(source)
        if not path.is_file():
            raise InputError(f"no such image file: {str(source)!r}")
        return hashlib.sha256(path.read_bytes()).hexdigest()
    tobytes = getattr(source, "tobytes", None)
    if tobytes is None:
        raise InputError(f"expected a Graph, an image path or an image array, got {type(source).__name__}")
    return hashlib.sha256(tobytes()).hexdigest() + str(getattr(source, "shape", ""))


def _flow_order(graph: Graph) -> list[str]:
    """Nodes in breadth-first order from the start nodes, then any left over in node order."""
    from graphsolvers import queries

    order: list[str] = []
    for s in queries.start_nodes(graph):
        order += [n for n in queries.bfs(graph, s) if n not in order]
    return order + [n for n in graph.node_ids if n not in order]

"""FlowPathAgent as a LangGraph ``StateGraph`` of six stages, each a plain function of the typed state that returns a
partial update and is usable without the agent: :func:`parse_chart` → :func:`truncate_texts` → :func:`run_policy`
(the policy grounds question and answer in the chart and reasons over the graph tools) → :func:`order_by_flow` →
:func:`verify_selection` → :func:`build_result`. The policy is pluggable (``"learned"`` by default,
``"symbolic"``, ``"llm"``; more register in :data:`POLICIES`). Build the agent with :func:`build_agent` (never at
import time).

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

import functools
import hashlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import replace
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

__all__ = [
    "MAX_TEXT_CHARS",
    "POLICIES",
    "AgentState",
    "FlowPathAgent",
    "build_agent",
    "build_result",
    "order_by_flow",
    "parse_chart",
    "run_policy",
    "truncate_texts",
    "verify_selection",
]

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

    # ------------------------------------------------------------------ the chart and the stages it binds
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

    def _build(self):
        sg = StateGraph(AgentState)
        stages: list[tuple[str, Callable[[AgentState], AgentState]]] = [
            ("parse_chart", functools.partial(parse_chart, graph_of=self.graph_of)),
            ("truncate_texts", truncate_texts),
            ("run_policy", self._run_policy),
            ("order_by_flow", order_by_flow),
            ("verify_selection", verify_selection),
            ("build_result", build_result),
        ]
        for name, stage in stages:
            sg.add_node(name, stage)
        names = [START, *(name for name, _ in stages), END]
        for a, b in itertools.pairwise(names):
            sg.add_edge(a, b)
        return sg.compile()

    def _run_policy(self, state: AgentState) -> AgentState:
        return run_policy(state, policy=self.policy, embedder=self.embedder, config=self.config, **self.policy_options)

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


# ---------------------------------------------------------------------- stages
def parse_chart(state: AgentState, *, graph_of: Callable[[Any], Graph]) -> AgentState:
    """``{"graph": ...}``: the chart's graph (``graph_of`` parses an image), refused over the attribution caps.

    Raises
    ------
    LimitExceededError
        A chart over ``MAX_ATTRIBUTE_NODES`` nodes or ``MAX_ATTRIBUTE_EDGES`` edges.
    """
    graph = graph_of(state["source"])
    check_graph_size(
        len(graph.nodes),
        len(graph.edges),
        what="the chart",
        nodes=("MAX_ATTRIBUTE_NODES", MAX_ATTRIBUTE_NODES),
        edges=("MAX_ATTRIBUTE_EDGES", MAX_ATTRIBUTE_EDGES),
    )
    return {"graph": graph}


def truncate_texts(state: AgentState) -> AgentState:
    """The question and answer cut to :data:`MAX_TEXT_CHARS`, with a warning for each one that was cut.

    Examples
    --------
    >>> out = truncate_texts({"question": "q" * (MAX_TEXT_CHARS + 1), "answer": "a"})
    >>> len(out["question"]), out["answer"], out["warnings"]
    (2000, 'a', ['the question was truncated to 2000 characters'])
    """
    warnings = list(state.get("warnings", []))
    question, answer = state["question"], state["answer"]
    for name, text in (("question", question), ("answer", answer)):
        if len(text) > MAX_TEXT_CHARS:
            warnings.append(f"the {name} was truncated to {MAX_TEXT_CHARS} characters")
    return {"question": question[:MAX_TEXT_CHARS], "answer": answer[:MAX_TEXT_CHARS], "warnings": warnings}


def run_policy(
    state: AgentState, *, policy: Policy, embedder: Embedder | None, config: PlannerConfig, **options: Any
) -> AgentState:
    """``{"selection": ...}``: the nodes ``policy`` chooses for the answer (it grounds the texts in the chart and
    reasons over the graph tools); a ``scorer`` in the state overrides the learned policy's."""
    if state.get("scorer") is not None:
        options = {**options, "scorer": state["scorer"]}
    selection = policy(state["graph"], state["question"], state["answer"], embedder=embedder, config=config, **options)
    return {"selection": selection}


def order_by_flow(state: AgentState) -> AgentState:
    """The selection with its nodes in flow order (breadth-first from the start nodes), so paths read naturally.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> chart = parse_mermaid("flowchart TD\\n  A --> B --> C")
    >>> out = order_by_flow({"graph": chart, "selection": Selection({"C": 0.5, "A": 0.9}, "", "lookup")})
    >>> list(out["selection"].scores)
    ['A', 'C']
    """
    graph, sel = state["graph"], state["selection"]
    order = {nid: i for i, nid in enumerate(_flow_order(graph))}
    return {
        "selection": replace(sel, scores=dict(sorted(sel.scores.items(), key=lambda kv: order.get(kv[0], len(order)))))
    }


def verify_selection(state: AgentState) -> AgentState:
    """The selection without node ids the chart lacks (a policy must never invent one; each drop is warned) and,
    for a lookup answer without content words, empty.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> chart = parse_mermaid("flowchart TD\\n  A --> B")
    >>> sel = verify_selection({"graph": chart, "answer": "B", "selection": Selection({"B": 1.0, "Z": 1.0}, "", "x")})
    >>> sel["selection"].scores, sel["selection"].warnings
    ({'B': 1.0}, ["dropped unknown node ids ['Z']"])
    """
    graph, sel = state["graph"], state["selection"]
    known = set(graph.node_ids)
    invented = [n for n in sel.scores if n not in known]
    if invented:
        sel = replace(
            sel,
            scores={n: s for n, s in sel.scores.items() if n in known},
            warnings=[*sel.warnings, f"dropped unknown node ids {invented}"],
        )
    if sel.scores and not content_tokens(state["answer"]) and sel.intent == "lookup":
        sel = replace(sel, scores={}, reason="the answer has no content words to ground")
    return {"selection": sel}


def build_result(state: AgentState) -> AgentState:
    """``{"result": ...}``: the :class:`AttributionResult` of the selection (nodes with their boxes, the edges
    between them, reason, intent, trace and every warning)."""
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

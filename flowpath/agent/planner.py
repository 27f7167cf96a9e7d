"""The default policy: a neurosymbolic planner over the graph tools (no LLM, CPU only).

The planner reads the question's intent from its wording (a structural question about
successors, paths or degrees, a "what comes next" question, or a content question), resolves
the nodes the question names, calls graph tools from :mod:`graphsolvers.queries` (each call is
recorded in the trace) and returns a minimal, flow-consistent node selection:

- structural questions: the named nodes plus what the tool answer consists of (e.g. the path);
- "next steps after X": X and the following steps along the flow;
- content questions: the nodes that best match the answer (lexical + MiniLM), the node the
  question starts from, the nodes that connect them along the flow when the gap is short, and the
  decision whose branch leads into an answer node when the question hinges on a condition.

If neither the answer nor the question matches the chart, the selection is empty and says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

import numpy as np

from flowpath.agent.embed import Embedder
from flowpath.agent.grounding import Grounding, ground, lexical_scores, token_coverage
from flowpath.agent.result import ToolCall
from flowpath.agent.text import clauses, content_tokens, normalise, quoted_spans
from graphsolvers import queries
from graphsolvers.graph import Graph

__all__ = ["PlannerConfig", "Selection", "Toolbox", "learned_policy", "structural_selection", "symbolic_policy"]

_NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "next": 1}
NEAR_EXACT = 0.9
"""Character-level similarity (difflib ratio) at which a quoted name resolves to a node read from an image."""
_CONDITION = re.compile(r"\b(if|when|whether|unless|otherwise|in case|in the event|not|no|yes|fails?|instead)\b")


@dataclass(frozen=True)
class PlannerConfig:
    """Thresholds of the symbolic policy (global, not per chart)."""

    unrelated_below: float = 0.22  # answer and question both match no node this well -> empty attribution
    anchor_ratio: float = 0.85  # answer anchors: within this share of the best answer match
    anchor_floor: float = 0.25
    question_floor: float = 0.35  # a node the question names must match at least this well
    max_gap: int = 3  # connect question and answer anchors when at most this many edges apart
    max_anchors: int = 3
    join_counted_paths: bool = True  # learned policy: "how many steps from X to Y" grounds every step between
    cover_claims: bool = True  # learned policy: add the node a clause of the answer names when nothing covers it
    claim_match: float = 0.6  # ... if that node covers at least this share of the clause's weighted words
    join_within: int = 2  # learned policy: chosen nodes at most this many edges apart are joined (0: never)


@dataclass
class Selection:
    """What a policy returns: chosen nodes with scores, the reason, the intent and the trace."""

    scores: dict[str, float]
    reason: str
    intent: str
    trace: list[ToolCall] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class Toolbox:
    """Graph tools bound to one graph; every call lands in ``trace``."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.trace: list[ToolCall] = []

    def call(self, tool: str, **args: Any) -> Any:
        return self.record(tool, args, getattr(queries, tool)(self.graph, **args))

    def record(self, tool: str, args: dict[str, Any], result: Any) -> Any:
        """Put a step computed elsewhere (a scorer, a query already run) into the trace; returns ``result``."""
        self.trace.append(ToolCall(tool=tool, args=args, result=_jsonable(result)))
        return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    return value


def symbolic_policy(
    graph: Graph,
    question: str,
    answer: str,
    *,
    embedder: Embedder | None,
    config: PlannerConfig | None = None,
) -> Selection:
    """Attribute ``answer`` to nodes of ``graph`` with the symbolic planner.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> g = parse_mermaid('''flowchart TD
    ...     A(["Start"]) --> B["Preheat the oven"] --> C{"Is the dough ready?"}
    ...     C -->|Yes| D["Bake for 20 minutes"]
    ...     C -->|No| E["Knead again"] --> C''')
    >>> sel = symbolic_policy(g, 'Is the node ""Knead again"" direct successor of the node ""Preheat the oven""?',
    ...                       "No", embedder=None)
    >>> sorted(sel.scores), sel.intent
    (['B', 'E'], 'successor')
    """
    config = config or PlannerConfig()
    tools = Toolbox(graph)
    g, sel = _structural_first(graph, question, answer, tools, embedder, next_steps=True)
    return sel or _content_question(graph, question, g, tools, config)


def _structural_first(
    graph: Graph, question: str, answer: str, tools: Toolbox, embedder: Embedder | None, *, next_steps: bool
) -> tuple[Grounding | None, Selection | None]:
    """The grounding, and the final selection when the chart is empty or the question is structural."""
    if not graph.nodes:
        return None, Selection({}, "the chart has no nodes", "empty", tools.trace)
    g = ground(graph, question, answer, embedder)
    return g, structural_selection(graph, question, answer, g, tools, embedder, next_steps=next_steps)


def _matches_nothing(g: Grounding, cfg: PlannerConfig) -> bool:
    """Whether neither the answer nor the question matches any node well enough to ground anything."""
    return max(g.score_answer().max(), g.score_question().max()) < cfg.unrelated_below


def _no_match(tools: Toolbox) -> Selection:
    return Selection({}, "neither the answer nor the question matches any node of the chart", "unrelated", tools.trace)


def structural_selection(
    graph: Graph,
    question: str,
    answer: str,
    g: Grounding,
    tools: Toolbox,
    embedder: Embedder | None,
    *,
    next_steps: bool,
) -> Selection | None:
    """The selection for a structural question (degrees, adjacency, paths, next steps), or None."""
    intents = [_degree_question, _adjacency_question, _path_question] + ([_next_steps_question] if next_steps else [])
    for intent in intents:
        sel = intent(graph, question, answer, g, tools, embedder)
        if sel is not None:
            return sel
    return None


def learned_policy(
    graph: Graph,
    question: str,
    answer: str,
    *,
    embedder: Embedder | None,
    config: PlannerConfig | None = None,
    scorer=None,
) -> Selection:
    """Structural intents as in :func:`symbolic_policy`; content questions by the learned node scorer.

    The scorer's probabilities pick the nodes (at least the best one); selected nodes at most two
    edges apart (``config.join_within``) are then joined along the flow so the attribution is a
    connected explanation.
    """
    from flowpath.agent.features import node_features
    from flowpath.agent.scorer import load_scorer

    config = config or PlannerConfig()
    tools = Toolbox(graph)
    g, sel = _structural_first(graph, question, answer, tools, embedder, next_steps=False)
    if sel is not None:
        return sel
    if _matches_nothing(g, config):
        return _no_match(tools)
    if embedder is None:  # the scorer was trained with MiniLM features; without them its inputs are out of range
        sel = _content_question(graph, question, g, tools, config)
        sel.warnings.append("no embeddings: content question answered by the symbolic rules, not the learned scorer")
        return sel
    scorer = scorer or load_scorer()
    probs = scorer.predict(node_features(graph, question, answer, g, embedder), graph)
    keep = [i for i in np.argsort(-probs, kind="stable") if probs[i] >= scorer.threshold] or [int(np.argmax(probs))]
    chosen = {g.node_ids[i]: float(probs[i]) for i in keep}
    top = np.argsort(-probs, kind="stable")[:5]
    tools.record(
        "score_nodes", {"threshold": scorer.threshold}, {g.node_ids[i]: round(float(probs[i]), 4) for i in top}
    )
    reason = [f"scorer selects {', '.join(chosen)}"]
    if config.join_counted_paths and _COUNTING.search(normalise(question)):
        path = counted_path(graph, g, chosen)
        if path:
            tools.record("shortest_path", {"source": path[0], "target": path[-1]}, path)
            for n in path:
                chosen.setdefault(n, float(probs[g.node_ids.index(n)]))
            reason.append(f"the question counts the steps along {' -> '.join(path)}")
    if config.cover_claims:
        for clause, node in uncovered_claims(graph, answer, chosen, min_match=config.claim_match):
            chosen[node] = max(float(probs[g.node_ids.index(node)]), 0.5)
            reason.append(f"added {node} for the claim {clause!r}")
    for a in list(chosen):
        for b in list(chosen):
            if a == b:
                continue
            path = queries.shortest_path(graph, a, b)
            if 2 < len(path) <= config.join_within + 1 and any(n not in chosen for n in path):
                tools.record("shortest_path", {"source": a, "target": b}, path)
                for n in path[1:-1]:
                    chosen.setdefault(n, float(probs[g.node_ids.index(n)]))
                reason.append(f"joined {' -> '.join(path)}")
    return Selection(chosen, "; ".join(reason), "scored", tools.trace)


_COUNTING = re.compile(
    r"\bhow many (?:more |further )?(?:steps|operations|actions|decisions|checks|stages|nodes|iterations|"
    r"conditional|moves|tasks)\b"
)


def counted_path(graph: Graph, g: Grounding, chosen: dict[str, float]) -> list[str]:
    """The flow between the node the question starts from and the chosen node farthest along it.

    For questions that count steps ("how many steps from X until Y"), every step counted grounds
    the answer. The start is the node the question matches best; the path runs in either direction.
    """
    start = g.node_ids[int(np.argmax(g.score_question()))]
    best: list[str] = []
    for node in chosen:
        if node == start:
            continue
        path = queries.shortest_path(graph, start, node) or queries.shortest_path(graph, node, start)
        if len(path) > len(best):
            best = path
    return best


def answer_claims(answer: str) -> list[str]:
    """Clauses of ``answer`` with at least two content words (the separate claims a reader would check).

    Examples
    --------
    >>> answer_claims("The customer is emailed, and the card is charged again.")
    ['The customer is emailed', 'the card is charged again']
    """
    return [p for p in clauses(answer, min_words=1) if len(content_tokens(p)) >= 2]


def uncovered_claims(graph: Graph, answer: str, chosen: dict[str, float], *, min_match: float) -> list[tuple[str, str]]:
    """(clause, node) pairs: claims of a multi-claim answer that no chosen node covers, and the node that does.

    A claim counts as covered when a chosen node shares at least half of its weighted words; the
    added node must cover ``min_match`` of them and beat every other node.
    """
    claims = answer_claims(answer)
    if len(claims) < 2:
        return []
    node_toks = [set(content_tokens(n.text)) for n in graph.nodes]
    vocab = set().union(*node_toks)
    ids = graph.node_ids
    out: list[tuple[str, str]] = []
    for clause in claims:
        # only words the chart uses can be grounded in it; the rest say nothing about which node
        words = set(content_tokens(clause)) & vocab
        if len(words) < 2:
            continue
        cov = token_coverage(node_toks, words)[1]
        if max((cov[ids.index(n)] for n in chosen), default=0.0) >= 0.5:
            continue
        best = int(np.argmax(cov))
        if cov[best] >= min_match and ids[best] not in chosen and (cov >= cov[best] - 1e-9).sum() == 1:
            out.append((clause, ids[best]))
    return out


# ---------------------------------------------------------------------- node resolution
def _resolve(graph: Graph, span: str, embedder: Embedder | None) -> list[str]:
    """Nodes whose text the quoted ``span`` names: every exact match, else the node spelled almost the same,
    else the single closest match by words and meaning."""
    want = _bare(span)
    bare = [_bare(n.text) for n in graph.nodes]
    exact = [n.id for n, b in zip(graph.nodes, bare, strict=True) if b == want]
    if exact:
        return exact
    # a label read from an image may differ by a clipped or misread letter or two
    ratio = [SequenceMatcher(None, want, b).ratio() for b in bare]
    if max(ratio, default=0.0) >= NEAR_EXACT:
        return [graph.nodes[int(np.argmax(ratio))].id]
    texts = [n.text for n in graph.nodes]
    cov_node, cov_text = lexical_scores(texts, span)
    score = 0.5 * (cov_node + cov_text)
    if embedder is not None:
        vecs = embedder.embed([*texts, span])
        score = score + 0.5 * np.clip(vecs[:-1] @ vecs[-1], 0, 1)
    best = int(np.argmax(score))
    return [graph.nodes[best].id] if score[best] > 0.3 else []


def _bare(text: str) -> str:
    """``text`` normalised without surrounding spaces, quotes and end punctuation (OCR reads "?" as ":")."""
    return normalise(text).strip(" .?!\"':")


def _named_nodes(graph: Graph, question: str, embedder: Embedder | None) -> list[list[str]]:
    """Candidate nodes for each quoted span of the question (spans that match nothing are dropped)."""
    return [c for c in (_resolve(graph, s, embedder) for s in quoted_spans(question)) if c]


# ---------------------------------------------------------------------- structural intents
def _adjacency_question(graph, question, answer, g, tools, embedder) -> Selection | None:
    m = re.search(r"\b(?:direct|immediate)\s+(successor|predecessor)", question, re.I)
    if not m:
        return None
    named = _named_nodes(graph, question, embedder)
    if len(named) < 2:
        return None
    relation = m.group(1).lower()
    direction = "out" if relation == "predecessor" else "in"
    says_yes = normalise(answer).startswith("yes")
    pairs = [(a, b) for a in named[0] for b in named[1] if a != b] or [(named[0][0], named[1][0])]
    # when a text names several nodes, prefer the pair the answer is true for
    a, b = next(
        ((a, b) for a, b in pairs if (a in queries.neighbours(graph, b, direction=direction)) == says_yes), pairs[0]
    )
    tools.call("neighbours", node_id=b, direction=direction)
    return Selection(
        {a: 1.0, b: 1.0},
        f"the question asks whether {a} is a direct {relation} of {b}; both nodes ground the answer",
        relation,
        tools.trace,
    )


def _path_question(graph, question, answer, g, tools, embedder) -> Selection | None:
    q = normalise(question)
    if not re.search(r"shortest path|minimum (?:possible )?(?:number of )?steps|fewest steps|path (?:from|between)", q):
        return None
    named = _named_nodes(graph, question, embedder)
    if len(named) < 2:
        return None
    pairs = [(a, b) for a in named[0] for b in named[1] if a != b] or [(named[0][0], named[1][0])]
    routes = {(a, b): queries.shortest_path(graph, a, b) or queries.shortest_path(graph, b, a) for a, b in pairs}
    a, b = min(pairs, key=lambda p: len(routes[p]) if routes[p] else 10**6)
    path = tools.call("shortest_path", source=a, target=b) or tools.call("shortest_path", source=b, target=a)
    nodes = path or [a, b]
    return Selection(
        dict.fromkeys(nodes, 1.0),
        f"shortest path between {a} and {b}: {' -> '.join(nodes)}" if path else f"no directed path {a}..{b}",
        "path",
        tools.trace,
    )


def _degree_question(graph, question, answer, g, tools, embedder) -> Selection | None:
    m = re.search(r"\b(?:maximum|max|highest|largest)\s+(in|out)-?degree", question, re.I)
    if not m:
        return None
    which = m.group(1).lower()
    value, nodes = tools.call(f"max_{which}_degree")
    return Selection(
        dict.fromkeys(nodes, 1.0),
        f"the maximum {which}-degree is {value}, reached by {', '.join(nodes)}",
        f"max_{which}_degree",
        tools.trace,
    )


def _next_steps_question(graph, question, answer, g, tools, embedder) -> Selection | None:
    q = normalise(question)
    m = re.search(r"\bnext (one|two|three|four|five|\d)?\s*(?:steps?|actions?|nodes?)\b", q)
    if not m or not re.search(r"\bafter\b|\bfollowing\b|\bonce\b", q):
        return None
    count = int(m.group(1)) if m.group(1) and m.group(1).isdigit() else _NUMBERS.get(m.group(1) or "next", 1)
    sq = g.score_question()
    start_i = int(np.argmax(sq))
    start = graph.nodes[start_i].id
    sa = dict(zip(g.node_ids, g.score_answer(), strict=True))
    chain = [start]
    for _ in range(count):
        succ = tools.call("neighbours", node_id=chain[-1], direction="out")
        succ = [s for s in succ if s not in chain]
        if not succ:
            break
        chain.append(max(succ, key=lambda s: sa[s]))
    return Selection(
        dict.fromkeys(chain, 1.0),
        f"the question starts after {start}; the next {count} step(s) along the flow are {', '.join(chain[1:])}",
        "next_steps",
        tools.trace,
    )


# ---------------------------------------------------------------------- content questions
def _content_question(graph: Graph, question: str, g: Grounding, tools: Toolbox, cfg: PlannerConfig) -> Selection:
    if _matches_nothing(g, cfg) or not content_tokens(question + " "):
        return _no_match(tools)
    ids = g.node_ids
    sa, sq = g.score_answer(), g.score_question()
    order = list(np.argsort(-sa, kind="stable"))
    top = float(sa[order[0]])
    anchors = [int(i) for i in order[: cfg.max_anchors] if sa[i] >= max(cfg.anchor_ratio * top, cfg.anchor_floor)]
    chosen: dict[str, float] = {ids[i]: float(sa[i]) for i in anchors}
    reason = [f"answer matches {', '.join(chosen)}"] if chosen else []

    qi = int(np.argmax(sq))
    if sq[qi] >= cfg.question_floor and ids[qi] not in chosen:
        q_node = ids[qi]
        chosen[q_node] = float(sq[qi])
        reason.append(f"the question starts from {q_node}")
        for a in list(chosen):
            if a == q_node:
                continue
            path = tools.call("shortest_path", source=q_node, target=a) or tools.call(
                "shortest_path", source=a, target=q_node
            )
            if path and len(path) - 1 <= cfg.max_gap:
                for n in path:
                    chosen.setdefault(n, 0.5)
                if len(path) > 2:
                    reason.append(f"connected along {' -> '.join(path)}")
    if _CONDITION.search(normalise(question)):
        for a in list(chosen):
            for e in graph.edges:
                if e.target == a and e.label and graph.node(e.source).kind == "decision" and e.source not in chosen:
                    tools.call("decision_branches", node_id=e.source)
                    chosen[e.source] = 0.5
                    reason.append(f"{e.source} decides the branch '{e.label}' into {a}")
    return Selection(chosen, "; ".join(reason) or "best matching nodes", "lookup", tools.trace)

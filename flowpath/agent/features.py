"""Node features for the learned relevance scorer: grounding, clause matches, rank, structure and question shape.

One row per node of a chart for one (question, answer) pair. Features only use the graph, the
two texts, the grounding scores and (optionally) MiniLM embeddings, so they exist for any chart
(image-parsed or Mermaid).

Whole-text grounding blurs a long answer that makes several claims ("the next step is X, and if
Y the process ends") or a question that sets a scene before it asks. The clause features match
each node against every clause separately: the best match over clauses, and whether the node is
the best match of some clause. The cover features pick nodes greedily until the text's weighted
words are covered (:func:`flowpath.agent.grounding.greedy_cover`): a node that only repeats the
best node's words adds nothing, one that states the answer's other half does, whatever the
punctuation.
"""

from __future__ import annotations

import re
from collections import deque

import numpy as np

from flowpath.agent.embed import Embedder
from flowpath.agent.grounding import Grounding, greedy_cover, token_coverage
from flowpath.agent.text import clauses, content_tokens, normalise
from graphsolvers.graph import NODE_KINDS, Graph

__all__ = ["FEATURE_NAMES", "clause_features", "node_features"]

_CONDITION = re.compile(r"\b(if|when|whether|unless|otherwise|in case|in the event|instead|fails?|not|no)\b")
_SEQUENCE = re.compile(r"\b(after|next|then|before|following|once|sequence|order|steps?|until|start|end|finally)\b")
_MAX_HOPS = 6

FEATURE_NAMES: tuple[str, ...] = (
    "lex_a",
    "emb_a",
    "lex_q",
    "emb_q",
    "sa",
    "sq",
    "sa_rel",
    "sq_rel",
    "sa_gap",
    "sq_gap",
    "rank_a",
    "rank_q",
    "top_a",
    "top_q",
    *(f"kind_{k}" for k in NODE_KINDS),
    "in_deg",
    "out_deg",
    "hops_from_a",
    "hops_from_q",
    "down_from_q",
    "up_to_a",
    "on_path_qa",
    "decides_into_a",
    "child_of_a",
    "parent_of_a",
    "label_match",
    "nbr_sa_max",
    "nbr_sq_max",
    "q_words",
    "a_words",
    "q_condition",
    "q_sequence",
    "n_nodes",
    "best_sa",
    "best_sq",
    "a_clause_max",
    "a_clause_best",
    "a_clauses",
    "q_clause_max",
    "q_clause_best",
    "q_clauses",
    *(f"{t}_cover_{k}" for t in "aq" for k in ("order", "gain", "second")),
)


def _bfs_hops(adj: dict[str, list[str]], start: str) -> dict[str, int]:
    hops = {start: 0}
    queue = deque([start])
    while queue:
        cur = queue.popleft()
        if hops[cur] >= _MAX_HOPS:
            continue
        for nxt in adj.get(cur, ()):
            if nxt not in hops:
                hops[nxt] = hops[cur] + 1
                queue.append(nxt)
    return hops


def clause_features(graph: Graph, text: str, embedder: Embedder | None) -> np.ndarray:
    """Per node: best match over the clauses of ``text``, 1.0 where it is some clause's best node, clause count / 4.

    A node's match with a clause is the mean of the clipped MiniLM cosine (0 without ``embedder``)
    and the IDF-weighted share of the clause's words the node holds.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> chart = parse_mermaid('flowchart TD\\n A["Email the customer"] --> B["Charge the card"] --> C["Close"]')
    >>> clause_features(chart, "The customer is emailed, and the card is charged again", None)[:, 1].tolist()
    [1.0, 1.0, 0.0]
    """
    texts = [n.text for n in graph.nodes]
    parts = clauses(text) or [text]
    node_toks = [set(content_tokens(t)) for t in texts]  # tokenised once for all clauses
    match = np.stack([token_coverage(node_toks, set(content_tokens(c)))[1] for c in parts], axis=1) * 0.5
    if embedder is not None:
        vecs = embedder.embed([*texts, *parts])
        match = match + 0.5 * np.clip(vecs[: len(texts)] @ vecs[len(texts) :].T, 0, 1)
    best = np.zeros(len(texts))
    matched = match.max(axis=0) > 0  # a clause no node matches has no best node
    best[match.argmax(axis=0)[matched]] = 1.0
    return np.stack([match.max(axis=1), best, np.full(len(texts), len(parts) / 4)], axis=1)


def node_features(
    graph: Graph, question: str, answer: str, g: Grounding, embedder: Embedder | None = None
) -> np.ndarray:
    """Feature matrix, shape (len(graph.nodes), len(FEATURE_NAMES)), rows in node order.

    ``embedder`` (the one ``g`` was grounded with) adds meaning to the clause matches; without it
    they are lexical only.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> from flowpath.agent.grounding import ground
    >>> chart = parse_mermaid('flowchart TD\\n A["Boil water"] --> B{"Boiling?"}\\n B -->|Yes| C["Add pasta"]')
    >>> node_features(chart, "What comes after boiling?", "Add pasta", ground(chart, "q", "Add pasta", None)).shape
    (3, 53)
    """
    ids = g.node_ids
    n = len(ids)
    sa, sq = g.score_answer(), g.score_question()
    best_a, best_q = float(sa.max(initial=0.0)), float(sq.max(initial=0.0))
    rank_a = np.empty(n)
    rank_a[np.argsort(-sa, kind="stable")] = np.arange(n)
    rank_q = np.empty(n)
    rank_q[np.argsort(-sq, kind="stable")] = np.arange(n)
    ia, iq = int(np.argmax(sa)), int(np.argmax(sq))
    a_id, q_id = ids[ia], ids[iq]

    out: dict[str, list[str]] = {i: [] for i in ids}
    inn: dict[str, list[str]] = {i: [] for i in ids}
    for e in graph.edges:
        out[e.source].append(e.target)
        inn[e.target].append(e.source)
    both = {i: out[i] + inn[i] for i in ids}
    hops_a, hops_q = _bfs_hops(both, a_id), _bfs_hops(both, q_id)
    down_q, up_a = _bfs_hops(out, q_id), _bfs_hops(inn, a_id)
    gap = down_q.get(a_id)
    qa_text = set(content_tokens(question + " " + answer)) | {w for w in normalise(answer + " " + question).split()}

    decides = np.zeros(n)
    label_match = np.zeros(n)
    index = {nid: k for k, nid in enumerate(ids)}
    for e in graph.edges:
        if e.target == a_id and e.label:
            decides[index[e.source]] = 1.0
        if e.label and set(content_tokens(e.label) or normalise(e.label).split()) & qa_text:
            label_match[index[e.target]] = 1.0

    q_words, a_words = len(question.split()), len(answer.split())
    q_cond = float(bool(_CONDITION.search(normalise(question))))
    q_seq = float(bool(_SEQUENCE.search(normalise(question))))
    kinds = np.zeros((n, len(NODE_KINDS)))
    for k, node in enumerate(graph.nodes):
        kinds[k, NODE_KINDS.index(node.kind) if node.kind in NODE_KINDS else NODE_KINDS.index("other")] = 1.0

    rows = []
    for k, nid in enumerate(ids):
        nbrs = [index[m] for m in both[nid]]
        on_path = float(gap is not None and gap <= _MAX_HOPS and down_q.get(nid, 99) + up_a.get(nid, 99) == gap)
        rows.append(
            [
                g.lex_a[k],
                g.emb_a[k],
                g.lex_q[k],
                g.emb_q[k],
                sa[k],
                sq[k],
                sa[k] / best_a if best_a > 0 else 0.0,
                sq[k] / best_q if best_q > 0 else 0.0,
                best_a - sa[k],
                best_q - sq[k],
                min(rank_a[k], 10) / 10,
                min(rank_q[k], 10) / 10,
                float(k == ia),
                float(k == iq),
                *kinds[k],
                len(inn[nid]) / 3,
                len(out[nid]) / 3,
                hops_a.get(nid, _MAX_HOPS + 1) / _MAX_HOPS,
                hops_q.get(nid, _MAX_HOPS + 1) / _MAX_HOPS,
                down_q.get(nid, _MAX_HOPS + 1) / _MAX_HOPS,
                up_a.get(nid, _MAX_HOPS + 1) / _MAX_HOPS,
                on_path,
                decides[k],
                float(nid in out[a_id]),
                float(nid in inn[a_id]),
                label_match[k],
                max((sa[m] for m in nbrs), default=0.0),
                max((sq[m] for m in nbrs), default=0.0),
                min(q_words, 80) / 40,
                min(a_words, 60) / 30,
                q_cond,
                q_seq,
                min(n, 60) / 30,
                best_a,
                best_q,
            ]
        )
    base = np.asarray(rows, dtype=np.float32).reshape(n, -1)
    per_clause = [clause_features(graph, answer, embedder), clause_features(graph, question, embedder)]
    node_toks = [set(content_tokens(n.text)) for n in graph.nodes]
    cover = [np.stack(greedy_cover(node_toks, set(content_tokens(t))), axis=1) for t in (answer, question)]
    return np.concatenate([base, *per_clause, *cover], axis=1).astype(np.float32)

"""Grounding: how strongly each flowchart node matches the question and the answer.

Two signals per node and text: a lexical one (IDF-weighted overlap of stemmed content words,
with IDF computed over the chart's own nodes so words every node shares count little) and a
semantic one (cosine of MiniLM embeddings).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from flowpath.agent.embed import Embedder
from flowpath.agent.text import content_tokens
from graphsolvers.graph import Graph

__all__ = ["Grounding", "greedy_cover", "ground", "lexical_scores", "same_word", "token_coverage"]


@dataclass(frozen=True)
class Grounding:
    """Per-node match scores, aligned with ``node_ids`` (the graph's node order)."""

    node_ids: list[str]
    lex_q: np.ndarray  # share of the node's weighted words found in the question
    lex_a: np.ndarray  # mean of (share of node words in answer, share of answer words in node)
    emb_q: np.ndarray  # cosine(node, question)
    emb_a: np.ndarray  # cosine(node, answer)

    def score_answer(self) -> np.ndarray:
        """Combined answer match in [0, 1]."""
        return 0.5 * self.lex_a + 0.5 * np.clip(self.emb_a, 0, 1)

    def score_question(self) -> np.ndarray:
        """Combined question match in [0, 1]."""
        return 0.5 * self.lex_q + 0.5 * np.clip(self.emb_q, 0, 1)


def lexical_scores(node_texts: list[str], text: str) -> tuple[np.ndarray, np.ndarray]:
    """IDF-weighted overlap of ``text`` with each node: (share of node covered, share of text covered).

    Examples
    --------
    >>> cov_node, cov_text = lexical_scores(["Preheat the oven", "Mix flour and sugar"], "mix the sugar")
    >>> [round(float(v), 2) for v in cov_node], [round(float(v), 2) for v in cov_text]
    ([0.0, 0.67], [0.0, 1.0])
    """
    return token_coverage([set(content_tokens(t)) for t in node_texts], set(content_tokens(text)))


def token_coverage(node_toks: list[set[str]], text_toks: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`lexical_scores` on tokens already stemmed (IDF over ``node_toks``).

    Examples
    --------
    >>> cov_node, cov_text = token_coverage([{"card", "charg"}, {"email"}], {"charg", "again"})
    >>> [round(float(v), 2) for v in cov_node]
    [0.5, 0.0]
    """
    idf = _idf(node_toks)
    text_w = _weight(idf, text_toks)
    cov_node = np.zeros(len(node_toks))
    cov_text = np.zeros(len(node_toks))
    for i, toks in enumerate(node_toks):
        node_hit = {t for t in toks if any(same_word(t, u) for u in text_toks)}
        text_hit = {u for u in text_toks if any(same_word(t, u) for t in toks)}
        node_w = _weight(idf, toks)
        cov_node[i] = _weight(idf, node_hit) / node_w if node_w else 0.0
        cov_text[i] = _weight(idf, text_hit) / text_w if text_w else 0.0
    return cov_node, cov_text


def _weight(idf: Callable[[str], float], toks: Iterable[str]) -> float:
    """Summed ``idf`` weight of ``toks``, correctly rounded (:func:`math.fsum`).

    A plain ``sum`` over a set adds in the set's iteration order, which changes with
    ``PYTHONHASHSEED``; its last bits, and so ties between nodes, then differ from run to run.
    """
    return math.fsum(idf(t) for t in toks)


def _idf(node_toks: list[set[str]]):
    """Word weight over the chart's nodes: words every node shares count little."""
    df = Counter(t for toks in node_toks for t in toks)
    n = max(len(node_toks), 1)

    def idf(tok: str) -> float:
        return math.log((n + 1) / (df.get(tok, 0) + 0.5)) + 0.1

    return idf


def greedy_cover(
    node_toks: list[set[str]], text_toks: set[str], *, steps: int = 4, min_gain: float = 0.05
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes picked one by one to cover the weighted words of a text, each the node that adds most.

    Returns, per node: the step it was picked at divided by ``steps`` (0 if never), the share of
    the text's weight it added then, and the share it would add as the second pick (after the
    best node). Picking stops after ``steps`` nodes or when no node adds ``min_gain``. A node that
    repeats the best node's words adds nothing; one that states another part of the text does.

    Examples
    --------
    >>> order, gain, second = greedy_cover([{"card", "charg"}, {"email", "custom"}, {"card"}],
    ...                                    {"email", "custom", "card", "charg"})
    >>> order.tolist(), [round(float(v), 2) for v in second]
    ([0.5, 0.25, 0.0], [0.43, 0.0, 0.15])
    """
    idf = _idf(node_toks)
    hits = [{u for u in text_toks if any(same_word(t, u) for t in toks)} for toks in node_toks]
    total = _weight(idf, text_toks) or 1.0
    left = set(text_toks)
    order, gain, second = (np.zeros(len(node_toks)) for _ in range(3))
    for step in range(1, steps + 1):
        gains = np.array([_weight(idf, h & left) / total for h in hits])
        if step == 2:
            second = gains
        best = int(gains.argmax()) if len(gains) else 0
        if not len(gains) or gains[best] < min_gain:
            break
        order[best], gain[best] = step / steps, gains[best]
        left -= hits[best]
    return order, gain, second


def same_word(a: str, b: str) -> bool:
    """Whether two stems name the same word, allowing for labels clipped or misread at their end.

    Rendered charts and OCR clip the ends of long labels ("stirre" for "stirrer", "backin" for
    "backing") or misread a half-visible last letter ("constructior"). A stem matches another that
    it starts (five letters or more, or four when at most two letters are missing), and two long
    stems match when only their last letters differ.

    Examples
    --------
    >>> same_word("stirr", "stirrer"), same_word("card", "cardboard"), same_word("email", "email")
    (True, False, True)
    >>> same_word("back", "backin"), same_word("constructior", "construction"), same_word("time", "tire")
    (True, True, False)
    """
    if a == b:
        return True
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    if long_.startswith(short):
        return len(short) >= 5 or (len(short) >= 4 and len(long_) - len(short) <= 2)
    return len(a) == len(b) >= 6 and a[:-1] == b[:-1]


def ground(graph: Graph, question: str, answer: str, embedder: Embedder | None) -> Grounding:
    """Match scores of every node of ``graph`` against ``question`` and ``answer``.

    Without an ``embedder`` the semantic scores are zeros (lexical grounding only).
    """
    texts = [n.text for n in graph.nodes]
    lex_q, _ = lexical_scores(texts, question)
    a_node, a_text = lexical_scores(texts, answer)
    if embedder is not None and texts:
        vecs = embedder.embed([*texts, question, answer])
        nodes, q, a = vecs[: len(texts)], vecs[-2], vecs[-1]
        emb_q, emb_a = nodes @ q, nodes @ a
    else:
        emb_q = emb_a = np.zeros(len(texts))
    return Grounding(graph.node_ids, lex_q, 0.5 * (a_node + a_text), emb_q, emb_a)

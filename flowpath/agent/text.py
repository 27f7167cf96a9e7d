"""Text normalisation shared by grounding and the planner: tokens, light stemming, quoted spans."""

from __future__ import annotations

import re
import unicodedata

__all__ = ["STOPWORDS", "clauses", "content_tokens", "normalise", "quoted_spans", "stem", "tokens"]

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "from",
        "by",
        "with",
        "without",
        "into",
        "onto",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "as",
        "if",
        "then",
        "than",
        "so",
        "do",
        "does",
        "did",
        "done",
        "doing",
        "can",
        "could",
        "should",
        "would",
        "will",
        "shall",
        "may",
        "might",
        "must",
        "i",
        "you",
        "he",
        "she",
        "we",
        "they",
        "me",
        "him",
        "her",
        "us",
        "them",
        "my",
        "your",
        "his",
        "our",
        "their",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "there",
        "here",
        "not",
        "no",
        "yes",
        "any",
        "all",
        "each",
        "every",
        "some",
        "such",
        "very",
        "just",
        "also",
        "only",
        "both",
        "either",
        "neither",
        "nor",
        "up",
        "down",
        "out",
        "over",
        "under",
        "again",
        "further",
        "once",
        "after",
        "before",
        "while",
        "during",
        "until",
        "about",
        "above",
        "below",
        "between",
        "through",
        "node",
        "flowchart",
        "step",
        "steps",
        "process",
    ]
)
_TOKEN = re.compile(r"[a-z0-9]+(?:[_'][a-z0-9]+)*")
_CLAUSE_SPLIT = re.compile(r"[.;:!?]+\s*|,\s*(?:and|then|but|or|so)?\s*|\s+(?:and then|then|and|but|after which)\s+")
_QUOTED = re.compile(r"\"\"(.+?)\"\"|\"([^\"]+?)\"|(?<![a-z])'([^']{3,}?)'(?![a-z])|“([^”]+)”|‘([^’]{3,})’", re.I)


def normalise(text: str) -> str:
    """Lower-case, NFKC-normalised text with runs of whitespace collapsed.

    Examples
    --------
    >>> normalise("  Ｉｓ  the\\nDough  THIN? ")
    'is the dough thin?'
    """
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"\s+", " ", text).strip()


def stem(word: str) -> str:
    """A light suffix stripper (plural, -ing, -ed, -ly, final -e) good enough for matching labels.

    Examples
    --------
    >>> [stem(w) for w in ["boxes", "placing", "placed", "place", "items", "class", "charges"]]
    ['box', 'plac', 'plac', 'plac', 'item', 'class', 'charg']
    """
    for suffix, keep in (("ies", "y"), ("sses", "ss"), ("xes", "x"), ("ing", ""), ("ed", ""), ("ly", ""), ("s", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 2 + (keep == "") and not word.endswith("ss"):
            word = word[: len(word) - len(suffix)] + keep
            break
    # "charge", "charged" and "charges" share one stem
    return word[:-1] if word.endswith("e") and len(word) > 3 and not word.endswith("ee") else word


def tokens(text: str) -> list[str]:
    """Word tokens of ``text`` (identifiers such as ``final_key`` also yield their parts)."""
    out: list[str] = []
    for tok in _TOKEN.findall(normalise(text)):
        tok = tok.replace("'s", "") if tok.endswith("'s") else tok
        out.append(tok)
        if "_" in tok:
            out.extend(p for p in tok.split("_") if p)
    return out


def content_tokens(text: str) -> list[str]:
    """Stemmed tokens without stop words.

    Examples
    --------
    >>> content_tokens("Is the desk surface large enough?")
    ['desk', 'surfac', 'larg', 'enough']
    """
    return [stem(t) for t in tokens(text) if t not in STOPWORDS]


def quoted_spans(text: str) -> list[str]:
    """Spans quoted in ``text`` (``""X""``, ``"X"``, ``'X'``, curly quotes), in order.

    Examples
    --------
    >>> quoted_spans('Is the node ""Wait 30 minutes"" direct successor of the node ""Place molds""?')
    ['Wait 30 minutes', 'Place molds']
    """
    return [next(g for g in m.groups() if g) for m in _QUOTED.finditer(text)]


def clauses(text: str, *, min_words: int = 2) -> list[str]:
    """Parts of ``text`` split at sentence ends, commas and joining words, keeping those of ``min_words`` words or more.

    Examples
    --------
    >>> clauses("The customer is emailed, and the card is charged again. Done")
    ['The customer is emailed', 'the card is charged again']
    """
    parts = (p.strip() for p in _CLAUSE_SPLIT.split(text) if p)
    return [p for p in parts if len(p.split()) >= min_words]

"""Mending label text the picture garbles: last words clipped by the text box, look-alike glyphs, branch labels.

Some renderers size a label's text box with one font and draw the text with another that runs a
little wider, and the box clips the end of the label: the image says "Pull plunger to fill syring"
where the chart says "syringe", or shows the left part of the last letter, which reads as a
narrower one ("Store powder in containei": the stem and arm of an "r" read as "i"). A person reads
the word the chart meant without noticing; :func:`complete_clipped` does the same when the last
word as read is rare in English and a far more common word begins with what is visible. Word
frequencies come from ``wordfreq`` (its data ships inside the wheel; nothing is downloaded), loaded
once per process on first use.

Edge labels get one more mend: a connector running through a label box can touch its first or
last letter, and "No" reads as "Wo" or "NOo". :func:`mend_branch_labels` reads the labels leaving
one node together and writes a label one slip away from a branch word (Yes/No, True/False) as that
word when it is no common word itself or its sibling names the other branch.
"""

from __future__ import annotations

import bisect
import functools
import logging
import math
import re
import threading
from dataclasses import dataclass

__all__ = ["BRANCH_PAIRS", "complete_clipped", "correct_misread", "mend_branch_labels", "zipf"]

logger = logging.getLogger(__name__)

RARE = 3.0
"""Last words at least this common (Zipf scale: once per million words of English) are left as read."""
MIN_GAIN = 1.5
"""A completion is taken only when it is this much more common than the word as read (Zipf scale: about 30 times)."""
MIN_SEEN = 3
"""Shortest visible part of a word that is completed: shorter stubs fit too many words."""
MAX_CUT = 3
"""Most letters a clip is assumed to hide."""
LETTER_COST = 1.0
"""Zipf points a completion pays for each hidden letter after the first (a clip rarely hides several)."""
CUT_LETTERS = {"i": "r", "l": "rtkhb", "c": "doeaqg", "r": "nmh", "n": "m", "v": "w", "t": "h"}
"""What the left part of a cut lowercase letter reads as → the letters it may be: an "r" cut after
its arm reads "i", a "d" or "o" cut before its right side "c", an "m" cut after two stems "n"."""
_WORD = re.compile(r"^(?P<core>[A-Za-z]+)(?P<tail>[.:;,|]{0,2})$")
"""A last word that may be clipped: letters, then at most two marks a cut letter may read as (".", ":",
"|"); anything else after it (a closing bracket, quote, question mark, hyphen) shows the end of the
label was not cut, or that the word goes on in the next line."""
_OPEN_QUOTE = re.compile(r"(?<!\w)['\"]")
"""A quote that opens a quoted literal (one after a letter is an apostrophe: "patient's")."""

LOOKALIKES = (
    ("l", "i"), ("t", "i"), ("I", "l"), ("z", "i"), ("j", "y"),
    ("rn", "m"), ("m", "rn"), ("cl", "d"), ("vv", "w"),
    ("c", "e"), ("e", "c"), ("c", "o"), ("a", "o"), ("o", "a"),
)  # fmt: skip
"""Misreadings between glyphs that differ by a dot, a short stroke or a small gap (read → meant)."""
MIN_MISREAD = 4
"""Shortest unknown word that :func:`correct_misread` corrects: short ones are abbreviations and names."""
_LETTERS = re.compile(r"[A-Za-z]+")


@dataclass(frozen=True)
class _Vocabulary:
    words: list[str]
    """Lowercase ASCII words, sorted (for prefix search)."""
    zipf: dict[str, float]


_VOCABULARY_LOCK = threading.Lock()


def _vocabulary() -> _Vocabulary:
    """The English vocabulary, loaded once per process (threads that ask together wait for one load)."""
    with _VOCABULARY_LOCK:
        return _vocabulary_once()


@functools.cache
def _vocabulary_once() -> _Vocabulary:
    import wordfreq

    freq = wordfreq.get_frequency_dict("en", wordlist="large")
    table = {w: math.log10(f) + 9.0 for w, f in freq.items() if w.isascii() and w.isalpha() and f > 0}
    return _Vocabulary(words=sorted(table), zipf=table)


def zipf(word: str) -> float:
    """How common ``word`` is in English on the Zipf scale (log10 of uses per billion words; 0 when unknown).

    Examples
    --------
    >>> zipf("the") > 7 > zipf("syringe") > 3 > zipf("syring")
    True
    """
    return _vocabulary().zipf.get(word.lower(), 0.0)


def _starting_with(prefix: str) -> list[str]:
    vocab = _vocabulary()
    out = []
    for i in range(bisect.bisect_left(vocab.words, prefix), len(vocab.words)):
        w = vocab.words[i]
        if not w.startswith(prefix):
            break
        out.append(w)
    return out


def _best_completion(seen: str) -> tuple[float, str] | None:
    """The likeliest word whose visible part reads ``seen`` (lowercase), with its Zipf score less the
    cost of the letters it hides; None when no word fits."""
    table = _vocabulary().zipf
    scored: list[tuple[float, str]] = []
    for w in _starting_with(seen):  # the cut fell between two letters
        hidden = len(w) - len(seen)
        if 1 <= hidden <= MAX_CUT:
            scored.append((table[w] - LETTER_COST * (hidden - 1), w))
    cut = CUT_LETTERS.get(seen[-1], "")
    if cut:  # the cut fell inside the last letter, whose left part reads as ``seen[-1]``
        for w in _starting_with(seen[:-1]):
            hidden = len(w) - len(seen)
            if 0 <= hidden < MAX_CUT and w[len(seen) - 1] in cut:
                scored.append((table[w] - LETTER_COST * hidden, w))  # the cut letter counts as the first
    return max(scored) if scored else None


def complete_clipped(text: str) -> str:
    """``text`` with its last word completed where the label looks clipped there, else unchanged.

    The last word is completed when it is rare in English (Zipf below :data:`RARE`), at least
    :data:`MIN_SEEN` letters long, neither an acronym nor inside an open quote, and a word at
    least :data:`MIN_GAIN` Zipf points more common begins with it (allowing for a last letter cut in
    half, :data:`CUT_LETTERS`). Stray marks read from a cut letter (``regularl:``) are dropped.

    Examples
    --------
    >>> complete_clipped("Pull plunger to fill syring")
    'Pull plunger to fill syringe'
    >>> complete_clipped("Fill Syringe with Liquic")
    'Fill Syringe with Liquid'
    >>> complete_clipped("Continue routine regularl:")
    'Continue routine regularly'
    >>> complete_clipped("Use board scraper")  # a real word, if a rare one
    'Use board scraper'
    >>> complete_clipped("Return 'arr")  # a quoted literal
    "Return 'arr"
    """
    head, _, last = text.rstrip().rpartition(" ")
    m = _WORD.match(last)
    if m is None or len(_OPEN_QUOTE.findall(head)) > len(re.findall(r"\w['\"](?!\w)", head)):
        return text
    seen = m["core"]
    if len(seen) < MIN_SEEN or any(c.isupper() for c in seen[1:]):
        return text
    as_read = zipf(seen)
    if as_read >= RARE:
        return text
    best = _best_completion(seen.lower())
    if best is None or best[0] - as_read < MIN_GAIN:
        return text
    word = best[1]
    if seen[0].isupper():
        word = word[0].upper() + word[1:]
    logger.debug("completed the clipped word %r as %r", last, word)
    return f"{head} {word}" if head else word


def _corrected(word: str) -> str:
    if len(word) < MIN_MISREAD or zipf(word) > 0:
        return word
    options = []
    for read, meant in LOOKALIKES:
        start = word.find(read)
        while start >= 0:
            fixed = word[:start] + meant + word[start + len(read) :]
            options.append((zipf(fixed), fixed))
            start = word.find(read, start + 1)
    if not options:
        return word
    score, fixed = max(options)
    if score < RARE:
        return word
    logger.debug("read %r as the misread %r", word, fixed)
    if 2 * sum(c.isupper() for c in word) >= len(word):  # capitals misread as lowercase: "CAUTlON"
        return fixed.upper()
    return fixed[0].upper() + fixed[1:] if word[0].isupper() else fixed


def correct_misread(text: str) -> str:
    """``text`` with each word that is no English word at all, but becomes a common one (Zipf at least
    :data:`RARE`) when one pair of look-alike glyphs (:data:`LOOKALIKES`) is swapped, corrected.

    Words shorter than :data:`MIN_MISREAD` letters and words found in the vocabulary, however rare
    (names, identifiers), are left as read.

    Examples
    --------
    >>> correct_misread("Proceed with cautlon and keep regular appolntments")
    'Proceed with caution and keep regular appointments'
    >>> correct_misread("Serve Maror as usual; call strlen(s)")
    'Serve Maror as usual; call strlen(s)'
    """
    return _LETTERS.sub(lambda m: _corrected(m.group()), text)


BRANCH_PAIRS = (("yes", "no"), ("true", "false"))
"""The words that name the two branches of a decision; each is the other's complement."""
_COMPLEMENT = {a: b for pair in BRANCH_PAIRS for a, b in (pair, pair[::-1])}
OTHER_BRANCH_WORDS = frozenset((
    "ano", "ne", "nee", "nej", "nei", "nein", "non", "nie", "net", "da", "ja", "jo", "si", "oui", "tak", "sim",
    "nao", "hai", "iie", "evet", "igen", "nem", "kylla", "ei", "vero", "falso", "falsa", "vrai", "faux", "wahr",
    "falsch", "waar", "onwaar", "sant", "usant",
))  # fmt: skip
"""Yes/no/true/false in other languages written in Latin letters: never taken for a misread English
branch word ("Ano", Czech for yes, is one slip from "No")."""
STRAY_MARKS = frozenset("1|lI/\\-.,:;'`")
"""One-character tokens beside a branch word that a connector stroke or a speck reads as."""


@dataclass(frozen=True)
class _BranchReading:
    word: str  # the branch word (lowercase) the label reads as
    slips: int  # letters added, dropped or changed (0: only marks, a 0 for an o, or case differ)
    letters: str  # the label's letters as read (lowercase, 0 read as o)
    case: str | None  # "upper", "lower" or "title" as drawn; None when too few letters show it

    def written(self, case: str | None = None) -> str:
        """The branch word in the label's case (else ``case``, else capitalised)."""
        return dict(_CASES)[self.case or case or "title"](self.word)


def _branch_reading(label: str | None, *, numbered: bool = False) -> _BranchReading | None:
    """What branch word ``label`` reads as, with at most one slip; None for any other label.

    A label is one word of ASCII letters (a "0" counts as the letter o, marks around it, "’" or
    "、" included, are dropped; any other digit makes it no branch word), beside at most two stray marks
    (:data:`STRAY_MARKS`; a "1" is none when the labels are ``numbered``, as "Yes 1", "Yes 2"
    are). Words of :data:`OTHER_BRANCH_WORDS` are no misreading.

    Examples
    --------
    >>> _branch_reading("1 Ye's").word, _branch_reading("N0").slips, _branch_reading("Yes 2")
    ('yes', 0, None)
    """
    tokens = (label or "").split()
    strays = STRAY_MARKS - {"1"} if numbered else STRAY_MARKS
    words = [t for t in tokens if len(t) >= 2 or t not in strays]
    if len(words) != 1 or len(tokens) > 3:
        return None
    token = words[0]
    if any((c.isdigit() and c != "0") or (c.isalpha() and not c.isascii()) for c in token):
        return None
    letters = "".join("o" if c == "0" else c for c in token.lower() if c.isalpha() or c == "0")
    if len(letters) < 2 or letters in OTHER_BRANCH_WORDS:
        return None
    slips, word = min((_edits(letters, w), w) for w in _COMPLEMENT)
    if slips > 1:
        return None
    alpha = "".join(c for c in token if c.isalpha())
    case = None  # "N0" (one letter) or "NOo" (mixed) do not show how the label is written
    if len(alpha) >= 2:
        case = next((how for how, f in _CASES if f(alpha) == alpha), None)
    return _BranchReading(word, slips, letters, case)


_CASES = (("upper", str.upper), ("lower", str.lower), ("title", str.capitalize))


def _edits(a: str, b: str) -> int:
    """Levenshtein distance between two short strings.

    Examples
    --------
    >>> _edits("noo", "no"), _edits("yey", "yes"), _edits("on", "no")
    (1, 1, 2)
    """
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def mend_branch_labels(labels: list[str | None]) -> list[str | None]:
    """The labels of the connectors leaving one node, with misread branch words (Yes/No, True/False) mended.

    A connector through a label box can touch its first or last letter, and the recogniser then
    reads "No" as "Wo" or "NOo", "Yes" as "Yey"; stray marks come along ("1 Yes", "Ye's", "N0").
    A label that reads as a branch word up to marks, a 0 for an o, and case is written as that word.
    One with a single slip (a letter added, dropped or changed) is mended when it is no common
    English word itself (Zipf below :data:`RARE`); a common one ("Wo", "Go", "Ye") only when a
    sibling label was mended or read as the other branch ("Wo" beside "Yes", or beside "Yey", which
    is no word). Other labels, and labels in other languages, are kept as read. A mended label keeps
    its own case, or takes its siblings' where its own does not show ("N0", "NOo" beside "YES").

    Parameters
    ----------
    labels : list of str or None
        The labels of one node's outgoing connectors (None: no label).

    Returns
    -------
    list of str or None
        The same labels, mended where they read as a branch word.

    Examples
    --------
    >>> mend_branch_labels(["Yey", "Wo"])
    ['Yes', 'No']
    >>> mend_branch_labels(["NOo", None, "1 Yes"])
    ['No', None, 'Yes']
    >>> mend_branch_labels(["Go", "Now", "Thermal Paste"])
    ['Go', 'Now', 'Thermal Paste']
    >>> mend_branch_labels(["FALSE", "Tru", "yes."])
    ['FALSE', 'True', 'yes']
    >>> mend_branch_labels(["YES", "N0"]), mend_branch_labels(["Yes 1", "Yes 2"])
    (['YES', 'NO'], ['Yes 1', 'Yes 2'])
    """
    numbered = sum(any(c.isdigit() for c in t or "") for t in labels) >= 2
    readings = [_branch_reading(t, numbered=numbered) for t in labels]
    sure = {k for k, r in enumerate(readings) if r is not None and (r.slips == 0 or zipf(r.letters) < RARE)}
    named = {readings[k].word for k in sure}
    cases = {readings[k].case for k in sure} - {None}
    case = cases.pop() if len(cases) == 1 else None
    mended: list[str | None] = list(labels)
    for k, r in enumerate(readings):
        if r is not None and (k in sure or _COMPLEMENT[r.word] in named):
            mended[k] = r.written(case)
            if mended[k] != labels[k]:
                logger.debug("read the branch label %r as %r", labels[k], mended[k])
    return mended

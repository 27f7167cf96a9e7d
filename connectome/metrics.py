"""Scores of partitions and of dynamic-community results against planted truth or homolog pairs.

:func:`nmi` and :func:`ari` compare two partitions; :func:`planted_scores` scores a pipeline result against
planted dynamic communities the way ``connectome bench planted`` reports it; :func:`homolog_share` and
:func:`best_homolog_component` measure how often left/right homologous neurons (``XL``/``XR``) share a
community on real data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from connectome.errors import ParameterError

__all__ = [
    "BACKGROUND",
    "EpochScore",
    "HomologShare",
    "ari",
    "best_homolog_component",
    "homolog_pairs",
    "homolog_share",
    "nmi",
    "planted_scores",
]

BACKGROUND = -1
"""Community label of a neuron placed in no community (the background block; planted or detected)."""

HOMOLOG_OVER_CHANCE = 2.0
"""A component counts for the best homolog share only when its share is at least this many times its chance
(issue 29's definition: a share near chance says nothing about homologs)."""


def _aligned(truth: Mapping[str, int] | Sequence[int], pred: Mapping[str, int] | Sequence[int]) -> tuple[list, list]:
    if isinstance(truth, Mapping) and isinstance(pred, Mapping):
        keys = [k for k in truth if k in pred]
        return [truth[k] for k in keys], [pred[k] for k in keys]
    a, b = list(truth), list(pred)  # type: ignore[arg-type]
    if len(a) != len(b):
        raise ParameterError(f"partitions of different sizes: {len(a)} and {len(b)}")
    return a, b


def _contingency(a: Sequence[int], b: Sequence[int]) -> np.ndarray:
    _, ia = np.unique(np.asarray(a), return_inverse=True)
    _, ib = np.unique(np.asarray(b), return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia, ib), 1.0)
    return table


def nmi(truth: Mapping[str, int] | Sequence[int], pred: Mapping[str, int] | Sequence[int]) -> float:
    """Normalised mutual information (arithmetic-mean normalisation) of two partitions.

    Mappings are compared on their common keys.

    Examples
    --------
    >>> nmi([0, 0, 1, 1], [5, 5, 7, 7]), nmi([0, 0, 1, 1], [0, 1, 0, 1])
    (1.0, 0.0)
    """
    a, b = _aligned(truth, pred)
    if not a:
        return float("nan")
    p = _contingency(a, b)
    p /= p.sum()
    pa, pb = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])).sum())
    ha, hb = -float((pa * np.log(pa)).sum()), -float((pb * np.log(pb)).sum())
    if ha == 0 and hb == 0:
        return 1.0
    return max(0.0, mi / ((ha + hb) / 2.0)) if (ha + hb) > 0 else 0.0


def ari(truth: Mapping[str, int] | Sequence[int], pred: Mapping[str, int] | Sequence[int]) -> float:
    """Adjusted Rand index (Hubert & Arabie) of two partitions; mappings are compared on their common keys.

    Examples
    --------
    >>> ari([0, 0, 1, 1], [5, 5, 7, 7]), round(ari([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2]), 3)
    (1.0, 0.242)
    """
    a, b = _aligned(truth, pred)
    if not a:
        return float("nan")
    table = _contingency(a, b)
    pairs = lambda x: float((x * (x - 1) / 2.0).sum())  # noqa: E731 - number of same-group pairs
    both, rows, cols = pairs(table), pairs(table.sum(axis=1)), pairs(table.sum(axis=0))
    total = len(a) * (len(a) - 1) / 2.0
    expected = rows * cols / total if total else 0.0
    maximum = (rows + cols) / 2.0
    if maximum == expected:  # both partitions trivial (all singletons or one block): identical or not
        return 1.0 if rows == cols else 0.0
    return (both - expected) / (maximum - expected)


@dataclass
class EpochScore:
    """How one planted epoch was recovered: the component chosen for it (None: no component peaks there)."""

    epoch: int
    component: int | None
    ari: float
    nmi: float
    scored: int


def _with_singletons(truth: Mapping[str, int], pred: Mapping[str, int]) -> tuple[list[int], list[int]]:
    """Planted members only; a member the prediction leaves out of every community is a community of its own."""
    members = [n for n, g in truth.items() if g != BACKGROUND]
    own = max([*pred.values(), 0]) + 1
    labels = []
    for k, name in enumerate(members):
        label = pred.get(name, BACKGROUND)
        labels.append(own + k if label == BACKGROUND else label)
    return [truth[n] for n in members], labels


def planted_scores(
    windows_s: Sequence[float],
    time_courses: np.ndarray,
    communities: Sequence[Mapping[str, int]],
    epochs: Sequence[tuple[float, float]],
    partitions: Sequence[Mapping[str, int]],
) -> list[EpochScore]:
    """ARI and NMI of each planted epoch's communities in the component whose time course peaks in that epoch.

    Scoring rules (issue 29): a component belongs to the epoch that holds its time course's peak window; when
    several peak in one epoch, the one with the highest peak (time courses scaled to unit norm) is scored;
    an epoch no component peaks in scores 0. Only planted members (label other than :data:`BACKGROUND`) are
    scored, and a member the pipeline leaves out of every community counts as a community of its own.

    Parameters
    ----------
    windows_s : sequence of float, length W
        Window centres, seconds.
    time_courses : ndarray, shape (components, W)
    communities : sequence of mappings
        Each component's ``{neuron: community}`` (:data:`BACKGROUND` = in none).
    epochs : sequence of (start s, end s)
    partitions : sequence of mappings
        Each epoch's planted ``{neuron: group}`` (:data:`BACKGROUND` = in none).

    Examples
    --------
    >>> courses = np.array([[0.0, 0.1, 1.0, 0.9], [1.0, 0.8, 0.0, 0.1]])
    >>> comms = [{"a": 0, "b": 0, "c": 1}, {"a": 0, "b": 1, "c": -1}]
    >>> scores = planted_scores([5, 15, 25, 35], courses, comms, [(0, 20), (20, 40)],
    ...                         [{"a": 0, "b": 1, "c": -1}, {"a": 0, "b": 0, "c": 1}])
    >>> [(s.component, s.ari) for s in scores]
    [(1, 1.0), (0, 1.0)]
    """
    t = np.asarray(windows_s, dtype=float)
    courses = np.asarray(time_courses, dtype=float)
    if courses.ndim != 2 or courses.shape != (len(communities), len(t)):
        raise ParameterError(
            f"time courses of shape {courses.shape} for {len(communities)} components, {len(t)} windows"
        )
    if len(epochs) != len(partitions):
        raise ParameterError(f"{len(epochs)} epochs but {len(partitions)} planted partitions")
    norms = np.linalg.norm(courses, axis=1, keepdims=True)
    unit = courses / np.where(norms > 0, norms, 1.0)
    peak_window = unit.argmax(axis=1)
    scores = []
    for e, ((lo, hi), truth) in enumerate(zip(epochs, partitions, strict=True)):
        here = [r for r in range(len(unit)) if lo <= t[peak_window[r]] < hi]
        a, _ = _with_singletons(truth, {})
        if not here or len(a) < 2:
            scores.append(EpochScore(epoch=e, component=None, ari=0.0, nmi=0.0, scored=len(a)))
            continue
        best = max(here, key=lambda r: unit[r, peak_window[r]])
        a, b = _with_singletons(truth, communities[best])
        scores.append(EpochScore(epoch=e, component=best, ari=ari(a, b), nmi=nmi(a, b), scored=len(a)))
    return scores


# ---------------------------------------------------------------------------------------------- homologs
@dataclass
class HomologShare:
    """Fraction of left/right homolog pairs sharing a community (``share``) and of all neuron pairs (``chance``)."""

    share: float
    chance: float
    pairs: int


def homolog_pairs(neurons: Sequence[str]) -> list[tuple[str, str]]:
    """Left/right pairs ``(XL, XR)`` with both names present.

    Examples
    --------
    >>> homolog_pairs(["AVAL", "AVAR", "ASEL", "RIS"])
    [('AVAL', 'AVAR')]
    """
    names = set(neurons)
    return [(n, n[:-1] + "R") for n in neurons if n.endswith("L") and len(n) > 1 and n[:-1] + "R" in names]


def homolog_share(communities: Mapping[str, int]) -> HomologShare:
    """Homolog share of one component's communities, and its chance level.

    A neuron in no community (:data:`BACKGROUND`) shares a community with nobody.

    Examples
    --------
    >>> s = homolog_share({"AVAL": 0, "AVAR": 0, "ASEL": 1, "ASER": 0, "RIS": 1})
    >>> s.share, s.chance, s.pairs
    (0.5, 0.4, 2)
    """
    pairs = homolog_pairs(list(communities))
    same = [communities[a] == communities[b] != BACKGROUND for a, b in pairs]
    labels = np.array([g for g in communities.values() if g != BACKGROUND])
    sizes = np.unique(labels, return_counts=True)[1] if len(labels) else np.zeros(0)
    n = len(communities)
    chance = float((sizes * (sizes - 1)).sum() / (n * (n - 1))) if n > 1 else float("nan")
    return HomologShare(share=float(np.mean(same)) if pairs else float("nan"), chance=chance, pairs=len(pairs))


def best_homolog_component(communities: Sequence[Mapping[str, int]]) -> tuple[int | None, list[HomologShare]]:
    """The component with the highest homolog share among those at least twice their chance, and every share.

    Examples
    --------
    >>> best, shares = best_homolog_component([{"AVAL": 0, "AVAR": 1, "RIS": 0}, {"AVAL": 0, "AVAR": 0, "RIS": 1}])
    >>> best, [s.share for s in shares]
    (1, [0.0, 1.0])
    """
    shares = [homolog_share(c) for c in communities]
    ok = [r for r, s in enumerate(shares) if s.pairs and s.share >= HOMOLOG_OVER_CHANCE * s.chance]
    best = max(ok, key=lambda r: shares[r].share) if ok else None
    return best, shares

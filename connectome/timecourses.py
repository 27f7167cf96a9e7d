"""Time courses of the components from the similarity of windows across animals (weak components too).

A weak community is invisible in any one window, and in a least-squares fit of the whole tensor its energy
is below what noise in thousands of neuron pairs puts into a single component. What it does have is
consistency: in the windows where it is active, the same pairs co-change in every animal. The
**cross-animal window similarity**

.. math:: G_{ww'} = \\sum_{a \\neq a'} \\sum_p S_{pwa} S_{pw'a'}

(``S`` = signed window affinities, :func:`connectome.affinity.affinity_tensor` with ``signed=True``; missing
entries 0) sums that consistency over all pairs at once. Products of two different animals carry no shared
noise (independent recordings), so ``G`` has no diagonal band from overlapping windows and noise averages to
zero instead of to the positive floor of clipped affinities. A symmetric non-negative factorization
``G⁺ ≈ H Hᵀ`` (``H ≥ 0``, windows × rank) gives the time courses; the rank is the largest whose restarts all
agree (:func:`time_course_selection`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from connectome.affinity import AffinityTensor
from connectome.errors import FactorizationError, ParameterError
from connectome.ntf import RankSelection

__all__ = ["STABLE_SIMILARITY", "TimeCourses", "symmetric_nmf", "time_course_selection", "window_similarity"]

logger = logging.getLogger(__name__)

STABLE_SIMILARITY = 0.95
"""Every restart's time courses must match the best fit's with at least this mean cosine for a rank to count as
stable. Symmetric NMF of a W × W matrix is far more reproducible than the NTF of the whole tensor (a rank
that splits noise still agrees at 0.8–0.9), so the bar sits higher than :func:`connectome.ntf.choose_rank`'s."""


CHECK_EVERY = 20
"""Iterations between convergence checks of :func:`symmetric_nmf` (when ``tol > 0``). The default runs all
``max_iter`` iterations: the multiplicative rule crosses long plateaus (saddle points) where the error barely
moves before it falls again, so a small change says little about convergence (measured: stopping on a change
below 1e-6 left restarts disagreeing at 0.8 where 1000 full iterations agree at 1.0)."""


def window_similarity(signed: AffinityTensor) -> np.ndarray:
    """The cross-animal window similarity ``G`` (windows × windows, symmetric) of the module docstring.

    Examples
    --------
    >>> from connectome.affinity import affinity_tensor
    >>> from connectome.synthetic import planted_dynamic_recordings
    >>> rec, _ = planted_dynamic_recordings(n_neurons=12, n_animals=2, n_epochs=2, epoch_s=40.0, seed=0)
    >>> g = window_similarity(affinity_tensor(rec, window_s=10, stride_s=5, signed=True))
    >>> g.shape, bool(np.allclose(g, g.T))
    ((15, 15), True)
    """
    s = np.where(signed.mask, signed.values, 0.0).astype(np.float64)  # [pairs, windows, animals]
    total = s.sum(axis=2)
    return total.T @ total - np.einsum("pwa,pva->wv", s, s)


def symmetric_nmf(
    similarity: np.ndarray, *, rank: int, seed: int = 0, max_iter: int = 1000, tol: float = 0.0
) -> tuple[np.ndarray, float]:
    """``H ≥ 0`` (n × rank) with ``max(G, 0) ≈ H Hᵀ`` by the damped multiplicative rule of Ding et al. (2005).

    Returns ``H`` (columns of unit norm, largest ``‖h‖²`` first) and the relative error. Stops after
    ``max_iter`` iterations or when the error changed by less than ``tol`` (relative) over
    :data:`CHECK_EVERY` iterations.

    Examples
    --------
    >>> h = np.array([[1.0, 0], [1, 0], [0, 1], [0, 1]])
    >>> H, err = symmetric_nmf(h @ h.T, rank=2, seed=0)
    >>> err < 1e-3, np.round(H, 2).tolist()
    (True, [[0.71, 0.0], [0.71, 0.0], [0.0, 0.71], [0.0, 0.71]])
    """
    g = np.clip(np.asarray(similarity, dtype=np.float64), 0.0, None)
    norm = float(np.linalg.norm(g))
    if norm == 0:
        raise FactorizationError("the windows share no co-change across animals; nothing to factorize")
    rng = np.random.default_rng(seed)
    h = rng.random((len(g), rank)) * np.sqrt(g.mean() / rank)
    previous = err = np.inf
    for it in range(1, max_iter + 1):
        h *= 0.5 + 0.5 * (g @ h) / np.maximum(h @ (h.T @ h), 1e-300)
        if it % CHECK_EVERY == 0 or it == max_iter:
            err = float(np.linalg.norm(g - h @ h.T)) / norm
            if abs(previous - err) <= tol * max(previous, 1e-30):
                break
            previous = err
    scale = np.linalg.norm(h, axis=0)
    order = np.argsort(-scale, kind="stable")
    return (h / np.where(scale > 0, scale, 1.0))[:, order], err


def _course_similarity(first: np.ndarray, second: np.ndarray) -> float:
    from scipy.optimize import linear_sum_assignment

    sim = first.T @ second
    rows, cols = linear_sum_assignment(-sim)
    return float(sim[rows, cols].sum() / first.shape[1])


@dataclass
class TimeCourses:
    """Time courses (windows × rank, unit columns), the rank selection that chose them (None: rank given) and
    the relative error of ``G⁺ ≈ H Hᵀ`` at that rank (small: the components dominate the window similarity)."""

    courses: np.ndarray
    selection: RankSelection | None
    rel_error: float


def time_course_selection(
    similarity: np.ndarray,
    *,
    ranks: Sequence[int],
    n_restarts: int = 4,
    seed: int = 0,
    threshold: float = STABLE_SIMILARITY,
    progress: Callable[[int], None] | None = None,
) -> TimeCourses:
    """Symmetric NMF of ``similarity`` at every rank, ``n_restarts`` times; the largest stable rank wins.

    A rank is stable when every restart's courses match the best fit's (Hungarian-matched mean cosine) by at
    least ``threshold``; ranks are scanned upwards and the scan stops at the first unstable one. A single
    candidate rank is taken as given.

    Raises
    ------
    ParameterError
        Empty ``ranks`` or fewer than 1 restart.
    """
    ranks = sorted({int(r) for r in ranks})
    if not ranks or n_restarts < 1:
        raise ParameterError(f"time courses need candidate ranks and >= 1 restart, got {ranks} and {n_restarts}")
    errors, sims, best = [], [], []
    for rank in ranks:
        fits = sorted(
            (symmetric_nmf(similarity, rank=rank, seed=seed + k) for k in range(n_restarts)), key=lambda f: f[1]
        )
        errors.append([f[1] for f in fits])
        sims.append([1.0] + [_course_similarity(fits[0][0], f[0]) for f in fits[1:]])
        best.append(fits[0][0])
        if progress is not None:
            progress(rank)
    chosen = ranks[0]
    for rank, s in zip(ranks, sims, strict=True):
        if min(s) < threshold:
            break
        chosen = rank
    logger.info("time courses: rank %d of %s (min similarity %s)", chosen, ranks, [round(min(s), 3) for s in sims])
    selection = RankSelection(
        ranks=ranks, errors=errors, similarities=sims, best_fits=[], chosen=chosen, threshold=threshold
    )
    k = ranks.index(chosen)
    return TimeCourses(courses=best[k], selection=selection if len(ranks) > 1 else None, rel_error=float(errors[k][0]))

"""The reference line of the planted benchmark: a baseline that is told the epoch boundaries.

Per epoch it averages the animals' derivative correlations and clusters them spectrally into the planted
number of groups plus one extra cluster for the background (issue 29). It knows what a user does not (when
the epochs are and how many groups each has), so it marks what the data allow, not a competitor.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from connectome.affinity import smoothed_derivative
from connectome.errors import ParameterError
from connectome.io import Recordings

__all__ = ["epoch_correlation", "epoch_spectral_baseline"]


def epoch_correlation(rec: Recordings, start_s: float, end_s: float, *, sigma_s: float = 1.0) -> np.ndarray:
    """The animals' mean correlation of smoothed derivatives inside ``[start_s, end_s)``, shape ``(N, N)``.

    Neurons missing in an animal are left out of that animal's average; a pair seen in no animal is 0.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = np.cumsum(rng.normal(size=(1, 1, 200)), axis=-1)
    >>> x = np.concatenate([s, s + 0.1 * rng.normal(size=s.shape), rng.normal(size=s.shape)], axis=1)
    >>> c = epoch_correlation(Recordings(traces=x, neurons=["A", "B", "C"], fps=5.0), 0.0, 40.0)
    >>> bool(c[0, 1] > 0.5), bool(abs(c[0, 2]) < 0.3)
    (True, True)
    """
    lo, hi = round(start_s * rec.fps), round(end_s * rec.fps)
    if not 0 <= lo < hi - 2 or hi > rec.n_frames:
        raise ParameterError(
            f"epoch [{start_s:g}, {end_s:g}) s is not inside the {rec.n_frames / rec.fps:g} s recording"
        )
    total = np.zeros((rec.n_neurons, rec.n_neurons))
    count = np.zeros_like(total)
    for a in range(rec.n_animals):
        d = smoothed_derivative(rec.traces[a], rec.fps, sigma_s=sigma_s)[:, lo:hi]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # neurons missing in this animal: all-NaN rows
            ok = np.isfinite(d).all(axis=1) & (np.nanstd(d, axis=1) > 0)
            c = np.corrcoef(d[ok])
        idx = np.flatnonzero(ok)
        total[np.ix_(idx, idx)] += np.nan_to_num(c)
        count[np.ix_(idx, idx)] += 1
    return np.where(count > 0, total / np.maximum(count, 1), 0.0)


def epoch_spectral_baseline(
    rec: Recordings,
    epochs: Sequence[tuple[float, float]],
    n_groups: Sequence[int],
    *,
    sigma_s: float = 1.0,
    seed: int = 0,
) -> list[dict[str, int]]:
    """Each epoch's communities by spectral clustering of the mean derivative correlation into groups + 1.

    The affinity is the positive part of :func:`epoch_correlation`; scikit-learn's
    ``SpectralClustering(affinity="precomputed")`` splits it into ``n_groups[e] + 1`` clusters (the extra one
    for neurons in no community).

    Examples
    --------
    >>> from connectome.synthetic import weak_dynamic_recordings
    >>> rec, truth = weak_dynamic_recordings(n_neurons=20, n_animals=3, n_epochs=1, within_corr=0.5, seed=0)
    >>> parts = epoch_spectral_baseline(rec, truth.epochs, [3])
    >>> len(parts), len(parts[0]), len(set(parts[0].values()))
    (1, 20, 4)
    """
    from sklearn.cluster import SpectralClustering

    if len(epochs) != len(n_groups):
        raise ParameterError(f"{len(epochs)} epochs but {len(n_groups)} group counts")
    out = []
    for (lo, hi), k in zip(epochs, n_groups, strict=True):
        affinity = np.clip(epoch_correlation(rec, lo, hi, sigma_s=sigma_s), 0.0, None)
        np.fill_diagonal(affinity, 1.0)
        labels = SpectralClustering(
            n_clusters=min(k + 1, rec.n_neurons), affinity="precomputed", random_state=seed
        ).fit_predict(affinity)
        out.append(dict(zip(rec.neurons, labels.tolist(), strict=True)))
    return out

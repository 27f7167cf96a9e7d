"""Derivative-based, non-negative pairwise affinities per sliding window.

The affinity measures *concurrent change*: two neurons have high affinity in a window when their
activity rises and falls together there, whatever their baseline levels; anti-correlated change
counts as zero affinity (as in Dyballa et al., ICLR 2024, which builds its tensor from differential
affinities and ignores anti-correlation).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from dataclasses import dataclass

import numpy as np

from connectome.errors import ParameterError
from connectome.io import Recordings

__all__ = [
    "AffinityTensor",
    "affinity_tensor",
    "component_correlation",
    "pair_index",
    "rectified",
    "smoothed_derivative",
    "standardised_derivative",
    "window_starts",
]

logger = logging.getLogger(__name__)


@dataclass
class AffinityTensor:
    """The tensor ``[neuron pairs (upper triangle), windows, animals]`` and what indexes it.

    Attributes
    ----------
    values : ndarray of float32, shape (pairs, windows, animals)
        Affinities; NaN where a pair is not observed (one of its neurons missing in that animal/window).
    mask : ndarray of bool, same shape
        True where ``values`` is observed.
    pairs : ndarray of int, shape (pairs, 2)
        Neuron rows ``(i, j)``, ``i < j``, in ``numpy.triu_indices`` order.
    neurons, animals : list of str
    windows_s : ndarray, shape (windows,)
        Centre of each window in seconds.
    window_s, stride_s, sigma_s : float
        Parameters the tensor was built with.
    """

    values: np.ndarray
    mask: np.ndarray
    pairs: np.ndarray
    neurons: list[str]
    animals: list[str]
    windows_s: np.ndarray
    window_s: float
    stride_s: float
    sigma_s: float

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.values.shape)  # type: ignore[return-value]

    @property
    def observed_fraction(self) -> float:
        return float(self.mask.mean()) if self.mask.size else 0.0


def pair_index(n_neurons: int) -> np.ndarray:
    """Upper-triangle neuron pairs ``(i, j)``, ``i < j``, shape ``(n(n-1)/2, 2)``.

    Examples
    --------
    >>> pair_index(3).tolist()
    [[0, 1], [0, 2], [1, 2]]
    """
    i, j = np.triu_indices(n_neurons, k=1)
    return np.stack([i, j], axis=1)


def window_starts(n_frames: int, fps: float, *, window_s: float, stride_s: float) -> tuple[np.ndarray, int]:
    """First frame of each window and the window length in frames.

    Raises
    ------
    ParameterError
        If the window or stride is not positive, or the window is longer than the recording.

    Examples
    --------
    >>> starts, length = window_starts(100, 10.0, window_s=2.0, stride_s=1.0)
    >>> starts[:3].tolist(), length, len(starts)
    ([0, 10, 20], 20, 9)
    """
    if not np.isfinite(window_s) or window_s <= 0:
        raise ParameterError(f"window length must be a positive number of seconds, got {window_s}")
    if not np.isfinite(stride_s) or stride_s <= 0:
        raise ParameterError(f"window stride must be a positive number of seconds, got {stride_s}")
    length = max(2, round(window_s * fps))
    step = max(1, round(stride_s * fps))
    if length > n_frames:
        raise ParameterError(
            f"window of {window_s} s ({length} frames) is longer than the recording ({n_frames} frames, "
            f"{n_frames / fps:g} s)"
        )
    return np.arange(0, n_frames - length + 1, step), length


def smoothed_derivative(traces: np.ndarray, fps: float, *, sigma_s: float = 1.0) -> np.ndarray:
    """Time derivative (units per second) of Gaussian-smoothed traces along the last axis.

    The derivative of a Gaussian of width ``sigma_s`` seconds is applied in one pass (NaN stays NaN:
    samples near a missing sample become missing). ``sigma_s=0`` uses plain central differences.

    Examples
    --------
    >>> t = np.arange(50) / 10.0
    >>> d = smoothed_derivative(3.0 * t[None], 10.0, sigma_s=0.2)
    >>> bool(np.allclose(d[0, 10:-10], 3.0, atol=1e-2))
    True
    """
    from scipy.ndimage import gaussian_filter1d, maximum_filter1d

    if not np.isfinite(sigma_s) or sigma_s < 0:
        raise ParameterError(f"smoothing sigma must be >= 0 seconds, got {sigma_s}")
    x = np.asarray(traces, dtype=np.float64)
    nan = ~np.isfinite(x)
    sigma = sigma_s * fps
    filled = np.where(nan, 0.0, x)
    if sigma < 0.3:
        d, radius = np.gradient(filled, axis=-1) * fps, 1
    else:
        d, radius = gaussian_filter1d(filled, sigma, axis=-1, order=1, mode="nearest") * fps, int(4 * sigma + 0.5)
    spread = maximum_filter1d(nan.astype(np.uint8), size=2 * radius + 1, axis=-1).astype(bool) if nan.any() else nan
    d[spread] = np.nan
    return d


def standardised_derivative(traces: np.ndarray, fps: float, *, sigma_s: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """``z = d / std(d)`` per neuron of one animal's ``[neurons, time]`` traces, 0 where missing, and the valid mask.

    Examples
    --------
    >>> z, valid = standardised_derivative(np.cumsum(np.ones((2, 40)), axis=1) ** 2, 10.0)
    >>> z.shape, bool(valid.all()), round(float(z[0].std()), 6)
    ((2, 40), True, 1.0)
    """
    d = smoothed_derivative(traces, fps, sigma_s=sigma_s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # neurons missing in this animal: all-NaN rows
        scale = np.nanstd(d, axis=-1, keepdims=True)
    scale = np.where(np.isfinite(scale) & (scale > 0), scale, np.nan)
    z = d / scale
    valid = np.isfinite(z)
    return np.where(valid, z, 0.0), valid


def rectified(tensor: AffinityTensor) -> AffinityTensor:
    """The tensor with negative affinities set to zero (what :func:`affinity_tensor` gives unsigned)."""
    values = np.where(tensor.mask, np.maximum(tensor.values, 0.0), np.nan).astype(tensor.values.dtype)
    return dataclasses.replace(tensor, values=values)


def component_correlation(rec: Recordings, tensor: AffinityTensor, time: np.ndarray, animals: np.ndarray) -> np.ndarray:
    r"""Signed co-change of every neuron pair, weighted by one component's time course and animal loadings.

    With :math:`z` the standardised derivatives of :func:`affinity_tensor`, frame weights
    :math:`u_a(t) = c_a \sum_w b_w [t \in w] / \#\{w \ni t\}` (the component's time course ``b`` spread over the
    frames of its windows, times its loading ``c_a`` in animal ``a``) give

    .. math:: C_{ij} = \frac{\sum_{a,t} u_a(t)\, z_{ai}(t) z_{aj}(t)}{\sum_{a,t} u_a(t)}

    over the animals where both neurons are recorded. Unlike the tensor's entries it is not clipped at
    zero per window: pairs that do not co-change average to about zero instead of to the mean of a clipped
    noise, so weak but consistent co-change stands out (the matched filter of the component's time course).

    Returns
    -------
    ndarray, shape (neurons, neurons)
        Symmetric, zero diagonal; 0 for a pair never recorded together.
    """
    starts = np.round(np.asarray(tensor.windows_s) * rec.fps - tensor.window_s * rec.fps / 2.0).astype(int)
    length = max(2, round(tensor.window_s * rec.fps))
    spread = np.zeros(rec.n_frames)
    cover = np.zeros(rec.n_frames)
    for w, t0 in enumerate(starts):
        spread[max(t0, 0) : t0 + length] += time[w]
        cover[max(t0, 0) : t0 + length] += 1.0
    frame_w = np.where(cover > 0, spread / np.maximum(cover, 1.0), 0.0)
    total = np.zeros((rec.n_neurons, rec.n_neurons))
    mass = np.zeros_like(total)
    for a in range(rec.n_animals):
        z, valid = standardised_derivative(rec.traces[a], rec.fps, sigma_s=tensor.sigma_s)
        u = animals[a] * frame_w
        total += (z * u) @ z.T  # z is 0 where a neuron is missing
        mass += (valid * u) @ valid.T.astype(float)
    c = np.where(mass > 0, total / np.maximum(mass, 1e-300), 0.0)
    np.fill_diagonal(c, 0.0)
    return c


def affinity_tensor(
    rec: Recordings,
    *,
    window_s: float,
    stride_s: float,
    sigma_s: float = 1.0,
    dtype: type = np.float32,
    signed: bool = False,
) -> AffinityTensor:
    r"""Non-negative derivative affinities of all neuron pairs per sliding window and animal.

    For animal :math:`a`, neuron :math:`i` and frame :math:`t`:

    1. :math:`d_i(t)` is the time derivative of the trace smoothed by a Gaussian of width ``sigma_s``
       (:func:`smoothed_derivative`);
    2. :math:`z_i(t) = d_i(t) / s_i` with :math:`s_i` the standard deviation of :math:`d_i` over the whole
       recording of that animal (so every neuron's change is in units of its own typical change);
    3. for the window :math:`w` of :math:`L` frames starting at :math:`t_w`,

       .. math:: A_{ij}(w, a) = \max\Bigl(0,\ \frac{1}{L}\sum_{t=t_w}^{t_w+L-1} z_i(t)\, z_j(t)\Bigr).

    :math:`A` is large when both neurons change strongly *and* in the same direction at the same times
    in that window (co-rising or co-falling), near zero when either is quiet, and zero for
    anti-correlated change. A pair is *missing* (``mask`` False, value NaN) in a window and animal
    when either neuron has a missing sample there — e.g. a neuron not identified in that animal —
    so the factorization ignores it instead of reading it as silence.

    Parameters
    ----------
    rec : Recordings
    window_s, stride_s : float
        Window length and step in seconds (both > 0; the window must fit in the recording).
    sigma_s : float
        Gaussian smoothing before differentiation, seconds (default 1.0; 0 = none).
    dtype : numpy float type
        Of ``values`` (default float32).
    signed : bool
        Keep the window means unclipped (negative for anti-correlated change); used to estimate time
        courses, where clipped noise would add a floor (:mod:`connectome.timecourses`).

    Returns
    -------
    AffinityTensor
        ``values`` of shape ``(n(n-1)/2, windows, animals)``.

    Raises
    ------
    ParameterError
        Non-positive window, stride or sigma, or a window longer than the recording.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = np.cumsum(rng.normal(size=200))
    >>> x = np.stack([s, s + 0.1 * rng.normal(size=200), -s, rng.normal(size=200)])[None]
    >>> rec = Recordings(traces=x, neurons=["A", "B", "C", "D"], fps=5.0)
    >>> t = affinity_tensor(rec, window_s=20.0, stride_s=10.0)
    >>> t.shape
    (6, 3, 1)
    >>> pairs = {tuple(p): v for p, v in zip(t.pairs.tolist(), t.values[:, 0, 0])}
    >>> bool(pairs[(0, 1)] > 0.5), float(pairs[(0, 2)])   # A~B co-change, A vs C anti-correlated
    (True, 0.0)
    """
    starts, length = window_starts(rec.n_frames, rec.fps, window_s=window_s, stride_s=stride_s)
    pairs = pair_index(rec.n_neurons)
    n_pairs, n_windows = len(pairs), len(starts)
    values = np.full((n_pairs, n_windows, rec.n_animals), np.nan, dtype=dtype)
    for a in range(rec.n_animals):
        z, valid = standardised_derivative(rec.traces[a], rec.fps, sigma_s=sigma_s)
        for w, t0 in enumerate(starts):
            zw = z[:, t0 : t0 + length]
            ok = valid[:, t0 : t0 + length].all(axis=1)
            cov = (zw @ zw.T) / length
            vals = cov[pairs[:, 0], pairs[:, 1]]
            vals = vals if signed else np.maximum(vals, 0.0)
            observed = ok[pairs[:, 0]] & ok[pairs[:, 1]]
            values[:, w, a] = np.where(observed, vals, np.nan)
    mask = np.isfinite(values)
    centres = (starts + length / 2.0) / rec.fps
    logger.info(
        "affinity tensor %s (%.1f%% observed), window %g s, stride %g s",
        values.shape,
        100 * mask.mean(),
        window_s,
        stride_s,
    )
    return AffinityTensor(
        values=values,
        mask=mask,
        pairs=pairs,
        neurons=list(rec.neurons),
        animals=list(rec.animals),
        windows_s=centres,
        window_s=float(window_s),
        stride_s=float(stride_s),
        sigma_s=float(sigma_s),
    )

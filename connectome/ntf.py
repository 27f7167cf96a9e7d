"""Non-negative CP decomposition (NTF) of 3-way tensors by HALS in torch, with missing values.

:func:`ntf_hals` fits one model; :func:`ntf_restarts` fits several from different seeds;
:func:`rank_selection` sweeps ranks and reports reconstruction error and factor similarity across
restarts (as tensortools does) and :func:`choose_rank` picks a rank from it.

Algorithm
---------
Hierarchical alternating least squares (Cichocki & Phan 2009) on ``X ≈ Σ_r a_r ∘ b_r ∘ c_r``: each
mode's factor is updated column by column in closed form, clipped at zero, from the MTTKRP of that
mode and the Hadamard product of the other modes' Gram matrices. Two dense products per iteration do
all the heavy work: ``X_(0) @ (B ⊙ C)`` for the first mode, and ``Y = Aᵀ X_(0)`` (shape ``R × J·K``) from
which the MTTKRPs of the second and third modes are cheap contractions — no unfolding copies of the
tensor. Missing entries (``mask`` False) are handled by expectation–maximisation: before every
iteration they are filled with the current model's reconstruction, so they never pull the fit
towards zero; the reported error counts observed entries only.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from connectome.errors import FactorizationError, ParameterError

__all__ = [
    "NTFResult",
    "RankSelection",
    "choose_rank",
    "factor_similarity",
    "ntf_hals",
    "ntf_restarts",
    "plot_rank_selection",
    "rank_selection",
    "relative_error",
    "resolve_device",
]

logger = logging.getLogger(__name__)


@dataclass
class NTFResult:
    """A fitted non-negative CP model, components sorted by weight (largest first).

    Attributes
    ----------
    factors : list of ndarray
        One ``(dim_m, rank)`` array per mode, columns of unit Euclidean norm.
    weights : ndarray, shape (rank,)
        Scale of each component: ``X ≈ Σ_r weights[r] · factors[0][:, r] ∘ factors[1][:, r] ∘ factors[2][:, r]``.
    rel_error : float
        ``‖M ⊙ (X − X̂)‖ / ‖M ⊙ X‖`` over the observed entries ``M``.
    n_iter : int
    converged : bool
        Whether the relative change of the error fell below ``tol`` before ``max_iter``.
    seed : int
    errors : list of float
        Error after each iteration (observed entries).
    """

    factors: list[np.ndarray]
    weights: np.ndarray
    rel_error: float
    n_iter: int
    converged: bool
    seed: int
    errors: list[float] = field(default_factory=list)

    @property
    def rank(self) -> int:
        return int(self.weights.shape[0])

    def reconstruct(self) -> np.ndarray:
        """The dense model tensor ``X̂``."""
        a, b, c = self.factors
        return np.einsum("ir,jr,kr,r->ijk", a, b, c, self.weights)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """Check that ``device`` exists on this machine and return it (default CPU).

    Raises
    ------
    ParameterError
        For an unknown device string or a CUDA device when none is available.

    Examples
    --------
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device is None:
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ParameterError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") from e
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ParameterError(f"device {device!r} requested but CUDA is not available here; use 'cpu'")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ParameterError(f"device {device!r} does not exist ({torch.cuda.device_count()} CUDA devices)")
    elif dev.type not in ("cpu", "mps"):
        raise ParameterError(f"unsupported device {device!r}; use 'cpu', 'cuda' or 'cuda:N'")
    return dev


def _check_inputs(values: np.ndarray | torch.Tensor, mask: np.ndarray | torch.Tensor | None, rank: int) -> None:
    if values.ndim != 3:
        raise FactorizationError(f"NTF needs a 3-way tensor [pairs, windows, animals], got shape {tuple(values.shape)}")
    if isinstance(rank, bool) or not isinstance(rank, int | np.integer) or rank < 1:
        raise ParameterError(f"rank must be a positive integer, got {rank!r}")
    if values.shape[1] < rank:
        raise FactorizationError(
            f"only {values.shape[1]} windows for rank {rank}; need at least as many windows as components "
            "(shorten the stride or lower the rank)"
        )
    if mask is not None and tuple(mask.shape) != tuple(values.shape):
        raise FactorizationError(f"mask shape {tuple(mask.shape)} differs from tensor shape {tuple(values.shape)}")


def ntf_hals(
    values: np.ndarray | torch.Tensor,
    *,
    rank: int,
    mask: np.ndarray | torch.Tensor | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
    seed: int = 0,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    inner_iter: int = 3,
    callback: Callable[[int, float], None] | None = None,
    fixed_time: np.ndarray | None = None,
) -> NTFResult:
    """Fit a non-negative rank-``rank`` CP model to a 3-way tensor by masked HALS.

    Parameters
    ----------
    values : array, shape (I, J, K)
        Non-negative data; entries where ``mask`` is False (or that are NaN) are ignored.
    rank : int
        Number of components (>= 1, <= J).
    mask : bool array, optional
        True where observed. Default: the finite entries of ``values``.
    max_iter, tol : int, float
        Stop after ``max_iter`` iterations or when the relative change of the error is below ``tol``.
    seed : int
        Seeds the random initial factors (drawn on the CPU, so results match across devices).
    device : str, optional
        Torch device (default CPU).
    dtype : torch.dtype
        Working precision (default float32).
    inner_iter : int
        HALS sweeps per factor per iteration (cheap; more sweeps converge in fewer iterations).
    callback : callable, optional
        Called as ``callback(iteration, rel_error)`` after each iteration.
    fixed_time : ndarray, shape (J, rank), optional
        Non-negative factor of the second mode to keep fixed (e.g. time courses estimated elsewhere,
        :mod:`connectome.timecourses`); only the other two modes are fitted.

    Returns
    -------
    NTFResult

    Raises
    ------
    ParameterError
        Rank not a positive integer, bad device, negative ``max_iter``.
    FactorizationError
        Not 3-way, fewer windows (second axis) than ``rank``, negative values, nothing observed.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> A, B, C = rng.random((30, 2)), rng.random((12, 2)), rng.random((4, 2))
    >>> X = np.einsum("ir,jr,kr->ijk", A, B, C)
    >>> X[0, 0, 0] = np.nan                               # one missing entry
    >>> fit = ntf_hals(X, rank=2, seed=1, max_iter=500, tol=1e-9)
    >>> fit.rel_error < 1e-3, [f.shape for f in fit.factors]
    (True, [(30, 2), (12, 2), (4, 2)])
    """
    _check_inputs(values, mask, rank)
    if max_iter < 1:
        raise ParameterError(f"max_iter must be >= 1, got {max_iter}")
    dev = resolve_device(device)
    x = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    m = (
        torch.isfinite(x)
        if mask is None
        else torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask).bool()
        & torch.isfinite(x)
    )
    x = torch.where(m, x, torch.zeros((), dtype=x.dtype)).to(device=dev, dtype=dtype).contiguous()
    m = m.to(dev)
    if bool((x < 0).any()):
        raise FactorizationError(f"NTF needs non-negative data; found minimum {float(x.min()):g}")
    n_obs = int(m.sum())
    if n_obs == 0:
        raise FactorizationError("the tensor has no observed entry")
    full = n_obs == m.numel()
    mask_t = None if full else m
    fixed = None
    if fixed_time is not None:
        fixed_np = np.asarray(fixed_time, dtype=np.float64)
        if fixed_np.shape != (x.shape[1], rank) or not np.isfinite(fixed_np).all() or (fixed_np < 0).any():
            raise FactorizationError(
                f"fixed time factor must be non-negative of shape ({x.shape[1]}, {rank}), got {fixed_np.shape}"
            )
        fixed = torch.as_tensor(fixed_np, device=dev, dtype=dtype)
    return _hals(
        x,
        mask_t,
        rank=int(rank),
        max_iter=max_iter,
        tol=tol,
        seed=seed,
        inner_iter=inner_iter,
        callback=callback,
        fixed_time=fixed,
    )


def _init_factors(
    shape: Sequence[int], rank: int, seed: int, norm_x: float, device: torch.device, dtype: torch.dtype
) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(int(seed))
    factors = [torch.rand((n, rank), generator=gen, dtype=torch.float64) for n in shape]
    a, b, c = factors
    norm_model = math.sqrt(float(((a.T @ a) * (b.T @ b) * (c.T @ c)).sum()))
    scale = (norm_x / max(norm_model, 1e-30)) ** (1.0 / 3.0)
    return [(f * scale).to(device=device, dtype=dtype) for f in factors]


def _hals_sweep(factor: torch.Tensor, mttkrp: torch.Tensor, gram: torch.Tensor, inner_iter: int) -> None:
    diag = gram.diagonal().clamp_min(1e-30)
    for _ in range(inner_iter):
        for r in range(factor.shape[1]):
            update = factor[:, r] + (mttkrp[:, r] - factor @ gram[:, r]) / diag[r]
            factor[:, r] = update.clamp_min(0.0)


def _hals(
    x: torch.Tensor,
    mask: torch.Tensor | None,
    *,
    rank: int,
    max_iter: int,
    tol: float,
    seed: int,
    inner_iter: int,
    callback: Callable[[int, float], None] | None,
    fixed_time: torch.Tensor | None = None,
) -> NTFResult:
    n_i, n_j, n_k = x.shape
    x0 = x.reshape(n_i, n_j * n_k)
    norm_x = float(torch.linalg.vector_norm(x0.double()))
    if norm_x == 0:
        raise FactorizationError("the observed tensor is all zeros; nothing to factorize")
    a, b, c = _init_factors(x.shape, rank, seed, norm_x, x.device, x.dtype)
    if fixed_time is not None:
        b = fixed_time / torch.linalg.vector_norm(fixed_time, dim=0).clamp_min(1e-30)
    errors: list[float] = []
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        if mask is not None:  # EM step: fill missing entries with the current model
            recon = a @ _khatri_rao(b, c).T
            err_sq = float(torch.linalg.vector_norm(torch.where(mask.reshape(n_i, -1), x0 - recon, 0.0)).double() ** 2)
            xf = torch.where(mask.reshape(n_i, -1), x0, recon)
            del recon
        else:
            xf = x0
        # mode 0
        m0 = xf @ _khatri_rao(b, c)
        _hals_sweep(a, m0, (b.T @ b) * (c.T @ c), inner_iter)
        # modes 1 and 2 from Y = Aᵀ X_(0)
        y = (a.T @ xf).reshape(rank, n_j, n_k)
        if fixed_time is None:
            m1 = torch.einsum("rjk,kr->jr", y, c)
            _hals_sweep(b, m1, (a.T @ a) * (c.T @ c), inner_iter)
        m2 = torch.einsum("rjk,jr->kr", y, b)
        gram_c = (a.T @ a) * (b.T @ b)
        _hals_sweep(c, m2, gram_c, inner_iter)
        if mask is None:
            inner = float((m2 * c).sum())
            model_sq = float((gram_c * (c.T @ c)).sum())
            err_sq = max(norm_x**2 - 2 * inner + model_sq, 0.0)
        del xf
        # rebalance scales: unit columns in modes 1 and 2, scale carried by mode 0
        nb = torch.linalg.vector_norm(b, dim=0).clamp_min(1e-30)
        nc = torch.linalg.vector_norm(c, dim=0).clamp_min(1e-30)
        b /= nb
        c /= nc
        a *= nb * nc
        err = math.sqrt(err_sq) / norm_x
        errors.append(err)
        if callback is not None:
            callback(it, err)
        if len(errors) > 1 and abs(errors[-2] - err) <= tol * max(errors[-2], 1e-30):
            converged = True
            break
    factors = [a, b, c]
    rel = relative_error(x, mask, factors)
    return _normalised_result(factors, rel, it, converged, seed, errors)


def _khatri_rao(b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    return (b[:, None, :] * c[None, :, :]).reshape(-1, b.shape[1])


def relative_error(
    x: torch.Tensor | np.ndarray,
    mask: torch.Tensor | np.ndarray | None,
    factors: Sequence[torch.Tensor | np.ndarray],
    weights: torch.Tensor | np.ndarray | None = None,
    *,
    chunk: int = 4096,
) -> float:
    """``‖M ⊙ (X − X̂)‖ / ‖M ⊙ X‖`` for a CP model, in float64, computed in row chunks.

    Examples
    --------
    >>> a, b, c = np.ones((3, 1)), np.ones((2, 1)), np.ones((2, 1))
    >>> relative_error(np.full((3, 2, 2), 2.0), None, [a, b, c])
    0.5
    """
    xt = torch.as_tensor(x)
    n_i = xt.shape[0]
    a, b, c = (torch.as_tensor(f).to(xt.device, torch.float64) for f in factors)
    if weights is not None:
        a = a * torch.as_tensor(weights).to(xt.device, torch.float64)
    kr = _khatri_rao(b, c)
    mt = None if mask is None else torch.as_tensor(mask).to(xt.device).reshape(n_i, -1)
    x0 = xt.reshape(n_i, -1)
    num = den = 0.0
    for s in range(0, n_i, chunk):
        xs = x0[s : s + chunk].double()
        diff = xs - a[s : s + chunk] @ kr.T
        if mt is not None:
            ms = mt[s : s + chunk]
            diff = torch.where(ms, diff, 0.0)
            xs = torch.where(ms, xs, 0.0)
        num += float((diff**2).sum())
        den += float((xs**2).sum())
    return math.sqrt(num / den) if den > 0 else float("nan")


def _normalised_result(
    factors: Sequence[torch.Tensor], rel: float, n_iter: int, converged: bool, seed: int, errors: list[float]
) -> NTFResult:
    fs = [f.detach().double().cpu().numpy() for f in factors]
    norms = [np.linalg.norm(f, axis=0) for f in fs]
    weights = np.prod(norms, axis=0)
    fs = [f / np.where(n > 0, n, 1.0) for f, n in zip(fs, norms, strict=True)]
    order = np.argsort(-weights, kind="stable")
    return NTFResult(
        factors=[f[:, order] for f in fs],
        weights=weights[order],
        rel_error=rel,
        n_iter=n_iter,
        converged=converged,
        seed=int(seed),
        errors=errors,
    )


def ntf_restarts(
    values: np.ndarray | torch.Tensor,
    *,
    rank: int,
    n_restarts: int = 5,
    mask: np.ndarray | torch.Tensor | None = None,
    seed: int = 0,
    progress: Callable[[NTFResult], None] | None = None,
    **options: object,
) -> list[NTFResult]:
    """Fit ``n_restarts`` models from seeds ``seed, seed+1, ...``; best (lowest error) first.

    ``options`` go to :func:`ntf_hals` (``max_iter``, ``tol``, ``device``, ``dtype``, ``inner_iter``).

    Examples
    --------
    >>> X = np.random.default_rng(0).random((20, 8, 3))
    >>> fits = ntf_restarts(X, rank=2, n_restarts=3, max_iter=50)
    >>> len(fits), fits[0].rel_error <= fits[-1].rel_error
    (3, True)
    """
    if n_restarts < 1:
        raise ParameterError(f"n_restarts must be >= 1, got {n_restarts}")
    fits = []
    for k in range(n_restarts):
        fit = ntf_hals(values, rank=rank, mask=mask, seed=seed + k, **options)  # type: ignore[arg-type]
        fits.append(fit)
        if progress is not None:
            progress(fit)
    return sorted(fits, key=lambda f: f.rel_error)


def factor_similarity(first: NTFResult, second: NTFResult) -> float:
    """Similarity of two CP models in [0, 1], after matching their components (tensortools' score).

    For components ``r`` of ``first`` and ``s`` of ``second`` the score is the product over modes of the
    cosine between their factor columns, times ``1 − |λ_r − λ_s| / max(λ_r, λ_s)``; components are paired
    by the Hungarian algorithm and the paired scores averaged (unpaired components count as 0).

    Examples
    --------
    >>> X = np.random.default_rng(0).random((20, 8, 3))
    >>> fit = ntf_hals(X, rank=2, max_iter=30)
    >>> round(factor_similarity(fit, fit), 6)
    1.0
    """
    from scipy.optimize import linear_sum_assignment

    sim = np.ones((first.rank, second.rank))
    for fa, fb in zip(first.factors, second.factors, strict=True):
        sim *= fa.T @ fb
    wa, wb = first.weights[:, None], second.weights[None, :]
    sim *= 1.0 - np.abs(wa - wb) / np.maximum(np.maximum(wa, wb), 1e-300)
    rows, cols = linear_sum_assignment(-sim)
    return float(sim[rows, cols].sum() / max(first.rank, second.rank))


@dataclass
class RankSelection:
    """Errors and restart similarities per rank (each list: one value per restart, best fit first)."""

    ranks: list[int]
    errors: list[list[float]]
    similarities: list[list[float]]
    best_fits: list[NTFResult]
    chosen: int
    threshold: float

    def to_dict(self) -> dict[str, object]:
        return {
            "ranks": self.ranks,
            "errors": self.errors,
            "similarities": self.similarities,
            "chosen": self.chosen,
            "threshold": self.threshold,
        }


def rank_selection(
    values: np.ndarray | torch.Tensor,
    *,
    ranks: Sequence[int],
    n_restarts: int = 4,
    mask: np.ndarray | torch.Tensor | None = None,
    seed: int = 0,
    threshold: float = 0.8,
    progress: Callable[[int, NTFResult], None] | None = None,
    **options: object,
) -> RankSelection:
    """Fit every rank in ``ranks`` ``n_restarts`` times; record errors and similarity to the best fit.

    The chosen rank is given by :func:`choose_rank`. ``options`` go to :func:`ntf_hals`.

    Raises
    ------
    ParameterError
        Empty ``ranks``, fewer than 2 restarts (similarity needs two fits).
    """
    ranks = sorted({int(r) for r in ranks})
    if not ranks:
        raise ParameterError("rank selection needs at least one candidate rank")
    if n_restarts < 2:
        raise ParameterError(f"rank selection needs n_restarts >= 2 to compare fits, got {n_restarts}")
    errors, sims, best = [], [], []
    for rank in ranks:
        fits = ntf_restarts(
            values,
            rank=rank,
            n_restarts=n_restarts,
            mask=mask,
            seed=seed,
            progress=None if progress is None else (lambda f, r=rank: progress(r, f)),
            **options,
        )
        errors.append([f.rel_error for f in fits])
        sims.append([1.0] + [factor_similarity(fits[0], f) for f in fits[1:]])
        best.append(fits[0])
        logger.info("rank %d: error %.4f, similarity %.3f", rank, fits[0].rel_error, float(np.mean(sims[-1][1:])))
    chosen = choose_rank(ranks, sims, threshold=threshold)
    return RankSelection(
        ranks=ranks, errors=errors, similarities=sims, best_fits=best, chosen=chosen, threshold=threshold
    )


def choose_rank(ranks: Sequence[int], similarities: Sequence[Sequence[float]], *, threshold: float = 0.8) -> int:
    """The largest rank up to which every rank's restarts agree (mean similarity to the best fit >= ``threshold``).

    Ranks are scanned upwards and the scan stops at the first unstable rank, so a rank that is stable
    again after an unstable one is not taken. Falls back to the smallest rank when it is unstable itself.

    Examples
    --------
    >>> choose_rank([1, 2, 3, 4, 5], [[1, 1], [1, 0.95], [1, 0.9], [1, 0.4], [1, 0.85]])
    3
    """
    chosen = None
    for rank, sims in sorted(zip(ranks, similarities, strict=True)):
        if np.mean(sims[1:] if len(sims) > 1 else sims) < threshold:
            break
        chosen = rank
    return chosen if chosen is not None else min(ranks)


def plot_rank_selection(sel: RankSelection, path: str) -> None:
    """Save the error-vs-rank and similarity-vs-rank plots (tensortools style) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for rank, errs, sims in zip(sel.ranks, sel.errors, sel.similarities, strict=True):
        axes[0].scatter([rank] * len(errs), errs, color="0.5", s=12)
        axes[1].scatter([rank] * (len(sims) - 1), sims[1:], color="0.5", s=12)
    axes[0].plot(sel.ranks, [min(e) for e in sel.errors], "k-")
    axes[1].plot(sel.ranks, [float(np.mean(s[1:])) for s in sel.similarities], "k-")
    axes[1].axhline(sel.threshold, color="tab:red", lw=0.8, ls="--")
    for ax in axes:
        ax.axvline(sel.chosen, color="tab:blue", lw=0.8)
        ax.set_xlabel("rank")
    axes[0].set_ylabel("relative error")
    axes[1].set_ylabel("similarity to best fit")
    axes[1].set_ylim(-0.05, 1.05)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""Benchmarks (run by ``connectome bench``; they measure, they do not assert).

- :func:`bench_ntf`: time per fit and final relative error of :func:`connectome.ntf.ntf_hals` against
  ``tensorly.decomposition.non_negative_parafac_hals`` on the same tensor, rank and iteration budget.
- :func:`bench_sbm`: weighted-SBM and Leiden time and NMI versus graph size.
- :func:`bench_planted`: NMI of both detectors on LFR-style weighted planted partitions versus mixing ``mu``.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from connectome.leiden import leiden_communities
from connectome.metrics import nmi
from connectome.ntf import _init_factors, ntf_hals, relative_error
from connectome.sbm import fit_weighted_sbm
from connectome.synthetic import planted_partition_graph, synthetic_tensor

__all__ = ["bench_ntf", "bench_planted", "bench_sbm", "format_table", "peak_rss_mb"]

logger = logging.getLogger(__name__)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MiB (Linux ``ru_maxrss``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _ntf_row(
    label: str, x: np.ndarray, mask: np.ndarray | None, rank: int, max_iter: int, device: str | None, tol: float
) -> dict:
    import tensorly as tl
    from tensorly.decomposition import non_negative_parafac_hals

    ntf_hals(x[: min(len(x), 200)], rank=rank, max_iter=2, device=device)  # warm-up (threads, allocator)
    ours, t_ours = _timed(lambda: ntf_hals(x, rank=rank, mask=mask, max_iter=max_iter, tol=tol, seed=0, device=device))
    xt = (
        np.where(np.isfinite(x), x, 0.0).astype(np.float64)
        if mask is None
        else np.where(mask, x, 0.0).astype(np.float64)
    )
    # tensorly starts from exactly our initial factors (seed 0), so the two differ only in the algorithm
    norm_x = float(np.linalg.norm(xt))
    init = [f.numpy() for f in _init_factors(xt.shape, rank, 0, norm_x, torch.device("cpu"), torch.float64)]
    tl.set_backend("numpy")
    cp, t_tl = _timed(
        lambda: non_negative_parafac_hals(
            xt, rank=rank, n_iter_max=max_iter, init=tl.cp_tensor.CPTensor((np.ones(rank), init)), tol=tol
        )
    )
    err_tl = relative_error(xt, mask, cp.factors, cp.weights)
    return {
        "tensor": label,
        "shape": list(x.shape),
        "rank": rank,
        "ours_s": round(t_ours, 3),
        "ours_iter": ours.n_iter,
        "ours_err": round(ours.rel_error, 5),
        "tensorly_s": round(t_tl, 3),
        "tensorly_err": round(err_tl, 5),
        "speedup": round(t_tl / t_ours, 2) if t_ours > 0 else None,
        "peak_rss_mb": round(peak_rss_mb()),
    }


def bench_ntf(
    sizes: Sequence[tuple[int, int, int]] = ((50, 50, 5), (100, 100, 10), (300, 200, 20)),
    *,
    rank: int = 8,
    max_iter: int = 100,
    device: str | None = None,
    real: np.ndarray | None = None,
    real_mask: np.ndarray | None = None,
    tol: float = 1e-7,
) -> list[dict]:
    """NTF time and error against tensorly HALS on synthetic tensors (and a real one when given).

    Both start from the same random factors (seed 0) and run at most ``max_iter`` iterations with
    ``tol`` (ours: relative change of the error; tensorly: its absolute criterion; a negative ``tol`` runs
    both for exactly ``max_iter`` iterations); errors are computed the same way (float64,
    :func:`connectome.ntf.relative_error`).
    tensorly cannot mask, so on the real tensor both get it with missing entries set to zero
    (``real (zero-filled)``); our masked fit is an extra row (error over observed entries only).
    """
    rows = []
    for n, w, a in sizes:
        x = synthetic_tensor(n, w, a, rank=rank)
        rows.append(_ntf_row(f"synthetic {n} neurons", x, None, rank, max_iter, device, tol))
        logger.info("%s", rows[-1])
        del x
    if real is not None:
        filled = np.where(np.isfinite(real), real, 0.0).astype(np.float32)
        rows.append(_ntf_row("real (zero-filled)", filled, None, rank, max_iter, device, tol))
        if real_mask is not None:
            fit, t = _timed(
                lambda: ntf_hals(real, rank=rank, mask=real_mask, max_iter=max_iter, tol=tol, device=device)
            )
            rows.append(
                {
                    "tensor": "real (masked, ours only)",
                    "shape": list(real.shape),
                    "rank": rank,
                    "ours_s": round(t, 3),
                    "ours_iter": fit.n_iter,
                    "ours_err": round(fit.rel_error, 5),
                    "tensorly_s": None,
                    "tensorly_err": None,
                    "speedup": None,
                    "peak_rss_mb": round(peak_rss_mb()),
                }
            )
    return rows


def bench_sbm(
    sizes: Sequence[int] = (50, 100, 200, 500, 1000, 2000),
    *,
    mu: float = 0.3,
    average_degree: float = 20.0,
    seed: int = 0,
) -> list[dict]:
    """Weighted-SBM and Leiden wall time and NMI on planted graphs of growing size."""
    rows = []
    for n in sizes:
        g, truth = planted_partition_graph(
            n,
            mu=mu,
            seed=seed,
            average_degree=min(average_degree, n / 3),
            min_community=max(8, n // 50),
            max_community=max(16, n // 5),
        )
        fit, t_sbm = _timed(lambda g=g: fit_weighted_sbm(g, seed=seed))
        pred = dict(zip(g.node_ids, fit.labels.tolist(), strict=True))
        leiden, t_leiden = _timed(lambda g=g: leiden_communities(g, seed=seed))
        rows.append(
            {
                "nodes": n,
                "edges": len(g.edges),
                "planted": len(set(truth.values())),
                "sbm_blocks": fit.n_blocks,
                "sbm_s": round(t_sbm, 2),
                "sbm_nmi": round(nmi(truth, pred), 3),
                "leiden_s": round(t_leiden, 3),
                "leiden_nmi": round(nmi(truth, leiden), 3),
                "peak_rss_mb": round(peak_rss_mb()),
            }
        )
        logger.info("%s", rows[-1])
    return rows


def bench_planted(
    mus: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6),
    *,
    n_nodes: int = 500,
    average_degree: float = 20.0,
    seeds: Sequence[int] = (0, 1, 2),
) -> list[dict]:
    """Mean NMI (over ``seeds``) of the weighted SBM and Leiden against the planted partition, per ``mu``."""
    rows = []
    for mu in mus:
        sbm, lei, blocks, planted = [], [], [], []
        for seed in seeds:
            g, truth = planted_partition_graph(
                n_nodes, mu=mu, seed=seed, average_degree=average_degree, min_community=20, max_community=n_nodes // 5
            )
            fit = fit_weighted_sbm(g, seed=seed)
            sbm.append(nmi(truth, dict(zip(g.node_ids, fit.labels.tolist(), strict=True))))
            lei.append(nmi(truth, leiden_communities(g, seed=seed)))
            blocks.append(fit.n_blocks)
            planted.append(len(set(truth.values())))
        rows.append(
            {
                "mu": mu,
                "nodes": n_nodes,
                "planted_mean": round(float(np.mean(planted)), 1),
                "sbm_blocks_mean": round(float(np.mean(blocks)), 1),
                "sbm_nmi": round(float(np.mean(sbm)), 3),
                "leiden_nmi": round(float(np.mean(lei)), 3),
                "sbm_minus_leiden": round(float(np.mean(sbm) - np.mean(lei)), 3),
            }
        )
        logger.info("%s", rows[-1])
    return rows


def format_table(rows: Sequence[dict]) -> str:
    """Rows of equal keys as a Markdown table.

    Examples
    --------
    >>> print(format_table([{"a": 1, "b": "x"}]))
    | a | b |
    |---|---|
    | 1 | x |
    """
    if not rows:
        return "(no rows)"
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
    for row in rows:
        lines.append("| " + " | ".join("" if row[k] is None else str(row[k]) for k in keys) + " |")
    return "\n".join(lines)

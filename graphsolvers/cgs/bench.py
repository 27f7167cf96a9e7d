"""Forward+backward time and peak memory of the CGS fixed-point layer: sparse (ours) vs dense.

The workload is the CGS layer at scale: a random graph with ``n`` nodes and ``degree·n`` edges (no
self-loops), ``M`` heads whose edge coefficients come from per-edge scores and per-node gates
exactly as in :class:`~graphsolvers.cgs.model.AttentionEncoder` (``σ(gate) · softmax(score)``), node
biases, the fixed point ``x = γ·A·x + b`` and a scalar loss; gradients flow back to scores, gates and
biases through the implicit backward pass. The encoder MLPs are left out: their cost is the same
for both formulations.

* ``sparse`` — :class:`~graphsolvers.fixedpoint.graphmap.GraphLinearMap` (edge lists / block-diagonal CSR);
* ``dense`` — the formulation of the official code: ``A`` materialised as an ``M × N × N`` tensor and
  ``M`` batched dense products per iteration (same solver, same implicit backward).

Each measurement runs in a fresh subprocess (after a warm-up on a 64-node graph, so one-time start-up
costs of thread pools and the autograd engine are not timed) so ``peak_mb`` (the growth of the process's peak
resident memory over its resident memory before the run; on a GPU, ``max_memory_allocated``) is
not polluted by earlier runs.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any, Literal

import torch

from graphsolvers.cgs.layer import cgs_fixed_point, gated_segment_softmax
from graphsolvers.errors import ToolkitError
from graphsolvers.fixedpoint.graphmap import GraphLinearMap
from graphsolvers.fixedpoint.implicit import implicit_fixed_point

__all__ = ["DEFAULT_SIZES", "bench_one", "format_table", "run_bench"]

DEFAULT_SIZES = (1024, 4096, 16384, 65536, 262144, 1048576)


def bench_one(
    n: int,
    impl: Literal["sparse", "dense"],
    *,
    heads: int = 16,
    degree: int = 6,
    gamma: float = 0.9,
    max_iter: int = 100,
    tol: float = 1e-4,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, Any]:
    """One row: ``n, edges, impl, forward_s, backward_s, peak_mb, cpu_s, forward_iter, backward_iter``.

    ``forward_s`` / ``backward_s`` are wall-clock seconds; ``cpu_s`` is the process CPU time of both
    (all threads), which shows how much a busy machine stretched the wall clock.

    Examples
    --------
    >>> row = bench_one(200, "sparse", heads=2)
    >>> row["edges"], row["impl"], row["forward_iter"] > 0
    (1200, 'sparse', True)
    """
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(seed)
    e = degree * n
    src = torch.randint(0, n, (e,), generator=gen)
    dst = (src + torch.randint(1, n, (e,), generator=gen)) % n
    dst, order = torch.sort(dst, stable=True)  # stored target-major (CSR order), as collate() keeps batches
    src = src[order]
    src, dst = src.to(dev), dst.to(dev)
    edge_index = torch.stack([src, dst])
    score = torch.randn(e, heads, generator=gen).to(dev).requires_grad_()
    gate = (torch.randn(n, heads, generator=gen) + 2.0).to(dev).requires_grad_()
    bias = torch.randn(n, heads, generator=gen).to(dev).requires_grad_()
    rss0 = _rss_mb()
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        torch.cuda.synchronize(dev)
    t0, c0 = time.perf_counter(), time.process_time()
    if impl == "sparse":  # the CGS layer of the model: coefficients, solves and gradients in one
        op = GraphLinearMap(edge_index, n, gamma=gamma)
        xt, stats = cgs_fixed_point(score, gate, bias.T.contiguous(), op, max_iter=max_iter, tol=tol)
        x = xt.T
    elif impl == "dense":
        coeff = gated_segment_softmax(score, gate, dst, n)
        A = torch.zeros(heads, n, n, device=dev).index_put(
            (torch.arange(heads, device=dev).repeat_interleave(e), dst.repeat(heads), src.repeat(heads)),
            coeff.T.reshape(-1),
            accumulate=True,
        )

        def f(x: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return gamma * torch.bmm(a, x.T.unsqueeze(2))[:, :, 0].T + b

        def vjp(x: torch.Tensor, inputs: list[torch.Tensor], u: torch.Tensor) -> torch.Tensor:
            return gamma * torch.bmm(inputs[0].transpose(1, 2), u.T.unsqueeze(2))[:, :, 0].T

        x, stats = implicit_fixed_point(f, torch.zeros_like(bias), [A, bias], max_iter=max_iter, tol=tol, f_x_vjp=vjp)
    else:
        raise ValueError(f"impl must be 'sparse' or 'dense', got {impl!r}")
    loss = (x**2).mean()
    _sync(dev)
    t1 = time.perf_counter()
    loss.backward()
    _sync(dev)
    t2, c2 = time.perf_counter(), time.process_time()
    peak = torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else _peak_rss_mb() - rss0
    return {
        "n": n,
        "edges": e,
        "impl": impl,
        "forward_s": round(t1 - t0, 4),
        "backward_s": round(t2 - t1, 4),
        "peak_mb": round(peak, 1),
        "cpu_s": round(c2 - c0, 4),
        "forward_iter": stats["forward"].n_iter,
        "backward_iter": stats["backward"].n_iter,
    }


def run_bench(
    sizes: Sequence[int] = DEFAULT_SIZES,
    *,
    dense_max: int = 4096,
    heads: int = 16,
    degree: int = 6,
    timeout: float = 900.0,
    device: str = "cpu",
) -> list[dict[str, Any]]:
    """Rows of :func:`bench_one` for every size (dense only up to ``dense_max`` nodes), one subprocess each.

    A run that fails or exceeds ``timeout`` seconds gives a row with ``"error"`` instead of numbers.
    """
    rows = []
    for n in sizes:
        for impl in ("sparse", "dense"):
            if impl == "dense" and n > dense_max:
                continue
            args = {"n": n, "impl": impl, "heads": heads, "degree": degree, "device": device}
            cmd = [sys.executable, "-m", "graphsolvers.cgs.bench", json.dumps(args)]
            try:
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired:
                rows.append({"n": n, "edges": degree * n, "impl": impl, "error": f"timeout after {timeout:g} s"})
                continue
            if proc.returncode != 0:
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                rows.append({"n": n, "edges": degree * n, "impl": impl, "error": last[:200]})
                continue
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of bench rows, with the sparse speed-up where a dense row exists."""
    dense = {r["n"]: r for r in rows if r["impl"] == "dense" and "error" not in r}
    lines = [
        f"{'n':>9} {'edges':>9} {'impl':>6} {'forward_s':>10} {'backward_s':>10} {'peak_mb':>9} {'cpu_s':>8} "
        f"{'iters':>7} {'speed-up':>8}"
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"{r['n']:>9} {r['edges']:>9} {r['impl']:>6}  {r['error']}")
            continue
        total = r["forward_s"] + r["backward_s"]
        up = ""
        if r["impl"] == "sparse" and r["n"] in dense:
            d = dense[r["n"]]
            up = f"{(d['forward_s'] + d['backward_s']) / total:.0f}x"
        lines.append(
            f"{r['n']:>9} {r['edges']:>9} {r['impl']:>6} {r['forward_s']:>10.3f} {r['backward_s']:>10.3f} "
            f"{r['peak_mb']:>9.1f} {r['cpu_s']:>8.2f} {r['forward_iter']:>3}/{r['backward_iter']:<3} {up:>8}"
        )
    return "\n".join(lines)


def _sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    try:
        options = json.loads(sys.argv[1])
        # warm-up on a tiny graph: thread pools, autograd engine and kernels start before the clock does
        bench_one(64, options.get("impl", "sparse"), heads=2, device=options.get("device", "cpu"))
        print(json.dumps(bench_one(**options)))
    except (ToolkitError, RuntimeError, ValueError) as err:
        print(f"{type(err).__name__}: {err}", file=sys.stderr)
        sys.exit(2)

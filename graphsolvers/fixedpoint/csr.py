"""Block-diagonal CSR kernels under the graph operators: patterns, head-major values, products, a buffer ring.

``M`` heads of ``N`` nodes are one ``(M·N) × (M·N)`` block-diagonal CSR matrix; vectors are
head-major ``(M, N)`` (the CSR's own layout). Nothing here knows about gradients: the operators of
:mod:`graphsolvers.fixedpoint.graphmap` build on these kernels.
"""

from __future__ import annotations

import warnings

import torch

__all__ = ["is_sorted"]


def _head_major(
    weight: torch.Tensor, perm: torch.Tensor | None, scale: float, chunk: int = 1 << 16, out: torch.Tensor | None = None
) -> torch.Tensor:
    """``scale · weight[perm].T`` as a contiguous ``(M, E)`` tensor, built a cache-sized slab at a time.

    Gathering and transposing ``chunk`` edges at a time keeps the slab in cache between the two
    steps and needs no ``(E, M)`` temporary (on a CPU a fresh tensor of hundreds of megabytes
    costs as much in page faults as the copy itself).
    """
    n_edges, n_heads = weight.shape
    values = torch.empty(n_heads, n_edges, dtype=weight.dtype, device=weight.device) if out is None else out
    slab = None if perm is None else torch.empty(min(chunk, n_edges), n_heads, dtype=weight.dtype, device=weight.device)
    for start in range(0, n_edges, chunk):
        stop = min(start + chunk, n_edges)
        if perm is None:
            rows = weight[start:stop]
        else:
            rows = torch.index_select(weight, 0, perm[start:stop], out=slab[: stop - start])
        torch.mul(rows.T, scale, out=values[:, start:stop])
    return values


def _csr_pattern(
    rows: torch.Tensor, cols: torch.Tensor, n: int
) -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """``(perm, crow, col)`` of the CSR pattern; ``perm`` is None when ``rows`` is already sorted."""
    crow = torch.zeros(n + 1, dtype=torch.long, device=rows.device)
    crow[1:] = torch.cumsum(torch.bincount(rows, minlength=n), 0)
    if is_sorted(rows):
        return None, crow, cols
    perm = torch.argsort(rows, stable=True)
    return perm, crow, cols[perm]


def is_sorted(index: torch.Tensor) -> bool:
    """Whether a 1-D index tensor is in non-decreasing order (edges stored target-major, as CSR keeps them).

    Examples
    --------
    >>> import torch
    >>> is_sorted(torch.tensor([0, 0, 2])), is_sorted(torch.tensor([1, 0]))
    (True, False)
    """
    return index.numel() < 2 or bool((index[1:] >= index[:-1]).all())


def _csr_apply_heads(
    csr: torch.Tensor, xt: torch.Tensor, add: torch.Tensor | None = None, *, out: torch.Tensor | None = None
) -> torch.Tensor:
    flat = xt.reshape(-1)
    res = None if out is None else out.view(-1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "sparse CSR support is in beta"
        # CSR matrix-vector product: about a third faster than sparse.mm on a (M·N, 1) matrix on CPU
        res = torch.mv(csr, flat, out=res) if add is None else torch.addmv(add.reshape(-1), csr, flat, out=res)
    return res.view(xt.shape)


class _Ring:
    """Two output buffers used in turn: an iteration's product never overwrites its own input.

    A solver may therefore keep at most the last two outputs of ``f`` without copying them (both
    solvers of :data:`SOLVERS` do: Picard iteration holds the current and previous iterate, Anderson
    copies each output into its history); a solver registered there must do the same.

    Reusing memory matters on a CPU: a fresh tensor of tens of megabytes costs more in page faults
    than the arithmetic written into it.
    """

    def __init__(self) -> None:
        self.buffers: list[torch.Tensor] = []
        self.turn = 0

    def next(self, like: torch.Tensor) -> torch.Tensor:
        if len(self.buffers) < 2:
            self.buffers.append(torch.empty_like(like, memory_format=torch.contiguous_format))
            self.turn = len(self.buffers) - 1
            return self.buffers[-1]
        self.turn ^= 1
        buf = self.buffers[self.turn]
        if buf.data_ptr() == like.data_ptr():  # never the input (a solver may feed an output back)
            self.turn ^= 1
            buf = self.buffers[self.turn]
        return buf

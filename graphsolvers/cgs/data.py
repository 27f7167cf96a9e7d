"""Batches of task samples as one block-diagonal graph (tensors, for the hot loop)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from graphsolvers.tasks.base import TaskSample

__all__ = ["GraphBatch", "collate"]


@dataclass
class GraphBatch:
    """Several graphs as one: node rows concatenated, edge lists offset (a block-diagonal system).

    Attributes
    ----------
    x : (N, F) node features; edge_index : (2, E); edge_attr : (E, Fe)
    batch : (N,) graph of each node; num_graphs : int
    y : (N, 1) targets or None
    """

    x: torch.Tensor
    edge_index: torch.Tensor
    edge_attr: torch.Tensor
    batch: torch.Tensor
    num_graphs: int
    y: torch.Tensor | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    def sizes(self) -> list[int]:
        """Nodes per graph, in order."""
        return torch.bincount(self.batch, minlength=self.num_graphs).tolist()


def collate(samples: Sequence[TaskSample], *, device: str | torch.device = "cpu") -> GraphBatch:
    """One :class:`GraphBatch` from ``samples`` (on ``device``), edges sorted by target (CSR order).

    Target-major edges make the per-node sums of the CGS layer contiguous reductions and its
    forward operator a CSR matrix with no permutation (see :func:`~graphsolvers.fixedpoint.csr.is_sorted`).

    Examples
    --------
    >>> from graphsolvers.tasks import generate_gvi
    >>> s = generate_gvi(2, seed=0)
    >>> b = collate(s)
    >>> b.num_nodes == s[0].num_nodes + s[1].num_nodes, b.num_graphs
    (True, 2)
    """
    offsets = np.cumsum([0] + [s.num_nodes for s in samples[:-1]])
    edge_index = np.concatenate([s.edge_index + o for s, o in zip(samples, offsets, strict=True)], axis=1)
    order = np.argsort(edge_index[1], kind="stable")
    edge_index = edge_index[:, order]
    batch = np.concatenate([np.full(s.num_nodes, k) for k, s in enumerate(samples)])
    has_y = all(s.y is not None for s in samples)
    dev = torch.device(device)
    return GraphBatch(
        x=torch.from_numpy(np.concatenate([s.x for s in samples])).float().to(dev),
        edge_index=torch.from_numpy(edge_index).long().to(dev),
        edge_attr=torch.from_numpy(np.concatenate([s.edge_attr for s in samples])[order]).float().to(dev),
        batch=torch.from_numpy(batch).long().to(dev),
        num_graphs=len(samples),
        y=torch.from_numpy(np.concatenate([s.y for s in samples])).float().to(dev) if has_y else None,
    )

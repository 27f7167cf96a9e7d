"""Weighted neuron graphs from NTF components, and community detection on them.

Two detectors share one signature, ``(graph, *, seed) -> {node id: community}``:

:func:`sbm_communities`
    A generative **degree-corrected weighted stochastic block model** that chooses its number of blocks by
    minimum description length (MDL). The topology is the microcanonical degree-corrected SBM of Peixoto
    (2017, non-nested, uniform priors): DL = −log P(A | e, k, b) − log P(k | e, b) − log P(e) − log P(b) with
    ``P(A|e,k,b) = Π_{r<s} e_rs! Π_r e_rr!! Π_i k_i! / Π_r e_r!`` (simple graph), degrees uniform given block
    degree sums, the block edge-count matrix uniform over multisets, and the partition uniform given block
    sizes and K. Each edge weight is exponential with a rate shared by the pair of blocks it joins (the
    edge-covariate layer of Peixoto's weighted SBM); the rate has a conjugate Gamma(1, mean weight) prior and
    is integrated out, adding ``−log[w̄ · m_rs! / (w̄ + S_rs)^(m_rs+1)]`` per block pair (``m_rs`` edges with
    summed weight ``S_rs``; scale free: multiplying all weights by a constant leaves the partition unchanged).
    The search starts from regularised spectral clustering into ``max_blocks`` blocks, improves the DL by
    greedy single-node moves, then repeatedly merges the pair of blocks whose merge costs least (re-running
    the node moves after each merge) down to one block, and returns the partition of smallest DL — so K is
    chosen by the model, not given (graph-tool's agglomerative heuristic, simplified: no nested hierarchy,
    no merge-split Monte Carlo). Known limit: without the nested prior the DL is conservative for small
    communities in small graphs (it may merge planted groups of ~10 nodes in a 50-node graph that Leiden
    separates); from a few hundred nodes on it matches or beats Leiden (``connectome bench sbm|planted``).
:func:`leiden_communities`
    Leiden modularity optimisation (``leidenalg`` on ``igraph``), the baseline.

:func:`planted_partition_graph` draws LFR-style weighted benchmarks (power-law degrees and community sizes,
mixing ``mu`` = expected fraction of each node's edges and weight leaving its community) and :func:`nmi`
scores a partition against the planted truth.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.special import gammaln

from connectome.errors import ParameterError
from graphsolvers.graph import Edge, Graph, Node, to_tensors

__all__ = [
    "METHODS",
    "SBMFit",
    "component_graph",
    "detect_communities",
    "fit_weighted_sbm",
    "leiden_communities",
    "nmi",
    "planted_partition_graph",
    "sbm_communities",
]

logger = logging.getLogger(__name__)

METHODS = ("sbm", "leiden")
Method = Literal["sbm", "leiden"]


# ---------------------------------------------------------------------------------------------- graphs
def component_graph(
    pair_weights: np.ndarray,
    pairs: np.ndarray,
    neurons: Sequence[str],
    *,
    knn: int = 10,
    attrs: Mapping[str, object] | None = None,
) -> Graph:
    """The weighted, undirected neuron graph of one component's pair loadings.

    Each neuron keeps edges to its ``knn`` strongest partners (positive weight only); the graph is the union
    of those edges (symmetric k-nearest-neighbour sparsification). Weights are scaled so the largest is 1.

    Parameters
    ----------
    pair_weights : ndarray, shape (pairs,)
        Non-negative loading of each neuron pair.
    pairs : ndarray of int, shape (pairs, 2)
        Neuron rows of each pair.
    neurons : sequence of str
        Node ids (every neuron is a node, also when it has no edge).
    knn : int
        Neighbours kept per neuron (>= 1).

    Examples
    --------
    >>> from connectome.affinity import pair_index
    >>> g = component_graph(np.array([1.0, 0.0, 0.5]), pair_index(3), ["A", "B", "C"], knn=1)
    >>> [(e.source, e.target, e.weight) for e in g.edges]
    [('A', 'B', 1.0), ('B', 'C', 0.5)]
    """
    if knn < 1:
        raise ParameterError(f"knn must be >= 1, got {knn}")
    n = len(neurons)
    pair_weights = np.asarray(pair_weights, dtype=float)
    if pair_weights.shape != (len(pairs),):
        raise ParameterError(f"{pair_weights.shape[0]} pair weights for {len(pairs)} pairs")
    dense = np.zeros((n, n))
    dense[pairs[:, 0], pairs[:, 1]] = pair_weights
    dense += dense.T
    keep = np.zeros((n, n), dtype=bool)
    k = min(knn, n - 1)
    top = np.argsort(-dense, axis=1, kind="stable")[:, :k]
    keep[np.repeat(np.arange(n), k), top.ravel()] = True
    keep |= keep.T
    keep &= dense > 0
    scale = dense.max() if dense.max() > 0 else 1.0
    iu, ju = np.nonzero(np.triu(keep, k=1))
    return Graph(
        nodes=[Node(id=name, text=name, kind="neuron") for name in neurons],
        edges=[
            Edge(source=neurons[i], target=neurons[j], weight=float(dense[i, j] / scale))
            for i, j in zip(iu.tolist(), ju.tolist(), strict=True)
        ],
        directed=False,
        attrs=dict(attrs or {}),
    )


def _edge_arrays(graph: Graph) -> tuple[int, np.ndarray, np.ndarray]:
    """Node count, unique undirected edges ``(E, 2)`` with ``u < v`` and their summed weights."""
    t = to_tensors(graph)
    n = t.num_nodes
    ei = t.edge_index.numpy()
    w = t.edge_weight.double().numpy()
    if (w < 0).any():
        raise ParameterError(f"community detection needs non-negative edge weights; found {w.min():g}")
    u, v = np.minimum(ei[0], ei[1]), np.maximum(ei[0], ei[1])
    keep = (u != v) & (w > 0)
    key = u[keep] * n + v[keep]
    uniq, inv = np.unique(key, return_inverse=True)
    weights = np.bincount(inv, weights=w[keep], minlength=len(uniq))
    if not graph.directed:
        weights = weights / 2.0  # to_tensors lists every undirected edge in both directions
    edges = np.stack([uniq // n, uniq % n], axis=1) if len(uniq) else np.zeros((0, 2), dtype=np.int64)
    return n, edges.astype(np.int64), weights


# ---------------------------------------------------------------------------------------------- weighted SBM
@dataclass
class SBMFit:
    """A fitted weighted DC-SBM: labels, number of blocks, description length (nats) and the DL by ``K``."""

    labels: np.ndarray
    n_blocks: int
    description_length: float
    candidates: dict[int, float] = field(default_factory=dict)


def _lgf(x: np.ndarray | float) -> np.ndarray:
    """``log(x!)``."""
    return gammaln(np.asarray(x, dtype=float) + 1.0)


def _log_multiset(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``log C(n + k − 1, k)`` (multisets of size k from n kinds); 0 where ``n == 0``."""
    n, k = np.asarray(n, dtype=float), np.asarray(k, dtype=float)
    ok = n > 0
    n1 = np.where(ok, n, 1.0)
    return np.where(ok, gammaln(n1 + k) - gammaln(k + 1.0) - gammaln(n1), 0.0)


def _weight_term(m: np.ndarray, s: np.ndarray, mean_w: float) -> np.ndarray:
    """−log marginal likelihood of ``m`` exponential weights summing to ``s`` (0 where no edge).

    The rate of each block pair has a conjugate Gamma(1, ``mean_w``) prior (mean rate 1/``mean_w``, the
    graph's mean weight), so ``p = mean_w · m! / (mean_w + s)^(m+1)``; rescaling all weights shifts the DL by
    a constant only.
    """
    m = np.asarray(m, dtype=float)
    ok = m > 0.5
    val = -math.log(mean_w) - gammaln(m + 1.0) + (m + 1.0) * np.log(mean_w + np.maximum(s, 0.0))
    return np.where(ok, val, 0.0)


def _k_terms(n_blocks: int, n_nodes: int, n_edges: int) -> float:
    """DL terms that depend on K only: the edge-count matrix prior and the number of partitions of N into K."""
    if n_blocks <= 0:
        return 0.0
    pairs = n_blocks * (n_blocks + 1) / 2.0
    log_e = float(gammaln(pairs + n_edges) - gammaln(n_edges + 1.0) - gammaln(pairs))
    log_k = float(gammaln(n_nodes) - gammaln(n_blocks) - gammaln(n_nodes - n_blocks + 1.0))
    return log_e + log_k


class _BlockState:
    """Block matrices of a partition, updated in place by single-node moves; DL in nats."""

    def __init__(
        self, n: int, edges: np.ndarray, weights: np.ndarray, labels: np.ndarray, n_blocks: int, *, weighted: bool
    ) -> None:
        self.n, self.n_edges, self.k, self.weighted = n, len(edges), n_blocks, weighted
        self.mean_w = float(weights.mean()) if len(weights) and weights.mean() > 0 else 1.0
        self.labels = labels.astype(np.int64).copy()
        self.deg = np.bincount(edges.ravel(), minlength=n).astype(float)
        src = np.concatenate([edges[:, 0], edges[:, 1]])
        dst = np.concatenate([edges[:, 1], edges[:, 0]])
        ww = np.concatenate([weights, weights])
        order = np.argsort(src, kind="stable")
        self.nbr, self.nw = dst[order], ww[order]
        self.ptr = np.concatenate([[0], np.cumsum(np.bincount(src, minlength=n))])
        self.rebuild()

    def rebuild(self) -> None:
        k, lab = self.k, self.labels
        u, v = self.nbr, np.repeat(np.arange(self.n), np.diff(self.ptr))
        m = np.zeros((k, k))
        s = np.zeros((k, k))
        np.add.at(m, (lab[u], lab[v]), 1.0)  # both directions: off-diagonal counts, diagonal doubled
        np.add.at(s, (lab[u], lab[v]), self.nw)
        diag = np.diag_indices(k)
        m[diag] /= 2.0
        s[diag] /= 2.0
        self.m, self.s = m, s  # edges / summed weight between blocks (diagonal: internal edges once)
        self.kappa = m.sum(axis=1) + np.diag(m)  # edge ends per block
        self.size = np.bincount(lab, minlength=k).astype(float)

    def description_length(self) -> float:
        return self._dl(self.m, self.s, self.kappa, self.size)

    def _dl(self, m: np.ndarray, s: np.ndarray, kappa: np.ndarray, size: np.ndarray) -> float:
        k_eff = int((size > 0).sum())
        iu = np.triu_indices(len(size), k=1)
        dm = np.diag(m)
        topo = -(_lgf(m[iu]).sum() + (_lgf(dm) + dm * math.log(2.0)).sum() - _lgf(kappa).sum())
        degrees = _log_multiset(size, kappa).sum()
        partition = float(_lgf(self.n)) - _lgf(size).sum() + math.log(self.n)
        weights = np.triu(_weight_term(m, s, self.mean_w)).sum() if self.weighted else 0.0
        return float(topo + degrees + partition + weights + _k_terms(k_eff, self.n, self.n_edges))

    def neighbour_sums(self, v: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.ptr[v], self.ptr[v + 1]
        blocks = self.labels[self.nbr[lo:hi]]
        return (
            np.bincount(blocks, minlength=self.k).astype(float),
            np.bincount(blocks, weights=self.nw[lo:hi], minlength=self.k),
        )

    def apply(self, v: int, block: int, c: np.ndarray, w: np.ndarray, sign: float) -> None:
        self.m[block] += sign * c
        self.m[:, block] += sign * c
        self.m[block, block] -= sign * c[block]
        self.s[block] += sign * w
        self.s[:, block] += sign * w
        self.s[block, block] -= sign * w[block]
        self.kappa[block] += sign * self.deg[v]
        self.size[block] += sign
        self.labels[v] = block if sign > 0 else -1

    def add_costs(self, v: int, cands: np.ndarray, c: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Change of DL from adding (removed) node ``v`` to each candidate block.

        Adding ``v`` to block ``s`` raises ``m[s, t]`` by ``c[t]`` (its edges into block ``t``; on the diagonal
        these are new internal edges, counted once), so only the columns with ``c[t] > 0`` change.
        """
        cols = np.flatnonzero(c > 0)
        kappa, size = self.kappa[cands], self.size[cands]
        m = self.m[cands][:, cols]
        new_m = m + c[cols]
        dv = self.deg[v]
        edges_in = (gammaln(new_m + 1.0) - gammaln(m + 1.0)).sum(axis=1)
        in_s = c[cands]  # edges from v into the candidate block itself
        topo = -(edges_in + in_s * math.log(2.0) - (gammaln(kappa + dv + 1.0) - gammaln(kappa + 1.0)))
        degrees = _log_multiset(size + 1, kappa + dv) - _log_multiset(size, kappa)
        partition = -np.log(size + 1)
        cost = topo + degrees + partition
        if self.weighted:
            s = self.s[cands][:, cols]
            new_s = s + w[cols]
            cost = cost + (_weight_term(new_m, new_s, self.mean_w) - _weight_term(m, s, self.mean_w)).sum(axis=1)
        k_now = int((self.size > 0).sum())
        opens = size == 0
        if opens.any():
            cost = cost + np.where(
                opens, _k_terms(k_now + 1, self.n, self.n_edges) - _k_terms(k_now, self.n, self.n_edges), 0.0
            )
        return cost

    def sweep(self, rng: np.random.Generator) -> int:
        """One pass of greedy single-node moves (each node to the neighbouring block of lowest DL)."""
        moved = 0
        for v in rng.permutation(self.n):
            if self.deg[v] == 0:
                continue
            v = int(v)
            c, w = self.neighbour_sums(v)
            current = int(self.labels[v])
            self.apply(v, current, c, w, -1.0)
            cands = np.unique(np.concatenate([[current], np.flatnonzero(c > 0)]))
            if len(cands) == 1:  # all neighbours in its own block: nowhere else to go
                self.apply(v, current, c, w, +1.0)
                continue
            costs = self.add_costs(v, cands, c, w)
            if self.size[current] == 0:  # v was alone: leaving removes a block
                k_now = int((self.size > 0).sum())
                costs = costs + np.where(
                    cands == current,
                    0.0,
                    _k_terms(k_now, self.n, self.n_edges) - _k_terms(k_now + 1, self.n, self.n_edges),
                )
            here = int(np.flatnonzero(cands == current)[0])
            best = int(np.argmin(costs))
            target = int(cands[best]) if costs[best] < costs[here] - 1e-9 else current
            moved += target != current
            self.apply(v, target, c, w, +1.0)
        return moved

    def merge(self, r: int, s: int) -> None:
        self.labels[self.labels == s] = r
        self.rebuild()

    def cheapest_merge(self) -> tuple[int, int]:
        """The two non-empty blocks whose merge gives the lowest description length."""
        alive = np.flatnonzero(self.size > 0)
        m, s = self.m[np.ix_(alive, alive)], self.s[np.ix_(alive, alive)]
        kappa, size = self.kappa[alive], self.size[alive]
        best, pair = math.inf, (int(alive[0]), int(alive[1]))
        for i in range(len(alive)):
            for j in range(i + 1, len(alive)):
                keep = np.ones(len(alive), dtype=bool)
                keep[j] = False
                mm, ss = m.copy(), s.copy()
                mm[i] += mm[j]
                mm[:, i] += mm[:, j]
                ss[i] += ss[j]
                ss[:, i] += ss[:, j]
                # m[i, i] gained m[i, j] twice and m[j, j] once: internal edges of the merged block
                mm[i, i] = m[i, i] + m[j, j] + m[i, j]
                ss[i, i] = s[i, i] + s[j, j] + s[i, j]
                kk, sz = kappa.copy(), size.copy()
                kk[i] += kk[j]
                sz[i] += sz[j]
                dl = self._dl(mm[np.ix_(keep, keep)], ss[np.ix_(keep, keep)], kk[keep], sz[keep])
                if dl < best:
                    best, pair = dl, (int(alive[i]), int(alive[j]))
        return pair


def _spectral_labels(n: int, edges: np.ndarray, weights: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    from scipy.cluster.vq import kmeans2
    from scipy.sparse import coo_matrix
    from scipy.sparse.linalg import eigsh

    if k <= 1 or n <= k:
        return np.zeros(n, dtype=np.int64) if k <= 1 else np.arange(n) % k
    rows = np.concatenate([edges[:, 0], edges[:, 1]])
    cols = np.concatenate([edges[:, 1], edges[:, 0]])
    adj = coo_matrix((np.concatenate([weights, weights]), (rows, cols)), shape=(n, n)).tocsr()
    deg = np.asarray(adj.sum(axis=1)).ravel()
    tau = deg.mean() if deg.mean() > 0 else 1.0
    dinv = 1.0 / np.sqrt(deg + tau)
    lap = adj.multiply(dinv[:, None]).multiply(dinv[None, :]).tocsr()
    if n <= 500:
        vals, vecs = np.linalg.eigh(lap.toarray())
        vecs = vecs[:, np.argsort(-vals)[:k]]
    else:
        vals, vecs = eigsh(lap, k=k, which="LA", v0=rng.random(n))
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    vecs = vecs / np.where(norms > 0, norms, 1.0)
    _, labels = kmeans2(vecs, k, minit="++", seed=rng, iter=30)
    return labels.astype(np.int64)


def _compact(labels: np.ndarray) -> np.ndarray:
    """Relabel blocks 0..K-1 by decreasing size (ties: smaller old label first)."""
    uniq, inv, counts = np.unique(labels, return_inverse=True, return_counts=True)
    order = np.lexsort((uniq, -counts))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[inv]


def fit_weighted_sbm(
    graph: Graph,
    *,
    max_blocks: int | None = None,
    seed: int = 0,
    max_sweeps: int = 20,
    weighted: bool = True,
) -> SBMFit:
    """Fit the weighted degree-corrected SBM of the module docstring; the number of blocks is inferred.

    Parameters
    ----------
    graph : Graph
        Read as undirected; non-negative weights (``None`` = 1); self-loops and zero weights are ignored.
    max_blocks : int, optional
        Blocks of the initial (finest) partition (default ``min(40, max(2, 2·√N))``).
    seed : int
    max_sweeps : int
        Greedy node-move sweeps after the initial partition (at most 3 after each merge).
    weighted : bool
        Model the weights (default); False fits the topology only.

    Examples
    --------
    >>> g, truth = planted_partition_graph(60, mu=0.1, seed=0, min_community=15, max_community=30)
    >>> fit = fit_weighted_sbm(g, seed=0)
    >>> fit.n_blocks == len(set(truth.values())), nmi(truth, dict(zip(g.node_ids, fit.labels.tolist()))) > 0.9
    (True, True)
    """
    n, edges, weights = _edge_arrays(graph)
    if n == 0:
        return SBMFit(labels=np.zeros(0, dtype=np.int64), n_blocks=0, description_length=0.0)
    limit = max_blocks if max_blocks is not None else min(40, max(2, int(2 * math.sqrt(n))))
    if limit < 1:
        raise ParameterError(f"max_blocks must be >= 1, got {max_blocks}")
    limit = min(limit, n)
    rng = np.random.default_rng(seed)
    state = _BlockState(n, edges, weights, _spectral_labels(n, edges, weights, limit, rng), limit, weighted=weighted)
    if len(edges) == 0:
        return SBMFit(labels=np.arange(n), n_blocks=n, description_length=0.0)
    best_dl, best_labels = math.inf, state.labels.copy()
    candidates: dict[int, float] = {}
    sweeps = max_sweeps
    while True:
        for _ in range(sweeps):
            if state.sweep(rng) == 0:
                break
        sweeps = min(max_sweeps, 3)  # after a merge, a few sweeps settle the moved nodes
        dl = state.description_length()
        k_eff = int((state.size > 0).sum())
        candidates[k_eff] = min(dl, candidates.get(k_eff, math.inf))
        if dl < best_dl:
            best_dl, best_labels = dl, state.labels.copy()
        if k_eff <= 1:
            break
        state.merge(*state.cheapest_merge())
    labels = _compact(best_labels)
    logger.debug(
        "weighted SBM: N=%d E=%d, DL by K %s", n, len(edges), {k: round(v, 1) for k, v in sorted(candidates.items())}
    )
    return SBMFit(
        labels=labels,
        n_blocks=int(labels.max() + 1),
        description_length=best_dl,
        candidates=dict(sorted(candidates.items())),
    )


def sbm_communities(graph: Graph, *, seed: int = 0, max_blocks: int | None = None) -> dict[str, int]:
    """Communities of ``graph`` from the weighted DC-SBM (:func:`fit_weighted_sbm`): ``{node id: block}``.

    Examples
    --------
    >>> g, truth = planted_partition_graph(40, mu=0.1, seed=1, min_community=20, max_community=20)
    >>> nmi(truth, sbm_communities(g)) > 0.9
    True
    """
    fit = fit_weighted_sbm(graph, seed=seed, max_blocks=max_blocks)
    return dict(zip(graph.node_ids, fit.labels.tolist(), strict=True))


def leiden_communities(graph: Graph, *, seed: int = 0, resolution: float = 1.0) -> dict[str, int]:
    """Communities of ``graph`` by Leiden modularity optimisation (``leidenalg``): ``{node id: community}``.

    Examples
    --------
    >>> g, truth = planted_partition_graph(40, mu=0.1, seed=1, min_community=20, max_community=20)
    >>> nmi(truth, leiden_communities(g)) > 0.9
    True
    """
    import igraph as ig
    import leidenalg

    n, edges, weights = _edge_arrays(graph)
    g = ig.Graph(n=n, edges=edges.tolist(), directed=False)
    g.es["weight"] = weights.tolist()
    part = leidenalg.find_partition(
        g, leidenalg.RBConfigurationVertexPartition, weights="weight", resolution_parameter=resolution, seed=seed
    )
    labels = _compact(np.asarray(part.membership))
    return dict(zip(graph.node_ids, labels.tolist(), strict=True))


def detect_communities(graph: Graph, *, method: str = "sbm", seed: int = 0) -> dict[str, int]:
    """Dispatch to :func:`sbm_communities` or :func:`leiden_communities`.

    Raises
    ------
    ParameterError
        For a method other than ``"sbm"`` or ``"leiden"``.
    """
    if method == "sbm":
        return sbm_communities(graph, seed=seed)
    if method == "leiden":
        return leiden_communities(graph, seed=seed)
    raise ParameterError(f"unknown community method {method!r}; choose one of {', '.join(METHODS)}")


# ---------------------------------------------------------------------------------------------- benchmarks
def nmi(truth: Mapping[str, int] | Sequence[int], pred: Mapping[str, int] | Sequence[int]) -> float:
    """Normalised mutual information (arithmetic-mean normalisation) of two partitions.

    Mappings are compared on their common keys.

    Examples
    --------
    >>> nmi([0, 0, 1, 1], [5, 5, 7, 7]), nmi([0, 0, 1, 1], [0, 1, 0, 1])
    (1.0, 0.0)
    """
    if isinstance(truth, Mapping) and isinstance(pred, Mapping):
        keys = [k for k in truth if k in pred]
        a, b = [truth[k] for k in keys], [pred[k] for k in keys]
    else:
        a, b = list(truth), list(pred)  # type: ignore[arg-type]
    if len(a) != len(b):
        raise ParameterError(f"partitions of different sizes: {len(a)} and {len(b)}")
    if not a:
        return float("nan")
    _, ia = np.unique(np.asarray(a), return_inverse=True)
    _, ib = np.unique(np.asarray(b), return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1))
    np.add.at(table, (ia, ib), 1.0)
    p = table / table.sum()
    pa, pb = p.sum(axis=1), p.sum(axis=0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(pa, pb)[nz])).sum())
    ha, hb = -float((pa * np.log(pa)).sum()), -float((pb * np.log(pb)).sum())
    if ha == 0 and hb == 0:
        return 1.0
    return max(0.0, mi / ((ha + hb) / 2.0)) if (ha + hb) > 0 else 0.0


def _power_law_ints(rng: np.random.Generator, n: int, exponent: float, lo: int, hi: int) -> np.ndarray:
    u = rng.random(n)
    a = 1.0 - exponent
    vals = (lo**a + u * (hi**a - lo**a)) ** (1.0 / a)
    return np.floor(vals).astype(int)


def planted_partition_graph(
    n_nodes: int,
    *,
    mu: float,
    seed: int = 0,
    average_degree: float = 12.0,
    max_degree: int | None = None,
    min_community: int = 10,
    max_community: int | None = None,
    degree_exponent: float = 2.5,
    size_exponent: float = 1.5,
    weight_sigma: float = 0.5,
) -> tuple[Graph, dict[str, int]]:
    """An LFR-style weighted planted-partition graph and its planted communities.

    Community sizes and expected degrees follow power laws (exponents ``size_exponent``, ``degree_exponent``).
    Each node sends an expected fraction ``mu`` of its edges outside its community (degree-corrected, Chung–Lu
    within and between communities). Every edge weight is log-normal (``weight_sigma``) with the same mean
    inside and outside, so the expected fraction of each node's *strength* leaving its community is also
    ``mu`` (LFR's ``mu_w = mu_t``) and the weights follow none of the detectors' model assumptions.

    Examples
    --------
    >>> g, truth = planted_partition_graph(100, mu=0.3, seed=0)
    >>> len(g.nodes), len(set(truth.values())) > 1, g.directed
    (100, True, False)
    """
    if not 0.0 <= mu <= 1.0:
        raise ParameterError(f"mixing mu must lie in [0, 1], got {mu}")
    if n_nodes < 2 * min_community:
        raise ParameterError(f"{n_nodes} nodes cannot hold two communities of at least {min_community}")
    rng = np.random.default_rng(seed)
    max_community = max_community or max(min_community, n_nodes // 4)
    sizes: list[int] = []
    while sum(sizes) < n_nodes:
        sizes.append(int(_power_law_ints(rng, 1, size_exponent, min_community, max_community + 1)[0]))
    excess = sum(sizes) - n_nodes
    sizes[-1] -= excess
    if sizes[-1] < min_community:
        extra = sizes.pop()
        for i in range(extra):
            sizes[i % len(sizes)] += 1
    labels = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(labels)
    max_degree = max_degree or max(int(average_degree * 3), 4)
    kmin = max(2, int(average_degree / 2))
    deg = _power_law_ints(rng, n_nodes, degree_exponent, kmin, max_degree + 1).astype(float)
    deg *= average_degree / deg.mean()
    iu, ju = np.triu_indices(n_nodes, k=1)
    same = labels[iu] == labels[ju]
    comm_total = np.bincount(labels, weights=deg)
    total = deg.sum()
    p_in = (1.0 - mu) * deg[iu] * deg[ju] / comm_total[labels[iu]]
    outside_i, outside_j = total - comm_total[labels[iu]], total - comm_total[labels[ju]]
    # symmetric; gives node i about mu * k_i edges outside its community
    p_out = mu * deg[iu] * deg[ju] / np.sqrt(np.maximum(outside_i * outside_j, 1e-9))
    p = np.clip(np.where(same, p_in, p_out), 0.0, 1.0)
    take = rng.random(len(p)) < p
    w = rng.lognormal(mean=-(weight_sigma**2) / 2.0, sigma=weight_sigma, size=int(take.sum()))
    ids = [f"n{i}" for i in range(n_nodes)]
    graph = Graph(
        nodes=[Node(id=i, kind="node") for i in ids],
        edges=[
            Edge(source=ids[a], target=ids[b], weight=float(x)) for a, b, x in zip(iu[take], ju[take], w, strict=True)
        ],
        directed=False,
        attrs={"mu": mu, "seed": seed},
    )
    return graph, dict(zip(ids, labels.tolist(), strict=True))

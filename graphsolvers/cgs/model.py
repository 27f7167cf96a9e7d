"""The Convergent Graph Solver (CGS) and the two GNN baselines, in plain PyTorch.

CGS (Park, Choo, Park, ICLR 2022): an attention message-passing **encoder** reads node and edge
features and outputs, for ``M`` heads, a coefficient per edge and a bias per node; they define ``M``
linear graph maps whose unique fixed point

    x_m = φ(γ · A_m(G) · x_m + b_m(G)),        m = 1..M

is found by a sparse solver (:mod:`graphsolvers.fixedpoint`) and differentiated implicitly; a
**decoder** MLP maps ``[x_1..x_M, h]`` to the node outputs (or a sum readout to a graph output).

Contraction by construction
---------------------------
``A_m[i, j] = σ(g_{i,m}) · softmax_{j ∈ N_in(i)}(s_{ji,m})``: the coefficients of the edges entering
node ``i`` are non-negative and sum to ``σ(g_{i,m}) < 1``, so every row sum of ``A_m`` is below 1 and
the induced ∞-norm ``‖γ·A_m‖_∞ = γ · max_i σ(g_{i,m}) < γ < 1``. With a 1-Lipschitz ``φ``
(identity or tanh) the map is a contraction in the max-norm for every input graph, so the fixed
point exists, is unique and Picard iteration converges from any start (Banach).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from graphsolvers.cgs.data import GraphBatch
from graphsolvers.cgs.layer import cgs_fixed_point, gated_segment_softmax, segment_softmax
from graphsolvers.fixedpoint.graphmap import GraphLinearMap
from graphsolvers.fixedpoint.implicit import implicit_fixed_point
from graphsolvers.fixedpoint.solvers import SolverResult

__all__ = [
    "CGS",
    "IGNN",
    "AttentionEncoder",
    "EncoderOutput",
    "SlotLookahead",
    "StackedGNN",
    "gated_segment_softmax",
    "segment_softmax",
]


def _mlp(dims: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in itertools.pairwise(dims[:-1]):
        layers += [nn.Linear(a, b), nn.SiLU()]
    layers.append(nn.Linear(dims[-2], dims[-1]))
    return nn.Sequential(*layers)


class AttentionLayer(nn.Module):
    """One residual message-passing step over node and edge features.

    Two aggregations per node: attention (GATv2-style scores, softmax over the incoming edges) of
    edge-aware values, and a sum of edge-conditioned messages ``(W_e e) ⊙ (W_h h_src)`` (products of
    edge and neighbour features, e.g. transition probability × neighbour value).
    """

    def __init__(self, hidden: int, *, attn_heads: int = 4) -> None:
        super().__init__()
        if hidden % attn_heads:
            raise ValueError(f"hidden ({hidden}) must be a multiple of attn_heads ({attn_heads})")
        self.attn_heads = attn_heads
        self.src = nn.Linear(hidden, hidden)
        self.dst = nn.Linear(hidden, hidden, bias=False)
        self.edge = nn.Linear(hidden, hidden, bias=False)
        self.score = nn.Linear(hidden, attn_heads, bias=False)
        self.value = nn.Linear(hidden, hidden)
        self.msg_h = nn.Linear(hidden, hidden)
        self.msg_e = nn.Linear(hidden, hidden)
        self.update = _mlp([3 * hidden, hidden, hidden])
        self.norm = nn.LayerNorm(hidden)

    def forward(self, h: torch.Tensor, e: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        src, dst = edge_index
        z = nn.functional.silu(self.src(h)[src] + self.dst(h)[dst] + self.edge(e))
        alpha = segment_softmax(self.score(z), dst, h.shape[0])  # (E, heads)
        v = self.value(z).view(z.shape[0], self.attn_heads, -1) * alpha.unsqueeze(2)
        attn = torch.zeros_like(h).index_add_(0, dst, v.reshape(z.shape[0], -1))
        summed = torch.zeros_like(h).index_add_(0, dst, self.msg_e(e) * self.msg_h(h)[src])
        return self.norm(h + self.update(torch.cat([h, attn, summed], dim=1)))


@dataclass
class EncoderOutput:
    """Node embeddings ``h`` (N, hidden), the heads' edge ``score`` (E, M), node ``gate`` and ``bias`` (N, M).

    The edge coefficients ``σ(gate)[dst] · softmax_in(dst)(score)`` are :attr:`coeff`; the CGS layer
    computes them itself (:func:`~graphsolvers.cgs.layer.cgs_fixed_point`).
    """

    h: torch.Tensor
    score: torch.Tensor
    gate: torch.Tensor
    bias: torch.Tensor
    dst: torch.Tensor
    """Target node of each edge (the segments of the softmax)."""
    e: torch.Tensor | None = None
    """Edge embeddings (E, hidden), for the refinement rounds."""

    @property
    def coeff(self) -> torch.Tensor:
        """Edge coefficients (E, M): non-negative, summing to ``σ(gate) < 1`` over the edges entering a node."""
        return gated_segment_softmax(self.score, self.gate, self.dst, self.gate.shape[0])


class _CoefficientHeads(nn.Module):
    """Per-head edge coefficients ``σ(gate_i) · softmax_in(i)(score)`` and node biases from embeddings."""

    def __init__(self, edge_dim: int, *, hidden: int, n_heads: int, key_dim: int) -> None:
        super().__init__()
        self.query = nn.Linear(hidden, n_heads * key_dim)
        self.key = nn.Linear(2 * hidden + edge_dim, n_heads * key_dim)
        self.node_head = _mlp([hidden, hidden, 2 * n_heads])
        with torch.no_grad():  # start with long-range heads: σ(gate) ≈ 0.98, so ‖γA‖_∞ ≈ 0.98 γ
            self.node_head[-1].bias[:n_heads].fill_(4.0)
        self.n_heads, self.key_dim = n_heads, key_dim

    def heads(
        self,
        h: torch.Tensor,
        e: torch.Tensor,
        edge_attr: torch.Tensor,
        edge_index: torch.Tensor,
        extra: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> EncoderOutput:
        """Edge coefficients and node biases of the ``M`` heads from node and edge embeddings.

        ``extra = (score (E, M), bias (N, M))`` is added to the attention scores before the softmax
        and to the biases; the contraction does not depend on them (the softmax still sums to 1).
        """
        src, dst = edge_index
        q = self.query(h)[dst].view(-1, self.n_heads, self.key_dim)
        k = self.key(torch.cat([h[src], e, edge_attr], dim=1)).view(-1, self.n_heads, self.key_dim)
        score = (q * k).sum(dim=2) / math.sqrt(self.key_dim)  # (E, M) dot-product attention
        gate, bias = self.node_head(h).split(self.n_heads, dim=1)
        if extra is not None:
            score, bias = score + extra[0], bias + extra[1]
        return EncoderOutput(h=h, score=score, gate=gate, bias=bias, dst=dst, e=e)


class AttentionEncoder(_CoefficientHeads):
    """Attention message passing over node and edge features → per-head edge coefficients and node biases.

    The coefficients of the edges entering a node are ``σ(gate) · softmax(score)`` per head, so they are
    non-negative and sum to less than 1 (see the module docstring).
    """

    def __init__(
        self, node_dim: int, edge_dim: int, *, hidden: int = 32, n_layers: int = 3, n_heads: int = 8, key_dim: int = 8
    ) -> None:
        super().__init__(edge_dim, hidden=hidden, n_heads=n_heads, key_dim=key_dim)
        self.node_in = _mlp([node_dim, hidden, hidden])
        self.edge_in = _mlp([edge_dim, hidden, hidden])
        self.layers = nn.ModuleList([AttentionLayer(hidden) for _ in range(n_layers)])

    def forward(self, x: torch.Tensor, edge_attr: torch.Tensor, edge_index: torch.Tensor) -> EncoderOutput:
        h, e = self.node_in(x), self.edge_in(edge_attr)
        for layer in self.layers:
            h = layer(h, e, edge_index)
        return self.heads(h, e, edge_attr, edge_index)


class SlotLookahead(nn.Module):
    """One-edge lookahead over feature *slots*, shared across slots: a soft choice of one slot per node.

    Node features ``(N, F)`` and edge features ``(E, Fe)`` are read as ``S`` slots of ``F/S`` and
    ``Fe/S`` numbers (feature ``k·S + s`` is number ``k`` of slot ``s``). From the previous round's
    fixed point, a scalar ``v_j = w·z_j`` per node is carried one edge ahead per slot,
    ``a_{i,s} = Σ_{j→i} e_{ji,s} v_j``; one linear map, the same for every slot, scores each slot
    from ``[x_{i,s}, a_{i,s}]``, and ``π_i = softmax_s(score)`` mixes per-slot linear terms into
    every head's attention score (``Σ_s π_{i,s} W_e e_{ji,s}``) and bias (``Σ_s π_{i,s} W_x x_{i,s}``).
    The weights are shared across slots, so the slots are interchangeable (a permutation of the slots
    permutes nothing else) and a handful of numbers are learnt.

    For MDP graphs with one slot per action (node ``[R(s, a), mask(s, a)]``, edge
    ``[P(s'|s, a), ln P(s'|s, a)]``) this can express one step of policy iteration: slot scores
    ``∝ R(s, a) + γ Σ_{s'} P(s'|s, a) v(s')`` pick the greedy action, the attention score becomes
    ``ln P(s'|s, a)`` (softmax over the successors: the transition row) and the bias ``R(s, a)``, so the
    next fixed point evaluates the improved policy.
    """

    def __init__(self, node_dim: int, edge_dim: int, *, n_slots: int, n_heads: int) -> None:
        super().__init__()
        if n_slots < 1 or node_dim % n_slots or edge_dim % n_slots:
            raise ValueError(
                f"lookahead_slots ({n_slots}) must divide both feature sizes (node {node_dim}, edge {edge_dim})"
            )
        self.n_slots, self.fn, self.fe = n_slots, node_dim // n_slots, edge_dim // n_slots
        self.value = nn.Linear(n_heads, 1)
        self.slot_score = nn.Linear(self.fn + self.fe, 1)
        self.log_sharpness = nn.Parameter(torch.tensor(math.log(10.0)))
        self.edge_term = nn.Linear(self.fe, n_heads, bias=False)
        self.node_term = nn.Linear(self.fn, n_heads, bias=False)

    def slots(self, t: torch.Tensor, per_slot: int) -> torch.Tensor:
        """``(R, per_slot·S)`` features as ``(R, S, per_slot)`` slots."""
        return t.view(t.shape[0], per_slot, self.n_slots).transpose(1, 2)

    def forward(
        self, z: torch.Tensor, x: torch.Tensor, edge_attr: torch.Tensor, edge_index: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(extra score (E, M), extra bias (N, M))`` from fixed points ``z`` (N, M) and the input features."""
        src, dst = edge_index
        xs, es = self.slots(x, self.fn), self.slots(edge_attr, self.fe)  # (N, S, fn), (E, S, fe)
        v = self.value(z)  # (N, 1)
        ahead = torch.zeros(x.shape[0], self.n_slots, self.fe, dtype=v.dtype, device=v.device)
        ahead = ahead.index_add(0, dst, es * v.index_select(0, src).unsqueeze(2))
        logits = self.slot_score(torch.cat([xs, ahead], dim=2))[..., 0] * self.log_sharpness.exp()
        pi = torch.softmax(logits, dim=1)  # (N, S)
        score = (pi.index_select(0, dst).unsqueeze(2) * self.edge_term(es)).sum(dim=1)
        bias = (pi.unsqueeze(2) * self.node_term(xs)).sum(dim=1)
        return score, bias


class RefineStep(_CoefficientHeads):
    """One refinement round: embeddings plus the previous round's fixed points → new coefficients and biases.

    Like policy iteration: a fixed point evaluates the current choice of which neighbours matter (the
    edge coefficients); this step reads those values back through one message-passing layer and
    chooses new coefficients and biases (same contraction construction) for the next solve. With
    ``lookahead`` (a :class:`SlotLookahead`) the choice also looks one edge ahead explicitly.
    """

    def __init__(
        self, edge_dim: int, *, hidden: int, n_heads: int, key_dim: int = 8, lookahead: SlotLookahead | None = None
    ) -> None:
        super().__init__(edge_dim, hidden=hidden, n_heads=n_heads, key_dim=key_dim)
        self.mix = _mlp([hidden + n_heads, hidden, hidden])
        self.layer = AttentionLayer(hidden)
        self.lookahead = lookahead

    def forward(
        self,
        enc: EncoderOutput,
        z: torch.Tensor,
        edge_attr: torch.Tensor,
        edge_index: torch.Tensor,
        x: torch.Tensor | None = None,
    ) -> EncoderOutput:
        """New coefficients from ``z`` (N, M), the previous fixed point scaled by ``1 − γ``; a lookahead
        round also needs the node features ``x``."""
        if enc.e is None:
            raise ValueError("refinement needs the encoder's edge embeddings (EncoderOutput.e)")
        h = self.layer(enc.h + self.mix(torch.cat([enc.h, z], dim=1)), enc.e, edge_index)
        extra = None
        if self.lookahead is not None:
            if x is None:
                raise ValueError("lookahead refinement needs the node features x")
            extra = self.lookahead(z, x, edge_attr, edge_index)
        return self.heads(h, enc.e, edge_attr, edge_index, extra)


class CGS(nn.Module):
    """Convergent Graph Solver: encoder → ``M`` contracting linear graph maps → fixed point → decoder.

    Parameters
    ----------
    node_dim, edge_dim : int
        Input feature sizes.
    hidden : int, default 32
    n_layers : int, default 3
        Encoder message-passing steps.
    n_heads : int, default 8
        ``M``, the number of fixed-point heads.
    gamma : float, default 0.9
        Contraction factor, in (0, 1).
    activation : {"identity", "tanh"}, default "identity"
        ``φ``; both are 1-Lipschitz.
    out_dim : int, default 1
    readout : {"node", "graph"}, default "node"
        Node-level MLP decoder, or sum readout + MLP.
    solver : {"fixed_point", "anderson"}, default "anderson"
    max_iter, tol : solver budget (defaults 300, 1e-4; float32 models gain nothing from tighter).
    n_rounds : int, default 1
        Fixed-point solves; rounds after the first re-choose coefficients and biases from the
        previous fixed point (:class:`RefineStep`).
    key_dim : int, default 8
        Size of the attention keys of the coefficient heads.
    lookahead_slots : int, default 0
        ``S > 0`` gives every refinement round a :class:`SlotLookahead` over ``S`` feature slots
        (gvi: ``S = 9``, one slot per action; needs ``n_rounds >= 2``), and the last fixed point a
        linear path to the output.

    Examples
    --------
    >>> import torch
    >>> from graphsolvers.cgs.data import collate
    >>> from graphsolvers.tasks import generate_gvi
    >>> _ = torch.manual_seed(0)
    >>> model = CGS(18, 18, hidden=16, n_heads=4)
    >>> batch = collate(generate_gvi(2, seed=0))
    >>> model(batch).shape == (batch.num_nodes, 1), model.last_stats["forward"].converged
    (True, True)
    """

    def __init__(
        self,
        node_dim: int,
        edge_dim: int,
        *,
        hidden: int = 32,
        n_layers: int = 3,
        n_heads: int = 8,
        gamma: float = 0.9,
        activation: Literal["identity", "tanh"] = "identity",
        out_dim: int = 1,
        readout: Literal["node", "graph"] = "node",
        solver: str = "anderson",
        max_iter: int = 300,
        tol: float = 1e-4,
        n_rounds: int = 1,
        key_dim: int = 8,
        lookahead_slots: int = 0,
    ) -> None:
        super().__init__()
        if not isinstance(n_rounds, int) or n_rounds < 1:
            raise ValueError(f"n_rounds must be a positive integer, got {n_rounds!r}")
        if lookahead_slots and n_rounds < 2:
            raise ValueError("lookahead_slots needs n_rounds >= 2 (it reads the previous round's fixed point)")
        if not 0 < gamma < 1:
            raise ValueError(f"gamma must lie in (0, 1) for a contraction, got {gamma}")
        if activation not in ("identity", "tanh"):
            raise ValueError(f"activation must be 'identity' or 'tanh', got {activation!r}")
        self.encoder = AttentionEncoder(
            node_dim, edge_dim, hidden=hidden, n_layers=n_layers, n_heads=n_heads, key_dim=key_dim
        )
        self.refine = nn.ModuleList(
            [
                RefineStep(
                    edge_dim,
                    hidden=hidden,
                    n_heads=n_heads,
                    key_dim=key_dim,
                    lookahead=SlotLookahead(node_dim, edge_dim, n_slots=lookahead_slots, n_heads=n_heads)
                    if lookahead_slots
                    else None,
                )
                for _ in range(n_rounds - 1)
            ]
        )
        self.decoder = _mlp([n_heads + hidden, hidden, hidden, out_dim])
        # with lookahead rounds the last fixed point (a policy evaluation) also reaches the output linearly
        self.skip = nn.Linear(n_heads, out_dim, bias=False) if lookahead_slots else None
        self.gamma, self.activation, self.readout = gamma, activation, readout
        self.solver, self.max_iter, self.tol = solver, max_iter, tol
        self.last_stats: dict[str, SolverResult] = {}

    def fixed_point(self, batch: GraphBatch) -> tuple[torch.Tensor, EncoderOutput]:
        """The fixed points ``x`` (N, M) of the ``M`` heads (of the last round), and the encoder output."""
        enc = self.encoder(batch.x, batch.edge_attr, batch.edge_index)
        op = GraphLinearMap(batch.edge_index, batch.num_nodes, gamma=self.gamma)
        z = self._solve(op, enc, None)
        for step in self.refine:
            enc = step(enc, (1 - self.gamma) * z, batch.edge_attr, batch.edge_index, batch.x)
            z = self._solve(op, enc, z.detach())
        return z, enc

    def _decode(self, z: torch.Tensor, enc: EncoderOutput, batch: GraphBatch | None = None) -> torch.Tensor:
        out = torch.cat([(1 - self.gamma) * z, enc.h], dim=1)  # (1-γ)·z keeps the decoder input O(|b|)
        if batch is not None and self.readout == "graph":
            out = torch.zeros(batch.num_graphs, out.shape[1], dtype=out.dtype, device=out.device).index_add_(
                0, batch.batch, out
            )
        y = self.decoder(out)
        if self.skip is not None:
            y = y + self.skip(out[:, : z.shape[1]])
        return y

    def _solve(self, op: GraphLinearMap, enc: EncoderOutput, x0: torch.Tensor | None) -> torch.Tensor:
        """Fixed point (N, M) of the heads from ``x0`` (None: from 0); solved head-major, ``(M, N)``."""
        zt, self.last_stats = cgs_fixed_point(
            enc.score,
            enc.gate,
            enc.bias.T.contiguous(),
            op,
            None if x0 is None else x0.T.contiguous(),
            tanh=self.activation == "tanh",
            solver=self.solver,
            max_iter=self.max_iter,
            tol=self.tol,
        )
        return zt.T

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        z, enc = self.fixed_point(batch)
        return self._decode(z, enc, batch)


class IGNN(nn.Module):
    """IGNN-style implicit GNN baseline (Gu et al., 2020): ``X = ReLU(Â X Wᵀ + B(G))``.

    ``Â`` is the in-degree-normalised adjacency (``‖Â‖_∞ = 1``) and ``W`` is rescaled so every row has
    absolute sum at most ``kappa < 1``, which makes the map a contraction in the max-norm. The input
    injection ``B`` is one message-passing step over node and edge features. Solved and differentiated
    with the same sparse solver and implicit backward as CGS.
    """

    def __init__(
        self,
        node_dim: int,
        edge_dim: int,
        *,
        hidden: int = 48,
        kappa: float = 0.95,
        out_dim: int = 1,
        solver: str = "anderson",
        max_iter: int = 300,
        tol: float = 1e-4,
    ) -> None:
        super().__init__()
        self.node_in = _mlp([node_dim, hidden, hidden])
        self.inject = AttentionLayer(hidden)
        self.edge_in = _mlp([edge_dim, hidden, hidden])
        self.W = nn.Parameter(torch.randn(hidden, hidden) / math.sqrt(hidden))
        self.decoder = _mlp([2 * hidden, hidden, out_dim])
        self.kappa, self.solver, self.max_iter, self.tol = kappa, solver, max_iter, tol
        self.last_stats: dict[str, SolverResult] = {}

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        src, dst = batch.edge_index
        n = batch.num_nodes
        h = self.inject(self.node_in(batch.x), self.edge_in(batch.edge_attr), batch.edge_index)
        deg = torch.zeros(n, dtype=h.dtype, device=h.device).index_add_(0, dst, torch.ones_like(dst, dtype=h.dtype))
        w = (1.0 / deg.clamp_min(1))[dst].unsqueeze(1)
        scale = (self.kappa / self.W.abs().sum(dim=1).clamp_min(1e-12)).clamp(max=1.0).unsqueeze(1)
        W = self.W * scale

        def f(x: torch.Tensor, W: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
            agg = torch.zeros_like(x).index_add_(0, dst, x[src] * w)
            return torch.relu(agg @ W.T + B)

        z, self.last_stats = implicit_fixed_point(
            f, torch.zeros_like(h), [W, h], solver=self.solver, max_iter=self.max_iter, tol=self.tol
        )
        return self.decoder(torch.cat([z, h], dim=1))


class StackedGNN(nn.Module):
    """Stacked attention message-passing GNN baseline (explicit, ``n_layers`` steps)."""

    def __init__(self, node_dim: int, edge_dim: int, *, hidden: int = 32, n_layers: int = 4, out_dim: int = 1) -> None:
        super().__init__()
        self.node_in = _mlp([node_dim, hidden, hidden])
        self.edge_in = _mlp([edge_dim, hidden, hidden])
        self.layers = nn.ModuleList([AttentionLayer(hidden) for _ in range(n_layers)])
        self.decoder = _mlp([hidden, hidden, hidden, out_dim])
        self.last_stats: dict[str, SolverResult] = {}

    def forward(self, batch: GraphBatch) -> torch.Tensor:
        h, e = self.node_in(batch.x), self.edge_in(batch.edge_attr)
        for layer in self.layers:
            h = layer(h, e, batch.edge_index)
        return self.decoder(h)

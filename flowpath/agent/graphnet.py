"""Message-passing nets over a chart: the second half of the node scorer's ensemble.

Each node starts from its standardised feature row. Two rounds then add, to every node's state,
the mean message from its predecessors and from its successors (each message also says whether
the edge carries a branch label) and the chart's strongest state, so a decision learns when its
branch matters and a step learns when the path it sits on explains the answer. A head turns the
final state into P(node belongs to the attribution); several nets (different seeds) are averaged.

The trees of :mod:`flowpath.agent.scorer` see a node's neighbours only through column-wise maxima
of their features; these nets learn what to pass along edges, so the two err differently and
their average beats either. Whole-bench micro-F1 from Mermaid, 5-fold chart-split CV on the dev
split, mean over three fold splits: trees alone 0.823, five nets alone 0.821, their average 0.833.

Training uses torch; prediction runs in NumPy on plain arrays, so the weights live in the same
pickle-free ``.npz`` as the trees.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flowpath.errors import FlowpathError
from graphsolvers.graph import Graph

__all__ = ["HIDDEN", "ChartEdges", "GraphNets", "batch", "chart_edges", "fit_graph_nets", "torch_net"]

HIDDEN = 32
ROUNDS = 2
NETS = 5
EPOCHS = 40
BATCH = 32  # questions per training step
_LAYERS = ("own", "pred", "succ", "chart")


@dataclass(frozen=True)
class ChartEdges:
    """Edges of a chart as row indices (node order), and 1.0 where the edge carries a label (a branch)."""

    src: np.ndarray
    dst: np.ndarray
    labelled: np.ndarray


def chart_edges(graph: Graph) -> ChartEdges:
    """The directed edges of ``graph`` as row indices in node order.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> e = chart_edges(parse_mermaid('flowchart TD\\n A{"Ok?"} -->|Yes| B["Go"]\\n A --> C["Stop"]'))
    >>> e.src.tolist(), e.dst.tolist(), e.labelled.tolist()
    ([0, 0], [1, 2], [1.0, 0.0])
    """
    index = graph.index()
    return ChartEdges(
        np.array([index[e.source] for e in graph.edges], dtype=np.int64),
        np.array([index[e.target] for e in graph.edges], dtype=np.int64),
        np.array([1.0 if e.label else 0.0 for e in graph.edges], dtype=np.float64),
    )


@dataclass(frozen=True)
class GraphNets:
    """Weights of ``n`` nets stacked on a leading axis (``W`` maps inputs to outputs as ``x @ W.T + b``).

    ``layers`` holds ``embed_w`` (n, H, F), ``embed_b`` (n, H); per round r and layer in own /
    pred / succ / chart, ``r{r}_{layer}_w`` and ``_b`` (pred and succ take H + 1 inputs: the state
    and the branch flag); ``head1_w`` (n, H, H), ``head1_b``, ``head2_w`` (n, 1, H), ``head2_b``.
    """

    mean: np.ndarray  # feature standardisation, (F,)
    std: np.ndarray
    layers: dict[str, np.ndarray]
    rounds: int = ROUNDS

    def predict(self, features: np.ndarray, edges: ChartEdges) -> np.ndarray:
        """Mean probability over the nets for each row of ``features`` (one chart, node order)."""
        x = (np.asarray(features, dtype=np.float64) - self.mean) / self.std
        n = len(x)
        lab = edges.labelled[:, None]
        count_in = np.maximum(np.bincount(edges.dst, minlength=n), 1)[:, None]
        count_out = np.maximum(np.bincount(edges.src, minlength=n), 1)[:, None]
        L = self.layers
        probs = []
        for k in range(len(L["embed_w"])):
            h = _relu(x @ L["embed_w"][k].T + L["embed_b"][k])
            for r in range(self.rounds):
                w = {name: (L[f"r{r}_{name}_w"][k], L[f"r{r}_{name}_b"][k]) for name in _LAYERS}
                into = np.zeros_like(h)
                back = np.zeros_like(h)
                np.add.at(into, edges.dst, _linear(np.concatenate([h[edges.src], lab], 1), *w["pred"]))
                np.add.at(back, edges.src, _linear(np.concatenate([h[edges.dst], lab], 1), *w["succ"]))
                top = _linear(h.max(axis=0, keepdims=True), *w["chart"])
                h = h + _relu(_linear(h, *w["own"]) + into / count_in + back / count_out + top)
            hidden = _relu(_linear(h, L["head1_w"][k], L["head1_b"][k]))
            probs.append(_sigmoid(_linear(hidden, L["head2_w"][k], L["head2_b"][k])[:, 0]))
        return np.mean(probs, axis=0)

    def arrays(self) -> dict[str, np.ndarray]:
        """The nets as named arrays (for :func:`numpy.savez`)."""
        out = {f"net_{k}": v for k, v in self.layers.items()}
        return out | {"net_mean": self.mean, "net_std": self.std, "net_rounds": np.array(self.rounds)}

    @classmethod
    def from_torch(cls, nets: list, mean: np.ndarray, std: np.ndarray) -> GraphNets:
        """The weights of torch nets built by :func:`torch_net`, with the feature standardisation."""
        states = [net.state_dict() for net in nets]
        layers = {
            _export_name(key): np.stack([s[key].detach().numpy().astype(np.float64) for s in states])
            for key in states[0]
        }
        return cls(np.asarray(mean, np.float64), np.asarray(std, np.float64), layers, ROUNDS)

    @classmethod
    def from_arrays(cls, blob) -> GraphNets:
        """Inverse of :meth:`arrays`."""
        rounds = int(blob["net_rounds"])
        names = ["embed_w", "embed_b", "head1_w", "head1_b", "head2_w", "head2_b"]
        names += [f"r{r}_{layer}_{p}" for r in range(rounds) for layer in _LAYERS for p in "wb"]
        layers = {k: np.asarray(blob[f"net_{k}"], dtype=np.float64) for k in names}
        return cls(np.asarray(blob["net_mean"]), np.asarray(blob["net_std"]), layers, rounds)


def _linear(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x @ w.T + b


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def fit_graph_nets(
    features: list[np.ndarray],
    labels: list[np.ndarray],
    edges: list[ChartEdges],
    *,
    seed: int = 0,
    nets: int = NETS,
    epochs: int = EPOCHS,
) -> GraphNets:
    """Train ``nets`` message-passing nets (seeds ``seed``, ``seed + 1``, …) on per-question rows and 0/1 labels.

    Deterministic for a given seed and number of torch threads.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> chain = chart_edges(parse_mermaid('flowchart TD\\n A["a"] --> B["b"] --> C["c"] --> D["d"]'))
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(4, 3)) for _ in range(40)]
    >>> y = [(x[:, 0] > 0).astype(np.float32) for x in X]
    >>> m = fit_graph_nets(X, y, [chain] * 40, nets=1, epochs=20)
    >>> float(((m.predict(X[0], chain) > 0.5) == (y[0] > 0)).mean()) >= 0.75
    True
    """
    import torch

    if not features:
        raise FlowpathError("no training examples")
    stacked = np.concatenate(features).astype(np.float32)
    mean, std = stacked.mean(0), stacked.std(0, ddof=1) + 1e-6
    x = [torch.from_numpy(((f - mean) / std).astype(np.float32)) for f in features]
    y = [torch.from_numpy(np.asarray(lab, dtype=np.float32)) for lab in labels]
    trained = [_fit_one(x, y, edges, seed=seed + k, epochs=epochs) for k in range(nets)]
    return GraphNets.from_torch(trained, mean, std)


def _export_name(key: str) -> str:
    """torch parameter name -> array name ("rounds.1.from_pred.weight" -> "r1_pred_w")."""
    part = key.split(".")
    suffix = "w" if part[-1] == "weight" else "b"
    if part[0] == "embed":
        return f"embed_{suffix}"
    if part[0] == "head":
        return f"head{1 if part[1] == '0' else 2}_{suffix}"
    layer = {"own": "own", "from_pred": "pred", "from_succ": "succ", "chart": "chart"}[part[2]]
    return f"r{part[1]}_{layer}_{suffix}"


def _fit_one(x, y, edges: list[ChartEdges], *, seed: int, epochs: int):
    import torch

    torch.manual_seed(seed)
    net = torch_net(x[0].shape[1])
    # foreach: the same updates, in half the time for these many small tensors
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4, foreach=True)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(order), BATCH):
            idx = order[start : start + BATCH]
            xb, src, dst, lab, chart_of = batch([x[i] for i in idx], [edges[i] for i in idx])
            logits = net(xb, src, dst, lab, chart_of, len(idx))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.cat([y[i] for i in idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    return net


def batch(x, edges: list[ChartEdges]):
    """Several charts as one block-diagonal graph: stacked rows, offset edges, the chart of each row."""
    import torch

    offsets = np.cumsum([0] + [len(f) for f in x[:-1]])
    src = torch.from_numpy(np.concatenate([e.src + o for e, o in zip(edges, offsets, strict=True)]))
    dst = torch.from_numpy(np.concatenate([e.dst + o for e, o in zip(edges, offsets, strict=True)]))
    lab = torch.from_numpy(np.concatenate([e.labelled for e in edges]).astype(np.float32))
    chart_of = torch.cat([torch.full((len(f),), k, dtype=torch.long) for k, f in enumerate(x)])
    return torch.cat(x), src, dst, lab, chart_of


def torch_net(n_in: int):
    """An untrained net in torch (the training form; :class:`GraphNets` holds its weights for NumPy)."""
    import torch

    class Round(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.own = torch.nn.Linear(HIDDEN, HIDDEN)
            self.from_pred = torch.nn.Linear(HIDDEN + 1, HIDDEN)
            self.from_succ = torch.nn.Linear(HIDDEN + 1, HIDDEN)
            self.chart = torch.nn.Linear(HIDDEN, HIDDEN)

        def forward(self, h, src, dst, lab, chart_of, n_charts):
            lab = lab[:, None]
            into = _mean_at(self.from_pred(torch.cat([h[src], lab], 1)), dst, len(h))
            back = _mean_at(self.from_succ(torch.cat([h[dst], lab], 1)), src, len(h))
            top = torch.full((n_charts, h.shape[1]), -1e9).scatter_reduce(
                0, chart_of[:, None].expand_as(h), h, reduce="amax"
            )
            return h + torch.relu(self.own(h) + into + back + self.chart(top[chart_of]))

    def _mean_at(values, at, n):
        total = torch.zeros(n, values.shape[1]).index_add_(0, at, values)
        count = torch.zeros(n).index_add_(0, at, torch.ones(len(at))).clamp(min=1)
        return total / count[:, None]

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Sequential(torch.nn.Linear(n_in, HIDDEN), torch.nn.ReLU())
            self.rounds = torch.nn.ModuleList(Round() for _ in range(ROUNDS))
            self.head = torch.nn.Sequential(
                torch.nn.Linear(HIDDEN, HIDDEN), torch.nn.ReLU(), torch.nn.Linear(HIDDEN, 1)
            )

        def forward(self, x, src, dst, lab, chart_of, n_charts):
            h = self.embed(x)
            for layer in self.rounds:
                h = layer(h, src, dst, lab, chart_of, n_charts)
            return self.head(h).squeeze(1)

    return Net()

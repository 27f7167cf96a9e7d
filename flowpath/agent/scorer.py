"""Learned node-relevance scorer: message passing over the chart, trained by chart-split CV.

Each node starts from its row of :mod:`flowpath.agent.features` (grounding, rank, structure,
question shape). Two rounds of message passing then let a node see its predecessors and
successors (and whether the connecting edge carries a branch label) and the strongest node of
the chart, so a decision learns when its branch matters and a step learns when the path it sits
on is part of the explanation. A small ensemble of such networks (different seeds) is averaged.

The committed weights (``weights/node_scorer.pt``, ≈ 160 KB) come from ``flowpath train-scorer``
on the FlowExplainBench dev split; the file records which charts it saw so that a benchmark run
on those charts can say it is in-sample (``flowpath bench --cv K`` gives out-of-fold numbers).
"""

from __future__ import annotations

import functools
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from flowpath.agent.features import FEATURE_NAMES
from flowpath.errors import FlowpathError
from graphsolvers.graph import Graph

__all__ = ["DEFAULT_WEIGHTS", "ChartEdges", "NodeScorer", "chart_edges", "fit_scorer", "load_scorer"]

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "node_scorer.pt"
_HIDDEN = 32
_ROUNDS = 2
_MODELS = 3
_BATCH = 16  # questions per training step


@dataclass(frozen=True)
class ChartEdges:
    """Edges of a chart as row indices, plus 1.0 where the edge carries a label (a branch)."""

    src: torch.Tensor
    dst: torch.Tensor
    labelled: torch.Tensor


def chart_edges(graph: Graph) -> ChartEdges:
    """The directed edges of ``graph`` as row indices in node order.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> e = chart_edges(parse_mermaid('flowchart TD\\n A{"Ok?"} -->|Yes| B["Go"]\\n A -->|No| C["Stop"]'))
    >>> e.src.tolist(), e.dst.tolist(), e.labelled.tolist()
    ([0, 0], [1, 2], [1.0, 1.0])
    """
    index = graph.index()
    return ChartEdges(
        torch.tensor([index[e.source] for e in graph.edges], dtype=torch.long),
        torch.tensor([index[e.target] for e in graph.edges], dtype=torch.long),
        torch.tensor([1.0 if e.label else 0.0 for e in graph.edges], dtype=torch.float32),
    )


class _Round(torch.nn.Module):
    """One round: own state + mean message from predecessors + mean from successors + the chart's max."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.own = torch.nn.Linear(hidden, hidden)
        self.from_pred = torch.nn.Linear(hidden + 1, hidden)
        self.from_succ = torch.nn.Linear(hidden + 1, hidden)
        self.chart = torch.nn.Linear(hidden, hidden)

    def forward(self, h: torch.Tensor, edges: ChartEdges, chart_of: torch.Tensor, n_charts: int) -> torch.Tensor:
        lab = edges.labelled[:, None]
        into = _mean_at(self.from_pred(torch.cat([h[edges.src], lab], 1)), edges.dst, len(h))
        back = _mean_at(self.from_succ(torch.cat([h[edges.dst], lab], 1)), edges.src, len(h))
        top = torch.full((n_charts, h.shape[1]), -1e9).scatter_reduce(
            0, chart_of[:, None].expand_as(h), h, reduce="amax"
        )
        return h + torch.relu(self.own(h) + into + back + self.chart(top[chart_of]))


def _mean_at(values: torch.Tensor, at: torch.Tensor, n: int) -> torch.Tensor:
    total = torch.zeros(n, values.shape[1]).index_add_(0, at, values)
    count = torch.zeros(n).index_add_(0, at, torch.ones(len(at))).clamp(min=1)
    return total / count[:, None]


class _Net(torch.nn.Module):
    def __init__(self, n_in: int, hidden: int = _HIDDEN, rounds: int = _ROUNDS) -> None:
        super().__init__()
        self.embed = torch.nn.Sequential(torch.nn.Linear(n_in, hidden), torch.nn.ReLU())
        self.rounds = torch.nn.ModuleList(_Round(hidden) for _ in range(rounds))
        self.head = torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, edges: ChartEdges, chart_of: torch.Tensor, n_charts: int) -> torch.Tensor:
        h = self.embed(x)
        for layer in self.rounds:
            h = layer(h, edges, chart_of, n_charts)
        return self.head(h).squeeze(1)


def _batch(features: list[np.ndarray], edges: list[ChartEdges]):
    """Several charts as one block-diagonal graph: stacked rows, offset edges, the chart of each row."""
    offsets = np.cumsum([0] + [len(f) for f in features[:-1]])
    x = torch.from_numpy(np.concatenate(features).astype(np.float32))
    cat = ChartEdges(
        torch.cat([e.src + int(o) for e, o in zip(edges, offsets, strict=True)]),
        torch.cat([e.dst + int(o) for e, o in zip(edges, offsets, strict=True)]),
        torch.cat([e.labelled for e in edges]),
    )
    chart_of = torch.cat([torch.full((len(f),), k, dtype=torch.long) for k, f in enumerate(features)])
    return x, cat, chart_of


@dataclass
class NodeScorer:
    """Standardised features → an ensemble of message-passing nets → P(node belongs to the attribution)."""

    nets: list[_Net]
    mean: torch.Tensor
    std: torch.Tensor
    threshold: float = 0.4
    trained_on: list[str] = field(default_factory=list)  # chart keys seen in training

    def predict(self, features: np.ndarray, graph: Graph) -> np.ndarray:
        """Probabilities, shape (n_nodes,), for the rows of ``features`` (node order of ``graph``)."""
        if features.shape[1] != self.mean.shape[0]:
            raise FlowpathError(
                f"scorer expects {self.mean.shape[0]} features, got {features.shape[1]}; "
                "retrain with flowpath train-scorer"
            )
        if features.shape[0] != len(graph.nodes):
            raise FlowpathError(f"{features.shape[0]} feature rows for a chart of {len(graph.nodes)} nodes")
        x, edges, chart_of = _batch([features], [chart_edges(graph)])
        x = (x - self.mean) / self.std
        with torch.no_grad():
            return torch.stack([torch.sigmoid(net(x, edges, chart_of, 1)) for net in self.nets]).mean(0).numpy()

    def save(self, path: Path) -> None:
        """Write weights and metadata (plain tensors, loadable with ``weights_only=True``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "state_dicts": [net.state_dict() for net in self.nets],
                "hidden": _HIDDEN,
                "rounds": _ROUNDS,
                "mean": self.mean,
                "std": self.std,
                "threshold": self.threshold,
                "features": list(FEATURE_NAMES),
                "trained_on": sorted(self.trained_on),
            },
            path,
        )


def _fit_one(
    x: list[np.ndarray], y: list[torch.Tensor], edges: list[ChartEdges], mean, std, *, seed: int, epochs: int
) -> _Net:
    torch.manual_seed(seed)
    net = _Net(x[0].shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=2e-3, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(order), _BATCH):
            idx = order[start : start + _BATCH]
            xb, eb, chart_of = _batch([x[i] for i in idx], [edges[i] for i in idx])
            logits = net((xb - mean) / std, eb, chart_of, len(idx))
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.cat([y[i] for i in idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    return net


def fit_scorer(
    features: list[np.ndarray],
    labels: list[np.ndarray],
    graphs: list[Graph],
    *,
    seed: int = 0,
    epochs: int = 40,
    models: int = _MODELS,
    trained_on: list[str] | None = None,
) -> NodeScorer:
    """Train a :class:`NodeScorer` on per-question feature matrices, 0/1 node labels and their charts.

    ``models`` networks are trained with seeds ``seed, seed + 1, …`` and averaged.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> chart = parse_mermaid('flowchart TD\\n A["a"] --> B["b"] --> C["c"] --> D["d"]')
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(4, len(FEATURE_NAMES))).astype(np.float32) for _ in range(30)]
    >>> y = [(x[:, 0] > 0).astype(np.float32) for x in X]
    >>> s = fit_scorer(X, y, [chart] * 30, epochs=30, models=1)
    >>> float(((s.predict(X[0], chart) > 0.5) == (y[0] > 0)).mean()) >= 0.75
    True
    """
    if not features:
        raise FlowpathError("no training examples")
    if not len(features) == len(labels) == len(graphs):
        raise FlowpathError(f"{len(features)} feature sets, {len(labels)} label sets and {len(graphs)} charts")
    stacked = torch.from_numpy(np.concatenate(features).astype(np.float32))
    mean, std = stacked.mean(0), stacked.std(0) + 1e-6
    edges = [chart_edges(g) for g in graphs]
    y = [torch.from_numpy(np.asarray(lab, dtype=np.float32)) for lab in labels]
    nets = [_fit_one(features, y, edges, mean, std, seed=seed + k, epochs=epochs) for k in range(models)]
    return NodeScorer(nets, mean, std, trained_on=list(trained_on or []))


@functools.cache
def load_scorer(path: Path = DEFAULT_WEIGHTS) -> NodeScorer:
    """The scorer stored at ``path`` (loaded once per process).

    Raises
    ------
    FlowpathError
        If the file is missing or was trained on other features.
    """
    if not path.is_file():
        raise FlowpathError(f"no scorer weights at {path}; train them with: flowpath train-scorer --data DIR")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if blob.get("features") != list(FEATURE_NAMES) or "state_dicts" not in blob:
        raise FlowpathError(
            f"scorer weights at {path} were trained on other features or by an older version; "
            "retrain with flowpath train-scorer"
        )
    nets = []
    for state in blob["state_dicts"]:
        net = _Net(len(FEATURE_NAMES), blob["hidden"], blob["rounds"])
        net.load_state_dict(state)
        net.eval()
        nets.append(net)
    log.info("loaded node scorer %s (sha256 %s)", path.name, hashlib.sha256(path.read_bytes()).hexdigest()[:12])
    return NodeScorer(nets, blob["mean"], blob["std"], float(blob["threshold"]), list(blob["trained_on"]))

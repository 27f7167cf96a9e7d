"""Learned node-relevance scorer: boosted trees and message-passing nets over the chart, trained by chart-split CV.

Each node's row of :mod:`flowpath.agent.features` (grounding, clause matches, greedy cover, rank,
structure, question shape) is joined with the element-wise maximum over its predecessors' rows and
over its successors' rows, so a decision sees that its branch leads into the answer and a step sees
that it sits between the question's node and the answer's. A histogram gradient-boosting
classifier (scikit-learn) turns that into P(node belongs to the attribution). The message-passing
nets of :mod:`flowpath.agent.graphnet` read the same rows along the edges; the scorer averages the
two probabilities.

Training uses scikit-learn and torch; prediction walks the trees and the nets in NumPy from plain arrays, so the
committed weights (``weights/node_scorer.npz``, no pickle) load with ``allow_pickle=False``.
They come from ``flowpath train-scorer`` on the FlowExplainBench dev split and record which
charts they saw, so a benchmark run on those charts can say it is in-sample (``flowpath bench
--cv K`` gives out-of-fold numbers).
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from flowpath.agent.features import FEATURE_NAMES
from flowpath.agent.graphnet import EPOCHS, NETS, ChartEdges, GraphNets, chart_edges, fit_graph_nets
from flowpath.errors import FlowpathError
from graphsolvers.graph import Graph

__all__ = [
    "DEFAULT_WEIGHTS",
    "NodeScorer",
    "TreeEnsemble",
    "fit_scorer",
    "load_scorer",
    "neighbour_features",
]

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "node_scorer.npz"
FORMAT = "flowpath-node-scorer/3"
ITERATIONS = 300
THRESHOLD = 0.4
"""Decision threshold on P(relevant). Micro-F1 is maximised by thresholding calibrated probabilities at
half the best F1 reachable (about 0.8 here), so 0.4 is set from theory, not searched on dev."""
_NO_NEIGHBOUR = -1.0


def neighbour_features(features: np.ndarray, edges: ChartEdges) -> np.ndarray:
    """``features`` joined with the column-wise maximum over each node's predecessors and over its successors.

    A node without predecessors (successors) gets -1 in those columns.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> chain = parse_mermaid('flowchart TD\\n A["a"] --> B["b"] --> C["c"]')
    >>> neighbour_features(np.array([[1.0], [2.0], [3.0]]), chart_edges(chain)).tolist()
    [[1.0, -1.0, 2.0], [2.0, 1.0, 3.0], [3.0, 2.0, -1.0]]
    """
    x = np.asarray(features, dtype=np.float64)
    # -inf start so a real neighbour value below -1 still wins; nodes without neighbours then get -1
    from_pred = np.full_like(x, -np.inf)
    from_succ = np.full_like(x, -np.inf)
    np.maximum.at(from_pred, edges.dst, x[edges.src])
    np.maximum.at(from_succ, edges.src, x[edges.dst])
    from_pred[np.isneginf(from_pred)] = _NO_NEIGHBOUR
    from_succ[np.isneginf(from_succ)] = _NO_NEIGHBOUR
    return np.concatenate([x, from_pred, from_succ], axis=1)


@dataclass(frozen=True)
class TreeEnsemble:
    """Regression trees as flat arrays (all trees' nodes concatenated); the raw score is ``bias`` + leaf values.

    A row goes left at a split when ``x[feature] <= threshold`` (or the value is NaN and ``nan_left``).
    """

    feature: np.ndarray  # int64, per node
    threshold: np.ndarray  # float64
    left: np.ndarray  # int64, absolute node index
    right: np.ndarray  # int64
    value: np.ndarray  # float64, leaf value
    leaf: np.ndarray  # bool
    nan_left: np.ndarray  # bool
    roots: np.ndarray  # int64, first node of each tree
    bias: float

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Raw scores (log-odds), shape (len(x),)."""
        x = np.asarray(x, dtype=np.float64)
        at = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        rows = np.arange(len(x))[:, None]
        while True:
            active = ~self.leaf[at]
            if not active.any():
                break
            val = x[rows, self.feature[at]]
            go_left = (val <= self.threshold[at]) | (np.isnan(val) & self.nan_left[at])
            at = np.where(active, np.where(go_left, self.left[at], self.right[at]), at)
        return self.bias + self.value[at].sum(axis=1)

    @classmethod
    def from_sklearn(cls, model) -> TreeEnsemble:
        """The trees of a fitted binary ``HistGradientBoostingClassifier`` (numeric features only)."""
        parts, roots, offset = [], [], 0
        for (predictor,) in model._predictors:
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise FlowpathError("categorical splits are not supported by the tree export")
            parts.append(nodes)
            roots.append(offset)
            offset += len(nodes)
        nodes = np.concatenate(parts)
        shift = np.repeat(np.array(roots, dtype=np.int64), [len(p) for p in parts])
        return cls(
            feature=nodes["feature_idx"].astype(np.int64),
            threshold=nodes["num_threshold"].astype(np.float64),
            left=nodes["left"].astype(np.int64) + shift,
            right=nodes["right"].astype(np.int64) + shift,
            value=np.where(nodes["is_leaf"] == 1, nodes["value"], 0.0).astype(np.float64),
            leaf=nodes["is_leaf"].astype(bool),
            nan_left=nodes["missing_go_to_left"].astype(bool),
            roots=np.array(roots, dtype=np.int64),
            bias=float(np.ravel(model._baseline_prediction)[0]),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """The ensemble as named arrays (for :func:`numpy.savez`)."""
        out = {f"tree_{k}": getattr(self, k) for k in ("feature", "threshold", "left", "right", "value", "leaf")}
        out |= {"tree_nan_left": self.nan_left, "tree_roots": self.roots, "tree_bias": np.array(self.bias)}
        return out

    @classmethod
    def from_arrays(cls, blob) -> TreeEnsemble:
        """Inverse of :meth:`arrays`."""
        keys = ("feature", "threshold", "left", "right", "value", "leaf", "nan_left", "roots")
        return cls(**{k: np.asarray(blob[f"tree_{k}"]) for k in keys}, bias=float(blob["tree_bias"]))


@dataclass
class NodeScorer:
    """Features of a node and its neighbours → boosted trees and message-passing nets, averaged → P(relevant)."""

    trees: TreeEnsemble
    nets: GraphNets
    threshold: float = THRESHOLD
    trained_on: list[str] = field(default_factory=list)  # chart keys seen in training

    def predict(self, features: np.ndarray, graph: Graph) -> np.ndarray:
        """Probabilities, shape (n_nodes,), for the rows of ``features`` (node order of ``graph``)."""
        if features.ndim != 2 or features.shape[1] != len(FEATURE_NAMES):
            raise FlowpathError(
                f"scorer expects {len(FEATURE_NAMES)} features, got {features.shape[1:]}; "
                "retrain with flowpath train-scorer"
            )
        if features.shape[0] != len(graph.nodes):
            raise FlowpathError(f"{features.shape[0]} feature rows for a chart of {len(graph.nodes)} nodes")
        edges = chart_edges(graph)
        trees = 1.0 / (1.0 + np.exp(-self.trees.raw(neighbour_features(features, edges))))
        return 0.5 * trees + 0.5 * self.nets.predict(features, edges)

    def save(self, path: Path) -> None:
        """Write the trees, nets and metadata as plain arrays (``numpy.load(..., allow_pickle=False)`` reads them)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes())

    def to_bytes(self) -> bytes:
        """The weights file's bytes (see :meth:`save`), for an atomic write."""
        meta = {"format": FORMAT, "features": list(FEATURE_NAMES), "threshold": self.threshold}
        meta["trained_on"] = sorted(self.trained_on)
        buffer = io.BytesIO()
        np.savez_compressed(buffer, meta=np.array(json.dumps(meta)), **self.trees.arrays(), **self.nets.arrays())
        return buffer.getvalue()


def fit_scorer(
    features: list[np.ndarray],
    labels: list[np.ndarray],
    graphs: list[Graph],
    *,
    seed: int = 0,
    iterations: int = ITERATIONS,
    nets: int = NETS,
    epochs: int = EPOCHS,
    trained_on: list[str] | None = None,
) -> NodeScorer:
    """Train a :class:`NodeScorer` on per-question feature matrices, 0/1 node labels and their charts.

    ``iterations`` boosting rounds for the trees; ``nets`` message-passing nets of ``epochs``
    epochs each. Deterministic for a given ``seed`` (and number of torch threads).

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> chart = parse_mermaid('flowchart TD\\n A["a"] --> B["b"] --> C["c"] --> D["d"]')
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(4, len(FEATURE_NAMES))).astype(np.float32) for _ in range(60)]
    >>> y = [(x[:, 0] > 0).astype(np.float32) for x in X]
    >>> s = fit_scorer(X, y, [chart] * 60, iterations=50, nets=1, epochs=10)
    >>> float(((s.predict(X[0], chart) > 0.5) == (y[0] > 0)).mean()) >= 0.75
    True
    """
    from sklearn.ensemble import HistGradientBoostingClassifier

    if not features:
        raise FlowpathError("no training examples")
    if not len(features) == len(labels) == len(graphs):
        raise FlowpathError(f"{len(features)} feature sets, {len(labels)} label sets and {len(graphs)} charts")
    edges = [chart_edges(g) for g in graphs]
    x = np.concatenate([neighbour_features(f, e) for f, e in zip(features, edges, strict=True)])
    y = np.concatenate([np.asarray(lab, dtype=np.float64) for lab in labels])
    if len(np.unique(y)) < 2:
        raise FlowpathError("the training labels are all the same; the scorer needs relevant and other nodes")
    model = HistGradientBoostingClassifier(
        max_iter=iterations,
        learning_rate=0.05,
        max_leaf_nodes=15,
        min_samples_leaf=20,
        l2_regularization=1.0,
        early_stopping=False,
        random_state=seed,
    )
    model.fit(x, y)
    trees = TreeEnsemble.from_sklearn(model)
    graph_nets = fit_graph_nets(features, labels, edges, seed=seed, nets=nets, epochs=epochs)
    return NodeScorer(trees, graph_nets, trained_on=list(trained_on or []))


@functools.cache
def load_scorer(path: Path = DEFAULT_WEIGHTS) -> NodeScorer:
    """The scorer stored at ``path`` (loaded once per process).

    Raises
    ------
    FlowpathError
        If the file is missing, not a scorer file, or was trained on other features.
    """
    if not path.is_file():
        raise FlowpathError(f"no scorer weights at {path}; train them with: flowpath train-scorer --data DIR")
    try:
        with np.load(path, allow_pickle=False) as blob:
            meta = json.loads(str(blob["meta"]))
            if (
                not isinstance(meta, dict)
                or meta.get("format") != FORMAT
                or meta.get("features") != list(FEATURE_NAMES)
            ):
                raise FlowpathError(
                    f"scorer weights at {path} were trained on other features or by an older version; "
                    "retrain with flowpath train-scorer"
                )
            scorer = NodeScorer(
                TreeEnsemble.from_arrays(blob),
                GraphNets.from_arrays(blob),
                float(meta["threshold"]),
                list(meta["trained_on"]),
            )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, zlib.error) as e:
        raise FlowpathError(
            f"{path} is not a node-scorer file of this version ({e}); retrain with flowpath train-scorer"
        ) from e
    log.info("loaded node scorer %s (sha256 %s)", path.name, hashlib.sha256(path.read_bytes()).hexdigest()[:12])
    return scorer

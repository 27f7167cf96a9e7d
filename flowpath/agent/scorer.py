"""Learned node-relevance scorer: a small MLP over :mod:`flowpath.agent.features`, trained by chart-split CV.

The committed weights (``weights/node_scorer.pt``, a few KB) come from ``flowpath train-scorer``
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

__all__ = ["DEFAULT_WEIGHTS", "NodeScorer", "fit_scorer", "load_scorer"]

log = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "node_scorer.pt"
_HIDDEN = (64, 32)


def _mlp(n_in: int) -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(n_in, _HIDDEN[0]),
        torch.nn.ReLU(),
        torch.nn.Linear(_HIDDEN[0], _HIDDEN[1]),
        torch.nn.ReLU(),
        torch.nn.Linear(_HIDDEN[1], 1),
    )


@dataclass
class NodeScorer:
    """Standardise features, then an MLP gives the probability that a node belongs to the attribution."""

    net: torch.nn.Sequential
    mean: torch.Tensor
    std: torch.Tensor
    threshold: float = 0.4
    trained_on: list[str] = field(default_factory=list)  # chart keys seen in training

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Probabilities, shape (n_nodes,)."""
        if features.shape[1] != self.mean.shape[0]:
            raise FlowpathError(
                f"scorer expects {self.mean.shape[0]} features, got {features.shape[1]}; "
                "retrain with flowpath train-scorer"
            )
        with torch.no_grad():
            x = (torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32)) - self.mean) / self.std
            return torch.sigmoid(self.net(x)).squeeze(1).numpy()

    def save(self, path: Path) -> None:
        """Write weights and metadata (a plain state dict, loadable with ``weights_only=True``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "state_dict": self.net.state_dict(),
                "mean": self.mean,
                "std": self.std,
                "threshold": self.threshold,
                "features": list(FEATURE_NAMES),
                "trained_on": sorted(self.trained_on),
            },
            path,
        )


def fit_scorer(
    features: list[np.ndarray],
    labels: list[np.ndarray],
    *,
    seed: int = 0,
    epochs: int = 40,
    trained_on: list[str] | None = None,
) -> NodeScorer:
    """Train a :class:`NodeScorer` on per-question feature matrices and 0/1 node labels.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.normal(size=(5, len(FEATURE_NAMES))).astype(np.float32) for _ in range(20)]
    >>> y = [(x[:, 0] > 0).astype(np.float32) for x in X]
    >>> s = fit_scorer(X, y, epochs=30)
    >>> float(((s.predict(X[0]) > 0.5) == (y[0] > 0)).mean()) >= 0.8
    True
    """
    if not features:
        raise FlowpathError("no training examples")
    torch.manual_seed(seed)
    x = torch.from_numpy(np.concatenate(features).astype(np.float32))
    y = torch.from_numpy(np.concatenate(labels).astype(np.float32))
    mean, std = x.mean(0), x.std(0) + 1e-6
    xn = (x - mean) / std
    net = _mlp(x.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), 256):
            idx = perm[start : start + 256]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xn[idx]).squeeze(1), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    return NodeScorer(net, mean, std, trained_on=list(trained_on or []))


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
    if blob.get("features") != list(FEATURE_NAMES):
        raise FlowpathError(
            f"scorer weights at {path} were trained on other features; retrain with flowpath train-scorer"
        )
    net = _mlp(len(FEATURE_NAMES))
    net.load_state_dict(blob["state_dict"])
    net.eval()
    log.info("loaded node scorer %s (sha256 %s)", path.name, hashlib.sha256(path.read_bytes()).hexdigest()[:12])
    return NodeScorer(net, blob["mean"], blob["std"], float(blob["threshold"]), list(blob["trained_on"]))

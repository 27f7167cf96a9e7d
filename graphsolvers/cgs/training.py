"""Tasks, training, evaluation and checkpoints of CGS and its baselines.

The functions here do the work; :mod:`graphsolvers.cli` only parses arguments and prints.
Training data, validation data (for picking the best step) and held-out evaluation data come from
disjoint generator seeds: ``seed``, ``seed + 1`` and :data:`EVAL_SEED` respectively.
"""

from __future__ import annotations

import copy
import io
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from graphsolvers.cgs.data import GraphBatch, collate
from graphsolvers.cgs.model import CGS, IGNN, StackedGNN
from graphsolvers.cli_support import write_atomic
from graphsolvers.errors import CheckpointError
from graphsolvers.tasks import gvi, porous
from graphsolvers.tasks.base import TaskSample

__all__ = [
    "CHECKPOINT_DIR",
    "EVAL_SEED",
    "MODELS",
    "TASKS",
    "Checkpoint",
    "TaskSpec",
    "build_model",
    "default_checkpoint",
    "evaluate_task",
    "get_task",
    "load_checkpoint",
    "predict",
    "save_checkpoint",
    "train_model",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "graphsolvers.cgs/1"
CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
"""Where the committed checkpoints live (``{task}_{model}.pt``)."""
EVAL_SEED = 20_260_000
"""Generator seed of the held-out evaluation graphs (training uses small seeds)."""


@dataclass(frozen=True)
class TaskSpec:
    """A task: how to generate it, its feature sizes, metrics and model defaults."""

    name: str
    node_dim: int
    edge_dim: int
    generate: Callable[..., list[TaskSample]]
    metrics: Callable[[list[TaskSample], list[np.ndarray]], dict[str, float]]
    primary: str
    cgs_kwargs: dict[str, Any]
    eval_splits: dict[str, dict[str, Any]] = field(default_factory=dict)
    aux_loss: Callable[..., torch.Tensor] | None = None
    """``aux_loss(x, edge_attr, edge_index, pred, target)`` (node predictions/targets in target units), added
    to the MSE with weight ``aux_weight`` for every model kind alike."""
    aux_weight: float = 0.0


TASKS: dict[str, TaskSpec] = {
    "gvi": TaskSpec(
        name="gvi",
        node_dim=gvi.NODE_DIM,
        edge_dim=gvi.EDGE_DIM,
        generate=gvi.generate_gvi,
        metrics=gvi.gvi_metrics,
        primary="policy_accuracy",
        # two rounds, the second with a lookahead over the 9 action slots of the features (one step of
        # learned policy improvement; see graphsolvers.cgs.model.SlotLookahead)
        cgs_kwargs={"gamma": gvi.DISCOUNT, "n_rounds": 2, "lookahead_slots": gvi.MAX_ACTIONS},
        eval_splits={"in-size (20-49 states)": {}},
        aux_loss=gvi.policy_loss,
        aux_weight=1.0,
    ),
    "porous": TaskSpec(
        name="porous",
        node_dim=porous.NODE_DIM,
        edge_dim=porous.EDGE_DIM,
        generate=porous.generate_porous,
        metrics=porous.porous_metrics,
        primary="mse",
        cgs_kwargs={"gamma": 0.98},
        eval_splits={"in-size (50-200 pores)": {}, "large (200-500 pores)": {"n_pores": (200, 500)}},
    ),
}

MODELS: dict[str, type[nn.Module]] = {"cgs": CGS, "ignn": IGNN, "gnn": StackedGNN}
"""Model kinds: ``cgs`` (this solver), ``ignn`` (IGNN-style implicit GNN), ``gnn`` (stacked message passing)."""


def get_task(name: str) -> TaskSpec:
    """The :class:`TaskSpec` called ``name`` (``"gvi"`` or ``"porous"``)."""
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; choose one of {sorted(TASKS)}") from None


def build_model(task: str, kind: str, config: dict[str, Any] | None = None) -> nn.Module:
    """A fresh model of ``kind`` for ``task``; ``config`` overrides the defaults."""
    spec = get_task(task)
    if kind not in MODELS:
        raise ValueError(f"unknown model {kind!r}; choose one of {sorted(MODELS)}")
    kwargs = dict(spec.cgs_kwargs) if kind == "cgs" else {}
    kwargs.update(config or {})
    return MODELS[kind](spec.node_dim, spec.edge_dim, **kwargs)


@dataclass
class Checkpoint:
    """A trained model with what is needed to use it: task, kind, config and target scaling."""

    task: str
    kind: str
    config: dict[str, Any]
    model: nn.Module
    target_mean: float
    target_std: float
    info: dict[str, Any] = field(default_factory=dict)

    def predict(self, samples: Sequence[TaskSample], *, batch_size: int = 64) -> list[np.ndarray]:
        """Node predictions (in target units) for each sample."""
        return predict(self, samples, batch_size=batch_size)


def predict(ckpt: Checkpoint, samples: Sequence[TaskSample], *, batch_size: int = 64) -> list[np.ndarray]:
    """Node predictions (N_i,) for each of ``samples``, in target units, on the model's device."""
    device = next(ckpt.model.parameters()).device
    ckpt.model.eval()
    out: list[np.ndarray] = []
    with torch.no_grad():
        for k in range(0, len(samples), batch_size):
            batch = collate(samples[k : k + batch_size], device=device)
            pred = (ckpt.model(batch)[:, 0] * ckpt.target_std + ckpt.target_mean).cpu().numpy()
            out.extend(np.split(pred, np.cumsum(batch.sizes())[:-1]))
    return out


def train_model(
    task: str,
    kind: str = "cgs",
    *,
    n_train: int = 2000,
    n_val: int = 100,
    max_steps: int = 2000,
    time_limit: float = 180.0,
    batch_size: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    config: dict[str, Any] | None = None,
    device: str | torch.device = "cpu",
    callback: Callable[[int, float], None] | None = None,
    aux_weight: float | None = None,
) -> Checkpoint:
    """Train a ``kind`` model on ``task`` for at most ``max_steps`` steps or ``time_limit`` seconds.

    The training graphs use generator seed ``seed``, the validation graphs ``seed + 1`` (the state
    with the best validation loss is kept); evaluation graphs (:data:`EVAL_SEED`) are never seen.
    The loss is the MSE of the standardised targets plus ``aux_weight`` (default: the task's) times the
    task's auxiliary loss (gvi: the cross-entropy of the greedy policy, :func:`~graphsolvers.tasks.gvi.policy_loss`).

    Returns
    -------
    Checkpoint
        ``info`` holds steps, seconds, seeds and the best validation loss.
    """
    spec = get_task(task)
    if aux_weight is None:
        aux_weight = spec.aux_weight
    if aux_weight < 0 or not math.isfinite(aux_weight):
        raise ValueError(f"aux_weight must be a finite number >= 0, got {aux_weight}")
    aux = spec.aux_loss if aux_weight > 0 else None
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    train = spec.generate(n_train, seed=seed)
    val = spec.generate(n_val, seed=seed + 1)
    ys = np.concatenate([s.y for s in train])
    mean, std = float(ys.mean()), float(ys.std() + 1e-8)
    model = build_model(task, kind, config).to(device)
    # the whole configuration (task defaults included), so later changes of the defaults leave it loadable
    full_config = {**(spec.cgs_kwargs if kind == "cgs" else {}), **(config or {})}
    ckpt = Checkpoint(task, kind, full_config, model, mean, std)
    val_batches = [collate(val[k : k + 64], device=device) for k in range(0, len(val), 64)]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5)
    warmup = max(1, min(50, max_steps // 20))
    best = (float("inf"), copy.deepcopy(model.state_dict()), 0)
    start, step = time.perf_counter(), 0
    while step < max_steps and time.perf_counter() - start < time_limit:
        order = rng.permutation(len(train))
        for k in range(0, len(order) - batch_size + 1, batch_size):
            batch = collate([train[i] for i in order[k : k + batch_size]], device=device)
            model.train()
            loss = _loss(model, batch, mean, std, aux, aux_weight)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            # linear warm-up, then cosine decay along whichever budget (steps or seconds) runs out first
            done = max(step / max_steps, (time.perf_counter() - start) / time_limit)
            for group in opt.param_groups:
                group["lr"] = lr * min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(done, 1.0)))
            opt.step()
            step += 1
            if callback is not None:
                callback(step, loss.item())
            if step % 50 == 0 or step == max_steps:
                v = _val_loss(model, val_batches, mean, std, aux, aux_weight)
                logger.info("step %d train %.4g val %.4g", step, loss.item(), v)
                if v < best[0]:
                    best = (v, copy.deepcopy(model.state_dict()), step)
            if step >= max_steps or time.perf_counter() - start >= time_limit:
                break
    v = _val_loss(model, val_batches, mean, std, aux, aux_weight)
    if v < best[0]:
        best = (v, copy.deepcopy(model.state_dict()), step)
    model.load_state_dict(best[1])
    ckpt.info = {
        "steps": step,
        "best_step": best[2],
        "seconds": round(time.perf_counter() - start, 1),
        "val_loss": best[0],
        "seed": seed,
        "n_train": n_train,
        "batch_size": batch_size,
        "lr": lr,
        "aux_weight": aux_weight,
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return ckpt


def _loss(
    model: nn.Module,
    batch: GraphBatch,
    mean: float,
    std: float,
    aux: Callable[..., torch.Tensor] | None = None,
    aux_weight: float = 0.0,
) -> torch.Tensor:
    if batch.y is None:
        raise ValueError("training batches need targets (TaskSample.y)")
    pred = model(batch)[:, 0]
    loss = nn.functional.mse_loss(pred, (batch.y[:, 0] - mean) / std)
    if aux is not None:
        loss = loss + aux_weight * aux(batch.x, batch.edge_attr, batch.edge_index, pred * std + mean, batch.y[:, 0])
    return loss


def _val_loss(
    model: nn.Module,
    batches: list[GraphBatch],
    mean: float,
    std: float,
    aux: Callable[..., torch.Tensor] | None = None,
    aux_weight: float = 0.0,
) -> float:
    model.eval()
    with torch.no_grad():
        return float(np.mean([float(_loss(model, b, mean, std, aux, aux_weight)) for b in batches]))


# ---------------------------------------------------------------------------- checkpoints
def default_checkpoint(task: str, kind: str = "cgs") -> Path:
    """Path of the committed checkpoint of ``kind`` for ``task``."""
    get_task(task)
    return CHECKPOINT_DIR / f"{task}_{kind}.pt"


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> Path:
    """Write ``ckpt`` atomically (a plain dict of tensors and JSON-able values; loads with ``weights_only``)."""
    buf = io.BytesIO()
    state = {k: v.detach().cpu().clone() for k, v in ckpt.model.state_dict().items()}
    torch.save(
        {
            "format": CHECKPOINT_FORMAT,
            "task": ckpt.task,
            "kind": ckpt.kind,
            "config": ckpt.config,
            "target_mean": ckpt.target_mean,
            "target_std": ckpt.target_std,
            "info": ckpt.info,
            "state_dict": state,
        },
        buf,
    )
    return write_atomic(path, buf.getvalue())


def load_checkpoint(path: str | Path, *, task: str | None = None, device: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (safely: ``torch.load(weights_only=True)``).

    Raises
    ------
    CheckpointError
        If the file is missing or unreadable, not a CGS checkpoint, its weights do not fit its
        model, or it was trained for another task than ``task``.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a corrupt file
        # the message of a failed unpickling can quote the file, so only its type is shown
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r} ({type(e).__name__}): not a checkpoint written by save_checkpoint"
        ) from e
    if not isinstance(data, dict) or data.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a {CHECKPOINT_FORMAT} checkpoint")
    if task is not None and data["task"] != task:
        other = data["task"] if data["task"] in TASKS else "another task"
        raise CheckpointError(
            f"checkpoint {str(path)!r} was trained for task {other!r}, not {task!r}; "
            f"use a {task!r} checkpoint (default: {default_checkpoint(task)})"
        )
    try:
        model = build_model(data["task"], data["kind"], data["config"])
        model.load_state_dict(data["state_dict"])
    except (RuntimeError, ValueError, TypeError, KeyError) as e:
        raise CheckpointError(f"checkpoint {str(path)!r} does not fit its model: {e}") from e
    model.to(device).eval()
    return Checkpoint(
        data["task"], data["kind"], data["config"], model, data["target_mean"], data["target_std"], data["info"]
    )


# ---------------------------------------------------------------------------- evaluation
def evaluate_task(
    task: str,
    checkpoints: dict[str, Checkpoint],
    *,
    n_graphs: int = 200,
    seed: int = EVAL_SEED,
) -> dict[str, Any]:
    """Metrics of each checkpoint (and of the exact solver) on held-out graphs of ``task``.

    Returns
    -------
    dict
        ``{"task", "n_graphs", "seed", "rows": [{"split", "model", <metrics>, "seconds"}, ...]}``;
        the splits are those of the task (porous adds 200–500-pore networks). The ``exact`` row's
        seconds are those of the generator, which builds the graphs and solves them exactly.
    """
    spec = get_task(task)
    rows: list[dict[str, Any]] = []
    for k, (split, kwargs) in enumerate(spec.eval_splits.items()):
        t0 = time.perf_counter()
        samples = spec.generate(n_graphs, seed=seed + k, **kwargs)
        exact_s = time.perf_counter() - t0  # generation = exact solve + graph building
        rows.append(
            {
                "split": split,
                "model": "exact",
                **spec.metrics(samples, [s.y for s in samples]),
                "seconds": round(exact_s, 3),
            }
        )
        for name, ckpt in checkpoints.items():
            t0 = time.perf_counter()
            preds = predict(ckpt, samples)
            rows.append(
                {
                    "split": split,
                    "model": name,
                    **spec.metrics(samples, preds),
                    "seconds": round(time.perf_counter() - t0, 3),
                }
            )
    return {"task": task, "n_graphs": n_graphs, "seed": seed, "rows": rows}

"""End to end: recordings → affinity tensor → NTF → weighted neuron graphs → communities → result files.

:func:`run_pipeline` composes the stages and returns a :class:`DynamicConnectome`; :func:`write_outputs`
saves it (``result.json`` plus PNG figures) into a folder atomically; :func:`behaviour_relation` relates
each component to behaviour covariates.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from connectome.affinity import AffinityTensor, affinity_tensor, component_correlation, rectified
from connectome.communities import METHODS, detect_communities
from connectome.errors import FactorizationError, OutputExistsError, ParameterError, UnknownNeuronError
from connectome.graphs import component_graph
from connectome.io import Recordings
from connectome.metrics import best_homolog_component
from connectome.ntf import NTFResult, RankSelection, ntf_restarts, plot_rank_selection, rank_selection, resolve_device
from connectome.timecourses import time_course_selection, window_similarity
from graphsolvers.graph import Graph

__all__ = [
    "Component",
    "DynamicConnectome",
    "PipelineRun",
    "behaviour_relation",
    "community_of",
    "run_pipeline",
    "write_outputs",
]

logger = logging.getLogger(__name__)

CLEAR_SIGNAL_ERROR = 0.1
"""Below this relative error of the window similarity's symmetric NMF (99 % of its energy explained) the
components are strong: the full NTF, time mode included, resolves them (also epochs whose partitions overlap,
which the similarity of windows blurs) and the weighted SBM keeps real homologs together. Above it the
similarity's time courses are kept fixed. Measured (tuning seeds 0-2 and 10-12): strong planted regime
0.03-0.07, low-SNR sweep 0.26-0.30 at within-group correlation 0.2, 0.6-0.67 at 0.1; 0.075-0.081 at 0.4,
which therefore takes the strong path."""


Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages: ``"affinity"``, ``"ntf"``, ``"communities"``."""


class Component(BaseModel):
    """One NTF component: when (``time``, one value per window), in whom (``animals``), which neurons together."""

    model_config = ConfigDict(extra="forbid")

    time: list[float]
    animals: list[float]
    communities: dict[str, int]
    weights: Graph = Field(description="the component's weighted neuron graph (shared Graph document)")


class DynamicConnectome(BaseModel):
    """The pipeline's result, saved as ``result.json``.

    ``windows_s``: centre of each window (s); ``components``: sorted by weight; ``params``: how it was made
    (window, stride, rank, method, seed, neurons, animals, component scales, relative error, rank selection).
    """

    model_config = ConfigDict(extra="forbid")

    windows_s: list[float]
    components: list[Component]
    params: dict[str, JsonValue]


@dataclass
class PipelineRun:
    """Everything a run produced: the result and the intermediate objects figures are drawn from."""

    result: DynamicConnectome
    tensor: AffinityTensor
    fit: NTFResult
    selection: RankSelection | None


def run_pipeline(
    rec: Recordings,
    *,
    window_s: float = 30.0,
    stride_s: float = 10.0,
    rank: int | Literal["auto"] = "auto",
    method: str = "auto",
    seed: int = 0,
    device: str | None = None,
    n_restarts: int = 3,
    max_iter: int = 300,
    tol: float = 1e-6,
    ranks: Sequence[int] | None = None,
    knn: int = 10,
    sigma_s: float = 1.0,
    progress: Progress | None = None,
) -> PipelineRun:
    """Run affinities → time courses → NTF → communities on ``rec``.

    1. Signed and clipped window affinities (:func:`connectome.affinity.affinity_tensor`).
    2. The cross-animal window similarity of the signed affinities and its symmetric NMF, rank by restart
       stability (:mod:`connectome.timecourses`).
    3. Strong components (that NMF's relative error below :data:`CLEAR_SIGNAL_ERROR`): the NTF of the clipped
       tensor, rank by restart similarity (:func:`connectome.ntf.rank_selection`), and each component's pair
       loadings as its graph. Weak components: the NTF with the similarity's time courses fixed
       (``fixed_time``) for the animal loadings, and each component's signed co-change weighted by its time
       course and animal loadings (:func:`connectome.affinity.component_correlation`) as its graph — found
       where the plain NTF sees only noise.
    4. Each graph kNN-sparsified → communities (``method``).

    Parameters
    ----------
    rec : Recordings
        Validated recordings (:func:`connectome.io.validate_recordings`).
    window_s, stride_s, sigma_s : float
        Sliding window, step and derivative smoothing, seconds (:func:`connectome.affinity.affinity_tensor`).
    rank : int or "auto"
        Number of components; ``"auto"`` sweeps ``ranks`` (default 1..min(8, windows)) and keeps the largest
        rank whose time courses are stable across restarts (:func:`connectome.timecourses.time_course_selection`).
    method : {"auto", "sbm", "leiden"}
        Community detection on each component graph. ``"auto"``: the weighted SBM when the components are
        strong (it then matches or beats Leiden, and keeps real homologs together), Leiden when they are weak
        (the SBM's description length merges small weak groups into one block).
    seed, device, n_restarts, max_iter, tol
        NTF options (:func:`connectome.ntf.ntf_hals`); the best of ``n_restarts`` fits is kept.
    knn : int
        Neighbours per neuron in each component graph.
    progress : callable, optional
        ``progress(stage, done, total)``.

    Raises
    ------
    ParameterError
        Unknown method or device, rank not a positive integer or "auto", bad window/stride.
    FactorizationError
        Fewer windows than the rank.

    Examples
    --------
    >>> from connectome.synthetic import planted_dynamic_recordings
    >>> rec, truth = planted_dynamic_recordings(n_neurons=12, n_animals=2, n_epochs=2, epoch_s=40.0, seed=0)
    >>> run = run_pipeline(rec, window_s=10, stride_s=5, rank=2, method="leiden", n_restarts=1, max_iter=50)
    >>> len(run.result.components), len(run.result.windows_s)
    (2, 15)
    """
    if method != "auto" and method not in METHODS:
        raise ParameterError(f"unknown community method {method!r}; choose one of auto, {', '.join(METHODS)}")
    if rank != "auto" and (isinstance(rank, bool) or not isinstance(rank, int | np.integer) or rank < 1):
        raise ParameterError(f"rank must be a positive integer or 'auto', got {rank!r}")
    resolve_device(device)
    if progress:
        progress("affinity", 0, 1)
    signed = affinity_tensor(rec, window_s=window_s, stride_s=stride_s, sigma_s=sigma_s, signed=True)
    tensor = rectified(signed)
    if progress:
        progress("affinity", 1, 1)
    n_windows = tensor.shape[1]
    if rank != "auto" and rank > n_windows:
        raise FactorizationError(
            f"only {n_windows} windows for rank {rank}; need at least as many windows as components "
            "(shorten the stride or lower the rank)"
        )
    candidates = [r for r in (ranks or range(1, 9)) if r <= n_windows] if rank == "auto" else [int(rank)]
    if not candidates:
        raise FactorizationError(f"no candidate rank fits the {n_windows} windows")
    total = len(candidates) + n_restarts
    done = [0]

    def tick(*_: object) -> None:
        done[0] += 1
        if progress:
            progress("ntf", done[0], total)

    courses = time_course_selection(
        window_similarity(signed), ranks=candidates, n_restarts=max(n_restarts, 2), seed=seed, progress=tick
    )
    options: dict[str, Any] = {"max_iter": max_iter, "tol": tol, "device": device}
    clear = courses.rel_error < CLEAR_SIGNAL_ERROR
    detector = method if method != "auto" else ("sbm" if clear else "leiden")
    if clear:  # strong components: the NTF resolves them itself
        selection, fit = _free_ntf(tensor, rank, candidates, n_restarts, seed, tick, options)
    else:  # weak components: keep the time courses the cross-animal similarity found
        selection = courses.selection
        fit = ntf_restarts(
            tensor.values,
            rank=courses.courses.shape[1],
            n_restarts=n_restarts,
            mask=tensor.mask,
            seed=seed,
            progress=tick,
            fixed_time=courses.courses,
            **options,
        )[0]
    components = []
    pair_f, time_f, animal_f = fit.factors
    for r in range(fit.rank):
        if clear:
            weights = pair_f[:, r]
        else:
            co_change = component_correlation(rec, tensor, time_f[:, r], animal_f[:, r])
            weights = np.clip(co_change[tensor.pairs[:, 0], tensor.pairs[:, 1]], 0.0, None)
        graph = component_graph(
            weights,
            tensor.pairs,
            tensor.neurons,
            knn=knn,
            attrs={"component": r, "method": detector},
        )
        communities = detect_communities(graph, method=detector, seed=seed)
        components.append(
            Component(
                time=[float(v) for v in time_f[:, r]],
                animals=[float(v) for v in animal_f[:, r]],
                communities=communities,
                weights=graph,
            )
        )
        if progress:
            progress("communities", r + 1, fit.rank)
    params: dict[str, JsonValue] = {
        "window_s": float(window_s),
        "stride_s": float(stride_s),
        "sigma_s": float(sigma_s),
        "rank": fit.rank,
        "rank_mode": "auto" if rank == "auto" else "fixed",
        "method": detector,
        "time_courses": "ntf" if clear else "window similarity",
        "window_similarity_error": round(courses.rel_error, 4),
        "seed": int(seed),
        "n_restarts": int(n_restarts),
        "max_iter": int(max_iter),
        "tol": float(tol),
        "knn": int(knn),
        "fps": float(rec.fps),
        "neurons": list(tensor.neurons),
        "animals": list(tensor.animals),
        "component_scale": [float(w) for w in fit.weights],
        "rel_error": float(fit.rel_error),
        "n_iter": int(fit.n_iter),
        "observed_fraction": tensor.observed_fraction,
        "stimuli": [{"name": s.name, "onset_s": s.onset_s, "offset_s": s.offset_s} for s in rec.stimuli],
        "affinity": "max(0, mean_t z_i(t) z_j(t)); z = d/dt of Gaussian-smoothed trace / its std per animal",
    }
    if selection is not None:
        params["rank_selection"] = selection.to_dict()  # type: ignore[assignment]
    best, shares = best_homolog_component([c.communities for c in components])
    if any(s.pairs for s in shares):  # named left/right neurons (XL/XR): real recordings
        params["homolog_share"] = {
            "pairs": shares[0].pairs,
            "share": [round(s.share, 4) for s in shares],
            "chance": [round(s.chance, 4) for s in shares],
            "best_component": best,
        }
    result = DynamicConnectome(windows_s=[float(t) for t in tensor.windows_s], components=components, params=params)
    return PipelineRun(result=result, tensor=tensor, fit=fit, selection=selection)


def _free_ntf(
    tensor: AffinityTensor,
    rank: int | Literal["auto"],
    candidates: Sequence[int],
    n_restarts: int,
    seed: int,
    tick: Callable[..., None],
    options: dict[str, Any],
) -> tuple[RankSelection | None, NTFResult]:
    """NTF of the clipped tensor with every mode fitted; rank by restart similarity when ``rank`` is "auto"."""
    if rank == "auto":
        selection = rank_selection(
            tensor.values,
            ranks=candidates,
            n_restarts=max(n_restarts, 2),
            mask=tensor.mask,
            seed=seed,
            progress=tick,
            **options,
        )
        return selection, selection.best_fits[selection.ranks.index(selection.chosen)]
    fits = ntf_restarts(
        tensor.values, rank=int(rank), n_restarts=n_restarts, mask=tensor.mask, seed=seed, progress=tick, **options
    )
    return None, fits[0]


def community_of(result: DynamicConnectome, neurons: Sequence[str], *, component: int = 0) -> dict[str, int]:
    """The community of each named neuron in one component.

    Raises
    ------
    UnknownNeuronError
        For a name that is not in the result (the message lists a few known names).
    ParameterError
        For a component index out of range.
    """
    if not 0 <= component < len(result.components):
        raise ParameterError(f"component {component} out of range; the result has {len(result.components)}")
    comms = result.components[component].communities
    unknown = [n for n in neurons if n not in comms]
    if unknown:
        known = ", ".join(sorted(comms)[:6])
        raise UnknownNeuronError(f"unknown neuron name(s) {unknown}; the result has {len(comms)} neurons, e.g. {known}")
    return {n: comms[n] for n in neurons}


# ---------------------------------------------------------------------------------------------- behaviour
def behaviour_relation(run: PipelineRun, rec: Recordings) -> dict[str, Any]:
    """Relate each component to the behaviour covariates of ``rec``.

    For every animal the component's *activity* in window ``w`` is the projection of that animal's affinity
    slice on the component's pair loadings (observed pairs only, normalised by the observed loading mass).
    Reported per component and covariate: the Pearson correlation between activity and the covariate's
    window mean, per animal and averaged, also after dividing the activity by the *global* activity (mean
    affinity of all observed pairs) — a component that only follows how much the whole brain changes gets
    a high plain r but not a high relative r; for the ``reversal`` covariate also the reversal-triggered
    average of the activity (windows around each reversal onset, z-scored per animal). ``"global"`` holds
    the same numbers for the global activity itself.
    """
    tensor, fit = run.tensor, run.fit
    starts = np.round((np.asarray(tensor.windows_s) * rec.fps) - tensor.window_s * rec.fps / 2).astype(int)
    length = max(2, round(tensor.window_s * rec.fps))
    vals = np.where(tensor.mask, tensor.values, 0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # windows where a covariate is all NaN
        windowed_cov = {
            name: np.array([[np.nanmean(cov[a, s : s + length]) for s in starts] for a in range(rec.n_animals)]).T
            for name, cov in rec.covariates.items()
        }
    # baseline: the mean affinity over all observed pairs (global co-change), to judge specificity
    global_activity = vals.sum(axis=0) / np.maximum(tensor.mask.sum(axis=0), 1)
    out: dict[str, Any] = {
        "global": {name: _correlations(global_activity, w) for name, w in windowed_cov.items()},
        "components": [],
    }
    if "reversal" in rec.covariates:
        out["global"]["reversal_triggered"] = _reversal_triggered(
            global_activity, rec.covariates["reversal"], starts, length
        )
    for r in range(fit.rank):
        load = fit.factors[0][:, r]
        activity = np.einsum("pwa,p->wa", vals, load) / np.maximum(np.einsum("pwa,p->wa", tensor.mask, load), 1e-12)
        specific = activity / np.maximum(global_activity, 1e-12)
        comp: dict[str, Any] = {"component": r, "covariates": {}}
        for name, windowed in windowed_cov.items():
            comp["covariates"][name] = _correlations(activity, windowed)
            comp["covariates"][name]["r_mean_relative_to_global"] = _correlations(specific, windowed)["r_mean"]
        if "reversal" in rec.covariates:
            comp["reversal_triggered"] = _reversal_triggered(activity, rec.covariates["reversal"], starts, length)
        out["components"].append(comp)
    return out


def _correlations(activity: np.ndarray, windowed: np.ndarray) -> dict[str, Any]:
    """Pearson r per animal (columns) between an activity and a windowed covariate, and their mean."""
    rs = []
    for a in range(activity.shape[1]):
        x, y = activity[:, a], windowed[:, a]
        ok = np.isfinite(x) & np.isfinite(y)
        good = ok.sum() > 2 and x[ok].std() > 0 and y[ok].std() > 0
        rs.append(float(np.corrcoef(x[ok], y[ok])[0, 1]) if good else float("nan"))
    return {"r_per_animal": rs, "r_mean": float(np.nanmean(rs)) if np.isfinite(rs).any() else None}


def _reversal_triggered(
    activity: np.ndarray, reversal: np.ndarray, starts: np.ndarray, length: int, span: int = 3
) -> dict[str, Any]:
    centres = starts + length // 2
    rows = []
    for a in range(activity.shape[1]):
        act = activity[:, a]
        if not np.isfinite(act).all() or act.std() == 0:
            continue
        z = (act - act.mean()) / act.std()
        onsets = np.flatnonzero(np.diff(np.nan_to_num(reversal[a]) > 0.5, prepend=False))
        for t in onsets:
            w = int(np.argmin(np.abs(centres - t)))
            if span <= w < len(z) - span:
                rows.append(z[w - span : w + span + 1])
    if not rows:
        return {"lags_windows": list(range(-span, span + 1)), "mean_z": None, "n_events": 0}
    arr = np.array(rows)
    return {
        "lags_windows": list(range(-span, span + 1)),
        "mean_z": arr.mean(axis=0).round(4).tolist(),
        "n_events": len(rows),
    }


# ---------------------------------------------------------------------------------------------- outputs
def write_outputs(
    run: PipelineRun, rec: Recordings, out_dir: str | os.PathLike[str], *, behaviour: bool = True
) -> Path:
    """Write ``result.json``, ``behaviour.json`` (when there are covariates) and PNG figures into ``out_dir``.

    Everything is written into a temporary sibling folder first and renamed at the end, so ``out_dir``
    either holds a complete result or is untouched (and parent folders made for it are removed again).

    Raises
    ------
    OutputExistsError
        If ``out_dir`` exists and is not empty.
    """
    from graphsolvers.cli_support import staged_folder

    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise OutputExistsError(f"output folder {out} already exists and is not empty; choose another --out")
    with staged_folder(out) as tmp:  # removed again, with any parent folders it made, if a step fails
        (tmp / "result.json").write_text(run.result.model_dump_json(indent=1), encoding="utf-8")
        if behaviour and rec.covariates:
            relation = behaviour_relation(run, rec)
            (tmp / "behaviour.json").write_text(json.dumps(relation, indent=1), encoding="utf-8")
            _behaviour_figure(relation, tmp / "behaviour.png")
        _figures(run, rec, tmp)
    return out


def _behaviour_figure(relation: dict[str, Any], path: Path) -> None:
    """Correlation of each component (and the global activity) with each covariate, and reversal-triggered averages."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    comps = relation["components"]
    names = [n for n in comps[0]["covariates"]] if comps else []
    has_rta = bool(comps) and "reversal_triggered" in comps[0]
    fig, axes = plt.subplots(1, 2 if has_rta else 1, figsize=(11 if has_rta else 6, 3.5), squeeze=False)
    ax = axes[0, 0]
    width = 0.8 / (len(comps) + 1)
    for k, (label, getter) in enumerate(
        [("global", lambda n: relation["global"][n]["r_mean"])]
        + [(f"C{c['component']}", lambda n, c=c: c["covariates"][n]["r_mean"]) for c in comps]
    ):
        vals = [getter(n) if getter(n) is not None else np.nan for n in names]
        ax.bar(np.arange(len(names)) + k * width, vals, width, label=label, color="0.3" if k == 0 else f"C{k - 1}")
    ax.set_xticks(np.arange(len(names)) + 0.4 - width / 2)
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("mean r over animals")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=7)
    if has_rta:
        ax = axes[0, 1]
        g = relation["global"].get("reversal_triggered", {})
        if g.get("mean_z"):
            ax.plot(g["lags_windows"], g["mean_z"], "--", color="0.3", label="global")
        for c in comps:
            rta = c["reversal_triggered"]
            if rta["mean_z"]:
                ax.plot(rta["lags_windows"], rta["mean_z"], color=f"C{c['component']}", label=f"C{c['component']}")
        ax.axvline(0, color="0.6", lw=0.8)
        ax.set_xlabel("windows from reversal onset")
        ax.set_ylabel("activity (z)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _figures(run: PipelineRun, rec: Recordings, folder: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    result = run.result
    t = np.asarray(result.windows_s)
    k = len(result.components)
    fig, axes = plt.subplots(k, 1, figsize=(8, 1.6 * k + 0.6), sharex=True, squeeze=False)
    for r, comp in enumerate(result.components):
        ax = axes[r, 0]
        for s in rec.stimuli:
            ax.axvspan(s.onset_s, s.offset_s, color="tab:orange", alpha=0.25, lw=0)
        ax.plot(t, comp.time, "k-")
        ax.set_ylabel(f"C{r}")
    axes[-1, 0].set_xlabel("time (s, window centre)")
    fig.suptitle("component time courses" + (" (stimuli shaded)" if rec.stimuli else ""))
    fig.tight_layout()
    fig.savefig(folder / "time_courses.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, k, figsize=(2.2 * k + 1, 2.6), squeeze=False)
    for r, comp in enumerate(result.components):
        axes[0, r].bar(range(len(comp.animals)), comp.animals, color="0.4")
        axes[0, r].set_title(f"C{r}")
        axes[0, r].set_xticks(range(len(comp.animals)))
    axes[0, 0].set_ylabel("animal loading")
    fig.tight_layout()
    fig.savefig(folder / "animal_loadings.png", dpi=110)
    plt.close(fig)

    cols = min(k, 3)
    rows = (k + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 5 * rows), squeeze=False)
    for r, comp in enumerate(result.components):
        ax = axes[r // cols, r % cols]
        g = nx.Graph()
        g.add_nodes_from(comp.communities)
        for e in comp.weights.edges:
            g.add_edge(e.source, e.target, weight=e.weight or 1.0)
        pos = nx.spring_layout(g, weight="weight", seed=0)
        colors = [comp.communities[n] for n in g.nodes]
        widths = [2.5 * g[u][v]["weight"] for u, v in g.edges]
        nx.draw_networkx_edges(g, pos, ax=ax, width=widths, alpha=0.3)
        nx.draw_networkx_nodes(g, pos, ax=ax, node_color=colors, cmap="tab20", node_size=60)
        if len(g) <= 160:
            nx.draw_networkx_labels(g, pos, ax=ax, font_size=5)
        ax.set_title(f"C{r}: {len(set(colors))} communities")
        ax.axis("off")
    for r in range(k, rows * cols):
        axes[r // cols, r % cols].axis("off")
    fig.tight_layout()
    fig.savefig(folder / "communities.png", dpi=110)
    plt.close(fig)

    if run.selection is not None:
        plot_rank_selection(run.selection, str(folder / "rank_selection.png"))

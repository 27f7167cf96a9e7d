"""Typed tools for the agent tool library: pydantic arguments in, JSON-compatible dicts out.

``connectome_factorize`` runs affinities + NTF on recordings; ``connectome_communities`` reads a saved
``result.json`` and reports the communities of one component (optionally only for named neurons),
re-detecting them with the chosen method. Bad arguments raise :class:`connectome.errors.ConnectomeError`
subclasses whose message a model can act on. Each tool follows :mod:`graphsolvers.toolspec`:
``tool(args, context=None) -> dict``. Given a context with a root (a tool session's root folder), a tool reads
only files under it (:func:`graphsolvers.security.resolve_under_root`); without one (trusted Python callers)
any path is read. :data:`TOOLS` publishes both in the ``graphsolvers.tools`` entry-point group.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError

from connectome.errors import DataFormatError, ParameterError
from graphsolvers import safe_json
from graphsolvers.security import PATH_QUOTE_CHARS, quote, resolve_tree_under_root
from graphsolvers.toolspec import ToolArgs, ToolContext, ToolSpec

__all__ = [
    "MAX_SEED",
    "TOOLS",
    "CommunitiesArgs",
    "FactorizeArgs",
    "connectome_communities",
    "connectome_factorize",
]

MAX_SEED = 2**63 - 1
"""Largest random seed a tool takes: the NTF seeds torch (unsigned 64 bits), the SBM numpy (non-negative) and
Leiden igraph (a signed 64-bit integer), so a seed must fit all three."""


class FactorizeArgs(ToolArgs):
    """Arguments of :func:`connectome_factorize`."""

    data: str = Field(description="recordings: a .npz/.h5 file or a flavell2023 folder")
    window_s: float = Field(30.0, gt=0, description="sliding window length, seconds")
    stride_s: float = Field(10.0, gt=0, description="window step, seconds")
    rank: int | Literal["auto"] = Field("auto", description="number of components, or 'auto'")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="random seed, 0 to 2**63 - 1")
    device: str = "cpu"
    n_restarts: int = Field(2, ge=1, le=20)
    top_pairs: int = Field(10, ge=0, le=200, description="strongest neuron pairs listed per component")


class CommunitiesArgs(ToolArgs):
    """Arguments of :func:`connectome_communities`."""

    result: str = Field(description="path of a result.json written by `connectome run`")
    component: int = Field(0, ge=0, description="component index (0 = strongest)")
    method: Literal["sbm", "leiden"] = "sbm"
    neurons: list[str] | None = Field(None, description="only report these neurons (names as in the result)")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="random seed, 0 to 2**63 - 1")


def _path(user_path: str, context: ToolContext | None, *, folder_ok: bool = False) -> Path:
    """A file (or, with ``folder_ok``, folder) argument: resolved under the context's root (refused outside it, as is
    a folder with a link that leads out) when it has one; a path that is not there (or a folder where only a file
    will do) is a :class:`DataFormatError` naming the caller's path."""
    root = context.root if context is not None else None
    path = resolve_tree_under_root(user_path, root) if root is not None else Path(user_path)
    if not (path.is_file() or (folder_ok and path.is_dir())):
        raise DataFormatError(
            f"no such {'file or folder' if folder_ok else 'file'}: {quote(user_path, PATH_QUOTE_CHARS)}"
        )
    return path


def connectome_factorize(args: FactorizeArgs | dict[str, Any], context: ToolContext | None = None) -> dict[str, Any]:
    """Factorize the recordings' dynamic affinities into components (when, in which animals, which pairs).

    Returns ``{"rank", "rel_error", "windows_s", "components": [{"time", "animals", "animal_names",
    "top_pairs": [[neuron, neuron, loading], ...]}]}``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from connectome.io import save_recordings
    >>> from connectome.synthetic import planted_dynamic_recordings
    >>> rec, _ = planted_dynamic_recordings(n_neurons=12, n_animals=2, n_epochs=2, epoch_s=40.0)
    >>> p = save_recordings(pathlib.Path(tempfile.mkdtemp()) / "r.npz", rec)
    >>> out = connectome_factorize({"data": str(p), "window_s": 10, "stride_s": 5, "rank": 2, "n_restarts": 1})
    >>> out["rank"], len(out["components"][0]["time"])
    (2, 15)
    """
    from connectome.affinity import affinity_tensor
    from connectome.io import load_recordings
    from connectome.ntf import choose_rank, ntf_restarts, rank_selection

    a = FactorizeArgs.coerce(args, error=ParameterError)
    rec = load_recordings(_path(a.data, context, folder_ok=True))
    tensor = affinity_tensor(rec, window_s=a.window_s, stride_s=a.stride_s)
    if a.rank == "auto":
        ranks = [r for r in range(1, 9) if r <= tensor.shape[1]]
        sel = rank_selection(
            tensor.values, ranks=ranks, n_restarts=max(a.n_restarts, 2), mask=tensor.mask, seed=a.seed, device=a.device
        )
        fit = sel.best_fits[sel.ranks.index(choose_rank(sel.ranks, sel.similarities))]
    else:
        fit = ntf_restarts(
            tensor.values, rank=a.rank, n_restarts=a.n_restarts, mask=tensor.mask, seed=a.seed, device=a.device
        )[0]
    comps = []
    for r in range(fit.rank):
        loading = fit.factors[0][:, r]
        order = loading.argsort()[::-1][: a.top_pairs]
        comps.append(
            {
                "time": [round(float(v), 6) for v in fit.factors[1][:, r]],
                "animals": [round(float(v), 6) for v in fit.factors[2][:, r]],
                "animal_names": tensor.animals,
                "top_pairs": [
                    [
                        tensor.neurons[tensor.pairs[p, 0]],
                        tensor.neurons[tensor.pairs[p, 1]],
                        round(float(loading[p]), 6),
                    ]
                    for p in order
                ],
            }
        )
    return {
        "rank": fit.rank,
        "rel_error": round(fit.rel_error, 6),
        "windows_s": [round(float(t), 3) for t in tensor.windows_s],
        "components": comps,
    }


def connectome_communities(
    args: CommunitiesArgs | dict[str, Any], context: ToolContext | None = None
) -> dict[str, Any]:
    """Communities of one component of a saved result, by the weighted SBM or Leiden.

    Returns ``{"component", "method", "n_communities", "communities": {neuron: id}, "members": {id: [neurons]}}``;
    with ``neurons`` given, ``communities`` lists only those and ``members`` only their communities.

    Raises
    ------
    OutsideRootError
        ``result`` outside ``root``.
    UnknownNeuronError
        A name in ``neurons`` that is not in the result.
    ParameterError
        Bad arguments or a component index out of range.
    DataFormatError
        A result file that is missing or cannot be read.
    """
    from connectome.communities import detect_communities
    from connectome.pipeline import DynamicConnectome, community_of

    a = CommunitiesArgs.coerce(args, error=ParameterError)
    path = _path(a.result, context)
    try:
        result = DynamicConnectome.model_validate(safe_json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise
    except (json.JSONDecodeError, UnicodeDecodeError, ValidationError) as e:
        raise DataFormatError(f"{path} is not a connectome result.json: {str(e).splitlines()[0]}") from e
    if not a.component < len(result.components):
        raise ParameterError(f"component {a.component} out of range; the result has {len(result.components)}")
    comp = result.components[a.component]
    communities = detect_communities(comp.weights, method=a.method, seed=a.seed)
    result.components[a.component].communities = communities
    chosen = community_of(result, a.neurons, component=a.component) if a.neurons is not None else communities
    members: dict[int, list[str]] = {}
    for name, c in communities.items():
        if c in set(chosen.values()):
            members.setdefault(c, []).append(name)
    return {
        "component": a.component,
        "method": a.method,
        "n_communities": len(set(communities.values())),
        "communities": chosen,
        "members": {str(k): v for k, v in sorted(members.items())},
    }


TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec.from_function(connectome_factorize, FactorizeArgs),
    ToolSpec.from_function(connectome_communities, CommunitiesArgs),
)
"""The connectome tools, for hosts that load the ``graphsolvers.tools`` entry points."""

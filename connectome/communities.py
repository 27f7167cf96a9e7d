"""Community detection on component graphs: one signature, ``(graph, *, seed) -> {node id: community}``.

:func:`detect_communities` dispatches to the weighted degree-corrected SBM (:mod:`connectome.sbm`, default)
or Leiden (:mod:`connectome.leiden`). The graph construction lives in :mod:`connectome.graphs`, the scores
in :mod:`connectome.metrics` and the planted benchmark graphs in :mod:`connectome.synthetic`; their names
stay importable from here for existing callers.
"""

from __future__ import annotations

from typing import Literal

from connectome.errors import ParameterError
from connectome.graphs import component_graph
from connectome.leiden import leiden_communities
from connectome.metrics import nmi
from connectome.sbm import SBMFit, fit_weighted_sbm, sbm_communities
from connectome.synthetic import planted_partition_graph
from graphsolvers.graph import Graph

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

METHODS = ("sbm", "leiden")
Method = Literal["sbm", "leiden"]


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

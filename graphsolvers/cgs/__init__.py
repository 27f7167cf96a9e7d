"""Convergent Graph Solvers (Park, Choo, Park, ICLR 2022) on the shared graph model, sparse and implicit.

* :mod:`graphsolvers.cgs.model` — encoder, contracting fixed-point heads, decoder; IGNN and stacked-GNN baselines;
* :mod:`graphsolvers.cgs.training` — tasks, training, evaluation, checkpoints;
* :mod:`graphsolvers.cgs.bench` — sparse vs dense time/memory benchmark;
* :mod:`graphsolvers.cgs.tools` — typed agent tools ``cgs_solve`` and ``cgs_predict``.

The solvers themselves live in :mod:`graphsolvers.fixedpoint`.
"""

from graphsolvers.lazy import lazy_exports

__all__ = ["CGS", "IGNN", "StackedGNN", "cgs_predict", "cgs_solve"]

# loaded on first use: the tool registry reads this package's tools, and a process that only lists or
# calls tools (a parse worker, the CLI) should not pay for torch
__getattr__ = lazy_exports(
    __name__, {"CGS": "model", "IGNN": "model", "StackedGNN": "model", "cgs_predict": "tools", "cgs_solve": "tools"}
)

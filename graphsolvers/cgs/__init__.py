"""Convergent Graph Solvers (Park, Choo, Park, ICLR 2022) on the shared graph model, sparse and implicit.

* :mod:`graphsolvers.cgs.model` — encoder, contracting fixed-point heads, decoder; IGNN and stacked-GNN baselines;
* :mod:`graphsolvers.cgs.training` — tasks, training, evaluation, checkpoints;
* :mod:`graphsolvers.cgs.bench` — sparse vs dense time/memory benchmark;
* :mod:`graphsolvers.cgs.tools` — typed agent tools ``cgs_solve`` and ``cgs_predict``.

The solvers themselves live in :mod:`graphsolvers.fixedpoint`.
"""

from graphsolvers.cgs.model import CGS, IGNN, StackedGNN
from graphsolvers.cgs.tools import cgs_predict, cgs_solve

__all__ = ["CGS", "IGNN", "StackedGNN", "cgs_predict", "cgs_solve"]

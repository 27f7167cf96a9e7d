"""Task generators from "Convergent Graph Solvers" (Park, Choo, Park, ICLR 2022), numpy/scipy only.

* :mod:`graphsolvers.tasks.gvi` — graph value iteration on random MDP graphs;
* :mod:`graphsolvers.tasks.porous` — Stokes flow (pressure) in Delaunay pore networks.

Every generator returns :class:`TaskSample` objects (arrays plus the exact solution) that convert
to and from the shared :class:`~graphsolvers.graph.Graph` (features in ``attrs["features"]``).
"""

from graphsolvers.tasks.base import TaskSample, sample_from_graph
from graphsolvers.tasks.gvi import generate_gvi
from graphsolvers.tasks.porous import generate_porous

__all__ = ["TaskSample", "generate_gvi", "generate_porous", "sample_from_graph"]

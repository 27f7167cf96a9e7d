"""Stokes flow in porous networks: pressure in random Delaunay pore networks.

``n ~ U{50..200}`` pores are placed uniformly in a 1 mm cube; throats are the edges of their
Delaunay tetrahedralisation (``scipy.spatial.Delaunay``). Pore diameters are lognormal (median
40 µm, σ = 0.4 in log space, clipped to 5–150 µm); a throat's radius is a quarter of the smaller
pore diameter it joins and its length the centre distance minus both pore radii (at least 1 µm).
Throat conductance is Hagen–Poiseuille, ``g = π r⁴ / (8 μ L)`` with water (μ = 1e-3 Pa·s).
Pores within 0.1 mm of the face ``x = 0`` are held at 101325 Pa, pores within 0.1 mm of ``x = 1 mm``
at 0 Pa (the nearest pore to a face when none is that close); mass conservation
``Σ_j g_ij (p_i − p_j) = 0`` at every other pore gives a sparse linear system, solved exactly by
``scipy.sparse.linalg.spsolve``. The target is ``p / max p`` (in [0, 1]).

Graph form: node features ``[x, y, z (mm), d / 100 µm, inlet, outlet]`` (6 numbers); each throat
is two directed edges with features ``[ln(g / mean g), L / 1 mm]`` (2 numbers; only conductance
ratios matter for the pressure field).
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve
from scipy.spatial import Delaunay

from graphsolvers.tasks.base import TaskSample

__all__ = ["EDGE_DIM", "INLET_PRESSURE", "NODE_DIM", "generate_porous", "porous_metrics", "solve_pressure"]

INLET_PRESSURE = 101325.0
VISCOSITY = 1e-3
CUBE = 1e-3
NODE_DIM = 6
EDGE_DIM = 2


def generate_porous(n_graphs: int, *, seed: int, n_pores: tuple[int, int] = (50, 200)) -> list[TaskSample]:
    """``n_graphs`` pore networks with the normalised pressure as node target.

    Parameters
    ----------
    n_graphs : int
    seed : int
        Seed of ``numpy.random.default_rng``.
    n_pores : (int, int), default (50, 200)
        Inclusive range of pores per network (use ``(200, 500)`` for the size-generalisation test).

    Examples
    --------
    >>> s = generate_porous(1, seed=0)[0]
    >>> 50 <= s.num_nodes <= 200, float(s.y.max()), float(s.y.min())
    (True, 1.0, 0.0)
    """
    rng = np.random.default_rng(seed)
    return [_one_network(rng, int(rng.integers(n_pores[0], n_pores[1] + 1))) for _ in range(n_graphs)]


def solve_pressure(
    n: int, edges: np.ndarray, conductance: np.ndarray, inlet: np.ndarray, outlet: np.ndarray
) -> np.ndarray:
    """Pore pressures (Pa) from throat ``edges`` (2, T), ``conductance`` (T,) and boundary masks.

    Examples
    --------
    >>> import numpy as np
    >>> p = solve_pressure(3, np.array([[0, 1], [1, 2]]), np.array([1.0, 1.0]),
    ...                    np.array([1, 0, 0], bool), np.array([0, 0, 1], bool))
    >>> p.tolist()
    [101325.0, 50662.5, 0.0]
    """
    i, j = edges
    G = coo_matrix((np.r_[conductance, conductance], (np.r_[i, j], np.r_[j, i])), shape=(n, n)).tocsr()
    L = (coo_matrix((np.asarray(G.sum(axis=1)).ravel(), (np.arange(n), np.arange(n))), shape=(n, n)) - G).tolil()
    b = np.zeros(n)
    fixed = np.flatnonzero(inlet | outlet)
    for k in fixed:
        L.rows[k], L.data[k] = [int(k)], [1.0]
    b[inlet] = INLET_PRESSURE
    return spsolve(L.tocsr(), b)


def porous_metrics(samples: list[TaskSample], predictions: list[np.ndarray]) -> dict[str, float]:
    """``mse`` of the normalised pressure over all pores of all networks."""
    err = np.concatenate(
        [
            (np.asarray(p, np.float64).reshape(-1) - s.y.reshape(-1)) ** 2
            for s, p in zip(samples, predictions, strict=True)
        ]
    )
    return {"mse": float(err.mean())}


def _one_network(rng: np.random.Generator, n: int) -> TaskSample:
    pos = rng.uniform(0.0, CUBE, size=(n, 3))
    diam = np.clip(rng.lognormal(np.log(40e-6), 0.4, size=n), 5e-6, 150e-6)
    simplices = Delaunay(pos).simplices
    pairs = np.concatenate([simplices[:, [a, b]] for a in range(4) for b in range(a + 1, 4)])
    pairs = np.unique(np.sort(pairs, axis=1), axis=0).T  # (2, T), i < j
    i, j = pairs
    radius = 0.25 * np.minimum(diam[i], diam[j])
    length = np.maximum(np.linalg.norm(pos[i] - pos[j], axis=1) - (diam[i] + diam[j]) / 2, 1e-6)
    g = np.pi * radius**4 / (8 * VISCOSITY * length)
    inlet = pos[:, 0] < 0.1 * CUBE
    outlet = pos[:, 0] > 0.9 * CUBE
    if not inlet.any():
        inlet[np.argmin(pos[:, 0])] = True
    if not outlet.any():
        outlet[np.argmax(pos[:, 0])] = True
    p = solve_pressure(n, pairs, g, inlet, outlet)
    y = (p / p.max()).astype(np.float32).reshape(-1, 1)
    x = np.column_stack([pos / CUBE, diam / 100e-6, inlet, outlet]).astype(np.float32)
    edge_index = np.concatenate([pairs, pairs[::-1]], axis=1).astype(np.int64)
    feat = np.column_stack([np.log(g / g.mean()), length / CUBE])
    edge_attr = np.concatenate([feat, feat]).astype(np.float32)
    return TaskSample(
        task="porous",
        x=x,
        edge_index=edge_index,
        edge_attr=edge_attr,
        y=y,
        meta={"pressure": p, "conductance": g, "throats": pairs},
    )

"""Synthetic recordings with planted dynamic communities (ground truth for the pipeline).

In each time epoch the neurons are split into groups; the neurons of a group share a calcium-like driver
signal during that epoch only (events convolved with a rise/decay kernel), scaled per animal. On top of
that every neuron has its own independent events over the whole recording, and Gaussian noise; a
fraction of neurons is missing (NaN) in each animal. Partitions differ between epochs, so the pipeline
has to find which groups are co-active *when*.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from connectome.errors import ParameterError
from connectome.io import Recordings
from graphsolvers.graph import Edge, Graph, Node

__all__ = [
    "PlantedTruth",
    "calcium_kernel",
    "planted_dynamic_recordings",
    "planted_partition_graph",
    "synthetic_tensor",
    "weak_dynamic_recordings",
]


@dataclass
class PlantedTruth:
    """What was planted.

    ``epochs``: ``(start s, end s)``; ``partitions``: each epoch's ``{neuron: group}``;
    ``animal_loadings``: [epochs, animals].
    """

    epochs: list[tuple[float, float]]
    partitions: list[dict[str, int]]
    animal_loadings: np.ndarray

    def epoch_indicator(self, times_s: np.ndarray) -> np.ndarray:
        """``[epochs, len(times_s)]``: 1 where a time lies inside the epoch."""
        return np.array([(times_s >= a) & (times_s < b) for a, b in self.epochs], dtype=float)


def calcium_kernel(fps: float, *, rise_s: float = 0.3, decay_s: float = 2.0) -> np.ndarray:
    """Difference-of-exponentials calcium kernel sampled at ``fps``, peak 1.

    Examples
    --------
    >>> k = calcium_kernel(2.0)
    >>> float(k.max()), bool(k[0] == 0.0)
    (1.0, True)
    """
    t = np.arange(0.0, 6.0 * decay_s, 1.0 / fps)
    k = np.exp(-t / decay_s) - np.exp(-t / rise_s)
    return k / k.max()


def _events(rng: np.random.Generator, n_frames: int, rate_per_frame: float, kernel: np.ndarray) -> np.ndarray:
    spikes = (rng.random(n_frames) < rate_per_frame) * rng.uniform(0.5, 1.5, n_frames)
    return np.convolve(spikes, kernel)[:n_frames]


def _drop_neurons(traces: np.ndarray, missing_fraction: float, rng: np.random.Generator) -> None:
    """Set a random ``missing_fraction`` of neurons to NaN in each animal (each stays recorded in one)."""
    n_animals, n_neurons = traces.shape[:2]
    n_missing = round(missing_fraction * n_neurons)
    if n_missing and n_animals > 1:
        missing = np.zeros((n_animals, n_neurons), dtype=bool)
        for a in range(n_animals):
            missing[a, rng.choice(n_neurons, size=n_missing, replace=False)] = True
        missing[0, missing.all(axis=0)] = False  # every neuron stays recorded somewhere
        traces[missing] = np.nan


def _check_missing(missing_fraction: float) -> None:
    if not 0.0 <= missing_fraction < 1.0:
        raise ParameterError(f"missing_fraction must lie in [0, 1), got {missing_fraction}")


def planted_dynamic_recordings(
    *,
    n_neurons: int = 45,
    n_animals: int = 4,
    n_epochs: int = 3,
    groups_per_epoch: int = 3,
    epoch_s: float = 120.0,
    fps: float = 2.0,
    event_rate_hz: float = 0.15,
    background_rate_hz: float = 0.03,
    noise: float = 0.15,
    missing_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[Recordings, PlantedTruth]:
    """Recordings of ``n_animals`` animals with ``n_epochs`` consecutive epochs of planted communities.

    Parameters
    ----------
    n_neurons, n_animals : int
    n_epochs : int
        Consecutive epochs of ``epoch_s`` seconds each.
    groups_per_epoch : int
        Communities per epoch (a fresh random partition of all neurons in every epoch).
    fps : float
    event_rate_hz, background_rate_hz : float
        Rates of shared (group, in-epoch) and private (per neuron, always) calcium events.
    noise : float
        Standard deviation of additive Gaussian noise relative to a unit event.
    missing_fraction : float
        Fraction of neurons missing in each animal (each neuron stays in at least one animal).
    seed : int

    Examples
    --------
    >>> rec, truth = planted_dynamic_recordings(n_neurons=12, n_animals=2, n_epochs=2, epoch_s=30.0, seed=0)
    >>> rec.traces.shape, len(truth.partitions), truth.epochs[1]
    ((2, 12, 120), 2, (30.0, 60.0))
    """
    if n_neurons < 2 * groups_per_epoch or groups_per_epoch < 1:
        raise ParameterError(f"{n_neurons} neurons cannot form {groups_per_epoch} groups of at least 2")
    _check_missing(missing_fraction)
    rng = np.random.default_rng(seed)
    kernel = calcium_kernel(fps)
    frames_per_epoch = round(epoch_s * fps)
    n_frames = frames_per_epoch * n_epochs
    neurons = [f"N{i:03d}" for i in range(n_neurons)]
    partitions = []
    for _ in range(n_epochs):
        groups = np.arange(n_neurons) % groups_per_epoch
        rng.shuffle(groups)
        partitions.append(groups)
    loadings = rng.uniform(0.5, 1.5, size=(n_epochs, n_animals))
    gains = rng.uniform(0.7, 1.3, size=(n_animals, n_neurons))
    traces = np.zeros((n_animals, n_neurons, n_frames))
    for a in range(n_animals):
        for e, groups in enumerate(partitions):
            lo, hi = e * frames_per_epoch, (e + 1) * frames_per_epoch
            for g in range(groups_per_epoch):
                drive = np.zeros(n_frames)
                drive[lo:hi] = _events(rng, hi - lo, event_rate_hz / fps, kernel)
                members = np.flatnonzero(groups == g)
                traces[a, members] += loadings[e, a] * gains[a, members, None] * drive[None, :]
        for i in range(n_neurons):
            traces[a, i] += _events(rng, n_frames, background_rate_hz / fps, kernel)
        traces[a] += noise * rng.normal(size=(n_neurons, n_frames))
    _drop_neurons(traces, missing_fraction, rng)
    truth = PlantedTruth(
        epochs=[(e * epoch_s, (e + 1) * epoch_s) for e in range(n_epochs)],
        partitions=[dict(zip(neurons, p.tolist(), strict=True)) for p in partitions],
        animal_loadings=loadings,
    )
    return Recordings(traces=traces, neurons=neurons, fps=fps), truth


def weak_dynamic_recordings(
    *,
    within_corr: float = 0.1,
    background_fraction: float = 0.7,
    n_neurons: int = 80,
    n_animals: int = 6,
    n_epochs: int = 3,
    epoch_s: float = 300.0,
    groups_per_epoch: int = 3,
    fps: float = 2.0,
    event_rate_hz: float = 0.15,
    noise: float = 0.3,
    seed: int = 0,
    missing_fraction: float = 0.15,
    sigma_s: float = 1.0,
) -> tuple[Recordings, PlantedTruth]:
    """Low-SNR planted dynamic communities: weak shared drive, most neurons in no community.

    Every neuron has private calcium events over the whole recording and Gaussian noise. In each epoch a
    fresh random ``1 − background_fraction`` of the neurons form ``groups_per_epoch`` groups; a group's
    members add one shared calcium drive, active in that epoch only, scaled per neuron so that the
    expected correlation of two members' smoothed derivatives (:func:`connectome.affinity.smoothed_derivative`,
    width ``sigma_s``) inside the epoch is ``within_corr``; neurons of different groups, and background
    neurons (planted label ``-1``), share nothing. A fraction of neurons is missing in each animal.

    Parameters
    ----------
    within_corr : float
        Target derivative correlation of two members of a group in its epoch, in [0, 1) (the SNR knob).
    background_fraction : float
        Fraction of neurons in no community in each epoch, in [0, 1).
    n_neurons, n_animals, n_epochs, groups_per_epoch : int
    epoch_s, fps : float
    event_rate_hz : float
        Rate of both the private and the shared calcium events.
    noise : float
        Standard deviation of the additive Gaussian noise relative to a unit event.
    missing_fraction : float
    sigma_s : float
        Smoothing of the derivative the correlation is calibrated for (the pipeline's default).
    seed : int

    Raises
    ------
    ParameterError
        Fractions out of range, or too few community neurons for two per group.

    Examples
    --------
    >>> rec, truth = weak_dynamic_recordings(n_neurons=20, n_animals=2, n_epochs=2, epoch_s=60.0, seed=0)
    >>> rec.traces.shape, sum(g >= 0 for g in truth.partitions[0].values())
    ((2, 20, 240), 6)
    """
    from connectome.affinity import smoothed_derivative

    if not 0.0 <= background_fraction < 1.0:
        raise ParameterError(f"background_fraction must lie in [0, 1), got {background_fraction}")
    if not 0.0 <= within_corr < 1.0:
        raise ParameterError(f"within_corr must lie in [0, 1), got {within_corr}")
    _check_missing(missing_fraction)
    n_members = round((1.0 - background_fraction) * n_neurons)
    if groups_per_epoch < 1 or n_members < 2 * groups_per_epoch:
        raise ParameterError(
            f"{n_members} community neurons ({n_neurons} x {1 - background_fraction:g}) cannot form "
            f"{groups_per_epoch} groups of at least 2"
        )
    rng = np.random.default_rng(seed)
    kernel = calcium_kernel(fps)
    frames = round(epoch_s * fps)
    n_frames = frames * n_epochs
    neurons = [f"N{i:03d}" for i in range(n_neurons)]
    partitions = []
    for _ in range(n_epochs):
        groups = np.full(n_neurons, -1)
        groups[rng.choice(n_neurons, size=n_members, replace=False)] = np.arange(n_members) % groups_per_epoch
        partitions.append(groups)
    traces = np.stack(
        [
            np.stack([_events(rng, n_frames, event_rate_hz / fps, kernel) for _ in range(n_neurons)])
            + noise * rng.normal(size=(n_neurons, n_frames))
            for _ in range(n_animals)
        ]
    )
    private_var = smoothed_derivative(traces, fps, sigma_s=sigma_s).var(axis=-1)  # [animals, neurons]
    for a in range(n_animals):
        for e, groups in enumerate(partitions):
            lo, hi = e * frames, (e + 1) * frames
            for g in range(groups_per_epoch):
                drive = _events(rng, hi - lo, event_rate_hz / fps, kernel)
                drive_var = smoothed_derivative(drive, fps, sigma_s=sigma_s).var()
                members = np.flatnonzero(groups == g)
                # member share of derivative variance = within_corr, so two members correlate by within_corr
                gain = np.sqrt(within_corr / (1.0 - within_corr) * private_var[a, members] / max(drive_var, 1e-12))
                traces[a, members, lo:hi] += gain[:, None] * drive[None, :]
    _drop_neurons(traces, missing_fraction, rng)
    truth = PlantedTruth(
        epochs=[(e * epoch_s, (e + 1) * epoch_s) for e in range(n_epochs)],
        partitions=[dict(zip(neurons, p.tolist(), strict=True)) for p in partitions],
        animal_loadings=np.ones((n_epochs, n_animals)),
    )
    return Recordings(traces=traces, neurons=neurons, fps=fps), truth


# ---------------------------------------------------------------------------------------------- graphs, tensors
def _power_law_ints(rng: np.random.Generator, n: int, exponent: float, lo: int, hi: int) -> np.ndarray:
    u = rng.random(n)
    a = 1.0 - exponent
    vals = (lo**a + u * (hi**a - lo**a)) ** (1.0 / a)
    return np.floor(vals).astype(int)


def planted_partition_graph(
    n_nodes: int,
    *,
    mu: float,
    seed: int = 0,
    average_degree: float = 12.0,
    max_degree: int | None = None,
    min_community: int = 10,
    max_community: int | None = None,
    degree_exponent: float = 2.5,
    size_exponent: float = 1.5,
    weight_sigma: float = 0.5,
) -> tuple[Graph, dict[str, int]]:
    """An LFR-style weighted planted-partition graph and its planted communities.

    Community sizes and expected degrees follow power laws (exponents ``size_exponent``, ``degree_exponent``).
    Each node sends an expected fraction ``mu`` of its edges outside its community (degree-corrected, Chung–Lu
    within and between communities). Every edge weight is log-normal (``weight_sigma``) with the same mean
    inside and outside, so the expected fraction of each node's *strength* leaving its community is also
    ``mu`` (LFR's ``mu_w = mu_t``) and the weights follow none of the detectors' model assumptions.

    Examples
    --------
    >>> g, truth = planted_partition_graph(100, mu=0.3, seed=0)
    >>> len(g.nodes), len(set(truth.values())) > 1, g.directed
    (100, True, False)
    """
    if not 0.0 <= mu <= 1.0:
        raise ParameterError(f"mixing mu must lie in [0, 1], got {mu}")
    if n_nodes < 2 * min_community:
        raise ParameterError(f"{n_nodes} nodes cannot hold two communities of at least {min_community}")
    rng = np.random.default_rng(seed)
    max_community = max_community or max(min_community, n_nodes // 4)
    sizes: list[int] = []
    while sum(sizes) < n_nodes:
        sizes.append(int(_power_law_ints(rng, 1, size_exponent, min_community, max_community + 1)[0]))
    excess = sum(sizes) - n_nodes
    sizes[-1] -= excess
    if sizes[-1] < min_community:
        extra = sizes.pop()
        for i in range(extra):
            sizes[i % len(sizes)] += 1
    labels = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(labels)
    max_degree = max_degree or max(int(average_degree * 3), 4)
    kmin = max(2, int(average_degree / 2))
    deg = _power_law_ints(rng, n_nodes, degree_exponent, kmin, max_degree + 1).astype(float)
    deg *= average_degree / deg.mean()
    iu, ju = np.triu_indices(n_nodes, k=1)
    same = labels[iu] == labels[ju]
    comm_total = np.bincount(labels, weights=deg)
    total = deg.sum()
    p_in = (1.0 - mu) * deg[iu] * deg[ju] / comm_total[labels[iu]]
    outside_i, outside_j = total - comm_total[labels[iu]], total - comm_total[labels[ju]]
    # symmetric; gives node i about mu * k_i edges outside its community
    p_out = mu * deg[iu] * deg[ju] / np.sqrt(np.maximum(outside_i * outside_j, 1e-9))
    p = np.clip(np.where(same, p_in, p_out), 0.0, 1.0)
    take = rng.random(len(p)) < p
    w = rng.lognormal(mean=-(weight_sigma**2) / 2.0, sigma=weight_sigma, size=int(take.sum()))
    ids = [f"n{i}" for i in range(n_nodes)]
    graph = Graph(
        nodes=[Node(id=i, kind="node") for i in ids],
        edges=[
            Edge(source=ids[a], target=ids[b], weight=float(x)) for a, b, x in zip(iu[take], ju[take], w, strict=True)
        ],
        directed=False,
        attrs={"mu": mu, "seed": seed},
    )
    return graph, dict(zip(ids, labels.tolist(), strict=True))


def synthetic_tensor(n_neurons: int, n_windows: int, n_animals: int, *, rank: int, seed: int = 0) -> np.ndarray:
    """A non-negative float32 tensor [pairs, windows, animals] of sparse rank-``rank`` structure plus 10% noise.

    Examples
    --------
    >>> synthetic_tensor(10, 6, 2, rank=2).shape
    (45, 6, 2)
    """
    rng = np.random.default_rng(seed)
    n_pairs = n_neurons * (n_neurons - 1) // 2
    a = rng.random((n_pairs, rank), dtype=np.float32) ** 4
    b = rng.random((n_windows, rank), dtype=np.float32) ** 2
    c = rng.random((n_animals, rank), dtype=np.float32)
    x = np.einsum("ir,jr,kr->ijk", a, b, c)
    x += 0.1 * x.std() * rng.random(x.shape, dtype=np.float32)
    return x

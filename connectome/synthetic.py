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

__all__ = ["PlantedTruth", "calcium_kernel", "planted_dynamic_recordings"]


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
    if not 0.0 <= missing_fraction < 1.0:
        raise ParameterError(f"missing_fraction must lie in [0, 1), got {missing_fraction}")
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
    n_missing = round(missing_fraction * n_neurons)
    if n_missing and n_animals > 1:
        missing = np.zeros((n_animals, n_neurons), dtype=bool)
        for a in range(n_animals):
            missing[a, rng.choice(n_neurons, size=n_missing, replace=False)] = True
        missing[0, missing.all(axis=0)] = False  # every neuron stays recorded somewhere
        traces[missing] = np.nan
    truth = PlantedTruth(
        epochs=[(e * epoch_s, (e + 1) * epoch_s) for e in range(n_epochs)],
        partitions=[dict(zip(neurons, p.tolist(), strict=True)) for p in partitions],
        animal_loadings=loadings,
    )
    return Recordings(traces=traces, neurons=neurons, fps=fps), truth

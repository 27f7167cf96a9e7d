"""Reading and validating whole-brain calcium recordings.

The generic format (``.npz`` or HDF5, one file) holds

``traces``
    float array ``[animals, neurons, time]``; NaN where a neuron was not recorded in an animal.
``neurons``
    ``[neurons]`` names (unique strings).
``fps``
    frame rate in Hz: a scalar, or one value per animal (all must agree).
``animals`` (optional)
    ``[animals]`` names; default ``animal0``, ``animal1``, ...
``stimuli`` (optional)
    rows ``(name, onset s, offset s)``: ``stimulus_names`` ``[S]`` strings and ``stimulus_times`` ``[S, 2]``.
``covariates`` (optional)
    arrays named ``covariate/<name>`` (npz) or datasets in a ``covariates`` group (HDF5), each ``[animals, time]``.

:func:`load_flavell2023` reads the real recordings of Dag et al. (2023) from their HDF5 files and NeuroPAL labels,
aligning the animals by neuron name. :func:`load_recordings` dispatches on the path.
"""

from __future__ import annotations

import json
import logging
import math
import os
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from connectome.errors import DataFormatError
from graphsolvers import safe_json

__all__ = [
    "FLAVELL_TRACES",
    "Recordings",
    "Stimulus",
    "default_flavell_dir",
    "load_flavell2023",
    "load_recordings",
    "save_recordings",
    "validate_recordings",
]

logger = logging.getLogger(__name__)

FLAVELL_TRACES = ("trace_array", "trace_array_original", "traces_array_F_F20")
"""Trace versions stored in the Flavell HDF5 files (z-scored, ratiometric bleach-corrected, F/F mean)."""

_FLAVELL_COVARIATES = ("velocity", "angular_velocity", "head_angle", "pumping", "worm_curvature", "reversal_vec")

MAX_ARRAY_BYTES = 1 << 30
"""Largest array a recording file may declare (1 GiB, e.g. 1,000 neurons × 130,000 frames of float64; a
Flavell animal is about 2 MB). Read from the ``.npy`` headers of an ``.npz`` and from HDF5 dataset shapes
before anything is decompressed: a small file of zeros can declare gigabytes."""

MAX_H5_OBJECTS = 100_000
"""Most groups, datasets and links an HDF5 recording may hold: a recording has a few dozen."""


@dataclass(frozen=True)
class Stimulus:
    """A stimulus interval: ``name`` applied from ``onset_s`` to ``offset_s`` (seconds from the start)."""

    name: str
    onset_s: float
    offset_s: float


@dataclass
class Recordings:
    """Traces of several animals aligned by neuron name.

    Attributes
    ----------
    traces : ndarray, shape (animals, neurons, time)
        Activity; NaN where a neuron was not recorded in an animal.
    neurons : list of str
        Neuron names, one per row of ``traces``' second axis.
    fps : float
        Frame rate (Hz), shared by all animals.
    animals : list of str
        Animal names.
    stimuli : list of Stimulus
    covariates : dict of str to ndarray, shape (animals, time)
        Behaviour or other per-frame variables (velocity, reversals, ...).

    Examples
    --------
    >>> rec = Recordings(traces=np.random.default_rng(0).normal(size=(2, 3, 50)), neurons=["A", "B", "C"], fps=2.0)
    >>> rec.n_animals, rec.n_neurons, rec.n_frames, rec.duration_s
    (2, 3, 50, 25.0)
    """

    traces: np.ndarray
    neurons: list[str]
    fps: float
    animals: list[str] = field(default_factory=list)
    stimuli: list[Stimulus] = field(default_factory=list)
    covariates: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.animals and isinstance(self.traces, np.ndarray) and self.traces.ndim == 3:
            self.animals = [f"animal{i}" for i in range(self.traces.shape[0])]

    @property
    def n_animals(self) -> int:
        return int(self.traces.shape[0])

    @property
    def n_neurons(self) -> int:
        return int(self.traces.shape[1])

    @property
    def n_frames(self) -> int:
        return int(self.traces.shape[2])

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps

    def present(self) -> np.ndarray:
        """Boolean ``[animals, neurons]``: the neuron has at least one finite sample in the animal."""
        return np.isfinite(self.traces).any(axis=2)


def validate_recordings(rec: Recordings) -> Recordings:
    """Check ``rec`` against the rules of the format and return it (traces as float64).

    Raises
    ------
    DataFormatError
        Wrong shapes or types, fps not a positive finite number, duplicate or missing neuron names,
        an animal with no finite sample, a neuron with no finite sample in any animal, a recorded
        trace that is constant, covariates or stimuli that do not fit the recording.

    Examples
    --------
    >>> x = np.zeros((1, 2, 10)); x[0, 0] = np.arange(10)
    >>> validate_recordings(Recordings(traces=x, neurons=["A", "B"], fps=1.0))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    connectome.errors.DataFormatError: neuron 'B' is constant in animal 'animal0' (value 0); ...
    """
    traces = np.asarray(rec.traces)
    if traces.ndim != 3:
        raise DataFormatError(f"traces must have shape [animals, neurons, time], got {traces.ndim} axes {traces.shape}")
    if not np.issubdtype(traces.dtype, np.number) or np.issubdtype(traces.dtype, np.complexfloating):
        raise DataFormatError(f"traces must be real numbers, got dtype {traces.dtype}")
    traces = traces.astype(np.float64, copy=False)
    n_animals, n_neurons, n_frames = traces.shape
    if n_animals < 1 or n_neurons < 2 or n_frames < 3:
        raise DataFormatError(f"traces {traces.shape} too small: need at least 1 animal, 2 neurons and 3 frames")
    if np.isinf(traces).any():
        raise DataFormatError("traces contain infinite values; use NaN for missing samples")
    neurons = [str(n) for n in rec.neurons]
    if len(neurons) != n_neurons:
        raise DataFormatError(f"{len(neurons)} neuron names for {n_neurons} neurons in traces {traces.shape}")
    dupes = sorted({n for n in neurons if neurons.count(n) > 1})
    if dupes:
        raise DataFormatError(f"duplicate neuron names {dupes[:5]}; names must be unique")
    if any(not n.strip() for n in neurons):
        raise DataFormatError("empty neuron name; every neuron needs a name")
    animals = [str(a) for a in rec.animals] or [f"animal{i}" for i in range(n_animals)]
    if len(animals) != n_animals:
        raise DataFormatError(f"{len(animals)} animal names for {n_animals} animals in traces {traces.shape}")
    try:
        fps = float(rec.fps)
    except (TypeError, ValueError) as e:
        raise DataFormatError(f"fps must be a number, got {type(rec.fps).__name__}") from e
    if not math.isfinite(fps) or fps <= 0:
        raise DataFormatError(f"fps must be a positive finite number of frames per second, got {fps}")
    finite = np.isfinite(traces)
    for a in np.flatnonzero(~finite.any(axis=(1, 2))):
        raise DataFormatError(f"animal {animals[a]!r} has no finite sample (all NaN); drop it or supply its traces")
    for i in np.flatnonzero(~finite.any(axis=(0, 2))):
        raise DataFormatError(f"neuron {neurons[i]!r} is NaN in every animal; drop it or supply its trace")
    with np.errstate(invalid="ignore"):
        lo, hi = (
            np.nanmin(np.where(finite, traces, np.inf), axis=2),
            np.nanmax(np.where(finite, traces, -np.inf), axis=2),
        )
    constant = finite.any(axis=2) & (lo == hi)
    for a, i in zip(*np.nonzero(constant), strict=True):
        raise DataFormatError(
            f"neuron {neurons[i]!r} is constant in animal {animals[a]!r} (value {lo[a, i]:g}); "
            "constant traces carry no change to measure affinity on"
        )
    covariates: dict[str, np.ndarray] = {}
    for name, values in rec.covariates.items():
        try:
            if np.iscomplexobj(values):  # a cast to float would drop the imaginary part with only a warning
                raise TypeError
            arr = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError):
            raise DataFormatError(f"covariate {name!r} must be real numbers [animals, time]") from None
        if arr.shape != (n_animals, n_frames):
            raise DataFormatError(
                f"covariate {name!r} has shape {arr.shape}; expected [animals, time] = {(n_animals, n_frames)}"
            )
        covariates[str(name)] = arr
    duration = n_frames / fps
    for s in rec.stimuli:
        if not (math.isfinite(s.onset_s) and math.isfinite(s.offset_s)) or s.onset_s < 0 or s.offset_s < s.onset_s:
            raise DataFormatError(
                f"stimulus {s.name!r} has onset {s.onset_s} s and offset {s.offset_s} s; need 0 <= onset <= offset"
            )
        if s.onset_s > duration:
            raise DataFormatError(
                f"stimulus {s.name!r} starts at {s.onset_s} s, after the recording ends ({duration:g} s)"
            )
    return Recordings(
        traces=traces, neurons=neurons, fps=fps, animals=animals, stimuli=list(rec.stimuli), covariates=covariates
    )


# ---------------------------------------------------------------------------------------------- generic files
def load_recordings(path: str | os.PathLike[str], *, trace: str = "trace_array") -> Recordings:
    """Read recordings from a generic ``.npz``/``.h5`` file or a Flavell-2023 folder, validated.

    Parameters
    ----------
    path : path
        A ``.npz`` or ``.h5``/``.hdf5`` file in the generic format, or a folder laid out like
        ``flavell2023/`` (see :func:`load_flavell2023`).
    trace : str
        Trace version for Flavell folders (one of :data:`FLAVELL_TRACES`).

    Raises
    ------
    DataFormatError
        Unknown file type, missing arrays, or recordings that break the format's rules.
    FileNotFoundError
        If ``path`` does not exist.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> rng = np.random.default_rng(0)
    >>> rec = Recordings(traces=rng.normal(size=(2, 3, 40)), neurons=["A", "B", "C"], fps=2.0)
    >>> p = save_recordings(pathlib.Path(tempfile.mkdtemp()) / "rec.npz", rec)
    >>> load_recordings(p).neurons
    ['A', 'B', 'C']
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    if path.is_dir():
        return load_flavell2023(path, trace=trace)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return validate_recordings(_read_npz(path))
    if suffix in (".h5", ".hdf5"):
        return validate_recordings(_read_h5(path))
    raise DataFormatError(
        f"unknown recordings file type {suffix or '(none)'!r} ({path}); expected .npz, .h5, .hdf5 or a folder"
    )


def save_recordings(path: str | os.PathLike[str], rec: Recordings) -> Path:
    """Write ``rec`` as a generic ``.npz`` file (atomically) and return its path."""
    import io

    from graphsolvers.cli_support import write_atomic

    rec = validate_recordings(rec)
    arrays: dict[str, np.ndarray] = {
        "traces": rec.traces,
        "neurons": np.array(rec.neurons, dtype=str),
        "fps": np.array(rec.fps),
        "animals": np.array(rec.animals, dtype=str),
    }
    if rec.stimuli:
        arrays["stimulus_names"] = np.array([s.name for s in rec.stimuli], dtype=str)
        arrays["stimulus_times"] = np.array([[s.onset_s, s.offset_s] for s in rec.stimuli], dtype=float)
    for name, values in rec.covariates.items():
        arrays[f"covariate/{name}"] = values
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return write_atomic(path, buf.getvalue())


def _check_npz(path: Path) -> None:
    """Refuse an ``.npz`` one of whose arrays declares more than :data:`MAX_ARRAY_BYTES`, from its header alone."""
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            if not info.filename.endswith(".npy"):
                continue
            with archive.open(info) as fp:
                version = np.lib.format.read_magic(fp)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, _fortran, dtype = read(fp)
            _check_array_bytes(path, math.prod(shape) * dtype.itemsize)


def _check_array_bytes(path: Path, nbytes: int) -> None:
    if nbytes > MAX_ARRAY_BYTES:
        raise DataFormatError(
            f"{path}: an array of {nbytes:,} bytes, over the cap MAX_ARRAY_BYTES = {MAX_ARRAY_BYTES:,}"
        )


def _check_h5(f, path: Path) -> None:
    """Refuse an HDF5 file that reads other files (external links, external or virtual storage), holds an
    array over :data:`MAX_ARRAY_BYTES` or more than :data:`MAX_H5_OBJECTS` objects; nothing is read."""
    import h5py

    stack, seen = [f], 0
    while stack:
        group = stack.pop()
        for name in group:
            seen += 1
            if seen > MAX_H5_OBJECTS:
                raise DataFormatError(f"{path}: more than MAX_H5_OBJECTS = {MAX_H5_OBJECTS:,} groups and datasets")
            if isinstance(group.get(name, getlink=True), h5py.ExternalLink):
                raise DataFormatError(f"{path}: a link leads to another file; recordings must hold their own data")
            item = group[name]
            if isinstance(item, h5py.Group):
                stack.append(item)
            elif isinstance(item, h5py.Dataset):
                if item.external or item.is_virtual:
                    raise DataFormatError(f"{path}: a dataset is stored in other files; recordings hold their own data")
                _check_array_bytes(path, int(item.size) * item.dtype.itemsize)


def _read_npz(path: Path) -> Recordings:
    try:
        _check_npz(path)
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except DataFormatError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error) as e:  # truncated, corrupt, pickled
        raise DataFormatError(f"cannot read {path} as .npz: {e}") from e
    except (NotImplementedError, RuntimeError) as e:  # zipfile: a member's compression method, or encryption
        raise DataFormatError(
            f"cannot read {path} as .npz: a member is encrypted or compressed with a method zipfile does not read"
        ) from e
    covariates = {k.split("/", 1)[1]: v for k, v in data.items() if k.startswith("covariate/")}
    return _recordings_from_arrays(path, data, covariates)


def _read_h5(path: Path) -> Recordings:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            _check_h5(f, path)
            data = {k: f[k][()] for k in f if isinstance(f[k], h5py.Dataset)}
            group = f.get("covariates")
            if group is not None and not isinstance(group, h5py.Group):
                raise DataFormatError(f"{path}: 'covariates' must be a group of datasets, one per covariate")
            covariates = {}
            for k in group or ():
                if not isinstance(group[k], h5py.Dataset):
                    raise DataFormatError(f"{path}: covariate {k!r} must be a dataset [animals, time], not a group")
                covariates[k] = group[k][()]
    except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:  # h5py's errors on broken files
        if isinstance(e, DataFormatError):
            raise
        raise DataFormatError(f"cannot read {path} as HDF5: {e}") from e
    return _recordings_from_arrays(path, data, covariates)


def _recordings_from_arrays(
    path: Path, data: Mapping[str, np.ndarray], covariates: Mapping[str, np.ndarray]
) -> Recordings:
    for key in ("traces", "neurons", "fps"):
        if key not in data:
            raise DataFormatError(f"{path} has no array {key!r}; the format needs traces, neurons and fps")
    fps_values = _floats(path, "fps", data["fps"]).ravel()
    if fps_values.size == 0:
        raise DataFormatError(f"{path}: fps is empty; give the frame rate in Hz")
    if fps_values.size > 1 and not np.allclose(fps_values, fps_values[0], rtol=1e-3):
        raise DataFormatError(
            f"animals have different frame rates {sorted({round(v, 4) for v in fps_values.tolist()})} Hz; "
            "resample them to one frame rate first"
        )
    stimuli: list[Stimulus] = []
    if "stimulus_names" in data:
        times = _floats(path, "stimulus_times", data.get("stimulus_times", np.zeros((0, 2))))
        if times.shape == (2,):  # one stimulus written as a flat (onset, offset)
            times = times.reshape(1, 2)
        if times.ndim != 2 or times.shape[1] != 2:
            raise DataFormatError(
                f"{path}: stimulus_times has shape {times.shape}; expected [stimuli, 2] rows of (onset s, offset s)"
            )
        names = [_as_str(n) for n in np.atleast_1d(data["stimulus_names"])]
        if len(names) != len(times):
            raise DataFormatError(f"{len(names)} stimulus names but {len(times)} stimulus (onset, offset) rows")
        stimuli = [Stimulus(n, float(t[0]), float(t[1])) for n, t in zip(names, times, strict=True)]
    animals = [_as_str(a) for a in np.atleast_1d(data["animals"])] if "animals" in data else []
    return Recordings(
        traces=np.asarray(data["traces"]),
        neurons=[_as_str(n) for n in np.atleast_1d(data["neurons"])],
        fps=float(fps_values[0]),
        animals=animals,
        stimuli=stimuli,
        covariates=dict(covariates),
    )


def _floats(path: Path, name: str, value: object) -> np.ndarray:
    """``value`` as a float array; anything else (text, objects, complex numbers) is a :class:`DataFormatError`
    naming ``name``."""
    try:
        if np.iscomplexobj(value):  # a cast to float would drop the imaginary part with only a warning
            raise TypeError
        return np.atleast_1d(np.asarray(value, dtype=float))
    except (TypeError, ValueError):
        kind = f"an array of dtype {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
        raise DataFormatError(f"{path}: {name} must be numbers, got {kind}") from None


def _as_str(value: object) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


# ---------------------------------------------------------------------------------------------- Flavell 2023
def default_flavell_dir() -> Path:
    """Where the Flavell-2023 recordings are expected.

    ``$CONNECTOME_FLAVELL_DIR`` if set, else ``../shared/connectome/flavell2023`` beside the repository.
    """
    env = os.environ.get("CONNECTOME_FLAVELL_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "shared" / "connectome" / "flavell2023"


def load_flavell2023(
    root: str | os.PathLike[str],
    *,
    trace: str = "trace_array",
    min_animals: int = 1,
    min_confidence: float = 0.0,
    include_uncertain: bool = False,
) -> Recordings:
    """Read the NeuroPAL-labelled recordings of Dag et al. (2023) and align the animals by neuron name.

    Parameters
    ----------
    root : path
        The ``flavell2023`` folder: ``swf702_with_id/<uid>-data.h5`` and ``neuropal_labels.json``.
    trace : str
        Which trace version to read, one of :data:`FLAVELL_TRACES` (default the z-scored ``trace_array``).
    min_animals : int
        Keep only neurons named in at least this many animals (default 1: the union of names).
    min_confidence : float
        Ignore labels whose NeuroPAL confidence (1-5) is below this.
    include_uncertain : bool
        Keep labels ending in ``?`` (with the ``?`` removed); default drop them.

    Returns
    -------
    Recordings
        ``traces`` [animals, neurons (sorted names), time], NaN where an animal lacks a neuron; the
        behaviour (velocity, angular velocity, head angle, pumping, curvature, reversals) as covariates.
        When one animal has two traces with the same label, the one with the higher confidence is kept.
        Animals with more frames than the shortest are cut to the shortest.

    Raises
    ------
    DataFormatError
        Missing files, an unknown trace version, or animals with different frame rates.
    """
    import h5py

    root = Path(root)
    if trace not in FLAVELL_TRACES:
        raise DataFormatError(f"unknown trace version {trace!r}; choose one of {', '.join(FLAVELL_TRACES)}")
    labels_path = root / "neuropal_labels.json"
    files = sorted((root / "swf702_with_id").glob("*-data.h5"))
    if not labels_path.is_file() or not files:
        raise DataFormatError(
            f"{root} is not a flavell2023 folder: expected neuropal_labels.json and swf702_with_id/*-data.h5"
        )
    try:
        labels = safe_json.loads(labels_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataFormatError(f"cannot parse {labels_path}: {e}") from e
    if not isinstance(labels, dict):
        raise DataFormatError(f"{labels_path}: expected an object {{animal uid: [label entries]}}")
    per_animal: list[dict[str, np.ndarray]] = []
    covariates: dict[str, list[np.ndarray]] = {k: [] for k in _FLAVELL_COVARIATES}
    animals: list[str] = []
    dts: list[float] = []
    frames: list[int] = []
    for path in files:
        uid = path.name.removesuffix("-data.h5")
        if uid not in labels:
            logger.warning("no NeuroPAL labels for %s; skipped", uid)
            continue
        try:
            with h5py.File(path, "r") as f:
                _check_h5(f, path)
                arr = np.asarray(f["gcamp"][trace][()], dtype=np.float64)  # time x neuron
                stamps = np.asarray(f["timing/timestamp_confocal"][()], dtype=np.float64)
                for key in _FLAVELL_COVARIATES:
                    covariates[key].append(np.asarray(f["behavior"][key][()], dtype=np.float64))
        except DataFormatError:
            raise
        except (OSError, KeyError, ValueError, TypeError, RuntimeError) as e:  # h5py's errors on broken files
            raise DataFormatError(f"cannot read {path} as a flavell2023 recording: {e}") from e
        if arr.ndim != 2 or stamps.ndim != 1 or len(stamps) < 2:
            raise DataFormatError(f"{path}: expected gcamp/{trace} [time, neurons] and timestamps [time]")
        dts.append(float(np.median(np.diff(stamps))))
        chosen: dict[str, tuple[float, int]] = {}
        try:
            for entry in labels[uid]:
                name = str(entry["label"]).strip()
                conf = float(entry.get("confidence") or 0.0)
                if name.endswith("?"):
                    if not include_uncertain:
                        continue
                    name = name.rstrip("?")
                col = int(entry["trace_index_1based"]) - 1
                if not name or conf < min_confidence or not 0 <= col < arr.shape[1]:
                    continue
                if name not in chosen or conf > chosen[name][0]:
                    chosen[name] = (conf, col)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise DataFormatError(
                f"{labels_path}: malformed labels of {uid} ({type(e).__name__}); each entry needs "
                "label, trace_index_1based and optionally confidence"
            ) from None
        per_animal.append({name: arr[:, col] for name, (_, col) in chosen.items()})
        frames.append(arr.shape[0])
        animals.append(uid)
    if not per_animal:
        raise DataFormatError(f"no labelled animal found under {root}")
    if max(dts) - min(dts) > 0.01 * min(dts):
        raise DataFormatError(
            f"animals have different frame intervals {sorted(round(d, 4) for d in dts)} s; resample first"
        )
    counts: dict[str, int] = {}
    for traces in per_animal:
        for name in traces:
            counts[name] = counts.get(name, 0) + 1
    neurons = sorted(n for n, c in counts.items() if c >= min_animals)
    n_frames = min(frames)
    out = np.full((len(per_animal), len(neurons), n_frames), np.nan)
    for a, traces in enumerate(per_animal):
        for i, name in enumerate(neurons):
            if name in traces:
                out[a, i] = traces[name][:n_frames]
    logger.info(
        "flavell2023: %d animals, %d neurons (named in >= %d animals), %d frames",
        len(animals),
        len(neurons),
        min_animals,
        n_frames,
    )
    covs = {}
    for key, values in covariates.items():
        stacked = np.stack([c[:n_frames] for c in values])
        if not np.isfinite(stacked).any():
            logger.warning("flavell2023: behaviour %r is NaN in every animal; not kept as a covariate", key)
            continue
        covs["reversal" if key == "reversal_vec" else key] = stacked
    return validate_recordings(
        Recordings(traces=out, neurons=neurons, fps=1.0 / float(np.mean(dts)), animals=animals, covariates=covs)
    )

"""Models flowpath derives from the ones its wheels ship, built once and kept in a cache folder.

The int8 text recogniser (:mod:`flowpath.vision.ocr_model`) and the ONNX export of MiniLM
(:mod:`flowpath.agent.embed`) are built here the same way: one process builds while others wait on
a lock file, the result is written under a temporary name, checked by loading it in onnxruntime and
renamed into place, and a cached file that no longer loads is built again. Nothing is downloaded.

The cache folder is ``FLOWPATH_CACHE_DIR``, else ``$XDG_CACHE_HOME/flowpath``, else
``~/.cache/flowpath``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from flowpath.errors import FlowpathError

__all__ = ["build_errors", "built_model", "cache_folder", "derived_model", "env_choice", "onnx_loads"]

logger = logging.getLogger(__name__)


def cache_folder() -> Path:
    """Where built models are kept: ``FLOWPATH_CACHE_DIR``, else the XDG cache folder's ``flowpath``.

    Examples
    --------
    >>> cache_folder().name in ("flowpath", Path(os.environ.get("FLOWPATH_CACHE_DIR", "flowpath")).name)
    True
    """
    if os.environ.get("FLOWPATH_CACHE_DIR"):
        return Path(os.environ["FLOWPATH_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "flowpath"


@contextlib.contextmanager
def build_errors(what: str, folder: Path, *, fallback: str, packages: str) -> Iterator[None]:
    """Turn any failure to build ``what`` in ``folder`` into a :class:`FlowpathError` that says what to do.

    ``fallback`` is the setting that avoids the build (``FLOWPATH_OCR_MODEL=fp32``); ``packages``
    the dependencies to reinstall when the build itself fails.

    Examples
    --------
    >>> with build_errors("a model", Path("/nowhere"), fallback="X=off", packages="onnx"):  # doctest: +ELLIPSIS
    ...     raise ValueError("bad graph")
    Traceback (most recent call last):
    flowpath.errors.FlowpathError: cannot build a model (ValueError: bad graph); reinstall ... or set X=off
    """
    try:
        yield
    except FlowpathError as e:
        raise FlowpathError(f"cannot build {what}: {e}; set {fallback}") from e
    except OSError as e:
        raise FlowpathError(
            f"cannot write {what} to {folder} ({e.strerror or e}): set FLOWPATH_CACHE_DIR to a writable folder, "
            f"or {fallback}"
        ) from e
    except Exception as e:  # the builders' libraries share no base class for their failures
        raise FlowpathError(
            f"cannot build {what} ({type(e).__name__}: {e}); reinstall flowpath's dependencies ({packages}) "
            f"or set {fallback}"
        ) from e


def env_choice(name: str, choices: tuple[str, ...], what: str) -> str:
    """The value of environment variable ``name``, one of ``choices`` (the first when unset or blank).

    Raises
    ------
    FlowpathError
        If the variable holds something else; the message names ``what`` it should be.

    Examples
    --------
    >>> env_choice("FLOWPATH_NEVER_SET", ("fast", "exact"), "a mode")
    'fast'
    """
    value = os.environ.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise FlowpathError(f"{name}={os.environ[name]!r} is not {what}: set it to {' or '.join(choices)}")
    return value


def built_model(target: Path, build: Callable[[Path], Path], *, note: str) -> Path:
    """``target`` if onnxruntime loads it, else ``build(tmp)``'s result renamed to ``target``.

    ``build`` writes the model inside the temporary folder it is given and returns its path;
    ``note`` is logged as a warning when a build starts. Errors of ``build`` and ``OSError`` pass
    through (the caller knows what to advise); a built model that does not load is a
    :class:`FlowpathError`.

    Examples
    --------
    A model already in place is returned as it is, without building:

    >>> from flowpath.vision.ocr_model import source_model
    >>> built_model(source_model(), lambda tmp: tmp / "unused.onnx", note="not built") == source_model()
    True
    """
    if onnx_loads(target):
        return target
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    with _build_lock(folder):
        if onnx_loads(target):  # another process built it while this one waited
            return target
        _sweep_stale_builds(folder)
        logger.warning(note)
        with tempfile.TemporaryDirectory(dir=folder, prefix=".build-") as tmp:
            built = build(Path(tmp))
            if not onnx_loads(built):
                raise FlowpathError(f"the built model {built.name} does not load in onnxruntime")
            os.replace(built, target)
    return target


DIGEST_CHARS = 16
"""Hex digits of the source's SHA-256 in a derived model's file name: enough to tell sources apart."""


def derived_model(source: Path, name: str, build: Callable[[Path], Path], *, folder: Path, note: str) -> Path:
    """:func:`built_model` for ``folder / name``, ``{digest}`` in ``name`` replaced by a prefix of ``source``'s SHA-256.

    A model derived from another file is named after that file's content, so a new source builds a
    new model instead of reusing the old one.

    Examples
    --------
    >>> import shutil, tempfile
    >>> from flowpath.vision.ocr_model import source_model
    >>> folder = Path(tempfile.mkdtemp())
    >>> copy = derived_model(source_model(), "{digest}.onnx", lambda tmp: Path(shutil.copy(source_model(), tmp)),
    ...                      folder=folder, note="copying the recogniser")
    >>> copy.parent == folder, len(copy.stem)
    (True, 16)
    >>> shutil.rmtree(folder)
    """
    digest = hashlib.sha256(source.read_bytes()).hexdigest()[:DIGEST_CHARS]
    return built_model(folder / name.replace("{digest}", digest), build, note=note)


def onnx_loads(path: Path) -> bool:
    """Whether ``path`` is a model onnxruntime can open (a damaged or foreign cache file is not)."""
    if not path.is_file():
        return False
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4  # fatal only: a file that does not load is reported below, in one line
    try:
        onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own classes for every kind of bad file
        logger.warning("ignoring %s, which onnxruntime cannot load (%s); building it again", path, e)
        return False
    return True


@contextlib.contextmanager
def _build_lock(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder/.build.lock`` (no-op where ``fcntl`` is missing)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: concurrent builds each write a whole file and rename it
        yield
        return
    with open(folder / ".build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sweep_stale_builds(folder: Path, age_s: float = 3600) -> None:
    """Remove build folders a killed process left behind (older than ``age_s``)."""
    now = time.time()
    for stale in folder.glob(".build-*"):
        with contextlib.suppress(OSError):
            if now - stale.stat().st_mtime > age_s:
                shutil.rmtree(stale)

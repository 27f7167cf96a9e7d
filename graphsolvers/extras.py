"""The optional parts of the project: which extra of ``pyproject.toml`` installs which lazily imported module.

A plain ``pip install flowpath`` gives the graph core, the image parser and the attribution agent;
the MCP server, the LLM policy's HTTP and GGUF back ends, the sentence-transformers runtime of MiniLM
and the connectome app need an extra. Their modules are imported only where they are used, through
:func:`require`, so a missing one is a :class:`~graphsolvers.errors.MissingExtraError` that names the
extra to install; the CLIs turn any such import failure into that one line (:func:`missing_extra`).

Examples
--------
>>> require("json").dumps([1])
'[1]'
>>> EXTRAS["h5py"]
'connectome'
"""

from __future__ import annotations

import importlib
from types import ModuleType

from graphsolvers.errors import MissingExtraError

__all__ = ["EXTRAS", "missing_extra", "require"]

DISTRIBUTION = "flowpath"
"""The distribution whose extras these are (``pip install 'flowpath[EXTRA]'``)."""

EXTRAS: dict[str, str] = {
    "mcp": "mcp",
    "httpx": "llm",
    "gguf": "llm",
    "accelerate": "llm",
    "sentence_transformers": "torch-embeddings",
    "h5py": "connectome",
    "igraph": "connectome",
    "leidenalg": "connectome",
    "matplotlib": "connectome",
    "tensorly": "connectome",
    "fastapi": "web",
    "uvicorn": "web",
    "python_multipart": "web",
    "psutil": "web",
}
"""Top-level module -> the extra that installs it (``dev`` installs them all)."""


def missing_extra(error: ImportError) -> MissingExtraError | None:
    """The :class:`~graphsolvers.errors.MissingExtraError` for an import failure of an optional module, else None.

    Examples
    --------
    >>> print(missing_extra(ModuleNotFoundError("No module named 'igraph'", name="igraph")))
    igraph is not installed: it comes with the 'connectome' extra (pip install 'flowpath[connectome]')
    >>> missing_extra(ModuleNotFoundError("No module named 'numpy'", name="numpy")) is None
    True
    """
    module = (error.name or "").partition(".")[0]
    if module not in EXTRAS:
        return None
    extra = EXTRAS[module]
    return MissingExtraError(
        f"{module} is not installed: it comes with the {extra!r} extra (pip install '{DISTRIBUTION}[{extra}]')",
        module=module,
        extra=extra,
    )


def require(module: str) -> ModuleType:
    """Import ``module`` (a dotted name is fine); a missing optional package raises an error naming its extra.

    Raises
    ------
    MissingExtraError
        When the module's top-level package is one of :data:`EXTRAS` and is not installed.
    ModuleNotFoundError
        For any other missing module (a broken installation, not an optional part).
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        err = missing_extra(e)
        if err is None:
            raise
        raise err from e

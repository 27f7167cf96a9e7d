"""Exception hierarchy of the core package.

Every package of the project roots its errors in :class:`ToolkitError`, so a caller can catch
everything the project raises on purpose with one ``except`` clause, and CLIs can turn exactly
those errors (and nothing else) into a one-line message with exit code 2.
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "ConvergenceError",
    "ConvergenceWarning",
    "FeatureError",
    "GraphStructureError",
    "GraphValidationError",
    "LimitExceededError",
    "MermaidSyntaxError",
    "MissingExtraError",
    "OptionError",
    "OutputPathError",
    "OutsideRootError",
    "ToolkitError",
]


class ToolkitError(Exception):
    """Base of every error the project raises deliberately (core and apps)."""


class GraphValidationError(ToolkitError):
    """A graph (or its JSON / networkx form) breaks a rule of the shared graph model.

    The message names the offending node or edge and what is allowed.
    """


class MermaidSyntaxError(ToolkitError, ValueError):
    """Mermaid flowchart text that cannot be parsed.

    Attributes
    ----------
    line, column : int
        1-based position of the problem in the source text.
    """

    def __init__(self, message: str, line: int, column: int) -> None:
        self.reason = message
        self.line = line
        self.column = column
        super().__init__(f"line {line}, column {column}: {message}")


class ConvergenceError(ToolkitError, RuntimeError):
    """An iterative solver stopped before reaching its tolerance.

    Attributes
    ----------
    n_iter : int
        Iterations performed.
    residual : float
        Residual when the solver stopped.
    """

    def __init__(self, message: str, *, n_iter: int, residual: float) -> None:
        self.n_iter = n_iter
        self.residual = residual
        super().__init__(f"{message} (after {n_iter} iterations, residual {residual:.3g})")


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before its tolerance and the caller asked for a warning, not an error."""


class GraphStructureError(GraphValidationError):
    """A valid graph that a solver cannot use: no edges, self-loops, disconnected parts."""


class FeatureError(GraphValidationError):
    """Node or edge features that are missing, non-finite (NaN/inf) or of the wrong size for a model."""


class CheckpointError(ToolkitError):
    """A model checkpoint that cannot be used: unreadable, another format, or trained for another task."""


class LimitExceededError(ToolkitError, ValueError):
    """An input over one of the size caps of :mod:`graphsolvers.security` (text, graph, tool arguments, store).

    The message names the cap and its value.

    Attributes
    ----------
    cap : str
        Name of the cap's constant, e.g. ``"MAX_INPUT_CHARS"``.
    limit, size : int
        The cap's value and the size of the refused input, in the cap's unit.
    """

    def __init__(self, message: str, *, cap: str, limit: int, size: int) -> None:
        self.cap = cap
        self.limit = limit
        self.size = size
        super().__init__(message)


class OutsideRootError(ToolkitError):
    """A file argument of a tool call that does not resolve to a path under the session's root folder."""


class OptionError(ToolkitError, ValueError):
    """A command-line option outside the values it allows (the message names the option and what it got)."""


class OutputPathError(ToolkitError, ValueError):
    """An output path a command cannot write to: one of its inputs, a folder where a file is wanted (or the
    other way round), a folder that must be new or empty, or a place that is not writable."""


class MissingExtraError(ToolkitError, ImportError):
    """An optional part of the project is used but the package it needs is not installed.

    The message names the package and the extra that installs it (``pip install 'flowpath[connectome]'``).

    Attributes
    ----------
    module : str
        The missing top-level module, e.g. ``"h5py"``.
    extra : str
        The extra of ``pyproject.toml`` that installs it.
    """

    def __init__(self, message: str, *, module: str, extra: str) -> None:
        self.module = module
        self.extra = extra
        super().__init__(message, name=module)

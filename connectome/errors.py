"""Exception hierarchy of :mod:`connectome`, rooted in :class:`graphsolvers.errors.ToolkitError`.

Every message says what was received and what is allowed, so a CLI can print it as its one line.
"""

from __future__ import annotations

from graphsolvers.errors import ToolkitError

__all__ = [
    "ConnectomeError",
    "DataFormatError",
    "FactorizationError",
    "OutputExistsError",
    "ParameterError",
    "UnknownNeuronError",
]


class ConnectomeError(ToolkitError):
    """Base of every error raised on purpose by :mod:`connectome`."""


class DataFormatError(ConnectomeError, ValueError):
    """Recordings that cannot be read or break a rule of the input format (shapes, NaNs, fps, ...)."""


class ParameterError(ConnectomeError, ValueError):
    """An option outside its allowed range (window length, stride, rank, method, device, ...)."""


class FactorizationError(ConnectomeError, ValueError):
    """A tensor that cannot be factorized as asked (e.g. fewer windows than the rank, nothing observed)."""


class UnknownNeuronError(ConnectomeError, KeyError):
    """A neuron name that is not in the recordings or result being queried."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class OutputExistsError(ConnectomeError, FileExistsError):
    """An output folder that already exists and is not empty."""

"""Errors of the tool library: each message tells the calling model what to change."""

from __future__ import annotations

from flowpath.errors import InputError

__all__ = ["ToolInputError", "UnknownHandleError", "UnknownToolError"]


class ToolInputError(InputError):
    """Arguments a tool cannot work with (wrong type, missing field, malformed graph or JSON)."""


class UnknownToolError(ToolInputError, KeyError):
    """A tool name that is not in the registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown tool"


class UnknownHandleError(ToolInputError, KeyError):
    """A graph handle that this session's :class:`~flowpath.tools.store.GraphStore` does not hold."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown graph handle"

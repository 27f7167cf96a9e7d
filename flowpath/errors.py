"""Errors of the flowpath app, rooted in the project-wide :class:`~graphsolvers.errors.ToolkitError`."""

from __future__ import annotations

from graphsolvers.errors import ToolkitError

__all__ = ["FlowpathError", "InputError"]


class FlowpathError(ToolkitError):
    """Base of every error flowpath raises deliberately."""


class InputError(FlowpathError):
    """A file, question or answer the app cannot work with; the message says what to change."""

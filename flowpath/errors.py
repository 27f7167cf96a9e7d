"""Errors of the flowpath app, rooted in the project-wide :class:`~graphsolvers.errors.ToolkitError`."""

from __future__ import annotations

from graphsolvers.errors import ToolkitError

__all__ = ["DataError", "FlowpathError", "ImageError", "InputError", "NoFlowchartError"]


class FlowpathError(ToolkitError):
    """Base of every error flowpath raises deliberately."""


class InputError(FlowpathError):
    """A file, question or answer the app cannot work with; the message says what to change."""


class ImageError(InputError):
    """An image that cannot be read: missing, empty, truncated, not an image, or over the pixel limit."""


class NoFlowchartError(ImageError):
    """A readable image in which no flowchart was found (blank page, photo, ...)."""


class DataError(InputError):
    """A benchmark or data folder that lacks a file the command needs, or holds malformed data."""

"""Errors of the HTTP server: each maps to one status code (``flowpath.serve.app``)."""

from __future__ import annotations

from flowpath.errors import FlowpathError

__all__ = ["BusyError", "ServeError", "UploadTooLargeError"]


class ServeError(FlowpathError):
    """Base of the server's own errors."""


class BusyError(ServeError):
    """Every worker is busy and the queue is full: answered 503 with ``Retry-After``."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class UploadTooLargeError(ServeError):
    """A request body over the server's cap: answered 413."""

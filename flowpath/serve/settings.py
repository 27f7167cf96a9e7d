"""What one server may do: its root folder, its workers, its queue, its caps and its time limit."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from flowpath.vision.image import MAX_PIXELS
from graphsolvers.security import MAX_TOOL_ARGS_BYTES

__all__ = [
    "CACHE_CHARTS",
    "MAX_UPLOAD_BYTES",
    "QUEUE_PER_WORKER",
    "REQUEST_TIMEOUT_S",
    "RETRY_AFTER_S",
    "ServeSettings",
]

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
"""Largest request body with a chart (20 MiB): FlowExplainBench's largest chart image is about 1 MB, a
phone photo 5-10 MB; larger bodies are refused from ``Content-Length`` before they are read."""

REQUEST_TIMEOUT_S = 60.0
"""Longest a request may take before it is answered 504 (a new chart parses in 1-10 s on one core)."""

QUEUE_PER_WORKER = 4
"""Chart parses that may wait per worker process; beyond them a request is answered 503 at once."""

CACHE_CHARTS = 64
"""Parsed charts kept by image hash (a graph is a few KB; the least recently used is dropped first)."""

RETRY_AFTER_S = 2
"""Seconds a client told 503 is asked to wait (``Retry-After``): about one chart parse."""

ATTRIBUTE_QUEUE = 32
"""Attributions (and tool calls) that may wait for the one agent thread; each takes tens of milliseconds."""


class ServeSettings(BaseModel):
    """The options of ``flowpath serve`` (and of :func:`flowpath.serve.create_app`).

    Examples
    --------
    >>> s = ServeSettings(root=".", workers=2)
    >>> s.max_pending_parses, s.max_upload_bytes
    (10, 20971520)
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: Path = Field(Path("."), description="file arguments of /v1/tools and `graph` must lie under this folder")
    workers: int = Field(1, ge=1, le=64, description="processes (or threads) that parse chart images")
    executor: Literal["process", "thread"] = Field(
        "process", description="parse in worker processes (the server) or threads (tests, notebooks)"
    )
    queue_per_worker: int = Field(QUEUE_PER_WORKER, ge=0, le=1000)
    attribute_queue: int = Field(ATTRIBUTE_QUEUE, ge=1, le=10_000)
    cache_charts: int = Field(CACHE_CHARTS, ge=0, le=100_000)
    max_upload_bytes: int = Field(MAX_UPLOAD_BYTES, ge=1)
    max_tool_args_bytes: int = Field(MAX_TOOL_ARGS_BYTES, ge=1)
    max_pixels: int = Field(MAX_PIXELS, ge=256)
    request_timeout_s: float = Field(REQUEST_TIMEOUT_S, gt=0)
    retry_after_s: int = Field(RETRY_AFTER_S, ge=1)
    warm: bool = Field(True, description="load the models at start-up instead of on the first request")

    @field_validator("root")
    @classmethod
    def _root_is_folder(cls, root: Path) -> Path:
        if not root.is_dir():
            raise ValueError("not a folder")
        return root.resolve()

    @property
    def max_pending_parses(self) -> int:
        """Parses running or waiting before a request is refused with 503."""
        return self.workers * (1 + self.queue_per_worker)

"""The work behind the HTTP routes: parse charts in a bounded pool, cache them by image hash, attribute, call tools.

One :class:`ChartEngine` per server. Chart images are parsed by :func:`flowpath.vision.parse_image` in
``workers`` processes (or threads); attributions and tool calls run on one thread of their own, with the agents
built once. Each pool has a :class:`Gate`: a request that finds it full is refused at once with
:class:`~flowpath.serve.errors.BusyError` (503), never queued without bound. A job counts against its gate until
it has really finished, even when the request that started it has timed out.

Examples
--------
>>> import asyncio
>>> from flowpath.serve.settings import ServeSettings
>>> engine = ChartEngine(ServeSettings(executor="thread", warm=False))
>>> graph = asyncio.run(engine.graph_from_text("flowchart TD\\n  A[Start] --> B[Stop]"))
>>> result = asyncio.run(engine.attribute(graph, "What comes after Start?", "Stop", policy="symbolic"))
>>> result.node_ids
['A', 'B']
>>> engine.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import multiprocessing
import os
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from flowpath.agent.result import AttributionResult
from flowpath.errors import ImageError
from flowpath.serve.errors import BusyError, UploadTooLargeError
from flowpath.serve.settings import ServeSettings
from flowpath.tools.session import ToolSession
from graphsolvers.errors import ToolkitError
from graphsolvers.graph import Graph

__all__ = ["POLICIES", "ChartEngine", "Gate", "Upload", "save_upload"]

log = logging.getLogger(__name__)

POLICIES = ("learned", "symbolic")
"""Policies served over HTTP (the llm policy needs a model configured on the server: not offered)."""

UPLOAD_NAME = "the uploaded image"
"""How errors name an upload (never by the server's temporary path)."""

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Upload:
    """An uploaded image saved to a temporary file, with its SHA-256."""

    path: Path
    sha256: str
    size: int


def save_upload(stream: BinaryIO, folder: Path, *, max_bytes: int) -> Upload:
    """Copy ``stream`` into a new file in ``folder`` (in 1 MiB chunks), hashing it on the way.

    Raises
    ------
    UploadTooLargeError
        If the stream holds more than ``max_bytes`` (the file is removed).

    Examples
    --------
    >>> import io, tempfile
    >>> up = save_upload(io.BytesIO(b"abc"), Path(tempfile.mkdtemp()), max_bytes=10)
    >>> up.size, up.sha256[:8], up.path.read_bytes()
    (3, 'ba7816bf', b'abc')
    """
    digest, size = hashlib.sha256(), 0
    fd, name = _new_file(folder)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadTooLargeError(f"the image is over the upload cap of {max_bytes:,} bytes")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Upload(path, digest.hexdigest(), size)


def _parse_copy(upload: Path) -> Path:
    """A second name (a hard link) of ``upload`` that its parse job owns and removes when it ends: a request
    that times out removes its upload while the parse may still be waiting in the queue.

    Examples
    --------
    >>> import tempfile
    >>> up = Path(tempfile.mkdtemp()) / "upload-x"; _ = up.write_bytes(b"png")
    >>> own = _parse_copy(up); up.unlink(); own.read_bytes()
    b'png'
    """
    own = upload.with_name(upload.name + ".parse")
    os.link(upload, own)
    return own


def _new_file(folder: Path) -> tuple[int, str]:
    import tempfile

    return tempfile.mkstemp(prefix="upload-", dir=folder)


class Gate:
    """A count of jobs running or waiting in one pool, refusing the one over ``capacity``.

    Examples
    --------
    >>> gate = Gate(1, retry_after_s=2, what="chart parses")
    >>> gate.enter()
    >>> gate.enter()
    Traceback (most recent call last):
    ...
    flowpath.serve.errors.BusyError: the server is busy: 1 chart parses running or waiting; retry in 2 s
    >>> gate.leave(); gate.busy
    0
    """

    def __init__(self, capacity: int, *, retry_after_s: int, what: str) -> None:
        self.capacity = capacity
        self.retry_after_s = retry_after_s
        self.what = what
        self.busy = 0

    def enter(self) -> None:
        if self.busy >= self.capacity:
            raise BusyError(
                f"the server is busy: {self.busy} {self.what} running or waiting; retry in {self.retry_after_s} s",
                retry_after_s=self.retry_after_s,
            )
        self.busy += 1

    def leave(self) -> None:
        self.busy -= 1


class ChartEngine:
    """Pools, agents, the chart cache and the tool session of one server (see the module docstring).

    Parameters
    ----------
    settings : ServeSettings
        Workers, queue sizes, caps and the root folder.
    """

    def __init__(self, settings: ServeSettings) -> None:
        import tempfile

        self.settings = settings
        self.session = ToolSession(settings.root, max_arg_bytes=settings.max_tool_args_bytes)
        self._uploads = tempfile.TemporaryDirectory(prefix="flowpath-serve-")
        self.upload_dir = Path(self._uploads.name)
        self._parser = _parse_pool(settings)
        self._agent_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="flowpath-agent")
        self.parse_gate = Gate(settings.max_pending_parses, retry_after_s=settings.retry_after_s, what="chart parses")
        self.agent_gate = Gate(
            settings.attribute_queue, retry_after_s=settings.retry_after_s, what="attributions or tool calls"
        )
        self._cache: OrderedDict[str, Graph] = OrderedDict()
        self._parsing: dict[str, asyncio.Future[Graph]] = {}
        self._agents: dict[str, Any] = {}

    # ------------------------------------------------------------------ life
    def warm(self) -> None:
        """Load every model now (OCR in each parse worker, MiniLM and the scorer here) instead of on first use."""
        jobs = [self._parser.submit(_warm_parser) for _ in range(self.settings.workers)]
        self._agent_thread.submit(self._warm_agents).result()
        for job in jobs:
            job.result()

    def _warm_agents(self) -> None:
        for policy in POLICIES:
            agent = self._agent(policy)
            agent.attribute(Graph.from_dict({"nodes": [{"id": "a", "text": "warm up"}]}), "warm up?", "warm up")

    def close(self) -> None:
        """Stop the pools (running parses are not awaited) and remove the uploads folder."""
        self._parser.shutdown(wait=False, cancel_futures=True)
        self._agent_thread.shutdown(wait=False, cancel_futures=True)
        self._uploads.cleanup()

    # ------------------------------------------------------------------ charts
    def cached(self, sha256: str) -> Graph | None:
        """The cached graph of the image with this hash (now the most recently used), or ``None``."""
        graph = self._cache.get(sha256)
        if graph is not None:
            self._cache.move_to_end(sha256)
        return graph

    def _remember(self, sha256: str, graph: Graph) -> None:
        if self.settings.cache_charts:
            self._cache[sha256] = graph
            while len(self._cache) > self.settings.cache_charts:
                self._cache.popitem(last=False)

    async def parse(self, upload: Upload) -> tuple[Graph, bool]:
        """The graph of an uploaded chart and whether it came from the cache (a chart being parsed for
        another request is awaited, not parsed twice).

        Raises
        ------
        ImageError
            The upload is not a readable image, is over the pixel limit, or holds no flowchart.
        BusyError
            The parse pool and its queue are full.
        """
        graph = self.cached(upload.sha256)
        if graph is not None:
            return graph, True
        pending = self._parsing.get(upload.sha256)
        if pending is None:
            own = _parse_copy(upload.path)  # the request removes its upload when it ends, maybe before the parse
            try:
                job, pool = self._submit_parse(own)
            except BaseException:
                own.unlink(missing_ok=True)
                raise
            pending = asyncio.ensure_future(self._parsed(upload.sha256, job, pool, own))
            pending.add_done_callback(_retrieved)  # a parse whose requests all timed out still ends quietly
            self._parsing[upload.sha256] = pending
        return await asyncio.shield(pending), False

    async def _parsed(self, sha256: str, job: asyncio.Future, pool: Executor, image: Path) -> Graph:
        try:
            text, error = await job
        except BrokenExecutor:
            self._replace_parser(pool)
            raise BusyError(
                "a chart parser stopped while parsing (its process was killed or crashed) and has been restarted; "
                f"retry in {self.settings.retry_after_s} s",
                retry_after_s=self.settings.retry_after_s,
            ) from None
        finally:
            self._parsing.pop(sha256, None)
            image.unlink(missing_ok=True)
        if error is not None:
            raise ImageError(error)
        graph = Graph.from_json(text)
        self._remember(sha256, graph)
        return graph

    def _submit_parse(self, path: Path) -> tuple[asyncio.Future, Executor]:
        """The parse job of the image at ``path`` and the pool it runs in; a pool that a dead worker has broken
        (it refuses every job) is replaced first."""
        for _ in range(2):
            pool = self._parser
            try:
                return self._submit(pool, self.parse_gate, _parse_file, str(path), self.settings.max_pixels), pool
            except BrokenExecutor:
                self._replace_parser(pool)
        raise BusyError(  # a new pool broken at once: the workers cannot start
            f"the chart parsers cannot start; retry in {self.settings.retry_after_s} s",
            retry_after_s=self.settings.retry_after_s,
        )

    def _replace_parser(self, broken: Executor) -> None:
        """A new parse pool in place of ``broken`` (unless another request has replaced it already)."""
        if self._parser is broken:
            log.warning("a parse worker died; starting a new parse pool")
            broken.shutdown(wait=False, cancel_futures=True)
            self._parser = _parse_pool(self.settings)

    async def graph_from_text(self, text: str) -> Graph:
        """The graph a ``graph`` form field names: Mermaid, graph JSON, a handle of this server's tool session or a
        graph file under the root (:meth:`flowpath.tools.session.ToolSession.graph`), read on the agent thread.

        Raises
        ------
        LimitExceededError
            Text over the tool-argument cap (``MAX_TOOL_ARGS_BYTES``), checked before it is read.
        """
        self.session.check_args({"graph": text})
        return await self._submit(self._agent_thread, self.agent_gate, self.session.graph, text)

    # ------------------------------------------------------------------ agent
    def _agent(self, policy: str) -> Any:
        if policy not in self._agents:
            from flowpath.agent.graph import build_agent

            self._agents[policy] = build_agent(policy=policy)
        return self._agents[policy]

    async def attribute(self, graph: Graph, question: str, answer: str, *, policy: str) -> AttributionResult:
        """The library's attribution of ``answer`` in ``graph`` (on the agent thread)."""
        return await self._submit(
            self._agent_thread, self.agent_gate, lambda: self._agent(policy).attribute(graph, question, answer)
        )

    async def call_tool(self, name: str, args: Any) -> dict[str, Any]:
        """Run a registered tool in the server's :class:`~flowpath.tools.session.ToolSession` (root, store, caps)."""
        return await self._submit(self._agent_thread, self.agent_gate, self.session.call, name, args)

    async def overlay(self, image: Path, result: AttributionResult, graph: Graph) -> bytes:
        """PNG bytes of the attribution drawn on the chart (:func:`flowpath.overlay.attribution_overlay`)."""
        from flowpath.overlay import attribution_overlay

        return await self._submit(self._agent_thread, self.agent_gate, attribution_overlay, image, result, graph)

    # ------------------------------------------------------------------ pools
    def _submit(self, pool: Executor, gate: Gate, func: Callable[..., Any], *args: Any) -> asyncio.Future:
        """``func(*args)`` on ``pool`` as an awaitable; the job holds a place in ``gate`` until it has finished,
        even if the awaiting request gives up first."""
        gate.enter()
        loop = asyncio.get_running_loop()
        try:
            job: Future = pool.submit(func, *args)
        except BaseException:
            gate.leave()
            raise
        job.add_done_callback(lambda _: _call_soon(loop, gate.leave))
        return asyncio.wrap_future(job)


def _call_soon(loop: asyncio.AbstractEventLoop, func: Callable[[], None]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop has closed (the app stopped): nobody counts any more
        loop.call_soon_threadsafe(func)


def _retrieved(future: asyncio.Future) -> None:
    if not future.cancelled():
        future.exception()


def _parse_pool(settings: ServeSettings) -> Executor:
    if settings.executor == "thread":
        return ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="flowpath-parse")
    # a fork server: the workers never inherit the server's threads or its event loop
    context = multiprocessing.get_context("forkserver")
    return ProcessPoolExecutor(max_workers=settings.workers, mp_context=context, initializer=_one_cv2_thread)


def _one_cv2_thread() -> None:
    """Worker-process setup: OpenCV on one thread (one worker per core already)."""
    import cv2

    cv2.setNumThreads(1)


def _warm_parser() -> None:
    """Load the OCR model in this worker by parsing a tiny drawn chart."""
    import numpy as np

    from flowpath.vision import parse_image

    img = np.full((64, 96, 3), 255, np.uint8)
    img[16:48, 16:80] = 0
    img[20:44, 20:76] = 255
    with contextlib.suppress(ToolkitError):  # the models are loaded either way
        parse_image(img)


def _parse_file(path: str, max_pixels: int) -> tuple[str, str | None]:
    """``(graph JSON, None)`` or ``("", message)``; runs in a parse worker. The message names the upload, never
    the server's temporary path."""
    from flowpath.vision import parse_image

    try:
        return parse_image(path, max_pixels=max_pixels).to_json(), None
    except ToolkitError as e:
        return "", str(e).replace(path, UPLOAD_NAME)

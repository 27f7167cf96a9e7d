"""The FastAPI app of ``flowpath serve``: the HTTP API and the page at ``/``.

Routes parse input and format output; the work is :class:`~flowpath.serve.engine.ChartEngine`'s, which calls the
library (:func:`flowpath.vision.parse_image`, :meth:`flowpath.agent.graph.FlowPathAgent.attribute`,
:func:`flowpath.overlay.attribution_overlay`, the tool registry). Every error is JSON ``{"detail": "..."}``; a
message names the caller's own field or the cap, never a file's content.

Examples
--------
>>> from fastapi.testclient import TestClient
>>> app = create_app(ServeSettings(executor="thread", warm=False))
>>> with TestClient(app) as client:
...     client.get("/healthz").json()
{'status': 'ok'}
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from pydantic_core import InitErrorDetails
from starlette.concurrency import run_in_threadpool

from flowpath.serve.engine import ChartEngine, Upload, save_upload
from flowpath.serve.errors import BusyError, UploadTooLargeError
from flowpath.serve.limits import BodyLimitMiddleware
from flowpath.serve.models import AttributeResponse, Health, ParseResponse, Timings, ToolInfo
from flowpath.serve.settings import ServeSettings
from flowpath.tools.errors import UnknownToolError
from graphsolvers import safe_json
from graphsolvers.errors import OutsideRootError, ToolkitError
from graphsolvers.graph import Graph
from graphsolvers.security import describe_validation_error

__all__ = ["create_app", "run_server"]

log = logging.getLogger(__name__)

STATIC = resources.files("flowpath.serve") / "static"
"""The page's HTML, CSS, JavaScript and example chart (package data: no CDN, works offline)."""

Policy = Literal["learned", "symbolic"]
ImageField = Annotated[UploadFile | None, File(description="chart image: PNG, JPEG, WebP, BMP, GIF or TIFF")]
GraphField = Annotated[
    str | None,
    Form(description="instead of an image: Mermaid, graph JSON, a graph handle or a .mmd/.json file under --root"),
]
QuestionField = Annotated[str, Form(description="the question asked about the chart")]
AnswerField = Annotated[str, Form(description="the answer to attribute (e.g. an LLM's)")]
PolicyField = Annotated[Policy, Form(description="learned (default) or symbolic")]

_STATUS = (  # the first class an error is an instance of decides its status
    (BusyError, 503),
    (UploadTooLargeError, 413),
    (OutsideRootError, 403),
    (UnknownToolError, 404),
    (ToolkitError, 422),
)
ERRORS = {
    400: {"description": "a malformed multipart body, or a text field over 1 MiB (the multipart parser's limit)"},
    413: {"description": "request body over the cap (decided from Content-Length before reading it)"},
    422: {"description": "not an image, over the pixel limit, no flowchart found, or invalid fields"},
    503: {"description": "every worker busy and the queue full; see Retry-After"},
    504: {"description": "the request took longer than the server's time limit"},
}


def create_app(settings: ServeSettings | None = None, *, engine: ChartEngine | None = None) -> FastAPI:
    """The server's FastAPI app; models load at start-up (the app's lifespan) when ``settings.warm``.

    Parameters
    ----------
    settings : ServeSettings, optional
        Root, workers, caps, time limit (default: the CLI's defaults).
    engine : ChartEngine, optional
        Share one engine (its pools and cache) between apps; the caller then closes it.
    """
    settings = settings or ServeSettings()
    own_engine = engine is None
    work = engine if engine is not None else ChartEngine(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.warm:
            started = time.perf_counter()
            await run_in_threadpool(work.warm)
            log.info("models loaded in %.1f s", time.perf_counter() - started)
        yield
        if own_engine:
            work.close()

    app = FastAPI(
        title="flowpath",
        summary="Which nodes of a flowchart ground an answer: parse a chart image, attribute an answer, draw it.",
        version=_version(),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = work
    app.add_middleware(
        BodyLimitMiddleware,
        max_upload_bytes=settings.max_upload_bytes,
        max_tool_args_bytes=settings.max_tool_args_bytes,
    )
    _add_error_handlers(app)
    _add_routes(app, work)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def _add_routes(app: FastAPI, work: ChartEngine) -> None:
    limit = work.settings.request_timeout_s

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(str(STATIC / "docs.html"))

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        """Liveness: answers while charts are being parsed."""
        return Health()

    @app.post("/v1/parse", response_model=ParseResponse, responses=ERRORS)
    async def parse(image: Annotated[UploadFile, File(description="chart image")]) -> ParseResponse:
        """Read a chart image into a graph (cached by image hash)."""
        started = time.perf_counter()
        async with _deadline(limit), _uploaded(work, image) as upload:
            graph, cached = await work.parse(upload)
        from graphsolvers.mermaid import to_mermaid

        return ParseResponse(
            graph=graph.model_dump(mode="json"),
            mermaid=to_mermaid(graph),
            image_size=tuple(graph.attrs["image_size"]),
            sha256=upload.sha256,
            timings=_timings(started, parse_s=0.0 if cached else time.perf_counter() - started, cached=cached),
        )

    @app.post("/v1/attribute", response_model=AttributeResponse, responses=ERRORS)
    async def attribute(
        question: QuestionField,
        answer: AnswerField,
        image: ImageField = None,
        graph: GraphField = None,
        policy: PolicyField = "learned",
    ) -> AttributeResponse:
        """The nodes that ground ``answer``: the same result as ``flowpath attribute --json`` on the same chart."""
        started = time.perf_counter()
        async with _deadline(limit), _chart(work, image, graph) as (chart, _, cached, parse_s):
            mark = time.perf_counter()
            result = await work.attribute(chart, question, answer, policy=policy)
        return AttributeResponse(
            **result.model_dump(),
            timings=_timings(started, parse_s=parse_s, attribute_s=time.perf_counter() - mark, cached=cached),
        )

    @app.post(
        "/v1/attribute/overlay",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}, "description": "the chart with the attribution drawn"}} | ERRORS,
    )
    async def overlay(
        question: QuestionField,
        answer: AnswerField,
        image: Annotated[UploadFile, File(description="chart image")],
        policy: PolicyField = "learned",
    ) -> Response:
        """A PNG of the chart with the attributed nodes boxed in rank order and the path between them drawn."""
        async with _deadline(limit), _chart(work, image, None) as (chart, upload, _, _):
            result = await work.attribute(chart, question, answer, policy=policy)
            png = await work.overlay(upload.path, result, chart)
        return Response(png, media_type="image/png")

    @app.get("/v1/tools", response_model=list[ToolInfo])
    async def tools() -> list[ToolInfo]:
        """Every tool of the registry with its argument JSON schema (as over MCP)."""
        from flowpath.tools import list_tools

        return [ToolInfo(name=t.name, description=t.description, input_schema=t.input_schema()) for t in list_tools()]

    @app.post(
        "/v1/tools/{name}",
        responses={403: {"description": "a file argument outside the server's --root"}}
        | {404: {"description": "no such tool"}}
        | ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object", "description": "the tool's arguments"}}},
            }
        },
    )
    async def call_tool(name: str, request: Request) -> dict[str, Any]:
        """Run one tool in the server's tool session: file arguments under --root, handles kept by the server."""
        from flowpath.tools import get_tool

        get_tool(name)  # 404 before the body is read
        args = _json_object(await request.body())
        async with _deadline(limit):
            return await work.call_tool(name, args)


def _json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object (nesting checked before parsing)."""
    from flowpath.tools.errors import ToolInputError

    try:
        value = safe_json.loads(body or b"{}")
    except safe_json.JSONDepthError as e:
        raise ToolInputError(f"the request body is {e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise ToolInputError(f"the request body is not valid JSON ({type(e).__name__})") from None
    if not isinstance(value, dict):
        raise ToolInputError(f"the request body must be a JSON object of arguments, got {type(value).__name__}")
    return value


@contextlib.asynccontextmanager
async def _uploaded(work: ChartEngine, image: UploadFile) -> AsyncIterator[Upload]:
    """The upload saved to the engine's folder for the duration of the block."""
    upload = await run_in_threadpool(save_upload, image.file, work.upload_dir, max_bytes=work.settings.max_upload_bytes)
    try:
        yield upload
    finally:
        upload.path.unlink(missing_ok=True)


@contextlib.asynccontextmanager
async def _chart(
    work: ChartEngine, image: UploadFile | None, graph: str | None
) -> AsyncIterator[tuple[Graph, Upload | None, bool, float]]:
    """The chart of a request, from exactly one of ``image`` and ``graph``: (graph, upload, cached, parse seconds)."""
    from flowpath.errors import InputError

    if (image is None) == (graph is None):
        raise InputError("give the chart as exactly one of the fields image (a file) and graph (text)")
    if image is None:
        yield await work.graph_from_text(graph), None, False, 0.0
        return
    async with _uploaded(work, image) as upload:
        started = time.perf_counter()
        chart, cached = await work.parse(upload)
        yield chart, upload, cached, 0.0 if cached else time.perf_counter() - started


class _Timeout(Exception):
    pass


@contextlib.asynccontextmanager
async def _deadline(seconds: float) -> AsyncIterator[None]:
    """The block, cut off with :class:`_Timeout` (answered 504) after ``seconds``."""
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError:
        raise _Timeout from None


def _timings(started: float, *, parse_s: float, cached: bool, attribute_s: float | None = None) -> Timings:
    return Timings(
        parse_s=round(parse_s, 4),
        attribute_s=None if attribute_s is None else round(attribute_s, 4),
        total_s=round(time.perf_counter() - started, 4),
        cached=cached,
    )


def _add_error_handlers(app: FastAPI) -> None:
    limit = app.state.engine.settings.request_timeout_s

    @app.exception_handler(ToolkitError)
    async def typed(request: Request, exc: ToolkitError) -> JSONResponse:
        status = next(code for kind, code in _STATUS if isinstance(exc, kind))
        headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, BusyError) else None
        log.info("%s %s -> %d: %s", request.method, request.url.path, status, exc)
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)

    @app.exception_handler(_Timeout)
    async def timeout(request: Request, exc: _Timeout) -> JSONResponse:
        return JSONResponse({"detail": f"the request took longer than the server's limit of {limit:g} s"}, 504)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": f"invalid request: {_validation_text(exc)}"}, status_code=422)

    @app.exception_handler(Exception)
    async def crashed(request: Request, exc: Exception) -> JSONResponse:
        log.error("%s %s crashed", request.method, request.url.path, exc_info=exc)  # the details stay in the log
        return JSONResponse({"detail": f"internal error: {type(exc).__name__} (see the server log)"}, status_code=500)


def _validation_text(exc: RequestValidationError) -> str:
    """FastAPI's validation problems as :func:`~graphsolvers.security.describe_validation_error` words them
    (field and problem, never the value)."""
    details = [
        InitErrorDetails(type=e["type"], loc=tuple(e["loc"]), input=None, ctx=e.get("ctx", {})) for e in exc.errors()
    ]
    try:
        return describe_validation_error(ValidationError.from_exception_data("request", details))
    except (TypeError, KeyError, ValueError):  # an error type pydantic-core does not know
        return "; ".join(".".join(map(str, e["loc"])) for e in exc.errors()[:3])


def _version() -> str:
    from flowpath import __version__

    return __version__


def run_server(settings: ServeSettings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the app with uvicorn until interrupted (one event loop; ``settings.workers`` parse processes)."""
    import uvicorn

    log.info("flowpath serve on http://%s:%d (root %s, %d workers)", host, port, settings.root, settings.workers)
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", timeout_graceful_shutdown=5)

"""``flowpath serve``: the attribution page and the HTTP API (FastAPI on uvicorn; the ``web`` extra)."""

from __future__ import annotations

import argparse
from pathlib import Path

from flowpath.cli.common import ocr_checked
from flowpath.errors import InputError
from graphsolvers.cli_support import add_command

__all__ = ["register"]

MAX_PORT = 65535
"""The highest TCP port (0 lets the system choose a free one)."""


def register(sub) -> None:
    serve = add_command(
        sub,
        _serve,
        epilog="Example:\n  flowpath serve --port 8000 --workers 2   then open http://127.0.0.1:8000/",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--root", type=Path, default=Path("."), metavar="DIR", help="the tool root (default: .)")
    serve.add_argument("--workers", type=int, default=1, metavar="N", help="processes that parse charts (default 1)")


@ocr_checked
def _serve(args: argparse.Namespace) -> int:
    """the web page and the HTTP API (FastAPI on uvicorn)

    Serve the attribution page at / and the HTTP API under /v1 (docs/serve.md; OpenAPI at /openapi.json). File
    arguments of /v1/tools and the `graph` field must lie under --root.
    """
    from pydantic import ValidationError

    from flowpath.serve import ServeSettings, run_server  # without the web extra: one line naming it (run_cli)
    from graphsolvers.security import describe_validation_error

    if not 0 <= args.port <= MAX_PORT:
        raise InputError(f"--port must be in 0..{MAX_PORT}, got {args.port}")
    try:
        settings = ServeSettings(root=args.root, workers=args.workers)
    except ValidationError as e:
        raise InputError("--" + describe_validation_error(e, max_items=1).replace("Value error, ", "")) from None
    run_server(settings, host=args.host, port=args.port)
    return 0

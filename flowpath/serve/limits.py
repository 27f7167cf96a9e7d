"""Caps on request bodies, decided before the body is read: an ASGI middleware.

A body whose ``Content-Length`` is over the cap of its route is answered 413 at once, without reading a byte of
it; a body without ``Content-Length`` (chunked) is counted while it streams in and refused as soon as it passes
the cap. Tool calls (``/v1/tools/…``) have the tool arguments' cap, every other route the upload cap.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimitMiddleware", "body_limit_detail"]

TOOLS_PREFIX = "/v1/tools/"


def body_limit_detail(limit: int) -> str:
    """The 413 message.

    Examples
    --------
    >>> body_limit_detail(1024)
    'the request body is over the cap of 1,024 bytes'
    """
    return f"the request body is over the cap of {limit:,} bytes"


class _BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=body_limit_detail(limit))


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_upload_bytes`` (``max_tool_args_bytes`` under ``/v1/tools/``) with 413."""

    def __init__(self, app: ASGIApp, *, max_upload_bytes: int, max_tool_args_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_tool_args_bytes = max_tool_args_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_tool_args_bytes if scope["path"].startswith(TOOLS_PREFIX) else self.max_upload_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except _BodyTooLarge:
            if started:
                raise
            await _send_413(send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _send_413(send: Send, limit: int) -> None:
    body = json.dumps({"detail": body_limit_detail(limit)}).encode()
    headers: list[Any] = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})

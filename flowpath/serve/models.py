"""What the HTTP API returns (pydantic models: they are the OpenAPI schema at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from flowpath.agent.result import AttributionResult

__all__ = ["AttributeResponse", "Health", "ParseResponse", "Timings", "ToolInfo"]


class Timings(BaseModel):
    """Where a request's time went, in seconds."""

    parse_s: float = Field(description="parsing the chart image (0 for a cached chart or a graph given as text)")
    attribute_s: float | None = Field(None, description="the agent's attribution, when the request asked for one")
    total_s: float = Field(description="the whole request on the server, after the upload was received")
    cached: bool = Field(description="whether the chart's graph came from the cache of parsed charts")


class ParseResponse(BaseModel):
    """A chart image read into the shared graph model."""

    graph: dict[str, Any] = Field(description="the graph as JSON (nodes with id, text, kind, bbox; edges)")
    mermaid: str = Field(description="the same graph as Mermaid flowchart text")
    image_size: tuple[int, int] = Field(description="width and height of the image in pixels")
    sha256: str = Field(description="hash of the image bytes: the key of the chart cache")
    timings: Timings


class AttributeResponse(AttributionResult):
    """The library's :class:`~flowpath.agent.result.AttributionResult` plus the request's timings."""

    timings: Timings


class ToolInfo(BaseModel):
    """One tool of the registry, as ``flowpath tools list --json`` shows it."""

    name: str
    description: str
    input_schema: dict[str, Any]


class Health(BaseModel):
    status: str = "ok"

"""Typed results of the attribution agent."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

__all__ = ["AttributedNode", "AttributionResult", "PathEdge", "ToolCall"]


class AttributedNode(BaseModel):
    """A flowchart node that grounds the answer."""

    id: str
    text: str
    kind: str
    bbox: tuple[float, float, float, float] | None = None
    score: float = Field(ge=0.0, le=1.0, description="confidence that the node belongs to the attribution")


class PathEdge(BaseModel):
    """An edge of the flow between attributed nodes."""

    source: str
    target: str
    label: str | None = None


class ToolCall(BaseModel):
    """One graph-tool call the policy made, with its (JSON-able) result."""

    tool: str
    args: dict[str, Any]
    result: Any


class AttributionResult(BaseModel):
    """Which nodes ground an answer, the path between them, why, and how the agent got there."""

    question: str
    answer: str
    nodes: list[AttributedNode]
    edges: list[PathEdge] = Field(default_factory=list)
    reason: str
    intent: str = Field(description="how the policy read the question (e.g. 'successor', 'path', 'lookup')")
    trace: list[ToolCall] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    @property
    def node_ids(self) -> list[str]:
        return [n.id for n in self.nodes]

"""flowpath's own tools: load and parse charts, attribute answers, embed text.

These reuse the project's code: :func:`flowpath.vision.parse_image`, one lazily built
:class:`~flowpath.agent.graph.FlowPathAgent` per policy and :func:`flowpath.agent.embed.get_embedder`.
Each is ``tool(args, session) -> dict`` (the convention of :mod:`graphsolvers.toolspec`, with the
:class:`~flowpath.tools.session.ToolSession` as context). Every file argument goes through the session's root
(:meth:`~flowpath.tools.session.ToolSession.path`); texts are refused above
:data:`~graphsolvers.security.MAX_INPUT_CHARS` before any tokenisation.

Examples
--------
>>> from flowpath.tools import call_tool
>>> out = call_tool("load_graph", {"source": "flowchart TD\\n  A[Start] --> B{Paid?}\\n  B -->|No| C[Remind]"})
>>> out["handle"].startswith("graph-"), out["summary"]["n_nodes"], out["summary"]["decisions"]
(True, 3, ['B'])
"""

from __future__ import annotations

import functools
import logging
from typing import Any, Literal

import numpy as np
from pydantic import Field

from flowpath.tools.session import ToolSession, default_session
from graphsolvers import queries
from graphsolvers.graph import Graph
from graphsolvers.security import MAX_INPUT_CHARS, check_text
from graphsolvers.toolspec import GRAPH_REF_HELP, GraphRef, ToolArgs, ToolSpec

__all__ = [
    "APP_TOOLS",
    "AttributeArgs",
    "EmbedTextArgs",
    "LoadGraphArgs",
    "ParseFlowchartArgs",
    "graph_summary",
    "resolve_chart",
]

log = logging.getLogger(__name__)

MAX_SUMMARY_NODES = 60


class LoadGraphArgs(ToolArgs):
    source: GraphRef = Field(
        description="Mermaid flowchart text (starting with 'flowchart' or 'graph'), a graph JSON document "
        "(object or string), or a path to a .json/.mmd graph file."
    )


class ParseFlowchartArgs(ToolArgs):
    image: str = Field(description="Path of a flowchart image file (PNG, JPEG, WebP or BMP).")


class AttributeArgs(ToolArgs):
    chart: GraphRef = Field(description="A flowchart image path, or " + GRAPH_REF_HELP[0].lower() + GRAPH_REF_HELP[1:])
    question: str = Field(
        min_length=1, description=f"The question asked about the chart (at most {MAX_INPUT_CHARS:,} characters)."
    )
    answer: str = Field(
        min_length=1,
        description="The answer to ground in the chart, e.g. an LLM's answer "
        f"(at most {MAX_INPUT_CHARS:,} characters).",
    )
    policy: Literal["learned", "symbolic"] = Field(
        "learned", description="'learned': graph tools + trained node scorer (default); 'symbolic': rules only."
    )


class EmbedTextArgs(ToolArgs):
    texts: list[str] = Field(
        min_length=1,
        max_length=256,
        description=f"Texts to embed (at most 256, each at most {MAX_INPUT_CHARS:,} characters).",
    )
    query: str | None = Field(
        None, description="If given, return the cosine similarity of each text to this query, best first."
    )
    return_vectors: bool = Field(
        False, description="Also return the 384-dimensional unit vectors (large; rarely needed by an agent)."
    )


def graph_summary(graph: Graph) -> dict[str, Any]:
    """A compact overview of a graph for an agent: sizes, start/end/decision nodes and the node texts.

    Examples
    --------
    >>> from graphsolvers.mermaid import parse_mermaid
    >>> s = graph_summary(parse_mermaid("flowchart TD\\n  A --> B"))
    >>> s["n_nodes"], s["start_nodes"], s["nodes"][0]
    (2, ['A'], {'id': 'A', 'text': 'A', 'kind': 'process'})
    """
    return {
        "n_nodes": len(graph.nodes),
        "n_edges": len(graph.edges),
        "start_nodes": queries.start_nodes(graph),
        "end_nodes": queries.end_nodes(graph),
        "decisions": [n.id for n in graph.nodes if n.kind == "decision"],
        "nodes": [{"id": n.id, "text": n.text, "kind": n.kind} for n in graph.nodes[:MAX_SUMMARY_NODES]],
        **({"nodes_truncated": True} if len(graph.nodes) > MAX_SUMMARY_NODES else {}),
    }


def resolve_chart(ref: GraphRef, session: ToolSession | None = None) -> Graph:
    """The graph of a chart: an image path is parsed (once per image content), anything else is a graph reference;
    files must lie under the session's root (default session: the process-wide one).

    Examples
    --------
    >>> resolve_chart("flowchart LR\\n  X --> Y").node_ids
    ['X', 'Y']
    """
    return (session or default_session()).chart(ref)


@functools.cache
def _agent(policy: str) -> Any:
    from flowpath.agent.graph import build_agent

    return build_agent(policy=policy)


def load_graph(args: LoadGraphArgs, session: ToolSession) -> dict[str, Any]:
    """Load a flowchart graph from Mermaid text, graph JSON or a graph file and return a handle for the other
    graph tools plus a summary (node ids with their texts, start/end/decision nodes). Pass the handle as the
    `graph` argument of later tools."""
    graph = session.graph(args.source)
    return {"handle": session.store.put(graph), "summary": graph_summary(graph)}


def parse_flowchart(args: ParseFlowchartArgs, session: ToolSession) -> dict[str, Any]:
    """Read a flowchart image (OCR + shape and arrow detection) into a graph. Returns a handle for the other tools,
    a summary, and the graph JSON (nodes with id, text, kind and bounding box; edges with their labels)."""
    handle = session.parse_image(args.image)
    graph = session.store.get(handle)
    return {"handle": handle, "summary": graph_summary(graph), "graph": graph.model_dump(mode="json")}


def attribute(args: AttributeArgs, session: ToolSession) -> dict[str, Any]:
    """Find the minimal set of flowchart nodes that ground an answer to a question about the chart: the attributed
    nodes (id, text, kind, bounding box, score), the edges between them, the reason and the trace of graph-tool
    calls. The chart is an image path (parsed once) or a graph handle / graph JSON / Mermaid text."""
    check_text("the question", args.question)  # before the chart is parsed
    check_text("the answer", args.answer)
    graph = session.chart(args.chart)
    return _agent(args.policy).attribute(graph, args.question, args.answer).model_dump(mode="json")


def embed_text(args: EmbedTextArgs, session: ToolSession) -> dict[str, Any]:
    """Sentence embeddings (MiniLM, offline). With a query: the cosine similarity of each text to it, best first.
    Without: the matrix of pairwise cosine similarities. Vectors only if return_vectors is true."""
    for i, text in enumerate(args.texts):
        check_text(f"texts[{i}]", text)  # before the model loads or tokenises anything
    check_text("the query", args.query)
    from flowpath.agent.embed import get_embedder

    embedder = get_embedder().fresh()  # a memo per call: a client's texts do not pile up in the server
    vecs = embedder.embed(args.texts)
    out: dict[str, Any] = {"model": "all-MiniLM-L6-v2", "dim": int(vecs.shape[1])}
    if args.query is not None:
        sims = vecs @ embedder.embed([args.query])[0]
        order = np.argsort(-sims, kind="stable")
        out["similarities"] = [{"text": args.texts[i], "score": round(float(sims[i]), 4)} for i in order]
    else:
        out["similarity_matrix"] = np.round(vecs @ vecs.T, 4).tolist()
    if args.return_vectors:
        out["vectors"] = np.round(vecs, 5).tolist()
    return out


APP_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec.from_function(load_graph, LoadGraphArgs),
    ToolSpec.from_function(parse_flowchart, ParseFlowchartArgs),
    ToolSpec.from_function(attribute, AttributeArgs),
    ToolSpec.from_function(embed_text, EmbedTextArgs),
)
"""flowpath's own tools, first in the registry."""

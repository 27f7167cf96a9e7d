""":class:`~graphsolvers.graph.Graph` -> Mermaid flowchart text (:func:`to_mermaid`) that reads back unchanged.

What Mermaid cannot say travels in one ``%% flowpath:meta {…}`` comment: the fields where the plain
text, parsed back, differs from the graph.
"""

from __future__ import annotations

import json
import re
from typing import Any

from graphsolvers.graph import Edge, Graph, Node
from graphsolvers.mermaid.parse import parse_mermaid
from graphsolvers.mermaid.syntax import (
    _DIRECTIONS,
    _DIRECTIVES,
    _ENTITY,
    _KIND_SHAPE,
    _LINK,
    _META_PREFIX,
    _RESERVED,
    _SAFE_ID,
    SHAPES,
    _decode,
)

__all__ = ["to_mermaid"]


def to_mermaid(graph: Graph) -> str:
    """Mermaid flowchart text for ``graph`` that :func:`parse_mermaid` reads back unchanged.

    Node shapes come from ``attrs["shape"]`` (any key of :data:`SHAPES`) or else from the kind;
    ``attrs["link"]`` on an edge picks its arrow (default ``-->``, ``---`` in undirected graphs).

    Examples
    --------
    >>> g = Graph(nodes=[Node(id="A", text='say "hi"', kind="start"), Node(id="B", text="ok", kind="end")],
    ...           edges=[Edge(source="A", target="B", label="Yes")])
    >>> print(to_mermaid(g))
    flowchart TD
        A(["say #quot;hi#quot;"])
        B(["ok"])
        A -->|"Yes"| B
    """
    plain, aliases = _plain_mermaid(graph)
    meta = _meta_for(graph, parse_mermaid(plain), aliases)
    if meta:
        plain += f"\n    %% {_META_PREFIX} " + json.dumps(meta, ensure_ascii=False, separators=(",", ":"))
    return plain


def _plain_mermaid(graph: Graph) -> tuple[str, dict[str, str]]:
    aliases = _mermaid_ids(graph)
    direction = graph.attrs.get("direction", "TD")
    if not isinstance(direction, str) or direction not in _DIRECTIONS:
        direction = "TD"
    lines = [f"flowchart {direction}"]
    for n in graph.nodes:
        shape = n.attrs.get("shape")
        if not isinstance(shape, str) or shape not in SHAPES:
            shape = _KIND_SHAPE.get(n.kind, "rect")
        opener, closer = SHAPES[shape]
        lines.append(f"    {aliases[n.id]}{opener}{_quote(n.text)}{closer}")
    default_link = "-->" if graph.directed else "---"
    for e in graph.edges:
        link = e.attrs.get("link")
        if not (isinstance(link, str) and _LINK.fullmatch(link)):
            link = default_link
        label = "" if e.label is None else f"|{_quote(e.label)}|"
        lines.append(f"    {aliases[e.source]} {link}{label} {aliases[e.target]}")
    directives = graph.attrs.get("mermaid_directives")
    if isinstance(directives, list):
        lines += [f"    {d}" for d in directives if isinstance(d, str) and _is_directive(d)]
    return "\n".join(lines), aliases


def _is_directive(line: str) -> bool:
    """Whether ``line`` reads back as a directive: one of :data:`_DIRECTIVES` followed by a space or a tab (the
    parser's rule; a bare ``style`` is a node id), on one line."""
    text = line.strip()
    word = re.compile(r"[A-Za-z]+\b").match(text)
    return (
        word is not None
        and word.group(0) in _DIRECTIVES
        and text[word.end() : word.end() + 1] in (" ", "\t")
        and "\n" not in line
        and ";" not in line
    )


def _mermaid_ids(graph: Graph) -> dict[str, str]:
    taken = set(graph.node_ids)
    aliases: dict[str, str] = {}
    counter = 0
    for n in graph.nodes:
        if _SAFE_ID.fullmatch(n.id) and n.id.lower() not in _RESERVED:
            aliases[n.id] = n.id
            continue
        while f"n{counter}" in taken:
            counter += 1
        aliases[n.id] = f"n{counter}"
        taken.add(f"n{counter}")
    return aliases


def _quote(text: str) -> str:
    def esc_hash(m: re.Match[str]) -> str:
        return "#35;" + m.group(0)[1:] if _decode(m.group(0)) != m.group(0) else m.group(0)

    text = _ENTITY.sub(esc_hash, text)
    text = text.replace('"', "#quot;")
    text = "".join(f"#{ord(c)};" if ord(c) < 0x20 or c in "\u2028\u2029\x7f" else c for c in text)
    return f'"{text}"'


def _meta_for(graph: Graph, reparsed: Graph, aliases: dict[str, str]) -> dict[str, Any]:
    """What the plain Mermaid text loses: the fields where ``reparsed`` differs from ``graph``."""
    meta: dict[str, Any] = {}
    renamed = {alias: nid for nid, alias in aliases.items() if alias != nid}
    if renamed:
        meta["ids"] = renamed
    nodes: dict[str, Any] = {}
    for orig, back in zip(graph.nodes, reparsed.nodes, strict=True):
        diff = _field_diff(orig, back, ("text", "kind", "bbox", "attrs"))
        if diff:
            nodes[aliases[orig.id]] = diff
    if nodes:
        meta["nodes"] = nodes
    edges: dict[str, Any] = {}
    for i, (orig, back) in enumerate(zip(graph.edges, reparsed.edges, strict=True)):
        diff = _field_diff(orig, back, ("label", "weight", "attrs"))
        if diff:
            edges[str(i)] = diff
    if edges:
        meta["edges"] = edges
    if graph.attrs != reparsed.attrs:
        meta["attrs"] = graph.attrs
    if not graph.directed:
        meta["directed"] = False
    return meta


def _field_diff(orig: Node | Edge, back: Node | Edge, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: orig.model_dump(mode="json")[name] for name in names if getattr(orig, name) != getattr(back, name)}

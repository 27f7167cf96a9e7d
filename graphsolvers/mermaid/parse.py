"""Mermaid flowchart text -> :class:`~graphsolvers.graph.Graph` (:func:`parse_mermaid`).

A hand-written scanner that knows the line and column of every offset, so each
:class:`~graphsolvers.errors.MermaidSyntaxError` names where the text went wrong; ``&`` groups and
graph sizes are capped (:mod:`graphsolvers.security`) before anything is built.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from graphsolvers import safe_json
from graphsolvers.errors import GraphValidationError, LimitExceededError, MermaidSyntaxError
from graphsolvers.graph import Edge, Graph, Node
from graphsolvers.mermaid.syntax import (
    _CLASS_SUFFIX,
    _DIRECTIONS,
    _DIRECTIVES,
    _ID,
    _KIND_SHAPE,
    _LINK,
    _META_PREFIX,
    _OPENERS,
    _TEXT_LINK_CLOSE,
    _TEXT_LINK_OPEN,
    SHAPE_KIND,
    SHAPES,
    _decode,
)
from graphsolvers.security import MAX_GRAPH_EDGES, MAX_GRAPH_NODES, MAX_MERMAID_FANOUT

__all__ = ["parse_mermaid"]


@dataclass
class _Draft:
    """Mutable parse state; turned into a Graph at the end."""

    direction: str = "TD"
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)
    directives: list[str] = field(default_factory=list)
    meta: dict[str, Any] | None = None
    fanout: int = 0  # edges made by ``&`` groups so far (capped by MAX_MERMAID_FANOUT)


class _Scanner:
    """Cursor over the source text that knows line and column of every offset."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def where(self, pos: int | None = None) -> tuple[int, int]:
        pos = self.pos if pos is None else pos
        lo, hi = 0, len(self._line_starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self._line_starts[mid] <= pos:
                lo = mid
            else:
                hi = mid - 1
        return lo + 1, pos - self._line_starts[lo] + 1

    def error(self, message: str, pos: int | None = None) -> MermaidSyntaxError:
        line, col = self.where(pos)
        return MermaidSyntaxError(message, line, col)

    def over_cap(self, what: str, size: int, cap: str, limit: int, pos: int) -> LimitExceededError:
        line, col = self.where(pos)
        message = f"line {line}, column {col}: {what}, over the cap {cap} = {limit:,}"
        return LimitExceededError(message, cap=cap, limit=limit, size=size)

    def skip_blanks(self) -> None:
        """Skip spaces and tabs (not newlines)."""
        while self.pos < len(self.text) and self.text[self.pos] in " \t\r":
            self.pos += 1

    def at_end_of_statement(self) -> bool:
        self.skip_blanks()
        return self.pos >= len(self.text) or self.text[self.pos] in "\n;"

    def startswith(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def match(self, pattern: re.Pattern[str]) -> re.Match[str] | None:
        m = pattern.match(self.text, self.pos)
        if m:
            self.pos = m.end()
        return m

    def rest_of_line(self) -> str:
        end = self.text.find("\n", self.pos)
        end = len(self.text) if end < 0 else end
        s = self.text[self.pos : end]
        self.pos = end
        return s


def parse_mermaid(text: str) -> Graph:
    """Parse Mermaid flowchart text into a :class:`Graph`.

    Parameters
    ----------
    text : str
        A ``flowchart`` (or ``graph``) diagram, optionally preceded by a ``---`` front-matter block.

    Returns
    -------
    Graph
        Nodes in order of first appearance, edges in source order; ``attrs["direction"]`` holds
        the header direction unless it is ``TD``, and ``attrs["mermaid_directives"]`` any style lines.

    Raises
    ------
    MermaidSyntaxError
        With the 1-based line and column of the first problem.
    """
    if not isinstance(text, str):
        raise MermaidSyntaxError(f"expected Mermaid text (str), got {type(text).__name__}", 1, 1)
    sc = _Scanner(text)
    draft = _Draft()
    _skip_front_matter(sc)
    _parse_header(sc, draft)
    while sc.pos < len(sc.text):
        sc.skip_blanks()
        if sc.pos >= len(sc.text):
            break
        ch = sc.text[sc.pos]
        if ch in "\n;":
            sc.pos += 1
            continue
        _parse_statement(sc, draft)
    return _finish(draft, sc)


def _skip_front_matter(sc: _Scanner) -> None:
    m = re.match(r"\s*---[ \t]*\n", sc.text)
    if not m:
        return
    end = re.compile(r"^---[ \t]*$", re.M).search(sc.text, m.end())
    if not end:
        raise sc.error("front matter opened with '---' is never closed", m.end() - 4)
    sc.pos = end.end()


def _parse_header(sc: _Scanner, draft: _Draft) -> None:
    while True:
        while sc.pos < len(sc.text) and sc.text[sc.pos] in " \t\r\n":
            sc.pos += 1
        if sc.startswith("%%"):
            _parse_comment(sc, draft)
            continue
        break
    m = sc.match(re.compile(r"(flowchart|graph)\b"))
    if not m:  # the text is not quoted: it may be any file's first line
        raise sc.error(
            "expected a 'flowchart' or 'graph' header: this is not Mermaid flowchart text"
            if sc.text[sc.pos : sc.pos + 1].strip()
            else "empty diagram: expected a 'flowchart' or 'graph' header"
        )
    sc.skip_blanks()
    d = sc.match(re.compile(r"[A-Za-z]+"))
    if d:
        direction = d.group(0).upper()
        if direction not in _DIRECTIONS:
            raise sc.error("unknown direction; use one of TD, TB, BT, LR, RL", d.start())
        draft.direction = direction
    if not sc.at_end_of_statement():
        raise sc.error("unexpected text after the header; put statements on the following lines")


def _parse_comment(sc: _Scanner, draft: _Draft) -> None:
    start = sc.pos
    body = sc.rest_of_line()[2:].strip()
    if body.startswith(_META_PREFIX):
        try:
            meta = safe_json.loads(body[len(_META_PREFIX) :])
        except json.JSONDecodeError as e:
            raise sc.error(f"unreadable {_META_PREFIX} comment: {e.msg}", start) from e
        if not isinstance(meta, dict):
            raise sc.error(f"{_META_PREFIX} comment must hold a JSON object", start)
        draft.meta = meta


def _parse_statement(sc: _Scanner, draft: _Draft) -> None:
    if sc.startswith("%%"):
        _parse_comment(sc, draft)
        return
    word = re.compile(r"[A-Za-z]+\b").match(sc.text, sc.pos)
    if word and word.group(0) in _DIRECTIVES and sc.text[word.end() : word.end() + 1] in (" ", "\t"):
        draft.directives.append(sc.rest_of_line().strip())
        return
    if (
        word
        and word.group(0) in ("subgraph", "end", "direction")
        and not _LINK.match(sc.text, _after_blanks(sc.text, word.end()))
        and not any(sc.text.startswith(o, word.end()) for o in _OPENERS)
    ):
        raise sc.error(f"'{word.group(0)}' blocks are not supported; flatten the subgraph into plain nodes and edges")
    left = _parse_node_group(sc, draft)
    while not sc.at_end_of_statement():
        link_pos = sc.pos
        op, label = _parse_link(sc)
        sc.skip_blanks()
        right = _parse_node_group(sc, draft)
        n_new = len(left) * len(right)  # counted before a single edge of a fan-out is built
        if n_new > 1:
            draft.fanout += n_new
            if draft.fanout > MAX_MERMAID_FANOUT:
                what = f"'&' groups would make {draft.fanout:,} edges ({len(left):,} × {len(right):,} at this link)"
                raise sc.over_cap(what, draft.fanout, "MAX_MERMAID_FANOUT", MAX_MERMAID_FANOUT, link_pos)
        if len(draft.edges) + n_new > MAX_GRAPH_EDGES:
            size = len(draft.edges) + n_new
            raise sc.over_cap(
                f"the graph would have {size:,} edges", size, "MAX_GRAPH_EDGES", MAX_GRAPH_EDGES, link_pos
            )
        for s in left:
            for t in right:
                attrs = {} if op == "-->" else {"link": op}
                draft.edges.append({"source": s, "target": t, "label": label, "attrs": attrs, "pos": link_pos})
        left = right


def _after_blanks(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _parse_node_group(sc: _Scanner, draft: _Draft) -> list[str]:
    ids = [_parse_node(sc, draft)]
    while True:
        save = sc.pos
        sc.skip_blanks()
        if sc.startswith("&"):
            sc.pos += 1
            sc.skip_blanks()
            ids.append(_parse_node(sc, draft))
        else:
            sc.pos = save
            return ids


def _parse_node(sc: _Scanner, draft: _Draft) -> str:
    sc.skip_blanks()
    m = sc.match(_ID)
    if not m:
        got = " (letters, digits or _)" if sc.pos < len(sc.text) else ", found the end of the text"
        raise sc.error(f"expected a node id{got}")
    node_id = m.group(0)
    if node_id not in draft.nodes and len(draft.nodes) >= MAX_GRAPH_NODES:
        size = len(draft.nodes) + 1
        raise sc.over_cap(f"the graph would have {size:,} nodes", size, "MAX_GRAPH_NODES", MAX_GRAPH_NODES, m.start())
    node = draft.nodes.setdefault(node_id, {"id": node_id, "text": node_id, "shape": None})
    for opener in _OPENERS:
        if sc.startswith(opener):
            shape, text = _parse_shape(sc, opener)
            node["text"], node["shape"] = text, shape
            break
    cls = sc.match(_CLASS_SUFFIX)
    if cls:
        node["class"] = cls.group(1)
    return node_id


def _parse_shape(sc: _Scanner, opener: str) -> tuple[str, str]:
    start = sc.pos
    sc.pos += len(opener)
    closers = [(name, c) for name, (o, c) in SHAPES.items() if o == opener]
    if sc.startswith('"'):
        q_end = sc.text.find('"', sc.pos + 1, _line_end(sc.text, sc.pos))
        if q_end < 0:
            raise sc.error("unterminated quoted label in the node shape opened here", start)
        quoted = sc.text[sc.pos + 1 : q_end]
        sc.pos = q_end + 1
        name, closer_at = _find_closer(sc, closers, start)
        # Mermaid keeps stray text between the closing quote and the closer (e.g. {"/x?"/} shows /x?/)
        tail = sc.text[sc.pos : closer_at].strip()
        text = _decode(quoted) + tail
    else:
        name, closer_at = _find_closer(sc, closers, start)
        text = _decode(sc.text[sc.pos : closer_at].strip())
    sc.pos = closer_at + len(SHAPES[name][1])
    return name, text


def _find_closer(sc: _Scanner, closers: list[tuple[str, str]], start: int) -> tuple[str, int]:
    """Position of the earliest closer of this shape on the current line."""
    line_end = sc.text.find("\n", sc.pos)
    line_end = len(sc.text) if line_end < 0 else line_end
    best: tuple[str, int] | None = None
    for name, closer in closers:
        at = sc.text.find(closer, sc.pos, line_end)
        # a single-character closer must not be the first half of a longer one at the same spot
        if at >= 0 and (best is None or at < best[1]):
            best = (name, at)
    if best is None:
        expected = " or ".join(repr(c) for _, c in closers)
        raise sc.error(f"node shape opened here is not closed (expected {expected} on the same line)", start)
    return best


def _parse_link(sc: _Scanner) -> tuple[str, str | None]:
    sc.skip_blanks()
    start = sc.pos
    m = sc.match(_LINK)
    if m:
        op = m.group(0)
        label = _parse_pipe_label(sc)
        return op, label
    m = _TEXT_LINK_OPEN.match(sc.text, sc.pos)
    if m:
        close = _TEXT_LINK_CLOSE.search(sc.text, m.end(), _line_end(sc.text, m.end()))
        if close:
            label = sc.text[m.end() : close.start()].strip()
            if label.startswith('"') and label.endswith('"') and len(label) >= 2:
                label = label[1:-1]
            head = "<" if sc.text[start] == "<" else ""
            arrow = close.group(1).endswith(">")
            op = {"--": ("---", "-->"), "==": ("===", "==>"), "-.": ("-.-", "-.->")}[m.group(1)][arrow]
            sc.pos = close.end()
            return head + op, _decode(label)
    raise sc.error("expected a link such as '-->' or the end of the statement", start)


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _parse_pipe_label(sc: _Scanner) -> str | None:
    save = sc.pos
    sc.skip_blanks()
    if not sc.startswith("|"):
        sc.pos = save
        return None
    open_at = sc.pos
    sc.pos += 1
    inner_start = sc.pos
    stripped = sc.text[inner_start:].lstrip(" \t")
    if stripped.startswith('"'):
        q_start = sc.text.index('"', inner_start)
        q_end = sc.text.find('"', q_start + 1, _line_end(sc.text, q_start))
        if q_end >= 0:
            close = sc.text.find("|", q_end, _line_end(sc.text, q_end))
            if close >= 0 and not sc.text[q_end + 1 : close].strip():
                sc.pos = close + 1
                return _decode(sc.text[q_start + 1 : q_end])
    close = sc.text.find("|", inner_start, _line_end(sc.text, inner_start))
    if close < 0:
        raise sc.error("edge label opened with '|' is not closed on the same line", open_at)
    sc.pos = close + 1
    return _decode(sc.text[inner_start:close].strip())


def _finish(draft: _Draft, sc: _Scanner) -> Graph:
    indeg = dict.fromkeys(draft.nodes, 0)
    outdeg = dict(indeg)
    for e in draft.edges:
        outdeg[e["source"]] += 1
        indeg[e["target"]] += 1
    nodes = []
    for nid, d in draft.nodes.items():
        shape = d["shape"] or "rect"
        kind = SHAPE_KIND.get(shape, "process")
        if shape == "stadium":
            kind = "end" if outdeg[nid] == 0 and indeg[nid] > 0 else "start"
        attrs: dict[str, Any] = {} if shape == _KIND_SHAPE.get(kind, "rect") else {"shape": shape}
        if "class" in d:
            attrs["class"] = d["class"]
        nodes.append(Node(id=nid, text=d["text"], kind=kind, attrs=attrs))
    edges = [Edge(source=e["source"], target=e["target"], label=e["label"], attrs=e["attrs"]) for e in draft.edges]
    attrs: dict[str, Any] = {} if draft.direction == "TD" else {"direction": draft.direction}
    if draft.directives:
        attrs["mermaid_directives"] = draft.directives
    graph = Graph(nodes=nodes, edges=edges, attrs=attrs)
    if draft.meta is not None:
        graph = _apply_meta(graph, draft.meta, sc)
    return graph


def _apply_meta(graph: Graph, meta: dict[str, Any], sc: _Scanner) -> Graph:
    try:
        ids: dict[str, str] = meta.get("ids", {})
        node_diffs: dict[str, Any] = meta.get("nodes", {})
        nodes = []
        for n in graph.nodes:
            data = n.model_dump() | node_diffs.get(n.id, {})
            data["id"] = ids.get(n.id, n.id)
            nodes.append(data)
        edge_diffs: dict[str, Any] = meta.get("edges", {})
        edges = []
        for i, e in enumerate(graph.edges):
            data = e.model_dump() | edge_diffs.get(str(i), {})
            data["source"], data["target"] = ids.get(e.source, e.source), ids.get(e.target, e.target)
            edges.append(data)
        return Graph(
            nodes=nodes,
            edges=edges,
            directed=bool(meta.get("directed", graph.directed)),
            attrs=meta.get("attrs", graph.attrs),
        )
    except (AttributeError, TypeError, GraphValidationError) as e:
        raise MermaidSyntaxError(f"malformed {_META_PREFIX} comment: {e}", *sc.where(len(sc.text))) from e

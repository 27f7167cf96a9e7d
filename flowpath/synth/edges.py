"""What a look changes in a chart's graph before it is drawn: link styles (``-.->`` dotted, ``==>`` thick) and
extra edges whose connectors cross others."""

from __future__ import annotations

import random
from collections import deque

from flowpath.errors import InputError
from graphsolvers.graph import Edge, Graph

__all__ = ["LINKS", "add_crossings", "set_links"]

LINKS = ("solid", "dotted", "thick", "mixed")
"""Link style per chart; ``mixed`` draws each edge solid, dotted or thick at random."""
_LINK_OPS = {"dotted": "-.->", "thick": "==>"}


def set_links(graph: Graph, links: str, rng: random.Random) -> Graph:
    """``graph`` with each edge's ``attrs["link"]`` set for the link style (``-.->`` dotted, ``==>`` thick).

    Raises
    ------
    InputError
        If ``links`` is not one of :data:`LINKS`.

    Examples
    --------
    >>> from graphsolvers.graph import Node
    >>> g = Graph(nodes=[Node(id="A"), Node(id="B")], edges=[Edge(source="A", target="B")])
    >>> set_links(g, "thick", random.Random(0)).edges[0].attrs
    {'link': '==>'}
    """
    if links not in LINKS:
        raise InputError(f"unknown link style {links!r}; choose from {', '.join(LINKS)}")
    edges = []
    for e in graph.edges:
        kind = rng.choice(("solid", "dotted", "thick")) if links == "mixed" else links
        attrs = {k: v for k, v in e.attrs.items() if k != "link"}
        if kind in _LINK_OPS:
            attrs["link"] = _LINK_OPS[kind]
        edges.append(e.model_copy(update={"attrs": attrs}))
    return graph.model_copy(update={"edges": edges})


def add_crossings(graph: Graph, n: int, rng: random.Random) -> tuple[Graph, int]:
    """``graph`` with up to ``n`` extra unlabelled edges between non-adjacent nodes at least two ranks
    apart (rank: steps from the first node), so connectors cross; returns the graph and how many were added.

    Ends never get an outgoing extra edge, the first node never an incoming one.

    Examples
    --------
    >>> from graphsolvers.graph import Node
    >>> g = Graph(nodes=[Node(id=c) for c in "ABCD"], edges=[Edge(source=a, target=b) for a, b in ("AB", "BC", "CD")])
    >>> g2, added = add_crossings(g, 2, random.Random(0))
    >>> added, sorted((e.source, e.target) for e in g2.edges[3:])
    (2, [('A', 'C'), ('B', 'D')])
    """
    if n <= 0 or not graph.nodes:
        return graph, 0
    start = graph.nodes[0].id
    rank = {start: 0}
    queue = deque([start])
    succ: dict[str, list[str]] = {}
    for e in graph.edges:
        succ.setdefault(e.source, []).append(e.target)
    while queue:
        u = queue.popleft()
        for v in succ.get(u, []):
            if v not in rank:
                rank[v] = rank[u] + 1
                queue.append(v)
    adjacent = {(e.source, e.target) for e in graph.edges} | {(e.target, e.source) for e in graph.edges}
    kinds = {nd.id: nd.kind for nd in graph.nodes}
    pairs = [
        (u, v)
        for u in rank
        for v in rank
        if abs(rank[u] - rank[v]) >= 2 and (u, v) not in adjacent and kinds[u] != "end" and v != start
    ]
    rng.shuffle(pairs)
    extra: list[Edge] = []
    for u, v in pairs:
        if len(extra) == n:
            break
        if (u, v) in adjacent:
            continue
        extra.append(Edge(source=u, target=v))
        adjacent |= {(u, v), (v, u)}
    return graph.model_copy(update={"edges": [*graph.edges, *extra]}), len(extra)

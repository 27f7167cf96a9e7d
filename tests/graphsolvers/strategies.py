"""Hypothesis strategies for random graphs of the shared model."""

from __future__ import annotations

from hypothesis import strategies as st

from graphsolvers.graph import NODE_KINDS, Edge, Graph, Node

texts = st.text(max_size=40)
json_scalars = (
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False, allow_infinity=False) | texts
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
attrs = st.dictionaries(st.text(max_size=10), json_values, max_size=3)
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def bboxes(draw):
    x1, y1 = draw(finite), draw(finite)
    w, h = draw(st.floats(0, 1e4)), draw(st.floats(0, 1e4))
    return (x1, y1, x1 + w, y1 + h)


@st.composite
def graphs(draw, *, max_nodes: int = 8, max_edges: int = 12, ids=None):
    ids = ids if ids is not None else st.text(min_size=1, max_size=6)
    node_ids = draw(st.lists(ids, min_size=0, max_size=max_nodes, unique=True))
    nodes = [
        Node(
            id=i,
            text=draw(texts),
            kind=draw(st.sampled_from(NODE_KINDS) | st.text(min_size=1, max_size=8).filter(str.strip)),
            bbox=draw(st.none() | bboxes()),
            attrs=draw(attrs),
        )
        for i in node_ids
    ]
    edges = []
    if node_ids:
        for _ in range(draw(st.integers(0, max_edges))):
            edges.append(
                Edge(
                    source=draw(st.sampled_from(node_ids)),
                    target=draw(st.sampled_from(node_ids)),
                    label=draw(st.none() | texts),
                    weight=draw(st.none() | finite),
                    attrs=draw(attrs),
                )
            )
    return Graph(nodes=nodes, edges=edges, directed=draw(st.booleans()), attrs=draw(attrs))

"""Mermaid flowchart text <-> :class:`~graphsolvers.graph.Graph`.

Three modules: :mod:`~graphsolvers.mermaid.syntax` (shape tables, link patterns, entity codes),
:mod:`~graphsolvers.mermaid.parse` (text -> Graph) and :mod:`~graphsolvers.mermaid.emit` (Graph -> text).

Parsing covers the flowchart syntax that charts in the wild (and every FlowExplainBench source)
use: a ``flowchart``/``graph`` header with a direction; node shapes ``["…"]`` rectangle,
``("…")`` rounded, ``(["…"])`` stadium, ``{"…"}`` decision, ``{{"…"}}`` hexagon, ``[/"…"/]`` and
``[\\"…"\\]`` parallelograms, ``[/"…"\\]`` / ``[\\"…"/]`` trapezoids, ``(("…"))`` circle,
``((("…")))`` double circle, ``[("…")]`` cylinder, ``[["…"]]`` subroutine, ``>"…"]`` flag; quoted and
unquoted labels with ``#quot;``-style entity codes; links ``-->``, ``---``, ``-.->``, ``==>``,
``<-->``, ``--o``, ``--x`` and longer variants; edge labels ``-->|Yes|``, ``-->|"Yes"|`` and
``-- Yes -->``; chains ``A --> B --> C``; ``A & B --> C``; ``:::class`` suffixes; ``;`` separators;
``%%`` comments; ``style``/``classDef``/``class``/``linkStyle``/``click`` directives (kept verbatim).

Node kinds come from shapes: stadium (terminal) nodes are ``end`` when flow enters them and
nothing leaves them, ``start`` otherwise; decisions are ``decision``; parallelograms, trapezoids and cylinders
are ``io``; circles are ``connector``; flags are ``other``; the rest ``process``. A shape that
says more than the kind (a rounded box, a cylinder, ...) is kept in ``Node.attrs["shape"]``; a
direction other than ``TD`` in ``Graph.attrs["direction"]``.

Emission (:func:`to_mermaid`) writes one node declaration per line and one edge per line, with
every label quoted and escaped, so the text re-parses to the same graph. Whatever Mermaid cannot
express (boxes, weights, attrs, kinds that differ from the shape, ids that are not Mermaid ids)
travels in a single ``%% flowpath:meta {…}`` comment, which Mermaid renderers ignore.

Examples
--------
>>> g = parse_mermaid('''flowchart TD
...     A(["Start"]) --> B{"Ready?"}
...     B -->|Yes| C[/"Ship it"/]
...     B -->|"No"| A''')
>>> [(n.id, n.kind) for n in g.nodes]
[('A', 'start'), ('B', 'decision'), ('C', 'io')]
>>> [(e.source, e.target, e.label) for e in g.edges]
[('A', 'B', None), ('B', 'C', 'Yes'), ('B', 'A', 'No')]
>>> parse_mermaid(to_mermaid(g)) == g
True
"""

from graphsolvers.mermaid.emit import to_mermaid
from graphsolvers.mermaid.parse import parse_mermaid
from graphsolvers.mermaid.syntax import SHAPE_KIND, SHAPES

__all__ = ["SHAPES", "SHAPE_KIND", "parse_mermaid", "to_mermaid"]

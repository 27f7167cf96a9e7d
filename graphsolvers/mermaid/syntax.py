"""Mermaid flowchart syntax: the shape tables, reserved words, link patterns and entity codes.

Shared by :mod:`~graphsolvers.mermaid.parse` and :mod:`~graphsolvers.mermaid.emit`, so what one writes the
other reads.

Examples
--------
>>> SHAPES["rhombus"], SHAPE_KIND["rhombus"]
(('{', '}'), 'decision')
>>> _decode("say #quot;hi#quot; #35;")
'say "hi" #'
"""

from __future__ import annotations

import html.entities
import re

__all__ = ["SHAPES", "SHAPE_KIND"]

# shape name -> (opener, closer); openers are tried longest first
SHAPES: dict[str, tuple[str, str]] = {
    "double_circle": ("(((", ")))"),
    "circle": ("((", "))"),
    "stadium": ("([", "])"),
    "cylinder": ("[(", ")]"),
    "subroutine": ("[[", "]]"),
    "parallelogram": ("[/", "/]"),
    "trapezoid": ("[/", "\\]"),
    "parallelogram_alt": ("[\\", "\\]"),
    "trapezoid_alt": ("[\\", "/]"),
    "hexagon": ("{{", "}}"),
    "rhombus": ("{", "}"),
    "round": ("(", ")"),
    "rect": ("[", "]"),
    "flag": (">", "]"),
}
_OPENERS = sorted({o for o, _ in SHAPES.values()}, key=len, reverse=True)
SHAPE_KIND: dict[str, str] = {
    "rhombus": "decision",
    "parallelogram": "io",
    "parallelogram_alt": "io",
    "trapezoid": "io",
    "trapezoid_alt": "io",
    "cylinder": "io",
    "circle": "connector",
    "double_circle": "connector",
    "flag": "other",
    "stadium": "start",
    "hexagon": "process",
    "rect": "process",
}
"""Node kind of each shape name (a shape not listed is a ``process``); a ``stadium`` (terminal) becomes
``start`` or ``end`` once the edges are known. The Mermaid parser and the image parser
(:mod:`flowpath.vision.shapes`) both read it."""
_KIND_SHAPE = {
    "start": "stadium",
    "end": "stadium",
    "decision": "rhombus",
    "io": "parallelogram",
    "connector": "circle",
}
_DIRECTIONS = {"TD", "TB", "BT", "LR", "RL"}
_DIRECTIVES = {"style", "classDef", "class", "linkStyle", "click"}
_RESERVED = {
    "end",
    "subgraph",
    "graph",
    "flowchart",
    "style",
    "classdef",
    "class",
    "click",
    "linkstyle",
    "direction",
    "default",
    "call",
    "href",
}
_META_PREFIX = "flowpath:meta"

_ID = re.compile(r"\w+")
_SAFE_ID = re.compile(r"[A-Za-z0-9_]+")
_CLASS_SUFFIX = re.compile(r":::(\w[\w-]*)")
# a plain link operator: arrow-headed or open, solid / thick / dotted, optionally two-headed
_LINK = re.compile(r"<?(?:-{2,}>|-{3,}|={2,}>|={3,}|-\.+->|-\.+-)|(?:--|==)[ox]")
# the opening of a link that carries its text inline: ``-- text -->``
_TEXT_LINK_OPEN = re.compile(r"<?(--|==|-\.)(?=\s)")
_TEXT_LINK_CLOSE = re.compile(r"\s(-{2,}>|-{3,}|={2,}>|={3,}|\.-+>|\.-+)")
_ENTITY = re.compile(r"#([A-Za-z][A-Za-z0-9]*|\d+);")


def _decode(text: str) -> str:
    def repl(m: re.Match[str]) -> str:
        name = m.group(1)
        if name.isdigit():
            code = int(name)
            return chr(code) if code < 0x110000 else m.group(0)
        code = html.entities.name2codepoint.get(name)
        return chr(code) if code is not None else m.group(0)

    return _ENTITY.sub(repl, text)

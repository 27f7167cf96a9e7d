"""Looks for synthetic charts: renderer, theme, page colour, direction, scale, link style, routing, extra
crossing connectors, JPEG and mild distortion, drawn at random so the parser is scored on any look.

A :class:`Look` holds every choice for one chart; :meth:`Look.factors` names them as strings (what
``dataset.json`` records under ``"look"`` and ``flowpath eval-parse`` groups by). Colours are chosen
so a reader can still see the chart: connectors have WCAG contrast at least
:data:`MIN_CONNECTOR_CONTRAST` against the page (low on purpose: dark lines on a dark page are a look
we want), and node text at least :data:`MIN_TEXT_CONTRAST` against its fill.

Examples
--------
>>> import random
>>> look = random_look(random.Random(4))
>>> sorted(look.factors()) == sorted(FACTORS)
True
>>> wcag_contrast(look.connector, look.page_hex) >= MIN_CONNECTOR_CONTRAST
True
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

from flowpath.errors import InputError
from flowpath.synth.edges import LINKS
from flowpath.vision.image import relative_luminance as image_luminance

__all__ = [
    "FACTORS",
    "GRAPHVIZ_FILLS",
    "HARD_LOOKS",
    "HARD_LOOK_GRAPHS",
    "LOOK_PRESETS",
    "MERMAID_THEME_COLOURS",
    "MIN_CONNECTOR_CONTRAST",
    "MIN_TEXT_CONTRAST",
    "PAGES",
    "GraphSeed",
    "Look",
    "ThemeColours",
    "mermaid_init",
    "random_look",
    "relative_luminance",
    "scale_band",
    "small_height",
    "wcag_contrast",
]

LOOK_PRESETS = ("classic", "zoo", "small", "hard")
"""``flowpath synth --looks`` presets: ``classic`` (the original sets), ``zoo`` (any look), ``small``
(another renderer's small JPEGs: height 200–500 px, always JPEG, coloured pages, LR-heavy), ``hard``
(the seven fixed charts of :data:`HARD_LOOKS`)."""

FACTORS = ("renderer", "theme", "page", "direction", "scale_band", "links", "routing", "jpeg", "crossing", "distort")
"""The keys of :meth:`Look.factors`, in the order reports list them."""

MIN_CONNECTOR_CONTRAST = 1.5
"""Lowest WCAG contrast of connectors (and of node fill or outline) against the page: 1.5 keeps charts
a reader can still follow while allowing dark lines on a dark page (Mermaid's default #333333 on
black is 1.66)."""
MIN_TEXT_CONTRAST = 4.5
"""WCAG AA contrast for normal text, required of node text on its fill and edge-label text on its
background."""


@dataclass(frozen=True)
class ThemeColours:
    """A theme's connector (edge path stroke), node fill and node outline colours (``#rrggbb``)."""

    connector: str
    fill: str
    outline: str


MERMAID_THEME_COLOURS: dict[str, ThemeColours] = {
    "default": ThemeColours(connector="#333333", fill="#ececff", outline="#9370db"),
    "forest": ThemeColours(connector="#000000", fill="#cde498", outline="#13540c"),
    "neutral": ThemeColours(connector="#666666", fill="#eeeeee", outline="#999999"),
    "dark": ThemeColours(connector="#d3d3d3", fill="#1f2020", outline="#cccccc"),
}
"""Colours of mermaidx's fixed themes, read from the SVG it writes: ``.flowchart-link{stroke:…}`` (the
connector; arrowheads use the same colour) and ``.node rect{fill:…;stroke:…}``. The ``dark`` theme's
connector is CSS ``lightgrey``. The ``base`` theme takes them from its themeVariables
(``lineColor``, ``primaryColor``, ``primaryBorderColor``)."""

PAGES: dict[str, str] = {
    "white": "#ffffff",
    "off-white": "#f8f8f4",
    "light grey": "#e6e6e6",
    "silver": "#d0d0d0",
    "mid grey": "#9a9a9a",
    "grey": "#808080",
    "beige": "#f5f0e1",
    "cream": "#fffdd0",
    "light blue": "#e3eefa",
    "light green": "#e6f4e6",
    "light pink": "#fbe4ec",
    "light yellow": "#fff8d6",
    "sky": "#a9c8e8",
    "sage": "#a8c9a1",
    "rose": "#e3a6b4",
    "sand": "#dcc48e",
    "black": "#000000",
    "near-black": "#111111",
    "charcoal": "#1e1e1e",
    "navy": "#1b2a4a",
    "dark slate": "#2f3e46",
    "dark green": "#1e3b2a",
    "dark brown": "#3b2a1e",
}
"""Named page colours: whites, greys, beige/cream, light tints, mid tints and dark colours."""
_WHITE_PAGES = ("white", "off-white")

_BASE_FILLS = (
    "#ffffff", "#fff4dd", "#dbeafe", "#dcfce7", "#fde2e4", "#ede9fe", "#fef3c7", "#e5e7eb",
    "#94a3b8", "#f4a261", "#2a9d8f", "#e76f51", "#264653", "#1f2937", "#3b0764", "#14532d", "#7f1d1d", "#000000",
)  # fmt: skip
"""``primaryColor`` choices of the Mermaid ``base`` theme: pale, mid and dark node fills."""
_BASE_LINES = (
    "#000000", "#0b0b0b", "#333333", "#555555", "#808080", "#aaaaaa", "#d0d0d0", "#ffffff",
    "#1f4e79", "#8b0000", "#2e7d32", "#e67e22", "#5b2c6f", "#00838f",
)  # fmt: skip
"""Connector colours (``lineColor`` in Mermaid's base theme, edge ``color`` in Graphviz)."""
_OUTLINES = (
    "#000000",
    "#333333",
    "#666666",
    "#999999",
    "#cccccc",
    "#ffffff",
    "#1f4e79",
    "#9370db",
    "#13540c",
    "#b45309",
)
"""Node outline colours."""
_TEXT_COLOURS = ("#000000", "#1a1a1a", "#333333", "#1f2937", "#ffffff", "#f5f5f5", "#fde68a", "#e0f2fe")
"""Node and edge-label text colours; each use keeps those readable on their background."""

GRAPHVIZ_FILLS: dict[str, tuple[str, ...]] = {
    "gv-light": ("#ffffff", "#dde8f7", "#fde9c9", "#e3f4dc", "#f6dede", "#ececff"),
    "gv-mid": ("#9ec5e8", "#f4b183", "#a9d18e", "#c9a0dc", "#ffd966", "#b0b0b0"),
    "gv-dark": ("#1f2937", "#264653", "#3b0764", "#14532d", "#7f1d1d", "#333333"),
}
"""Graphviz node fills by family; the family is the chart's ``theme`` factor."""

MERMAID_ROUTINGS = ("basis", "linear", "step")
"""Mermaid ``flowchart.curve``: curved (its default), straight, orthogonal elbows."""
GRAPHVIZ_ROUTINGS = ("spline", "ortho", "polyline", "curved", "line")
"""Graphviz ``splines=``."""
GRAPHVIZ_ARROWHEADS = ("normal", "empty", "open", "vee")
"""Graphviz ``arrowhead=`` per chart (Graphviz draws ``open`` like ``vee``, the older name)."""
GRAPHVIZ_DOTTED = ("dashed", "dotted")
"""Graphviz ``style=`` of Mermaid's dotted links, per chart."""

SCALE_RANGE = (0.5, 1.5)
"""Zoo render scale (Mermaid ``png(scale=…)``; Graphviz dpi = 96 × scale)."""
SCALE_BANDS = ((0.5, "<0.5"), (0.8, "0.5-0.8"), (1.1, "0.8-1.1"), (1.5, "1.1-1.5"))
"""Upper bound and name of each scale band (``>1.5`` above the last)."""
GRAPHVIZ_BASE_DPI = 96
"""Graphviz dpi at scale 1 (the screen dpi Mermaid's scale 1 corresponds to)."""
SMALL_HEIGHT = (200, 500)
"""Image height range of the ``small`` preset, pixels."""
SMALL_SCALE = (0.5, 2.0)
"""Scales the ``small`` preset keeps to where the height range allows: a flat LR chart 100 px high at
scale 1 is drawn 200 px high (scale 2), not 480 (scale 4.8, text larger than any small JPEG shows)."""

_ZOO_JPEG = (0.5, (50, 95))
"""Zoo: share of JPEG-encoded charts and their quality range."""
_SMALL_JPEG = (1.0, (50, 90))
_JPEG_BAND_SPLIT = 70
"""JPEG qualities below this are band ``q50-70``, the others ``q70-95``."""
_DISTORT_SHARE = 0.25
"""Share of zoo charts with mild blur or rotation (half each); strengths in :data:`MILD_RANGES`."""
MILD_RANGES = {"blur": (0.3, 1.0), "rotate": (-3.0, 3.0)}
"""Blur sigma and rotation degrees of the zoo's mild distortions (``degrade(..., ranges=MILD_RANGES)``)."""
_MERMAID_SHARE = 0.75
"""Share of zoo charts drawn by Mermaid (the rest by Graphviz, when ``dot`` is installed)."""
_SMALL_MERMAID_SHARE = 0.6
"""Share of ``small`` charts drawn by Mermaid: more Graphviz than the zoo, as "another renderer"."""
_CROSSING_SHARE = {"zoo": 0.5, "small": 0.75}
"""Share of charts that get 1–3 extra edges skipping ranks, so connectors cross."""
_DIRECTIONS = {"zoo": ("TD", "LR", "BT", "RL"), "small": ("LR", "LR", "LR", "LR", "LR", "RL", "TD", "BT")}
"""Directions drawn from (uniformly, repeats weight them): ``small`` is LR-heavy (5/8 LR)."""
_GV_RANKDIR = {"TD": "TB", "LR": "LR", "BT": "BT", "RL": "RL"}
_MAX_DRAWS = 200
"""Draws of a page (or colour) before giving up; each theme has several allowed pages, so never reached."""


def relative_luminance(hex_colour: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb`` (0 black … 1 white).

    Raises
    ------
    InputError
        If ``hex_colour`` is not ``#rrggbb``.

    Examples
    --------
    >>> relative_luminance("#ffffff"), relative_luminance("#000000")
    (1.0, 0.0)
    """
    h = hex_colour.lstrip("#")
    if len(h) != 6 or any(c not in "0123456789abcdefABCDEF" for c in h):
        raise InputError(f"colour {hex_colour!r} is not #rrggbb")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return image_luminance((b, g, r))


def wcag_contrast(hex_a: str, hex_b: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours: (L1 + 0.05) / (L2 + 0.05), 1 to 21.

    Examples
    --------
    >>> wcag_contrast("#ffffff", "#000000")
    21.0
    >>> round(wcag_contrast("#333333", "#000000"), 2)
    1.66
    """
    la, lb = sorted((relative_luminance(hex_a), relative_luminance(hex_b)))
    return (lb + 0.05) / (la + 0.05)


def scale_band(scale: float) -> str:
    """The report band of a render scale.

    Examples
    --------
    >>> scale_band(0.5), scale_band(1.0), scale_band(1.49), scale_band(2.2)
    ('0.5-0.8', '0.8-1.1', '1.1-1.5', '>1.5')
    """
    for upper, name in SCALE_BANDS:
        if scale < upper:
            return name
    return ">1.5"


@dataclass(frozen=True)
class Look:
    """Every choice that makes one chart's look.

    ``colours`` holds the Mermaid ``base`` theme's themeVariables, or the Graphviz colours (``fill``,
    ``outline``, ``font``, ``edge``, ``edge_font``); it is empty for the fixed Mermaid themes.
    ``arrowhead`` and ``dotted`` (the style of dotted links, ``dashed`` or ``dotted``) are Graphviz's.
    ``scale`` is the render scale (for the ``small`` preset, the one the target ``height`` gave,
    known after rendering). ``jpeg_quality`` is None for a PNG.
    """

    renderer: str
    theme: str
    page: str
    direction: str
    scale: float
    links: str
    routing: str
    crossing: int
    jpeg_quality: int | None = None
    distort: str = "none"
    arrowhead: str = ""
    dotted: str = ""
    height: int | None = None
    colours: dict[str, str] = field(default_factory=dict)

    @property
    def page_hex(self) -> str:
        """The page colour as ``#rrggbb``."""
        return PAGES[self.page]

    @property
    def connector(self) -> str:
        """The connector colour as ``#rrggbb``."""
        if self.renderer == "graphviz":
            return self.colours["edge"]
        if self.theme == "base":
            return self.colours["lineColor"]
        return MERMAID_THEME_COLOURS[self.theme].connector

    def factors(self) -> dict[str, str]:
        """The look as report factors, one string each (the keys of :data:`FACTORS`)."""
        q = self.jpeg_quality
        return {
            "renderer": self.renderer,
            "theme": self.theme,
            "page": self.page,
            "direction": self.direction,
            "scale_band": scale_band(self.scale),
            "links": self.links,
            "routing": self.routing,
            "jpeg": "none" if q is None else ("q50-70" if q < _JPEG_BAND_SPLIT else "q70-95"),
            "crossing": "extra" if self.crossing else "none",
            "distort": self.distort,
        }

    def details(self) -> dict[str, object]:
        """The exact values behind the factors (page hex, scale, quality, colours), for ``dataset.json``."""
        out: dict[str, object] = {
            "page_hex": self.page_hex,
            "scale": round(self.scale, 3),
            "crossing_edges": self.crossing,
        }
        if self.jpeg_quality is not None:
            out["jpeg_quality"] = self.jpeg_quality
        if self.arrowhead:
            out["arrowhead"] = self.arrowhead
        if self.dotted:
            out["dotted"] = self.dotted
        if self.height is not None:
            out["height"] = self.height
        if self.colours:
            out["colours"] = dict(self.colours)
        return out


@dataclass(frozen=True)
class GraphSeed:
    """The graph of a fixed sample: ``random_flowchart(seed, n_nodes=n_nodes, direction=…)``; ``seed``
    also seeds the extra crossing edges and the link styles."""

    seed: int
    n_nodes: int


def _mermaid_look(
    theme: str,
    page: str,
    direction: str,
    *,
    links: str = "solid",
    routing: str = "basis",
    crossing: int = 0,
    jpeg_quality: int | None = None,
    height: int | None = None,
) -> Look:
    """A fixed-theme Mermaid look at scale 1 (or ``height`` px tall), undistorted."""
    return Look(
        renderer="mermaid",
        theme=theme,
        page=page,
        direction=direction,
        scale=1.0,
        links=links,
        routing=routing,
        crossing=crossing,
        jpeg_quality=jpeg_quality,
        height=height,
    )


HARD_LOOKS: dict[str, Look] = {
    "mid-grey-page": _mermaid_look("default", "mid grey", "TD"),
    "dark-page-dark-lines": _mermaid_look("default", "black", "TD"),
    "dark-theme": _mermaid_look("dark", "charcoal", "LR"),
    "small-jpeg": _mermaid_look("default", "light blue", "LR", jpeg_quality=60, height=250),
    "lr-crossing": _mermaid_look("default", "white", "LR", crossing=2),
    "dotted-thick": _mermaid_look("default", "white", "TD", links="mixed"),
    "elbow": _mermaid_look("default", "white", "TD", routing="step"),
}
"""The looks issue #8 names as hard, one fixed Mermaid chart each (``flowpath synth --looks hard``):

- ``mid-grey-page``: default theme on a mid-grey page (#9a9a9a);
- ``dark-page-dark-lines``: default theme (connectors #333333) on black, contrast 1.66:1;
- ``dark-theme``: Mermaid's dark theme on a charcoal page, LR;
- ``small-jpeg``: about 250 px tall (``height``; :func:`small_height` keeps the scale in
  :data:`SMALL_SCALE`), JPEG quality 60, on a light blue page, LR;
- ``lr-crossing``: LR with 2 extra edges that cross other connectors (:func:`add_crossings`);
- ``dotted-thick``: each link solid, dotted (``-.->``) or thick (``==>``) at random (:func:`set_links`);
- ``elbow``: orthogonal elbow routing (``curve: step``).

Their graphs are in :data:`HARD_LOOK_GRAPHS`."""

HARD_LOOK_GRAPHS: dict[str, GraphSeed] = {
    "mid-grey-page": GraphSeed(seed=1, n_nodes=8),
    "dark-page-dark-lines": GraphSeed(seed=2, n_nodes=8),
    "dark-theme": GraphSeed(seed=3, n_nodes=7),
    "small-jpeg": GraphSeed(seed=204, n_nodes=7),
    "lr-crossing": GraphSeed(seed=305, n_nodes=8),
    "dotted-thick": GraphSeed(seed=6, n_nodes=8),
    "elbow": GraphSeed(seed=107, n_nodes=8),
}
"""The graph of each :data:`HARD_LOOKS` chart (6–10 nodes). The ``i``-th look (from 1, in table order) first had
seed ``i``; ``small-jpeg``, ``lr-crossing`` and ``elbow`` have the first of ``seed + 100``, ``seed + 200``, …
that the parser read exactly when the samples were made. Seeds it missed then, for harder tests later:
``small-jpeg`` 4 (a rectangle between a cylinder and a diamond lost) and 104 (an extra edge);
``lr-crossing`` 5, 105 and 205 (long crossing connectors read backwards or to the wrong node);
``elbow`` 7 (three to four edges between stacked diamonds lost)."""


def random_look(rng: random.Random, *, preset: str = "zoo", graphviz: bool = True) -> Look:
    """Draw a look for one chart.

    Parameters
    ----------
    rng
        The chart's random generator (draws are deterministic given its state).
    preset
        ``"zoo"``: Mermaid (3/4) or Graphviz, any theme, page, direction, scale 0.5–1.5, link style,
        routing; half JPEG (quality 50–95), a quarter mildly blurred or rotated, half with extra
        crossing edges. ``"small"``: height 200–500 px, always JPEG (quality 50–90), no white pages,
        mostly LR, dotted or thick links, mostly crossing edges.
    graphviz
        Whether Graphviz may be drawn (``dot`` installed).

    Raises
    ------
    InputError
        If ``preset`` is not ``"zoo"`` or ``"small"``.

    Examples
    --------
    >>> look = random_look(random.Random(0), preset="small")
    >>> 200 <= look.height <= 500 and look.jpeg_quality is not None and look.page not in ("white", "off-white")
    True
    """
    if preset not in ("zoo", "small"):
        raise InputError(f"unknown look preset {preset!r}; choose zoo or small (classic has no Look)")
    small = preset == "small"
    mermaid_share = _SMALL_MERMAID_SHARE if small else _MERMAID_SHARE
    renderer = "mermaid" if not graphviz or rng.random() < mermaid_share else "graphviz"
    pages = [p for p in PAGES if not (small and p in _WHITE_PAGES)]
    direction = rng.choice(_DIRECTIONS[preset])
    scale = rng.uniform(*SCALE_RANGE)
    height = rng.randint(*SMALL_HEIGHT) if small else None
    links = rng.choice(("dotted", "thick", "mixed", "mixed") if small else LINKS)
    crossing = rng.randint(1, 3) if rng.random() < _CROSSING_SHARE[preset] else 0
    share, (q_lo, q_hi) = _SMALL_JPEG if small else _ZOO_JPEG
    jpeg = rng.randint(q_lo, q_hi) if rng.random() < share else None
    r = rng.random()
    distort = "none" if small or r >= _DISTORT_SHARE else ("blur" if r < _DISTORT_SHARE / 2 else "rotate")
    if renderer == "mermaid":
        theme = rng.choice((*MERMAID_THEME_COLOURS, "base"))
        routing = rng.choice(MERMAID_ROUTINGS)
        colours = _base_variables(rng) if theme == "base" else {}
        tc = (
            ThemeColours(colours["lineColor"], colours["primaryColor"], colours["primaryBorderColor"])
            if theme == "base"
            else MERMAID_THEME_COLOURS[theme]
        )
        page = _page_for(rng, pages, tc)
        arrowhead = dotted = ""
    else:
        theme = rng.choice(sorted(GRAPHVIZ_FILLS))
        routing = rng.choice(GRAPHVIZ_ROUTINGS)
        arrowhead = rng.choice(GRAPHVIZ_ARROWHEADS)
        dotted = rng.choice(GRAPHVIZ_DOTTED)
        fill = rng.choice(GRAPHVIZ_FILLS[theme])
        edge = rng.choice(_BASE_LINES)
        outline = rng.choice(_OUTLINES)
        page = _page_for(rng, pages, ThemeColours(edge, fill, outline))
        edge_font = rng.choice(
            [c for c in (edge, *_TEXT_COLOURS) if wcag_contrast(c, PAGES[page]) >= MIN_TEXT_CONTRAST]
        )
        colours = {"fill": fill, "outline": outline, "font": _text_on(rng, fill), "edge": edge, "edge_font": edge_font}
    return Look(
        renderer=renderer,
        theme=theme,
        page=page,
        direction=direction,
        scale=scale,
        links=links,
        routing=routing,
        crossing=crossing,
        jpeg_quality=jpeg,
        distort=distort,
        arrowhead=arrowhead,
        dotted=dotted,
        height=height,
        colours=colours,
    )


def _text_on(rng: random.Random, background: str) -> str:
    """A text colour readable on ``background`` (black or white always qualifies for one of them)."""
    return rng.choice([c for c in _TEXT_COLOURS if wcag_contrast(c, background) >= MIN_TEXT_CONTRAST])


def _base_variables(rng: random.Random) -> dict[str, str]:
    fill = rng.choice(_BASE_FILLS)
    return {
        "primaryColor": fill,
        "primaryBorderColor": rng.choice(_OUTLINES),
        "lineColor": rng.choice(_BASE_LINES),
        "primaryTextColor": _text_on(rng, fill),
    }


def _page_for(rng: random.Random, pages: list[str], colours: ThemeColours) -> str:
    """A page on which the connectors, and the node fill or outline, reach :data:`MIN_CONNECTOR_CONTRAST`.

    Draws pages until one qualifies (re-draw rather than filter, so each qualifying page stays equally
    likely); some colour sets (a mid-grey line) rule out many pages, never all.
    """
    for _ in range(_MAX_DRAWS):
        page = rng.choice(pages)
        hex_page = PAGES[page]
        node = max(wcag_contrast(colours.fill, hex_page), wcag_contrast(colours.outline, hex_page))
        if wcag_contrast(colours.connector, hex_page) >= MIN_CONNECTOR_CONTRAST and node >= MIN_CONNECTOR_CONTRAST:
            return page
    ok = [p for p in pages if wcag_contrast(colours.connector, PAGES[p]) >= MIN_CONNECTOR_CONTRAST]
    return max(ok or pages, key=lambda p: wcag_contrast(colours.connector, PAGES[p]))


def small_height(target: int, natural: float) -> int:
    """The image height for a chart ``natural`` px high at scale 1: ``target`` moved into the heights
    :data:`SMALL_SCALE` allows, then into :data:`SMALL_HEIGHT` (which wins).

    Examples
    --------
    >>> small_height(480, 100.0), small_height(300, 200.0), small_height(250, 1400.0)
    (200, 300, 500)
    """
    lo, hi = SMALL_SCALE
    h = min(max(target, natural * lo), natural * hi)
    return round(min(max(h, SMALL_HEIGHT[0]), SMALL_HEIGHT[1]))


def mermaid_init(look: Look) -> str:
    """The Mermaid init directive (theme, themeVariables, curve) to put before the chart source.

    Examples
    --------
    >>> mermaid_init(Look("mermaid", "dark", "black", "LR", 1.0, "solid", "step", 0))
    '%%{init: {"theme": "dark", "flowchart": {"curve": "step"}}}%%'
    """
    init: dict[str, object] = {"theme": look.theme}
    if look.theme == "base":
        init["themeVariables"] = dict(look.colours)
    init["flowchart"] = {"curve": look.routing}
    return "%%{init: " + json.dumps(init) + "}%%"


def graphviz_rankdir(direction: str) -> str:
    """Graphviz ``rankdir`` of a Mermaid direction (``TD`` is ``TB``)."""
    return _GV_RANKDIR[direction]

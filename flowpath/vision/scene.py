"""The scene of a flowchart image: its page colour, what is ink on it (colour distance from the page, whatever
the page and the polarity) and the typical stroke width (see :func:`analyse_scene`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from flowpath.vision.image import colour_distance, relative_luminance

__all__ = ["INK_TOL", "MIN_CONTRAST", "MIN_STROKE", "Scene", "analyse_scene", "page_tolerance"]

logger = logging.getLogger(__name__)


@dataclass
class Scene:
    """Image-wide quantities every later stage needs."""

    image: np.ndarray
    background: np.ndarray
    foreground: np.ndarray
    stroke: int
    page_share: float = 1.0  # share of the image's edge pixels in the page colour's bin (a plain page: most)


def analyse_scene(img: np.ndarray) -> Scene:
    """Background colour (the commonest border colour), foreground mask and typical stroke width.

    Ink is what lies further from the page colour than :func:`page_tolerance` of it, raised above
    the page's own noise (see :func:`_foreground`).
    """
    border = np.concatenate([img[0], img[-1], img[:, 0], img[:, -1]]).reshape(-1, 3)
    quant = (border // 8).astype(np.int32)
    keys = quant[:, 0] * 1024 + quant[:, 1] * 32 + quant[:, 2]
    common = np.bincount(keys).argmax()
    background = np.median(border[keys == common], axis=0).astype(np.int16)
    foreground = _foreground(img, background, page_tolerance(background))
    share = float((keys == common).mean())
    return Scene(
        image=img, background=background, foreground=foreground, stroke=_stroke_width(foreground), page_share=share
    )


INK_TOL = 14.0
"""Colour distance from a white page above which a pixel is ink (after light smoothing): a third of
the smallest step a reader still sees against white (:data:`MIN_CONTRAST`), which keeps the
antialiased rims of lines out of the foreground and faint lines in it."""
MIN_CONTRAST = 1.5
"""Smallest WCAG contrast ratio between connectors and the page that the parser is built to read."""


def page_tolerance(background: np.ndarray) -> float:
    """The ink tolerance for a page colour: :data:`INK_TOL` scaled by how far (in 8-bit steps) the
    nearest colour with :data:`MIN_CONTRAST` against the page lies, relative to a white page.

    Against white that step is 44 levels; against a dark or mid-grey page a 1.5 : 1 line is only
    26-34 levels away, and a fixed tolerance would lose it once the smoothing spreads a thin line.

    Examples
    --------
    >>> [round(page_tolerance(np.array([v, v, v])), 1) for v in (255, 154, 17)]
    [14.0, 9.8, 10.8]
    """
    return INK_TOL * _contrast_step(background) / _WHITE_STEP


def _contrast_step(colour: np.ndarray) -> float:
    """8-bit grey levels from ``colour`` (BGR) to the nearest grey with :data:`MIN_CONTRAST` against it."""
    lum = relative_luminance(colour)
    steps = []
    darker = (lum + 0.05) / MIN_CONTRAST - 0.05
    lighter = MIN_CONTRAST * (lum + 0.05) - 0.05
    grey = _grey_level(lum)
    if darker >= 0:
        steps.append(grey - _grey_level(darker))
    if lighter <= 1:
        steps.append(_grey_level(lighter) - grey)
    return float(min(steps))


def _grey_level(lum: float) -> float:
    """The 8-bit sRGB grey level of relative luminance ``lum``."""
    c = 12.92 * lum if lum <= 0.0031308 else 1.055 * lum ** (1 / 2.4) - 0.055
    return 255.0 * c


_WHITE_STEP = _contrast_step(np.array([255, 255, 255]))
"""The step against white, which :data:`INK_TOL` is measured against."""


SPECKLE = 3.0
"""Pinholes (background specks of at most ``PINHOLE`` pixels inside the foreground) per thousand
foreground pixels above which the foreground is taken to be broken by noise: clean renders, dev
charts included, stay under 1; a pale fill under noise reads as 5-10."""
PINHOLE = 6
"""Largest speck of page colour (pixels) inside the drawing that counts as a pinhole, not the page."""
NOISE_TOL = 3.0
"""The ink tolerance is at least this many times the page's noise (robust deviation of the page
pixels after smoothing), so that JPEG ringing and sensor grain on a dark or mid-grey page, where the
tolerance is lowest, do not come out as ink."""
NOISE_CAP = 3.0
"""Most the page's noise may raise the tolerance, in tolerances: past that there is no plain page
(a photo), and the drawing is what differs from the commonest edge colour all the same."""
BLEND_SPREAD = 48
"""Least colour distance between the two sides of a one- or two-pixel gap in the foreground for the
gap to be taken as a blend of the two (dark text on a light fill passes through a mid-grey page's
colour at its antialiased rim) rather than the page showing between two strokes."""


def _foreground(img: np.ndarray, background: np.ndarray, tol: float) -> np.ndarray:
    """Pixels unlike the background after smoothing. The smoothing grows (Gaussian sigma 0.8 to 2.0)
    while the result is speckled with pinholes, as a pale fill under sensor or JPEG noise is: half its
    pixels then fall within ``tol`` of the background, and the shape breaks into pieces. Where the
    page colour lies between two colours of the drawing (a mid-grey page under light fills and dark
    text), the antialiased pixels between them pass for page; they are put back (:func:`_blends`)."""
    if min(img.shape[:2]) <= 64:
        return colour_distance(img, background) > tol
    for sigma in (0.8, 1.2, 1.6, 2.0):
        smooth = cv2.GaussianBlur(img, (3, 3), 0) if sigma == 0.8 else cv2.GaussianBlur(img, (0, 0), sigma)
        dist = colour_distance(smooth, background)
        noise = min(NOISE_TOL * _page_noise(dist), NOISE_CAP * tol)
        level, below = _faint_fill_level(dist, max(tol, noise), noise)
        fg = dist > (max(tol, noise) if below else level)
        if below:  # the fill is ink: its solid areas, not the halos of JPEG ringing around outlines
            solid = cv2.getStructuringElement(cv2.MORPH_RECT, (FAINT_SOLID, FAINT_SOLID))
            fg |= cv2.morphologyEx((dist > level).view(np.uint8), cv2.MORPH_OPEN, solid) > 0
        fg |= _blends(smooth, fg, slack=level / 2)
        if _speckle(fg) <= SPECKLE:
            break
    return _without_pinholes(fg)


def _without_pinholes(fg: np.ndarray) -> np.ndarray:
    """``fg`` with enclosed specks of background of at most :data:`PINHOLE` pixels filled: what the
    smoothing left of antialiased text inside a fill, not the page showing through."""
    n, lab, stats, _c = cv2.connectedComponentsWithStats((~fg).view(np.uint8), connectivity=4)
    x, y, w, h = (stats[:, k] for k in (cv2.CC_STAT_LEFT, cv2.CC_STAT_TOP, cv2.CC_STAT_WIDTH, cv2.CC_STAT_HEIGHT))
    inside = (x > 0) & (y > 0) & (x + w < fg.shape[1]) & (y + h < fg.shape[0])
    small = np.flatnonzero((stats[:, cv2.CC_STAT_AREA] <= PINHOLE) & inside)
    if small.size == 0:
        return fg
    lut = np.zeros(n, bool)
    lut[small] = True
    return fg | lut[lab]


FAINT_FILL = (0.6, 1.2)
"""Range, in units of the ink tolerance, in which a fill colour is too close to the tolerance to be
cut cleanly by it: under JPEG noise half its pixels fall on either side."""
FAINT_SHARE = 0.02
"""Least share of the image at one colour distance from the page that makes a fill."""
FILL_SPREAD = 3
"""Distance levels either side of a fill's commonest one that count as that fill."""
STRADDLE = 0.1
"""Least share of a fill's pixels on the smaller side of the tolerance for the fill to be cut into
specks by it (a clean fill one level above the tolerance is all on one side)."""
ABOVE_FILL = 1.5
"""Tolerance set above a faint fill, in units of the fill's distance from the page."""
STRONG_INK = 3.0
"""The tolerance rises above a faint fill only when the drawing's strong ink (its 90th percentile of
distance beyond twice the fill's) is at least this many times that tolerance: the outlines and lines
then stay ink, and the shapes are found by their outlines."""
FAINT_SOLID = 7
"""Side of the square a faint fill's pixels must fill to count when the tolerance goes below it
(thin rings of JPEG ringing around outlines pass the lowered tolerance too)."""


def _faint_fill_level(dist: np.ndarray, tol: float, noise: float) -> tuple[float, bool]:
    """Where to cut when a fill lies near the tolerance (:data:`FAINT_FILL`): a lavender fill 13
    levels off a cream page, which a tolerance of 14 would cut into specks. Returns the level and
    whether it lies below the fill (the fill is ink) or above it (the fill is page, and the
    outlines make the shapes); ``(tol, False)`` when no fill lies near ``tol``.

    Examples
    --------
    >>> dist = np.zeros((100, 100), np.uint8); dist[20:60, 20:80] = 12
    >>> dist[21:60:2, 20:80] = 15  # JPEG noise puts some of the fill above the tolerance
    >>> dist[20, 20:80] = 200  # an outline
    >>> _faint_fill_level(dist, 14.0, 0.0)
    (22.5, False)
    >>> dist[20, 20:80] = 30
    >>> _faint_fill_level(dist, 14.0, 0.0)
    (7.5, True)
    >>> _faint_fill_level(dist, 30.0, 0.0)
    (30.0, False)
    """
    lo, hi = int(np.ceil(FAINT_FILL[0] * tol)), int(FAINT_FILL[1] * tol)
    hist = cv2.calcHist([dist], [0], None, [256], [0, 256]).ravel()
    if hi < lo or hist[lo : hi + 1].max() < FAINT_SHARE * dist.size:
        return tol, False
    peak = lo + int(hist[lo : hi + 1].argmax())
    cut = int(tol)  # distances up to here are page
    near = hist[max(0, peak - FILL_SPREAD) : peak + FILL_SPREAD + 1]
    below = float(hist[max(0, peak - FILL_SPREAD) : min(cut, peak + FILL_SPREAD) + 1].sum())
    if min(below, float(near.sum()) - below) < STRADDLE * float(near.sum()):
        return tol, False  # the fill lies clearly on one side (a clean render)
    fill = float(peak)
    above = ABOVE_FILL * fill
    strong = dist[dist > 2 * fill]
    if strong.size and float(np.percentile(strong, 90)) >= STRONG_INK * above:
        return above, False
    return (fill / 2, True) if fill / 2 > noise else (tol, False)


def _page_noise(dist: np.ndarray, *, band: int = 6) -> float:
    """Robust deviation (1.4826 × median absolute value) of the colour distance from the page in
    bands ``band`` pixels wide along the image's edges, where the page shows almost everywhere."""
    edges = np.concatenate([dist[:band].ravel(), dist[-band:].ravel(), dist[:, :band].ravel(), dist[:, -band:].ravel()])
    return 1.4826 * float(np.median(edges))


def _blends(img: np.ndarray, fg: np.ndarray, *, slack: float) -> np.ndarray:
    """Background pixels of ``fg`` that are blends of two unlike foreground colours on either side of
    them, one or two pixels away along a row, a column or a diagonal (see :data:`BLEND_SPREAD`): in
    every channel within ``slack`` of the range the two span (JPEG shifts colours a little, and a
    cream page lies just beyond the range of a grey fill and dark text)."""
    fg8 = fg.view(np.uint8)
    closed = cv2.morphologyEx(fg8, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 5)))
    ys, xs = np.nonzero(closed & ~fg8 & 1)
    out = np.zeros_like(fg)
    if ys.size == 0:
        return out
    H, W = fg.shape
    p = img[ys, xs].astype(np.int16)
    hit = np.zeros(ys.size, bool)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1), (0, 2), (2, 0), (2, 2), (2, -2)):
        ya, xa, yb, xb = ys - dy, xs - dx, ys + dy, xs + dx
        ok = (ya >= 0) & (yb < H) & (xa >= 0) & (xa < W) & (xb >= 0) & (xb < W)
        ya, xa, yb, xb = (np.where(ok, v, 0) for v in (ya, xa, yb, xb))
        ok &= fg[ya, xa] & fg[yb, xb]
        a, b = img[ya, xa].astype(np.int16), img[yb, xb].astype(np.int16)
        between = ((p >= np.minimum(a, b) - slack) & (p <= np.maximum(a, b) + slack)).all(axis=1)
        hit |= ok & between & (np.abs(a - b).max(axis=1) >= BLEND_SPREAD)
    out[ys[hit], xs[hit]] = True
    return out


def _speckle(fg: np.ndarray, *, side: int = 1000) -> float:
    """Pinholes per thousand foreground pixels in a central window of at most ``side`` squared pixels."""
    H, W = fg.shape
    win = fg[max(0, H // 2 - side // 2) : H // 2 + side // 2, max(0, W // 2 - side // 2) : W // 2 + side // 2]
    _n, _lab, stats, _c = cv2.connectedComponentsWithStats((~win).view(np.uint8), connectivity=4)
    return 1000.0 * int((stats[1:, cv2.CC_STAT_AREA] <= PINHOLE).sum()) / max(1, int(win.sum()))


def _stroke_width(fg: np.ndarray) -> int:
    """Typical width of lines, borders and glyph strokes: the most common run length of foreground
    pixels along rows, or down columns when that is half of it or less (a chart whose connectors
    all run across, between filled shapes, has few short runs along its rows: a flat left-to-right
    chart's rows read 8 where its lines are 3 wide)."""
    across, down = _common_run(fg), _common_run(fg.T)
    return max(MIN_STROKE, down if 2 * down <= across else across)


MIN_STROKE = 2
"""Least stroke width used: a faint one-pixel line measures 1 in the mask, but the margins sized
from the stroke (a shape's border, the reach of a contact) need the pixel of blending beside it."""


def _common_run(fg: np.ndarray) -> int:
    """Most common length (1–15) of the foreground runs along the rows of ``fg`` (2 when there are none)."""
    sample = fg[:: max(1, fg.shape[0] // 400)].astype(np.int8)
    d = np.diff(np.pad(sample, ((0, 0), (1, 1))), axis=1)
    lengths = np.flatnonzero(d.ravel() == -1) - np.flatnonzero(d.ravel() == 1)
    hist = np.bincount(lengths[(lengths > 0) & (lengths < 16)], minlength=16)
    return int(max(1, hist[1:].argmax() + 1)) if hist.sum() else 2

"""Scoring ``parse_image`` against charts with known graphs (FlowExplainBench layout or synthetic sets).

A data folder holds ``dataset.json`` (``{id: {"key": …, "mermaid": …}}``; several ids may share a
key) and ``images/<key>/original.png`` with ``annotations.json`` (gold node boxes; FlowExplainBench's
degenerate ones are recovered from ``flowchart.svg``, see :mod:`flowpath.bench.gold`).

Per chart: nodes are matched one-to-one to gold nodes by box and text (Hungarian assignment, see
:func:`match_nodes`): a pair counts when its boxes overlap with IoU ≥ 0.5, or when they overlap at all
(IoU > 0.1) and the texts agree (word F1 ≥ 0.5), as a reader would match them. Node precision/recall
count pairs with IoU ≥ 0.5 and ≥ 0.7; label word-F1, directed edges (over matched node pairs),
edge-label accuracy and the exact-graph flags use every matched pair. Node and edge counts are compared
with the gold counts, and each chart answers yes/no questions "does an arrow go from A to B?" with
nodes found by their text (:func:`arrow_questions`, :func:`answer_arrows`).

Synthetic sets from ``flowpath synth --looks zoo|small`` record each chart's look (renderer, theme,
page, …); :func:`~flowpath.bench.parse_summary.summarise` then reports every figure per value of every look
factor (``by_look``). Adding up and reporting live in :mod:`flowpath.bench.parse_summary` (its names are
importable from here too).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment

from flowpath.bench.dataset import chart_image
from flowpath.bench.gold import load_gold_boxes
from flowpath.bench.parse_summary import (
    LOOK_FIGURES,
    ChartScore,
    ParseSummary,
    look_tables,
    look_text,
    look_warning,
    markdown_report,
    style_group,
    summarise,
)
from flowpath.errors import DataError
from graphsolvers import safe_json
from graphsolvers.errors import ToolkitError
from graphsolvers.graph import Graph
from graphsolvers.mermaid import parse_mermaid

__all__ = [
    "LOOK_FIGURES",
    "ArrowQuestion",
    "ChartScore",
    "ParseSummary",
    "answer_arrows",
    "arrow_questions",
    "load_charts",
    "look_tables",
    "look_text",
    "look_warning",
    "markdown_report",
    "match_nodes",
    "score_chart",
    "style_group",
    "summarise",
    "word_f1",
]

logger = logging.getLogger(__name__)

BOX_MATCH_IOU = 0.5
"""IoU at which a parsed box matches a gold box on its own (the usual detection threshold)."""
STRICT_MATCH_IOU = 0.7
"""IoU of the stricter node figure (``node_f1_70``)."""
TEXT_MATCH_MIN_IOU = 0.1
"""Boxes must overlap at least this much for text to match them: a parsed node elsewhere on the page
that happens to say the same words (two "Golden brown?" decisions) is not this node."""
TEXT_MATCH_MIN_F1 = 0.5
"""Word F1 at which overlapping nodes match by text, where the box alone (IoU < 0.5) does not: half
the words in common is how a reader tells a node from its neighbours despite a box drawn too big."""


@dataclass
class GoldChart:
    """A chart to score: its key, image path, gold graph (from Mermaid) and gold boxes."""

    key: str
    image: Path
    graph: Graph
    boxes: dict[str, tuple[float, float, float, float]]
    recovered: int
    style: str = ""
    look: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ArrowQuestion:
    """ "Does an arrow go from ``source`` to ``target``?" about gold node ids, with its gold answer."""

    source: str
    target: str
    answer: bool


def load_charts(data_dir: str | os.PathLike[str], *, keys: list[str] | None = None) -> list[GoldChart]:
    """The charts of a data folder, in key order (or ``keys`` order).

    Raises
    ------
    DataError
        If ``dataset.json`` is missing or malformed, or a requested key is unknown.
    """
    root = Path(data_dir)
    ds_path = root / "dataset.json"
    if not ds_path.is_file():
        raise DataError(f"{root}: no dataset.json here; expected the FlowExplainBench layout (dataset.json, images/)")
    try:
        data = safe_json.loads(ds_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{ds_path}: not valid JSON ({e})") from e
    if not isinstance(data, dict):
        raise DataError(f"{ds_path}: expected an object {{id: {{key, mermaid, ...}}}}")
    sources: dict[str, str] = {}
    for qid, row in data.items():
        if not isinstance(row, dict) or "key" not in row or "mermaid" not in row:
            raise DataError(f"{ds_path}: entry {qid!r} lacks 'key' or 'mermaid'")
        sources.setdefault(str(row["key"]), str(row["mermaid"]))
    wanted = keys if keys is not None else sorted(sources)
    out = []
    for key in wanted:
        if key not in sources:
            raise DataError(f"{ds_path}: no chart with key {key!r} ({len(sources)} keys, e.g. {next(iter(sources))})")
        gb = load_gold_boxes(root, key)
        graph = parse_mermaid(sources[key])
        style = ""
        look: dict[str, str] = {}
        meta = data.get(key) if isinstance(data.get(key), dict) else None
        if meta and "style" in meta:
            style = str(meta["style"])
        if meta and isinstance(meta.get("look"), dict):
            look = {str(k): str(v) for k, v in meta["look"].items()}
        out.append(
            GoldChart(
                key=key,
                image=chart_image(root, key),
                graph=graph,
                boxes=gb.boxes,
                recovered=len(gb.recovered),
                style=style,
                look=look,
            )
        )
    return out


def chart_style(img: np.ndarray, boxes: list[tuple[float, float, float, float]]) -> str:
    """A colour-style name from the fills inside the gold boxes: ``outline``, ``multicolour`` or ``single fill``."""
    fills = []
    for x1, y1, x2, y2 in boxes:
        cx, cy = int((x1 + x2) / 2), int((y1 + y2) / 2)
        dx, dy = max(1, int((x2 - x1) * 0.1)), max(1, int((y2 - y1) * 0.1))
        patch = img[max(0, cy - dy) : cy + dy, max(0, cx - dx) : cx + dx].reshape(-1, 3)
        if patch.size:
            fills.append(np.median(patch, axis=0))
    if not fills:
        return "unknown"
    f = np.array(fills)
    bg = img[0, 0].astype(float)
    if np.median(np.abs(f - bg).max(axis=1)) < 10:
        return "outline"
    q = {tuple((c // 24).astype(int)) for c in f}
    if len(q) >= 3:
        return "multicolour"
    return "single fill"


_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str | None) -> list[str]:
    return _WORD.findall((text or "").lower())


def word_f1(pred: str | None, gold: str | None) -> float:
    """F1 of the word multisets of two labels (case and punctuation ignored; two empty labels score 1).

    Examples
    --------
    >>> word_f1("Check the oil", "check oil level")
    0.6666666666666666
    >>> word_f1("", "")
    1.0
    """
    p, g = _words(pred), _words(gold)
    if not p and not g:
        return 1.0
    if not p or not g:
        return 0.0
    common = 0
    rest = list(g)
    for w in p:
        if w in rest:
            rest.remove(w)
            common += 1
    if common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(g)
    return 2 * prec * rec / (prec + rec)


def _norm(text: str | None) -> str:
    return " ".join(_words(text))


def _iou(a, b) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def match_nodes(pred_nodes: list, gold: GoldChart) -> dict[str, tuple[str, float]]:
    """One-to-one matches of parsed nodes (with boxes) to gold nodes: ``{pred_id: (gold_id, iou)}``.

    A pair is a candidate when its boxes overlap (IoU > :data:`TEXT_MATCH_MIN_IOU`). The Hungarian
    assignment first maximises the number of pairs with IoU ≥ :data:`BOX_MATCH_IOU` (so no box match
    that an IoU-only assignment would make is lost), then the sum of IoU + word F1 of the texts. A pair
    is kept if IoU ≥ 0.5, or if its texts agree (word F1 ≥ :data:`TEXT_MATCH_MIN_F1`). Gold nodes
    without text match by box only.

    Examples
    --------
    >>> from graphsolvers.graph import Node
    >>> g = GoldChart("k", Path("x.png"), Graph(nodes=[Node(id="A", text="Check oil")]), {"A": (0, 0, 10, 10)}, 0)
    >>> match_nodes([Node(id="p", text="check oil", bbox=(0, 0, 10, 30))], g)  # IoU 1/3, same words
    {'p': ('A', 0.3333333333333333)}
    >>> match_nodes([Node(id="p", text="Stop", bbox=(0, 0, 10, 30))], g)
    {}
    """
    gold_ids = [n.id for n in gold.graph.nodes if n.id in gold.boxes]
    gtext = {n.id: n.text for n in gold.graph.nodes}
    iou = np.zeros((len(pred_nodes), len(gold_ids)))
    text = np.zeros_like(iou)
    for i, pn in enumerate(pred_nodes):
        for j, gid in enumerate(gold_ids):
            iou[i, j] = _iou(pn.bbox, gold.boxes[gid])
            if iou[i, j] > TEXT_MATCH_MIN_IOU and _words(gtext[gid]):
                text[i, j] = word_f1(pn.text, gtext[gid])
    match: dict[str, tuple[str, float]] = {}
    if not iou.size:
        return match
    box_match = iou >= BOX_MATCH_IOU
    # a box match outweighs any sum of IoU + F1 (each pair adds at most 2): the count of box matches first
    weight = np.where(iou > TEXT_MATCH_MIN_IOU, iou + text, 0.0) + box_match * (2 * min(iou.shape) + 1)
    rows, cols = linear_sum_assignment(-weight)
    for i, j in zip(rows, cols, strict=True):
        if box_match[i, j] or (iou[i, j] > TEXT_MATCH_MIN_IOU and text[i, j] >= TEXT_MATCH_MIN_F1):
            match[pred_nodes[i].id] = (gold_ids[j], float(iou[i, j]))
    return match


def score_chart(pred: Graph, gold: GoldChart, *, seconds: float = 0.0) -> ChartScore:
    """Compare a parsed graph with the gold chart (see the module docstring for the rules)."""
    gold_ids = [n.id for n in gold.graph.nodes if n.id in gold.boxes]
    pred_nodes = [n for n in pred.nodes if n.bbox is not None]
    matched = match_nodes(pred_nodes, gold)
    match = {p: g for p, (g, _iou_) in matched.items()}
    tp50 = sum(v >= BOX_MATCH_IOU for _g, v in matched.values())
    tp70 = sum(v >= STRICT_MATCH_IOU for _g, v in matched.values())
    gtext = {n.id: n.text for n in gold.graph.nodes}
    f1s = [word_f1(pn.text, gtext[match[pn.id]]) for pn in pred_nodes if pn.id in match]
    gold_edges = _gold_edges(gold.graph)
    pred_edges: dict[tuple[str | None, str | None], str | None] = {}
    for k, e in enumerate(pred.edges):
        key = (match.get(e.source), match.get(e.target))
        if None in key:
            key = (f"?{k}", None)  # an edge with an unmatched end is a false positive
        pred_edges.setdefault(key, e.label)
    tp = [k for k in pred_edges if k in gold_edges]
    labels_right = sum(_norm(pred_edges[k]) == _norm(gold_edges[k]) for k in tp)
    labelled = [k for k, v in gold_edges.items() if v]
    labelled_right = sum(k in pred_edges and _norm(pred_edges[k]) == _norm(gold_edges[k]) for k in labelled)
    structure = (
        len(match) == len(gold_ids) == len(pred_nodes) == len(gold.graph.nodes)
        and len(tp) == len(gold_edges) == len(pred_edges)
        and labels_right == len(tp)
    )
    texts_right = all(_norm(pn.text) == _norm(gtext[match[pn.id]]) for pn in pred_nodes if pn.id in match)
    questions = arrow_questions(gold.graph, gold.key)
    pred_pairs = {(e.source, e.target) for e in pred.edges if e.source != e.target}
    return ChartScore(
        key=gold.key,
        style=gold.style,
        n_gold=len(gold_ids),
        n_pred=len(pred_nodes),
        tp50=int(tp50),
        tp70=int(tp70),
        word_f1_sum=float(sum(f1s)),
        n_words_scored=len(f1s),
        edges_gold=len(gold_edges),
        edges_pred=len(pred_edges),
        edges_tp=len(tp),
        edge_labels_right=int(labels_right),
        labelled_gold=len(labelled),
        labelled_right=int(labelled_right),
        exact_structure=bool(structure),
        exact_graph=bool(structure and texts_right),
        seconds=seconds,
        recovered_boxes=gold.recovered,
        look=dict(gold.look),
        node_count_exact=len(pred.nodes) == len(gold.graph.nodes),
        edge_count_exact=len(pred_pairs) == len(gold_edges),
        no_graph=len(gold.graph.nodes) >= 2 and not pred.nodes,
        arrow_questions=len(questions),
        arrow_right=answer_arrows(pred, gold, questions),
    )


def _gold_edges(graph: Graph) -> dict[tuple[str, str], str | None]:
    """Distinct directed gold edges (no self-loops) with the first label of each."""
    out: dict[tuple[str, str], str | None] = {}
    for e in graph.edges:
        if e.source != e.target:
            out.setdefault((e.source, e.target), e.label)
    return out


def arrow_questions(graph: Graph, key: str) -> list[ArrowQuestion]:
    """Yes/no questions "does an arrow go from A to B?" about a gold graph, the same for every run.

    One "yes" per distinct gold edge and as many "no" questions (fewer only in graphs too small to
    have them): about half reversed gold edges whose reverse is not an edge, the rest random pairs of
    nodes joined by no edge either way, drawn with a generator seeded by ``key``.

    Examples
    --------
    >>> from graphsolvers.graph import Edge, Node
    >>> g = Graph(nodes=[Node(id=c) for c in "ABC"], edges=[Edge(source="A", target="B")])
    >>> [(q.source, q.target, q.answer) for q in arrow_questions(g, "k")]
    [('A', 'B', True), ('B', 'A', False)]
    """
    gold = list(_gold_edges(graph))
    edges = set(gold)
    rng = random.Random(f"arrows:{key}")
    reversed_ = [(b, a) for a, b in gold if (b, a) not in edges]
    ids = [n.id for n in graph.nodes]
    apart = [(u, v) for u in ids for v in ids if u != v and (u, v) not in edges and (v, u) not in edges]
    rng.shuffle(reversed_)
    rng.shuffle(apart)
    k = len(gold)
    n_rev = min(len(reversed_), (k + 1) // 2)
    n_apart = min(len(apart), k - n_rev)
    n_rev = min(len(reversed_), k - n_apart)
    no = reversed_[:n_rev] + apart[:n_apart]
    return [ArrowQuestion(a, b, True) for a, b in gold] + [ArrowQuestion(a, b, False) for a, b in no]


def answer_arrows(pred: Graph, gold: GoldChart, questions: list[ArrowQuestion]) -> int:
    """How many ``questions`` the parsed graph answers right, reading it as a person would.

    Each gold node named in a question is looked up in the parsed graph by its text: the parsed node
    with the best word F1 against the gold text, ties broken by box IoU with the gold box. A gold node
    whose text matches no parsed node (F1 0) is not found, and a question about it is answered "no".
    Gold nodes without text are found by box (IoU ≥ 0.5). The answer is "yes" when the parsed graph
    has an edge between the two nodes found, in that direction.

    Examples
    --------
    >>> from graphsolvers.graph import Edge, Node
    >>> gold_graph = Graph(nodes=[Node(id="A", text="Start"), Node(id="B", text="Stop")],
    ...                    edges=[Edge(source="A", target="B")])
    >>> g = GoldChart("k", Path("x.png"), gold_graph, {}, 0)
    >>> pred = Graph(nodes=[Node(id="1", text="stop"), Node(id="2", text="start")],
    ...              edges=[Edge(source="2", target="1")])
    >>> answer_arrows(pred, g, arrow_questions(gold_graph, "k"))
    2
    """
    gtext = {n.id: n.text for n in gold.graph.nodes}
    found: dict[str, str | None] = {}

    def find(gid: str) -> str | None:
        if gid not in found:
            found[gid] = _find_by_text(pred, gtext.get(gid, ""), gold.boxes.get(gid))
        return found[gid]

    pairs = {(e.source, e.target) for e in pred.edges}
    right = 0
    for q in questions:
        a, b = find(q.source), find(q.target)
        says_yes = a is not None and b is not None and a != b and (a, b) in pairs
        right += says_yes == q.answer
    return right


def _find_by_text(pred: Graph, text: str | None, box) -> str | None:
    if not _words(text):
        scored = [(_iou(n.bbox, box), n.id) for n in pred.nodes if n.bbox is not None and box is not None]
        best = max(scored, default=(0.0, None), key=lambda t: t[0])
        return best[1] if best[0] >= BOX_MATCH_IOU else None
    best_id, best = None, (0.0, 0.0)
    for n in pred.nodes:
        f1 = word_f1(n.text, text)
        if f1 <= 0:
            continue
        overlap = _iou(n.bbox, box) if n.bbox is not None and box is not None else 0.0
        if (f1, overlap) > best:
            best_id, best = n.id, (f1, overlap)
    return best_id


def failed_score(gold: GoldChart, error: str, seconds: float) -> ChartScore:
    """The score of a chart the parser raised on: nothing found."""
    questions = arrow_questions(gold.graph, gold.key)
    return ChartScore(
        key=gold.key,
        style=gold.style,
        n_gold=len([n for n in gold.graph.nodes if n.id in gold.boxes]),
        n_pred=0,
        tp50=0,
        tp70=0,
        word_f1_sum=0.0,
        n_words_scored=0,
        edges_gold=len(_gold_edges(gold.graph)),
        edges_pred=0,
        edges_tp=0,
        edge_labels_right=0,
        labelled_gold=sum(1 for v in _gold_edges(gold.graph).values() if v),
        labelled_right=0,
        exact_structure=False,
        exact_graph=False,
        seconds=seconds,
        error=error,
        recovered_boxes=gold.recovered,
        look=dict(gold.look),
        node_count_exact=not gold.graph.nodes,
        edge_count_exact=not _gold_edges(gold.graph),
        no_graph=len(gold.graph.nodes) >= 2,
        arrow_questions=len(questions),
        arrow_right=sum(not q.answer for q in questions),
    )


def evaluate(
    charts: list[GoldChart],
    parse: Callable[[Path], Graph],
    *,
    on_result: Callable[[GoldChart, Graph | None, ChartScore], None] | None = None,
) -> Iterator[ChartScore]:
    """Parse and score each chart in turn (a failing chart scores zero and records its error)."""
    import cv2

    for gold in charts:
        t0 = time.perf_counter()
        pred: Graph | None = None
        try:
            pred = parse(gold.image)
            dt = time.perf_counter() - t0
            score = score_chart(pred, gold, seconds=dt)
        except ToolkitError as e:
            dt = time.perf_counter() - t0
            score = failed_score(gold, str(e), dt)
        if not score.style:
            img = cv2.imread(str(gold.image))
            score.style = chart_style(img, list(gold.boxes.values())) if img is not None else "unknown"
        if on_result is not None:
            on_result(gold, pred, score)
        yield score

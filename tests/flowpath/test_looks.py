"""The parser on one committed chart per hard look of issue #8 (bench_data/looks), edge set exact."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from flowpath.bench.parse_eval import GoldChart, load_charts, match_nodes, score_chart
from flowpath.synth.looks import HARD_LOOKS
from flowpath.vision import parse_image
from graphsolvers.graph import Graph

LOOKS = Path(__file__).resolve().parents[2] / "bench_data" / "looks"
MAX_BYTES = 150_000
"""Largest committed image."""
SMALL_HEIGHT = 250
"""Height of the ``small-jpeg`` look's image, pixels."""
PNG_TOLERANCE = 0.5
"""Mean absolute pixel difference allowed between a committed PNG and a fresh render (anti-aliasing noise)."""
JPEG_TOLERANCE = 1.0
"""The same for the JPEG: its encoder input carries that noise, and libjpeg builds decode a little differently."""


@pytest.fixture(scope="module")
def gold() -> dict[str, GoldChart]:
    return {c.key: c for c in load_charts(LOOKS)}


def _edge_diff(pred: Graph, chart: GoldChart) -> str:
    """The missing and extra directed edges, ends named by gold node text and id (unmatched parsed ends by
    their parsed text)."""
    names = {n.id: f"{n.text!r} [{n.id}]" for n in chart.graph.nodes}
    match = {p: g for p, (g, _iou) in match_nodes([n for n in pred.nodes if n.bbox is not None], chart).items()}
    parsed = {n.id: n.text for n in pred.nodes}

    def name(pid: str) -> str:
        return names[match[pid]] if pid in match else f"unmatched {parsed.get(pid)!r} ({pid})"

    gold_edges = {(names[e.source], names[e.target]) for e in chart.graph.edges if e.source != e.target}
    pred_edges = {(name(e.source), name(e.target)) for e in pred.edges if e.source != e.target}
    lines = [f"nodes parsed {len(pred.nodes)}, gold {len(chart.graph.nodes)}"]
    lines += [f"missing {a} -> {b}" for a, b in sorted(gold_edges - pred_edges)]
    lines += [f"extra   {a} -> {b}" for a, b in sorted(pred_edges - gold_edges)]
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("look", list(HARD_LOOKS))
def test_hard_look_parses_to_the_exact_edge_set(look, gold):
    chart = gold[f"hard-{look}"]
    pred = parse_image(chart.image)
    score = score_chart(pred, chart)
    exact = score.edges_tp == score.edges_gold == score.edges_pred and len(pred.nodes) == len(chart.graph.nodes)
    assert exact, f"{chart.key}:\n{_edge_diff(pred, chart)}"


def test_committed_samples_are_small_and_in_their_looks():
    rows = json.loads((LOOKS / "dataset.json").read_text())
    assert sorted(rows) == sorted(f"hard-{name}" for name in HARD_LOOKS)
    for key, row in rows.items():
        jpeg = row["render"].get("jpeg_quality") is not None
        image = LOOKS / "images" / key / ("chart.jpg" if jpeg else "chart.png")
        assert image.stat().st_size < MAX_BYTES and jpeg == (key == "hard-small-jpeg")
        assert row["hard_look"] == key.removeprefix("hard-") and "%%{init" not in row["mermaid"]
    small = cv2.imread(str(LOOKS / "images" / "hard-small-jpeg" / "chart.jpg"))
    assert small.shape[0] == SMALL_HEIGHT
    assert rows["hard-lr-crossing"]["render"]["crossing_edges"] == 2


@pytest.mark.slow
def test_committed_samples_are_what_the_documented_command_writes(tmp_path):
    """bench_data/looks is our own output: `flowpath synth --out DIR --looks hard` reproduces it (graphs and
    boxes exactly; pixels up to anti-aliasing noise, and JPEG decoding differences)."""
    from flowpath.cli import main

    made = tmp_path / "s"
    assert main(["-q", "synth", "--out", str(made), "--looks", "hard"]) == 0
    assert (made / "dataset.json").read_text() == (LOOKS / "dataset.json").read_text()
    for key in json.loads((LOOKS / "dataset.json").read_text()):
        ann = f"images/{key}/annotations.json"
        assert (made / ann).read_text() == (LOOKS / ann).read_text()
        (image,) = (LOOKS / "images" / key).glob("chart.*")
        a = cv2.imread(str(image)).astype(int)
        b = cv2.imread(str(made / "images" / key / image.name)).astype(int)
        tolerance = JPEG_TOLERANCE if image.suffix == ".jpg" else PNG_TOLERANCE
        assert a.shape == b.shape and np.abs(a - b).mean() < tolerance, key

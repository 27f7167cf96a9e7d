"""The synthetic chart generator, its degradations, and the parser on the committed sample set."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import networkx as nx
import numpy as np
import pytest

from flowpath.bench.parse_eval import evaluate, load_charts, summarise
from flowpath.errors import InputError
from flowpath.synth import degrade, random_flowchart, render_chart, write_dataset
from flowpath.vision import parse_image

SAMPLES = Path(__file__).resolve().parents[2] / "bench_data" / "synth"


@pytest.mark.parametrize("seed", range(8))
def test_random_flowcharts_are_well_formed(seed):
    g = random_flowchart(seed)
    assert 5 <= len(g.nodes) <= 45
    assert g.nodes[0].kind == "start"
    ends = [n.id for n in g.nodes if n.kind == "end"]
    assert ends
    G = g.to_networkx()
    reach = nx.descendants(G, g.nodes[0].id)
    assert set(ends) <= reach  # every end is reachable from the start
    for n in g.nodes:
        if n.kind == "decision":
            assert len(g.successors(n.id)) >= 1


def test_random_flowchart_is_deterministic_and_validates_arguments():
    assert random_flowchart(3, n_nodes=9) == random_flowchart(3, n_nodes=9)
    with pytest.raises(ValueError, match="n_nodes"):
        random_flowchart(0, n_nodes=2)
    with pytest.raises(ValueError, match="domain"):
        random_flowchart(0, domain="astrology")


def test_degradations_move_the_boxes_with_the_pixels():
    img = np.full((200, 400, 3), 255, np.uint8)
    img[50:100, 100:200] = 0
    out, boxes, what = degrade(img, {"A": (100, 50, 200, 100)}, ["rotate", "downscale"], seed=4)
    x1, _y1, _x2, y2 = (round(v) for v in boxes["A"])
    dark = np.argwhere(out.min(axis=2) < 128)
    assert "rotate" in what and "downscale" in what
    assert abs(dark[:, 1].min() - x1) <= 3 and abs(dark[:, 0].max() - y2) <= 3
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(img, {}, ["fog"], seed=0)


def test_render_gives_a_box_per_node():
    g = random_flowchart(2, n_nodes=6, direction="LR")
    chart = render_chart(g, theme="forest", scale=1.0)
    assert set(chart.boxes) == {n.id for n in g.nodes}
    h, w = chart.image.shape[:2]
    assert all(0 <= b[0] < b[2] <= w + 1 and 0 <= b[1] < b[3] <= h + 1 for b in chart.boxes.values())
    with pytest.raises(InputError, match="theme"):
        render_chart(g, theme="sepia")


def test_write_dataset_layout(tmp_path):
    write_dataset(tmp_path, n=1, seed=5, max_nodes=6, degraded=1.0)
    data = json.loads((tmp_path / "dataset.json").read_text())
    ((key, row),) = data.items()
    assert row["key"] == key and row["mermaid"].startswith("flowchart")
    assert (tmp_path / "images" / key / "chart.png").stat().st_size > 0
    assert load_charts(tmp_path)[0].boxes


def test_committed_samples_cover_every_layout_and_parse_well():
    charts = load_charts(SAMPLES)
    styles = (
        " ".join(c.style for c in charts)
        + " "
        + " ".join(json.loads((SAMPLES / "dataset.json").read_text())[c.key]["style"] for c in charts)
    )
    for direction in ("TD", "LR", "BT", "RL"):
        assert direction in styles
    summary = summarise(list(evaluate(charts, lambda p: parse_image(p, ocr=False))))
    assert summary.failed == 0
    assert summary.node_f1_50 >= 0.95
    assert summary.edge_f1 >= 0.9


def test_committed_samples_are_what_the_documented_command_writes(tmp_path):
    """bench_data/synth is our own output: `flowpath synth --out DIR --n 8 --seed 7 --nodes 5 16 --no-noise
    --degraded 0.5 --graphviz 0` reproduces it (graphs and boxes exactly; pixels up to anti-aliasing noise)."""
    from flowpath.cli import main

    assert main(["-q", "synth", "--out", str(tmp_path / "s"), "--n", "8", "--seed", "7", "--nodes", "5", "16",
                 "--no-noise", "--degraded", "0.5", "--graphviz", "0"]) == 0  # fmt: skip
    made = tmp_path / "s"
    assert (made / "dataset.json").read_text() == (SAMPLES / "dataset.json").read_text()
    for key in json.loads((SAMPLES / "dataset.json").read_text()):
        ann = f"images/{key}/annotations.json"
        assert (made / ann).read_text() == (SAMPLES / ann).read_text()
        a = cv2.imread(str(SAMPLES / "images" / key / "chart.png")).astype(int)
        b = cv2.imread(str(made / "images" / key / "chart.png")).astype(int)
        assert a.shape == b.shape and np.abs(a - b).mean() < 0.5

"""The synthetic chart generator, its degradations, and the parser on the committed sample set."""

from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import networkx as nx
import numpy as np
import pytest

from flowpath.bench.parse_eval import evaluate, load_charts, summarise
from flowpath.errors import InputError
from flowpath.synth import degrade, random_flowchart, render_chart, write_dataset
from flowpath.synth.edges import add_crossings, set_links
from flowpath.synth.looks import (
    FACTORS,
    MILD_RANGES,
    MIN_CONNECTOR_CONTRAST,
    MIN_TEXT_CONTRAST,
    PAGES,
    random_look,
    relative_luminance,
    wcag_contrast,
)
from flowpath.vision import parse_image
from graphsolvers.mermaid import parse_mermaid, to_mermaid

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


@pytest.mark.slow
def test_render_gives_a_box_per_node():
    g = random_flowchart(2, n_nodes=6, direction="LR")
    chart = render_chart(g, theme="forest", scale=1.0)
    assert set(chart.boxes) == {n.id for n in g.nodes}
    h, w = chart.image.shape[:2]
    assert all(0 <= b[0] < b[2] <= w + 1 and 0 <= b[1] < b[3] <= h + 1 for b in chart.boxes.values())
    with pytest.raises(InputError, match="theme"):
        render_chart(g, theme="sepia")


@pytest.mark.slow
def test_write_dataset_layout(tmp_path):
    write_dataset(tmp_path, n=1, seed=5, max_nodes=6, degraded=1.0)
    data = json.loads((tmp_path / "dataset.json").read_text())
    ((key, row),) = data.items()
    assert row["key"] == key and row["mermaid"].startswith("flowchart")
    assert (tmp_path / "images" / key / "chart.png").stat().st_size > 0
    assert load_charts(tmp_path)[0].boxes


@pytest.mark.slow
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


@pytest.mark.slow
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


# ---------------------------------------------------------------------------- look zoo (issue #8)


def test_wcag_contrast_on_known_pairs():
    assert wcag_contrast("#ffffff", "#000000") == pytest.approx(21.0)
    assert wcag_contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert wcag_contrast("#5b2c6f", "#5b2c6f") == pytest.approx(1.0)
    assert wcag_contrast("#333333", "#000000") == pytest.approx(1.66, abs=0.01)  # default lines on black
    assert wcag_contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic AA near-miss
    with pytest.raises(InputError, match="#rrggbb"):
        wcag_contrast("red", "#000000")


@pytest.mark.parametrize("preset", ["zoo", "small"])
def test_random_look_never_hides_the_connectors(preset):
    dark_on_dark = 0
    seen: dict[str, set[str]] = {f: set() for f in FACTORS}
    for seed in range(600):
        look = random_look(random.Random(seed), preset=preset)
        page = look.page_hex
        assert wcag_contrast(look.connector, page) >= MIN_CONNECTOR_CONTRAST, (seed, look)
        factors = look.factors()
        assert list(factors) == list(FACTORS) and all(isinstance(v, str) for v in factors.values())
        for f, v in factors.items():
            seen[f].add(v)
        if look.theme == "base":
            fill, text = look.colours["primaryColor"], look.colours["primaryTextColor"]
            assert wcag_contrast(text, fill) >= MIN_TEXT_CONTRAST
        if look.renderer == "graphviz":
            assert wcag_contrast(look.colours["font"], look.colours["fill"]) >= MIN_TEXT_CONTRAST
            assert wcag_contrast(look.colours["edge_font"], page) >= MIN_TEXT_CONTRAST
        dark_on_dark += relative_luminance(page) < 0.02 and relative_luminance(look.connector) < 0.05
    assert seen["renderer"] == {"mermaid", "graphviz"}
    assert {"TD", "LR", "BT", "RL"} <= seen["direction"]
    assert dark_on_dark > 0  # dark lines on a dark page is one of the looks
    if preset == "zoo":
        assert {"default", "forest", "neutral", "dark", "base"} <= seen["theme"]
        assert {"solid", "dotted", "thick", "mixed"} == seen["links"]
        assert {"none", "q50-70", "q70-95"} == seen["jpeg"] and {"none", "blur", "rotate"} == seen["distort"]
        assert {"0.5-0.8", "0.8-1.1", "1.1-1.5"} == seen["scale_band"]
    else:
        assert "none" not in seen["jpeg"] and not seen["page"] & {"white", "off-white"}


def test_crossings_and_link_styles_change_only_what_they_say():
    g = random_flowchart(11, n_nodes=12)
    g2, added = add_crossings(g, 3, random.Random(1))
    assert added == 3 and g2.edges[: len(g.edges)] == g.edges and g2.nodes == g.nodes
    pairs = {(e.source, e.target) for e in g.edges}
    for e in g2.edges[len(g.edges) :]:
        assert (e.source, e.target) not in pairs and (e.target, e.source) not in pairs and e.label is None
    thick = set_links(g2, "thick", random.Random(0))
    assert [e.attrs["link"] for e in thick.edges] == ["==>"] * len(g2.edges)
    assert parse_mermaid(to_mermaid(thick)) == thick  # the gold Mermaid keeps the link style
    with pytest.raises(InputError, match="link style"):
        set_links(g, "wavy", random.Random(0))


def test_mild_degradation_ranges_are_kept():
    img = np.full((60, 80, 3), 255, np.uint8)
    for seed in range(20):
        _out, _b, what = degrade(img, {}, ["rotate"], seed=seed, ranges=MILD_RANGES)
        assert abs(float(what[len("rotate(") : -1])) <= 3.0
    with pytest.raises(ValueError, match="unknown degradation"):
        degrade(img, {}, ["blur"], seed=0, ranges={"fog": (0, 1)})


def _first_seed(preset: str, want) -> int:
    """The first --seed whose chart 0 draws a look with ``want(look)`` (drawing a look costs nothing)."""
    return next(s for s in range(1000) if want(random_look(random.Random(s * 100003), preset=preset)))


@pytest.mark.slow
@pytest.mark.parametrize("renderer", ["mermaid", "graphviz"])
def test_zoo_chart_records_its_look_and_boxes_fit(tmp_path, renderer):
    seed = _first_seed(
        "zoo", lambda lk: lk.renderer == renderer and lk.crossing and lk.jpeg_quality and lk.links == "mixed"
    )
    write_dataset(tmp_path, n=1, seed=seed, min_nodes=6, max_nodes=6, looks="zoo")
    (row,) = json.loads((tmp_path / "dataset.json").read_text()).values()
    assert list(row["look"]) == list(FACTORS) and row["look"]["renderer"] == renderer
    assert row["look"]["crossing"] == "extra" and row["look"]["jpeg"] != "none"
    assert row["look"]["page"] in PAGES and row["render"]["page_hex"] == PAGES[row["look"]["page"]]
    assert row["mermaid"].startswith("flowchart") and "%%{init" not in row["mermaid"]
    (chart,) = load_charts(tmp_path)
    assert chart.look == row["look"] and chart.image.name == "chart.jpg"
    assert chart.image.read_bytes()[:2] == b"\xff\xd8"
    assert len(chart.graph.edges) > len(chart.graph.nodes) - 1  # the extra crossing edges are gold edges
    img = cv2.imread(str(chart.image))
    h, w = img.shape[:2]
    assert set(chart.boxes) == {n.id for n in chart.graph.nodes}
    assert all(-1 <= b[0] < b[2] <= w + 1 and -1 <= b[1] < b[3] <= h + 1 for b in chart.boxes.values())
    page = np.array([int(PAGES[row["look"]["page"]][i : i + 2], 16) for i in (5, 3, 1)])
    assert np.abs(img[2, 2].astype(int) - page).max() <= 12  # drawn on its page colour (JPEG within a few levels)


@pytest.mark.slow
def test_small_preset_is_short_jpegs(tmp_path):
    from flowpath.cli import main

    out = tmp_path / "s"
    assert (
        main(["-q", "synth", "--out", str(out), "--n", "2", "--seed", "3", "--looks", "small", "--nodes", "4", "6"])
        == 0
    )
    rows = json.loads((out / "dataset.json").read_text())
    for key, row in rows.items():
        path = out / "images" / key / "chart.jpg"
        assert path.read_bytes()[:2] == b"\xff\xd8" and 50 <= row["render"]["jpeg_quality"] <= 90
        img = cv2.imread(str(path))
        assert 200 <= img.shape[0] <= 500 and row["render"]["height"] == img.shape[0]
        assert row["look"]["page"] not in ("white", "off-white")


def test_synth_rejects_an_unknown_look_preset(tmp_path, capsys):
    from flowpath.cli import main

    assert main(["synth", "--out", str(tmp_path / "x"), "--looks", "fancy"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--looks" in err[0] and "zoo" in err[0]

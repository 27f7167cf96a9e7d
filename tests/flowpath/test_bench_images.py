"""Benchmarking from chart images: parse cache, failed charts, box scoring, and the attribution overlay."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from flowpath.agent.graph import build_agent
from flowpath.bench import images
from flowpath.bench.images import parse_charts
from flowpath.overlay import attribution_overlay, draw_attribution

REPO = Path(__file__).resolve().parents[2]
SAMPLE_PNG = REPO / "bench_data" / "samples" / "order_fulfilment.png"
QUESTION = "What happens when the card payment is declined?"
ANSWER = "The customer is emailed to update the payment details."


@pytest.mark.slow
def test_parse_cache_is_written_then_used(tmp_path: Path, monkeypatch) -> None:
    graphs, errors = parse_charts({"k": SAMPLE_PNG, "gone": tmp_path / "missing.png"}, cache=tmp_path / "cache")
    assert errors.keys() == {"gone"} and graphs["gone"].nodes == []  # a missing chart is an empty graph
    assert len(graphs["k"].nodes) >= 10
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1

    def fail(path: str):
        raise AssertionError("parsed again despite the cache")

    monkeypatch.setattr(images, "_parse_one", fail)
    again, _ = parse_charts({"k": SAMPLE_PNG}, cache=tmp_path / "cache")
    assert again["k"] == graphs["k"]

    monkeypatch.setattr(images, "PARSER_VERSION", images.PARSER_VERSION + 1)  # a newer parser ignores old entries
    with pytest.raises(AssertionError, match="parsed again"):
        parse_charts({"k": SAMPLE_PNG}, cache=tmp_path / "cache")


def test_unreadable_chart_becomes_an_error_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    graphs, errors = parse_charts({"bad": bad})
    assert graphs["bad"].nodes == [] and "bad" in errors and errors["bad"]


@pytest.mark.slow
def test_attribution_from_the_image_and_its_overlay() -> None:
    agent = build_agent(use_embeddings=False)
    result = agent.attribute(SAMPLE_PNG, QUESTION, ANSWER)
    graph = agent.graph_of(SAMPLE_PNG)
    texts = [n.text for n in result.nodes]
    assert "Email the customer to update payment details" in texts
    assert all(n.bbox is not None for n in result.nodes)
    png = attribution_overlay(SAMPLE_PNG, result, graph)
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    original = cv2.imread(str(SAMPLE_PNG))
    assert img.shape == original.shape
    x1, y1, x2, y2 = (round(v) for v in result.nodes[0].bbox)
    changed = np.any(img != original, axis=2)
    assert changed[max(0, y1 - 8) : y2 + 8, max(0, x1 - 8) : x2 + 8].any()  # the attributed node is marked
    assert not changed[y1 + 5 : y2 - 5, x1 + 5 : x2 - 5].all()  # ... without painting over its text


def test_overlay_without_boxes_leaves_the_image_alone() -> None:
    from flowpath.agent.result import AttributedNode, AttributionResult

    r = AttributionResult(
        question="q",
        answer="a",
        reason="r",
        intent="lookup",
        nodes=[AttributedNode(id="A", text="t", kind="process", score=0.5)],
    )
    img = np.full((40, 60, 3), 255, np.uint8)
    assert (draw_attribution(img, r) == img).all()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowpath", *args], capture_output=True, text=True)


@pytest.mark.slow
def test_attribute_overlay_cli(tmp_path: Path) -> None:
    out = tmp_path / "overlay.png"
    proc = _cli("attribute", str(SAMPLE_PNG), "-q", QUESTION, "-a", ANSWER, "--overlay", str(out), "--no-embeddings")
    assert proc.returncode == 0, proc.stderr
    assert "Email the customer" in proc.stdout and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "match"),
    [
        (
            (
                "attribute",
                str(REPO / "bench_data/samples/order_fulfilment.mmd"),
                "-q",
                "q?",
                "-a",
                "a",
                "--overlay",
                "o.png",
            ),
            "--overlay needs a chart image",
        ),
        (("bench", "--data", str(REPO), "--workers", "0"), "--workers must be at least 1"),
        (("bench", "--data", str(REPO), "--cv", "1"), "--cv needs K >= 2"),
        (("bench", "--data", str(REPO), "--cv", "3", "--policy", "symbolic"), "--cv needs K >= 2"),
        (("bench", "--data", str(REPO), "--cv", "3", "--no-embeddings"), "which --no-embeddings turns off"),
    ],
)
def test_bad_input_is_one_line(args: tuple[str, ...], match: str, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "flowpath", *args], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and match in proc.stderr, proc.stderr
    assert not (tmp_path / "o.png").exists()


@pytest.mark.slow
def test_bench_from_images_on_dev_subset(feb_dev: Path, tmp_path: Path) -> None:
    out = tmp_path / "preds.jsonl"
    proc = _cli(
        "bench", "--data", str(feb_dev), "--graph-source", "image", "--limit", "6", "--no-embeddings",
        "--parse-cache", str(tmp_path / "cache"), "--out", str(out), "--report", str(tmp_path / "r.md"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 6
    preds = [p for r in rows for p in r["pred"]]
    assert preds and all(len(p["bbox"]) == 4 and 0 < p["score"] <= 1 for p in preds)
    table = proc.stdout
    assert "agent@0.5 F1" in table and "agent@0.7 F1" in table
    all_row = next(line for line in table.splitlines() if line.startswith("| all |"))
    assert float(all_row.split("|")[-3]) > 0.3  # agent precision at IoU 0.5 on these charts
    report = (tmp_path / "r.md").read_text()
    assert "recovered from flowchart.svg" in report
    pictures = sorted((tmp_path / "r_overlays").glob("*.png"))
    assert len(pictures) == 6 and f"](r_overlays/{pictures[0].name})" in report


@pytest.mark.slow
def test_sample_image_is_our_rendering_of_the_sample_chart() -> None:
    from flowpath.synth.render import render_chart
    from graphsolvers.io import load_graph

    made = render_chart(load_graph(REPO / "bench_data/samples/order_fulfilment.mmd"), theme="default", scale=1.5)
    committed = cv2.imread(str(SAMPLE_PNG)).astype(int)
    assert made.image.shape == committed.shape and np.abs(made.image.astype(int) - committed).mean() < 0.5

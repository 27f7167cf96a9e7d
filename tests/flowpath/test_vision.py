"""The image parser on drawn charts: shapes, arrows, labels, layouts, and every bad input of issue #3."""

from __future__ import annotations

import json
import logging

import cv2
import numpy as np
import pytest

from flowpath.cli import main
from flowpath.errors import ImageError, NoFlowchartError
from flowpath.vision import load_image, parse_image
from flowpath.vision.ocr import join_lines
from flowpath.vision.shapes import classify_shape
from tests.flowpath.charts import arrow, blurred_chart, box, decision_chart, lr_chart, triangle_chart

YY, XX = np.mgrid[0:80, 0:160]
W, H = 160, 80


@pytest.mark.parametrize(
    ("mask", "shape"),
    [
        (np.ones((H, W), bool), "rect"),
        (abs(XX - 79.5) / 80 + abs(YY - 39.5) / 40 <= 1, "rhombus"),
        ((XX >= 30 * (1 - YY / 79)) & (XX <= 159 - 30 * YY / 79), "parallelogram"),
        ((XX >= 30 * YY / 79) & (XX <= 159 - 30 * (1 - YY / 79)), "parallelogram_alt"),
        ((XX >= 30 * (1 - YY / 79)) & (XX <= 159 - 30 * (1 - YY / 79)), "trapezoid"),
        ((XX >= 30 * YY / 79) & (XX <= 159 - 30 * YY / 79), "trapezoid_alt"),
        (
            ((XX >= 40) & (XX <= 119))
            | ((XX - 40) ** 2 + (YY - 39.5) ** 2 <= 40**2)
            | ((XX - 119) ** 2 + (YY - 39.5) ** 2 <= 40**2),
            "stadium",
        ),
        ((XX - 79.5) ** 2 + (YY - 39.5) ** 2 <= 40**2, "circle"),
        ((20 * abs(YY - 39.5) / 40 <= XX) & (159 - 20 * abs(YY - 39.5) / 40 >= XX), "hexagon"),
    ],
)
def test_shapes_are_named(mask, shape):
    ys, xs = np.nonzero(mask)
    assert classify_shape(mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]) == shape


def test_decision_chart_structure_without_ocr():
    g = parse_image(decision_chart(), ocr=False)
    assert len(g.nodes) == 4
    kinds = sorted(n.kind for n in g.nodes)
    assert kinds == ["decision", "process", "process", "process"]
    by_pos = {n.id: n.bbox for n in g.nodes}
    top = min(by_pos, key=lambda i: by_pos[i][1])
    dec = next(n.id for n in g.nodes if n.kind == "decision")
    left = min((i for i in by_pos if i not in (top, dec)), key=lambda i: by_pos[i][0])
    right = max((i for i in by_pos if i not in (top, dec)), key=lambda i: by_pos[i][0])
    assert {(e.source, e.target) for e in g.edges} == {(top, dec), (dec, left), (dec, right)}
    # boxes are in original pixels
    assert by_pos[top] == pytest.approx((239, 19, 402, 82), abs=3)


def test_decision_chart_text_and_edge_labels():
    g = parse_image(decision_chart())
    texts = {n.text.upper() for n in g.nodes}
    assert {"START", "OK?", "FIX", "SHIP"} <= texts
    label_of = {g.node(e.target).text.upper(): e.label for e in g.edges}
    assert label_of["FIX"].upper() == "YES"
    assert label_of["SHIP"].upper() == "NO"
    assert label_of["OK?"] is None
    assert all(len(e.attrs["polyline"]) >= 2 for e in g.edges)


@pytest.mark.parametrize("reverse", [False, True])
def test_left_right_layouts_follow_the_arrowheads(reverse):
    g = parse_image(lr_chart(reverse=reverse), ocr=False)
    order = sorted(g.nodes, key=lambda n: n.bbox[0])
    a, b, c = (n.id for n in order)
    expected = {(b, a), (c, b)} if reverse else {(a, b), (b, c)}
    assert {(e.source, e.target) for e in g.edges} == expected


def test_line_without_arrowhead_is_marked_undirected():
    img = np.full((300, 300, 3), 255, np.uint8)
    box(img, 80, 20, 220, 80)
    box(img, 80, 200, 220, 260)
    cv2.line(img, (150, 81), (150, 199), (40, 40, 40), 2)
    g = parse_image(img, ocr=False)
    assert len(g.edges) == 1 and g.edges[0].attrs.get("arrow") == "none"


def test_node_without_readable_text_has_empty_text_and_a_warning(caplog):
    img = np.full((300, 300, 3), 255, np.uint8)
    box(img, 80, 20, 220, 80)
    box(img, 80, 200, 220, 260)
    arrow(img, (150, 81), (150, 198))
    with caplog.at_level(logging.WARNING, logger="flowpath.vision.parse"):
        g = parse_image(img)
    assert [n.text for n in g.nodes] == ["", ""]
    assert "no readable text" in caplog.text


def test_stroke_width_reads_columns_when_connectors_all_run_across():
    from flowpath.vision.scene import _common_run, _stroke_width

    fg = np.zeros((240, 600), np.uint8)
    for y in (40, 120, 200):
        fg[y : y + 2, 20:580] = 1  # connectors running across, 2 px thick
    for x in (60, 260, 460):
        cv2.fillConvexPoly(fg, np.array([[x, 100], [x + 40, 80], [x + 80, 100], [x + 40, 120]]), 1)
        fg[150:190, x : x + 12] = 1  # filled shapes leave only their own widths as short runs along rows
    fg = fg.astype(bool)
    assert _common_run(fg) == 12 and _common_run(fg.T) == 2
    assert _stroke_width(fg) == 2
    # a chart with short runs both ways keeps the run length along its rows
    grid = np.zeros((200, 200), bool)
    grid[:, 10:200:20] = True
    grid[10:200:20, :] = True
    grid[:, 11:200:20] = True  # columns 2 px wide, rows 1 px: rows say 2, columns 1 (more than a third)
    assert _stroke_width(grid) == 2


def test_thin_dark_outline_makes_a_node_and_a_crossing_connector_does_not():
    """A Graphviz-style box (one antialiased dark pixel of outline) is bordered; a borderless label box is
    not, even with a connector crossing its rim; nor is a box whose rim only blends into the background."""
    from flowpath.vision.labels import has_border as _has_border
    from flowpath.vision.regions import Region

    fill, white = np.array([221, 232, 247]), np.array([255, 255, 255])
    img = np.full((60, 200, 3), 255, np.uint8)
    img[10:50, 20:180] = fill
    mask = np.zeros((40, 160), bool)
    mask[:, :] = True
    region = Region(bbox=(20, 10, 180, 50), mask=mask, filled=True)
    blended = img.copy()
    blended[10, 20:180] = blended[49, 20:180] = (fill + white) // 2  # antialiased rim of a borderless box
    blended[10:50, 20] = blended[10:50, 179] = (fill + white) // 2
    crossed = blended.copy()
    crossed[29:31, 20:180] = 0  # the connector running through the label box
    assert not _has_border(blended, region, fill, white)
    assert not _has_border(crossed, region, fill, white)
    # a one-pixel dark outline inside a faint antialiased edge: half the two-pixel rim, not "most" of it
    outlined = np.full((64, 204, 3), 255, np.uint8)
    outlined[9:51, 19:181] = (235, 235, 235)
    outlined[10:50, 20:180] = fill
    cv2.rectangle(outlined, (20, 10), (179, 49), (40, 40, 40), 1)
    wider = Region(bbox=(19, 9, 181, 51), mask=np.ones((42, 162), bool), filled=True)
    assert _has_border(outlined, wider, fill, white)


def test_flat_diamond_tip_is_not_read_as_an_arrowhead():
    """A wide, flat decision (as Graphviz draws them) loses its side tips to the shape opening; the tip is put
    back, so the connector leaving it runs from the decision, not into it."""
    from tests.flowpath.charts import diamond

    img = np.full((200, 1000, 3), 255, np.uint8)
    box(img, 20, 70, 180, 130)
    diamond(img, 470, 100, 230, 40)  # tips of about 19 degrees
    box(img, 800, 70, 980, 130)
    arrow(img, (181, 100), (239, 100))
    arrow(img, (701, 100), (799, 100))
    g = parse_image(img, ocr=False)
    by_x = {n.id: n.bbox[0] for n in g.nodes}
    order = sorted(by_x, key=by_x.get)
    assert len(order) == 3
    assert {(e.source, e.target) for e in g.edges} == {(order[0], order[1]), (order[1], order[2])}
    assert g.nodes[[n.id for n in g.nodes].index(order[1])].bbox[2] >= 695  # the right tip is part of the shape


def test_join_lines_glues_hyphenated_wraps():
    assert join_lines(["well-", "being", "plan"]) == "well-being plan"


# ---------------------------------------------------------------- bad input
def _png(path, img):
    ok, buf = cv2.imencode(".png", img)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "nope.png")


def test_zero_byte_file(tmp_path):
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty file"):
        load_image(tmp_path / "empty.png")


def test_truncated_png(tmp_path):
    data = _png(tmp_path / "full.png", decision_chart()).read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated"):
        load_image(tmp_path / "cut.png")


def test_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("flowchart TD\n A --> B\n")
    with pytest.raises(ImageError, match="not an image"):
        load_image(tmp_path / "notes.png")


def test_over_the_pixel_limit(tmp_path):
    path = _png(tmp_path / "big.png", np.full((400, 400, 3), 255, np.uint8))
    with pytest.raises(ImageError, match="over the limit"):
        parse_image(path, max_pixels=100_000)


def test_blank_image():
    with pytest.raises(NoFlowchartError, match="blank"):
        parse_image(np.full((300, 400, 3), 255, np.uint8))


def test_photo_without_a_flowchart():
    rng = np.random.default_rng(0)
    photo = cv2.GaussianBlur(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8), (7, 7), 0)
    with pytest.raises(NoFlowchartError, match="no flowchart"):
        parse_image(photo)


def test_wrong_array_shape():
    with pytest.raises(ImageError, match="shape"):
        load_image(np.zeros((10, 10, 2), np.uint8))


def test_cli_batch_keeps_going_after_a_bad_image(tmp_path, capsys):
    good = _png(tmp_path / "good.png", lr_chart())
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    out = tmp_path / "out.jsonl"
    code = main(["parse", str(bad), str(good), "--jsonl", str(out), "--overlay", str(tmp_path / "ov")])
    assert code == 2
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["image"] for r in rows] == [str(bad), str(good)]
    assert "error" in rows[0] and len(rows[1]["graph"]["edges"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "empty file" in err[0]
    assert len(list((tmp_path / "ov").iterdir())) == 1


def test_cli_mermaid_output(tmp_path, capsys):
    good = _png(tmp_path / "good.png", lr_chart())
    assert main(["parse", str(good), "--mermaid"]) == 0
    out = capsys.readouterr().out
    assert "flowchart" in out and "-->" in out


def test_cli_eval_parse_on_a_folder_without_dataset(tmp_path, capsys):
    assert main(["eval-parse", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "dataset.json" in err


def test_cli_refuses_a_folder_as_jsonl_output(tmp_path, capsys):
    good = _png(tmp_path / "good.png", lr_chart())
    assert main(["parse", str(good), "--jsonl", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_eval_parse_on_the_committed_samples(tmp_path, capsys):
    from pathlib import Path

    samples = Path(__file__).resolve().parents[2] / "bench_data" / "synth"
    assert main(["eval-parse", "--data", str(samples), "--limit", "2", "--report", str(tmp_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["charts"] == 2 and 0.0 <= summary["edge_f1"] <= 1.0
    assert (tmp_path / "report.md").read_text().startswith("# Flowchart parsing report")
    assert len((tmp_path / "scores.jsonl").read_text().splitlines()) == 2


def test_pale_fills_under_noise_stay_whole():
    """Mermaid's default theme fills shapes a pale lavender only 16 levels off the white page; sensor noise
    then drops half the fill into the background, and a box breaks into pieces unless the foreground is
    smoothed harder, as it is when it comes out speckled with pinholes."""
    from flowpath.vision.scene import _speckle, analyse_scene

    lavender, purple = (255, 236, 236), (219, 112, 147)
    img = np.full((420, 360, 3), 255, np.uint8)
    for y1 in (40, 260):
        cv2.rectangle(img, (60, y1), (300, y1 + 110), lavender, -1)
        cv2.rectangle(img, (60, y1), (300, y1 + 110), purple, 1)
        cv2.putText(img, "Check the order", (85, y1 + 62), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (40, 40, 40), 1)
    arrow(img, (180, 151), (180, 259))
    clean = parse_image(img, ocr=False)
    noisy = np.clip(img + np.random.default_rng(3).normal(0, 10, img.shape), 0, 255).astype(np.uint8)
    assert _speckle(analyse_scene(img).foreground) < 1.0
    g = parse_image(noisy, ocr=False)
    assert len(clean.nodes) == len(g.nodes) == 2
    assert [(e.source, e.target) for e in g.edges] == [(e.source, e.target) for e in clean.edges]
    assert len(g.edges) == 1
    for a, b in zip(sorted(n.bbox for n in g.nodes), sorted(n.bbox for n in clean.nodes), strict=True):
        assert max(abs(u - v) for u, v in zip(a, b, strict=True)) <= 4


def test_label_box_around_a_lowercase_word_is_a_label():
    """A box hugging "no" (x-height only) pads it by more than the word's own height; measured in the chart's
    typical line height it is a label box, and a node's padding stays a node's."""
    from flowpath.vision.labels import hugs_text as _hugs_text
    from flowpath.vision.regions import Region

    label = Region(bbox=(0, 0, 40, 28), mask=np.ones((28, 40), bool), filled=True, lines=[(6, 9, 34, 19)])
    assert not _hugs_text(label, 10.0)  # padding 18 px around a 10 px line
    assert _hugs_text(label, 16.0)  # but the chart's lines are 16 px high
    node = Region(bbox=(0, 0, 200, 60), mask=np.ones((60, 200), bool), filled=True, lines=[(40, 22, 160, 38)])
    assert not _hugs_text(node, 16.0)


def _word(x1: int, y1: int, x2: int, y2: int, text: str):
    from flowpath.vision.regions import Region

    return Region(bbox=(x1, y1, x2, y2), mask=np.ones((y2 - y1, x2 - x1), bool), filled=False, text=text, is_label=True)


def test_the_words_of_one_free_label_go_to_its_connector_together_in_reading_order():
    from flowpath.vision.connectors import Trace
    from flowpath.vision.parse import _assign_labels

    left = Trace(0, 1, [(100.0, 0.0), (100.0, 200.0)])
    right = Trace(0, 2, [(400.0, 0.0), (400.0, 200.0)])
    # "after 10 min" beside the left line, read as two words a wide space apart; "too salty" far right,
    # and a wrapped label's second line under its first
    labels = [
        _word(150, 90, 190, 110, "10 min"),
        _word(105, 90, 140, 110, "after"),
        _word(405, 90, 440, 110, "too"),
        _word(408, 114, 450, 134, "salty"),
    ]
    owned = _assign_labels([left, right], labels)
    assert [[labels[i].text for i in owned[t]] for t in (0, 1)] == [["after", "10 min"], ["too", "salty"]]
    # a second label on the same connector that does not continue the first is left out, as before
    far = [_word(105, 20, 130, 40, "Yes"), _word(110, 150, 135, 170, "No")]
    assert [far[i].text for i in _assign_labels([left], far)[0]] == ["Yes"]


def test_an_edge_label_in_smaller_type_than_the_nodes_is_read():
    # Graphviz sets edge labels smaller than node text; thin glyphs must survive the opening that
    # erases the connectors
    img = np.full((420, 420, 3), 255, np.uint8)
    box(img, 110, 20, 310, 90)
    cv2.putText(img, "Check stock", (135, 62), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (40, 40, 40), 2, cv2.LINE_AA)
    box(img, 110, 300, 310, 370)
    cv2.putText(img, "Ship order", (140, 342), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (40, 40, 40), 2, cv2.LINE_AA)
    arrow(img, (210, 91), (210, 299))
    cv2.putText(img, "in stock", (218, 200), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (40, 40, 40), 1, cv2.LINE_AA)
    g = parse_image(img)
    assert [(g.node(e.source).text, g.node(e.target).text, e.label) for e in g.edges] == [
        ("Check stock", "Ship order", "in stock")
    ]


def test_label_boxes_in_the_corners_of_an_outlined_diamonds_box_do_not_unmake_it():
    # label boxes under the side tips, inside the diamond's box
    g = parse_image(decision_chart(diamond_fill=None, labels_at=((236, 262), (404, 262))), ocr=False)
    assert len(g.nodes) == 4 and len(g.edges) == 3


def test_connectors_fencing_in_an_area_between_three_nodes_do_not_make_a_fourth():
    g = parse_image(triangle_chart(), ocr=False)
    assert len(g.nodes) == 3
    a, b, c = (min(g.nodes, key=lambda n, k=k: abs(n.bbox[0] - k)).id for k in (518, 38, 298))
    # checked as pairs: with no node that nothing leads into, the structural turn reads A -> B as B -> A (a
    # three-node triangle with no start; see settle_by_structure), which is a different matter
    assert {frozenset((e.source, e.target)) for e in g.edges} == {frozenset(p) for p in ((a, b), (a, c), (c, b))}


def test_a_blurred_thin_outline_makes_a_node_even_round_text_it_fits_closely():
    g = parse_image(blurred_chart())
    assert sorted(n.text for n in g.nodes) == ["Measure symptoms for at least 5 minutes", "Start"]
    assert len(g.edges) == 1


def test_a_flat_diamond_that_fills_more_of_its_box_than_a_drawn_one_is_a_rhombus():
    yy, xx = np.mgrid[0:60, 0:200]
    fat = abs(xx - 99.5) / 100 + abs(yy - 29.5) / 30 <= 1.15  # tips cut off by the box: fills 0.64
    assert 0.62 < fat.mean() < 0.68
    assert classify_shape(fat) == "rhombus"


def _filled_box(x: int, y: int, w: int, h: int, text_pad: int, *, is_label: bool, diamond: bool = False):
    """A filled region at (x, y) of w × h with one text line ``text_pad`` pixels in from each side."""
    from flowpath.vision.regions import Region

    yy, xx = np.mgrid[0:h, 0:w]
    mask = (
        (abs(xx - (w - 1) / 2) / (w / 2) + abs(yy - (h - 1) / 2) / (h / 2) <= 1) if diamond else np.ones((h, w), bool)
    )
    line = (x + text_pad, y + h // 2 - 8, x + w - text_pad, y + h // 2 + 8)
    return Region(bbox=(x, y, x + w, y + h), mask=mask, filled=True, lines=[line], is_label=is_label)


def test_tight_boxes_in_the_fill_of_outline_less_node_shapes_become_nodes():
    """Graphviz boxes seen small lose their one-pixel outline and hug their text like label backgrounds;
    a tall diamond in the same fill shows they are nodes. A box ending at its text stays a label, and
    so does one in another fill."""
    from flowpath.vision.labels import unlabel_node_fills

    orange, grey = np.array([132, 177, 241]), np.array([232, 232, 232])
    regions = [
        _filled_box(0, 0, 120, 90, 30, is_label=False, diamond=True),  # the reference: 90 px ≥ 3 lines of 16
        _filled_box(200, 0, 150, 24, 12, is_label=True),  # Graphviz box: 12 px beside its text
        _filled_box(400, 0, 60, 24, 1, is_label=True),  # label background: ends at its text
        _filled_box(500, 0, 150, 24, 12, is_label=True),  # padded, but in the label grey
    ]
    fills = {0: orange, 1: orange + 2, 2: orange, 3: grey}
    unlabel_node_fills(regions, fills, {i: r.lines for i, r in enumerate(regions)}, line_h=16.0)
    assert [r.is_label for r in regions] == [False, False, True, True]


def test_small_padded_boxes_in_the_label_fill_become_labels_unless_nodes_share_it():
    """Mermaid's dark theme pads label backgrounds by about a line height: a short box filled like the
    chart's hugging labels and unlike its tall nodes is a label; in a chart whose tall nodes share
    that fill it stays a node."""
    from flowpath.vision.labels import label_label_fills

    node, label = np.array([32, 33, 29]), np.array([88, 89, 91])

    def chart(node_fill):
        regions = [
            _filled_box(0, 0, 200, 60, 40, is_label=False),  # a tall node: 60 px ≥ 3 lines of 16
            _filled_box(300, 0, 40, 30, 1, is_label=True),  # a label background hugging its text
            _filled_box(400, 0, 60, 46, 18, is_label=False),  # padded past the hug test
        ]
        fills = {0: node_fill, 1: label, 2: label + 4}
        label_label_fills(regions, fills, {1: regions[1].lines, 2: regions[2].lines}, line_h=16.0)
        return [r.is_label for r in regions]

    assert chart(node) == [False, True, True]
    assert chart(label) == [False, True, False]

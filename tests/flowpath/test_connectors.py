"""Connector tracing on the committed sample chart: a loop-back edge that grazes a third node's box."""

from __future__ import annotations

from pathlib import Path

from flowpath.vision import parse_image
from graphsolvers.mermaid import parse_mermaid

SAMPLES = Path(__file__).resolve().parents[2] / "bench_data" / "samples"


def test_sample_finds_every_edge_including_the_loop_past_a_box_corner():
    gold = parse_mermaid((SAMPLES / "order_fulfilment.mmd").read_text(encoding="utf-8"))
    graph = parse_image(SAMPLES / "order_fulfilment.png")
    gtext = {n.id: n.text for n in gold.nodes}
    ptext = {n.id: n.text for n in graph.nodes}
    found = {(ptext[e.source], ptext[e.target]) for e in graph.edges}
    # J -> H leaves J's right side and passes the top-left corner of "Pack and ship the order"
    assert ("Email the customer to update payment details", "Charge the customer's card") in found
    assert not any(e.attrs.get("arrow") == "none" for e in graph.edges)
    assert {(gtext[e.source], gtext[e.target]) for e in gold.edges} <= found


def test_connectors_without_a_visible_head_follow_the_charts_flow():
    from flowpath.vision.connectors import Trace, _follow_the_flow

    down = [Trace(0, 1, [(10, 10), (10, 50)]), Trace(1, 2, [(10, 60), (10, 100)])]
    guessed_up = Trace(3, 2, [(40, 200), (40, 120)], sure=False)  # no head seen; ink contrast said "up"
    loop = Trace(2, 0, [(10, 100), (60, 10)])  # a plain head: a loop back up stays as drawn
    pair = Trace(4, 5, [(90, 90), (90, 10)], sure=False)
    pair_back = Trace(5, 4, [(95, 10), (95, 90)])  # both directions drawn: nothing to flip
    out = _follow_the_flow([*down, guessed_up, loop, pair, pair_back])
    ends = [(t.source, t.target) for t in out]
    assert ends == [(0, 1), (1, 2), (2, 3), (2, 0), (4, 5), (5, 4)]
    assert out[2].polyline == [(40, 120), (40, 200)] and not out[2].sure
    # a left-to-right chart flows along x
    lr = [
        Trace(0, 1, [(0, 5), (50, 5)]),
        Trace(1, 2, [(60, 5), (110, 5)]),
        Trace(3, 2, [(220, 5), (120, 5)], sure=False),
    ]
    assert [(t.source, t.target) for t in _follow_the_flow(lr)] == [(0, 1), (1, 2), (2, 3)]
    # with fewer than two plain heads the chart's flow is unknown: guesses stay as they are
    few = [Trace(0, 1, [(0, 5), (50, 5)]), Trace(3, 2, [(220, 5), (120, 5)], sure=False)]
    assert [(t.source, t.target) for t in _follow_the_flow(few)] == [(0, 1), (3, 2)]


def test_the_wider_end_of_a_connector_is_its_arrowhead_even_when_ink_counts_agree():
    import math

    from flowpath.vision.connectors import Contact, _which_is_head

    # a small head on a thin line: about as much ink near either end, but the head is three times as wide
    tail = Contact(node=0, point=(10.0, 40.0), head=False, thickness=1.30, peak=1.9)
    head = Contact(node=1, point=(10.0, 160.0), head=False, thickness=1.33, peak=2.7)
    assert _which_is_head(tail, head) == (False, True)
    assert _which_is_head(head, tail) == (True, False)
    # a width that cannot be measured (a label box next to the end) leaves it to the ink counts
    hidden = Contact(node=1, point=(10.0, 160.0), head=False, thickness=1.33, peak=math.nan)
    assert _which_is_head(tail, hidden) == (False, False)
    # clearly more ink at one end still decides when the widths are alike
    inky = Contact(node=1, point=(10.0, 160.0), head=True, thickness=2.2, peak=2.0)
    assert _which_is_head(tail, inky) == (False, True)

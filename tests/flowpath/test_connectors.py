"""Connector tracing on the committed sample chart: a loop-back edge that grazes a third node's box."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowpath.vision import parse_image
from graphsolvers.mermaid import parse_mermaid

SAMPLES = Path(__file__).resolve().parents[2] / "bench_data" / "samples"


@pytest.mark.slow
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


def test_a_corner_that_passes_for_a_head_loses_to_the_end_with_clearly_more_ink():
    from flowpath.vision.connectors import Contact, _which_is_head

    # a loop back leaves a decision's top corner (corner and line together pass the absolute test) and ends
    # in an arrowhead half hidden by the box it enters: both "heads", the arrowhead with a fifth more ink
    corner = Contact(node=0, point=(900.0, 1390.0), head=True, thickness=1.50, peak=2.9)
    head = Contact(node=1, point=(808.0, 586.0), head=True, thickness=1.82, peak=2.3)
    assert _which_is_head(corner, head) == (False, True)
    assert _which_is_head(head, corner) == (True, False)
    # two heads with as much ink as each other stay a double-headed link
    twin = Contact(node=0, point=(900.0, 1390.0), head=True, thickness=1.75, peak=2.3)
    assert _which_is_head(twin, head) == (True, True)


def test_the_far_flank_of_a_half_hidden_arrowhead_is_no_line_end():
    from flowpath.vision.connectors import Contact, _merge_close

    head = Contact(node=2, point=(808.0, 586.0), head=True, thickness=1.82)
    flank = Contact(node=2, point=(791.0, 588.0), head=False, thickness=0.68)  # 17 px away, radius 15
    line = Contact(node=2, point=(770.0, 588.0), head=False, thickness=1.2)  # a line end beside the head
    other = Contact(node=3, point=(795.0, 590.0), head=False, thickness=0.5)  # on another node
    kept = _merge_close([flank, head, line, other], 15.0)
    assert [(c.node, c.point) for c in kept] == [(2, (808.0, 586.0)), (2, (770.0, 588.0)), (3, (795.0, 590.0))]
    assert _merge_close([flank, Contact(node=2, point=(808.0, 586.0), head=False, thickness=1.2)], 15.0) == [
        Contact(node=2, point=(808.0, 586.0), head=False, thickness=1.2),
        flank,
    ]


def test_a_reading_with_a_plain_arrowhead_beats_the_reverse_guess():
    import numpy as np

    from flowpath.vision import connectors as C

    maps = C._Maps(
        ink=np.zeros((10, 10), np.uint8),
        zone=np.zeros((10, 10), np.int32),
        label=np.zeros((10, 10), np.int32),
        dist=np.zeros((10, 10), np.float32),
    )
    contacts = [
        C.Contact(node=0, point=(5.0, 100.0), head=True, thickness=1.5),  # the arrowhead at node 0
        C.Contact(node=1, point=(5.0, 300.0), head=False, thickness=1.1),  # the tail at node 1
        C.Contact(node=0, point=(25.0, 100.0), head=False, thickness=0.6),  # a sliver of the head
    ]
    walks = {0: (1, [(5.0, 100.0), (5.0, 300.0)], set()), 2: (1, [(25.0, 100.0), (5.0, 300.0)], set())}
    real_walk = C.walk_from
    try:
        C.walk_from = lambda maps, c, *a, **k: walks.get(contacts.index(c))
        traces = C.trace_edges(maps, contacts, stroke=4)
    finally:
        C.walk_from = real_walk
    # read from the sliver, the tail has twice its ink and looks like the head: 0 -> 1, with more contrast
    assert [(t.source, t.target) for t in traces] == [(1, 0)]
    assert traces[0].sure


def test_a_line_that_turns_round_a_label_box_corner_leaves_by_its_side():
    """A curve runs into an edge label's box at the bottom, beside the corner, and out of its right side
    just above: the way out is the other piece of ink at the box, however near the way in, and not a
    speck of the box's rim on the far side."""
    import math

    import numpy as np

    from flowpath.vision import connectors as C
    from flowpath.vision import walk as W

    ink = np.zeros((120, 120), np.uint8)
    label = np.zeros((120, 120), np.int32)
    ink[40:80, 40:80] = 1
    label[40:80, 40:80] = 1
    ink[80:110, 73:76] = 1  # the line coming up into the box
    ink[66:69, 80:110] = 1  # and leaving it to the right
    ink[55, 38] = 1  # one antialiased pixel of the box's rim
    maps = C._Maps(ink=ink, zone=np.zeros_like(label), label=label, dist=np.zeros((120, 120), np.float32))
    maps.label_boxes = [(40, 40, 80, 80)]
    out = W._label_exit(maps, 0, (74.0, 84.0), -math.pi / 2)
    assert out is not None
    (x, y), heading = out
    assert 80 <= x <= 83 and 66 <= y <= 69
    assert abs(heading) < 0.6  # on its way right


def _line(a: int, b: int, **kw):
    from flowpath.vision.connectors import Trace

    return Trace(a, b, [(0.0, 50.0 * a), (0.0, 50.0 * b)], **kw)


def test_a_guessed_loop_back_turns_round_where_the_flow_left_a_dead_end_or_a_one_way_decision():
    from flowpath.vision.connectors import settle_by_structure

    # Start -> Read -> Work -> Done? ; Done? -> Read is a loop back read downwards (no head seen)
    to_decision = [_line(0, 1), _line(1, 2), _line(2, 3), _line(1, 3, sure=False), _line(3, 4)]
    out = settle_by_structure(to_decision, decisions={3}, labelled={3, 4})
    assert [(t.source, t.target) for t in out] == [(0, 1), (1, 2), (2, 3), (3, 1), (3, 4)]
    assert out[3].polyline == to_decision[3].polyline[::-1]
    # Start -> Read -> Done? -> Increment ; Increment -> Read read downwards leaves "Increment" a dead end
    dead_end = [_line(0, 1), _line(1, 2), _line(2, 3), _line(2, 4), _line(1, 3, sure=False)]
    out = settle_by_structure(dead_end, decisions={2}, labelled={2, 3})
    assert (out[4].source, out[4].target) == (3, 1)


def test_structure_leaves_guesses_alone_that_a_turn_would_not_mend():
    from flowpath.vision.connectors import settle_by_structure

    # the guess into the chart's last node is right: turned, the end would lose its only way in
    chain = [_line(0, 1), _line(1, 2), _line(2, 3, sure=False)]
    assert [(t.source, t.target) for t in settle_by_structure(chain, decisions=set())] == [(0, 1), (1, 2), (2, 3)]
    # a connector with a plain head is not turned to mend one fault ("Increment" left a dead end) ...
    seen = [_line(0, 1), _line(1, 2), _line(2, 3), _line(2, 4), _line(1, 3)]
    assert settle_by_structure(seen, decisions=set()) == seen
    # ... but is where the turn mends two: a decision's branch read into it, label and all (a diamond's
    # tip passed for an arrowhead)
    tip = [_line(0, 1), _line(1, 2), _line(3, 2), _line(2, 4)]
    out = settle_by_structure(tip, decisions={2}, labelled={2, 3})
    assert [(t.source, t.target) for t in out] == [(0, 1), (1, 2), (2, 3), (2, 4)]
    # nor is a connector drawn both ways
    both = [_line(0, 1), _line(1, 2, sure=False), _line(2, 1), _line(2, 3)]
    assert settle_by_structure(both, decisions={2}) == both

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

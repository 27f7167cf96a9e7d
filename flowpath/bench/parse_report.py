"""The report folder of ``flowpath eval-parse``: ``report.md``, ``scores.jsonl``, ``summary.json`` and the parses of
the worst charts drawn on their images (``overlays/``)."""

from __future__ import annotations

import json
from pathlib import Path

from flowpath.bench.parse_eval import ChartScore, GoldChart, ParseSummary, markdown_report
from graphsolvers.cli_support import write_atomic
from graphsolvers.graph import Graph

__all__ = ["WORST_CHARTS", "write_parse_report"]

WORST_CHARTS = 15
"""Charts whose parse is drawn in the report (lowest node + edge F1): enough to see the failure modes."""


def write_parse_report(
    folder: Path, summary: ParseSummary, scores: list[ChartScore], *, charts: list[GoldChart], graphs: dict[str, Graph]
) -> Path:
    """Write the report of a parser evaluation into ``folder`` (each file atomically) and return the folder.

    ``graphs`` holds the parsed graph of each chart key that parsed; the worst :data:`WORST_CHARTS` of those are
    drawn on their images.
    """
    import cv2

    from flowpath.vision import load_image
    from flowpath.vision.overlay import draw_overlay

    overlays: dict[str, str] = {}
    worst = sorted(scores, key=lambda c: (c.edge_f1 + c.node_f1, c.key))[:WORST_CHARTS]
    byname = {c.key: c for c in charts}
    for c in worst:
        if c.key in graphs:
            img = draw_overlay(load_image(byname[c.key].image), graphs[c.key])
            ok, png = cv2.imencode(".png", img)
            if ok:
                write_atomic(folder / "overlays" / f"{c.key}.png", png.tobytes())
                overlays[c.key] = f"overlays/{c.key}.png"
    write_atomic(folder / "report.md", markdown_report(summary, scores, overlays=overlays))
    rows = [json.dumps({**c.__dict__, "node_f1": c.node_f1, "edge_f1": c.edge_f1}) for c in scores]
    write_atomic(folder / "scores.jsonl", "\n".join(rows) + "\n")
    write_atomic(folder / "summary.json", summary.model_dump_json(indent=2))
    return folder

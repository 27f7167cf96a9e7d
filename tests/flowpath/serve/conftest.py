"""Shared pieces of the server tests: one engine (so the sample chart is parsed once), small drawn charts."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from flowpath.serve.engine import ChartEngine
from flowpath.serve.settings import ServeSettings

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "bench_data" / "samples" / "order_fulfilment.png"
SAMPLE_MERMAID = REPO / "bench_data" / "samples" / "order_fulfilment.mmd"
QUESTION = "What happens when the card payment is declined?"
ANSWER = "The customer is emailed to update the payment details, and the card is charged again."
SECRET = "sk-live-0123456789abcdefSECRET"


def drawn_chart(seed: int) -> bytes:
    """PNG bytes of a small two-box chart with an arrow; ``seed`` moves it, so each seed is a new image to parse."""
    shift = seed % 40
    img = np.full((220, 200, 3), 255, np.uint8)
    cv2.rectangle(img, (30 + shift, 20), (170, 70), (0, 0, 0), 2)
    cv2.rectangle(img, (30 + shift, 140), (170, 190), (0, 0, 0), 2)
    cv2.putText(img, "Start", (60 + shift, 55), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    cv2.putText(img, "Ship", (60 + shift, 175), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    x = 100 + shift // 2
    cv2.line(img, (x, 71), (x, 128), (0, 0, 0), 2)
    cv2.fillConvexPoly(img, np.array([[x - 8, 126], [x + 8, 126], [x, 139]]), (0, 0, 0))
    ok, png = cv2.imencode(".png", img)
    assert ok
    return png.tobytes()


@pytest.fixture(scope="session")
def serve_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tool root of the test servers: the sample chart's Mermaid, a file that is not a graph, a secret, and a
    symbolic link to a graph outside the root."""
    root = tmp_path_factory.mktemp("serve-root")
    (root / "chart.mmd").write_text(SAMPLE_MERMAID.read_text(encoding="utf-8"), encoding="utf-8")
    (root / "notes.mmd").write_text(f"{SECRET}\nnot a flowchart\n", encoding="utf-8")
    (root / "sample.png").write_bytes(SAMPLE.read_bytes())
    outside = tmp_path_factory.mktemp("outside-the-root") / "secret.mmd"
    outside.write_text(f"flowchart TD\n  A[{SECRET}] --> B[x]\n", encoding="utf-8")
    (root / "link.mmd").symlink_to(outside)  # inside the root, pointing out of it
    (root / "link.png").symlink_to(outside.with_suffix(".png"))
    return root


@pytest.fixture(scope="session")
def engine(serve_root: Path) -> Iterator[ChartEngine]:
    """One engine for the tests that do not need their own limits: parses in a thread, cache shared."""
    work = ChartEngine(ServeSettings(root=serve_root, executor="thread", warm=False))
    work.warm()  # as the server's start-up does: the first OCR model build (a minute on a loaded machine) is
    # then outside any request's 60 s limit
    yield work
    work.close()

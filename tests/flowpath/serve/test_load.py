"""A bounded load test on loopback (issue 27): 16 concurrent clients × 10 requests against a real
``flowpath serve`` process; every answer is 200, 429 or 503, and the server is alive afterwards."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from flowpath.serve.bench import concurrent_load, serve_process

from .conftest import ANSWER, QUESTION, drawn_chart

pytestmark = pytest.mark.slow

CLIENTS = 16
REQUESTS = 10
MERMAID = "flowchart TD\n  A[Start] --> B{Paid?}\n  B -->|Yes| C[Ship]\n  B -->|No| D[Remind the customer]"


def _mixed_request(client: httpx.Client, i: int) -> tuple[int, float]:
    """Every other request uploads one of four drawn charts (parsed in the worker, then cached); the rest
    attribute in Mermaid text."""
    data = {"question": QUESTION, "answer": ANSWER}
    if i % 2:
        r = client.post("/v1/attribute", data={**data, "graph": MERMAID})
    else:
        r = client.post("/v1/attribute", data=data, files={"image": ("c.png", drawn_chart(10 + i % 4))})
    return r.status_code, r.elapsed.total_seconds()


def test_16_concurrent_clients_get_only_200_429_503_and_the_server_lives(serve_root: Path) -> None:
    with serve_process(serve_root, workers=1) as server:
        load = concurrent_load(server, _mixed_request, clients=CLIENTS, requests=REQUESTS)
        assert sum(load.statuses.values()) == CLIENTS * REQUESTS
        assert set(load.statuses) <= {200, 429, 503}, load.statuses
        assert load.statuses[200] > 0
        assert httpx.get(server.url + "/healthz", timeout=10).json() == {"status": "ok"}
        assert server.process.poll() is None
    assert server.process.returncode is not None  # stopped with the block, as by Ctrl-C

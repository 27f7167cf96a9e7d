"""Benchmark of ``flowpath serve`` on loopback: a new chart, a cached chart, 16 concurrent clients.

Starts a real server (``python -m flowpath serve``, its own process and parse workers), times
``POST /v1/attribute`` from a client in this process and prints a Markdown table. Run::

    python -m flowpath.serve.bench [--workers 1] [--charts IMG ...] [--repeat 20] [--clients 16 --requests 10]

The new-chart figure uploads each chart of ``--charts`` once (default: the project's own sample and its seven
hard-look charts), so every request parses; the cached figure repeats the sample chart; the concurrent figure
has ``--clients`` threads each send ``--requests`` attributions of the sample chart at once, and samples the
resident memory of the server and all its worker processes meanwhile.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

__all__ = ["LoadResult", "RunningServer", "attribute_request", "concurrent_load", "percentile", "serve_process"]

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "bench_data" / "samples" / "order_fulfilment.png"
DEFAULT_CHARTS = (SAMPLE, *sorted((REPO / "bench_data" / "looks" / "images").glob("*/chart.*")))
QUESTION = "What happens when the card payment is declined?"
ANSWER = "The customer is emailed to update the payment details, and the card is charged again."
START_TIMEOUT_S = 300.0
"""Longest wait for a new server to answer ``/healthz`` (it loads OCR, MiniLM and the scorer first)."""
CLIENT_TIMEOUT_S = 120.0
"""A client's read timeout: longer than the server's own 60 s limit, so the server's 504 is what is seen."""
RSS_EVERY_S = 0.2


@dataclass
class RunningServer:
    """A server process started by :func:`serve_process`."""

    url: str
    process: subprocess.Popen

    def rss_bytes(self) -> int:
        """Resident memory of the server and every process below it (parse workers, the fork server)."""
        import psutil

        root = psutil.Process(self.process.pid)
        total = 0
        for proc in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += proc.memory_info().rss
        return total


@contextlib.contextmanager
def serve_process(root: Path, *, workers: int = 1, extra_env: dict[str, str] | None = None) -> Iterator[RunningServer]:
    """``python -m flowpath serve`` on a free loopback port, until the block ends (then interrupted, as Ctrl-C)."""
    port = _free_port()
    cmd = [sys.executable, "-m", "flowpath", "-q", "serve", "--port", str(port), "--root", str(root)]
    with tempfile.TemporaryFile("w+") as logs:  # a file, not a pipe: the access log must never block the server
        process = subprocess.Popen(
            [*cmd, "--workers", str(workers)],
            env={**os.environ, **(extra_env or {})},
            stdout=subprocess.DEVNULL,
            stderr=logs,
        )
        server = RunningServer(f"http://127.0.0.1:{port}", process)
        try:
            _wait_healthy(server, logs)
            yield server
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(server: RunningServer, logs: IO[str]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            logs.seek(0)
            raise RuntimeError(f"the server exited with {server.process.returncode}: {logs.read()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + "/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"the server did not answer /healthz within {START_TIMEOUT_S:g} s")


def attribute_request(client: httpx.Client, image: Path | bytes) -> tuple[int, float]:
    """``POST /v1/attribute`` of the bench question on ``image``: (status, seconds)."""
    data = image.read_bytes() if isinstance(image, Path) else image
    started = time.perf_counter()
    r = client.post(
        "/v1/attribute",
        data={"question": QUESTION, "answer": ANSWER},
        files={"image": ("chart.png", data, "application/octet-stream")},
    )
    return r.status_code, time.perf_counter() - started


@dataclass
class LoadResult:
    """What :func:`concurrent_load` saw: status counts, latencies of the 200s, peak memory, wall time."""

    statuses: Counter = field(default_factory=Counter)
    ok_seconds: list[float] = field(default_factory=list)
    peak_rss_bytes: int = 0
    wall_s: float = 0.0


def concurrent_load(
    server: RunningServer, request: Callable[[httpx.Client, int], tuple[int, float]], *, clients: int, requests: int
) -> LoadResult:
    """``clients`` threads, each sending ``requests`` requests (``request(client, i)``) as fast as answered;
    the server's memory is sampled meanwhile."""
    result = LoadResult()
    lock = threading.Lock()
    done = threading.Event()

    def one_client(k: int) -> None:
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client:
            for i in range(requests):
                status, seconds = request(client, k * requests + i)
                with lock:
                    result.statuses[status] += 1
                    if status == 200:
                        result.ok_seconds.append(seconds)

    def sample_rss() -> None:
        while not done.wait(RSS_EVERY_S):
            result.peak_rss_bytes = max(result.peak_rss_bytes, server.rss_bytes())

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one_client, range(clients)))
    result.wall_s = time.perf_counter() - started
    done.set()
    sampler.join()
    result.peak_rss_bytes = max(result.peak_rss_bytes, server.rss_bytes())
    return result


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, interpolated.

    Examples
    --------
    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    """
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1] if q < 100 else max(values)


def run(args: argparse.Namespace) -> str:
    """Run the three measurements on a new server; the Markdown table."""
    rows = []
    with serve_process(REPO, workers=args.workers) as server:
        startup_rss = server.rss_bytes()
        with httpx.Client(base_url=server.url, timeout=CLIENT_TIMEOUT_S) as client:
            new = [attribute_request(client, chart) for chart in args.charts]
            attribute_request(client, SAMPLE)  # in the cache from here on
            cached = [attribute_request(client, SAMPLE) for _ in range(args.repeat)]
        for name, target, timed in (
            (f"new chart image ({len(new)} charts, each once)", "p50 ≤ 1.5 s", new),
            (f"cached chart ({len(cached)} requests)", "p50 ≤ 100 ms", cached),
        ):
            secs = [s for status, s in timed if status == 200]
            statuses = dict(Counter(status for status, _ in timed))
            rows.append((name, target, _times(secs), f"statuses {statuses}"))
        load = concurrent_load(
            server, lambda c, i: attribute_request(c, SAMPLE), clients=args.clients, requests=args.requests
        )
        alive = httpx.get(server.url + "/healthz", timeout=10).status_code == 200
        rows.append(
            (
                f"{args.clients} concurrent clients × {args.requests} requests (cached chart)",
                "only 200/429/503; RSS ≤ 1.5 GB",
                _times(load.ok_seconds),
                f"statuses {dict(load.statuses)}; peak RSS {load.peak_rss_bytes / 2**30:.2f} GiB (at start "
                f"{startup_rss / 2**30:.2f}); {load.wall_s:.1f} s wall; alive after: {alive}",
            )
        )
    head = f"| figure ({args.workers} parse worker{'s' * (args.workers > 1)}) | target | p50 / p95 | notes |"
    lines = [head, "|---|---|---|---|", *(f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows)]
    return "\n".join(lines)


def _times(secs: list[float]) -> str:
    if not secs:
        return "no 200 answers"
    return f"{percentile(secs, 50) * 1000:.0f} ms / {percentile(secs, 95) * 1000:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m flowpath.serve.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1, help="parse processes of the server (default 1)")
    parser.add_argument("--charts", type=Path, nargs="+", default=list(DEFAULT_CHARTS), help="new charts to time")
    parser.add_argument("--repeat", type=int, default=20, help="requests on the cached chart (default 20)")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients (default 16)")
    parser.add_argument("--requests", type=int, default=10, help="requests per client (default 10)")
    args = parser.parse_args(argv)
    print(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())

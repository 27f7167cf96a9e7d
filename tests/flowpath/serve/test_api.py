"""The HTTP API (issue 27): every endpoint and every error, through FastAPI's TestClient or raw ASGI calls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import struct
import time
import zlib
from collections.abc import Iterator

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from flowpath.agent.graph import build_agent
from flowpath.cli import main
from flowpath.serve import ServeSettings, create_app
from flowpath.serve.engine import ChartEngine
from flowpath.serve.settings import MAX_UPLOAD_BYTES
from flowpath.tools import list_tools
from graphsolvers.mermaid import parse_mermaid
from graphsolvers.security import MAX_TOOL_ARGS_BYTES

from .conftest import ANSWER, QUESTION, SAMPLE, SAMPLE_MERMAID, SECRET, drawn_chart

ALLOWED_TOOLS_BODY = {"graph": "flowchart TD\n  A[Start] --> B[Stop]"}


@pytest.fixture(scope="module")
def client(engine: ChartEngine) -> Iterator[TestClient]:
    with TestClient(create_app(engine.settings, engine=engine)) as c:
        yield c


def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` pixels (its one data chunk is empty)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + b"IEND"


def _ask(**extra) -> dict:
    return {"question": QUESTION, "answer": ANSWER, **extra}


# ---------------------------------------------------------------------- endpoints
def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


def test_parse_returns_the_library_graph_then_the_cached_one(client: TestClient, engine: ChartEngine) -> None:
    from flowpath.vision import parse_image

    first = client.post("/v1/parse", files={"image": ("c.png", drawn_chart(1), "image/png")})
    assert first.status_code == 200, first.text
    body = first.json()
    arr = cv2.imdecode(np.frombuffer(drawn_chart(1), np.uint8), cv2.IMREAD_COLOR)
    assert body["graph"] == json.loads(parse_image(arr).to_json())
    assert body["mermaid"].startswith("flowchart") and body["image_size"] == [200, 220]
    assert not body["timings"]["cached"] and body["timings"]["parse_s"] > 0
    again = client.post("/v1/parse", files={"image": ("other-name.png", drawn_chart(1), "image/png")}).json()
    assert again["timings"] == {**again["timings"], "cached": True, "parse_s": 0.0}
    assert again["graph"] == body["graph"] and again["sha256"] == body["sha256"]


def test_attribute_gives_the_nodes_of_flowpath_attribute_json(client: TestClient, capsys) -> None:
    assert main(["attribute", str(SAMPLE), "-q", QUESTION, "-a", ANSWER, "--json"]) == 0
    cli = json.loads(capsys.readouterr().out)
    r = client.post("/v1/attribute", data=_ask(), files={"image": ("chart.png", SAMPLE.read_bytes(), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["nodes"] == cli["nodes"] and len(body["nodes"]) >= 2
    assert {k: body[k] for k in ("edges", "reason", "intent", "warnings")} == {
        k: cli[k] for k in ("edges", "reason", "intent", "warnings")
    }
    assert set(body["timings"]) == {"parse_s", "attribute_s", "total_s", "cached"}


def test_attribute_on_mermaid_text_a_file_under_the_root_and_a_handle(client: TestClient) -> None:
    text = SAMPLE_MERMAID.read_text(encoding="utf-8")
    expected = build_agent(policy="symbolic").attribute(parse_mermaid(text), QUESTION, ANSWER)
    handle = client.post("/v1/tools/load_graph", json={"source": "chart.mmd"}).json()["handle"]
    for graph in (text, "chart.mmd", handle):
        r = client.post("/v1/attribute", data=_ask(graph=graph, policy="symbolic"))
        assert r.status_code == 200, r.text
        assert [n["id"] for n in r.json()["nodes"]] == expected.node_ids
        assert r.json()["timings"]["parse_s"] == 0.0


def test_overlay_is_a_png_of_the_chart(client: TestClient) -> None:
    r = client.post("/v1/attribute/overlay", data=_ask(), files={"image": ("c.png", SAMPLE.read_bytes())})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    img = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
    chart = cv2.imread(str(SAMPLE))
    assert img.shape == chart.shape and (img != chart).any()  # the same picture, with the attribution drawn


def test_tools_are_the_registry_and_run_in_the_server_session(client: TestClient) -> None:
    listed = client.get("/v1/tools").json()
    assert [t["name"] for t in listed] == [t.name for t in list_tools()]
    assert listed[0]["input_schema"] == list_tools()[0].input_schema()
    assert client.post("/v1/tools/end_nodes", json=ALLOWED_TOOLS_BODY).json() == {"nodes": ["B"]}
    parsed = client.post("/v1/tools/parse_flowchart", json={"image": "sample.png"})
    assert parsed.status_code == 200 and parsed.json()["summary"]["n_nodes"] >= 10


def test_the_page_and_its_assets_are_served_offline(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and 'id="ask"' in page.text
    for asset in ("app.js", "style.css", "example.png"):
        assert client.get(f"/static/{asset}").status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200
    for text in (page.text, docs.text, client.get("/static/app.js").text, client.get("/static/style.css").text):
        links = re.findall(r'(?:src|href)="([^"]*)"|url\(([^)]*)\)|fetch\("([^"]*)"', text)
        assert all(u.startswith("/") for link in links for u in link if u)  # no CDN: everything from this server
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text)  # (the SVG namespace is a name, not a URL)
    spec = client.get("/openapi.json").json()
    assert {"/healthz", "/v1/parse", "/v1/attribute", "/v1/attribute/overlay", "/v1/tools", "/v1/tools/{name}"} <= set(
        spec["paths"]
    )


# ---------------------------------------------------------------------- errors
def test_413_from_content_length_before_the_body_is_read(engine: ChartEngine) -> None:
    app = create_app(engine.settings, engine=engine)
    reads = []

    async def receive() -> dict:
        reads.append(1)
        return {"type": "http.request", "body": b"", "more_body": False}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/attribute",
        "headers": [(b"content-length", str(MAX_UPLOAD_BYTES + 1).encode()), (b"content-type", b"multipart/form-data")],
        "query_string": b"",
    }
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413 and not reads
    assert json.loads(sent[1]["body"])["detail"] == f"the request body is over the cap of {MAX_UPLOAD_BYTES:,} bytes"


def test_413_while_streaming_a_body_without_content_length(engine: ChartEngine) -> None:
    settings = engine.settings.model_copy(update={"max_upload_bytes": 50_000})
    with TestClient(create_app(settings, engine=engine)) as small:
        head = b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n'
        chunks = iter([head] + [b"0" * 10_000] * 20)
        r = small.post("/v1/parse", content=chunks, headers={"content-type": "multipart/form-data; boundary=x"})
        assert "content-length" not in {k.lower() for k in r.request.headers}
        assert r.status_code == 413 and "over the cap of 50,000 bytes" in r.json()["detail"]
        too_big = small.post("/v1/parse", files={"image": ("a.png", b"0" * 60_000)})  # with Content-Length
        assert too_big.status_code == 413


def test_the_default_upload_cap_is_20_mib(client: TestClient) -> None:
    assert MAX_UPLOAD_BYTES == 20 * 1024 * 1024
    r = client.post("/v1/parse", files={"image": ("big.png", b"\x89PNG" + bytes(MAX_UPLOAD_BYTES))})
    assert r.status_code == 413


def test_tool_calls_and_graph_text_are_capped_at_the_tool_argument_cap(client: TestClient, engine) -> None:
    body = json.dumps({"graph": "x" * MAX_TOOL_ARGS_BYTES})
    r = client.post("/v1/tools/end_nodes", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 413 and f"{MAX_TOOL_ARGS_BYTES:,}" in r.json()["detail"]
    settings = engine.settings.model_copy(update={"max_tool_args_bytes": 1000})
    with TestClient(create_app(settings)) as small:
        text = small.post("/v1/attribute", data=_ask(graph="flowchart TD\n" + "  A --> B\n" * 200))
        assert text.status_code == 422 and "over the cap MAX_TOOL_ARGS_BYTES = 1,000" in text.json()["detail"]


def test_422_over_the_pixel_limit_names_the_upload_not_the_server_path(client: TestClient) -> None:
    r = client.post("/v1/parse", files={"image": ("huge.png", _png_header(10_000, 10_000))})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("the uploaded image: image of 10000×10000") and "over the limit" in detail
    assert "/tmp" not in detail and "upload-" not in detail


@pytest.mark.parametrize(
    ("data", "words"),
    [(b"", "empty file"), (f"{SECRET} is not an image".encode(), "not an image"), (b"\x89PNG\r\n\x1a\n", "corrupt")],
)
def test_422_not_an_image_never_echoes_the_bytes(client: TestClient, data: bytes, words: str) -> None:
    r = client.post("/v1/attribute", data=_ask(), files={"image": ("x.png", data, "image/png")})
    assert r.status_code == 422 and words in r.json()["detail"] and SECRET not in r.text


def test_422_for_a_request_without_a_chart_or_with_two(client: TestClient) -> None:
    neither = client.post("/v1/attribute", data=_ask())
    both = client.post("/v1/attribute", data=_ask(graph="chart.mmd"), files={"image": ("c.png", drawn_chart(1))})
    for r in (neither, both):
        assert r.status_code == 422 and "exactly one of the fields image" in r.json()["detail"]


def test_422_for_invalid_fields_names_the_field_not_the_value(client: TestClient) -> None:
    missing = client.post("/v1/attribute", data={"graph": "chart.mmd", "question": SECRET})
    assert missing.status_code == 422 and missing.json()["detail"] == "invalid request: body.answer: Field required"
    policy = client.post("/v1/attribute", data=_ask(graph="chart.mmd", policy=SECRET))
    assert policy.status_code == 422 and "body.policy" in policy.json()["detail"] and SECRET not in policy.text
    empty = client.post("/v1/attribute", data=_ask(graph="chart.mmd", answer="   "))
    assert empty.status_code == 422 and "the answer is empty" in empty.json()["detail"]


def test_file_contents_are_never_echoed(client: TestClient) -> None:
    r = client.post("/v1/attribute", data=_ask(graph="notes.mmd"))
    assert r.status_code == 422 and SECRET not in r.text
    tool = client.post("/v1/tools/load_graph", json={"source": "notes.mmd"})
    assert tool.status_code == 422 and SECRET not in tool.text


@pytest.mark.parametrize(
    "path",
    [
        "../outside.mmd",
        "/etc/passwd.mmd",
        "sub/../../x.json",
        "link.mmd",
        pytest.param("a" * 300 + ".mmd", id="name-too-long"),
    ],
)
def test_403_for_a_file_outside_the_root(client: TestClient, path: str) -> None:
    for r in (
        client.post("/v1/attribute", data=_ask(graph=path)),
        client.post("/v1/tools/load_graph", json={"source": path}),
    ):
        assert r.status_code == 403 and "is not a path under the tool root" in r.json()["detail"]
        assert SECRET not in r.text
    image = client.post("/v1/tools/parse_flowchart", json={"image": path.replace(".mmd", ".png")})
    assert image.status_code == 403


def test_tool_errors(client: TestClient) -> None:
    unknown = client.post("/v1/tools/no_such_tool", json={})
    assert unknown.status_code == 404 and unknown.json()["detail"].startswith("unknown tool 'no_such_tool'")
    for body, words in (
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"[" * 5000, "nested deeper"),
        (json.dumps({"graph": "flowchart TD\n A-->B", "extra": SECRET}).encode(), "extra: Extra inputs"),
    ):
        r = client.post("/v1/tools/end_nodes", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422 and words in r.json()["detail"] and SECRET not in r.text, r.text


def test_504_when_a_request_takes_longer_than_the_limit(serve_root) -> None:
    settings = ServeSettings(root=serve_root, executor="thread", warm=False, request_timeout_s=0.01)
    with TestClient(create_app(settings)) as slow:
        r = slow.post("/v1/parse", files={"image": ("c.png", drawn_chart(2))})
        assert r.status_code == 504
        assert r.json()["detail"] == "the request took longer than the server's limit of 0.01 s"
        assert slow.get("/healthz").status_code == 200


def test_503_with_retry_after_when_the_queue_is_full(serve_root) -> None:
    settings = ServeSettings(root=serve_root, executor="thread", warm=False, workers=1, queue_per_worker=0)
    work = ChartEngine(settings)
    app = create_app(settings, engine=work)

    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as ac:
            first = asyncio.create_task(ac.post("/v1/parse", files={"image": ("a.png", drawn_chart(3))}))
            while work.parse_gate.busy == 0:
                await asyncio.sleep(0.005)
            refused = await ac.post("/v1/parse", files={"image": ("b.png", drawn_chart(4))})
            health = await ac.get("/healthz")  # answers while the chart is parsed
            return await first, refused, health

    try:
        first, refused, health = asyncio.run(scenario())
    finally:
        work.close()
    assert first.status_code == 200 and health.status_code == 200
    assert refused.status_code == 503 and refused.headers["retry-after"] == str(settings.retry_after_s)
    assert refused.json()["detail"].startswith("the server is busy")


def test_the_chart_cache_keeps_the_most_recently_used(serve_root) -> None:
    work = ChartEngine(ServeSettings(root=serve_root, executor="thread", warm=False, cache_charts=2))
    try:
        graphs = {k: parse_mermaid(f"flowchart TD\n  {k} --> Z") for k in "abc"}
        for key in "ab":
            work._remember(key, graphs[key])
        assert work.cached("a") is graphs["a"]  # now a is the most recent: b goes first
        work._remember("c", graphs["c"])
        assert work.cached("b") is None and work.cached("a") is graphs["a"] and work.cached("c") is graphs["c"]
    finally:
        work.close()


def test_cli_serve_refuses_bad_options_in_one_line(capsys, tmp_path) -> None:
    for argv, words in (
        (["serve", "--workers", "0"], "--workers: Input should be greater than or equal to 1"),
        (["serve", "--root", str(tmp_path / "missing")], "--root: not a folder"),
        (["serve", "--port", "70000"], "--port must be in 0..65535"),
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, err


@pytest.mark.slow
def test_a_parse_worker_killed_while_parsing_is_replaced(serve_root) -> None:
    """A killed parse process (the OOM killer, a crash in a decoder) broke the pool for good: every later parse
    answered 500 BrokenProcessPool. Now the request it was parsing gets 503 with Retry-After and later ones work."""
    settings = ServeSettings(root=serve_root, executor="process", warm=False, workers=1)
    work = ChartEngine(settings)
    app = create_app(settings, engine=work)

    async def scenario() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as ac:
            first = asyncio.create_task(ac.post("/v1/parse", files={"image": ("a.png", drawn_chart(5))}))
            while not work._parser._processes:  # the first parse in a new worker loads the OCR model: seconds
                await asyncio.sleep(0.01)
            for pid in list(work._parser._processes):  # the test plays the OOM killer
                os.kill(pid, signal.SIGKILL)
            killed = await first
            after = await ac.post("/v1/parse", files={"image": ("b.png", drawn_chart(6))})
            return killed, after, await ac.get("/healthz")

    try:
        killed, after, health = asyncio.run(scenario())
    finally:
        work.close()
    assert killed.status_code == 503 and killed.headers["retry-after"] == str(settings.retry_after_s)
    assert killed.json()["detail"].startswith("a chart parser stopped while parsing")
    assert after.status_code == 200, after.text
    assert health.status_code == 200 and work.parse_gate.busy == 0


def test_a_parse_pool_found_broken_is_replaced_before_the_next_parse(client: TestClient, engine: ChartEngine) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def fail() -> None:
        raise RuntimeError("this worker cannot start")

    broken = ThreadPoolExecutor(max_workers=1, initializer=fail)  # a pool broken the way a dead process breaks one
    with contextlib.suppress(Exception):
        broken.submit(int).result()
    working, engine._parser = engine._parser, broken
    try:
        r = client.post("/v1/parse", files={"image": ("c.png", drawn_chart(8))})
        assert r.status_code == 200, r.text
        assert engine._parser is not broken
    finally:
        engine._parser.shutdown(wait=False)
        engine._parser = working


def test_models_load_once_at_start_up(serve_root, monkeypatch: pytest.MonkeyPatch) -> None:
    import flowpath.agent.graph as agent_graph

    built: list[str] = []
    real = agent_graph.build_agent

    def counted(*args, **kwargs):
        built.append(kwargs.get("policy", "learned"))
        return real(*args, **kwargs)

    monkeypatch.setattr(agent_graph, "build_agent", counted)
    settings = ServeSettings(root=serve_root, executor="thread", warm=True)
    with TestClient(create_app(settings)) as warm:
        assert sorted(built) == ["learned", "symbolic"]  # before any request
        for policy in ("learned", "symbolic", "learned"):
            r = warm.post("/v1/attribute", data=_ask(graph="chart.mmd", policy=policy))
            assert r.status_code == 200, r.text
    assert sorted(built) == ["learned", "symbolic"]


def test_a_parse_that_outlives_its_timed_out_request_still_reads_the_upload(serve_root) -> None:
    """The request removed its upload on 504 while the parse still waited in the queue: the parse then failed
    (no such file), was not cached, and a request awaiting the same chart got that error."""
    settings = ServeSettings(root=serve_root, executor="thread", warm=False, workers=1, request_timeout_s=0.3)
    work = ChartEngine(settings)
    try:
        with TestClient(create_app(settings, engine=work)) as c:
            work._parser.submit(time.sleep, 1.0)  # the one worker is busy: the parse below waits in the queue
            chart = {"image": ("c.png", drawn_chart(9), "image/png")}
            assert c.post("/v1/parse", files=chart).status_code == 504
            waited = time.monotonic()
            while work.parse_gate.busy and time.monotonic() - waited < 60:
                time.sleep(0.05)
            again = c.post("/v1/parse", files=chart)
            assert again.status_code == 200 and again.json()["timings"]["cached"], again.text
            assert sorted(p.name for p in work.upload_dir.iterdir()) == []  # every copy removed
    finally:
        work.close()

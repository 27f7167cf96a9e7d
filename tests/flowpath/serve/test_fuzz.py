"""Schema-driven fuzz of the HTTP API (issue 27): requests drawn from the app's own OpenAPI document.

For every operation, Hypothesis draws the form fields, files, path parameters and JSON bodies its schema
declares (and damaged or wrong ones: mutated chart images, random bytes, paths out of the root, unknown tools).
Property: every answer is a documented status (200, 403, 404, 413, 422, 503), an error is JSON with a one-line
``detail``, and no answer quotes a file's content. A bounded number of examples under ``make test``;
``make fuzz`` runs many more (tests/fuzzing.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import event, given
from hypothesis import strategies as st

from flowpath.serve import create_app
from flowpath.serve.engine import ChartEngine
from flowpath.tools import list_tools
from tests.fuzzing import budget, mutated_bytes

from .conftest import SECRET, drawn_chart

pytestmark = [pytest.mark.slow, pytest.mark.fuzz]

DOCUMENTED = {200, 403, 404, 413, 422, 503}
MERMAID = "flowchart TD\n  A[Start] --> B{Paid?}\n  B -->|No| C[Remind]"
TEXTS = st.sampled_from(["chart.mmd", "notes.mmd", "../outside.mmd", "/etc/passwd", MERMAID, "{}", "", " "]) | st.text(
    max_size=60
)
IMAGES = mutated_bytes(drawn_chart(0)) | st.binary(max_size=80) | st.just(b"")
JSON_LEAVES = st.none() | st.booleans() | st.integers(-5, 5) | TEXTS
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)
TOOL_KEYS = st.sampled_from(["graph", "source", "image", "chart", "question", "answer", "node_id", "texts"])


@pytest.fixture(scope="module")
def client(engine: ChartEngine) -> Iterator[TestClient]:
    with TestClient(create_app(engine.settings, engine=engine), raise_server_exceptions=False) as c:
        yield c


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    return spec["components"]["schemas"][schema["$ref"].split("/")[-1]] if "$ref" in schema else schema


def _enum(prop: dict[str, Any]) -> list[Any] | None:
    for option in [prop, *prop.get("anyOf", [])]:
        if "enum" in option:
            return option["enum"]
    return None


@st.composite
def api_requests(draw: st.DrawFn, spec: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """One request to one operation of ``spec``: (method, url, keyword arguments of ``TestClient.request``)."""
    method, path, op = draw(st.sampled_from(_operations(spec)))
    if "{name}" in path:
        name = draw(st.sampled_from([t.name for t in list_tools()]) | st.text(min_size=1, max_size=12))
        path = path.replace("{name}", quote(name, safe=""))
    content = op.get("requestBody", {}).get("content", {})
    if "multipart/form-data" in content:
        schema = _resolve(spec, content["multipart/form-data"]["schema"])
        data, files = {}, {}
        for field, prop in schema["properties"].items():
            if field not in schema.get("required", []) and draw(st.booleans()):
                continue
            if "binary" in json.dumps(prop) or "contentMediaType" in json.dumps(prop):
                files[field] = ("chart.png", draw(IMAGES), "image/png")
            elif (enum := _enum(prop)) is not None:
                data[field] = draw(st.sampled_from(enum) | TEXTS)
            else:
                data[field] = draw(TEXTS)
        return method, path, {"data": data, "files": files or None}
    if "application/json" in content:
        body = draw(st.dictionaries(TOOL_KEYS | st.text(max_size=6), JSON_VALUES, max_size=4) | JSON_VALUES)
        return method, path, {"json": body}
    return method, path, {}


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()


def test_every_answer_is_documented_json_and_quotes_no_file(client: TestClient, spec: dict[str, Any]) -> None:
    @budget(40)
    @given(request=api_requests(spec))
    def check(request: tuple[str, str, dict[str, Any]]) -> None:
        method, url, kwargs = request
        r = client.request(method.upper(), url, **kwargs)
        event(f"{method.upper()} {url.split('/v1/tools/')[0]}: {r.status_code}")
        assert r.status_code in DOCUMENTED, (url, r.status_code, r.text[:300])
        assert SECRET not in r.text
        if r.status_code != 200:
            detail = r.json()["detail"]
            assert isinstance(detail, str) and detail and "\n" not in detail and "Traceback" not in detail

    check()

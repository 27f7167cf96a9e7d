"""Fuzzing flowpath's front doors (issue 25, item 7): the image reader and parser, and the tool layer.

Property: any input gives a valid result or a typed error (:class:`~flowpath.errors.FlowpathError` for images; any
:class:`~graphsolvers.errors.ToolkitError` from a tool call, ``isError`` over MCP, exit 2 and one stderr line from
``flowpath tools call``), never another exception, and a tool call never opens a file outside its session's root.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import mcp.client.stdio  # noqa: F401  here, not first under capsys: it binds sys.stderr as a default argument
import numpy as np
import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st
from PIL import Image

from flowpath.errors import FlowpathError, ImageError
from flowpath.tools.store import GraphStore
from flowpath.vision import MAX_PIXELS, load_image, parse_image
from graphsolvers.graph import Graph
from graphsolvers.mermaid import parse_mermaid
from graphsolvers.security import QUOTE_CHARS

from ..fuzzing import budget, expect_typed, mutated_bytes, typed_outcome
from ..graphsolvers.strategies import json_values
from .charts import lr_chart

pytestmark = pytest.mark.fuzz


# ---------------------------------------------------------------------- images
def _encoded(img: np.ndarray) -> dict[str, bytes]:
    """``img`` (BGR) in every format the front door accepts, as the files a user would hand over."""
    files = {ext: cv2.imencode(ext, img)[1].tobytes() for ext in (".png", ".jpg", ".bmp", ".tiff", ".webp")}
    rgb = Image.fromarray(np.ascontiguousarray(img[:, :, ::-1]))
    for name, fmt, options in (
        (".gif", "GIF", {}),
        ("-palette.bmp", "BMP", {}),
        ("-packbits.tiff", "TIFF", {"compression": "packbits"}),
        ("-grey.png", "PNG", {}),
    ):
        buf = io.BytesIO()
        (rgb.convert("L").convert("P") if "palette" in name else rgb.convert("L") if "grey" in name else rgb).save(
            buf, fmt, **options
        )
        files[name] = buf.getvalue()
    return files


TINY = np.full((40, 48, 3), 255, np.uint8)
cv2.rectangle(TINY, (6, 6), (41, 33), (40, 40, 40), 2)
TINY_FILES = _encoded(TINY)
CHART = cv2.resize(lr_chart(), (380, 100), interpolation=cv2.INTER_AREA)
CHART_FILES = {ext: data for ext, data in _encoded(CHART).items() if ext in (".png", ".jpg", ".bmp")}
SIGNATURES = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"RIFF\x00\x00\x00\x00WEBPVP8 ", b"BM", b"GIF89a"]
SIGNATURES += [b"II*\x00", b"MM\x00*"]


def _check_image(path: Path, data: bytes, max_pixels: int) -> None:
    """The front door's property: a BGR ``uint8`` array within the limits, or an ImageError."""
    path.write_bytes(data)
    arr = expect_typed(FlowpathError, load_image, path, max_pixels=max_pixels)
    if arr is not None:
        assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3, (arr.dtype, arr.shape)
        assert min(arr.shape[:2]) >= 16 and arr.shape[0] * arr.shape[1] <= max_pixels, arr.shape


@budget(80)
@given(st.sampled_from(SIGNATURES), st.binary(max_size=600))
@example(b"BM", b"\x00" * 60)
@example(b"\x89PNG\r\n\x1a\n", b"\x00\x00\x00\rIHDR" + b"\xff" * 8)
def test_random_bytes_behind_an_image_signature(tmp_path_factory, signature: bytes, body: bytes) -> None:
    _check_image(tmp_path_factory.mktemp("img") / "x.img", signature + body, 40_000_000)


@budget(150)
@given(
    st.sampled_from(sorted(TINY_FILES)).flatmap(lambda ext: st.tuples(st.just(ext), mutated_bytes(TINY_FILES[ext]))),
    st.sampled_from([40_000_000, 2_000, 1_000]),
)
def test_damaged_real_images_are_read_or_refused(tmp_path_factory, damaged: tuple[str, bytes], max_pixels: int) -> None:
    """Truncations and byte flips of small real PNG/JPEG/BMP/TIFF/WebP/GIF files (headers included), with pixel
    limits above and below the image's 1,920 pixels: never an image over the limit, never an untyped error."""
    ext, data = damaged
    _check_image(tmp_path_factory.mktemp("img") / f"x{ext}", data, max_pixels)


@pytest.mark.parametrize(("width", "height"), [(2**20 + 1, 16), (16, 2**20 + 1), (2**21, 19)])
def test_bmp_sides_over_the_decoders_limit_are_an_image_error(tmp_path: Path, width: int, height: int) -> None:
    data = bytearray(TINY_FILES[".bmp"])
    data[18:26] = struct.pack("<ii", width, height)  # BITMAPINFOHEADER: width, height
    (tmp_path / "wide.bmp").write_bytes(data)
    assert width * height <= MAX_PIXELS  # within the pixel limit: only the decoder's own limit was in the way
    with pytest.raises(ImageError, match="has a side over the limit of 1,048,576"):  # was cv2.error
        load_image(tmp_path / "wide.bmp")


def test_the_undamaged_images_are_read_as_drawn(tmp_path: Path) -> None:
    """The fuzzed images are valid to begin with (so the damage, not the encoding, is what the fuzz tests try)."""
    for ext, data in TINY_FILES.items():
        (tmp_path / f"x{ext}").write_bytes(data)
        arr = load_image(tmp_path / f"x{ext}")
        assert arr.shape == TINY.shape, ext
        tolerance = 40 if ext in (".jpg", ".webp", "-palette.bmp", ".gif", "-grey.png") else 0
        assert np.abs(arr.astype(int) - TINY).max() <= tolerance, ext


@pytest.mark.slow
@budget(25)
@given(st.sampled_from(sorted(CHART_FILES)).flatmap(lambda e: st.tuples(st.just(e), mutated_bytes(CHART_FILES[e]))))
def test_damaged_chart_images_parse_or_are_refused(tmp_path_factory, damaged: tuple[str, bytes]) -> None:
    """``parse_image`` end to end (OCR included) on a damaged three-box chart: a graph or a FlowpathError."""
    ext, data = damaged
    path = tmp_path_factory.mktemp("chart") / f"chart{ext}"
    path.write_bytes(data)
    graph = expect_typed(FlowpathError, parse_image, path)
    if graph is not None:
        assert isinstance(graph, Graph) and graph.nodes
        assert Graph.from_json(graph.to_json()) == graph


# ---------------------------------------------------------------------- tool calls
SECRET = "SECRETfuzz9c1e"
"""Written only into files outside the tool root: it must never come back from a tool call."""

_OPENED: list[str] | None = None  # while a call is watched: every path it opens or lists


def _audit(event: str, args: tuple) -> None:
    if _OPENED is not None and event in ("open", "os.listdir", "os.scandir") and args:
        path = args[0]
        if isinstance(path, str | bytes | os.PathLike):
            _OPENED.append(os.fsdecode(path))


sys.addaudithook(_audit)  # an audit hook stays for the life of the process; it records nothing unless watched


@contextlib.contextmanager
def _watch_opens() -> Iterator[list[str]]:
    global _OPENED
    _OPENED = opened = []
    try:
        yield opened
    finally:
        _OPENED = None


def _recordings(neurons: list[str]):
    from connectome.synthetic import planted_dynamic_recordings

    rec, _ = planted_dynamic_recordings(n_neurons=len(neurons), n_animals=2, n_epochs=2, epoch_s=20.0, seed=0)
    rec.neurons = neurons
    return rec


CHART_MMD = "flowchart TD\n  A([Start]) --> B{Paid?}\n  B -->|Yes| C[Ship]\n  B -->|No| D[/Remind/]\n  D --> B\n"
CHART_GRAPH = parse_mermaid(CHART_MMD)
HANDLE = GraphStore().put(CHART_GRAPH)
"""The handle of ``chart.mmd`` (a content hash: the same in every store)."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``base/root`` (the tool root: charts, graphs, an image, recordings, a connectome result, links out) beside
    ``base/outside`` and ``base/root-evil``, whose files hold :data:`SECRET`; a session on the root that holds
    :data:`HANDLE`."""
    from connectome.io import save_recordings
    from connectome.pipeline import run_pipeline
    from flowpath.tools import ToolSession

    base = tmp_path_factory.mktemp("fuzz-tools").resolve()
    root, outside, evil = base / "root", base / "outside", base / "root-evil"
    for folder in (root, outside, evil, root / "sub"):
        folder.mkdir()
    (root / "chart.mmd").write_text(CHART_MMD)
    (root / "sub" / "chart.mermaid").write_text(CHART_MMD)
    (root / "graph.json").write_text(CHART_GRAPH.to_json())
    solvable = Graph.from_dict(
        {
            "nodes": [{"id": i, "attrs": {"bias": b}} for i, b in (("A", 1.0), ("B", 0.5), ("C", 0.0))],
            "edges": [{"source": s, "target": t} for s, t in (("A", "B"), ("B", "C"), ("C", "A"))],
        }
    )
    (root / "solvable.json").write_text(solvable.to_json())
    (root / "chart.png").write_bytes(CHART_FILES[".png"])
    (root / "notes.txt").write_text("not a graph")
    rec = _recordings(["AVAL", "AVAR", "RIML", "RIMR", "SMDV", "SMDD"])
    save_recordings(root / "rec.npz", rec)
    run = run_pipeline(rec, window_s=10, stride_s=5, rank=2, method="leiden", n_restarts=1, max_iter=50)
    (root / "result.json").write_text(run.result.model_dump_json())
    secret_chart = f"flowchart TD\n  S[{SECRET}] --> T[{SECRET}2]\n"
    for folder in (outside, evil):
        (folder / "secret.mmd").write_text(secret_chart)
        (folder / "secret.json").write_text(parse_mermaid(secret_chart).to_json())
        (folder / "secret.png").write_bytes(CHART_FILES[".png"])
        save_recordings(folder / "secret.npz", _recordings([f"{SECRET}{i}" for i in range(6)]))
        (folder / "result.json").write_text(run.result.model_dump_json().replace("AVAL", SECRET))
    (root / "link.mmd").symlink_to(outside / "secret.mmd")
    (root / "link.npz").symlink_to(outside / "secret.npz")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "loop.mmd").symlink_to(root / "loop.mmd")
    session = ToolSession(root)
    assert session.call("load_graph", {"source": "chart.mmd"})["handle"] == HANDLE
    return {"root": root, "outside": (outside, evil), "session": session}


# Paths: relative ones are taken from the root; "<root>/", "<outside>/" and "<evil>/" become absolute in the call.
INSIDE = ["chart.mmd", "graph.json", "solvable.json", "sub/chart.mermaid", "sub/../chart.mmd", "./chart.png"]
INSIDE += ["rec.npz", "result.json", "notes.txt", "missing.mmd", "missing.png", "sub", ".", "", "loop.mmd"]
INSIDE += ["<root>/chart.mmd", "<root>/rec.npz", "<root>/chart.png"]
OUTSIDE = ["../outside/secret.mmd", "../outside/secret.json", "../outside/secret.png", "../outside/secret.npz"]
OUTSIDE += ["../outside/result.json", "../root-evil/secret.mmd", "sub/../../outside/secret.json", "link.mmd"]
OUTSIDE += ["link.npz", "linkdir/secret.json", "linkdir/secret.png", "linkdir/result.json", "..", "/etc/passwd"]
OUTSIDE += ["~/.bashrc", "file:///etc/passwd", "/proc/self/environ", "../outside", "chart.mmd\x00.png"]
OUTSIDE += ["<outside>/secret.mmd", "<outside>/secret.png", "<outside>/secret.npz", "<evil>/result.json"]
OUTSIDE += ["<root>/../outside/secret.json", "<root>/../root-evil/secret.npz"]
MERMAID = ["flowchart TD\n  A --> B --> C", "graph LR; X-->Y", "flowchart TD\n  A[", "%% just a comment"]
MERMAID += ["flowchart TD\n  A0 & A1 & A2 --> B0 & B1", "flowchart"]


def _placed(value: Any, world: dict[str, Any]) -> Any:
    """``value`` with the path placeholders of :data:`INSIDE` / :data:`OUTSIDE` made absolute for ``world``."""
    if isinstance(value, str):
        outside, evil = world["outside"]
        for mark, folder in (("<root>", world["root"]), ("<outside>", outside), ("<evil>", evil)):
            if value.startswith(mark + "/"):
                return str(folder) + value[len(mark) :]
        return value
    if isinstance(value, dict):
        return {k: _placed(v, world) for k, v in value.items()}
    if isinstance(value, list):
        return [_placed(v, world) for v in value]
    return value


def _mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """Three draws in four from ``good`` (so that calls get past validation and reach the tools' code)."""
    return st.integers(0, 3).flatmap(lambda i: bad if i == 0 else good)


GOOD_GRAPHS = ["chart.mmd", "graph.json", "solvable.json", "sub/chart.mermaid", "<root>/chart.mmd", HANDLE]
GOOD_GRAPHS += MERMAID[:2]
BAD_GRAPHS = st.one_of(
    st.sampled_from(INSIDE + OUTSIDE + MERMAID),
    st.sampled_from(["graph-000000000000", "graph-", "GRAPH-" + HANDLE[6:], "A"]),
    st.builds(json.dumps, st.dictionaries(st.sampled_from(["nodes", "edges", "attrs"]), json_values)),
    st.dictionaries(st.sampled_from(["nodes", "edges", "directed", "schema_version"]), json_values),
    st.text(max_size=30),
)
NUMBERS = st.sampled_from([0, 1, 2, 3, -1, 0.5, 0.99, 1.0, 1e-12, 1e9, 2**63, 2**70, -(2**70), "auto", "1", True])
NUMBERS |= st.sampled_from([None, [], {}, float("nan"), float("inf")]) | st.integers(-3, 500)
BAD_TEXTS = st.sampled_from(["", "x" * 20_001, "\x00", "é" * 50]) | st.text(max_size=40) | NUMBERS
TEXTS = st.sampled_from(["Ship", "Remind the customer", "What if it is not paid?", "Is it paid?"])
CHOICES = {"policy": ["learned", "symbolic"], "normalize": ["in", "none"], "task": ["gvi", "porous"]}
CHOICES |= {"method": ["sbm", "leiden"], "direction": ["out", "in", "both"]}


def _field_values(name: str, tool: str) -> tuple[st.SearchStrategy, st.SearchStrategy]:
    """Values for the argument ``name`` of ``tool``: ones that fit, and ones wrong in type, range or place."""
    node_ids = st.sampled_from(["A", "B", "C", "D"]), st.sampled_from(["S", "AVAL", "", " ", "a" * 300]) | BAD_TEXTS
    if name in ("graph", "chart") or (name, tool) == ("source", "load_graph"):
        return st.sampled_from(GOOD_GRAPHS) | st.just(json.loads(CHART_GRAPH.to_json())), BAD_GRAPHS
    if name in ("image", "data", "result", "checkpoint"):
        good = {"image": ["chart.png", "./chart.png", "<root>/chart.png"], "data": ["rec.npz", "<root>/rec.npz"]}
        good |= {"result": ["result.json"], "checkpoint": ["solvable.json", "chart.png"]}  # no checkpoint is good
        return st.sampled_from(good[name]), st.sampled_from(INSIDE + OUTSIDE) | BAD_TEXTS
    if name in ("node_id", "start", "target", "source"):
        return node_ids
    if name in ("question", "answer", "query"):
        return TEXTS, BAD_TEXTS
    if name == "bias":
        return st.just("bias"), BAD_TEXTS
    if name == "texts":
        return st.lists(TEXTS, min_size=1, max_size=3), st.lists(BAD_TEXTS, max_size=4) | BAD_TEXTS
    if name == "neurons":
        return st.lists(st.sampled_from(["AVAL", "RIML", "SMDD"]), min_size=1, max_size=3), st.lists(BAD_TEXTS)
    if name == "pinned":
        return st.none() | st.dictionaries(*node_ids[:1], *node_ids[:1], max_size=2), st.sampled_from([[], "A", 1])
    if name == "device":
        return st.just("cpu"), st.sampled_from(["cuda", "cuda:99", "meta", "mps", "", "cpu:0", 0])
    if name in CHOICES:
        return st.sampled_from(CHOICES[name]), st.sampled_from(["LEARNED", "", "x", None, 1])
    if name == "return_vectors":
        return st.booleans(), NUMBERS
    if name in ("window_s", "stride_s"):  # kept above a few windows per frame: the property is types, not speed
        return st.sampled_from([10, 5, 7.5]), st.sampled_from([0, -1, 1e9, float("nan"), float("inf"), "5"])
    if name in ("n_restarts", "rank", "max_iter", "component", "max_paths", "max_loops", "top_pairs"):
        return st.sampled_from([1, 2, 3]), st.sampled_from([0, -1, 21, 10**6, 2**70, "Auto", "2", None, 1.5])
    if name in ("gamma", "tol"):
        return st.sampled_from([0.5, 0.9, 1e-6]), NUMBERS
    return st.integers(0, 3), NUMBERS  # seed, ...


@st.composite
def tool_calls(draw: st.DrawFn) -> tuple[str, Any]:
    """A tool name (or a wrong one) and its arguments. Half the calls are clean (every field fits, so the tool's own
    code runs); the others have each field wrong one time in four, sometimes one missing or an extra one, and one
    in ten is any JSON at all."""
    from flowpath.tools import list_tools

    tools = {t.name: t for t in list_tools()}
    name = draw(
        _mostly(st.sampled_from(sorted(tools)), st.sampled_from(["", "no_such_tool", "LOAD_GRAPH", "__init__"]))
    )
    if name not in tools or draw(st.integers(0, 9)) == 0:
        return name, draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3) | json_values)
    clean = draw(st.booleans())
    fields = tools[name].args_model.model_fields
    args = {}
    for field, info in fields.items():
        # rank "auto" (the default) fits eight ranks, seconds a call: the calls name one (the property is types)
        if info.is_required() or (name, field) == ("connectome_factorize", "rank") or draw(st.booleans()):
            good, bad = _field_values(field, name)
            args[field] = draw(good if clean else _mostly(good, bad))
    if not clean and args and draw(st.integers(0, 9)) == 0:
        del args[draw(st.sampled_from(sorted(args)))]
    if not clean and draw(st.integers(0, 9)) == 0:
        args[draw(st.text(max_size=8))] = draw(json_values)
    return name, args


def _call(world: dict[str, Any], how: str, name: str, args: Any, capsys: pytest.CaptureFixture[str]) -> str:
    """Run one call through ``how`` (the Python API, the MCP handler or ``flowpath tools call``); check what each
    promises on failure; return all the text that came back."""
    from flowpath.cli import main
    from flowpath.tools import mcp_server
    from graphsolvers.errors import ToolkitError

    session = world["session"]
    if how == "api":
        result, error = typed_outcome(ToolkitError, session.call, name, args)
        event(f"{name}: {'result' if error is None else type(error).__name__}")
        if error is None:
            return json.dumps(result)
        assert "\n" not in str(error), str(error)  # what a CLI or a client shows as one line
        return str(error)
    if how == "mcp":
        result = mcp_server.call(name, args, session)
        text = " ".join(c.text for c in result.content)
        event("MCP error" if result.is_error else "MCP result")
        assert not text.startswith("internal error"), text  # what the server says when a tool raised a non-typed error
        assert result.is_error or result.structured_content is not None
        return text
    capsys.readouterr()
    try:
        argv = json.dumps(args, allow_nan=True)
    except (TypeError, ValueError):  # pragma: no cover - every drawn value is JSON
        argv = "{}"
    try:
        code = main(["tools", "call", name, "--root", str(world["root"]), "--args", argv])
    except SystemExit as e:  # argparse's usage errors ('--args -1e+16' reads as an option) end the CLI like this
        code = e.code
    out, err = capsys.readouterr()
    event(f"CLI exit {code}")
    assert code in (0, 2), (code, err)
    if code == 2:
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert f"tool {name} failed:" not in err, err  # the CLI's words for a tool that raised a non-typed error
    return out + err


@pytest.mark.slow
@budget(120, fixtures=True)
@given(call=tool_calls(), how=st.sampled_from(["api", "mcp", "cli"]))
@example(call=("bfs", {"start": "S", "\n": None}), how="cli")  # an argument's name broke the one-line error
@example(call=("bfs", {"graph": "chart.mmd", "start": "A", "k" * 10_000: 1}), how="api")  # and was echoed in full
@example(call=("connectome_communities", {"result": "result.json", "seed": -1}), how="api")  # numpy: ValueError
@example(call=("connectome_communities", {"result": "result.json", "method": "leiden", "seed": 2**63}), how="mcp")
@example(call=("connectome_factorize", {"data": "rec.npz", "rank": 1, "seed": 2**70}), how="api")  # torch overflow
@example(call=("connectome_factorize", {"data": "~/.bashrc"}), how="api")  # was FileNotFoundError
@example(call=("connectome_communities", {"result": "sub"}), how="api")  # was IsADirectoryError
@example(call=("end_nodes", {"graph": "link.mmd"}), how="mcp")
@example(call=("", -1e16), how="cli")  # a usage error: exit 2, one line
@example(call=("connectome_factorize", {"data": "<outside>/secret.npz"}), how="cli")
def test_any_tool_call_returns_a_result_or_a_typed_error_and_stays_in_its_root(
    world: dict[str, Any], capsys: pytest.CaptureFixture[str], call: tuple[str, Any], how: str
) -> None:
    name, args = call
    with _watch_opens() as opened:
        text = _call(world, how, name, _placed(args, world), capsys)
    assert SECRET not in text
    assert "k" * (QUOTE_CHARS + 1) not in text, text[:300]
    strays = [p for p in opened if any(Path(os.path.realpath(p)).is_relative_to(o) for o in world["outside"])]
    assert not strays, f"{name} opened files outside the root: {strays}"

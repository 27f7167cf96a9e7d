"""Hostile input to the flowpath app (issue #25): image bombs refused before decoding, unreadable headers,
decoder noise kept off stderr, deep JSON, and outputs checked before the work."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import flowpath.vision.image as image_module
from flowpath.cli import main
from flowpath.errors import ImageError
from flowpath.vision import load_image
from tests.flowpath.charts import lr_chart

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "flowpath", *map(str, args)], capture_output=True, text=True, env=env, cwd=cwd
    )


def _write_chart(path: Path) -> bytes:
    """A small flowchart (A -> B -> C, left to right) written to ``path`` as PNG; its bytes."""
    _ok, png = cv2.imencode(".png", lr_chart())
    path.write_bytes(png.tobytes())
    return png.tobytes()


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if load_image gets as far as decoding pixels."""

    def imdecode(*args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(image_module.cv2, "imdecode", imdecode)


# ------------------------------------------------------------------------------------------ image bombs
def rle_bmp(width: int, height: int, *, rows: int | None = None) -> bytes:
    """An 8-bit RLE BMP of ``width`` × ``height`` whose first ``rows`` rows (default all) are runs of grey."""
    row = b"".join(bytes([255, 128]) for _ in range(width // 255)) + bytes([width % 255, 128]) + b"\x00\x00"
    pixels = row * (height if rows is None else rows) + b"\x00\x01"  # end of line ..., end of bitmap
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    offset = 14 + 40 + len(palette)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 1, len(pixels), 2835, 2835, 256, 0)
    return b"BM" + struct.pack("<IHHI", offset + len(pixels), 0, 0, offset) + info + palette + pixels


def png_header(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\x00\x00\x00\x00" + b"\x00" * 64


def jpeg_header(width: int, height: int) -> bytes:
    app0 = b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    return b"\xff\xd8" + app0 + sof + b"\xff\xda" + b"\x00" * 64 + b"\xff\xd9"


def webp_header(chunk: bytes, body: bytes) -> bytes:
    payload = chunk + struct.pack("<I", len(body)) + body + b"\x00" * 64
    return b"RIFF" + struct.pack("<I", 4 + len(payload)) + b"WEBP" + payload


def gif_header(width: int, height: int) -> bytes:
    head = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    return head + b"\x2c" + struct.pack("<HHHHB", 0, 0, 20, 20, 0) + b"\x02\x02\x4c\x01\x00\x3b"


def tiff_pages(*sizes: tuple[int, int], big_endian: bool = False, tile: int = 0) -> bytes:
    """A TIFF whose image directories declare ``sizes`` (no pixel data: the header is all that is read),
    in square tiles of side ``tile`` where it is given."""
    order = ">" if big_endian else "<"
    out = bytearray((b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(order + "I", 8))
    for i, (w, h) in enumerate(sizes):
        entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 1, 8), (262, 3, 1, 1)]
        entries += [(322, 4, 1, tile), (323, 4, 1, tile)] if tile else []
        out += struct.pack(order + "H", len(entries))
        for tag, kind, count, value in entries:
            packed = struct.pack(order + "HH", value, 0) if kind == 3 else struct.pack(order + "I", value)
            out += struct.pack(order + "HHI", tag, kind, count) + packed
        out += struct.pack(order + "I", len(out) + 4 if i + 1 < len(sizes) else 0)
    return bytes(out)


def test_rle_bmp_bomb_is_refused_from_its_header(tmp_path, no_decoding):
    path = tmp_path / "bomb.bmp"
    path.write_bytes(rle_bmp(16000, 16000, rows=3))  # a few hundred bytes declaring 256 million pixels
    with pytest.raises(ImageError, match=r"16000×16000 = 256,000,000 pixels is over the limit of 40,000,000"):
        load_image(path)


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads the peak RSS from /proc")
def test_rle_bmp_bomb_peak_memory_stays_small(tmp_path):
    """The whole 2 MB bomb, in a fresh process: refused with a peak RSS far below the 1 GB its pixels need."""
    path = tmp_path / "bomb.bmp"
    path.write_bytes(rle_bmp(16000, 16000))
    assert 1_900_000 < path.stat().st_size < 2_200_000
    code = (  # VmHWM: the peak of this process's own memory (ru_maxrss would carry over the forking parent's)
        "import re, sys\n"
        "from flowpath.errors import ImageError\n"
        "from flowpath.vision.image import load_image\n"
        "try:\n    load_image(sys.argv[1])\nexcept ImageError as e:\n    print(e)\n"
        "print(re.search(r'VmHWM:\\s*(\\d+) kB', open('/proc/self/status').read()).group(1))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env)
    message, peak_kb = proc.stdout.splitlines()
    assert "over the limit" in message
    assert int(peak_kb) < 200_000, f"peak RSS {int(peak_kb) // 1024} MB"


@pytest.mark.parametrize(
    ("name", "data", "size"),
    [
        ("png", png_header(100_000, 100_000), "100000×100000"),
        ("jpg", jpeg_header(65_000, 65_000), "65000×65000"),
        (
            "vp8.webp",
            webp_header(b"VP8 ", b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", 16383, 16383)),
            "16383×16383",
        ),
        ("vp8l.webp", webp_header(b"VP8L", b"\x2f" + struct.pack("<I", 16383 | 16383 << 14)), "16384×16384"),
        ("vp8x.webp", webp_header(b"VP8X", b"\x10\x00\x00\x00" + (2**24 - 1).to_bytes(3, "little") * 2), "16777216×"),
        ("gif", gif_header(30_000, 30_000), "30000×30000"),
        ("tiff", tiff_pages((100_000, 100_000)), "100000×100000"),
        ("be.tiff", tiff_pages((100_000, 100_000), big_endian=True), "100000×100000"),
        ("pages.tiff", tiff_pages((100, 100), (20_000, 20_000)), "20000×20000"),  # a huge second page
        ("tiles.tiff", tiff_pages((64, 64), tile=15360), "15360×15360"),  # a tiny page in huge tiles
        ("absurd.png", png_header(2**32 - 1, 2**32 - 1), "4294967295×4294967295"),
        ("os2.bmp", b"BM" + b"\x00" * 12 + struct.pack("<IHHHH", 12, 65535, 65535, 1, 24), "65535×65535"),
    ],
)
def test_bomb_headers_are_refused_before_decoding(tmp_path, no_decoding, name, data, size):
    assert size in _image_error(tmp_path / f"bomb.{name}", data, match="over the limit")


def _image_error(path: Path, data: bytes, *, match: str) -> str:
    """The message of the ImageError (matching ``match``) that loading ``data`` written at ``path`` raises."""
    path.write_bytes(data)
    with pytest.raises(ImageError, match=match) as e:
        load_image(path)
    return str(e.value)


@pytest.mark.parametrize(
    ("name", "data", "expect"),
    [
        ("png", b"\x89PNG\r\n\x1a\n", "PNG without an IHDR chunk"),
        ("jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG without a frame header"),
        ("jpg", b"\xff\xd8\xff\xe0\x00\x04\x00\x00garbage garbage", "JPEG marker expected"),
        ("bmp", b"BM\x00\x00", "BMP header cut short"),
        ("bmp", b"BM" + b"\x00" * 12 + struct.pack("<Iii", 40, -5, 20), "BMP with info header size 40 and width -5"),
        ("gif", b"GIF89a\x10", "GIF header cut short"),
        ("gif", b"GIF89a" + struct.pack("<HHBBB", 20, 20, 0, 0, 0) + b"\x3b", "GIF without an image descriptor"),
        ("webp", b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WebP header cut short"),
        ("webp", webp_header(b"ABCD", b"\x00" * 10), "unknown first chunk"),
        ("tiff", b"II*\x00" + struct.pack("<I", 10_000), "past the end"),
        ("tiff", b"II*\x00" + struct.pack("<IH", 8, 0) + struct.pack("<I", 8), "without a width and height"),
        ("tiff", tiff_pages((100, 100))[:-4] + struct.pack("<I", 8), "is a loop"),
    ],
)
def test_unreadable_headers_are_one_typed_error(tmp_path, no_decoding, name, data, expect):
    assert expect in _image_error(tmp_path / f"bad.{name}", data, match="truncated or corrupt image header")


@pytest.mark.parametrize(
    "data", [b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 40, b"%PDF-1.7\n", b"\x00" + os.urandom(512)]
)
def test_garbage_is_not_an_image(tmp_path, no_decoding, data):
    path = tmp_path / "garbage.png"
    path.write_bytes(data)
    with pytest.raises(ImageError, match="not an image"):
        load_image(path)


def test_a_file_too_large_for_the_limit_is_refused_unread(tmp_path, monkeypatch, no_decoding):
    monkeypatch.setattr(image_module, "_SLACK", 0)
    path = tmp_path / "huge.png"
    path.write_bytes(png_header(20, 20) + b"\x00" * 2000)
    with pytest.raises(ImageError, match="larger than any image within the limit"):
        load_image(path, max_pixels=100)


def _pillow_files() -> dict[str, bytes]:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (37, 53, 3), dtype=np.uint8))
    variants = {
        "png": (img, "PNG", {}),
        "png-palette": (img.convert("P"), "PNG", {}),
        "jpeg": (img, "JPEG", {}),
        "jpeg-progressive": (img, "JPEG", {"progressive": True}),
        "jpeg-grey": (img.convert("L"), "JPEG", {}),
        "bmp": (img, "BMP", {}),
        "bmp-1bit": (img.convert("1"), "BMP", {}),
        "gif-animated": (img, "GIF", {"save_all": True, "append_images": [img.rotate(90)]}),
        "webp-lossy": (img, "WEBP", {}),
        "webp-lossless": (img, "WEBP", {"lossless": True}),
        "webp-alpha": (img.convert("RGBA"), "WEBP", {}),
        "webp-animated": (img, "WEBP", {"save_all": True, "append_images": [img.rotate(180)]}),
        "tiff-lzw": (img, "TIFF", {"compression": "tiff_lzw"}),
        "tiff-pages": (img, "TIFF", {"save_all": True, "append_images": [img.resize((20, 20))]}),
    }
    out = {}
    for name, (im, fmt, kwargs) in variants.items():
        buf = io.BytesIO()
        im.save(buf, fmt, **kwargs)
        out[name] = buf.getvalue()
    return out


@pytest.mark.parametrize(("name", "data"), sorted(_pillow_files().items()))
def test_header_sizes_agree_with_pillow_and_the_image_loads(tmp_path, name, data):
    assert image_module._frame_sizes(data)[0] == Image.open(io.BytesIO(data)).size == (53, 37)
    path = tmp_path / f"chart.{name.split('-')[0]}"
    path.write_bytes(data)
    assert load_image(path).shape == (37, 53, 3)


def test_decoder_noise_stays_off_stderr(tmp_path):
    data = bytearray(_write_chart(tmp_path / "good.png"))
    data[60:80] = b"\x00" * 20  # libpng prints "libpng error: ..." to stderr itself
    (tmp_path / "corrupt.png").write_bytes(bytes(data))
    line = _one_line_error(_cli("parse", "corrupt.png", cwd=tmp_path))
    assert line == "flowpath: error: corrupt.png: truncated or corrupt image data"


# ------------------------------------------------------------------------------------------- deep JSON
@pytest.mark.slow
def test_deep_json_chart_and_tool_arguments_are_one_line(tmp_path):
    deep = "[" * 5000 + "]" * 5000
    (tmp_path / "deep.json").write_text('{"nodes": ' + deep + "}")
    (tmp_path / "meta.mmd").write_text("flowchart TD\n%% flowpath:meta " + deep + "\nA --> B\n")
    (tmp_path / "args.json").write_text('{"graph": ' + deep + "}")
    line = _one_line_error(_cli("attribute", "deep.json", "-q", "why", "-a", "so", cwd=tmp_path))
    assert "nested deeper than 100 levels" in line
    line = _one_line_error(_cli("attribute", "meta.mmd", "-q", "why", "-a", "so", cwd=tmp_path))
    assert "flowpath:meta comment: nested deeper than 100 levels" in line
    line = _one_line_error(_cli("tools", "call", "shortest_path", "--args", "@args.json", cwd=tmp_path))
    assert line == "flowpath: error: --args is nested deeper than 100 levels of arrays and objects"


# --------------------------------------------------------------------------------------------- outputs
def test_jsonl_that_is_an_input_is_refused_and_the_image_kept(tmp_path):
    png = _write_chart(tmp_path / "x.png")
    line = _one_line_error(_cli("parse", "x.png", "--jsonl", tmp_path / "x.png", cwd=tmp_path))  # resolved paths
    assert (
        line == f"flowpath: error: --jsonl {tmp_path / 'x.png'}: is also an input; writing it would overwrite the input"
    )
    assert (tmp_path / "x.png").read_bytes() == png


def test_overlay_onto_a_file_is_refused_before_the_work_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    _write_chart(tmp_path / "x.png")
    (tmp_path / "taken").write_text("mine")
    monkeypatch.setattr("flowpath.vision.parse_image", lambda *a, **k: pytest.fail("parsed before the check"))
    assert main(["parse", str(tmp_path / "x.png"), "--overlay", str(tmp_path / "taken")]) == 2
    assert capsys.readouterr().err == f"flowpath: error: --overlay {tmp_path / 'taken'}: is a file; give a folder\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken", "x.png"]
    assert main(["parse", str(tmp_path / "x.png"), "--jsonl", str(tmp_path / "taken" / "out.jsonl")]) == 2
    assert "taken is a file, not a folder" in capsys.readouterr().err


def test_overlay_leaves_no_temporary_folder(tmp_path):
    _write_chart(tmp_path / "x.png")
    (tmp_path / "ov").mkdir()
    (tmp_path / "ov" / "old.png").write_bytes(b"kept")
    assert main(["-q", "parse", str(tmp_path / "x.png"), "--overlay", str(tmp_path / "ov")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ov", "x.png"]
    assert sorted(p.name for p in (tmp_path / "ov").iterdir()) == ["0000_x.png", "old.png"]


def test_a_failed_parse_leaves_no_new_overlay_folder_and_names_the_users_path(tmp_path, capsys, monkeypatch):
    _write_chart(tmp_path / "x.png")
    (tmp_path / "out.jsonl").mkdir()  # appears after the check, as if another process made it

    def check_output(path, **kwargs):
        return Path(path)

    monkeypatch.setattr("flowpath.cli.parse.check_output", check_output)
    argv = ["-q", "parse", str(tmp_path / "x.png"), "--overlay", str(tmp_path / "new" / "ov")]
    assert main([*argv, "--jsonl", str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'out.jsonl'}" in err and "/." not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl", "x.png"]
    assert list((tmp_path / "out.jsonl").iterdir()) == []


def test_attribute_overlay_onto_the_chart_is_refused(tmp_path, capsys):
    png = _write_chart(tmp_path / "x.png")
    argv = ["attribute", str(tmp_path / "x.png"), "-q", "why", "-a", "so", "--overlay", str(tmp_path / "x.png")]
    assert main(argv) == 2
    assert "is also an input" in capsys.readouterr().err
    assert (tmp_path / "x.png").read_bytes() == png


def test_synth_out_that_is_a_file_is_refused_and_a_failed_synth_leaves_no_out(tmp_path, capsys, monkeypatch):
    (tmp_path / "taken").write_text("mine")
    assert main(["synth", "--out", str(tmp_path / "taken"), "--n", "1"]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err

    def write_dataset(root, **kwargs):
        (Path(root) / "images").mkdir()
        raise OSError(28, "No space left on device", str(Path(root) / "images" / "chart.png"))

    monkeypatch.setattr("flowpath.synth.write_dataset", write_dataset)
    assert main(["-q", "synth", "--out", str(tmp_path / "a" / "b"), "--n", "1"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"flowpath: error: No space left on device: {tmp_path / 'a' / 'b' / 'images' / 'chart.png'}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]

"""MiniLM embeddings: the ONNX export against the wheel's torch model, the runtime switch, failures."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from flowpath.agent import embed
from flowpath.errors import FlowpathError

TEXTS = [
    "Check the customer's payment",
    "",
    "Is the temperature above 40 °C?",
    "Überprüfen Sie die Eingabe und senden Sie das Formular ab",
    "loop " * 400,  # longer than MiniLM's 256 word pieces: cut, as sentence-transformers cuts it
]


@pytest.fixture(scope="module")
def model() -> Path:
    return embed._model_folder()


@pytest.mark.slow
def test_onnx_export_gives_the_torch_models_vectors(model: Path) -> None:
    fast = embed._onnx_encoder(model)(TEXTS)
    reference = embed._torch_encoder(model)(TEXTS)
    assert fast.shape == (len(TEXTS), 384)
    assert np.abs(fast - reference).max() < 1e-5
    assert np.allclose((fast**2).sum(1), 1.0, atol=1e-5)


def test_a_vector_does_not_depend_on_the_texts_beside_it(model: Path) -> None:
    encode = embed._onnx_encoder(model)
    alone = encode([TEXTS[0]])[0]
    assert np.array_equal(encode([TEXTS[3], TEXTS[0], TEXTS[4]])[1], alone)


def test_runtime_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(embed.ENV, raising=False)
    assert embed.embedding_backend() == "onnx"
    monkeypatch.setenv(embed.ENV, " Torch ")
    assert embed.embedding_backend() == "torch"
    monkeypatch.setenv(embed.ENV, "gpu")
    with pytest.raises(FlowpathError, match="FLOWPATH_EMBEDDINGS='gpu' is not an embedding runtime: set it to onnx"):
        embed.embedding_backend()


@pytest.mark.slow
def test_unwritable_cache_falls_back_to_the_torch_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("FLOWPATH_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.delenv(embed.ENV, raising=False)
    with caplog.at_level(logging.WARNING, logger="flowpath.agent.embed"):
        embedder = embed.get_embedder.__wrapped__()  # not the process-wide one
    assert embedder.backend == "torch"
    assert "FLOWPATH_CACHE_DIR to a writable folder" in caplog.text
    assert embedder.embed(["open the valve"]).shape == (1, 384)


def test_failed_export_is_a_typed_error_and_leaves_no_build_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: Path
) -> None:
    def broken(model: Path, tmp: Path) -> Path:
        (tmp / "minilm.onnx").write_bytes(b"half")
        raise RuntimeError("tracer exploded")

    monkeypatch.setattr(embed, "_export", broken)
    with pytest.raises(FlowpathError, match=r"RuntimeError: tracer exploded.*FLOWPATH_EMBEDDINGS=torch"):
        embed.onnx_export(model, folder=tmp_path)
    assert not list(tmp_path.glob(".build-*")) and not list(tmp_path.glob("*.onnx"))


@pytest.mark.slow
def test_a_damaged_export_is_built_again(tmp_path: Path, model: Path) -> None:
    good = embed.onnx_export(model)
    damaged = tmp_path / good.name
    damaged.write_bytes(good.read_bytes()[:1000])
    rebuilt = embed.onnx_export(model, folder=tmp_path)
    assert rebuilt == damaged and rebuilt.stat().st_size == good.stat().st_size


def test_fresh_embedder_shares_the_model_not_the_memo() -> None:
    calls: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        calls.append(list(texts))
        return np.ones((len(texts), 384), dtype=np.float32) / np.sqrt(384)

    first = embed.Embedder(encode, "test")
    first.embed(["a", "b", "a"])
    first.embed(["b"])
    first.fresh().embed(["b"])
    assert calls == [["a", "b"], ["b"]]

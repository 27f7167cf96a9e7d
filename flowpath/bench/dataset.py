"""FlowExplainBench in the public FollowTheFlow ``data/`` layout, read where it lies (never copied)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pydantic import BaseModel, ValidationError

from flowpath.errors import InputError
from graphsolvers import safe_json
from graphsolvers.security import describe_validation_error

__all__ = ["ANSWER_FIELDS", "BenchItem", "chart_image", "data_dir", "load_items"]


ANSWER_FIELDS = ("a1", "a2", "a3")
"""The reference answers of a FlowExplainBench question: ``a1`` and two paraphrases of it."""


class BenchItem(BaseModel):
    """One question of the benchmark."""

    id: str
    key: str
    mermaid: str
    q: str
    a1: str
    type: str
    attribution: list[str]
    domain: str
    a2: str | None = None
    a3: str | None = None

    def answer(self, which: str = "a1") -> str:
        """The reference answer ``which`` (``a1``, or its paraphrases ``a2`` / ``a3``).

        Raises
        ------
        InputError
            If this item has no such answer.
        """
        text = getattr(self, which, None) if which in ANSWER_FIELDS else None
        if not text:
            raise InputError(f"question {self.id} has no answer {which!r} (answers: {', '.join(ANSWER_FIELDS)})")
        return text


def data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """The benchmark folder: ``path``, else ``$FLOWEXPLAINBENCH_DIR``.

    Raises
    ------
    InputError
        If neither is given or the folder has no ``dataset.json``.
    """
    raw = path or os.environ.get("FLOWEXPLAINBENCH_DIR")
    if not raw:
        raise InputError("no benchmark folder: pass --data DIR or set FLOWEXPLAINBENCH_DIR to FollowTheFlow's data/")
    folder = Path(raw)
    if not (folder / "dataset.json").is_file():
        raise InputError(f"{str(folder)!r} has no dataset.json (expected the FollowTheFlow data/ layout)")
    return folder


def load_items(folder: Path, *, limit: int | None = None) -> list[BenchItem]:
    """Questions of ``dataset.json`` in file order (the first ``limit`` if given)."""
    try:
        raw = safe_json.loads((folder / "dataset.json").read_text(encoding="utf-8"))
        fields = [k for k in BenchItem.model_fields if k != "id"]
        items = [
            BenchItem(id=qid, **{k: v[k] for k in fields if k in v or BenchItem.model_fields[k].is_required()})
            for qid, v in raw.items()
        ]
    except ValidationError as e:  # location and message only: the values are the file's
        raise InputError(
            f"{folder / 'dataset.json'} is not a FlowExplainBench dataset: {describe_validation_error(e)}"
        ) from e
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise InputError(f"{folder / 'dataset.json'} is not a FlowExplainBench dataset: {e}") from e
    return items[:limit] if limit is not None else items


def chart_image(folder: Path, key: str) -> Path:
    """The image of chart ``key``: ``images/<key>/original.png`` in FlowExplainBench, ``chart.png`` (or
    ``chart.jpg`` for JPEG looks) in our synthetic sets (``flowpath synth``); the FlowExplainBench name
    when none exists.

    Examples
    --------
    >>> chart_image(Path("bench_data/synth"), "synth00700021").name
    'chart.png'
    """
    chart = folder / "images" / key
    return next(
        (chart / n for n in ("original.png", "chart.png", "chart.jpg") if (chart / n).is_file()), chart / "original.png"
    )

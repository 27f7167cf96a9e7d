"""What the fuzz tests share (issue 25, item 7): their example budgets, byte mutations and the typed-error check.

Every fuzz test is marked ``fuzz`` and states one property: on any input, an entry point returns a valid
result or raises its package's typed error (a subclass of the package's base error), nothing else.

Budgets: under ``make test`` each test runs its small default number of examples with a seed derived from
the test (``derandomize``), so the suite is deterministic and adds well under a minute; ``make fuzz``
(``HYPOTHESIS_PROFILE=fuzz``) runs only the fuzz tests, each with :data:`FUZZ_FACTOR` times as many
examples, from a fresh random seed, keeping what fails in ``.hypothesis/`` to replay first next time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, settings
from hypothesis import strategies as st

__all__ = [
    "FUZZ",
    "FUZZ_FACTOR",
    "budget",
    "expect_typed",
    "mermaid_sources",
    "mutated_bytes",
    "mutated_text",
    "typed_outcome",
]

REPO = Path(__file__).resolve().parents[1]
FEB_DEV = Path(
    os.environ.get(
        "FLOWEXPLAINBENCH_DIR",
        Path(os.environ.get("FLOWPATH_SHARED", REPO.parent / "shared")) / "flowexplainbench" / "dev",
    )
)

FUZZ = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
"""Whether this run is ``make fuzz`` (the ``fuzz`` profile of ``tests/conftest.py``)."""

FUZZ_FACTOR = 25
"""How many times more examples a fuzz test runs under ``make fuzz`` than under ``make test``."""

_SLOW_IS_FINE = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example]


def budget(examples: int, *, fixtures: bool = False) -> settings:
    """The settings of a fuzz test: ``examples`` under ``make test`` (derandomized), ``FUZZ_FACTOR`` times as
    many under ``make fuzz`` (random); no deadline (a first call may load a model). ``fixtures``: the test uses
    a function-scoped fixture (``capsys``) that it resets itself in every example."""
    return settings(
        max_examples=examples * FUZZ_FACTOR if FUZZ else examples,
        deadline=None,
        derandomize=not FUZZ,
        suppress_health_check=_SLOW_IS_FINE + ([HealthCheck.function_scoped_fixture] if fixtures else []),
    )


def typed_outcome(
    base: type[BaseException], func: Callable[..., Any], *args: Any, **kwargs: Any
) -> tuple[Any, BaseException | None]:
    """``(result, None)`` of ``func(*args, **kwargs)``, or ``(None, error)`` when it raised ``base`` (or a subclass).

    Any other exception fails the test, naming its type and the typed base it should have been.
    """
    try:
        result = func(*args, **kwargs)
    except base as e:
        _event(f"raised {type(e).__name__}")
        return None, e
    except Exception as e:
        pytest.fail(f"{type(e).__module__}.{type(e).__qualname__} escaped instead of {base.__name__}: {e!s:.300}")
    _event("returned a result")
    return result, None


def _event(text: str) -> None:
    """Count ``text`` in the Hypothesis statistics (``--hypothesis-show-statistics``) when inside a given-test."""
    if currently_in_test_context():
        event(text)


def expect_typed(base: type[BaseException], func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``func(*args, **kwargs)``'s result, or ``None`` when it raised ``base``; anything else fails the test."""
    return typed_outcome(base, func, *args, **kwargs)[0]


@st.composite
def mutated_bytes(draw: st.DrawFn, data: bytes, *, max_flips: int = 4) -> bytes:
    """``data`` with up to ``max_flips`` bytes overwritten, a run of bytes deleted or repeated, and/or truncated:
    what a damaged download, a bad disk or a hostile client hands over."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, max_flips))):
        if out:  # half the flips in the first 64 bytes, where formats keep their headers
            at = st.integers(0, min(len(out), 64) - 1) | st.integers(0, len(out) - 1)
            out[draw(at)] = draw(st.integers(0, 255) | st.sampled_from([0, 0x7F, 0x80, 0xFF]))
    if out and draw(st.booleans()):
        i = draw(st.integers(0, len(out) - 1))
        j = draw(st.integers(i, min(len(out), i + 64)))
        out[i:j] = out[i:j] * draw(st.sampled_from([0, 2]))  # deleted or repeated
    if draw(st.booleans()):
        out = out[: draw(st.integers(0, len(out)))]
    return bytes(out)


@st.composite
def mutated_text(draw: st.DrawFn, text: str, pieces: st.SearchStrategy[str]) -> str:
    """``text`` with up to three spans replaced by drawn ``pieces`` (which may be empty: deletions), then maybe cut."""
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        text = text[:i] + draw(pieces) + text[j:]
    if draw(st.integers(0, 3)) == 0:
        text = text[: draw(st.integers(0, len(text)))]
    return text


def mermaid_sources(n: int = 12) -> list[str]:
    """``n`` real Mermaid flowcharts to mutate: spread over FlowExplainBench's dev set when it is present (read in
    place, never copied), else the project's own ``bench_data`` charts."""
    dataset = FEB_DEV / "dataset.json"
    if dataset.is_file():
        rows = json.loads(dataset.read_text(encoding="utf-8"))
        texts = sorted({row["mermaid"] for row in rows.values()})
        return texts[:: max(1, len(texts) // n)][:n]
    texts = {(REPO / "bench_data" / "samples" / "order_fulfilment.mmd").read_text(encoding="utf-8")}
    for name in ("looks", "synth"):
        rows = json.loads((REPO / "bench_data" / name / "dataset.json").read_text(encoding="utf-8"))
        texts |= {row["mermaid"] for row in rows.values()}
    return sorted(texts)[:n]

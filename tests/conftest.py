"""Shared fixtures: where the third-party data lives (read from ../shared, never copied)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# `make fuzz` sets HYPOTHESIS_PROFILE=fuzz: random seeds and failures kept in .hypothesis/ (budgets: tests/fuzzing.py)
settings.register_profile("fuzz", deadline=None, derandomize=False, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FLOWPATH_SHARED", REPO.parent / "shared"))
FEB_DEV = Path(os.environ.get("FLOWEXPLAINBENCH_DIR", SHARED / "flowexplainbench" / "dev"))


@pytest.fixture(scope="session")
def feb_dev() -> Path:
    """The FlowExplainBench dev folder; tests that need it skip when ../shared is absent."""
    if not (FEB_DEV / "dataset.json").is_file():
        pytest.skip(f"FlowExplainBench dev data not found at {FEB_DEV} (set FLOWEXPLAINBENCH_DIR)")
    return FEB_DEV


@pytest.fixture(scope="session", autouse=True)
def ocr_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Built recognisers go to a folder of this test session, never the user's cache (built once, ~10 s).

    ``FLOWPATH_TEST_CACHE_DIR`` names a folder kept between sessions instead (``make test-fast`` keeps one in
    .venv, so the int8 recogniser and the MiniLM export are built on its first run only).
    """
    kept = os.environ.get("FLOWPATH_TEST_CACHE_DIR")
    folder = Path(kept) if kept else tmp_path_factory.mktemp("flowpath-cache")
    folder.mkdir(parents=True, exist_ok=True)
    old = os.environ.get("FLOWPATH_CACHE_DIR")
    os.environ["FLOWPATH_CACHE_DIR"] = str(folder)
    yield folder
    if old is None:
        os.environ.pop("FLOWPATH_CACHE_DIR", None)
    else:
        os.environ["FLOWPATH_CACHE_DIR"] = old

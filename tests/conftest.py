"""Shared fixtures: where the third-party data lives (read from ../shared, never copied)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FLOWPATH_SHARED", REPO.parent / "shared"))
FEB_DEV = Path(os.environ.get("FLOWEXPLAINBENCH_DIR", SHARED / "flowexplainbench" / "dev"))


@pytest.fixture(scope="session")
def feb_dev() -> Path:
    """The FlowExplainBench dev folder; tests that need it skip when ../shared is absent."""
    if not (FEB_DEV / "dataset.json").is_file():
        pytest.skip(f"FlowExplainBench dev data not found at {FEB_DEV} (set FLOWEXPLAINBENCH_DIR)")
    return FEB_DEV

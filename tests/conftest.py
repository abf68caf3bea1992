"""Shared test fixtures: where the real data lives (../shared/data), skipping when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("POSEKIT_TEST_DATA", ROOT.parent / "shared" / "data")).resolve()


def data_path(rel: str) -> Path:
    """Path of ``rel`` under the shared data folder; skips the test when it is absent."""
    p = DATA / rel
    if not p.exists():
        pytest.skip(f"test data not available: {p} (the ../shared/data folder is not here)")
    return p


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"test data not available: {DATA}")
    return DATA

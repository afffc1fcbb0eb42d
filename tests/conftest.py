"""Shared test fixtures: where the real public data sets live; databases (dbfixtures.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dbfixtures import db_engine, db_url, session, sessions  # noqa: F401  (fixtures for every test directory)

REPO = Path(__file__).resolve().parents[1]


def real_data_root() -> Path:
    """`EPICITY_REAL_DATA`, or ../shared/data/real beside the repository."""
    return Path(os.environ.get("EPICITY_REAL_DATA", REPO.parent / "shared" / "data" / "real"))


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real data directory; tests that need it are skipped when it is absent."""
    root = real_data_root()
    if not root.is_dir():
        pytest.skip(f"real data not found at {root} (set EPICITY_REAL_DATA)")
    return root

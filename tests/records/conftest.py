"""Fixtures for the records tests (data and helpers live in helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import write_city


@pytest.fixture
def city(tmp_path: Path) -> Path:
    return write_city(tmp_path / "city")


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store"

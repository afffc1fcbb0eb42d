"""Fixtures for the DS4C import: the real files (when present) and small hand-written sources.

The real DS4C files are CC BY-NC-SA 4.0 and are read in place from ../shared/data/real/ds4c;
nothing from them is copied into the repository. The small sources below are invented.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .sources import (
    CASE_HEADER,
    CASE_ROWS,
    INFO_HEADER,
    INFO_ROWS,
    ROUTE_HEADER,
    ROUTE_ROWS,
    TIME_HEADER,
    TIME_ROWS,
    write_csv,
)

REAL_DS4C = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real" / "ds4c"


@pytest.fixture
def mini_dir(tmp_path: Path) -> Path:
    """A tiny invented DS4C source directory with one of each quirk."""
    src = tmp_path / "ds4c"
    src.mkdir()
    write_csv(src / "PatientInfo.csv", INFO_HEADER, INFO_ROWS)
    write_csv(src / "PatientRoute.csv", ROUTE_HEADER, ROUTE_ROWS)
    write_csv(src / "TimeProvince.csv", TIME_HEADER, TIME_ROWS)
    write_csv(src / "Case.csv", CASE_HEADER, CASE_ROWS)
    return src


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The real DS4C directory; skips the test when it is absent."""
    needed = ("PatientInfo.csv", "PatientRoute.csv", "TimeProvince.csv")
    if not all((REAL_DS4C / n).is_file() for n in needed):
        pytest.skip(f"real DS4C data not found at {REAL_DS4C} (licence: read in place only)")
    return REAL_DS4C

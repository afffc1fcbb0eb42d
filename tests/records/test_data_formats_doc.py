"""docs/data-formats.md shows exactly the tables and columns that schema.py defines.

Regenerate the table sections with `python -m epicity.records.schema`.
"""

from __future__ import annotations

from pathlib import Path

from epicity.records.schema import ALL_TABLES, markdown_section

DOC = Path(__file__).resolve().parents[2] / "docs" / "data-formats.md"


def test_every_table_section_in_the_doc_matches_the_schema() -> None:
    text = DOC.read_text(encoding="utf-8")
    for table in ALL_TABLES:
        assert markdown_section(table) in text, (
            f"docs/data-formats.md is out of date for {table.name}"
        )

"""The recipient directory: validated, atomic, idempotent imports (SQLite and PostgreSQL)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from epicity.db import session_scope
from epicity.delivery.directory import (
    ContactsImportError,
    address_of,
    load_contacts_file,
    parse_contacts,
)
from epicity.delivery.models import Recipient

GOOD = "person_id,email,phone\n11,kim@example.org,\n12,,+82 10-1234-5678\n13,lee@example.org,+821099998888\n"


def stored(sessions: sessionmaker[Session]) -> list[tuple[int, str | None, str | None]]:
    with sessions() as s:
        return [
            (r.person_id, r.email, r.phone)
            for r in s.scalars(sa.select(Recipient).order_by(Recipient.person_id))
        ]


def write(tmp_path: Path, text: str, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_import_then_again_is_idempotent_and_updates_replace(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    first = load_contacts_file(sessions, write(tmp_path, GOOD))
    assert (first.inserted, first.updated, first.unchanged) == (3, 0, 0)
    assert stored(sessions) == [
        (11, "kim@example.org", None),
        (12, None, "+821012345678"),
        (13, "lee@example.org", "+821099998888"),
    ]
    again = load_contacts_file(sessions, write(tmp_path, GOOD))
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    changed = load_contacts_file(
        sessions, write(tmp_path, "phone,person_id,email\n+821011112222,11,\n+821055556666,99,\n")
    )
    assert (changed.inserted, changed.updated, changed.unchanged) == (1, 1, 0)
    assert stored(sessions)[0] == (11, None, "+821011112222")  # the row replaces the addresses
    assert len(stored(sessions)) == 4  # people not in the file stay
    with sessions() as s:
        entry = address_of(s, "person:12")
        assert entry is not None
        assert entry.phone == "+821012345678"
        assert address_of(s, "person:404") is None
        assert address_of(s, "tower:7") is None
        assert "+82" not in repr(entry)  # no addresses in reprs (they reach logs)


@pytest.mark.parametrize(
    ("text", "errors"),
    [
        (
            "person_id,email,phone\n11,kim@example.org,\nx1,not-an-email,\n12,,12345\n13,,\n",
            [
                "line 3, person_id: 'x1' is not a person id (a whole number)",
                "line 3, email: not an email address (name@domain)",
                "line 4, phone: not an E.164 phone number (+ country code and number, e.g. +8210...)",
                "line 5, email/phone: give an email, a phone or both",
            ],
        ),
        (
            "person_id,email,phone\n11,a@example.org,\n11,b@example.org,\n",
            ["line 3, person_id: 11 is already on line 2"],
        ),
        ("person_id,email\n11,a@example.org\n", ["line 1: missing column(s) phone"]),
        (
            "person_id,email,phone,name\n11,a@example.org,,Kim\n",
            ["line 1: unknown column(s) name"],
        ),
        (
            "person_id,email,phone\n11,a@example.org,,extra\n",
            ["line 2: more cells than the header's 3 columns"],
        ),
        ("person_id,email,phone\n", ["line 2: no rows after the header"]),
        ("", ["line 1: empty file; the header is person_id,email,phone"]),
        (
            "person_id,email,phone\n-5,a@example.org,\n",
            ["line 2, person_id: '-5' is not a person id (a whole number)"],
        ),
    ],
)
def test_validation_errors_name_line_and_field(text: str, errors: list[str]) -> None:
    with pytest.raises(ContactsImportError) as info:
        parse_contacts(text)
    assert info.value.errors == errors
    assert str(info.value).startswith("contacts file refused, nothing stored:\n")


def test_errors_never_show_the_addresses() -> None:
    with pytest.raises(ContactsImportError) as info:
        parse_contacts("person_id,email,phone\n11,kim@@example,010-1234\n")
    assert "kim" not in str(info.value)
    assert "010" not in str(info.value)


def test_a_bad_file_leaves_stored_data_unchanged(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    load_contacts_file(sessions, write(tmp_path, GOOD))
    before = stored(sessions)
    bad = "person_id,email,phone\n11,new@example.org,\n14,,+821000000000\n15,broken,\n"
    with pytest.raises(ContactsImportError, match="line 4, email"):
        load_contacts_file(sessions, write(tmp_path, bad))
    assert stored(sessions) == before


def test_a_file_that_is_not_utf8_is_refused(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("person_id,email,phone\n11,caf\xe9@example.org,\n".encode("latin-1"))
    with pytest.raises(ContactsImportError, match="not UTF-8"):
        load_contacts_file(sessions, path)


def test_the_database_requires_an_address(sessions: sessionmaker[Session]) -> None:
    import datetime as dt

    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        s.add(Recipient(person_id=1, email=None, phone=None, updated_at=dt.datetime.now(dt.UTC)))

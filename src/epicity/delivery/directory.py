"""The recipient directory: import people's addresses from CSV, look them up for delivery.

The file is UTF-8 CSV with a header naming ``person_id``, ``email`` and ``phone`` (any order,
no other columns); each row needs an email, a phone or both. Phones are E.164 (``+`` country
code and number; spaces, dots and hyphens are dropped). Every row is checked before anything
is stored: one bad row refuses the whole file, and the error names its line and field (never
the address itself, which is personal data). A good file is applied in one transaction as an
upsert, so importing it again changes nothing; people not in the file are left as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from epicity.db import session_scope, utcnow
from epicity.delivery.models import EMAIL_MAX, Recipient

__all__ = [
    "COLUMNS",
    "ContactRow",
    "ContactsImportError",
    "ContactsImportResult",
    "import_contacts",
    "load_contacts_file",
    "parse_contacts",
]

COLUMNS = ("person_id", "email", "phone")
MAX_ERRORS = 20  # listed in one error; a file with more is wrong throughout
_EMAIL = re.compile(r"^[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_CHUNK = 500


class ContactsImportError(ValueError):
    """The contacts file was refused; `errors` lists each problem with its line and field."""

    def __init__(self, errors: list[str]) -> None:
        shown = errors[:MAX_ERRORS]
        more = len(errors) - len(shown)
        text = "\n".join(shown) + (f"\n... and {more} more" if more else "")
        super().__init__(f"contacts file refused, nothing stored:\n{text}")
        self.errors = errors


@dataclass(frozen=True)
class ContactRow:
    """One validated row: a person and at least one address."""

    person_id: int
    email: str | None
    phone: str | None


@dataclass(frozen=True)
class ContactsImportResult:
    """How many people were added, changed and already as in the file."""

    inserted: int
    updated: int
    unchanged: int

    @property
    def total(self) -> int:
        return self.inserted + self.updated + self.unchanged


def _email(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if len(value) > EMAIL_MAX or not _EMAIL.match(value):
        raise ValueError("not an email address (name@domain)")
    return value


def _phone(value: str) -> str | None:
    value = re.sub(r"[\s.\-()]", "", value)
    if not value:
        return None
    if not _E164.match(value):
        raise ValueError("not an E.164 phone number (+ country code and number, e.g. +8210...)")
    return value


def parse_contacts(text: str) -> list[ContactRow]:
    """Validate CSV text; every row or a `ContactsImportError` naming lines and fields."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if not header:
        raise ContactsImportError(["line 1: empty file; the header is person_id,email,phone"])
    problems = []
    missing = [c for c in COLUMNS if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing:
        problems.append(f"line 1: missing column(s) {', '.join(missing)}")
    if unknown:
        problems.append(f"line 1: unknown column(s) {', '.join(unknown)}")
    if len(set(header)) != len(header):
        problems.append("line 1: a column is named twice")
    if problems:
        raise ContactsImportError(problems)
    reader.fieldnames = header
    rows: list[ContactRow] = []
    errors: list[str] = []
    seen: dict[int, int] = {}
    for record in reader:
        line = reader.line_num
        if None in record:  # more cells than columns
            errors.append(f"line {line}: more cells than the header's {len(header)} columns")
            continue
        values = {k: (v or "") for k, v in record.items()}
        raw_id = values["person_id"].strip()
        person_id: int | None = None
        try:
            person_id = int(raw_id)
            if not 0 <= person_id < 2**63:
                raise ValueError
        except ValueError:
            errors.append(f"line {line}, person_id: {raw_id!r} is not a person id (a whole number)")
            person_id = None
        fields: dict[str, str | None] = {}
        for name, check in (("email", _email), ("phone", _phone)):
            try:
                fields[name] = check(values[name])
            except ValueError as exc:
                errors.append(f"line {line}, {name}: {exc}")
                fields[name] = None
        if not values["email"].strip() and not re.sub(r"\s", "", values["phone"]):
            errors.append(f"line {line}, email/phone: give an email, a phone or both")
        if person_id is None:
            continue
        if person_id in seen:
            errors.append(
                f"line {line}, person_id: {person_id} is already on line {seen[person_id]}"
            )
            continue
        seen[person_id] = line
        rows.append(ContactRow(person_id, fields["email"], fields["phone"]))
    if errors:
        raise ContactsImportError(errors)
    if not rows:
        raise ContactsImportError(["line 2: no rows after the header"])
    return rows


def import_contacts(
    session: Session, rows: Iterable[ContactRow], *, now: dt.datetime | None = None
) -> ContactsImportResult:
    """Upsert validated rows (flushes; the caller commits): a row replaces that person's
    addresses; rows already equal are left untouched."""
    when = utcnow() if now is None else now
    by_id = {r.person_id: r for r in rows}
    ids = list(by_id)
    existing: dict[int, Recipient] = {}
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i : i + _CHUNK]
        for found in session.scalars(select(Recipient).where(Recipient.person_id.in_(chunk))):
            existing[found.person_id] = found
    inserted = updated = unchanged = 0
    for pid, row in by_id.items():
        rec: Recipient | None = existing.get(pid)
        if rec is None:
            session.add(Recipient(person_id=pid, email=row.email, phone=row.phone, updated_at=when))
            inserted += 1
        elif (rec.email, rec.phone) != (row.email, row.phone):
            rec.email, rec.phone, rec.updated_at = row.email, row.phone, when
            updated += 1
        else:
            unchanged += 1
    session.flush()
    return ContactsImportResult(inserted=inserted, updated=updated, unchanged=unchanged)


def load_contacts_file(
    sessions: sessionmaker[Session], path: Path, *, now: dt.datetime | None = None
) -> ContactsImportResult:
    """Validate the whole file, then import it in one transaction (atomic and idempotent)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ContactsImportError([f"{path.name}: not UTF-8 text (byte {exc.start})"]) from None
    rows = parse_contacts(text)
    with session_scope(sessions) as session:
        return import_contacts(session, rows, now=now)


def address_of(session: Session, recipient: str) -> Recipient | None:
    """The directory entry of an outbox recipient ``person:<id>``, if any."""
    kind, _, raw = recipient.partition(":")
    if kind != "person" or not raw.isdigit():
        return None
    return session.get(Recipient, int(raw))

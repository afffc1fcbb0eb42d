"""The audit log's hash chain: every entry seals its own fields and the previous entry's hash.

Each row of ``audit_log`` carries ``prev_hash`` (the ``hash`` of the row before it, by id; the
first row chains from `GENESIS_HASH`) and ``hash``, the SHA-256 (lower-case hex) of the UTF-8
bytes of this canonical JSON object (`canonical_bytes`)::

    {"action": ..., "actor": ..., "at": "2020-03-02T00:00:00.000000Z", "case_id": 17,
     "detail": {...} or null, "emergency_id": 3 or null, "id": 42, "prev_hash": "ab12...",
     "purpose": ... or null, "role": ..., "rows_returned": 0, "tables": "gps,cell"}

- keys sorted, no whitespace (separators ``,`` and ``:``), non-ASCII escaped as ``\\uXXXX``;
- ``at`` in UTC, always with six fractional digits and a ``Z``;
- integers as JSON integers; in ``detail``, a float with an integral value is written as that
  integer (PostgreSQL's JSONB keeps 1e20 as 100000000000000000000 and -0.0 as 0.0, so the
  difference does not survive storage), other floats in Python's shortest round-trip form;
  NaN and infinities are refused.

Because a row's hash covers its id and its predecessor's hash, changing any field, deleting a
row, or inserting or moving one breaks the chain at that point; `verify_chain` finds the first
such entry. Appends are serialised (`append`) so that two writers can never chain from the
same head: on PostgreSQL by a transaction-level advisory lock keyed on the table, on SQLite
by taking the database's write lock before the head is read.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from epicity.privacy.models import HASH_LENGTH, AuditEntry

__all__ = [
    "GENESIS_HASH",
    "HASHED_FIELDS",
    "VerificationResult",
    "append",
    "canonical_bytes",
    "entry_hash",
    "normalise_detail",
    "verify_chain",
]

# What the first entry chains from.
GENESIS_HASH = "0" * HASH_LENGTH

# The entry fields a hash covers, besides prev_hash.
HASHED_FIELDS = (
    "id",
    "at",
    "actor",
    "role",
    "action",
    "purpose",
    "case_id",
    "emergency_id",
    "tables",
    "rows_returned",
    "detail",
)

# Any 32-bit number that other advisory-lock users of the database will not pick; the second
# key is the table's OID, so each schema's audit_log has its own lock.
_LOCK_CLASS = 0x45504943  # "EPIC"


def _canonical_json(value: Any, where: str) -> Any:
    """`value` with floats made canonical (see the module docstring); refuses NaN, inf."""
    if isinstance(value, bool) or value is None or isinstance(value, int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where} holds {value!r}, which JSON cannot store")
        return int(value) if value.is_integer() else value
    if isinstance(value, Mapping):
        return {str(k): _canonical_json(v, where) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_json(v, where) for v in value]
    raise ValueError(f"{where} holds a {type(value).__name__}, which is not JSON")


def normalise_detail(detail: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """`detail` as JSON gives it back (string keys, lists for tuples).

    Raises ValueError naming ``detail`` when it is not JSON (NaN, infinities, other types).
    """
    if detail is None:
        return None
    _canonical_json(detail, "detail")  # refuses what the hash could not cover
    try:
        normal = json.loads(json.dumps(detail, allow_nan=False))
    except (TypeError, ValueError) as exc:  # e.g. keys JSON cannot hold
        raise ValueError(f"detail is not JSON: {exc}") from None
    assert isinstance(normal, dict)
    return normal


def _timestamp(at: Any) -> str:
    if not isinstance(at, dt.datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"audit entry time {at!r} is not a timezone-aware datetime")
    return at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_bytes(fields: Mapping[Any, Any], prev_hash: str) -> bytes:
    """The canonical serialisation of an entry's `fields` (`HASHED_FIELDS`) and `prev_hash`."""
    document: dict[str, Any] = {name: fields[name] for name in HASHED_FIELDS}
    document["at"] = _timestamp(document["at"])
    for name in ("id", "case_id", "emergency_id", "rows_returned"):
        if document[name] is not None:
            document[name] = int(document[name])
    document["detail"] = _canonical_json(document["detail"], "detail")
    document["prev_hash"] = prev_hash
    return json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("utf-8")


def entry_hash(fields: Mapping[Any, Any], prev_hash: str) -> str:
    """SHA-256 (hex) of `canonical_bytes`: the hash an entry with these fields must carry."""
    return hashlib.sha256(canonical_bytes(fields, prev_hash)).hexdigest()


def _fields(entry: AuditEntry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in HASHED_FIELDS}


def _audit_table() -> Table:
    table = AuditEntry.__table__
    assert isinstance(table, Table)
    return table


def append(session: Session, entry: AuditEntry) -> AuditEntry:
    """Give a new, unsaved `entry` its id, ``prev_hash`` and ``hash``; add and flush it.

    Holds the chain's lock until the caller's transaction ends, so concurrent appends queue
    up behind each other instead of forking the chain.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(
            text("SELECT pg_advisory_xact_lock(:cls, CAST('audit_log'::regclass::oid AS integer))"),
            {"cls": _LOCK_CLASS},
        )
    elif dialect == "sqlite":
        # An UPDATE that matches no row still takes SQLite's write lock (and opens the
        # transaction), so the head read next cannot go stale before our INSERT.
        session.execute(text("UPDATE audit_log SET id = id WHERE 0"))
    # Column defaults apply only at flush, but the hash needs the final values now.
    entry.tables = entry.tables if entry.tables is not None else ""
    entry.rows_returned = entry.rows_returned if entry.rows_returned is not None else 0
    table = _audit_table()
    head = session.execute(
        select(table.c.id, table.c.hash).order_by(table.c.id.desc()).limit(1)
    ).first()
    if dialect == "postgresql":
        # Keep the serial sequence in step, so ids follow the chain even across rollbacks.
        new_id = session.execute(
            text("SELECT nextval(pg_get_serial_sequence('audit_log', 'id'))")
        ).scalar_one()
    else:
        new_id = (head.id if head is not None else 0) + 1
    entry.id = int(new_id)
    entry.prev_hash = head.hash if head is not None else GENESIS_HASH
    entry.hash = entry_hash(_fields(entry), entry.prev_hash)
    session.add(entry)
    session.flush()
    return entry


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of `verify_chain`.

    `entries` counts the entries that verified (all of them when `intact`); `head` is the
    last verified entry's hash (`GENESIS_HASH` for an empty log). When broken, `bad_id` is the
    first entry that does not verify and `reason` says why.
    """

    intact: bool
    entries: int
    head: str
    bad_id: int | None = None
    reason: str | None = None


def _short(value: str | None) -> str:
    return "NULL" if value is None else value[:12]


def verify_chain(session: Session, *, batch_size: int = 1000) -> VerificationResult:
    """Walk the audit log by id, recompute every hash and check every link.

    Stops at the first entry that is altered (its stored hash does not match its fields), or
    that does not chain from the entry before it (an entry before it was deleted, or it was
    inserted or moved).
    """
    table = _audit_table()
    result = session.execute(
        select(table).order_by(table.c.id).execution_options(yield_per=batch_size)
    )
    try:  # closing matters: on PostgreSQL the rows stream from a server-side cursor
        return _walk(result.mappings())
    finally:
        result.close()


def _walk(rows: Iterable[Mapping[Any, Any]]) -> VerificationResult:
    """`verify_chain` over `rows` in id order."""
    expected_prev, prev_id, count = GENESIS_HASH, None, 0
    for row in rows:
        where = "the genesis value" if prev_id is None else f"entry {prev_id}"
        try:
            recomputed = entry_hash(row, row["prev_hash"] or "")
        except ValueError as exc:
            reason = f"cannot be hashed: {exc}"
            return VerificationResult(False, count, expected_prev, row["id"], reason)
        if row["hash"] != recomputed:
            return VerificationResult(
                False,
                count,
                expected_prev,
                row["id"],
                f"altered: its stored hash {_short(row['hash'])}... does not match its "
                f"contents (recomputed {recomputed[:12]}...)",
            )
        if row["prev_hash"] != expected_prev:
            gap = (
                f"; ids jump from {prev_id} to {row['id']}"
                if prev_id is not None and row["id"] != prev_id + 1
                else ""
            )
            return VerificationResult(
                False,
                count,
                expected_prev,
                row["id"],
                f"does not chain from {where}: prev_hash {_short(row['prev_hash'])}... is not "
                f"{expected_prev[:12]}... (an entry before it was deleted, or this one was "
                f"inserted or moved{gap})",
            )
        expected_prev, prev_id, count = row["hash"], row["id"], count + 1
    return VerificationResult(True, count, expected_prev)

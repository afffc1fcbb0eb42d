"""The CAC suppliers directory: makers of test kits and equipment, what they make, their
regulatory approvals and a business contact.

Plain functions with keyword-only arguments (no web imports), inside the caller's
transaction. An entry is one company's product; `upsert_supplier` finds an existing entry by
its ``external_ref`` (when given) or by company and product, so loading the same list twice
changes nothing. The contact is a company's business channel (an e-mail address, a web page
or a phone number); the directory is public and must not name a person, which the staff who
maintain it are told (docs/open-data.md): a format check cannot tell a person's address from
a sales desk's.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from epicity.cac.library_errors import LibraryError, LibraryNotFound
from epicity.cac.library_models import (
    ACTOR_MAX,
    APPROVAL_AUTHORITIES,
    COMPANY_MAX,
    CONTACT_MAX,
    NOTE_MAX,
    PRODUCT_MAX,
    REF_MAX,
    SOURCE_MAX,
    SUPPLIER_KINDS,
    URL_MAX,
    Supplier,
    SupplierApproval,
)
from epicity.cac.service import COUNTRIES

__all__ = [
    "MAX_APPROVALS",
    "MAX_CAPACITY",
    "SupplierPage",
    "approvals_of",
    "get_supplier",
    "list_suppliers",
    "supplier_json",
    "upsert_supplier",
]

MAX_APPROVALS = 10
MAX_CAPACITY = 10**9  # tests (or items) a day
PER_PAGE_MAX = 100
PAGE_MAX = 1000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MULTILINE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{5,24}$")
_URL = re.compile(r"^https?://[^\s/?#]+\.[^\s/?#]+(?:[/?#]\S*)?$")


def _clean(field: str, value: Any, limit: int, *, required: bool, multiline: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise LibraryError(field, "must be text")
    cleaned: str = value.strip()
    if required and not cleaned:
        raise LibraryError(field, "required")
    if len(cleaned) > limit:
        raise LibraryError(field, f"at most {limit:,} characters")
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(cleaned):
        raise LibraryError(field, "must not contain control characters")
    return cleaned


def _url(field: str, value: Any) -> str:
    url = _clean(field, value, URL_MAX, required=False)
    if url and not _URL.fullmatch(url):
        raise LibraryError(field, "must be an http(s) URL")
    return url


def _contact(value: Any) -> str:
    contact = _clean("contact", value, CONTACT_MAX, required=False)
    if contact and not (
        _EMAIL.fullmatch(contact) or _PHONE.fullmatch(contact) or _URL.fullmatch(contact)
    ):
        raise LibraryError(
            "contact", "a business e-mail address, phone number or http(s) URL of the company"
        )
    return contact


def _date(field: str, value: Any) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise LibraryError(field, "must be a date (YYYY-MM-DD)") from None
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        raise LibraryError(field, "must be a date (YYYY-MM-DD)")
    if not dt.date(2019, 12, 1) <= value <= dt.date(2100, 1, 1):
        raise LibraryError(field, "must be from 2019-12-01 on")
    return value


def _approvals(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise LibraryError("approvals", "must be a list")
    if len(value) > MAX_APPROVALS:
        raise LibraryError("approvals", f"at most {MAX_APPROVALS}")
    found: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(value):
        where = f"approvals.{i}"
        if not isinstance(item, dict):
            raise LibraryError(where, "must be an object")
        unknown = set(item) - {"authority", "date", "reference", "source", "note"}
        if unknown:
            raise LibraryError(f"{where}.{sorted(unknown)[0]}", "unknown field")
        authority = item.get("authority")
        if authority not in APPROVAL_AUTHORITIES:
            raise LibraryError(
                f"{where}.authority", f"must be one of {', '.join(APPROVAL_AUTHORITIES)}"
            )
        if authority in found:
            raise LibraryError(f"{where}.authority", f"{authority} is listed twice")
        found[authority] = {
            "authority": authority,
            "approved_on": _date(f"{where}.date", item.get("date")),
            "reference": _clean(
                f"{where}.reference", item.get("reference"), SOURCE_MAX, required=False
            ),
            "source": _clean(f"{where}.source", item.get("source"), SOURCE_MAX, required=False),
            "note": _clean(f"{where}.note", item.get("note"), SOURCE_MAX, required=False),
        }
    return list(found.values())


def upsert_supplier(
    session: Session,
    *,
    company: Any,
    product: Any,
    kind: Any,
    country: Any,
    actor: str,
    now: dt.datetime,
    company_local: Any = "",
    website: Any = "",
    contact: Any = "",
    daily_capacity: Any = None,
    notes: Any = "",
    source: Any = "",
    approvals: Any = None,
    external_ref: Any = None,
) -> tuple[Supplier, str]:
    """Store a supplier's product, or update the stored one (same `external_ref`, else same
    company and product). Returns it and "created", "updated" or "unchanged"."""
    if kind not in SUPPLIER_KINDS:
        raise LibraryError("kind", f"must be one of {', '.join(SUPPLIER_KINDS)}")
    code = country.strip().upper() if isinstance(country, str) else ""
    if code not in COUNTRIES:
        raise LibraryError("country", f"{country!r} is not an ISO 3166 alpha-2 code (e.g. KR)")
    if daily_capacity is not None and (
        isinstance(daily_capacity, bool)
        or not isinstance(daily_capacity, int)
        or not 0 <= daily_capacity <= MAX_CAPACITY
    ):
        raise LibraryError("daily_capacity", f"a whole number from 0 to {MAX_CAPACITY:,}")
    fields: dict[str, Any] = {
        "company": _clean("company", company, COMPANY_MAX, required=True),
        "company_local": _clean("company_local", company_local, COMPANY_MAX, required=False),
        "product": _clean("product", product, PRODUCT_MAX, required=True),
        "kind": kind,
        "country": code,
        "website": _url("website", website),
        "contact": _contact(contact),
        "daily_capacity": daily_capacity,
        "notes": _clean("notes", notes, NOTE_MAX, required=False, multiline=True),
        "source": _clean("source", source, NOTE_MAX, required=False, multiline=True),
    }
    approval_rows = _approvals(approvals)
    ref = _clean("external_ref", external_ref, REF_MAX, required=False) or None
    actor = actor[:ACTOR_MAX]

    row = None
    if ref is not None:
        row = session.scalar(select(Supplier).where(Supplier.external_ref == ref))
    if row is None:
        row = session.scalar(
            select(Supplier).where(
                Supplier.company == fields["company"], Supplier.product == fields["product"]
            )
        )
    if row is None:
        row = Supplier(external_ref=ref, posted_by=actor, created_at=now, updated_at=now, **fields)
        session.add(row)
        session.flush()
        session.add_all(SupplierApproval(supplier_id=row.id, **a) for a in approval_rows)
        session.flush()
        return row, "created"
    changed = {k: v for k, v in fields.items() if getattr(row, k) != v}
    if ref is not None and row.external_ref != ref:
        changed["external_ref"] = ref
    stored = approvals_of(session, [row.id])[row.id]
    same_approvals = sorted(stored, key=lambda a: a["authority"]) == sorted(
        approval_rows, key=lambda a: a["authority"]
    )
    if not changed and same_approvals:
        return row, "unchanged"
    for key, value in changed.items():
        setattr(row, key, value)
    row.updated_at = now
    row.posted_by = actor
    if not same_approvals:
        session.execute(delete(SupplierApproval).where(SupplierApproval.supplier_id == row.id))
        session.add_all(SupplierApproval(supplier_id=row.id, **a) for a in approval_rows)
    session.flush()
    return row, "updated"


def approvals_of(session: Session, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """The approvals of each supplier in `ids`, by authority in `APPROVAL_AUTHORITIES`'
    order."""
    found: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return found
    order = {a: i for i, a in enumerate(APPROVAL_AUTHORITIES)}
    rows = session.scalars(select(SupplierApproval).where(SupplierApproval.supplier_id.in_(ids)))
    for a in sorted(rows, key=lambda r: (r.supplier_id, order[r.authority])):
        found[a.supplier_id].append(
            {
                "authority": a.authority,
                "approved_on": a.approved_on,
                "reference": a.reference,
                "source": a.source,
                "note": a.note,
            }
        )
    return found


def supplier_json(row: Supplier, approvals: list[dict[str, Any]]) -> dict[str, Any]:
    """The public JSON of a supplier's entry."""
    return {
        "id": row.id,
        "company": row.company,
        "company_local": row.company_local,
        "product": row.product,
        "kind": row.kind,
        "country": row.country,
        "website": row.website,
        "contact": row.contact,
        "daily_capacity": row.daily_capacity,
        "approvals": [
            {
                "authority": a["authority"],
                "date": a["approved_on"].isoformat() if a["approved_on"] else None,
                "reference": a["reference"],
                "source": a["source"],
                "note": a["note"],
            }
            for a in approvals
        ],
        "notes": row.notes,
        "source": row.source,
        "external_ref": row.external_ref,
        "updated_at": row.updated_at.isoformat(),
    }


def get_supplier(session: Session, *, supplier_id: int) -> Supplier:
    """The supplier entry `supplier_id`."""
    row = session.get(Supplier, supplier_id)
    if row is None:
        raise LibraryNotFound("supplier_id", f"no supplier {supplier_id}")
    return row


@dataclass(frozen=True)
class SupplierPage:
    """A page of suppliers, the number of all matches and the page's position."""

    suppliers: list[Supplier]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages all matches fill (at least one)."""
        return max(1, -(-self.total // self.per_page))


def list_suppliers(
    session: Session,
    *,
    kind: str | None = None,
    country: str | None = None,
    authority: str | None = None,
    q: str | None = None,
    min_capacity: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> SupplierPage:
    """Suppliers matching every filter given, by company then product: `kind`, `country`,
    holding an approval of `authority`, `q` in the company (English or local name) or
    product (case-insensitive substring), at least `min_capacity` a day."""
    if not 1 <= page <= PAGE_MAX:
        raise LibraryError("page", f"must be from 1 to {PAGE_MAX}")
    if not 1 <= per_page <= PER_PAGE_MAX:
        raise LibraryError("per_page", f"must be from 1 to {PER_PAGE_MAX}")
    stmt = select(Supplier)
    if kind is not None:
        if kind not in SUPPLIER_KINDS:
            raise LibraryError("kind", f"must be one of {', '.join(SUPPLIER_KINDS)}")
        stmt = stmt.where(Supplier.kind == kind)
    if country is not None:
        stmt = stmt.where(Supplier.country == country.strip().upper())
    if authority is not None:
        if authority not in APPROVAL_AUTHORITIES:
            raise LibraryError("authority", f"must be one of {', '.join(APPROVAL_AUTHORITIES)}")
        stmt = stmt.where(
            select(SupplierApproval.supplier_id)
            .where(
                SupplierApproval.supplier_id == Supplier.id,
                SupplierApproval.authority == authority,
            )
            .exists()
        )
    words = (q or "").strip().lower()
    if words:
        # LIKE's wildcards in the user's text are matched literally.
        pattern = "%" + re.sub(r"([\\%_])", r"\\\1", words) + "%"
        stmt = stmt.where(
            or_(
                func.lower(Supplier.company).like(pattern, escape="\\"),
                func.lower(Supplier.company_local).like(pattern, escape="\\"),
                func.lower(Supplier.product).like(pattern, escape="\\"),
            )
        )
    if min_capacity is not None:
        stmt = stmt.where(Supplier.daily_capacity >= min_capacity)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(
        stmt.order_by(Supplier.company, Supplier.product, Supplier.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    return SupplierPage(list(rows), int(total), page, per_page)

"""Console page of the audit log (admins): the newest entries with filters and paging, and
whether the hash chain verifies (`epicity.privacy.chain.verify_chain`) at the top.

It shows what the audit log holds and nothing more (no case or location data is joined in).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from epicity.accounts.permissions import Capability
from epicity.privacy.chain import verify_chain
from epicity.privacy.models import ACTOR_MAX, AuditEntry
from epicity.web.deps import Caller, DbSession, need
from epicity.web.pages import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

_DETAIL_MAX = 300  # characters of an entry's detail shown in the table


def _page_urls(
    filters: Mapping[str, str], limit: int, offset: int, more: bool
) -> dict[str, str | None]:
    """Links to the previous and next page with the same filters (None at either end)."""
    kept = {k: v for k, v in filters.items() if v}

    def url(at: int) -> str:
        return f"/console/audit?{urlencode({**kept, 'limit': limit, 'offset': at})}"

    return {
        "prev_url": url(max(0, offset - limit)) if offset > 0 else None,
        "next_url": url(offset + limit) if more else None,
    }


def _detail(entry: AuditEntry) -> str:
    if not entry.detail:
        return ""
    text = json.dumps(entry.detail, sort_keys=True, ensure_ascii=False, separators=(", ", ": "))
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"


@router.get("/console/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    session: DbSession,
    caller: Annotated[Caller, Depends(need(Capability.READ_AUDIT))],
    action: Annotated[str, Query(max_length=64)] = "",
    actor: Annotated[str, Query(max_length=ACTOR_MAX)] = "",
    case_id: Annotated[str, Query(max_length=20)] = "",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> Response:
    """The audit log, newest first, filtered by action, actor and case id."""
    del caller
    filters = {"action": action.strip(), "actor": actor.strip(), "case_id": case_id.strip()}
    error = None
    query = select(AuditEntry)
    if filters["action"]:
        query = query.where(AuditEntry.action == filters["action"])
    if filters["actor"]:
        query = query.where(AuditEntry.actor == filters["actor"])
    if filters["case_id"]:
        if filters["case_id"].isdigit() and int(filters["case_id"]) <= 2**63 - 1:
            query = query.where(AuditEntry.case_id == int(filters["case_id"]))
        else:
            error = f"case_id must be a whole number, got {filters['case_id']!r}"
    entries: list[AuditEntry] = []
    if error is None:
        entries = list(
            session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit + 1).offset(offset))
        )
    actions = list(
        session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action))
    )
    context = {
        "verification": verify_chain(session),
        "entries": [(e, _detail(e)) for e in entries[:limit]],
        "filters": filters,
        "actions": actions,
        "error": error,
        "offset": offset,
        **_page_urls(filters, limit, offset, len(entries) > limit),
    }
    return render(request, "audit.html", context, status=400 if error else 200)

"""The console's isolation page: a health officer's caseload on one page, worst first (open
alerts, then missed check-ins, red flags, fever), with a form to acknowledge each alert.

The routes call the service directly and stay out of the OpenAPI schema. An acknowledgement
that succeeds is committed, then redirects back (303); a refused one re-renders the page
with the reason. Forms carry the session's CSRF token like the console's other forms.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from epicity.accounts.permissions import Capability
from epicity.isolation import service
from epicity.isolation.errors import IsolationError, IsolationNotFound
from epicity.web.deps import Caller, DbSession, need
from epicity.web.pages import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Officer = Annotated[Caller, Depends(need(Capability.MANAGE_ISOLATION))]

_NOTICES = {"acknowledged": "Alert acknowledged."}


def _page(
    request: Request,
    session: DbSession,
    caller: Caller,
    *,
    everyone: bool = False,
    notice: str = "",
    error: str = "",
    status: int = 200,
) -> Response:
    assert caller.user is not None
    officer = None if everyone else int(caller.user.id)
    rows = service.caseload(session, officer_id=officer)
    context = {
        "rows": rows,
        "everyone": everyone,
        "notice": _NOTICES.get(notice, ""),
        "error": error,
        "fever_c": service.FEVER_C,
        "windows": {
            name: f"{a.strftime('%H:%M')}-{b.strftime('%H:%M')}"
            for name, (a, b) in service.WINDOWS.items()
        },
        "seoul": service.SEOUL,
        "open_alerts": sum(len(r.open_alerts) for r in rows),
    }
    return render(request, "isolation.html", context, status=status)


@router.get("/console/isolation", response_class=HTMLResponse)
def caseload_page(
    request: Request,
    session: DbSession,
    caller: Officer,
    everyone: Annotated[bool, Query(alias="all")] = False,
    notice: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """The caller's caseload (every officer's with ``?all=true``), worst first."""
    return _page(request, session, caller, everyone=everyone, notice=notice)


@router.post("/console/isolation/alerts/{alert_id}/acknowledge")
def acknowledge_form(
    request: Request,
    session: DbSession,
    caller: Officer,
    alert_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    note: Annotated[str, Form(max_length=10_000)] = "",
    everyone: Annotated[str, Form(alias="all", max_length=8)] = "",
) -> Response:
    """Acknowledge an alert with a note of what was done."""
    try:
        alert = service.acknowledge(session, alert_id=alert_id, actor=caller.actor, note=note)
    except IsolationError as err:
        session.rollback()
        status = 404 if isinstance(err, IsolationNotFound) else 409
        if not isinstance(err, IsolationNotFound) and "note" in str(err):
            status = 400
        return _page(request, session, caller, everyone=everyone == "true", error=str(err),
                     status=status)  # fmt: skip
    # Commit before answering: the browser follows the redirect at once.
    session.commit()
    query = "all=true&" if everyone == "true" else ""
    return RedirectResponse(
        f"/console/isolation?{query}notice=acknowledged#reg-{alert.registration_id}",
        status_code=303,
    )

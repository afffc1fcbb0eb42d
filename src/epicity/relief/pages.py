"""The relief console page: applications waiting for a decision, each with its eligibility
checked against the current records, and approve/reject forms (CSRF like every console
form). A refused decision re-renders the page with the rule's message (400); a decision made
is committed, then redirects back (303)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from epicity.accounts.permissions import Capability
from epicity.relief import service
from epicity.relief.errors import ApplicationNotFound, ReliefError
from epicity.relief.models import APPLICATION_STATUSES
from epicity.web.deps import Caller, DbSession, need
from epicity.web.pages import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)

Officer = Annotated[Caller, Depends(need(Capability.DECIDE_RELIEF))]
_NOTICES = {"approved": "Application approved.", "rejected": "Application rejected."}


def _page(
    request: Request,
    session: Session,
    *,
    status: str = "pending",
    error: str | None = None,
    notice: str | None = None,
    code: int = 200,
) -> Response:
    if status not in APPLICATION_STATUSES:
        status, error, code = "pending", f"status: must be one of {APPLICATION_STATUSES}", 400
    rows = service.list_applications(session, status=status, limit=500)
    items = [
        {
            "app": row,
            "check": service.check_eligibility(session, row) if status == "pending" else None,
            "payment": service.payment_for(session, application_id=row.id),
        }
        for row in rows
    ]
    context = {
        "items": items,
        "status": status,
        "statuses": APPLICATION_STATUSES,
        "error": error,
        "notice": _NOTICES.get(notice or ""),
    }
    return render(request, "relief.html", context, status=code)


@router.get("/console/relief", response_class=HTMLResponse)
def relief_page(
    request: Request,
    session: DbSession,
    caller: Officer,
    status: Annotated[str, Query(max_length=16)] = "pending",
    notice: Annotated[str, Query(max_length=16)] = "",
) -> Response:
    """Relief applications (waiting ones first), with eligibility evidence and decisions."""
    del caller
    return _page(request, session, status=status.strip(), notice=notice)


@router.post("/console/relief/{application_id}/decision")
def decision_form(
    request: Request,
    session: DbSession,
    caller: Officer,
    application_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    decision: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Approve or reject an application with a reason."""
    try:
        if decision not in ("approve", "reject"):
            raise ReliefError("decision: choose approve or reject")
        row = service.decide(
            session,
            application_id=application_id,
            approve=decision == "approve",
            reason=reason,
            actor=caller.actor,
        )
    except ApplicationNotFound as err:
        session.rollback()
        return _page(request, session, error=str(err), code=404)
    except ReliefError as err:
        session.rollback()
        return _page(request, session, error=str(err), code=400)
    session.commit()
    return RedirectResponse(f"/console/relief?notice={row.status}", status_code=303)

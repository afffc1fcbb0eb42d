"""Console pages shared by all domains: the login page and the home page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from epicity.accounts.permissions import Capability, capabilities_of
from epicity.web.deps import CurrentCaller
from epicity.web.pages import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, caller: CurrentCaller, next: str = "/") -> Response:
    """The login form."""
    del caller  # resolved for the menu (render reads request.state.caller)
    return render(request, "login.html", {"next": next[:300]})


# Where "/" sends a logged-in caller: the first of these pages their role may open.
HOME_PAGES = (
    (Capability.READ_CASES, "/console/cases"),
    (Capability.MANAGE_ISOLATION, "/console/isolation"),
    (Capability.RUN_SCREENING, "/console/screening"),
    (Capability.READ_AUDIT, "/console/audit"),
    (Capability.READ_AGGREGATES, "/console/analytics"),
    (Capability.READ_OWN_RECORDS, "/docs"),
)


@router.get("/")
def home(caller: CurrentCaller) -> Response:
    """Staff go to the first console page their role opens; the public to the public
    dashboard (whose footer links to the staff login)."""
    user = caller.user
    if user is None:
        return RedirectResponse("/public", status_code=303)
    can = capabilities_of(user.role)
    page = next((path for capability, path in HOME_PAGES if capability in can), "/docs")
    return RedirectResponse(page, status_code=303)

"""Console pages shared by all domains: the login page and the home page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from epicity.web.deps import CurrentCaller
from epicity.web.pages import render

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, caller: CurrentCaller, next: str = "/") -> Response:
    """The login form."""
    del caller  # resolved for the menu (render reads request.state.caller)
    return render(request, "login.html", {"next": next[:300]})


@router.get("/")
def home(caller: CurrentCaller) -> Response:
    """Staff go to the case list; everyone else to the login page."""
    return RedirectResponse("/console/cases" if caller.user else "/login", status_code=303)

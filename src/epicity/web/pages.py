"""Server-rendered console pages: Jinja2 templates shipped in the package, no JavaScript
framework (Plotly, served from the package, draws the charts and maps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from epicity.accounts.permissions import capabilities_of

__all__ = ["TEMPLATES", "render"]

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """A page from `template`; every page gets the caller, its capabilities (the menu shows
    only the pages the caller may open) and its CSRF token."""
    caller = getattr(request.state, "caller", None)
    user = caller.user if caller is not None else None
    can = {c.value for c in capabilities_of(user.role if user is not None else None)}
    ctx = {"caller": caller, "can": can, "csrf": caller.csrf if caller is not None else None}
    ctx.update(context or {})
    return TEMPLATES.TemplateResponse(request, template, ctx, status_code=status)

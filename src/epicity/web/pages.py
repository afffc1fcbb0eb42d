"""Server-rendered console pages: Jinja2 templates shipped in the package, no JavaScript
framework (Plotly, served from the package, draws the charts and maps)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

__all__ = ["TEMPLATES", "render"]

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> HTMLResponse:
    """A page from `template`; every page gets the caller (for the menu) and its CSRF token."""
    caller = getattr(request.state, "caller", None)
    ctx = {"caller": caller, "csrf": caller.csrf if caller is not None else None}
    ctx.update(context or {})
    return TEMPLATES.TemplateResponse(request, template, ctx, status_code=status)

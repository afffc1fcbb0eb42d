"""The FastAPI application: `create_app` wires the domains' routers, the database and the
console's templates and static files (Plotly served from the installed package, no CDN).

    uvicorn --factory epicity.web.app:create_app      # or: epicity serve
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import plotly
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from sqlalchemy.exc import DataError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from epicity import __version__
from epicity.accounts.errors import (
    AccountError,
    InvalidField,
    LoginRequired,
    PermissionDenied,
    UsernameTaken,
    UserNotFound,
)
from epicity.accounts.service import AccountPolicy
from epicity.analytics.errors import AnalyticsError, NotEnoughData
from epicity.cac.errors import (
    CacConflict,
    CacError,
    CacInvalid,
    CityNotFound,
    KeyInvalid,
    PublisherNotFound,
    UpdatesInvalid,
)
from epicity.cac.library_errors import (
    AttachmentTooLarge,
    AttachmentUnsupported,
    LibraryConflict,
    LibraryError,
    LibraryNotFound,
)
from epicity.cases.errors import CaseError, Conflict, IllegalTransition, NotFound
from epicity.db import make_engine, migrate, session_factory
from epicity.exposure.errors import (
    ExportNotFound,
    ExposureError,
    ExposureInvalid,
    PublishInvalid,
    RateLimited,
    TokenInvalid,
)
from epicity.exposure.venue_errors import (
    VenueConflict,
    VenueError,
    VenueForbidden,
    VenueInvalid,
    VenueNotFound,
)
from epicity.isolation.errors import (
    IsolationConflict,
    IsolationError,
    IsolationInvalid,
    IsolationNotFound,
)
from epicity.notices.errors import NoticeError
from epicity.opendata.api import install_open_api
from epicity.opendata.errors import Conflict as OpendataConflict
from epicity.opendata.errors import NotFound as OpendataNotFound
from epicity.opendata.errors import OpendataError
from epicity.opendata.service import publishing_lifespan
from epicity.privacy.errors import AccessDenied, EmergencyConflict, NoActiveEmergency, PrivacyError
from epicity.relief.errors import (
    AlreadyDecided,
    ApplicationNotFound,
    DuplicateApplication,
    NotEligible,
    ReliefError,
    ReliefInvalid,
)
from epicity.screening.errors import Conflict as ScreeningConflict
from epicity.screening.errors import NotFound as ScreeningNotFound
from epicity.screening.errors import ScreeningError, SlotUnavailable
from epicity.triage.engine import AnswerInvalid
from epicity.web.deps import TokenCache

__all__ = ["PLOTLY_JS", "create_app"]

PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
DB_GATE = 16  # requests holding a database session at once, per process


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    # ("body", "name") -> "name"; ("query", "limit") -> "limit"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or ".".join(str(p) for p in loc)


def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": _field(e.get("loc", ())), "problem": str(e.get("msg", "invalid"))}
        for e in exc.errors()
    ]
    text = "; ".join(f"{p['field']}: {p['problem']}" for p in problems)
    return JSONResponse({"detail": text, "errors": problems}, status_code=422)


def _domain_error(_: Request, exc: Exception) -> Response:
    """Refusals by a domain's rules are the client's to fix: 4xx with the rule's message."""
    status = next((code for kinds, code in _STATUS_OF if isinstance(exc, kinds)), 400)
    body: dict[str, Any] = {"detail": str(exc)}
    if isinstance(exc, InvalidField):
        body["errors"] = [{"field": exc.field, "problem": str(exc)}]
    if isinstance(exc, LibraryError | ExposureInvalid | VenueError):
        body["errors"] = [{"field": exc.field, "problem": exc.problem}]
    if isinstance(exc, PublishInvalid):
        body["errors"] = exc.errors
    return JSONResponse(body, status_code=status)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    # The console's pages send a browser to the login page rather than showing a 401.
    if exc.status_code == 401 and "text/html" in request.headers.get("accept", ""):
        return Response(status_code=303, headers={"Location": f"/login?next={request.url.path}"})
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
    )


def _integrity_error(_: Request, exc: Exception) -> Response:
    """Two clients racing for the same unique row: the loser is told, not given a 500."""
    del exc  # its text names columns and values: not for the client, nor the logs
    return JSONResponse(
        {"detail": "conflict with stored data (a concurrent change?); reload and retry"},
        status_code=409,
    )


def _data_error(_: Request, exc: Exception) -> Response:
    """A value the database cannot store (a NUL character in text, an out-of-range number)."""
    del exc  # its text holds the value: not for the logs
    return JSONResponse(
        {
            "detail": "a value cannot be stored: text must not contain NUL characters, "
            "numbers must be in range"
        },
        status_code=400,
    )


def domain_errors() -> tuple[type[Exception], ...]:
    """Exception classes whose messages are safe to show and that mean bad input."""
    return (
        AccountError,
        AnalyticsError,
        CacError,
        CaseError,
        ExposureError,
        VenueError,
        LibraryError,
        IsolationError,
        NoticeError,
        OpendataError,
        PrivacyError,
        ReliefError,
        AnswerInvalid,
        ScreeningError,
    )


# A domain refusal's status, first match wins; any other refusal is a 400.
_STATUS_OF: tuple[tuple[tuple[type[Exception], ...], int], ...] = (
    ((LoginRequired,), 401),
    ((PermissionDenied, AccessDenied), 403),
    ((UserNotFound, NotFound), 404),
    # the request clashes with the current state
    ((UsernameTaken, Conflict, EmergencyConflict, IllegalTransition, NoActiveEmergency), 409),
    ((ApplicationNotFound,), 404),
    ((DuplicateApplication, NotEligible, AlreadyDecided), 409),
    ((ReliefInvalid, AnswerInvalid), 422),
    ((ScreeningNotFound,), 404),
    ((ScreeningConflict, SlotUnavailable), 409),
    ((IsolationNotFound,), 404),
    ((IsolationConflict,), 409),
    ((IsolationInvalid,), 422),
    ((NotEnoughData,), 422),
    ((OpendataNotFound,), 404),
    ((OpendataConflict,), 409),
    ((KeyInvalid,), 401),
    ((CityNotFound, PublisherNotFound), 404),
    ((CacConflict,), 409),
    ((CacInvalid, UpdatesInvalid), 422),
    ((LibraryNotFound,), 404),
    ((LibraryConflict,), 409),
    ((AttachmentTooLarge,), 413),
    ((AttachmentUnsupported,), 415),
    ((TokenInvalid,), 401),
    ((ExportNotFound,), 404),
    ((RateLimited,), 429),
    ((ExposureInvalid, PublishInvalid), 422),
    ((VenueNotFound,), 404),
    ((VenueForbidden,), 403),
    ((VenueConflict,), 409),
    ((VenueInvalid,), 422),
)


def create_app(
    database_url: str | None = None,
    *,
    store: Path | None = None,
    account_policy: AccountPolicy | None = None,
    secure_cookies: bool = True,
    migrate_database: bool = True,
) -> FastAPI:
    """The epicity web application on `database_url` (default: `EPICITY_DATABASE_URL` or the
    SQLite file), migrated on start. `store` is the location store investigations read."""
    from epicity.web.routers import all_routers

    # A request may hold two connections (its session, and the audit or login transaction it
    # opens), so the pool has room for twice the requests the gate lets hold a session.
    engine = make_engine(database_url, pool_size=DB_GATE, max_overflow=DB_GATE)
    if migrate_database:
        migrate(engine)
    app = FastAPI(
        title="epicity",
        version=__version__,
        description="Epidemic response for a city: cases, contacts, investigations, warnings.",
        lifespan=publishing_lifespan,  # scheduled publishing when EPICITY_PUBLISH_EVERY is set
    )
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.db_gate = anyio.Semaphore(DB_GATE)
    app.state.token_cache = TokenCache()
    app.state.account_policy = account_policy or AccountPolicy()
    app.state.secure_cookies = secure_cookies
    app.state.store = store
    install_open_api(app)  # /api/open/: CORS, rate limit per client, ETags, response cache
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    for error in domain_errors():
        app.add_exception_handler(error, _domain_error)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_js() -> FileResponse:
        return FileResponse(PLOTLY_JS, media_type="text/javascript")

    @app.get("/healthz", tags=["service"])
    def health() -> dict[str, str]:
        """Liveness: the service answers and reaches its database."""
        with engine.connect() as con:
            con.exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": __version__}

    for router in all_routers():
        app.include_router(router)
    return app


def app_from_environment() -> FastAPI:
    """`create_app` configured from EPICITY_DATABASE_URL and EPICITY_STORE (uvicorn workers)."""
    import os

    store = os.environ.get("EPICITY_STORE")
    return create_app(store=Path(store) if store else None)

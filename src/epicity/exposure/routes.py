"""The key server over HTTP (`/api/v1/exposure`), for exposure-notification apps.

- ``POST /verify`` (public, rate limited): a verification code for an upload token.
- ``POST /publish`` (``Authorization: Bearer enu_...``, the upload token; nothing else
  counts, a staff login included): diagnosis keys.
- ``GET /exports/index.txt``, ``GET /exports/{region}/{name}.zip``, ``GET /exports/keys``
  (public): the signed export files, their index and the public signing keys. Files never
  change once made: strong ETags (their SHA-256) and a day's caching; the index a minute.

The settings are read from the environment on every request (`ExposureSettings.from_env`),
so a deployment's change needs no code; see `epicity.exposure.settings`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, NoReturn

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from epicity.db import utcnow
from epicity.exposure import keyserver, verification
from epicity.exposure.errors import CodeRefused, PublishInvalid, RateLimited, TokenInvalid
from epicity.exposure.models import NAME_MAX, REGION_MAX
from epicity.exposure.settings import ExposureSettings
from epicity.web.deps import DbSession

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/exposure", tags=["exposure"])

_REALM = {"WWW-Authenticate": 'Bearer realm="exposure-upload"'}
_NAME = r"^(daily|hourly)-[0-9]{1,12}-[0-9]{1,12}-[0-9]{5}$"
_NAME_RE = re.compile(_NAME)
FILE_MAX_AGE = 86_400  # files are immutable once made
INDEX_MAX_AGE = 60
_EXAMPLE_KEY = {
    "key_data": "z2Cx9hdz2SlxZ8GEgqTYpA==",
    "rolling_start_interval_number": 2650032,
    "rolling_period": 144,
    "transmission_risk_level": 2,
    "report_type": 1,
    "days_since_onset_of_symptoms": -1,
}
_PUBLISH_BODY = {
    "type": "object",
    "required": ["keys"],
    "properties": {
        "keys": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["key_data", "rolling_start_interval_number"],
                "properties": {
                    "key_data": {"type": "string", "description": "16 bytes, base64"},
                    "rolling_start_interval_number": {"type": "integer", "minimum": 0},
                    "rolling_period": {"type": "integer", "minimum": 1, "maximum": 144},
                    "transmission_risk_level": {"type": "integer", "minimum": 0, "maximum": 8},
                    "report_type": {"type": "integer", "minimum": 0, "maximum": 5},
                    "days_since_onset_of_symptoms": {
                        "type": "integer",
                        "minimum": -14,
                        "maximum": 14,
                    },
                },
            },
        },
        "regions": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    },
    "example": {"keys": [_EXAMPLE_KEY], "regions": ["KR-11"]},
}


def _settings() -> ExposureSettings:
    return ExposureSettings.from_env()


Settings = Annotated[ExposureSettings, Depends(_settings)]


def _limiter(request: Request, per_hour: int) -> verification.ClientLimiter:
    """The worker's per-client limiter (made on first use, again when the setting changes)."""
    limiter: verification.ClientLimiter | None = getattr(
        request.app.state, "exposure_verify_limiter", None
    )
    if limiter is None or limiter.per_hour != per_hour:
        limiter = verification.ClientLimiter(per_hour)
        request.app.state.exposure_verify_limiter = limiter
    return limiter


def _too_many(message: str, retry_after: int) -> JSONResponse:
    return JSONResponse(
        {"detail": message}, status_code=429, headers={"Retry-After": str(retry_after)}
    )


class VerifyRequest(BaseModel):
    """The verification code from the result message (spaces and hyphens are ignored)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"code": "4821 3390 1275"}]}
    )

    code: str = Field(min_length=1, max_length=40)


@router.post(
    "/verify",
    responses={
        400: {"description": "the code is unknown, used already, or expired"},
        429: {"description": "too many attempts; see Retry-After"},
    },
)
def verify(request: Request, session: DbSession, settings: Settings, body: VerifyRequest) -> Any:
    """Exchange a verification code for an upload token (valid an hour, for one upload).
    Each code works once; attempts are limited per client address and, for failures, for the
    whole server (429 with ``Retry-After``)."""
    client = request.client.host if request.client else "unknown"
    allowance = _limiter(request, settings.verify_per_client_per_hour).take(client)
    if not allowance.allowed:
        return _too_many(
            "code: too many attempts from this address; try again later",
            allowance.retry_after,
        )
    try:
        issued = verification.exchange_code(
            session, code=body.code, now=utcnow(), settings=settings
        )
    except RateLimited as err:
        return _too_many(str(err), err.retry_after)
    except CodeRefused as err:
        session.commit()  # the failed attempt counts toward the global limit
        return JSONResponse({"detail": str(err)}, status_code=400)
    return {
        "token": issued.token,
        "expires_at": issued.expires_at.isoformat(),
        "report_type": issued.report_type,
        "note": "send it once, as Authorization: Bearer <token>, to POST /api/v1/exposure/publish",
    }


def _bearer(request: Request) -> str | None:
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    return secret.strip() if scheme.lower() == "bearer" and secret.strip() else None


def _upload_token(request: Request, session: DbSession) -> str:
    """The request's upload token, checked (401 for everything else, a staff login too)."""
    token = _bearer(request)
    try:
        verification.authenticate_token(session, token=token, now=utcnow())
    except TokenInvalid as err:
        _unauthorised(str(err))
    assert token is not None
    return token


def _unauthorised(message: str) -> NoReturn:
    raise HTTPException(401, message, headers=_REALM)


UploadTokenDep = Annotated[str, Depends(_upload_token)]


@router.post(
    "/publish",
    status_code=201,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _PUBLISH_BODY}},
        }
    },
    responses={
        401: {"description": "no upload token, or one unknown, used or expired"},
        422: {"description": "refused as a whole: `errors` lists field and problem"},
    },
)
def publish(
    session: DbSession,
    settings: Settings,
    token: UploadTokenDep,
    body: Annotated[Any, Body()],
) -> Any:
    """Publish diagnosis keys with the upload token from ``/verify``. All or nothing: a
    refused upload stores nothing and leaves the token usable (until its 5th refusal);
    an accepted one uses it up."""
    try:
        result = keyserver.publish(session, token=token, body=body, now=utcnow(), settings=settings)
    except TokenInvalid as err:  # used or expired since the check above
        _unauthorised(str(err))
    except PublishInvalid as err:
        session.commit()  # the refusal counts against the token
        return JSONResponse({"detail": str(err), "errors": err.errors}, status_code=422)
    return result.to_json()


@router.get("/exports/index.txt", response_class=PlainTextResponse)
def export_index(
    session: DbSession,
    settings: Settings,
    period: Literal["daily", "hourly"] = "daily",
    region: Annotated[str | None, Query(min_length=2, max_length=REGION_MAX)] = None,
) -> Response:
    """The export files of a period (and region, else all), one relative path a line, oldest
    first; append a line to ``/api/v1/exposure/exports/`` to download it."""
    if region is not None and region.upper() not in settings.regions:
        return PlainTextResponse(
            f"region: {region[:REGION_MAX]!r} is not one of {', '.join(settings.regions)}\n",
            status_code=404,
        )
    lines = keyserver.index_lines(session, period=period, region=region.upper() if region else None)
    text = "".join(f"{line}\n" for line in lines)
    return PlainTextResponse(text, headers={"Cache-Control": f"public, max-age={INDEX_MAX_AGE}"})


@router.get("/exports/keys")
def export_keys(session: DbSession) -> dict[str, Any]:
    """The public keys export files are signed with (ECDSA P-256, SHA-256), by key id and
    version, as PEM."""
    return {
        "keys": [
            {
                "key_id": k.key_id,
                "key_version": k.key_version,
                "algorithm": k.algorithm,
                "public_key_pem": k.public_key_pem,
                "first_used_at": k.first_used_at.isoformat(),
            }
            for k in keyserver.public_keys(session)
        ]
    }


@router.get(
    "/exports/{region}/{name}.zip",
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}}, 404: {"description": "no such file"}},
)
def export_file(
    request: Request,
    session: DbSession,
    region: Annotated[str, Path(min_length=2, max_length=REGION_MAX)],
    name: Annotated[str, Path(min_length=1, max_length=NAME_MAX)],
) -> Response:
    """An export file: a zip of ``export.bin`` and ``export.sig``."""
    if not _NAME_RE.fullmatch(name):
        return JSONResponse(
            {"detail": f"name: {name[:NAME_MAX]!r} is not an export file's name"},
            status_code=404,
        )
    row = keyserver.get_export_file(session, region=region, name=name)
    etag = f'"{row.sha256}"'
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={FILE_MAX_AGE}, immutable",
    }
    match = request.headers.get("if-none-match", "")
    if match.strip() == "*" or etag in (t.strip().removeprefix("W/") for t in match.split(",")):
        return Response(status_code=304, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    return Response(row.data, media_type="application/zip", headers=headers)

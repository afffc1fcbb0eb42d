"""The printable poster of a venue: ``GET /venues/{venue_id}/poster``.

Server-rendered, Korean or English (`epicity.web.i18n`, catalogs in
``epicity/exposure/locales``): the venue's name and address, its QR code (inline SVG made by
segno from the check-in URL, error correction M), what checking in means for the visitor's
privacy and the default check-in length. For the venue's owner with the management link the
registration answered (``?token=...``; never logged: the service runs without an access log,
and the page is sent with ``Referrer-Policy: no-referrer`` and ``Cache-Control: no-store``
so the link does not leak to other sites or caches), or for staff with ``read_cases``.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from epicity.city.districts import seoul_districts
from epicity.exposure import venues
from epicity.exposure.venue_routes import OwnerOrReader, RowId, Settings
from epicity.web.deps import DbSession
from epicity.web.i18n import render_public, request_language, translator

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


def _local(at: dt.datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def _district_label(name: str, lang: str) -> str:
    if lang == "ko":
        for d in seoul_districts():
            if d.name == name:
                return d.name_ko
    return name


@router.get("/venues/{venue_id}/poster", response_class=HTMLResponse)
def poster(
    request: Request,
    session: DbSession,
    access: OwnerOrReader,
    venue_id: RowId,
    settings: Settings,
) -> HTMLResponse:
    """The venue's poster with its QR code, to print and post at the entrance."""
    del access
    venue = venues.get_venue(session, venue_id=venue_id)
    lang = request_language(request)
    t = translator(lang)
    tz = ZoneInfo(settings.timezone)
    url = venues.checkin_url_of(venue, settings)
    event_text = (
        t("venues.poster.event", start=_local(venue.starts_at, tz), end=_local(venue.ends_at, tz))
        if venue.starts_at is not None and venue.ends_at is not None
        else ""
    )
    ended_text = (
        t("venues.poster.ended", date=_local(venue.ended_at, tz))
        if venue.ended_at is not None
        else ""
    )
    response = render_public(
        request,
        "exposure_poster.html",
        {
            "venue": venue,
            "venue_type": t(f"venues.type.{venue.venue_type}"),
            "district": _district_label(venue.district, lang),
            "url": url,
            "svg": venues.qr_svg(url),
            "event_text": event_text,
            "ended_text": ended_text,
        },
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response

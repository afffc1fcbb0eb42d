"""Publishing over HTTP for staff (`/api/v1/opendata`): publish (or correct) the daily figures
and list the publications. Both need ``publish_data`` (health officers).

The public reads what is published through the open API (`epicity.opendata.api`) and the
dashboard; these routes only write and audit. Refusals come from
`epicity.opendata.service` as `OpendataError`s: 400 for bad input (an ``as_of`` in the
future), 409 when there is nothing to publish yet.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from epicity.accounts.permissions import Capability
from epicity.db import utcnow
from epicity.opendata import service
from epicity.opendata.models import NOTE_MAX, Publication
from epicity.web.deps import Caller, DbSession, need

__all__ = ["router"]

router = APIRouter(tags=["open data (staff)"])

Publisher = Annotated[Caller, Depends(need(Capability.PUBLISH_DATA))]


class PublishRequest(BaseModel):
    """What to publish: every day up to ``as_of``, and why (the reason of a correction)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"as_of": "2020-03-08", "note": "2 cases of 2020-03-05 moved to Guro-gu"}]
        },
    )

    as_of: dt.date = Field(description="The last day to publish (Asia/Seoul); not in the future")
    note: str = Field(default="", max_length=NOTE_MAX, description="Why; shown with revisions")


class PublicationOut(BaseModel):
    """A publication: as of what day, when, by whom, why and what it changed."""

    id: int
    as_of: dt.date
    published_at: dt.datetime
    published_by: str
    note: str
    figures_added: int = Field(description="(day, area) rows published for the first time")
    figures_corrected: int = Field(description="(day, area) rows given a new revision")
    cells_changed: int = Field(description="breakdown cells given a new revision")
    created: bool = Field(
        default=True, description="False when nothing changed: the last publication is returned"
    )


def _out(p: Publication, *, created: bool = True) -> PublicationOut:
    return PublicationOut(
        id=p.id,
        as_of=p.as_of,
        published_at=p.published_at,
        published_by=p.published_by,
        note=p.note,
        figures_added=p.figures_added,
        figures_corrected=p.figures_corrected,
        cells_changed=p.cells_changed,
        created=created,
    )


@router.post("/api/v1/opendata/publish", response_model=PublicationOut)
def publish(body: PublishRequest, session: DbSession, caller: Publisher) -> PublicationOut:
    """Recompute the figures of every day up to ``as_of`` and publish what changed (a changed
    past day is a correction: a new revision with this note). Publishing again with nothing
    changed stores nothing and returns the last publication with ``created`` false."""
    before = service.latest_publication(session)
    p = service.publish(session, as_of=body.as_of, actor=caller.actor, now=utcnow(), note=body.note)
    return _out(p, created=before is None or p.id != before.id)


@router.get("/api/v1/opendata/publications", response_model=list[PublicationOut])
def publications(
    session: DbSession,
    _: Publisher,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> list[PublicationOut]:
    """Publications, newest first."""
    return [_out(p) for p in service.list_publications(session, limit=limit, offset=offset)]

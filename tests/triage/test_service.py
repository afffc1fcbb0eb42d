"""Self-diagnosis stored on both backends: a citizen's answer under their person id with the
rules' version and hash, the public's without identity; bad answers store nothing; for
testing, the best screening centres (open first, then nearest) from screening's own status."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from epicity.triage.engine import AnswerInvalid, load_rules
from epicity.triage.models import SelfDiagnosis
from epicity.triage.service import nearest_centres, own_diagnoses, self_diagnose

SEOUL = ZoneInfo("Asia/Seoul")
MONDAY_10 = dt.datetime(2020, 3, 2, 10, 17, 33, tzinfo=SEOUL)
SUNDAY_10 = dt.datetime(2020, 3, 8, 10, 0, tzinfo=SEOUL)
WEEK = {d: (dt.time(9), dt.time(18)) for d in range(6)}  # Monday to Saturday
CITY_HALL = (37.5665, 126.9780)
WELL: dict[str, Any] = {
    "symptoms": [],
    "contact_with_confirmed_case": False,
    "overseas_travel_14d": False,
}
EXPOSED: dict[str, Any] = {**WELL, "symptoms": ["fever"], "contact_with_confirmed_case": True}


def _count(session: Session) -> int:
    session.flush()
    return session.scalar(select(func.count()).select_from(SelfDiagnosis)) or 0


def test_a_citizens_answer_is_kept_with_the_rules_that_judged_it(session: Session) -> None:
    found = self_diagnose(session, answers=EXPOSED, person_id=77, now=MONDAY_10)
    assert found.assessment.recommendation == "get_tested"
    row = session.get(SelfDiagnosis, found.stored_id)
    assert row is not None
    rules = load_rules()
    assert (row.person_id, row.rules_id, row.rules_version) == (77, "kdca-2020-v1", 1)
    assert row.rules_sha256 == rules.sha256
    assert row.answers["symptoms"] == ["fever"]
    assert "suspected_case_contact" in row.fired
    assert row.created_at == MONDAY_10
    self_diagnose(session, answers=WELL, person_id=77, now=MONDAY_10 + dt.timedelta(hours=1))
    self_diagnose(session, answers=WELL, person_id=78, now=MONDAY_10)
    mine = own_diagnoses(session, person_id=77)
    assert [d.recommendation for d in mine] == ["stay_home_monitor", "get_tested"]


def test_the_publics_answer_keeps_no_identity_and_a_rounded_time(session: Session) -> None:
    found = self_diagnose(session, answers=WELL, now=MONDAY_10, location=CITY_HALL)
    row = session.get(SelfDiagnosis, found.stored_id)
    assert row is not None
    assert row.person_id is None
    assert row.created_at == MONDAY_10.replace(minute=0, second=0)
    assert "lat" not in str(row.answers)


@pytest.mark.parametrize(
    ("answers", "location", "field"),
    [
        ({**WELL, "temperature_c": 50}, None, "answers.temperature_c"),
        ({**WELL, "smoker": True}, None, "answers.smoker"),
        (WELL, (91.0, 0.0), "location.lat"),
        (WELL, (37.0, 181.0), "location.lon"),
    ],
)
def test_bad_answers_store_nothing(
    session: Session, answers: dict[str, Any], location: tuple[float, float] | None, field: str
) -> None:
    with pytest.raises(AnswerInvalid) as err:
        self_diagnose(session, answers=answers, person_id=1, location=location, now=MONDAY_10)
    assert err.value.field == field
    assert _count(session) == 0


@dataclass(frozen=True)
class _Centre:
    centre_id: int
    name: str
    lat: float
    lon: float
    open_now: bool
    wait_minutes: float | None
    kind: str = "walk_through"
    district: str = "Jung-gu"
    next_open: dt.datetime | None = None


def test_nearest_centres_open_first_then_nearest() -> None:
    centres = [
        _Centre(1, "far open", 37.65, 127.05, True, 5.0),
        _Centre(2, "near closed", 37.567, 126.979, False, None),
        _Centre(3, "near open", 37.57, 126.98, True, 40.0),
        _Centre(4, "mid open", 37.60, 127.00, True, 0.0),
    ]
    got = nearest_centres(centres, CITY_HALL)
    assert [c.centre_id for c in got] == [3, 4, 1]
    assert got[0].distance_m is not None
    assert 300 < got[0].distance_m < 600
    # without a location: open first, then the shortest wait
    assert [c.centre_id for c in nearest_centres(centres, None)] == [4, 1, 3]
    assert nearest_centres(centres, None)[0].distance_m is None
    with pytest.raises(AnswerInvalid, match=r"location\.lat"):
        nearest_centres(centres, (float("nan"), 0.0))


def test_testing_advice_lists_screenings_open_centres(session: Session) -> None:
    from epicity.screening import service as screening

    def centre(name: str, lat: float, lon: float, hours: Any = WEEK) -> int:
        return screening.create_centre(
            session,
            actor="officer",
            kind="walk_through",
            name=name,
            district="Jung-gu",
            lat=lat,
            lon=lon,
            lanes=2,
            minutes_per_test=5,
            hours=hours,
            now=MONDAY_10 - dt.timedelta(days=1),
        ).id

    near = centre("City Hall", 37.5663, 126.9779)
    far = centre("Gangnam", 37.4979, 127.0276)
    sunday = centre("Sunday only", 37.5670, 126.9785, hours={6: (dt.time(9), dt.time(18))})
    centre("Nowon", 37.6542, 127.0568)
    found = self_diagnose(session, answers=EXPOSED, location=CITY_HALL, now=MONDAY_10)
    ids = [c.centre_id for c in found.centres]
    assert len(ids) == 3
    assert ids[:2] == [near, far]  # open ones first, nearest first; Sunday's is closed
    assert sunday not in ids
    assert all(c.open_now for c in found.centres)
    assert found.centres[0].wait_minutes is not None
    on_sunday = self_diagnose(session, answers=EXPOSED, location=CITY_HALL, now=SUNDAY_10)
    assert on_sunday.centres[0].centre_id == sunday
    # no centres for other recommendations
    assert self_diagnose(session, answers=WELL, now=MONDAY_10).centres == []

"""A small operational database for the publishing tests: cases over several days and
districts, isolation registrations and resulted screening samples (both backends)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from epicity.cases import service as cases
from epicity.city.districts import seoul_districts
from epicity.isolation.models import IsolationRegistration
from epicity.screening.models import Centre, Sample

SEOUL = ZoneInfo("Asia/Seoul")
D1 = dt.date(2020, 3, 1)
AS_OF = dt.date(2020, 3, 7)
NOW = dt.datetime(2020, 3, 8, 3, 0, tzinfo=dt.UTC)
T0 = dt.datetime(2020, 3, 1, tzinfo=dt.UTC)


def day(n: int) -> dt.date:
    """Day n of the seed (1 = 2020-03-01)."""
    return D1 + dt.timedelta(days=n - 1)


def at(n: int, hour: int = 12) -> dt.datetime:
    """Local time `hour`:00 on day n, Asia/Seoul."""
    return dt.datetime.combine(day(n), dt.time(hour), SEOUL)


# (ref, district, province, age group, confirmed day, then (status, day) or None)
CASES = (
    ("m1", "Mapo-gu", "Seoul", "20s", 1, ("deceased", 4)),
    ("m2", "Mapo-gu", "Seoul", "20s", 1, None),
    ("m3", "Mapo-gu", "Seoul", "30s", 1, None),
    ("m4", "Mapo-gu", "Seoul", "20s", 2, None),
    ("m5", "Mapo-gu", "Seoul", "80s", 2, None),
    *((f"g{i}", "Guro-gu", "Seoul", "40s", 2, ("recovered", 5) if i == 0 else None)
      for i in range(6)),
    ("u1", None, "Seoul", "50s", 3, None),  # no district: the city only
    ("k1", "강남구", None, "60s", 3, None),  # Korean name, blank province: Gangnam-gu
    ("x1", "Suseong-gu", "Daegu", "20s", 2, None),  # another province: not counted
)  # fmt: skip


def seed(session: Session) -> None:
    """Cases, a suspected case, isolation registrations and test results (see the module)."""
    for ref, district, province, age, confirmed, then in CASES:
        case = cases.create_case(
            session, actor="seed", status="confirmed", external_ref=ref, district=district,
            province=province, age_group=age, confirmed_date=day(confirmed),
        )  # fmt: skip
        if then is not None:
            cases.change_status(
                session, case_id=case.id, to=then[0], actor="seed", reason="seed", on=day(then[1])
            )
    cases.create_case(session, actor="seed", external_ref="s1", district="Mapo-gu")  # suspected
    mapo = next(d for d in seoul_districts() if d.name == "Mapo-gu")
    base = {
        "kind": "ordered", "officer_id": 1, "needs_negative_test": False, "created_by": "seed",
        "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    session.add_all(
        [
            # at home in Mapo-gu, days 1-14, still active
            IsolationRegistration(
                person_id=101, status="active", start_date=day(1), end_date=day(14),
                lat=mapo.centroid_lat, lon=mapo.centroid_lon, radius_m=50, **base,
            ),
            # no confirmed address (the city only), days 2-14, released early on day 3
            IsolationRegistration(
                person_id=102, status="ended_early", start_date=day(2), end_date=day(14),
                released_at=at(3), **base,
            ),
            # days 2-4, its end passed without the release job: counted to its end date
            IsolationRegistration(
                person_id=103, status="active", start_date=day(2), end_date=day(4), **base
            ),
        ]
    )  # fmt: skip
    guro = Centre(
        kind="walk_through", name="Guro test centre", district="Guro-gu", lat=37.49, lon=126.88,
        lanes=2, minutes_per_test=5, slot_minutes=15, active=True, created_by="seed",
        created_at=T0, updated_at=T0,
    )  # fmt: skip
    elsewhere = Centre(
        kind="drive_through", name="Airport centre", district="Incheon", lat=37.46, lon=126.44,
        lanes=1, minutes_per_test=5, slot_minutes=15, active=True, created_by="seed",
        created_at=T0, updated_at=T0,
    )  # fmt: skip
    session.add_all([guro, elsewhere])
    session.flush()
    results = (
        [(guro, 3, "positive")] * 4
        + [(guro, 3, "negative")] * 36
        + [(guro, 3, "inconclusive")]
        + [(guro, 4, "negative")] * 2
        + [(elsewhere, 4, "positive")]
    )
    for i, (centre, n, result) in enumerate(results):
        session.add(
            Sample(
                barcode=f"EPC-SEED{i:04d}", centre_id=centre.id, person_id=1000 + i,
                arrival="walk_in", status="resulted", result=result, checked_in_by="seed",
                checked_in_at=at(n, 9), sampled_at=at(n, 9), received_at=at(n, 10),
                resulted_at=at(n, 23),  # 23:00 in Seoul is 14:00 UTC: the local day counts
            )
        )  # fmt: skip
    # a sample not resulted yet: no test done
    session.add(
        Sample(
            barcode="EPC-SEEDWAIT", centre_id=guro.id, person_id=999, arrival="walk_in",
            status="in_lab", checked_in_by="seed", checked_in_at=at(4, 9),
        )
    )  # fmt: skip
    session.flush()

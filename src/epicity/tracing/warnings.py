"""Warnings from a traced case: isolation orders, testing advice, area alerts, public notices.

Pure functions over an `Investigation` (no database, no store): `build_warnings` decides who is
told what; `epicity.tracing.outbox` queues the result for delivery. Times are shown in the
city's local time (``Asia/Seoul`` by default) and written as ISO 8601 with their offset.

Rules, and where they come from:

- **Isolation orders** (close contacts). Korea's Infectious Disease Control and Prevention Act
  (art. 49) lets the health authority order contacts into self-isolation; the KDCA's COVID-19
  response guidelines for local governments (2020) set it at 14 days from the last exposure
  (the longest incubation period). One order per close contact: isolate until the local date of
  the last exposure + 14 days (an exposure ending at midnight counts for the day before). The
  order names the date and the place of the exposure only, never the case (no case number,
  name, age, sex or address), as the guidelines require.
- **Testing advice** (casual contacts): get tested at a screening centre (선별진료소) and watch
  for symptoms for 14 days from the last exposure (same guidelines: people present at the same
  place who are not close contacts are advised, not ordered).
- **Area alerts** (people served by the case's cell tower, counted, never named). Modelled on
  the emergency alert texts local governments broadcast in 2020 ("[Region] People who visited
  ... please get tested"). A case's runs at one tower less than an hour apart make one window;
  a window is widened outward to 10 minutes. `people_count` is the sum of the merged runs'
  counts (an upper bound: `AreaExposure` carries counts only, so a person served during two
  merged runs counts twice). A window with nobody left to reach (count 0: everyone served was
  already a named contact) raises no alert.
- **Public notices** of places and times, following the KDCA's *Guidelines on information
  disclosure of confirmed patients' movements* (확진환자의 이동경로 등 정보공개 안내), 3rd
  edition, June 2020:
  * disclose only places and times where contact with others occurred and **not all contacts
    have been identified**: a venue that keeps an electronic visitor log (KI-Pass QR entries)
    has reachable visitors, who are told individually, so it is not published; other venues are;
  * disclose the place (name, kind, district or address), the date and the time window, and
    whether it was disinfected: here ``disinfection_advised`` for indoor venues;
  * disclose **nothing about the person**: no age, sex, nationality, home or workplace, and a
    list of places rather than the case's route (a notice carries no case number and no link
    to other notices);
  * homes and workplaces are never published: only venue stays (``kind == "venue"``) qualify,
    never GPS-only locations or cell-tower areas;
  * **withhold after 14 days**: each notice ``expires`` 14 days after the visit ends; with
    ``now`` given, expired notices are left out.
  Stays at the same venue that overlap or touch (after rounding) are merged into one notice;
  windows are widened outward to 10 minutes of local time, so the published window always
  contains the visit.
- With ``now`` given, every item whose ``expires`` has passed is left out (an isolation order
  whose isolation is over, advice whose monitoring period is over, old alerts and notices).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from epicity.tracing.contacts import AreaExposure, Contact

if TYPE_CHECKING:
    from epicity.tracing.service import Investigation

__all__ = [
    "AREA_MERGE_GAP_S",
    "ISOLATION_DAYS",
    "MONITOR_DAYS",
    "NOTICE_DAYS",
    "ROUND_S",
    "AnyWarning",
    "AreaAlert",
    "IsolationOrder",
    "PublicNotice",
    "TestAdvice",
    "TowerInfo",
    "VenueInfo",
    "WarningKind",
    "Warnings",
    "build_warnings",
    "publishable",
    "venue_notices",
]

WarningKind = Literal["isolation_order", "test_advice", "area_alert", "public_notice"]

ISOLATION_DAYS = 14  # self-isolation from the last exposure (KDCA 2020)
MONITOR_DAYS = 14  # symptom monitoring for casual contacts
NOTICE_DAYS = 14  # a public notice is withdrawn 14 days after the visit (KDCA 3rd ed.)
ALERT_DAYS = 14  # an area alert is pointless after an incubation period
AREA_MERGE_GAP_S = 3600  # runs at one tower less than this apart make one alert window
ROUND_S = 600  # published windows are widened outward to 10 minutes
# Stays in these categories are private places, never published (defensive: venues are
# merchants, and homes and offices are `location` stays, but a city's data may say otherwise).
PRIVATE_CATEGORIES = frozenset({"home", "residence", "office", "workplace", "call_centre"})


@dataclass(frozen=True)
class VenueInfo:
    """What may be published about a venue, and whether its visitors are reachable."""

    name: str
    category: str
    district: str | None
    indoor: bool
    keeps_visitor_log: bool  # electronic visitor log (QR entries): visitors are told directly
    address: str | None = None


@dataclass(frozen=True)
class TowerInfo:
    """Where a cell tower is, in words people recognise."""

    district: str
    landmark: str  # e.g. the nearest subway station


def _iso(value: datetime | date) -> str:
    return value.isoformat()


@dataclass(frozen=True)
class IsolationOrder:
    """A self-isolation order for one close contact."""

    contact_id: int
    last_exposure: datetime  # local time, aware
    isolate_until: date  # local date of the last exposure + 14 days
    place: str
    reason: str
    expires: datetime  # the end of the isolation (midnight after `isolate_until`)

    kind: WarningKind = field(default="isolation_order", init=False)

    @property
    def recipient(self) -> str:
        return f"person:{self.contact_id}"

    @property
    def window(self) -> str:
        """What makes this order the same order when the case is traced again."""
        return self.isolate_until.isoformat()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "contact_id": self.contact_id,
            "last_exposure": _iso(self.last_exposure),
            "isolate_until": _iso(self.isolate_until),
            "place": self.place,
            "reason": self.reason,
            "expires": _iso(self.expires),
        }


@dataclass(frozen=True)
class TestAdvice:
    """Advice to a casual contact: get tested, watch for symptoms."""

    __test__ = False  # not a pytest test class

    contact_id: int
    last_exposure: datetime
    monitor_until: date
    place: str
    text: str
    expires: datetime

    kind: WarningKind = field(default="test_advice", init=False)

    @property
    def recipient(self) -> str:
        return f"person:{self.contact_id}"

    @property
    def window(self) -> str:
        return self.monitor_until.isoformat()

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "contact_id": self.contact_id,
            "last_exposure": _iso(self.last_exposure),
            "monitor_until": _iso(self.monitor_until),
            "place": self.place,
            "text": self.text,
            "expires": _iso(self.expires),
        }


@dataclass(frozen=True)
class AreaAlert:
    """An emergency alert for everyone served by one tower during one window."""

    tower_id: int
    district: str
    landmark: str
    start: datetime  # local, rounded down to 10 minutes
    end: datetime  # local, rounded up to 10 minutes
    people_count: int
    text: str
    expires: datetime

    kind: WarningKind = field(default="area_alert", init=False)

    @property
    def recipient(self) -> str:
        return f"tower:{self.tower_id}"

    @property
    def window(self) -> str:
        return f"{_iso(self.start)}/{_iso(self.end)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "tower_id": self.tower_id,
            "district": self.district,
            "landmark": self.landmark,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "people_count": self.people_count,
            "text": self.text,
            "expires": _iso(self.expires),
        }


@dataclass(frozen=True)
class PublicNotice:
    """A public notice of a place and a time window (nothing about the person)."""

    place_id: int
    venue_name: str
    category: str
    district: str | None
    address: str | None
    date: date  # local date of the start
    start: datetime  # local, rounded down to 10 minutes
    end: datetime  # local, rounded up to 10 minutes
    expires: datetime  # 14 days after `end`
    disinfection_advised: bool
    text: str

    kind: WarningKind = field(default="public_notice", init=False)

    @property
    def recipient(self) -> str:
        return "public"

    @property
    def window(self) -> str:
        return f"venue:{self.place_id}:{_iso(self.start)}/{_iso(self.end)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "place_id": self.place_id,
            "venue_name": self.venue_name,
            "category": self.category,
            "district": self.district,
            "address": self.address,
            "date": _iso(self.date),
            "start": _iso(self.start),
            "end": _iso(self.end),
            "start_time": self.start.strftime("%H:%M"),
            "end_time": _hhmm(self.end, self.date),
            "expires": _iso(self.expires),
            "disinfection_advised": self.disinfection_advised,
            "text": self.text,
        }


AnyWarning = IsolationOrder | TestAdvice | AreaAlert | PublicNotice


@dataclass
class Warnings:
    """Everything a traced case sets off, ready for the outbox or ``warnings.json``."""

    timezone: str
    orders: list[IsolationOrder] = field(default_factory=list)
    advice: list[TestAdvice] = field(default_factory=list)
    area_alerts: list[AreaAlert] = field(default_factory=list)
    notices: list[PublicNotice] = field(default_factory=list)

    def items(self) -> Iterable[AnyWarning]:
        """Every warning, orders first."""
        yield from self.orders
        yield from self.advice
        yield from self.area_alerts
        yield from self.notices

    def counts(self) -> dict[str, int]:
        """How many of each kind (people reached by area alerts are in `area_people`)."""
        return {
            "orders": len(self.orders),
            "advice": len(self.advice),
            "area_alerts": len(self.area_alerts),
            "area_people": sum(a.people_count for a in self.area_alerts),
            "notices": len(self.notices),
        }

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (local ISO 8601 times with offset, ISO dates) for warnings.json."""
        return {
            "timezone": self.timezone,
            "counts": self.counts(),
            "orders": [o.to_json() for o in self.orders],
            "advice": [a.to_json() for a in self.advice],
            "area_alerts": [a.to_json() for a in self.area_alerts],
            "notices": [n.to_json() for n in self.notices],
        }


# -- time helpers -------------------------------------------------------------------------


def _local(t: int, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(t, tz)


def _offset(t: int, tz: ZoneInfo) -> int:
    off = _local(t, tz).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


def _round_out(start: int, end: int, tz: ZoneInfo) -> tuple[int, int]:
    """[start, end) widened to whole 10 minutes of local wall time (epoch seconds)."""
    off0, off1 = _offset(start, tz), _offset(end, tz)
    s = (start + off0) // ROUND_S * ROUND_S - off0
    e = -(-(end + off1) // ROUND_S) * ROUND_S - off1
    return s, max(e, s + ROUND_S)


def _end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """Local midnight after `day`."""
    nxt = day + timedelta(days=1)
    return datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)


def _hhmm(at: datetime, day: date) -> str:
    """HH:MM of `at`, or 24:00 when it is midnight right after `day`."""
    if at.date() == day + timedelta(days=1) and (at.hour, at.minute) == (0, 0):
        return "24:00"
    return at.strftime("%H:%M")


def _md(day: date) -> str:
    return f"{day.month}/{day.day}"


def _span(start: datetime, end: datetime, *, short: bool) -> str:
    """'3/5 12:00-13:30' (short) or '2020-03-05 12:00-13:30'; the end's date when it differs."""
    day = start.date()
    head = _md(day) if short else day.isoformat()
    end_txt = _hhmm(end, day)
    if end.date() != day and end_txt != "24:00":
        end_txt = f"{_md(end.date()) if short else end.date().isoformat()} {end_txt}"
    return f"{head} {start.strftime('%H:%M')}-{end_txt}"


# -- building -----------------------------------------------------------------------------


def _venue_label(place_id: int, venues: Mapping[int, VenueInfo], names: Mapping[int, str]) -> str:
    info = venues.get(place_id)
    name = info.name if info is not None else names.get(place_id, "a venue")
    if info is not None and info.district:
        return f"{name} ({info.district})"
    return name


def _exposure_place(
    contact: Contact, venues: Mapping[int, VenueInfo], names: Mapping[int, str]
) -> str:
    """Where the contact's last exposure happened, in words that do not point to the case."""
    if not contact.exposures:
        return "your home"  # household contacts from the resident registry
    last = max(contact.exposures, key=lambda e: (e.end, e.start))
    if last.place_id is not None:
        return _venue_label(last.place_id, venues, names)
    return "a place where you stayed at the same time"


def _orders_and_advice(
    contacts: Iterable[Contact],
    venues: Mapping[int, VenueInfo],
    names: Mapping[int, str],
    tz: ZoneInfo,
) -> tuple[list[IsolationOrder], list[TestAdvice]]:
    orders: list[IsolationOrder] = []
    advice: list[TestAdvice] = []
    for c in sorted(contacts, key=lambda c: c.contact_id):
        last = _local(c.last_contact, tz)
        # An exposure ending at midnight happened the day before (e.g. a household contact,
        # exposed until the end of the case's confirmation day).
        day = _local(max(c.first_contact, c.last_contact - 1), tz).date()
        place = _exposure_place(c, venues, names)
        if c.tier == "close":
            until = day + timedelta(days=ISOLATION_DAYS)
            orders.append(
                IsolationOrder(
                    contact_id=c.contact_id,
                    last_exposure=last,
                    isolate_until=until,
                    place=place,
                    reason=(
                        f"You were in close contact with a confirmed case on {day.isoformat()} "
                        f"at {place}. Stay at home in self-isolation until {until.isoformat()}."
                    ),
                    expires=_end_of_day(until, tz),
                )
            )
        elif c.tier == "casual":
            until = day + timedelta(days=MONITOR_DAYS)
            advice.append(
                TestAdvice(
                    contact_id=c.contact_id,
                    last_exposure=last,
                    monitor_until=until,
                    place=place,
                    text=(
                        f"You may have been exposed to a confirmed case on {day.isoformat()} "
                        f"at {place}. Please get tested at a screening centre and watch for "
                        "symptoms (fever, cough, sore throat, loss of taste or smell) until "
                        f"{until.isoformat()}."
                    ),
                    expires=_end_of_day(until, tz),
                )
            )
    return orders, advice


def _area_alerts(
    area: Iterable[AreaExposure],
    towers: Mapping[int, TowerInfo],
    tz: ZoneInfo,
    city: str,
) -> list[AreaAlert]:
    by_tower: dict[int, list[AreaExposure]] = defaultdict(list)
    for a in area:
        by_tower[a.tower_id].append(a)
    alerts: list[AreaAlert] = []
    for tower_id, runs in by_tower.items():
        windows: list[list[int]] = []  # [start, end, people]
        for a in sorted(runs, key=lambda a: (a.start, a.end)):
            if windows and a.start - windows[-1][1] < AREA_MERGE_GAP_S:
                windows[-1][1] = max(windows[-1][1], a.end)
                windows[-1][2] += a.people
            else:
                windows.append([a.start, a.end, a.people])
        info = towers.get(tower_id)
        district = info.district if info is not None else ""
        landmark = info.landmark if info is not None else f"cell area {tower_id}"
        region = f"{city} {district}".strip()
        for s, e, people in windows:
            if people <= 0:
                continue
            rs, re_ = _round_out(s, e, tz)
            start, end = _local(rs, tz), _local(re_, tz)
            alerts.append(
                AreaAlert(
                    tower_id=tower_id,
                    district=district,
                    landmark=landmark,
                    start=start,
                    end=end,
                    people_count=people,
                    text=(
                        f"[{region}] People who were near {landmark} on "
                        f"{_span(start, end, short=True)}, please watch for symptoms and get "
                        "tested if any appear."
                    ),
                    expires=end + timedelta(days=ALERT_DAYS),
                )
            )
    return sorted(alerts, key=lambda a: (a.start, a.tower_id))


def publishable(info: VenueInfo) -> bool:
    """Whether stays at a venue may be published: not a private place (home, workplace), and
    its visitors cannot all be reached individually (no electronic visitor log)."""
    return not info.keeps_visitor_log and info.category not in PRIVATE_CATEGORIES


def venue_notices(
    place_id: int, info: VenueInfo, windows: Iterable[tuple[int, int]], tz: ZoneInfo
) -> list[PublicNotice]:
    """The public notices of one publishable venue for its visits ``[start, end)`` (epoch
    seconds): each window widened outward to 10 minutes of local time, windows that overlap or
    touch merged, each notice expiring 14 days after its end."""
    merged: list[list[int]] = []
    for w0, w1 in sorted(_round_out(s, e, tz) for s, e in windows):
        if merged and w0 <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], w1)
        else:
            merged.append([w0, w1])
    notices: list[PublicNotice] = []
    for w0, w1 in merged:
        start, end = _local(w0, tz), _local(w1, tz)
        where = ", ".join(p for p in (info.district, info.address) if p)
        kind = info.category.replace("_", " ")
        text = (
            f"{info.name} ({kind}{', ' + where if where else ''}): "
            f"{_span(start, end, short=False)}. A confirmed case visited at this time. "
            "If you were there, watch for symptoms and get tested at a screening centre if "
            "any appear."
        )
        if info.indoor:
            text += " Disinfection of the premises is advised."
        notices.append(
            PublicNotice(
                place_id=place_id,
                venue_name=info.name,
                category=info.category,
                district=info.district,
                address=info.address,
                date=start.date(),
                start=start,
                end=end,
                expires=end + timedelta(days=NOTICE_DAYS),
                disinfection_advised=info.indoor,
                text=text,
            )
        )
    return notices


def _notices(
    inv: Investigation, venues: Mapping[int, VenueInfo], tz: ZoneInfo
) -> list[PublicNotice]:
    by_place: dict[int, list[tuple[int, int]]] = defaultdict(list)
    info_of: dict[int, VenueInfo] = {}
    for s in inv.timeline:
        if s.kind != "venue" or s.place_id is None:
            continue
        info = venues.get(s.place_id) or VenueInfo(
            name=inv.venue_names.get(s.place_id, f"venue {s.place_id}"),
            category=s.category or "venue",
            district=None,
            indoor=bool(s.indoor),
            keeps_visitor_log=False,  # unknown: assume visitors cannot all be reached
        )
        if not publishable(info):
            continue
        info_of[s.place_id] = info
        by_place[s.place_id].append((s.start, s.end))
    notices = [
        n
        for place_id, windows in by_place.items()
        for n in venue_notices(place_id, info_of[place_id], windows, tz)
    ]
    return sorted(notices, key=lambda n: (n.start, n.place_id))


def build_warnings(
    inv: Investigation,
    venues: Mapping[int, VenueInfo],
    *,
    timezone: str = "Asia/Seoul",
    towers: Mapping[int, TowerInfo] | None = None,
    city: str = "Seoul",
    now: datetime | None = None,
) -> Warnings:
    """The warnings a traced case sets off (see the module docstring for the rules).

    `venues` describes the venues of the case's timeline (a venue missing from it is named from
    ``inv.venue_names`` and treated as keeping no visitor log); `towers` names tower areas
    (a tower missing from it is called "cell area <id>"); `city` heads area alerts. With `now`,
    items that have already expired are left out.
    """
    tz = ZoneInfo(timezone)
    orders, advice = _orders_and_advice(inv.contacts, venues, inv.venue_names, tz)
    out = Warnings(
        timezone=timezone,
        orders=orders,
        advice=advice,
        area_alerts=_area_alerts(inv.area, towers or {}, tz, city),
        notices=_notices(inv, venues, tz),
    )
    if now is not None:
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError(f"now: naive datetime {now.isoformat()}; give a time zone")
        out.orders = [o for o in out.orders if o.expires > now]
        out.advice = [a for a in out.advice if a.expires > now]
        out.area_alerts = [a for a in out.area_alerts if a.expires > now]
        out.notices = [n for n in out.notices if n.expires > now]
    return out

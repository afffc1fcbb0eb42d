"""Venue check-ins' service on SQLite and PostgreSQL: registration, warnings and their rules,
approval, signed packages a phone can match, privacy of the package, retention."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from tests.exposure.venues_support import (
    CAFE,
    NOW,
    REGISTERED,
    VISIT_END,
    VISIT_START,
    confirmed_case,
    signer,
)

from epicity.exposure import keyfile, venues
from epicity.exposure.models import SigningKey
from epicity.exposure.venue_client import CheckInBook, read_package
from epicity.exposure.venue_errors import (
    VenueConflict,
    VenueError,
    VenueForbidden,
    VenueInvalid,
    VenueNotFound,
)
from epicity.exposure.venue_models import Venue, VenuePackage, VenueWarning
from epicity.exposure.venue_payload import decode_package, decode_payload, location_id
from epicity.tracing.investigations import confirm_stay

SETTINGS = venues.VenueSettings()


def _register(session: Session, **changes: object) -> Venue:
    fields: dict[str, object] = {**CAFE, "actor": "public", "now": REGISTERED}
    fields.update(changes)
    venue, _ = venues.register_venue(session, **fields)  # type: ignore[arg-type]
    return venue


def _count(session: Session, model: type[object]) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


def _registration(session: Session) -> None:
    """Registration's rules, the token, listing, place links, ending."""
    venue, token = venues.register_venue(
        session, **CAFE, actor="public", now=REGISTERED, default_check_in_minutes=90
    )
    assert token.startswith("venue_")
    assert venue.token_hash == venues.token_hash(token)
    assert token not in repr(venue.__dict__)
    data = decode_payload(venue.payload)
    assert (data.description, data.default_check_in_minutes) == (CAFE["description"], 90)
    assert len(data.seed) == 16
    assert venues.venue_with_token(session, venue_id=venue.id, token=token) is venue
    with pytest.raises(VenueForbidden, match="token"):
        venues.venue_with_token(session, venue_id=venue.id, token="venue_" + "A" * 32)
    # a second registration of the same text is another code (another seed, another id)
    twin = _register(session)
    assert location_id(twin.payload) != location_id(venue.payload)
    korean = _register(session, district="마포구", description="Gym 24")
    assert korean.district == "Mapo-gu"
    event = _register(
        session,
        venue_type="temporary_worship_service",
        description="Easter service",
        start=REGISTERED + dt.timedelta(days=1),
        end=REGISTERED + dt.timedelta(days=1, hours=2),
    )
    assert decode_payload(event.payload).end == int(event.ends_at.timestamp())  # type: ignore[union-attr]

    refusals: list[tuple[dict[str, object], type[VenueError], str]] = [
        ({"district": "Gotham-gu"}, VenueInvalid, "district"),
        ({"venue_type": "bar"}, VenueInvalid, "type"),
        ({"description": "x" * 101}, VenueInvalid, "description"),
        ({"venue_type": "temporary_other"}, VenueInvalid, "start"),
        ({"place_id": 77}, VenueForbidden, "place_id"),
        ({"default_check_in_minutes": 2000}, VenueInvalid, "default_check_in_minutes"),
        (
            {
                "venue_type": "temporary_other",
                "start": REGISTERED - dt.timedelta(hours=3),
                "end": REGISTERED - dt.timedelta(hours=1),
            },
            VenueInvalid,
            "end",
        ),
    ]
    for changes, error, field in refusals:
        with pytest.raises(error) as caught:
            _register(session, **changes)
        assert caught.value.field == field, changes
    assert _count(session, Venue) == 4  # nothing stored by a refusal

    staff = _register(session, staff=True, place_id=77, actor="kim", description="Karaoke 7")
    assert venues.venue_for_place(session, 77) is staff
    assert venues.venue_for_place(session, 78) is None
    assert venues.venue_for_place(session, 77, at=REGISTERED - dt.timedelta(days=1)) is None
    venues.set_place(session, venue_id=venue.id, place_id=78)
    assert venues.venue_for_place(session, 78) is venue
    rows, total = venues.list_venues(session, district="Mapo-gu", q="haneul")
    assert (total, [r.id for r in rows]) == (2, [twin.id, venue.id])  # newest first
    rows, total = venues.list_venues(session, place_id=77)
    assert (total, [r.id for r in rows]) == (1, [staff.id])
    venues.end_venue(session, venue_id=venue.id, now=REGISTERED + dt.timedelta(days=2))
    assert venues.venue_for_place(session, 78, at=REGISTERED + dt.timedelta(days=3)) is None
    with pytest.raises(VenueNotFound):
        venues.get_venue(session, venue_id=999_999)


def test_registration_and_warning_rules(session: Session) -> None:
    _registration(session)
    venue = _register(session)
    case = confirmed_case(session)
    suspected = confirmed_case(session, ref="V2", status="suspected")
    late = _register(session, description="Opened later", now=VISIT_END)
    closed = _register(session, description="Closed early")
    venues.end_venue(session, venue_id=closed.id, now=VISIT_START - dt.timedelta(hours=1))

    def warn(**changes: object) -> VenueWarning:
        fields: dict[str, object] = {
            "case_id": case.id,
            "venue_id": venue.id,
            "start": VISIT_START,
            "end": VISIT_END,
            "actor": "kim",
            "now": NOW,
        }
        fields.update(changes)
        warning, _ = venues.create_warning(session, **fields)  # type: ignore[arg-type]
        return warning

    hours = dt.timedelta(hours=1)
    refusals: list[tuple[dict[str, object], type[VenueError], str, str]] = [
        ({"case_id": 999_999}, VenueInvalid, "case_id", "no case"),
        ({"case_id": suspected.id}, VenueInvalid, "case_id", "not a confirmed case"),
        ({"venue_id": 999_999}, VenueInvalid, "venue_id", "no venue"),
        ({"end": VISIT_START - hours}, VenueInvalid, "end", "after the start"),
        ({"end": VISIT_START + 25 * hours}, VenueInvalid, "end", "24 hours"),
        ({"now": VISIT_END - hours}, VenueInvalid, "end", "future"),
        (
            {"start": VISIT_START - 3 * 24 * hours, "end": VISIT_START - 70 * hours},
            VenueInvalid,
            "start",
            "infectious window",
        ),
        ({"venue_id": late.id}, VenueConflict, "venue_id", "registered"),
        ({"venue_id": closed.id}, VenueConflict, "venue_id", "out of use"),
        ({"transmission_risk_level": 9}, VenueInvalid, "transmission_risk_level", "1 to 8"),
        ({"start": VISIT_START.replace(tzinfo=None)}, VenueInvalid, "start", "time zone"),
    ]
    for changes, error, field, words in refusals:
        with pytest.raises(error, match=words) as caught:
            warn(**changes)
        assert caught.value.field == field, changes
    assert _count(session, VenueWarning) == 0

    warning = warn()
    assert (warning.status, warning.transmission_risk_level) == ("pending", venues.DEFAULT_TRL)
    start = VISIT_START.replace(minute=0)
    assert warning.start_interval * 600 == int(start.timestamp())
    assert warning.period == 10  # 19:00 to 20:40
    again, created = venues.create_warning(
        session,
        case_id=case.id,
        venue_id=venue.id,
        start=VISIT_START + dt.timedelta(minutes=2),
        end=VISIT_END,
        actor="lee",
        now=NOW,
    )
    assert (again.id, created) == (warning.id, False)

    # an investigator's confirmed stay at a registered venue's place is offered as a warning
    traced = confirmed_case(session, ref="V3", person_id=4242)
    cafe = _register(session, staff=True, place_id=501, actor="kim")
    _register(session, staff=True, place_id=502, actor="kim", description="Gym 24")
    confirm_stay(
        session, case_id=traced.id, actor="kim", action="add", method="cctv",
        reason="CCTV at the entrance", start=VISIT_START, end=VISIT_END, place_id=501,
    )  # fmt: skip
    confirm_stay(
        session, case_id=traced.id, actor="kim", action="add", method="interview",
        reason="said so", start=VISIT_START, end=VISIT_END, place_id=999,
    )  # fmt: skip
    (suggestion,) = venues.suggestions_for_case(session, case_id=traced.id)
    assert suggestion.venue is cafe
    assert (suggestion.start, suggestion.end) == (VISIT_START, VISIT_END)
    venues.create_warning(
        session, case_id=traced.id, venue_id=cafe.id, start=suggestion.start, end=suggestion.end,
        actor="kim", now=NOW,
    )  # fmt: skip
    assert venues.suggestions_for_case(session, case_id=traced.id) == []


def test_approve_publish_match_privacy_and_retention(session: Session) -> None:
    cafe = _register(session)
    karaoke = _register(session, description="Karaoke Byeolbit 별빛", address="40 Eoulmadang-ro")
    gym = _register(session, description="Gym 24", address="3 Yanghwa-ro")
    event = _register(
        session,
        venue_type="temporary_cultural_event",
        description="Concert",
        start=REGISTERED + dt.timedelta(hours=1),
        end=REGISTERED + dt.timedelta(hours=3),
    )
    case_id = 7_777_777_777
    case = confirmed_case(session, ref="CASE-7f3a", case_id=case_id)
    key = signer()

    def warn(venue: Venue, **changes: object) -> VenueWarning:
        fields: dict[str, object] = {
            "case_id": case.id,
            "venue_id": venue.id,
            "start": VISIT_START,
            "end": VISIT_END,
            "actor": "kim",
            "now": NOW,
        }
        fields.update(changes)
        warning, _ = venues.create_warning(session, **fields)  # type: ignore[arg-type]
        return warning

    warning = warn(cafe, transmission_risk_level=6)
    assert venues.publish_warnings(session, now=NOW, signer=key, settings=SETTINGS) is None
    with pytest.raises(VenueForbidden, match="another officer"):
        venues.approve_warning(session, warning_id=warning.id, actor="kim", now=NOW)
    venues.approve_warning(session, warning_id=warning.id, actor="park", now=NOW)
    venues.approve_warning(session, warning_id=warning.id, actor="park", now=NOW)  # no change
    second = warn(karaoke, start=VISIT_END, end=VISIT_END + dt.timedelta(minutes=50))
    venues.approve_warning(session, warning_id=second.id, actor="park", now=NOW)
    rejected = warn(gym)
    venues.reject_warning(session, warning_id=rejected.id, actor="park", now=NOW, reason="wrong")
    with pytest.raises(VenueConflict, match="rejected already"):
        venues.approve_warning(session, warning_id=rejected.id, actor="park", now=NOW)

    package = venues.publish_warnings(session, now=NOW, signer=key, settings=SETTINGS)
    assert package is not None
    assert package.report_count == SETTINGS.package_pad  # two real reports and eight decoys
    assert (warning.status, warning.package_id) == ("published", package.id)
    assert rejected.status == "rejected"
    assert venues.publish_warnings(session, now=NOW, signer=key, settings=SETTINGS) is None
    assert venues.package_index(session) == [f"{package.name}.zip"]
    stored = session.scalars(select(SigningKey)).one()  # the phones' public key, recorded
    public = serialization.load_pem_public_key(stored.public_key_pem.encode())
    keys = {("450", "v1"): public}
    decoded = read_package(package.data, keys)  # type: ignore[arg-type]
    assert decoded.region == "KR-11"
    assert decoded.interval_number == int(NOW.timestamp()) // 3600

    # a phone at the cafe from 19:30 to 21:00 overlaps the published 19:00-20:40
    book = CheckInBook()
    visit = book.check_in(venues.checkin_url_of(cafe, SETTINGS), at=VISIT_START.replace(minute=30))
    book.check_out(visit.id, at=VISIT_START.replace(hour=21, minute=0))
    (match,) = book.match([decoded])
    assert match.overlap_minutes == 70
    assert match.transmission_risk_level == 6
    # one at the gym (rejected warning) or at the cafe the next day matches nothing
    other = CheckInBook()
    other.check_in(venues.checkin_url_of(gym, SETTINGS), at=VISIT_START)
    other.check_in(venues.checkin_url_of(cafe, SETTINGS), at=VISIT_START + dt.timedelta(days=1))
    assert other.match([decoded]) == []
    # a package signed by another key, or altered, is refused
    with pytest.raises(keyfile.SignatureError):
        read_package(package.data, {("450", "v1"): signer().private_key.public_key()})
    export_bin, export_sig = keyfile.read_zip(package.data)
    tampered = keyfile.write_zip(export_bin[:-1] + bytes([export_bin[-1] ^ 1]), export_sig)
    with pytest.raises(keyfile.SignatureError):
        read_package(tampered, keys)  # type: ignore[arg-type]

    # privacy: the package holds no venue's text, seed, payload or location id, no case id
    with zipfile.ZipFile(io.BytesIO(package.data)) as archive:
        assert archive.namelist() == ["export.bin", "export.sig"]
    secret_parts = [
        case_id.to_bytes(8, "big"),
        case_id.to_bytes(8, "little"),
        str(case_id).encode(),
        b"CASE-7f3a",
    ]
    for venue in (cafe, karaoke):
        data = decode_payload(venue.payload)
        secret_parts += [
            data.description.encode(),
            data.address.encode(),
            data.seed,
            location_id(venue.payload),
            venue.payload,
        ]
    for blob in (package.data, export_bin, export_sig):
        for part in secret_parts:
            assert part not in blob, part
    # two reports of one case share nothing: other hashes, IVs, ciphertexts and MACs
    reports = decode_package(export_bin).reports
    fields = [(r.location_id_hash, r.iv, r.encrypted_check_in_record, r.mac) for r in reports]
    for column in zip(*fields, strict=True):
        assert len(set(column)) == len(reports)

    # retention: 14 days after a window ended its warning goes; the package with the last
    expiry = second.ends_at + venues.RETENTION
    assert venues.prune(session, now=warning.ends_at + venues.RETENTION) == {
        "warnings": 2,  # the cafe's and the rejected gym's (same window)
        "packages": 0,  # still carries the karaoke's
        "venues": 1,  # the concert ended more than 14 days before and was never warned of
    }
    assert session.get(Venue, event.id) is None
    assert venues.prune(session, now=expiry) == {"warnings": 1, "packages": 1, "venues": 0}
    assert _count(session, VenueWarning) == _count(session, VenuePackage) == 0
    assert venues.package_index(session) == []
    assert session.get(Venue, cafe.id) is not None  # a venue never ended stays

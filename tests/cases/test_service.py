"""Case management service: lifecycle, dates, contacts, clusters, links and chains (both DBs)."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from epicity.cases import service
from epicity.cases.errors import CaseError, Conflict, IllegalTransition, LinkRefused, NotFound
from epicity.cases.models import Case, TransmissionLink
from epicity.cases.service import (
    add_contact,
    add_link,
    add_to_cluster,
    chain,
    change_status,
    cluster_cases,
    create_case,
    create_cluster,
    date_problems,
    follow_up_history,
    list_cases,
    status_history,
    update_follow_up,
)
from epicity.db import session_scope

D = dt.date(2020, 3, 2)
DAY = dt.timedelta(days=1)


def confirmed(session: Session, day: dt.date = D, **kw: object) -> Case:
    return create_case(session, actor="kim", status="confirmed", confirmed_date=day, **kw)  # type: ignore[arg-type]


# -- lifecycle ---------------------------------------------------------------------------------


def test_full_lifecycle_is_recorded_in_history(session: Session) -> None:
    case = create_case(session, actor="kim", sex="female", age_group="30s", district="Guro-gu")
    assert case.status == "suspected"
    change_status(session, case_id=case.id, to="confirmed", actor="lee", reason="PCR +", on=D)
    change_status(session, case_id=case.id, to="isolated", actor="lee", reason="hospital", on=D)
    change_status(
        session, case_id=case.id, to="recovered", actor="park", reason="2 PCR -", on=D + 14 * DAY
    )
    assert (case.status, case.confirmed_date, case.isolated_date, case.released_date) == (
        "recovered",
        D,
        D,
        D + 14 * DAY,
    )
    steps = [
        (h.from_status, h.to_status, h.changed_by, h.reason, h.effective_date)
        for h in status_history(session, case_id=case.id)
    ]
    assert steps == [
        (None, "suspected", "kim", "case reported", None),
        ("suspected", "confirmed", "lee", "PCR +", D),
        ("confirmed", "isolated", "lee", "hospital", D),
        ("isolated", "recovered", "park", "2 PCR -", D + 14 * DAY),
    ]
    assert all(h.changed_at.tzinfo is not None for h in status_history(session, case_id=case.id))


@pytest.mark.parametrize(
    ("path", "end"),
    [
        (["discarded"], "discarded"),
        (["deceased"], "deceased"),
        (["confirmed", "deceased"], "deceased"),
        (["confirmed", "recovered"], "recovered"),
        (["confirmed", "isolated", "deceased"], "deceased"),
    ],
)
def test_legal_transitions(session: Session, path: list[str], end: str) -> None:
    case = create_case(session, actor="kim")
    for to in path:
        change_status(session, case_id=case.id, to=to, actor="kim", reason="r", on=D)
    assert case.status == end
    assert len(status_history(session, case_id=case.id)) == len(path) + 1


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], "isolated"),
        ([], "recovered"),
        ([], "suspected"),
        (["confirmed"], "suspected"),
        (["confirmed"], "discarded"),
        (["confirmed", "isolated"], "confirmed"),
        (["confirmed", "recovered"], "deceased"),
        (["confirmed", "recovered"], "isolated"),
        (["deceased"], "recovered"),
        (["discarded"], "confirmed"),
    ],
)
def test_illegal_transitions_are_refused(session: Session, path: list[str], illegal: str) -> None:
    case = create_case(session, actor="kim")
    for to in path:
        change_status(session, case_id=case.id, to=to, actor="kim", reason="r", on=D)
    before = len(status_history(session, case_id=case.id))
    with pytest.raises(IllegalTransition, match=f"to {illegal!r}"):
        change_status(session, case_id=case.id, to=illegal, actor="kim", reason="r", on=D)
    assert len(status_history(session, case_id=case.id)) == before


def test_transitions_table_is_closed() -> None:
    for status, targets in service.TRANSITIONS.items():
        assert set(targets) <= set(service.TRANSITIONS)
        assert status not in targets


def test_change_status_validates_its_input(session: Session) -> None:
    case = create_case(session, actor="kim")
    with pytest.raises(CaseError, match="reason must not be empty"):
        change_status(session, case_id=case.id, to="confirmed", actor="kim", reason=" ")
    with pytest.raises(CaseError, match="actor must not be empty"):
        change_status(session, case_id=case.id, to="confirmed", actor="", reason="r")
    with pytest.raises(CaseError, match="status 'cured' is not one of"):
        change_status(session, case_id=case.id, to="cured", actor="kim", reason="r")
    with pytest.raises(NotFound, match="case_id: no case with id 999"):
        change_status(session, case_id=999, to="confirmed", actor="kim", reason="r")
    with pytest.raises(CaseError, match="case_id must be a positive integer"):
        change_status(session, case_id=0, to="confirmed", actor="kim", reason="r")
    with pytest.raises(CaseError, match="on must be a date"):
        change_status(
            session,
            case_id=case.id,
            to="confirmed",
            actor="kim",
            reason="r",
            on=dt.datetime(2020, 3, 2, tzinfo=dt.UTC),  # type: ignore[arg-type]
        )
    change_status(session, case_id=case.id, to="confirmed", actor="kim", reason="r")
    assert case.confirmed_date is not None  # today by default


# -- dates ------------------------------------------------------------------------------------


def test_release_before_confirmation_is_refused(session: Session) -> None:
    case = confirmed(session)
    with pytest.raises(CaseError, match="released_date 2020-03-01 is before confirmed_date"):
        change_status(session, case_id=case.id, to="recovered", actor="k", reason="r", on=D - DAY)
    assert case.status == "confirmed"
    assert case.released_date is None


def test_isolation_before_confirmation_and_death_before_onset_are_refused(
    session: Session,
) -> None:
    case = confirmed(session, symptom_onset=D - DAY)
    with pytest.raises(CaseError, match="isolated_date 2020-03-01 is before confirmed_date"):
        change_status(session, case_id=case.id, to="isolated", actor="k", reason="r", on=D - DAY)
    change_status(session, case_id=case.id, to="isolated", actor="k", reason="r", on=D + DAY)
    with pytest.raises(CaseError, match="deceased_date 2020-03-02 is before isolated_date"):
        change_status(session, case_id=case.id, to="deceased", actor="k", reason="r", on=D)


def test_creation_dates_are_checked(session: Session) -> None:
    with pytest.raises(CaseError, match="confirmed_date is required for status 'confirmed'"):
        create_case(session, actor="kim", status="confirmed")
    with pytest.raises(CaseError, match="confirmed_date is set but the status is 'suspected'"):
        create_case(session, actor="kim", confirmed_date=D)
    with pytest.raises(CaseError, match="confirmed_date 2020-03-02 is before test_date"):
        confirmed(session, test_date=D + DAY)
    future = dt.date.today() + 10 * DAY
    with pytest.raises(CaseError, match=r"symptom_onset .* is in the future"):
        create_case(session, actor="kim", symptom_onset=future)
    with pytest.raises(CaseError, match="status 'isolated' is not one of suspected, confirmed"):
        create_case(session, actor="kim", status="isolated")
    with pytest.raises(CaseError, match="sex 'x' is not one of female, male"):
        create_case(session, actor="kim", sex="x")
    with pytest.raises(CaseError, match="person_id must be a positive integer"):
        create_case(session, actor="kim", person_id=-3)
    # onset after confirmation: a pre-symptomatic case, allowed
    assert confirmed(session, symptom_onset=D + 2 * DAY).symptom_onset == D + 2 * DAY


def test_date_problems_names_the_later_field() -> None:
    dates = {"confirmed_date": D, "released_date": D - DAY}
    assert [f for f, _ in date_problems("recovered", dates)] == ["released_date"]
    both = {"confirmed_date": D, "released_date": D, "deceased_date": D}
    assert ("released_date", "released_date and deceased_date are both set") in date_problems(
        "deceased", both
    )
    assert date_problems("recovered", {"confirmed_date": D, "released_date": D}) == []


def test_external_ref_is_unique_per_source(session: Session) -> None:
    confirmed(session, source="ds4c", external_ref="1000000001")
    confirmed(session, source="other", external_ref="1000000001")
    with pytest.raises(Conflict, match="external_ref '1000000001' of source 'ds4c'"):
        confirmed(session, source="ds4c", external_ref="1000000001")


def test_list_cases_filters(session: Session) -> None:
    a = confirmed(session, district="Guro-gu")
    b = confirmed(session, D + DAY, district="Mapo-gu")
    c = create_case(session, actor="kim")
    assert [x.id for x in list_cases(session)] == [b.id, a.id, c.id]
    assert [x.id for x in list_cases(session, status="suspected")] == [c.id]
    assert [x.id for x in list_cases(session, district="Guro-gu")] == [a.id]
    with pytest.raises(CaseError, match="limit must be between"):
        list_cases(session, limit=0)


# -- contacts ---------------------------------------------------------------------------------


def test_contact_follow_up_transitions(session: Session) -> None:
    case = confirmed(session)
    contact = add_contact(session, case_id=case.id, actor="kim", tier="close", person_id=42)
    assert (contact.follow_up, contact.origin) == ("none", "manual")
    for to in ("reached", "in_isolation", "tested", "released"):
        update_follow_up(session, contact_id=contact.id, to=to, actor="lee", note=to)
    assert contact.follow_up == "released"
    assert [
        (h.from_status, h.to_status) for h in follow_up_history(session, contact_id=contact.id)
    ] == [
        ("none", "reached"),
        ("reached", "in_isolation"),
        ("in_isolation", "tested"),
        ("tested", "released"),
    ]
    with pytest.raises(IllegalTransition, match="from 'released' to 'reached'"):
        update_follow_up(session, contact_id=contact.id, to="reached", actor="lee")
    other = add_contact(
        session, case_id=case.id, actor="kim", tier="casual", external_ref="tel-1", origin="tracing"
    )
    with pytest.raises(IllegalTransition, match="from 'none' to 'released'"):
        update_follow_up(session, contact_id=other.id, to="released", actor="lee")
    with pytest.raises(CaseError, match="follow_up 'lost' is not one of"):
        update_follow_up(session, contact_id=other.id, to="lost", actor="lee")
    with pytest.raises(NotFound, match="contact_id"):
        update_follow_up(session, contact_id=9999, to="reached", actor="lee")


def test_contact_validation(session: Session) -> None:
    case = confirmed(session)
    with pytest.raises(CaseError, match="person_id or external_ref"):
        add_contact(session, case_id=case.id, actor="kim", tier="close")
    with pytest.raises(CaseError, match="tier 'near' is not one of close, casual"):
        add_contact(session, case_id=case.id, actor="kim", tier="near", person_id=1)
    with pytest.raises(CaseError, match="origin 'app' is not one of"):
        add_contact(session, case_id=case.id, actor="kim", tier="close", person_id=1, origin="app")
    add_contact(session, case_id=case.id, actor="kim", tier="close", person_id=1)
    with pytest.raises(Conflict, match=r"person_id: case .* already has this contact"):
        add_contact(session, case_id=case.id, actor="kim", tier="casual", person_id=1)


# -- clusters ---------------------------------------------------------------------------------


def test_cluster_membership_spans_dates(session: Session) -> None:
    cluster = create_cluster(session, name="Guro-gu Call Center", actor="kim", kind="workplace")
    a, b = confirmed(session, D + 5 * DAY), confirmed(session, D)
    add_to_cluster(session, cluster_id=cluster.id, case_id=a.id, actor="kim")
    add_to_cluster(session, cluster_id=cluster.id, case_id=b.id, actor="kim")
    assert (cluster.first_date, cluster.last_date) == (D, D + 5 * DAY)
    assert [c.id for c in cluster_cases(session, cluster_id=cluster.id)] == [b.id, a.id]
    assert [c.id for c in list_cases(session, cluster_id=cluster.id)] == [a.id, b.id]
    with pytest.raises(Conflict, match="in cluster 'Guro-gu Call Center' already"):
        add_to_cluster(session, cluster_id=cluster.id, case_id=a.id, actor="kim")
    with pytest.raises(Conflict, match="name: cluster 'Guro-gu Call Center' exists already"):
        create_cluster(session, name="Guro-gu Call Center", actor="kim")
    with pytest.raises(CaseError, match="kind 'bar' is not one of"):
        create_cluster(session, name="x", actor="kim", kind="bar")


# -- links and chains -------------------------------------------------------------------------


def test_links_refuse_self_duplicates_cycles_and_missing_evidence(session: Session) -> None:
    a, b, c = confirmed(session), confirmed(session), confirmed(session)
    add_link(session, infector_id=a.id, infectee_id=b.id, evidence="interview", actor="kim")
    add_link(session, infector_id=b.id, infectee_id=c.id, evidence="CCTV", actor="kim")
    with pytest.raises(LinkRefused, match="cannot infect itself"):
        add_link(session, infector_id=a.id, infectee_id=a.id, evidence="e", actor="kim")
    with pytest.raises(LinkRefused, match="recorded already"):
        add_link(session, infector_id=a.id, infectee_id=b.id, evidence="e", actor="kim")
    with pytest.raises(LinkRefused, match="would close a cycle"):
        add_link(session, infector_id=c.id, infectee_id=a.id, evidence="e", actor="kim")
    with pytest.raises(LinkRefused, match="would close a cycle"):
        add_link(session, infector_id=b.id, infectee_id=a.id, evidence="e", actor="kim")
    with pytest.raises(CaseError, match="evidence must not be empty"):
        add_link(session, infector_id=a.id, infectee_id=c.id, evidence=" ", actor="kim")
    with pytest.raises(NotFound, match="infector_id: no case with id 999"):
        add_link(session, infector_id=999, infectee_id=c.id, evidence="e", actor="kim")
    # a second possible infector is fine (no cycle)
    add_link(session, infector_id=a.id, infectee_id=c.id, evidence="shared office", actor="kim")
    assert session.scalar(sa.select(sa.func.count()).select_from(TransmissionLink)) == 3


def test_database_refuses_self_links_too(sessions: sessionmaker[Session]) -> None:
    with session_scope(sessions) as s:
        a = confirmed(s)
        a_id = a.id
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        s.add(
            TransmissionLink(
                infector_id=a_id,
                infectee_id=a_id,
                evidence="e",
                source="test",
                created_by="kim",
                created_at=dt.datetime(2020, 3, 2, tzinfo=dt.UTC),
            )
        )


def test_chain_nodes_and_edges(session: Session) -> None:
    # root -> a -> a1, root -> b; x -> y is another chain
    root, a, a1, b, x, y = (confirmed(session) for _ in range(6))
    for infector, infectee in ((root, a), (a, a1), (root, b), (x, y)):
        add_link(session, infector_id=infector.id, infectee_id=infectee.id, evidence="e", actor="k")
    whole = chain(session, case_id=a.id)
    assert [n.case_id for n in whole.nodes] == [root.id, a.id, a1.id, b.id]
    relation = {n.case_id: n.relation for n in whole.nodes}
    assert relation == {root.id: "ancestor", a.id: "self", a1.id: "descendant", b.id: "related"}
    assert [(e.infector_id, e.infectee_id) for e in whole.edges] == [
        (root.id, a.id),
        (root.id, b.id),
        (a.id, a1.id),
    ]
    assert whole.roots == [root.id]
    lineage = chain(session, case_id=a.id, lineage_only=True)
    assert [n.case_id for n in lineage.nodes] == [root.id, a.id, a1.id]
    assert [(e.infector_id, e.infectee_id) for e in lineage.edges] == [
        (root.id, a.id),
        (a.id, a1.id),
    ]
    alone = chain(session, case_id=confirmed(session).id)
    assert [n.relation for n in alone.nodes] == ["self"]
    assert alone.edges == []
    assert [n.case_id for n in chain(session, case_id=y.id).nodes] == [x.id, y.id]

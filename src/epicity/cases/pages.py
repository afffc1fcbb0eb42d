"""Console pages of case management: the case list with filters, a case's page (details,
status history and change, contacts by tier with their follow-up, clusters, transmission
links) and the clusters with their transmission graph.

The routes call the service functions directly (not the HTTP API) and stay out of the
OpenAPI schema. A refused change re-renders the page with the rule's message (status 400); a
change that succeeds is committed, then redirects back (303), so a reload does not post it
again. The graph is a Plotly figure built here (`transmission_figure`) and drawn in the page
by the Plotly script the service serves itself (no CDN).
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

import plotly.graph_objects as go
from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from epicity.accounts.permissions import Capability
from epicity.cases.errors import CaseError, NotFound
from epicity.cases.models import (
    CASE_STATUSES,
    CONTACT_TIERS,
    PLACE_MAX,
    REF_MAX,
    SOURCE_MAX,
    Case,
    CaseContact,
    Cluster,
    ClusterMember,
    FollowUpChange,
    TransmissionLink,
)
from epicity.cases.service import (
    FOLLOW_UP_TRANSITIONS,
    TRANSITIONS,
    ChainEdge,
    ChainNode,
    add_contact,
    chain,
    change_status,
    cluster_cases,
    get_case,
    list_cases,
    status_history,
    update_follow_up,
)
from epicity.db import utcnow
from epicity.web.deps import Caller, DbSession, need
from epicity.web.pages import render

__all__ = [
    "STATUS_COLOURS",
    "generations",
    "layered_layout",
    "router",
    "transmission_figure",
]

router = APIRouter(include_in_schema=False)

ReadCases = Annotated[Caller, Depends(need(Capability.READ_CASES))]
EditCases = Annotated[Caller, Depends(need(Capability.EDIT_CASES))]
CaseId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10**9)]

# Colour-blind-safe enough (Okabe-Ito based); the legend names each status.
STATUS_COLOURS: Mapping[str, str] = {
    "suspected": "#E69F00",
    "confirmed": "#D55E00",
    "isolated": "#0072B2",
    "recovered": "#009E73",
    "deceased": "#000000",
    "discarded": "#999999",
}
# Above these sizes a graph drops per-link arrows and per-node labels (they would overlap).
_MAX_ARROWS = 200
_MAX_LABELS = 40
_NOTICES = {
    "status": "Status changed.",
    "follow_up": "Follow-up updated.",
    "contact": "Contact added.",
}


# --------------------------------------------------------------------------------------------
# helpers


def _page_urls(
    path: str, filters: Mapping[str, str], limit: int, offset: int, more: bool
) -> dict[str, str | None]:
    """Links to the previous and next page with the same filters (None at either end)."""
    kept = {k: v for k, v in filters.items() if v}

    def url(at: int) -> str:
        return f"{path}?{urlencode({**kept, 'limit': limit, 'offset': at})}"

    return {
        "prev_url": url(max(0, offset - limit)) if offset > 0 else None,
        "next_url": url(offset + limit) if more else None,
    }


def _positive_int(value: str, what: str) -> int | None:
    """An id typed into a filter ('' means no filter); `CaseError` naming the field if bad."""
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or not 1 <= int(value) <= 2**63 - 1:
        raise CaseError(f"{what} must be a positive whole number, got {value!r}")
    return int(value)


def _day(value: str, what: str) -> dt.date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CaseError(f"{what} must be a date (YYYY-MM-DD), got {value!r}") from None


def _cluster_choices(session: Session) -> list[tuple[int, str]]:
    return [
        (i, n) for i, n in session.execute(select(Cluster.id, Cluster.name).order_by(Cluster.name))
    ]


def _distinct(session: Session, column: Any) -> list[str]:
    return [v for v in session.scalars(select(column).distinct().order_by(column)) if v]


# --------------------------------------------------------------------------------------------
# the case list


@router.get("/console/cases", response_class=HTMLResponse)
def case_list(
    request: Request,
    session: DbSession,
    caller: ReadCases,
    status: Annotated[str, Query(max_length=16)] = "",
    source: Annotated[str, Query(max_length=SOURCE_MAX)] = "",
    district: Annotated[str, Query(max_length=PLACE_MAX)] = "",
    cluster: Annotated[str, Query(max_length=20)] = "",
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Cases, most recently confirmed first, filtered by status, source, district, cluster."""
    del caller
    filters = {
        "status": status.strip(),
        "source": source.strip(),
        "district": district.strip(),
        "cluster": cluster.strip(),
    }
    error = None
    rows: list[Case] = []
    try:
        if filters["status"] and filters["status"] not in CASE_STATUSES:
            raise CaseError(
                f"status {filters['status']!r} is not one of {', '.join(CASE_STATUSES)}"
            )
        rows = list_cases(
            session,
            status=filters["status"] or None,
            source=filters["source"] or None,
            district=filters["district"] or None,
            cluster_id=_positive_int(filters["cluster"], "cluster"),
            limit=limit + 1,  # one more tells whether there is a next page
            offset=offset,
        )
    except CaseError as err:
        error = str(err)
    more = len(rows) > limit
    context = {
        "cases": rows[:limit],
        "filters": filters,
        "error": error,
        "offset": offset,
        "statuses": CASE_STATUSES,
        "sources": _distinct(session, Case.source),
        "districts": _distinct(session, Case.district),
        "clusters": _cluster_choices(session),
        **_page_urls("/console/cases", filters, limit, offset, more),
    }
    return render(request, "cases.html", context, status=400 if error else 200)


# --------------------------------------------------------------------------------------------
# a case's page and its forms


def _case_page(
    request: Request,
    session: Session,
    case_id: int,
    *,
    error: str | None = None,
    notice: str | None = None,
    form: Mapping[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The case page (or a 404 page when there is no such case)."""
    case = get_case(session, case_id=case_id)
    if case is None:
        return render(
            request,
            "case.html",
            {"case": None, "error": f"case_id: no case with id {case_id}"},
            status=404,
        )
    contacts = list(
        session.scalars(
            select(CaseContact).where(CaseContact.case_id == case.id).order_by(CaseContact.id)
        )
    )
    by_tier = {tier: [c for c in contacts if c.tier == tier] for tier in CONTACT_TIERS}
    last_follow_up: dict[int, FollowUpChange] = {}
    for change in session.scalars(
        select(FollowUpChange)
        .join(CaseContact, CaseContact.id == FollowUpChange.contact_id)
        .where(CaseContact.case_id == case.id)
        .order_by(FollowUpChange.id)
    ):
        last_follow_up[change.contact_id] = change  # the latest wins
    clusters = list(
        session.scalars(
            select(Cluster)
            .join(ClusterMember, ClusterMember.cluster_id == Cluster.id)
            .where(ClusterMember.case_id == case.id)
            .order_by(Cluster.name)
        )
    )
    other = aliased(Case)
    infectors = list(
        session.execute(
            select(TransmissionLink, other)
            .join(other, other.id == TransmissionLink.infector_id)
            .where(TransmissionLink.infectee_id == case.id)
            .order_by(other.id)
        )
    )
    infectees = list(
        session.execute(
            select(TransmissionLink, other)
            .join(other, other.id == TransmissionLink.infectee_id)
            .where(TransmissionLink.infector_id == case.id)
            .order_by(other.id)
        )
    )
    context = {
        "case": case,
        "history": status_history(session, case_id=case.id),
        "allowed": TRANSITIONS[case.status],
        "contacts_by_tier": by_tier,
        "follow_up_next": FOLLOW_UP_TRANSITIONS,
        "last_follow_up": last_follow_up,
        "tiers": CONTACT_TIERS,
        "clusters": clusters,
        "infectors": infectors,
        "infectees": infectees,
        "today": utcnow().date().isoformat(),  # the service's default day
        "error": error,
        "notice": _NOTICES.get(notice or ""),
        "form": dict(form or {}),
    }
    return render(request, "case.html", context, status=status)


@router.get("/console/cases/{case_id}", response_class=HTMLResponse)
def case_page(
    request: Request,
    session: DbSession,
    caller: ReadCases,
    case_id: CaseId,
    notice: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    """A case: details, status history and change, contacts, clusters and links."""
    del caller
    return _case_page(request, session, case_id, notice=notice)


def _back(case_id: int, notice: str, anchor: str = "") -> Response:
    return RedirectResponse(f"/console/cases/{case_id}?notice={notice}{anchor}", status_code=303)


@router.post("/console/cases/{case_id}/status")
def case_status_form(
    request: Request,
    session: DbSession,
    caller: EditCases,
    case_id: CaseId,
    to: Annotated[str, Form(max_length=16)] = "",
    reason: Annotated[str, Form(max_length=10_000)] = "",
    on: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """Change the case's status (the lifecycle's rules apply; a refusal shows on the page)."""
    form = {"to": to, "reason": reason, "on": on}
    try:
        change_status(
            session,
            case_id=case_id,
            to=to.strip(),
            actor=caller.actor,
            reason=reason,
            on=_day(on, "on"),
        )
    except NotFound:
        return _case_page(request, session, case_id)
    except CaseError as err:
        session.rollback()
        return _case_page(request, session, case_id, error=str(err), form=form, status=400)
    # Commit before answering: the browser follows the redirect at once.
    session.commit()
    return _back(case_id, "status", "#history")


@router.post("/console/cases/{case_id}/contacts")
def add_contact_form(
    request: Request,
    session: DbSession,
    caller: EditCases,
    case_id: CaseId,
    tier: Annotated[str, Form(max_length=16)] = "",
    person_id: Annotated[str, Form(max_length=20)] = "",
    external_ref: Annotated[str, Form(max_length=REF_MAX + 1)] = "",
    note: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Add a contact to the case by hand."""
    form = {"tier": tier, "person_id": person_id, "external_ref": external_ref, "note": note}
    try:
        add_contact(
            session,
            case_id=case_id,
            actor=caller.actor,
            tier=tier.strip(),
            person_id=_positive_int(person_id, "person_id"),
            external_ref=external_ref or None,
            origin="manual",
            note=note,
        )
    except NotFound:
        return _case_page(request, session, case_id)
    except CaseError as err:
        session.rollback()
        return _case_page(request, session, case_id, error=str(err), form=form, status=400)
    session.commit()
    return _back(case_id, "contact", "#contacts")


@router.post("/console/contacts/{contact_id}/follow-up")
def follow_up_form(
    request: Request,
    session: DbSession,
    caller: EditCases,
    contact_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    to: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Move a contact's follow-up on (reached, in isolation, tested, released)."""
    contact = session.get(CaseContact, contact_id)
    if contact is None:
        return render(
            request,
            "case.html",
            {"case": None, "error": f"contact_id: no contact with id {contact_id}"},
            status=404,
        )
    case_id = contact.case_id
    try:
        update_follow_up(
            session, contact_id=contact_id, to=to.strip(), actor=caller.actor, note=note
        )
    except CaseError as err:
        session.rollback()
        return _case_page(request, session, case_id, error=str(err), status=400)
    session.commit()
    return _back(case_id, "follow_up", "#contacts")


# --------------------------------------------------------------------------------------------
# the transmission graph


def generations(node_ids: Iterable[int], edges: Iterable[tuple[int, int]]) -> dict[int, int]:
    """Each case's generation in a transmission graph: 0 when no case of the graph infected
    it, else one more than its latest infector's (the longest path from a root), so every
    link points at least one layer down. Links never form a cycle (the service refuses
    them); should one exist anyway, its cases are put in generation 0 rather than lost."""
    nodes = set(node_ids)
    children: dict[int, list[int]] = defaultdict(list)
    indegree = dict.fromkeys(nodes, 0)
    for a, b in edges:
        if a in nodes and b in nodes:
            children[a].append(b)
            indegree[b] += 1
    gen = {n: 0 for n, d in indegree.items() if d == 0}
    ready = sorted(gen)
    while ready:
        node = ready.pop()
        for child in children[node]:
            gen[child] = max(gen.get(child, 0), gen[node] + 1)
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return {n: gen.get(n, 0) for n in nodes}


def layered_layout(
    node_ids: Iterable[int], edges: Iterable[tuple[int, int]]
) -> dict[int, tuple[float, float]]:
    """Positions (x, y) for drawing: one row per generation (y = -generation), each row
    centred on x = 0; roots ordered by id, later cases by the mean x of their infectors (the
    barycentre heuristic), which keeps most links from crossing."""
    edge_list = list(edges)
    gen = generations(node_ids, edge_list)
    infectors: dict[int, list[int]] = defaultdict(list)
    for a, b in edge_list:
        if a in gen and b in gen:
            infectors[b].append(a)
    rows: dict[int, list[int]] = defaultdict(list)
    for node, g in gen.items():
        rows[g].append(node)
    pos: dict[int, tuple[float, float]] = {}
    for g in sorted(rows):

        def key(node: int) -> tuple[float, int]:
            xs = [pos[p][0] for p in infectors[node] if p in pos]
            return (sum(xs) / len(xs) if xs else -math.inf, node)

        row = sorted(rows[g], key=key)
        for i, node in enumerate(row):
            pos[node] = (i - (len(row) - 1) / 2, -float(g))
    return pos


def _label(node: ChainNode) -> str:
    ref = f"{node.source} {node.external_ref}" if node.external_ref else node.source
    return f"case {node.case_id} ({ref})"


def transmission_figure(
    nodes: Sequence[ChainNode], edges: Sequence[ChainEdge], members: Iterable[int]
) -> go.Figure:
    """The transmission graph as a Plotly figure: cases as markers coloured by status
    (members of the cluster as circles, linked cases outside it as diamonds), links as
    arrows from infector to infectee laid out by generation; hover shows the case's ref,
    status and confirmation date, and a link's evidence at its midpoint."""
    member_ids = set(members)
    pos = layered_layout(
        (n.case_id for n in nodes), ((e.infector_id, e.infectee_id) for e in edges)
    )
    fig = go.Figure()
    xs: list[float | None] = []
    ys: list[float | None] = []
    mid_x, mid_y, mid_text = [], [], []
    by_id = {n.case_id: n for n in nodes}
    for e in edges:
        (x0, y0), (x1, y1) = pos[e.infector_id], pos[e.infectee_id]
        xs += [x0, x1, None]
        ys += [y0, y1, None]
        mid_x.append((x0 + x1) / 2)
        mid_y.append((y0 + y1) / 2)
        mid_text.append(
            f"{html.escape(_label(by_id[e.infector_id]))} → "
            f"{html.escape(_label(by_id[e.infectee_id]))}<br>"
            f"evidence: {html.escape(e.evidence[:200])}"
        )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=ys,
            mode="lines",
            line={"color": "#9aa5b1", "width": 1.2},
            hoverinfo="skip",
            showlegend=False,
        )
    )
    if edges:
        fig.add_trace(
            go.Scatter(
                x=mid_x,
                y=mid_y,
                mode="markers",
                marker={"size": 6, "color": "#9aa5b1"},
                hovertext=mid_text,
                hoverinfo="text",
                name="link (evidence)",
                showlegend=False,
            )
        )
    labels = len(nodes) <= _MAX_LABELS
    for status in CASE_STATUSES:
        group = [n for n in nodes if n.status == status]
        if not group:
            continue
        # The legend shows each status as a plain circle (a point's own symbol would do, but
        # Plotly shows the first point's, a diamond when that case is outside the cluster).
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                marker={"size": 12, "color": STATUS_COLOURS[status]},
                name=status,
                legendgroup=status,
                hoverinfo="skip",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[pos[n.case_id][0] for n in group],
                y=[pos[n.case_id][1] for n in group],
                mode="markers+text" if labels else "markers",
                text=[str(n.case_id) for n in group] if labels else None,
                textposition="middle right",
                marker={
                    "size": 16,
                    "color": STATUS_COLOURS[status],
                    "symbol": ["circle" if n.case_id in member_ids else "diamond" for n in group],
                    "line": {"color": "#ffffff", "width": 1.5},
                },
                name=status,
                legendgroup=status,
                showlegend=False,
                hovertext=[
                    f"{html.escape(_label(n))}<br>status: {n.status}<br>confirmed: "
                    f"{n.confirmed_date.isoformat() if n.confirmed_date else '—'}"
                    + ("" if n.case_id in member_ids else "<br>linked, not in this cluster")
                    for n in group
                ],
                hoverinfo="text",
                customdata=[f"/console/cases/{n.case_id}" for n in group],
            )
        )
    if 0 < len(edges) <= _MAX_ARROWS:
        fig.update_layout(
            annotations=[
                {
                    "x": pos[e.infectee_id][0],
                    "y": pos[e.infectee_id][1],
                    "ax": pos[e.infector_id][0],
                    "ay": pos[e.infector_id][1],
                    "xref": "x",
                    "yref": "y",
                    "axref": "x",
                    "ayref": "y",
                    "showarrow": True,
                    "arrowhead": 2,
                    "arrowsize": 1.2,
                    "arrowwidth": 1.2,
                    "arrowcolor": "#6b7785",
                    "standoff": 9,
                    "startstandoff": 9,
                    "text": "",
                }
                for e in edges
            ]
        )
    depth = 1 + max((-y for _, y in pos.values()), default=0)
    fig.update_layout(
        height=int(max(320, 110 * depth + 90)),
        margin={"l": 60, "r": 20, "t": 40, "b": 20},
        plot_bgcolor="#ffffff",
        hovermode="closest",
        legend={"orientation": "h", "y": 1.08, "x": 0},
        xaxis={"visible": False},
        yaxis={
            "tickvals": [-float(g) for g in range(int(depth))],
            "ticktext": [f"gen {g}" for g in range(int(depth))],
            "showgrid": False,
            "zeroline": False,
        },
    )
    return fig


def _figure_json(fig: go.Figure) -> str:
    """The figure as JSON safe to place inside a <script> element (no '<', '>' or '&')."""
    text: str = fig.to_json()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def cluster_graph(
    session: Session, members: Sequence[Case]
) -> tuple[list[ChainNode], list[ChainEdge]]:
    """The nodes and links to draw for a cluster: its cases and every case linked to them
    (each member's whole chain, walked once per connected chain)."""
    nodes: dict[int, ChainNode] = {}
    edges: dict[tuple[int, int], ChainEdge] = {}
    for case in members:
        if case.id in nodes:
            continue  # already drawn as part of another member's chain
        found = chain(session, case_id=case.id)
        nodes.update({n.case_id: n for n in found.nodes})
        edges.update({(e.infector_id, e.infectee_id): e for e in found.edges})
    return [nodes[k] for k in sorted(nodes)], [edges[k] for k in sorted(edges)]


# --------------------------------------------------------------------------------------------
# clusters


@router.get("/console/clusters", response_class=HTMLResponse)
def cluster_list(
    request: Request,
    session: DbSession,
    caller: ReadCases,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Response:
    """Clusters, the most recent first, with their number of cases."""
    del caller
    members = func.count(ClusterMember.case_id)
    rows = list(
        session.execute(
            select(Cluster, members)
            .outerjoin(ClusterMember, ClusterMember.cluster_id == Cluster.id)
            .group_by(Cluster.id)
            .order_by(Cluster.last_date.desc().nulls_last(), Cluster.id.desc())
            .limit(limit + 1)
            .offset(offset)
        )
    )
    context = {
        "clusters": rows[:limit],
        "offset": offset,
        **_page_urls("/console/clusters", {}, limit, offset, len(rows) > limit),
    }
    return render(request, "clusters.html", context)


@router.get("/console/clusters/{cluster_id}", response_class=HTMLResponse)
def cluster_page(
    request: Request,
    session: DbSession,
    caller: ReadCases,
    cluster_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
) -> Response:
    """A cluster: its cases and the transmission graph around them."""
    del caller
    cluster = session.get(Cluster, cluster_id)
    if cluster is None:
        return render(
            request,
            "cluster.html",
            {"cluster": None, "error": f"cluster_id: no cluster with id {cluster_id}"},
            status=404,
        )
    members = cluster_cases(session, cluster_id=cluster.id)
    nodes, edges = cluster_graph(session, members)
    by_id = {n.case_id: n for n in nodes}
    context = {
        "cluster": cluster,
        "members": members,
        "nodes": nodes,
        "links": [(e, by_id[e.infector_id], by_id[e.infectee_id]) for e in edges],
        "outside": len(nodes) - len(members),
        "figure_json": _figure_json(transmission_figure(nodes, edges, (c.id for c in members))),
        "label": _label,
    }
    return render(request, "cluster.html", context)

"""The console pages over plain HTTP: who may open them, filters, forms (with CSRF), refusals
shown on the page, 404s, and the transmission graph's figure and layout."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from tests.web.conftest import PASSWORD, LiveService, Seeded

from epicity.cases import service as cases
from epicity.cases.pages import generations, layered_layout
from epicity.db import session_scope

HTML = {"Accept": "text/html"}


def _pages(seeded: Seeded) -> list[str]:
    return [
        "/console/cases",
        f"/console/cases/{seeded.cases['P1']}",
        "/console/clusters",
        f"/console/clusters/{seeded.cluster_id}",
    ]


def _login(c: httpx.Client, role: str) -> None:
    r = c.post("/login", data={"username": role, "password": PASSWORD})
    assert r.status_code == 303


def _csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "no csrf field on the page"
    return found.group(1)


def test_who_may_open_the_pages(live: LiveService, seeded: Seeded) -> None:
    with live.client() as c:
        for path in [*_pages(seeded), "/console/audit"]:
            r = c.get(path, headers=HTML)
            assert r.status_code == 303, path
            assert r.headers["location"] == f"/login?next={path}"
            assert c.get(path).status_code == 401, path  # an API client is told, not sent
    for role in ("analyst", "citizen", "admin"):
        with live.client(role) as c:
            for path in _pages(seeded):
                assert c.get(path, headers=HTML).status_code == 403, (role, path)
    for role in ("investigator", "health_officer"):
        with live.client(role) as c:
            for path in _pages(seeded):
                assert c.get(path, headers=HTML).status_code == 200, (role, path)
            assert c.get("/console/audit", headers=HTML).status_code == 403
    for role in ("analyst", "citizen", "investigator"):
        with live.client(role) as c:
            assert c.get("/console/audit").status_code == 403, role
    with live.client("admin") as c:
        assert c.get("/console/audit", headers=HTML).status_code == 200
    with live.client("analyst") as c:  # the forms are refused too
        r = c.post(f"/console/cases/{seeded.cases['P1']}/status", data={"to": "isolated"})
        assert r.status_code == 403


def test_missing_case_and_cluster_are_404(live: LiveService, seeded: Seeded) -> None:
    with live.client("investigator") as c:
        r = c.get("/console/cases/999999", headers=HTML)
        assert r.status_code == 404
        assert "no case with id 999999" in r.text
        assert c.get("/console/clusters/999999").status_code == 404
        r = c.post("/console/contacts/999999/follow-up", data={"to": "reached"})
        assert r.status_code == 404
        assert c.get("/console/cases/0").status_code == 422
    assert seeded.cases


def test_case_list_filters_and_pages(live: LiveService, seeded: Seeded) -> None:
    with live.client("investigator") as c:
        page = c.get("/console/cases").text
        assert all(f">{ref}<" not in page for ref in ("P1",))  # refs show with their source
        assert "epicity P1" in page
        assert "ds4c D1" in page
        only = c.get("/console/cases", params={"status": "suspected"}).text
        assert "epicity P5" in only
        assert "epicity P1" not in only
        ds4c = c.get("/console/cases", params={"source": "ds4c"}).text
        assert "ds4c D1" in ds4c
        assert "epicity P" not in ds4c
        mapo = c.get("/console/cases", params={"district": "Mapo-gu"}).text
        assert "epicity P5" in mapo
        assert "ds4c D1" in mapo
        assert "epicity P1" not in mapo
        members = c.get("/console/cases", params={"cluster": seeded.cluster_id}).text
        assert all(f"epicity {r}" in members for r in ("P1", "P2", "P3", "P4"))
        assert "epicity P5" not in members
        bad = c.get("/console/cases", params={"status": "cured"})
        assert bad.status_code == 400
        assert "status &#39;cured&#39; is not one of" in bad.text
        assert c.get("/console/cases", params={"cluster": "x"}).status_code == 400
        first = c.get("/console/cases", params={"limit": 4}).text
        assert 'href="/console/cases?limit=4&amp;offset=4"' in first
        assert 'rel="prev"' not in first
        second = c.get("/console/cases", params={"limit": 4, "offset": 4}).text
        assert 'rel="next"' not in second
        assert 'href="/console/cases?limit=4&amp;offset=0"' in second
        assert c.get("/console/cases", params={"limit": 0}).status_code == 422


def test_case_page_shows_contacts_links_and_history(live: LiveService, seeded: Seeded) -> None:
    with live.client("investigator") as c:
        page = c.get(f"/console/cases/{seeded.cases['P1']}").text
        assert "Close contacts (2)" in page
        assert "Casual contacts (1)" in page
        assert "person 1001" in page
        assert "KR-55" in page
        assert "same office floor, CCTV review" in page
        assert SEED_CLUSTER_LINK(seeded) in page
        assert f'href="/console/cases/{seeded.cases["P1"]}/investigation"' in page
        assert "case reported" in page  # the first history row
        p3 = c.get(f"/console/cases/{seeded.cases['P3']}").text
        assert "same team, interview" in p3  # infected by P1
        assert "household" in p3  # infected P4


def SEED_CLUSTER_LINK(seeded: Seeded) -> str:  # noqa: N802 (reads as a constant)
    return f'href="/console/clusters/{seeded.cluster_id}"'


def test_forms_change_status_follow_up_and_contacts(live: LiveService, seeded: Seeded) -> None:
    p1, p2 = seeded.cases["P1"], seeded.cases["P2"]
    with live.client() as c:
        _login(c, "investigator")
        page = c.get(f"/console/cases/{p1}").text
        token = _csrf(page)
        no_csrf = c.post(f"/console/cases/{p1}/status", data={"to": "isolated", "reason": "x"})
        assert no_csrf.status_code == 403
        ok = c.post(
            f"/console/cases/{p1}/status",
            data={"csrf": token, "to": "isolated", "reason": "isolation order", "on": "2020-03-02"},
        )
        assert ok.status_code == 303
        assert ok.headers["location"] == f"/console/cases/{p1}?notice=status#history"
        page = c.get(ok.headers["location"]).text
        assert "Status changed." in page
        assert "isolation order" in page
        assert "2020-03-02" in page
        # The lifecycle refuses isolated -> confirmed: the page says why, with status 400.
        refused = c.post(
            f"/console/cases/{p1}/status",
            data={"csrf": token, "to": "confirmed", "reason": "oops"},
        )
        assert refused.status_code == 400
        assert "cannot go from &#39;isolated&#39; to &#39;confirmed&#39;" in refused.text
        assert "oops" in refused.text  # the form keeps what was typed
        # Dates are checked too: isolation before confirmation.
        early = c.post(
            f"/console/cases/{p2}/status",
            data={"csrf": token, "to": "isolated", "reason": "r", "on": "2020-01-01"},
        )
        assert early.status_code == 400
        assert "isolated_date 2020-01-01 is before confirmed_date" in early.text
        bad_day = c.post(
            f"/console/cases/{p2}/status",
            data={"csrf": token, "to": "isolated", "reason": "r", "on": "03/04/2020"},
        )
        assert bad_day.status_code == 400
        assert "on must be a date (YYYY-MM-DD)" in bad_day.text
        # Follow-up of a contact.
        contact = seeded.contacts["person 1001"]
        r = c.post(
            f"/console/contacts/{contact}/follow-up",
            data={"csrf": token, "to": "reached", "note": "called"},
        )
        assert r.status_code == 303
        assert "reached" in c.get(f"/console/cases/{p1}").text
        r = c.post(f"/console/contacts/{contact}/follow-up", data={"csrf": token, "to": "none"})
        assert r.status_code == 400
        assert "cannot go from &#39;reached&#39; to &#39;none&#39;" in r.text
        # A contact by hand; a duplicate is refused on the page.
        r = c.post(
            f"/console/cases/{p2}/contacts",
            data={"csrf": token, "tier": "casual", "person_id": "2002", "note": "colleague"},
        )
        assert r.status_code == 303
        page = c.get(f"/console/cases/{p2}").text
        assert "Casual contacts (1)" in page
        assert "person 2002" in page
        dup = c.post(
            f"/console/cases/{p2}/contacts",
            data={"csrf": token, "tier": "casual", "person_id": "2002"},
        )
        assert dup.status_code == 400
        assert "already has this contact" in dup.text
        nobody = c.post(f"/console/cases/{p2}/contacts", data={"csrf": token, "tier": "close"})
        assert nobody.status_code == 400
        assert "person_id or external_ref" in nobody.text
    with session_scope(live.app.state.sessions) as s:
        history = cases.status_history(s, case_id=p1)
        assert [h.to_status for h in history] == ["confirmed", "isolated"]
        assert history[-1].changed_by == "investigator"
        assert cases.follow_up_history(s, contact_id=contact)[0].note == "called"


def _figure(page: str) -> dict[str, object]:
    found = re.search(r'<script type="application/json" id="graph-data">(.*?)</script>', page, re.S)
    assert found
    figure: dict[str, object] = json.loads(found.group(1))
    return figure


def test_cluster_page_draws_the_chain(live: LiveService, seeded: Seeded) -> None:
    with live.client("investigator") as c:
        listing = c.get("/console/clusters").text
        assert "Test call centre" in listing
        page = c.get(f"/console/clusters/{seeded.cluster_id}").text
    assert '<script src="/static/plotly.min.js"></script>' in page
    assert "cdn" not in page.lower()
    fig = _figure(page)
    data = fig["data"]
    assert isinstance(data, list)
    nodes = [t for t in data if t.get("customdata")]
    drawn = {u for t in nodes for u in t["customdata"]}
    # The four members and P5, linked to P2 from outside the cluster; not D1.
    assert drawn == {f"/console/cases/{seeded.cases[r]}" for r in ("P1", "P2", "P3", "P4", "P5")}
    assert {t["name"] for t in nodes} == {"confirmed", "suspected"}
    hover = " ".join(h for t in nodes for h in t["hovertext"])
    assert "epicity P5" in hover
    assert "confirmed: 2020-03-01" in hover
    assert "linked, not in this cluster" in hover
    layout = fig["layout"]
    assert isinstance(layout, dict)
    assert len(layout["annotations"]) == 4  # one arrow per link
    assert "diamond" in json.dumps(nodes)  # P5 drawn apart from members
    assert "shared dinner on 2020-03-05, interview" in page  # the links table


def test_graph_json_cannot_close_the_script(live: LiveService, seeded: Seeded) -> None:
    with session_scope(live.app.state.sessions) as s:
        cases.add_link(
            s,
            infector_id=seeded.cases["P4"],
            infectee_id=seeded.cases["D1"],
            evidence="</script><script>alert(1)</script>",
            actor="test",
        )
    with live.client("investigator") as c:
        page = c.get(f"/console/clusters/{seeded.cluster_id}").text
    assert "<script>alert(1)" not in page
    assert "alert(1)" in json.dumps(_figure(page))  # still there, as data


def test_layout_by_generation() -> None:
    edges = [(1, 2), (1, 3), (3, 4), (2, 5), (4, 5), (6, 7)]
    gen = generations(range(1, 9), edges)
    # 5 has two infectors; it sits below the later one (4, generation 2).
    assert gen == {1: 0, 2: 1, 3: 1, 4: 2, 5: 3, 6: 0, 7: 1, 8: 0}
    pos = layered_layout(range(1, 9), edges)
    assert all(pos[b][1] < pos[a][1] for a, b in edges)  # every arrow points down
    assert sorted(x for n, (x, y) in pos.items() if y == 0) == [-1.0, 0.0, 1.0]  # centred
    assert pos[2][0] < pos[7][0]  # children follow their infectors' order
    assert generations([], []) == {}


def test_audit_page(live: LiveService, seeded: Seeded) -> None:
    with live.client("admin") as c:
        page = c.get("/console/audit").text
        assert "Hash chain intact" in page
        assert "case.read" in page
        assert "location.read" in page
        only = c.get("/console/audit", params={"action": "case.read"}).text
        assert "<td>location.read</td>" not in only
        assert "<td>case.read</td>" in only
        assert "No audit entry" in c.get("/console/audit", params={"actor": "nobody"}).text
        by_case = c.get("/console/audit", params={"case_id": seeded.cases["P1"]}).text
        assert "<td>case.read</td>" in by_case
        assert "No audit entry" in c.get("/console/audit", params={"case_id": 999}).text
        bad = c.get("/console/audit", params={"case_id": "one"})
        assert bad.status_code == 400
        assert "case_id must be a whole number" in bad.text
        paged = c.get("/console/audit", params={"limit": 1}).text
        assert 'rel="next"' in paged


@pytest.mark.parametrize("path", ["/console/cases", "/console/audit"])
def test_pages_fit_a_phone(live: LiveService, path: str) -> None:
    role = "admin" if path.endswith("audit") else "investigator"
    with live.client(role) as c:
        page = c.get(path).text
    assert 'name="viewport"' in page
    assert "overflow-x: auto" in page

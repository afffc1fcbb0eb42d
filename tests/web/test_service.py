"""The service itself: health, OpenAPI, Plotly served locally, logins and tokens."""

from __future__ import annotations

from tests.web.conftest import PASSWORD, LiveService


def test_health_openapi_and_plotly_are_served(live: LiveService) -> None:
    with live.client() as c:
        assert c.get("/healthz").json()["status"] == "ok"
        spec = c.get("/openapi.json").json()
        assert "/api/v1/auth/token" in spec["paths"]
        js = c.get("/static/plotly.min.js")
        assert js.status_code == 200
        assert len(js.content) > 1_000_000
        assert c.get("/docs").status_code == 200


def test_token_login_and_identity(live: LiveService) -> None:
    with live.client() as c:
        bad = c.post("/api/v1/auth/token", json={"username": "analyst", "password": "nope"})
        assert bad.status_code == 400
        ok = c.post("/api/v1/auth/token", json={"username": "analyst", "password": PASSWORD})
        assert ok.status_code == 201
        me = c.get("/api/v1/me", headers={"Authorization": f"Bearer {ok.json()['token']}"})
        assert me.json()["role"] == "analyst"
        assert me.json()["capabilities"] == ["read_aggregates"]
        assert (
            c.get("/api/v1/me", headers={"Authorization": "Bearer epc_forged"}).status_code == 401
        )
        assert c.get("/api/v1/me").json() == {"username": None, "role": None, "capabilities": []}


def test_bad_bodies_name_the_field(live: LiveService) -> None:
    with live.client("admin") as c:
        r = c.post("/api/v1/users", json={"username": "kim", "password": PASSWORD, "role": "x"})
        assert r.status_code == 422
        assert r.json()["errors"][0]["field"] == "role"
        r = c.post(
            "/api/v1/users", json={"username": "kim", "password": "short", "role": "analyst"}
        )
        assert r.status_code == 400
        assert "password" in r.json()["detail"]


def test_console_login_sets_a_cookie_and_logout_needs_csrf(live: LiveService) -> None:
    with live.client() as c:
        wrong = c.post("/login", data={"username": "admin", "password": "wrong password"})
        assert wrong.status_code == 401
        assert "Log in" in wrong.text
        r = c.post("/login", data={"username": "admin", "password": PASSWORD, "next": "/api/v1/me"})
        assert r.status_code == 303
        assert r.headers["location"] == "/api/v1/me"
        assert c.get("/api/v1/me").json()["username"] == "admin"
        assert c.post("/logout").status_code == 403  # no CSRF token
        assert c.get("/api/v1/me").json()["username"] == "admin"


def test_home_and_menu_follow_the_role(live: LiveService) -> None:
    expected = {
        "admin": ("/console/audit", {"Analytics", "Audit log"}),
        "investigator": (
            "/console/cases",
            {"Cases", "Clusters", "Screening", "Capacity plan", "Analytics"},
        ),
        "health_officer": (
            "/console/cases",
            {"Cases", "Clusters", "Screening", "Capacity plan", "Isolation", "Relief", "Analytics"},
        ),
        "analyst": ("/console/analytics", {"Analytics"}),
    }
    menu = (
        "Cases",
        "Clusters",
        "Screening",
        "Capacity plan",
        "Isolation",
        "Relief",
        "Analytics",
        "Audit log",
    )
    for role, (home, links) in expected.items():
        with live.client() as c:
            r = c.post("/login", data={"username": role, "password": PASSWORD})
            assert r.status_code == 303
            r = c.get("/", follow_redirects=False)
            assert r.headers["location"] == home, role
            page = c.get("/login").text  # a page every caller may open, with the menu
            shown = {name for name in menu if f">{name}</a>" in page}
            assert shown == links, role
    with live.client() as c:  # the public: the dashboard
        assert c.get("/", follow_redirects=False).headers["location"] == "/public"

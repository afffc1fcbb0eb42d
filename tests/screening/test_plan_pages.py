"""The capacity planning console page on a live service (SQLite and PostgreSQL in turn)."""

from __future__ import annotations

from tests.web.conftest import LiveService, live  # noqa: F401  (the live service fixture)

from epicity.screening.plan_pages import queue_figure, turnaround_figure
from epicity.screening.planning import Config, Scenario, simulate_day

HTML = {"Accept": "text/html"}
PAGE = "/console/screening/plan"
SMALL = {"tests": "600", "target_share": "0.9", "prevalence": "0.01", "seed": "3", "run": "1"}


def test_plan_page_runs_the_search_and_draws_the_day(live: LiveService) -> None:  # noqa: F811
    with live.client("health_officer") as c:
        form = c.get(PAGE, headers=HTML)
        assert form.status_code == 200
        assert 'name="tests" value="15000"' in form.text
        assert "Configurations tried" not in form.text  # nothing runs until asked
        r = c.get(PAGE, params=SMALL, headers=HTML)
        assert r.status_code == 200, r.text
        assert "Configurations tried" in r.text
        assert "lab machines" in r.text
        assert 'src="/static/plotly.min.js"' in r.text
        assert 'id="queue-data"' in r.text
        assert 'id="turnaround-data"' in r.text
        assert 'class="chosen"' in r.text
        # Deterministic: the same inputs, the same page.
        assert c.get(PAGE, params=SMALL, headers=HTML).text == r.text
        off = c.get(PAGE, params={**SMALL, "pooling": "off"}, headers=HTML)
        assert off.status_code == 200
        assert "<td>k=" not in off.text


def test_plan_page_refuses_bad_input_naming_the_field(live: LiveService) -> None:  # noqa: F811
    with live.client("investigator") as c:
        for field, value in [
            ("tests", "0"),
            ("tests", "many"),
            ("tests", "10000000"),
            ("target_share", "1.5"),
            ("target_share", "nan"),
            ("hours", "-2"),
            ("prevalence", "2"),
            ("pooling", "maybe"),
            ("seed", "-1"),
        ]:
            r = c.get(PAGE, params={**SMALL, field: value}, headers=HTML)
            assert r.status_code == 400, (field, value)
            assert f"{field} must" in r.text, (field, value)
            assert "Configurations tried" not in r.text
        assert c.get(PAGE, params={"tests": "1" * 40}).status_code == 422  # too long a text


def test_only_screening_roles_reach_the_page(live: LiveService) -> None:  # noqa: F811
    for role in ("analyst", "citizen", "admin"):
        with live.client(role) as c:
            assert c.get(PAGE, headers=HTML).status_code == 403, role
    with live.client() as c:
        assert c.get(PAGE).status_code == 401


def test_figures_have_the_series() -> None:
    day = simulate_day(Scenario(tests=300), Config(9, 2, 30, True), seed=1)
    queue = queue_figure(day)
    assert [t.name for t in queue.data] == ["people waiting at centres", "samples at the lab"]
    assert len(queue.data[0].x) == len(day.queue)
    turnaround = turnaround_figure(day, 6.0)
    assert [t.name for t in turnaround.data] == ["median", "95th percentile", "target"]
    assert list(turnaround.data[2].y) == [6.0, 6.0]

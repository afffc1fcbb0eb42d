"""Every domain's routes, in the order the OpenAPI page lists them."""

from __future__ import annotations

from fastapi import APIRouter

__all__ = ["all_routers"]


def all_routers() -> list[APIRouter]:
    """The routers `create_app` includes."""
    from epicity.accounts.routes import router as accounts
    from epicity.analytics.forecast_pages import router as analytics_forecast
    from epicity.analytics.pages import router as analytics_home
    from epicity.analytics.risk_pages import router as analytics_risk
    from epicity.analytics.rt_pages import router as analytics_rt
    from epicity.analytics.scan_pages import router as analytics_hotspots
    from epicity.analytics.scenario_pages import router as analytics_scenarios
    from epicity.cac.library_pages import router as cac_library_pages
    from epicity.cac.library_routes import router as cac_library
    from epicity.cac.pages import router as cac_pages
    from epicity.cac.routes import router as cac
    from epicity.cases.pages import router as case_pages
    from epicity.cases.routes import router as cases
    from epicity.exposure.routes import router as exposure
    from epicity.exposure.venue_pages import router as exposure_venue_pages
    from epicity.exposure.venue_routes import router as exposure_venues
    from epicity.isolation.pages import router as isolation_pages
    from epicity.isolation.routes import router as isolation
    from epicity.notices.pages import router as notice_pages
    from epicity.opendata.api import router as open_api
    from epicity.opendata.pages import router as opendata_pages
    from epicity.opendata.routes import router as opendata_staff
    from epicity.privacy.pages import router as audit_pages
    from epicity.privacy.routes import router as privacy
    from epicity.relief.pages import router as relief_pages
    from epicity.relief.routes import router as relief
    from epicity.screening.pages import router as screening_pages
    from epicity.screening.plan_pages import router as screening_plan
    from epicity.screening.routes import router as screening
    from epicity.tracing.routes import router as investigations
    from epicity.triage.routes import router as triage
    from epicity.web.console import router as console

    return [
        accounts,
        cases,
        privacy,
        console,
        case_pages,
        audit_pages,
        investigations,
        isolation,
        isolation_pages,
        notice_pages,
        screening,
        screening_pages,
        triage,
        relief,
        relief_pages,
        screening_plan,
        analytics_home,
        analytics_risk,
        analytics_rt,
        analytics_hotspots,
        analytics_forecast,
        analytics_scenarios,
        opendata_pages,
        opendata_staff,
        open_api,
        cac,
        cac_pages,
        cac_library,
        cac_library_pages,
        exposure,
        exposure_venues,
        exposure_venue_pages,
    ]

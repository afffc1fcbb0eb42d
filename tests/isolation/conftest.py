"""The web tests' live service and browser, for isolation's route and page tests."""

from __future__ import annotations

from tests.web.conftest import browser, live  # noqa: F401  (fixtures)

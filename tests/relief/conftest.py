"""The live service of the web tests, for this domain's route tests."""

from __future__ import annotations

from tests.web.conftest import browser, live  # noqa: F401  (fixtures)

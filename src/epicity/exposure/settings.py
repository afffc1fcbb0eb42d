"""The key server's settings: defaults, and the environment variables that change them.

=========================================  ==================================================
``EPICITY_EXPOSURE_REGIONS``               regions keys may be published to, comma separated;
                                           the first is the default (``KR-11``, Seoul)
``EPICITY_EXPOSURE_CODE_SECRET``           the HMAC key of stored verification codes (>= 16
                                           characters; see `epicity.exposure.verification`)
``EPICITY_EXPOSURE_CODE_HOURS``            a verification code's life (24)
``EPICITY_EXPOSURE_TOKEN_MINUTES``         an upload token's life (60)
``EPICITY_EXPOSURE_VERIFY_PER_CLIENT``     verification attempts per client address an hour
                                           (20; 0: no limit), in each worker's memory
``EPICITY_EXPOSURE_VERIFY_FAILURES``       failed verifications an hour, all clients and
                                           workers together, counted in the database (3600)
``EPICITY_EXPOSURE_MAX_KEYS``              keys in one upload (20)
``EPICITY_EXPOSURE_SIGNING_KEY``           path of the export signing key (ECDSA P-256 PEM);
                                           unset: exports are refused
``EPICITY_EXPOSURE_SIGNING_KEY_ID``        its ``verification_key_id`` (``450``: Korea's MCC)
``EPICITY_EXPOSURE_SIGNING_KEY_VERSION``   its ``verification_key_version`` (``v1``)
``EPICITY_EXPOSURE_EXPORT_MAX_KEYS``       keys in one export file (10000)
``EPICITY_EXPOSURE_EXPORT_MIN_KEYS``       a non-empty batch is padded with random keys up to
                                           this many, plus up to 10% jitter (1000; 0: none)
=========================================  ==================================================

A malformed value raises `ExposureConfigError` naming the variable.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from epicity.exposure.errors import ExposureConfigError

__all__ = ["DEFAULT_REGION", "REGION_PATTERN", "ExposureSettings"]

DEFAULT_REGION = "KR-11"  # ISO 3166-2 for Seoul
# ISO 3166-1 alpha-2, optionally with an ISO 3166-2 subdivision: KR, KR-11, US-CA.
REGION_PATTERN = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
# Used when EPICITY_EXPOSURE_CODE_SECRET is unset: the stored hash is then a plain SHA-256
# of the code with a public salt (see verification.py for what the secret adds).
_PUBLIC_CODE_KEY = b"epicity exposure verification code, v1 (no secret configured)"
_KEY_LABEL = re.compile(r"[A-Za-z0-9_]{1,64}")  # the export format's class for ids, versions
# The environment variable (after EPICITY_EXPOSURE_) of each setting it can change.
_ENV_OF = {
    "regions": "REGIONS",
    "code_lifetime": "CODE_HOURS",
    "token_lifetime": "TOKEN_MINUTES",
    "verify_per_client_per_hour": "VERIFY_PER_CLIENT",
    "verify_failures_per_hour": "VERIFY_FAILURES",
    "max_keys_per_upload": "MAX_KEYS",
    "signing_key_id": "SIGNING_KEY_ID",
    "signing_key_version": "SIGNING_KEY_VERSION",
    "export_max_keys": "EXPORT_MAX_KEYS",
    "export_min_keys": "EXPORT_MIN_KEYS",
}


@dataclass(frozen=True)
class ExposureSettings:
    """Every setting of the key server (see the module docstring for the environment)."""

    regions: tuple[str, ...] = (DEFAULT_REGION,)
    code_key: bytes = field(default=_PUBLIC_CODE_KEY, repr=False)
    code_secret_configured: bool = False
    code_lifetime: dt.timedelta = dt.timedelta(hours=24)
    token_lifetime: dt.timedelta = dt.timedelta(minutes=60)
    verify_per_client_per_hour: int = 20
    verify_failures_per_hour: int = 3600
    token_max_failures: int = 5  # refused uploads before a token is revoked
    max_keys_per_upload: int = 20
    max_same_start_keys: int = 3
    max_key_age: dt.timedelta = dt.timedelta(days=14)
    clock_skew: dt.timedelta = dt.timedelta(hours=1)
    retention: dt.timedelta = dt.timedelta(days=14)
    signing_key_path: Path | None = None
    signing_key_id: str = "450"
    signing_key_version: str = "v1"
    export_max_keys: int = 10_000
    export_min_keys: int = 1000
    export_padding_jitter: float = 0.1

    def __post_init__(self) -> None:
        if not self.regions:
            raise ExposureConfigError("regions: give at least one region")
        for region in self.regions:
            if not REGION_PATTERN.fullmatch(region):
                raise ExposureConfigError(
                    f"regions: {region!r} is not an ISO 3166 code such as KR or KR-11"
                )
        if len(set(self.regions)) != len(self.regions):
            raise ExposureConfigError("regions: a region is listed twice")
        for name in ("signing_key_id", "signing_key_version"):
            if not _KEY_LABEL.fullmatch(getattr(self, name)):
                raise ExposureConfigError(f"{name}: 1-64 letters, digits or '_'")
        positive = {
            "code_lifetime": self.code_lifetime > dt.timedelta(0),
            "token_lifetime": self.token_lifetime > dt.timedelta(0),
            "max_keys_per_upload": self.max_keys_per_upload >= 1,
            "max_same_start_keys": self.max_same_start_keys >= 1,
            "export_max_keys": self.export_max_keys >= 1,
            "verify_failures_per_hour": self.verify_failures_per_hour >= 1,
            "token_max_failures": self.token_max_failures >= 1,
        }
        for name, ok in positive.items():
            if not ok:
                raise ExposureConfigError(f"{name}: must be positive, not {getattr(self, name)}")
        for name in ("verify_per_client_per_hour", "export_min_keys"):
            if getattr(self, name) < 0:
                raise ExposureConfigError(f"{name}: must be >= 0, not {getattr(self, name)}")

    @property
    def default_region(self) -> str:
        """The region an upload that names none is published to."""
        return self.regions[0]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> ExposureSettings:
        """The settings from ``EPICITY_EXPOSURE_*`` (then `overrides`); a malformed value
        raises `ExposureConfigError` naming its variable."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}

        def text(name: str) -> str:
            return env.get(f"EPICITY_EXPOSURE_{name}", "").strip()

        def number(name: str, low: int) -> int | None:
            raw = text(name)
            if not raw:
                return None
            try:
                value = int(raw)
            except ValueError:
                raise ExposureConfigError(
                    f"EPICITY_EXPOSURE_{name}: not a whole number: {raw[:40]!r}"
                ) from None
            if value < low:
                raise ExposureConfigError(f"EPICITY_EXPOSURE_{name}: must be >= {low}")
            return value

        if regions := text("REGIONS"):
            values["regions"] = tuple(r.strip().upper() for r in regions.split(",") if r.strip())
        if secret := env.get("EPICITY_EXPOSURE_CODE_SECRET", ""):
            if len(secret) < 16:
                raise ExposureConfigError(
                    "EPICITY_EXPOSURE_CODE_SECRET: at least 16 characters (32 random bytes "
                    "in base64 is a good choice)"
                )
            values["code_key"] = secret.encode("utf-8")
            values["code_secret_configured"] = True
        for name, key, low, unit in (
            ("CODE_HOURS", "code_lifetime", 1, dt.timedelta(hours=1)),
            ("TOKEN_MINUTES", "token_lifetime", 1, dt.timedelta(minutes=1)),
        ):
            if (value := number(name, low)) is not None:
                values[key] = value * unit
        for name, key, low in (
            ("VERIFY_PER_CLIENT", "verify_per_client_per_hour", 0),
            ("VERIFY_FAILURES", "verify_failures_per_hour", 1),
            ("MAX_KEYS", "max_keys_per_upload", 1),
            ("EXPORT_MAX_KEYS", "export_max_keys", 1),
            ("EXPORT_MIN_KEYS", "export_min_keys", 0),
        ):
            if (value := number(name, low)) is not None:
                values[key] = value
        if path := text("SIGNING_KEY"):
            values["signing_key_path"] = Path(path)
        for name, key in (
            ("SIGNING_KEY_ID", "signing_key_id"),
            ("SIGNING_KEY_VERSION", "signing_key_version"),
        ):
            if label := text(name):
                values[key] = label
        values.update(overrides)
        try:
            return cls(**values)
        except ExposureConfigError as err:  # "regions: ..." -> "EPICITY_EXPOSURE_REGIONS: ..."
            name, _, problem = str(err).partition(": ")
            if name in _ENV_OF and name not in overrides:
                raise ExposureConfigError(f"EPICITY_EXPOSURE_{_ENV_OF[name]}: {problem}") from None
            raise

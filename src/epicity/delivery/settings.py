"""Delivery settings, read from environment variables and validated.

::

    EPICITY_SMTP_HOST        SMTP server; email delivery is off when unset
    EPICITY_SMTP_PORT        default 587 (25 or 1025 for a relay without TLS)
    EPICITY_SMTP_SENDER      From: address, e.g. warnings@health.seoul.go.kr (required with a host)
    EPICITY_SMTP_USERNAME    login (with EPICITY_SMTP_PASSWORD; both or neither)
    EPICITY_SMTP_PASSWORD
    EPICITY_SMTP_STARTTLS    true/false, default true
    EPICITY_SMTP_TIMEOUT     seconds, default 30
    EPICITY_WEBHOOK_URL      the city's gateway (http or https); webhook delivery off when unset
    EPICITY_WEBHOOK_SECRET   HMAC-SHA256 key, at least 16 characters (required with a URL)
    EPICITY_WEBHOOK_TIMEOUT  seconds, default 10
    EPICITY_DELIVERY_MAX_ATTEMPTS   default 8
    EPICITY_DELIVERY_BACKOFF_S      first retry delay, default 30 (doubles each attempt)
    EPICITY_DELIVERY_MAX_BACKOFF_S  cap of the delay, default 3600
    EPICITY_DELIVERY_LEASE_S        how long a worker holds a claimed message, default 300

A bad value raises `DeliveryConfigError` naming the variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = [
    "DeliveryConfigError",
    "DeliverySettings",
    "RetryPolicy",
    "SmtpSettings",
    "WebhookSettings",
]

_PLACEHOLDERS = frozenset({"changeme", "change-me", "secret", "password", "xxx", "todo"})
_EMAIL = re.compile(r"^[^@\s<>]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


class DeliveryConfigError(ValueError):
    """A delivery setting is missing or invalid; the message names the variable."""


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send email."""

    host: str
    sender: str
    port: int = 587
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout_s: float = 30.0


@dataclass(frozen=True)
class WebhookSettings:
    """The city's gateway (SMS, cell broadcast, public notice board) and the signing key."""

    url: str
    secret: str = field(repr=False)
    timeout_s: float = 10.0


@dataclass(frozen=True)
class RetryPolicy:
    """Retries: exponential backoff with jitter, up to `max_attempts`; the worker's lease."""

    max_attempts: int = 8
    backoff_s: float = 30.0
    max_backoff_s: float = 3600.0
    lease_s: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise DeliveryConfigError(f"max_attempts: must be at least 1, got {self.max_attempts}")
        if self.backoff_s < 0 or self.max_backoff_s < self.backoff_s:
            raise DeliveryConfigError("backoff_s: must be >= 0 and <= max_backoff_s")
        if self.lease_s <= 0:
            raise DeliveryConfigError(f"lease_s: must be positive, got {self.lease_s}")


@dataclass(frozen=True)
class DeliverySettings:
    """Every delivery setting; a channel is off (None) when its variables are unset."""

    smtp: SmtpSettings | None = None
    webhook: WebhookSettings | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DeliverySettings:
        """Read and validate the ``EPICITY_SMTP_*``, ``EPICITY_WEBHOOK_*`` and
        ``EPICITY_DELIVERY_*`` variables (default: the process environment)."""
        env = os.environ if environ is None else environ
        return cls(smtp=_smtp(env), webhook=_webhook(env), retry=_retry(env))


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise DeliveryConfigError(f"{name}: {raw!r} is not a number") from None
    if not value >= minimum or value == float("inf"):
        raise DeliveryConfigError(f"{name}: must be at least {minimum:g}, got {raw!r}")
    return value


def _integer(env: Mapping[str, str], name: str, default: int, *, lo: int, hi: int) -> int:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise DeliveryConfigError(f"{name}: {raw!r} is not a whole number") from None
    if not lo <= value <= hi:
        raise DeliveryConfigError(f"{name}: must be between {lo} and {hi}, got {value}")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise DeliveryConfigError(f"{name}: {raw!r} is not true or false")


def _smtp(env: Mapping[str, str]) -> SmtpSettings | None:
    host = _get(env, "EPICITY_SMTP_HOST")
    if host is None:
        for name in ("EPICITY_SMTP_SENDER", "EPICITY_SMTP_USERNAME", "EPICITY_SMTP_PASSWORD"):
            if _get(env, name) is not None:
                raise DeliveryConfigError(f"EPICITY_SMTP_HOST: required when {name} is set")
        return None
    if any(c.isspace() or c in "/@" for c in host):
        raise DeliveryConfigError(f"EPICITY_SMTP_HOST: {host!r} is not a host name")
    sender = _get(env, "EPICITY_SMTP_SENDER")
    if sender is None:
        raise DeliveryConfigError("EPICITY_SMTP_SENDER: required when EPICITY_SMTP_HOST is set")
    if not _EMAIL.match(sender):
        raise DeliveryConfigError(f"EPICITY_SMTP_SENDER: {sender!r} is not an email address")
    username = _get(env, "EPICITY_SMTP_USERNAME")
    password = _get(env, "EPICITY_SMTP_PASSWORD")
    if (username is None) != (password is None):
        missing = "EPICITY_SMTP_PASSWORD" if password is None else "EPICITY_SMTP_USERNAME"
        raise DeliveryConfigError(
            f"{missing}: EPICITY_SMTP_USERNAME and EPICITY_SMTP_PASSWORD go together"
        )
    return SmtpSettings(
        host=host,
        sender=sender,
        port=_integer(env, "EPICITY_SMTP_PORT", 587, lo=1, hi=65535),
        username=username,
        password=password,
        starttls=_flag(env, "EPICITY_SMTP_STARTTLS", True),
        timeout_s=_number(env, "EPICITY_SMTP_TIMEOUT", 30.0, minimum=0.1),
    )


def _webhook(env: Mapping[str, str]) -> WebhookSettings | None:
    url = _get(env, "EPICITY_WEBHOOK_URL")
    secret = _get(env, "EPICITY_WEBHOOK_SECRET")
    if url is None:
        if secret is not None:
            raise DeliveryConfigError(
                "EPICITY_WEBHOOK_URL: required when EPICITY_WEBHOOK_SECRET is set"
            )
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DeliveryConfigError(
            "EPICITY_WEBHOOK_URL: must be an http:// or https:// URL with a host"
        )
    if secret is None:
        raise DeliveryConfigError(
            "EPICITY_WEBHOOK_SECRET: required when EPICITY_WEBHOOK_URL is set"
        )
    if len(secret) < 16 or secret.lower() in _PLACEHOLDERS:
        raise DeliveryConfigError(
            "EPICITY_WEBHOOK_SECRET: must be at least 16 characters and not a placeholder"
        )
    return WebhookSettings(
        url=url, secret=secret, timeout_s=_number(env, "EPICITY_WEBHOOK_TIMEOUT", 10.0, minimum=0.1)
    )


def _retry(env: Mapping[str, str]) -> RetryPolicy:
    backoff = _number(env, "EPICITY_DELIVERY_BACKOFF_S", 30.0, minimum=0)
    cap = _number(env, "EPICITY_DELIVERY_MAX_BACKOFF_S", 3600.0, minimum=0)
    if cap < backoff:
        raise DeliveryConfigError(
            "EPICITY_DELIVERY_MAX_BACKOFF_S: must not be less than EPICITY_DELIVERY_BACKOFF_S"
        )
    return RetryPolicy(
        max_attempts=_integer(env, "EPICITY_DELIVERY_MAX_ATTEMPTS", 8, lo=1, hi=100),
        backoff_s=backoff,
        max_backoff_s=cap,
        lease_s=_number(env, "EPICITY_DELIVERY_LEASE_S", 300.0, minimum=1),
    )

"""Delivery settings from the environment: defaults, and errors naming the variable."""

from __future__ import annotations

import pytest

from epicity.delivery.settings import DeliveryConfigError, DeliverySettings, RetryPolicy

SMTP = {"EPICITY_SMTP_HOST": "mail.example.org", "EPICITY_SMTP_SENDER": "w@example.org"}
HOOK = {"EPICITY_WEBHOOK_URL": "https://gw.example.org/in", "EPICITY_WEBHOOK_SECRET": "x" * 32}


def test_nothing_set_means_both_channels_off() -> None:
    s = DeliverySettings.from_env({})
    assert s.smtp is None
    assert s.webhook is None
    assert s.retry == RetryPolicy()


def test_full_settings() -> None:
    s = DeliverySettings.from_env(
        {
            **SMTP,
            **HOOK,
            "EPICITY_SMTP_PORT": "2525",
            "EPICITY_SMTP_USERNAME": "u",
            "EPICITY_SMTP_PASSWORD": "p",
            "EPICITY_SMTP_STARTTLS": "false",
            "EPICITY_DELIVERY_MAX_ATTEMPTS": "3",
            "EPICITY_DELIVERY_BACKOFF_S": "5",
            "EPICITY_DELIVERY_LEASE_S": "90",
        }
    )
    assert s.smtp is not None
    assert (s.smtp.port, s.smtp.username, s.smtp.starttls) == (2525, "u", False)
    assert "password" not in repr(s.smtp)
    assert s.webhook is not None
    assert "secret" not in repr(s.webhook)
    assert (s.retry.max_attempts, s.retry.backoff_s, s.retry.lease_s) == (3, 5.0, 90.0)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EPICITY_SMTP_HOST": "mail.example.org"}, "EPICITY_SMTP_SENDER: required"),
        (
            {**SMTP, "EPICITY_SMTP_SENDER": "nobody"},
            "EPICITY_SMTP_SENDER: 'nobody' is not an email",
        ),
        ({**SMTP, "EPICITY_SMTP_PORT": "smtp"}, "EPICITY_SMTP_PORT: 'smtp' is not a whole number"),
        ({**SMTP, "EPICITY_SMTP_PORT": "70000"}, "EPICITY_SMTP_PORT: must be between 1 and 65535"),
        (
            {**SMTP, "EPICITY_SMTP_USERNAME": "u"},
            "EPICITY_SMTP_PASSWORD: EPICITY_SMTP_USERNAME and",
        ),
        (
            {**SMTP, "EPICITY_SMTP_STARTTLS": "maybe"},
            "EPICITY_SMTP_STARTTLS: 'maybe' is not true or false",
        ),
        (
            {"EPICITY_SMTP_SENDER": "w@example.org"},
            "EPICITY_SMTP_HOST: required when EPICITY_SMTP_SENDER",
        ),
        (
            {"EPICITY_WEBHOOK_URL": "ftp://gw/x", "EPICITY_WEBHOOK_SECRET": "x" * 32},
            "EPICITY_WEBHOOK_URL: must be an http",
        ),
        ({"EPICITY_WEBHOOK_URL": "https://gw.example.org/"}, "EPICITY_WEBHOOK_SECRET: required"),
        (
            {**HOOK, "EPICITY_WEBHOOK_SECRET": "short"},
            "EPICITY_WEBHOOK_SECRET: must be at least 16",
        ),
        ({"EPICITY_WEBHOOK_SECRET": "x" * 32}, "EPICITY_WEBHOOK_URL: required when"),
        ({**HOOK, "EPICITY_WEBHOOK_TIMEOUT": "0"}, "EPICITY_WEBHOOK_TIMEOUT: must be at least 0.1"),
        (
            {"EPICITY_DELIVERY_MAX_ATTEMPTS": "0"},
            "EPICITY_DELIVERY_MAX_ATTEMPTS: must be between 1",
        ),
        ({"EPICITY_DELIVERY_BACKOFF_S": "nan"}, "EPICITY_DELIVERY_BACKOFF_S: must be at least 0"),
        (
            {"EPICITY_DELIVERY_BACKOFF_S": "60", "EPICITY_DELIVERY_MAX_BACKOFF_S": "10"},
            "EPICITY_DELIVERY_MAX_BACKOFF_S: must not be less",
        ),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(DeliveryConfigError, match="^" + message.replace("(", r"\(")):
        DeliverySettings.from_env(env)

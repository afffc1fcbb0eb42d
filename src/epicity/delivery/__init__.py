"""Delivery of the warnings outbox by real channels: email over SMTP and a signed webhook.

`deliver_due` claims what is due, routes it (`epicity.delivery.service`), sends it through a
channel (`epicity.delivery.channels`) and records the outcome with retries and backoff;
settings come from ``EPICITY_SMTP_*`` / ``EPICITY_WEBHOOK_*`` (`epicity.delivery.settings`);
people's addresses from the recipient directory (`epicity.delivery.directory`).
"""

from __future__ import annotations

from epicity.delivery.channels import (
    Delivery,
    EmailChannel,
    SendError,
    WebhookChannel,
    sign,
)
from epicity.delivery.directory import (
    ContactsImportError,
    ContactsImportResult,
    load_contacts_file,
    parse_contacts,
)
from epicity.delivery.service import Channels, DeliveryReport, deliver_due, status_counts
from epicity.delivery.settings import (
    DeliveryConfigError,
    DeliverySettings,
    RetryPolicy,
    SmtpSettings,
    WebhookSettings,
)

__all__ = [
    "Channels",
    "ContactsImportError",
    "ContactsImportResult",
    "Delivery",
    "DeliveryConfigError",
    "DeliveryReport",
    "DeliverySettings",
    "EmailChannel",
    "RetryPolicy",
    "SendError",
    "SmtpSettings",
    "WebhookChannel",
    "WebhookSettings",
    "deliver_due",
    "load_contacts_file",
    "parse_contacts",
    "sign",
    "status_counts",
]

"""Channels that carry a warning out of the outbox: email over SMTP, a signed HTTP webhook.

A channel gets a `Delivery` (what to send, where, under which idempotency key) and either
returns (the receiver accepted it) or raises `SendError`, ``permanent`` when trying again
cannot help (the address or the message was refused) and transient otherwise (the server is
down, busy or slow). Errors carry codes and classes only, never addresses or message text, so
they can be stored in ``outbox.last_error`` and logged.

- **email** (`EmailChannel`): one message per recipient over SMTP (``smtplib``), STARTTLS and
  login when configured. ``Message-ID`` is ``<idempotency key@sender's domain>`` and the key is
  repeated in ``X-Epicity-Idempotency-Key``, so a mail system can drop a resent copy. SMTP 5xx
  replies to the recipient or the data are permanent; 4xx, connection errors, timeouts, and
  refusals of our own login or sender (configuration, fixable) are transient.
- **webhook** (`WebhookChannel`): a JSON POST to the city's gateway, which turns it into an
  SMS, a cell broadcast or a public notice. Headers: ``Idempotency-Key`` and
  ``X-Epicity-Signature: sha256=<hex HMAC-SHA256 of the body under the shared secret>``. The
  body is the same bytes on every retry. 2xx is success; 408, 429 and 5xx, timeouts and
  connection errors are transient (``Retry-After`` in seconds is honoured as the least delay);
  other 4xx and 3xx (redirects are not followed: configure the final URL) are permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import default as _default_policy
from email.utils import formatdate
from typing import Any, Literal, Protocol

from epicity.delivery.settings import SmtpSettings, WebhookSettings

__all__ = [
    "SIGNATURE_HEADER",
    "Channel",
    "Delivery",
    "EmailChannel",
    "Route",
    "SendError",
    "WebhookChannel",
    "sign",
    "webhook_body",
]

SIGNATURE_HEADER = "X-Epicity-Signature"
Route = Literal["email", "sms", "area_alert", "public_notice"]

# Lines up to RFC 5322's 998 characters, so the 64-hex-digit key headers are never folded.
_POLICY = _default_policy.clone(max_line_length=998)

_SUBJECTS = {
    "isolation_order": "Self-isolation order",
    "test_advice": "Please get tested for COVID-19",
    "area_alert": "Area alert",
    "public_notice": "Public notice",
    "test_result": "Your COVID-19 test result",
    "isolation_notice": "Your self-isolation",
    "relief_decision": "Your relief application",
}


@dataclass(frozen=True)
class Delivery:
    """One message to send: its key, kind, route, address (email/phone) and the warning."""

    idempotency_key: str
    kind: str
    route: Route
    payload: dict[str, Any]
    address: str | None = None  # email address (route email) or E.164 phone (route sms)

    @property
    def text(self) -> str:
        """The human-readable text of the warning."""
        p = self.payload
        return str(p.get("reason") or p.get("text") or "")

    @property
    def subject(self) -> str:
        """A short title for the kind of warning."""
        return _SUBJECTS.get(self.kind, "Health warning")


class SendError(Exception):
    """A send did not succeed; `permanent` when retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool, retry_after_s: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
        self.retry_after_s = retry_after_s


class Channel(Protocol):
    """Something that sends a `Delivery`: ``email`` or ``webhook``."""

    name: str

    def send(self, delivery: Delivery) -> None:
        """Send, or raise `SendError`."""


# -- email --------------------------------------------------------------------------------


class EmailChannel:
    """Email over SMTP: one message, one connection per recipient."""

    name = "email"

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._domain = settings.sender.rpartition("@")[2]

    def message(self, delivery: Delivery) -> EmailMessage:
        """The email for `delivery` (Message-ID from its idempotency key)."""
        if delivery.address is None:
            raise ValueError("address: an email needs a recipient address")
        msg = EmailMessage(policy=_POLICY)
        msg["From"] = self.settings.sender
        msg["To"] = delivery.address
        msg["Subject"] = delivery.subject
        msg["Date"] = formatdate(localtime=False, usegmt=True)
        msg["Message-ID"] = f"<{delivery.idempotency_key}@{self._domain}>"
        msg["X-Epicity-Idempotency-Key"] = delivery.idempotency_key
        msg.set_content(
            f"{delivery.text}\n\n"
            "This message comes from your city's public health authority.\n"
            f"Reference: {delivery.idempotency_key[:16]}\n"
        )
        return msg

    def send(self, delivery: Delivery) -> None:
        """Send the email; raise `SendError` (permanent on 5xx for the recipient or data)."""
        s = self.settings
        msg = self.message(delivery)
        try:
            with smtplib.SMTP(s.host, s.port, timeout=s.timeout_s) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username is not None and s.password is not None:
                    smtp.login(s.username, s.password)
                smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            code = codes[0] if codes else 0
            raise SendError(
                f"SMTP {code}: recipient refused", permanent=500 <= code < 600
            ) from None
        except (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused) as exc:
            # Our own login or sender: a configuration problem that can be fixed.
            raise SendError(
                f"SMTP {exc.smtp_code}: {type(exc).__name__}", permanent=False
            ) from None
        except smtplib.SMTPResponseException as exc:
            raise SendError(
                f"SMTP {exc.smtp_code}: {type(exc).__name__}",
                permanent=500 <= exc.smtp_code < 600,
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"SMTP: {type(exc).__name__}", permanent=False) from None


# -- webhook ------------------------------------------------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of `body`."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook_body(delivery: Delivery) -> bytes:
    """The JSON the gateway receives (the same bytes on every retry)."""
    p = delivery.payload
    to: dict[str, Any]
    if delivery.route == "sms":
        to = {"phone": delivery.address}
    elif delivery.route == "area_alert":
        to = {"tower_id": p.get("tower_id"), "district": p.get("district")}
    else:
        to = {"audience": "public"}
    body = {
        "idempotency_key": delivery.idempotency_key,
        "kind": delivery.kind,
        "route": delivery.route,
        "to": to,
        "subject": delivery.subject,
        "text": delivery.text,
        "warning": p,
    }
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a 3xx surfaces as an HTTPError


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP date: ignored, the backoff applies


class WebhookChannel:
    """A signed JSON POST to the city's gateway (SMS, cell broadcast, notice board)."""

    name = "webhook"

    def __init__(self, settings: WebhookSettings) -> None:
        self.settings = settings
        self._opener = urllib.request.build_opener(_NoRedirects())

    def send(self, delivery: Delivery) -> None:
        """POST the delivery; 2xx succeeds, otherwise raise `SendError`."""
        body = webhook_body(delivery)
        request = urllib.request.Request(
            self.settings.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Idempotency-Key": delivery.idempotency_key,
                SIGNATURE_HEADER: sign(self.settings.secret, body),
                "User-Agent": "epicity-delivery",
            },
        )
        try:
            with self._opener.open(request, timeout=self.settings.timeout_s) as response:
                status = int(response.status)
                response.read(1024)
        except urllib.error.HTTPError as exc:
            status = int(exc.code)
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            exc.close()
            transient = status in (408, 429) or status >= 500
            raise SendError(
                f"webhook: HTTP {status}", permanent=not transient, retry_after_s=retry_after
            ) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SendError(f"webhook: {type(reason).__name__}", permanent=False) from None
        if not 200 <= status < 300:
            raise SendError(f"webhook: HTTP {status}", permanent=not status >= 500)

"""The recipient directory: how to reach a pseudonymous person (personal data)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, CheckConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from epicity.db import Base

__all__ = ["EMAIL_MAX", "PHONE_MAX", "Recipient"]

EMAIL_MAX = 254  # RFC 5321's limit on a forward path
PHONE_MAX = 16  # E.164: '+' and at most 15 digits


class Recipient(Base):
    """Where to send a person's orders and advice: an email address and/or a phone number.

    ``person_id`` is the location store's pseudonymous id (the outbox's ``person:<id>``).
    """

    __tablename__ = "recipients"
    __table_args__ = (CheckConstraint("email IS NOT NULL OR phone IS NOT NULL", name="an_address"),)

    person_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    email: Mapped[str | None] = mapped_column(String(EMAIL_MAX))
    phone: Mapped[str | None] = mapped_column(String(PHONE_MAX))
    updated_at: Mapped[dt.datetime]

    def __repr__(self) -> str:  # no addresses: reprs end up in logs
        return f"Recipient(person_id={self.person_id!r})"

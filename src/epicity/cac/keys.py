"""Publishers' API keys: made, recognised and hashed (pure: no database).

A key is ``cac_`` followed by 32 random bytes (``secrets.token_bytes``) in URL-safe base64,
43 characters. Only its SHA-256 is stored, looked up by an index. A salted slow hash
(argon2, as for passwords) is not needed: it slows down guessing a low-entropy secret, but a
256-bit random key cannot be guessed whatever the hash costs, and a slow hash would cost
tens of milliseconds and megabytes of memory on every API request and, being salted, could
not be found by an index (each key would need an id sent beside it).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

__all__ = ["KEY_PREFIX", "NewKey", "hash_key", "looks_like_key", "new_key"]

KEY_PREFIX = "cac_"
_KEY_BYTES = 32
_SHOWN = 12  # characters kept in clear, so a person can tell keys apart
_KEY_RE = re.compile(r"^cac_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class NewKey:
    """A key just made: the secret (shown once), its first characters and its hash."""

    secret: str
    prefix: str
    digest: str


def hash_key(secret: str) -> str:
    """The SHA-256 of `secret`, as 64 hex digits (what the database stores)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def looks_like_key(secret: str) -> bool:
    """Whether `secret` has a key's shape (refused before any database work otherwise)."""
    return bool(_KEY_RE.fullmatch(secret))


def new_key() -> NewKey:
    """A new random key with its shown prefix and its hash."""
    secret = KEY_PREFIX + secrets.token_urlsafe(_KEY_BYTES)
    assert looks_like_key(secret)
    return NewKey(secret=secret, prefix=secret[:_SHOWN], digest=hash_key(secret))

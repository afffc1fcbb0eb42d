"""Attachments of countermeasures: what is accepted and how it is named (pure: no database).

A file is accepted when it is at most `MAX_ATTACHMENT_BYTES`, its name ends in one of the
allowed extensions, and its bytes are that kind of file: PDF (``%PDF-``), PNG (its 8-byte
signature), JPEG (``FF D8 FF``), or, for ``.txt`` and ``.csv``, UTF-8 text without NUL or
other control characters than tab, line feed, carriage return and form feed. The type stored
(and served back) is the one the bytes show, never the client's word for it; a declared type
that disagrees is refused. Nothing executable is accepted, and the files are served with
``X-Content-Type-Options: nosniff`` and a sandboxing Content-Security-Policy so a browser
cannot be talked into running them.

    >>> check_file("plan.pdf", b"%PDF-1.7 ...", declared="application/pdf").content_type
    'application/pdf'
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

from epicity.cac.library_errors import AttachmentTooLarge, AttachmentUnsupported, LibraryError

__all__ = [
    "EXTENSIONS",
    "MAX_ATTACHMENTS",
    "MAX_ATTACHMENT_BYTES",
    "CheckedFile",
    "check_file",
    "content_disposition",
    "safe_filename",
]

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024  # 5 MiB: a policy document or a poster, not a video
MAX_ATTACHMENTS = 10  # per countermeasure
FILENAME_MAX = 200

# Extension -> the type its bytes must show.
EXTENSIONS = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".txt": "text/plain",
    ".csv": "text/csv",
}
_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
)
# Declared types a client may send besides the exact one: "I don't know" and the
# common aliases.
_VAGUE = {"", "application/octet-stream", "binary/octet-stream"}
_ALIASES = {
    "image/jpg": "image/jpeg",
    "application/csv": "text/csv",
    "text/comma-separated-values": "text/csv",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class CheckedFile:
    """An accepted file: its safe name, sniffed type, size and SHA-256."""

    filename: str
    content_type: str
    size: int
    sha256: str


def safe_filename(name: str) -> str:
    """`name` without directories, control characters or quotes, NFC-normalised; refused
    (field ``filename``) when nothing is left or it is too long."""
    base = re.split(r"[\\/]", unicodedata.normalize("NFC", name))[-1]
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C" and c not in '"<>|*?:')
    base = base.strip().strip(".")
    if not base:
        raise LibraryError("filename", "give a file name, e.g. plan.pdf")
    if len(base) > FILENAME_MAX:
        raise LibraryError("filename", f"at most {FILENAME_MAX} characters")
    return base


def _sniff(data: bytes, extension_type: str) -> str | None:
    for signature, kind in _SIGNATURES:
        if data.startswith(signature):
            return kind
    if extension_type in ("text/plain", "text/csv"):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        return None if _CONTROL.search(text) else extension_type
    return None


def check_file(name: str, data: bytes, *, declared: str = "") -> CheckedFile:
    """`data` accepted as an attachment called `name`, or the reason it is refused."""
    if len(data) > MAX_ATTACHMENT_BYTES:
        limit = f"{MAX_ATTACHMENT_BYTES:,} bytes ({MAX_ATTACHMENT_BYTES // 2**20} MiB)"
        raise AttachmentTooLarge("file", f"{len(data):,} bytes; at most {limit}")
    if not data:
        raise LibraryError("file", "the file is empty")
    filename = safe_filename(name)
    extension = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    expected = EXTENSIONS.get(extension)
    if expected is None:
        allowed = ", ".join(sorted(EXTENSIONS))
        raise AttachmentUnsupported("filename", f"allowed extensions are {allowed}")
    found = _sniff(data, expected)
    if found != expected:
        what = found or "not a PDF, PNG, JPEG or UTF-8 text file"
        raise AttachmentUnsupported("file", f"the name says {expected} but the file is {what}")
    kind = declared.split(";")[0].strip().lower()
    kind = _ALIASES.get(kind, kind)
    if kind not in _VAGUE and kind != expected:
        raise AttachmentUnsupported("content-type", f"declared {kind} but the file is {expected}")
    return CheckedFile(filename, expected, len(data), hashlib.sha256(data).hexdigest())


def content_disposition(filename: str, *, inline: bool) -> str:
    """A ``Content-Disposition`` value for `filename`: an ASCII fallback and the UTF-8 name
    (RFC 6266 / RFC 5987), so Korean file names survive."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"

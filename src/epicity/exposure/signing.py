"""The export signing key: ECDSA over P-256 with SHA-256, as GAEN requires.

The private key lives in a PEM file (PKCS#8) named by ``EPICITY_EXPOSURE_SIGNING_KEY``, read
by the export job only; the web service serves the public halves it finds in the database
(``exposure_signing_keys``, written by the exports that used them), so it never needs the
private key. ``epicity exposure keygen --out PATH`` makes one, readable by its owner only
(mode 0600); a key file that others may read is refused, as ssh refuses one.

Without a configured key, exports are refused (`ExposureConfigError`): an ephemeral key would
sign files no phone has the public key of, and silently. The key id and version
(``EPICITY_EXPOSURE_SIGNING_KEY_ID``, default ``450``, Korea's mobile country code, which
iOS's first version of the framework required as the key id; ``..._VERSION``, default ``v1``)
go into every file's ``SignatureInfo``; rotating the key means a new version.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from epicity.exposure.errors import ExposureConfigError
from epicity.exposure.keyfile import SignatureInfo
from epicity.exposure.settings import ExposureSettings

__all__ = [
    "ECDSA_P256_SHA256",
    "Signer",
    "load_signer",
    "new_private_key",
    "private_key_pem",
    "public_key_pem",
    "write_new_key",
]

ECDSA_P256_SHA256 = "1.2.840.10045.4.3.2"  # the OID GAEN's SignatureInfo names
_MAX_PEM = 16 * 1024


@dataclass(frozen=True)
class Signer:
    """A private signing key with the `SignatureInfo` that names it in export files."""

    private_key: ec.EllipticCurvePrivateKey
    info: SignatureInfo

    @property
    def public_pem(self) -> str:
        """The public key, PEM (SubjectPublicKeyInfo), as clients and Google/Apple take it."""
        return public_key_pem(self.private_key.public_key())


def new_private_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """`key` as unencrypted PKCS#8 PEM."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(key: ec.EllipticCurvePublicKey) -> str:
    """`key` as SubjectPublicKeyInfo PEM text."""
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def write_new_key(path: Path, *, overwrite: bool = False) -> ec.EllipticCurvePrivateKey:
    """Write a new P-256 key to `path` as PEM, created with mode 0600 (never readable by
    others, not even for a moment); an existing file is refused unless `overwrite`."""
    key = new_private_key()
    data = private_key_pem(key)
    if path.exists() and not overwrite:
        raise ExposureConfigError(f"--out: {path} exists; choose another path")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)  # in case the umask was stricter than needed: exactly 0600
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return key


def load_signer(settings: ExposureSettings | None = None) -> Signer:
    """The configured signing key, or `ExposureConfigError` saying what is wrong: no
    ``EPICITY_EXPOSURE_SIGNING_KEY``, a missing or unreadable file, a file others may read,
    not a PEM private key, not P-256."""
    config = settings if settings is not None else ExposureSettings.from_env()
    path = config.signing_key_path
    name = "EPICITY_EXPOSURE_SIGNING_KEY"
    if path is None:
        raise ExposureConfigError(
            f"{name} is not set: exports must be signed with the key whose public half "
            "the apps know; make one with `epicity exposure keygen --out PATH` and set "
            f"{name}=PATH"
        )
    try:
        info = path.stat()
    except OSError as err:
        raise ExposureConfigError(f"{name}: cannot read {path}: {err.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ExposureConfigError(f"{name}: {path} is not a file")
    if info.st_mode & 0o077:
        raise ExposureConfigError(
            f"{name}: {path} may be read by others (mode {stat.S_IMODE(info.st_mode):04o}); "
            f"chmod 600 {path}"
        )
    if info.st_size > _MAX_PEM:
        raise ExposureConfigError(f"{name}: {path} is too large for a PEM key")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as err:
        raise ExposureConfigError(
            f"{name}: {path} is not an unencrypted PEM private key ({err})"
        ) from None
    except OSError as err:
        raise ExposureConfigError(f"{name}: cannot read {path}: {err.strerror}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ExposureConfigError(f"{name}: {path} is not an ECDSA P-256 key")
    return Signer(
        key,
        SignatureInfo(
            verification_key_version=config.signing_key_version,
            verification_key_id=config.signing_key_id,
            signature_algorithm=ECDSA_P256_SHA256,
        ),
    )

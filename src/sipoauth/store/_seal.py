"""Private keys at rest: sealed under the cluster secret (issue 8 point 4).

Every node of a cluster reads its keys and certificates from the shared
database. The private keys among them (authz signing and encryption keys,
the activation-code secret, the cluster CA key, each node's web key) are kept
there *sealed*: AES-256-GCM under a key derived from the cluster secret with
HKDF-SHA256, a fresh 96-bit nonce per value, and the row's name as
associated data, so a sealed value copied to another row does not open.
A database dump or backup without the secret exposes no private key.

The secret is 32 random bytes, written once, as one base64url line, to
``<data-dir>/cluster.secret`` (0600) by the first node initialised on the
database; every other node is given a copy at ``init``. The database keeps
only a check value (another HKDF output), so a wrong secret is refused by
name at start rather than failing later on the first key.

Sealed text: ``sealed:v1:`` + base64url(nonce ‖ ciphertext ‖ tag), no padding.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
import tempfile
from pathlib import Path
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._errors import StoreError

__all__ = [
    "SEALED_PREFIX",
    "SECRET_BYTES",
    "SECRET_CHECK_SETTING",
    "SECRET_FILE",
    "SealSlot",
    "Sealer",
    "SecretRequired",
    "WrongSecret",
    "is_sealed",
    "new_secret",
    "parse_secret",
    "read_secret_file",
    "secret_text",
    "set_aside",
    "write_secret_file",
]

SECRET_BYTES: Final = 32
"""Length of a cluster secret (256 bits)."""
SECRET_FILE: Final = "cluster.secret"  # noqa: S105 (a file name)
"""Its file in a data directory."""
SECRET_CHECK_SETTING: Final = "cluster.secret_check"  # noqa: S105 (a setting name)
"""The setting holding the secret's check value."""
SEALED_PREFIX: Final = "sealed:v1:"
_NONCE_BYTES: Final = 12
_SEAL_INFO: Final = b"sipoauth cluster seal v1"
_CHECK_INFO: Final = b"sipoauth cluster secret check v1"


class SecretRequired(StoreError):
    """A sealed value was needed, and the store was opened without the secret."""


class WrongSecret(StoreError):
    """The cluster secret given is not the one the database was sealed with,
    or a sealed value was altered."""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def is_sealed(text: str) -> bool:
    """Whether ``text`` is a sealed value (rather than plain, from before sealing)."""
    return text.startswith(SEALED_PREFIX)


def new_secret() -> bytes:
    """A new cluster secret."""
    return secrets.token_bytes(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """A cluster secret as its file holds it (base64url, no padding)."""
    return base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii")


def parse_secret(text: str, *, source: str) -> bytes:
    """The secret's bytes from its text; ValueError naming ``source`` otherwise."""
    value = text.strip()
    try:
        secret = _b64decode(value)
    except (binascii.Error, ValueError):
        secret = b""
    if len(secret) != SECRET_BYTES or not value.isascii():
        raise ValueError(
            f"{source} does not hold a cluster secret (one line of {SECRET_BYTES} "
            "bytes in base64url, as sipoauth init writes it)"
        )
    return secret


def read_secret_file(path: Path) -> bytes:
    """Read a cluster secret file (ValueError with the path when unusable)."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except UnicodeDecodeError:  # its text stays out of the message: it may be the secret
        raise ValueError(f"{path} does not hold a cluster secret (not ASCII text)") from None
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the cluster secret ({exc.strerror})") from None
    return parse_secret(text, source=str(path))


def write_secret_file(path: Path, secret: bytes) -> None:
    """Write ``secret`` (one base64url line) to ``path``, mode 0600, durably
    (file and directory fsynced); never replaces an existing file
    (FileExistsError)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as file:
            file.write(secret_text(secret) + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.link(tmp, path)  # fails when path exists: never overwrite a secret
    finally:
        os.unlink(tmp)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def set_aside(path: Path, suffix: str) -> Path:
    """Rename ``path`` to ``<path><suffix>`` (``…<suffix>.2``, ``.3``… when taken),
    never replacing a file; the new path."""
    target = path.with_name(path.name + suffix)
    n = 1
    while True:
        try:
            os.link(path, target)
        except FileExistsError:
            n += 1
            target = path.with_name(f"{path.name}{suffix}.{n}")
            continue
        os.unlink(path)
        return target


class Sealer:
    """Seals and opens values under one cluster secret."""

    __slots__ = ("_aead", "_check")

    def __init__(self, secret: bytes) -> None:
        if len(secret) != SECRET_BYTES:
            raise ValueError(f"a cluster secret has {SECRET_BYTES} bytes")
        self._aead = AESGCM(_derive(secret, _SEAL_INFO))
        self._check = _derive(secret, _CHECK_INFO).hex()

    def __repr__(self) -> str:
        return "Sealer(<secret>)"

    @property
    def check(self) -> str:
        """The check value the database keeps (reveals nothing of the secret)."""
        return self._check

    def matches(self, check: str) -> bool:
        """Whether ``check`` is this secret's check value."""
        return hmac.compare_digest(self._check, check)

    def seal(self, plaintext: str, *, name: str) -> str:
        """``plaintext`` sealed, bound to the row ``name``."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), name.encode("utf-8"))
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def open(self, text: str, *, name: str) -> str:
        """The plaintext of a sealed value of row ``name`` (WrongSecret if it
        does not open: another secret, another row, or altered)."""
        try:
            data = _b64decode(text.removeprefix(SEALED_PREFIX))
            plain = self._aead.decrypt(data[:_NONCE_BYTES], data[_NONCE_BYTES:], name.encode())
        except (binascii.Error, ValueError, InvalidTag):
            raise WrongSecret(
                f"{name}: the sealed value does not open with this cluster secret"
            ) from None
        return plain.decode("utf-8")


class SealSlot:
    """The store's sealer, if it was given the secret (one per store, shared by
    its repositories; set by :meth:`Store.unlock`)."""

    __slots__ = ("sealer",)

    def __init__(self) -> None:
        self.sealer: Sealer | None = None

    def open(self, text: str, *, name: str) -> str:
        """The plaintext of a stored value: opened if sealed, as is if plain."""
        if not is_sealed(text):
            return text
        if self.sealer is None:
            raise SecretRequired(
                f"{name} is sealed: this needs the cluster secret, a copy of "
                f"{SECRET_FILE} from a node's data directory in this --data-dir"
            )
        return self.sealer.open(text, name=name)

"""Opaque secrets of the authorization server and how they are stored.

Refresh tokens and authorization codes are 256 random bits: a plain SHA-256
is enough to store them (nothing to brute-force). Activation codes have only
16 decimal digits (~2^53): a stolen table of plain SHA-256 hashes could be
searched offline, so they are stored as HMAC-SHA256 under a cluster secret
kept in the keys table (purpose ``activation-code``), never beside the codes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Final

__all__ = [
    "ACTIVATION_CODE_DIGITS",
    "hash_activation_code",
    "hash_secret",
    "new_activation_code",
    "new_secret",
    "normalise_activation_code",
]

ACTIVATION_CODE_DIGITS: Final = 16
"""Length of an activation code (reference: 16 digits)."""
_SECRET_BYTES: Final = 32
_CODE_SEPARATORS: Final = str.maketrans("", "", " -")


def new_secret() -> str:
    """256 random bits, base64url: a refresh token or an authorization code."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def hash_secret(value: str) -> str:
    """SHA-256 (hex) of a high-entropy secret: what the database keeps."""
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def new_activation_code() -> str:
    """16 digits from the operating system's CSPRNG, leading zeros kept."""
    return f"{secrets.randbelow(10**ACTIVATION_CODE_DIGITS):0{ACTIVATION_CODE_DIGITS}d}"


def normalise_activation_code(text: str) -> str | None:
    """The 16 digits of a code as typed (spaces and dashes ignored), or None."""
    digits = text.translate(_CODE_SEPARATORS)
    if len(digits) != ACTIVATION_CODE_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    return digits


def hash_activation_code(key: bytes, code: str) -> str:
    """HMAC-SHA256 (hex) of a normalised activation code under the cluster secret."""
    return hmac.new(key, code.encode("ascii"), hashlib.sha256).hexdigest()

"""Hand-built JOSE objects for the token tests.

Built with ``cryptography`` directly (not joserfc, not the code under test) so
that a test can produce exactly the malformed or malicious token it needs:
re-encrypted forgeries, ``alg: none``, HS256 with a public key as secret, odd
JWE headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sipoauth.oauth import EncryptionKey

ISSUER = "https://cucm-pub.example.com:8443"
AUDIENCE = "https://cucm-pub.example.com:8443/sip"
NOW = 1_700_000_000.0
LIFETIME = 3600

#: ``mint(keys=None, **overrides)`` fixture type (see conftest.py).
MintFn = Callable[..., str]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims(**changes: Any) -> dict[str, Any]:
    """Valid claims at NOW; a value of ``...`` removes the claim."""
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "jdoe",
        "client_id": "CSFJDOE",
        "iat": int(NOW),
        "exp": int(NOW) + LIFETIME,
        "jti": "cHJlZGljdGFibGUtanRp",
        "scope": "sip:register config:read",
        "sid": "grant-1",
    }
    for name, value in changes.items():
        if value is ...:
            base.pop(name, None)
        else:
            base[name] = value
    return base


def jws(header: dict[str, Any], payload: dict[str, Any] | bytes, key: Any) -> bytes:
    """A compact JWS signed per ``header['alg']`` with ``key`` (RFC 7515 §7.1).

    ``key`` is an RSA/EC private key, raw bytes for HS256, or None for ``none``.
    """
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(body)}".encode()
    alg = header.get("alg")
    if alg == "none":
        signature = b""
    elif alg == "HS256":
        signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    elif isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:  # pragma: no cover
        raise AssertionError(alg)
    return signing_input + b"." + b64url(signature).encode()


def jwe(
    plaintext: bytes,
    key: EncryptionKey | bytes,
    *,
    header: dict[str, Any] | None = None,
    encrypted_key: bytes = b"",
    iv: bytes = b"\x01" * 12,
) -> str:
    """A compact ``dir``/A256GCM JWE of ``plaintext`` (RFC 7516 §7.1).

    ``header`` defaults to the product's header with the key's kid; the
    encryption itself always uses A256GCM with the header segment as AAD.
    """
    secret = key.to_bytes() if isinstance(key, EncryptionKey) else key
    if header is None:
        assert isinstance(key, EncryptionKey)
        header = {"alg": "dir", "enc": "A256GCM", "cty": "JWT", "kid": key.kid}
    header_segment = b64url(json.dumps(header).encode())
    sealed = AESGCM(secret).encrypt(iv, plaintext, header_segment.encode())
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return ".".join(
        [header_segment, b64url(encrypted_key), b64url(iv), b64url(ciphertext), b64url(tag)]
    )


def open_jwe(token: str, key: EncryptionKey) -> bytes:
    """Decrypt a token (to tamper with its inner JWS)."""
    header, _, iv, ciphertext, tag = token.split(".")
    return AESGCM(key.to_bytes()).decrypt(
        unb64url(iv), unb64url(ciphertext) + unb64url(tag), header.encode()
    )

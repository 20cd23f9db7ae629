"""Authz keys: identifiers (RFC 7638 thumbprints), hashes shown to operators, rings."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from sipoauth.oauth import EncryptionKey, InvalidKey, KeyRing, OAuthError, SigningKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rfc7638(members: dict[str, str]) -> str:
    """RFC 7638 §3: SHA-256 of the required members, sorted, no whitespace."""
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode()).digest())


def test_rfc7638_example_vector() -> None:
    """Our reference function reproduces RFC 7638 §3.1 (so the checks below mean something)."""
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2Qvz"
        "qY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZ"
        "u0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    assert (
        rfc7638({"e": "AQAB", "kty": "RSA", "n": n})
        == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    )


def test_signing_kid_is_rfc7638_thumbprint_and_stable(signing_key: SigningKey) -> None:
    jwk = signing_key.public_jwk()
    assert signing_key.kid == rfc7638({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]})
    again = SigningKey.from_pem(signing_key.to_pem())
    assert SigningKey.from_pem(signing_key.to_pem().decode()) == again  # str, as stored
    assert again.kid == signing_key.kid
    assert again == signing_key
    assert again.key_hash() == signing_key.key_hash()


def test_signing_public_jwk_and_hash(signing_key: SigningKey) -> None:
    jwk = signing_key.public_jwk()
    assert jwk["kty"] == "RSA"
    assert jwk["use"] == "sig"
    assert jwk["alg"] == "RS256"
    assert jwk["kid"] == signing_key.kid
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(jwk)
    spki = signing_key.public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert signing_key.key_hash() == hashlib.sha256(spki).hexdigest()
    assert "PRIVATE" not in repr(signing_key)
    assert signing_key.private_key.key_size == 2048


def test_es256_signing_key() -> None:
    key = SigningKey.generate("ES256")
    jwk = key.public_jwk()
    assert jwk["kty"] == "EC" and jwk["crv"] == "P-256" and jwk["alg"] == "ES256"
    assert key.kid == rfc7638({"crv": "P-256", "kty": "EC", "x": jwk["x"], "y": jwk["y"]})
    assert SigningKey.from_pem(key.to_pem()).algorithm == "ES256"


def test_signing_key_rejects_weak_or_wrong_keys() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(InvalidKey, match="2048"):
        SigningKey(weak)
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(InvalidKey):
        SigningKey(p384, "ES256")
    with pytest.raises(InvalidKey):
        SigningKey.from_pem(
            p384.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    with pytest.raises(InvalidKey) as info:
        SigningKey.from_pem(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    assert isinstance(info.value, OAuthError)
    assert info.value.error == "server_error"


def test_encryption_key_identifiers() -> None:
    secret = bytes(range(32))
    key = EncryptionKey.generate(lambda n: secret[:n])
    assert key.to_bytes() == secret
    assert key.kid == rfc7638({"k": b64url(secret), "kty": "oct"})
    assert EncryptionKey.from_base64(key.to_base64()) == key
    assert EncryptionKey.from_base64(key.to_base64().encode()) == key
    assert EncryptionKey.from_bytes(secret).kid == key.kid


def test_encryption_key_hash_does_not_reveal_key() -> None:
    secret = bytes(range(32))
    key = EncryptionKey.from_bytes(secret)
    shown = key.key_hash()
    assert shown == hmac.new(secret, b"sipoauth key hash", hashlib.sha256).hexdigest()
    assert shown != hashlib.sha256(secret).hexdigest()
    for form in (secret.hex(), b64url(secret), base64.b64encode(secret).decode()):
        assert form not in shown
        assert form not in repr(key)
    assert shown != key.kid
    assert EncryptionKey.from_bytes(bytes(32)).key_hash() != shown


def test_encryption_key_rejects_bad_material() -> None:
    with pytest.raises(InvalidKey, match="32 bytes"):
        EncryptionKey.from_bytes(b"short")
    with pytest.raises(InvalidKey):
        EncryptionKey.from_base64("!!not base64!!")
    with pytest.raises(InvalidKey):
        EncryptionKey.from_base64("é")


def test_key_ring(signing_key: SigningKey) -> None:
    enc_a, enc_b = EncryptionKey.generate(), EncryptionKey.generate()
    other = SigningKey.generate("ES256")
    ring = KeyRing([signing_key, other], (enc_a, enc_b))
    assert ring.current_signing is signing_key
    assert ring.current_encryption is enc_a
    assert ring.signing_key(other.kid) is other
    assert ring.encryption_key(enc_b.kid) is enc_b
    assert ring.signing_key("nope") is None
    assert ring.encryption_key(signing_key.kid) is None
    assert [k["kid"] for k in ring.jwks()["keys"]] == [signing_key.kid, other.kid]
    assert isinstance(ring.signing, tuple)
    with pytest.raises(InvalidKey):
        KeyRing([], [enc_a])
    with pytest.raises(InvalidKey):
        KeyRing([signing_key], [enc_a, EncryptionKey.from_bytes(enc_a.to_bytes())])

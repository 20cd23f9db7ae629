"""Access-token costs: cold verify, cache hit, mint; RS256 against ES256.

    .venv/bin/python bench/tokens.py [--quick]

Each figure is the best of several runs (the least disturbed by other load),
printed as µs per operation and operations per second. For reference it also
times the same verification done entirely through joserfc, and the two raw
cryptographic operations, which is the measurement behind the choice in
``sipoauth/oauth/_tokens.py``.
"""

from __future__ import annotations

import argparse
import json
import timeit
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwe, jws

from sipoauth.oauth import (
    AccessTokenVerifier,
    EncryptionKey,
    KeyRing,
    SigningKey,
    mint_access_token,
)

ISSUER = "https://cucm-pub.example.com:8443"
AUDIENCE = "https://cucm-pub.example.com:8443/sip"
NOW = 1_700_000_000.0


def best_us(fn: Callable[[], object], number: int, repeat: int) -> float:
    """Best-of-``repeat`` time of one call, in µs."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def line(label: str, us: float) -> None:
    print(f"  {label:<46} {us:9.2f} µs   {1e6 / us:>12,.0f} /s")


def mint(keys: KeyRing) -> str:
    return mint_access_token(
        keys,
        issuer=ISSUER,
        audience=AUDIENCE,
        subject="jdoe",
        client_id="CSFJDOE",
        scope="sip:register config:read",
        sid="3f0b1c7e-1d5e-4f59-9a8f-0c5b3c1a2d44",
        now=NOW,
        lifetime=3600,
    )


def run(algorithm: str, number: int, repeat: int) -> None:
    keys = KeyRing([SigningKey.generate(algorithm)], [EncryptionKey.generate()])  # type: ignore[arg-type]
    token = mint(keys)
    cold = AccessTokenVerifier(
        keys, issuer=ISSUER, audience=AUDIENCE, algorithm=algorithm, cache_size=0
    )
    warm = AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE, algorithm=algorithm)
    warm.verify(token, NOW + 1)
    print(f"{algorithm} (token {len(token)} characters)")
    line(
        "cold verify (decrypt + signature + claims)",
        best_us(lambda: cold.verify(token, NOW + 1), number, repeat),
    )
    line("cache hit", best_us(lambda: warm.verify(token, NOW + 1), number * 50, repeat))
    line("mint (sign + encrypt)", best_us(lambda: mint(keys), max(number // 4, 10), repeat))

    jwe_registry = jwe.JWERegistry(algorithms=["dir", "A256GCM"])
    jws_registry = jws.JWSRegistry(algorithms=[algorithm])
    enc_key = keys.current_encryption.jose_key
    sig_key = keys.current_signing.jose_key

    def through_joserfc() -> object:
        outer = jwe.decrypt_compact(token, enc_key, registry=jwe_registry)
        assert outer.plaintext is not None
        inner = jws.deserialize_compact(outer.plaintext, sig_key, registry=jws_registry)
        return json.loads(inner.payload)

    line("  reference: joserfc decrypt+verify, no claims", best_us(through_joserfc, number, repeat))


def raw_crypto(number: int, repeat: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key()
    data = b"x" * 700
    signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    enc = EncryptionKey.generate()
    iv, aad = b"\0" * 12, b"h" * 80
    sealed = AESGCM(enc.to_bytes()).encrypt(iv, b"p" * 800, aad)
    print("raw operations")
    line(
        "RSA-2048 PKCS1v15 SHA-256 verify",
        best_us(
            lambda: public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256()),
            number,
            repeat,
        ),
    )
    line(
        "AES-256-GCM open, 800 bytes", best_us(lambda: enc.decrypt(iv, sealed, aad), number, repeat)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    number, repeat = (200, 3) if args.quick else (2000, 7)
    run("RS256", number, repeat)
    run("ES256", number, repeat)
    raw_crypto(number, repeat)


if __name__ == "__main__":
    main()

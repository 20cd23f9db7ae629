"""`set key regen authz …` / `show key authz …` (issue 3 point 8, REFERENCE-BEHAVIOUR "Tokens").

Regenerating a key (publisher only) replaces the active key, deletes every
refresh token and tells every node to reload its ring, so every token made
before stops working; the hash `show` prints is the same from any Store.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import get_args

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sipoauth import admin
from sipoauth.node import load_keyring
from sipoauth.oauth import (
    AccessTokenVerifier,
    EncryptionKey,
    InvalidToken,
    KeyRing,
    SigningKey,
    mint_access_token,
)
from sipoauth.store import Node, RefreshToken, Store

ISSUER = "https://cucm-pub.example.com:8443"
AUDIENCE = "urn:sipoauth:cluster:test"
PUBLISHER = "cucm-pub"
SUBSCRIBER = "cucm-sub1"
KINDS = get_args(admin.KeyKind)


async def _cluster(store: Store) -> None:
    """A publisher, a subscriber and the authz keys, as `sipoauth init` leaves them."""
    await store.nodes.upsert(Node(name=PUBLISHER, host="cucm-pub.example.com"))
    await store.nodes.upsert(Node(name=SUBSCRIBER, host="cucm-sub1.example.com", role="subscriber"))
    for kind in KINDS:
        await store.keys.add(admin.new_authz_key(kind))


async def _refresh_tokens(store: Store, count: int) -> None:
    await store.grants.create("sid-1", "jdoe", "CSFJDOE")
    expires = datetime.now(UTC) + timedelta(days=1)
    for i in range(count):
        await store.refresh_tokens.add(
            RefreshToken(
                token_hash=hashlib.sha256(f"rt-{i}".encode()).hexdigest(),
                sid="sid-1",
                client_id="CSFJDOE",
                subject="jdoe",
                scope="sip:register",
                expires_at=expires,
            )
        )


async def _live_refresh_tokens(store: Store) -> int:
    return await store.refresh_tokens.count_live(datetime.now(UTC))


def _mint(ring: KeyRing) -> str:
    return mint_access_token(
        ring,
        issuer=ISSUER,
        audience=AUDIENCE,
        subject="jdoe",
        client_id="CSFJDOE",
        scope="sip:register",
        sid="sid-1",
        now=datetime.now(UTC).timestamp(),
        lifetime=3600,
    )


def test_new_keys_are_what_init_makes() -> None:
    """DESIGN "Tokens": RSA 2048 / RS256 signing key, 256-bit dir+A256GCM encryption key."""
    signing = admin.new_authz_key("signing")
    assert (signing.purpose, signing.alg) == ("authz-signing", "RS256")
    key = SigningKey.from_pem(signing.material)
    assert isinstance(key.private_key, rsa.RSAPrivateKey)
    assert key.private_key.key_size == 2048 and key.kid == signing.kid
    encryption = admin.new_authz_key("encryption")
    assert (encryption.purpose, encryption.alg) == ("authz-encryption", "dir+A256GCM")
    assert len(EncryptionKey.from_base64(encryption.material).to_bytes()) == 32
    assert admin.new_authz_key("encryption").material != encryption.material


async def test_show_key_hashes_and_never_reveals_the_key(store: Store) -> None:
    """`show key authz signing` hashes the public key's DER SubjectPublicKeyInfo; the
    encryption key's hash is derived from it with the key's own `key_hash`; neither
    shows key material."""
    await _cluster(store)
    [signing] = await store.keys.active("authz-signing")
    [encryption] = await store.keys.active("authz-encryption")

    info = await admin.show_authz_key(store, "signing")
    public = SigningKey.from_pem(signing.material).public_key
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert info.hash == hashlib.sha256(spki).hexdigest()
    assert (info.purpose, info.kid, info.algorithm) == ("authz-signing", signing.kid, "RS256")
    assert info.created_at == signing.created_at

    info = await admin.show_authz_key(store, "encryption")
    secret = EncryptionKey.from_base64(encryption.material)
    assert info.hash == secret.key_hash()
    assert len(info.hash) == 64 and int(info.hash, 16) >= 0
    assert (info.purpose, info.kid, info.algorithm) == (
        "authz-encryption",
        encryption.kid,
        "dir+A256GCM",
    )
    shown = repr(info)
    assert encryption.material not in shown and secret.to_bytes().hex() not in shown


async def test_show_key_without_keys(store: Store) -> None:
    with pytest.raises(admin.NotFound, match="run `sipoauth init`"):
        await admin.show_authz_key(store, "signing")


@pytest.mark.parametrize("which", KINDS)
async def test_regenerate_replaces_the_key(
    store: Store, migrated_db_url: str, which: admin.KeyKind
) -> None:
    """A new kid and hash; the old key is kept but inactive; the other key is untouched;
    the hash is the same computed twice and from another Store on the same database
    (what another node would print)."""
    await _cluster(store)
    purpose = "authz-" + which
    before = await admin.show_authz_key(store, which)
    other = "encryption" if which == "signing" else "signing"
    other_before = await admin.show_authz_key(store, other)

    after = await admin.regenerate_authz_key(store, which, node_name=PUBLISHER)

    assert after.kid != before.kid and after.hash != before.hash
    assert await admin.show_authz_key(store, which) == after
    assert await admin.show_authz_key(store, which) == after
    assert [k.kid for k in await store.keys.active(purpose)] == [after.kid]  # type: ignore[arg-type]
    old = await store.keys.get(before.kid)
    assert old is not None and not old.active
    assert await admin.show_authz_key(store, other) == other_before
    second = await Store.open(migrated_db_url)
    try:
        assert await admin.show_authz_key(second, which) == after
    finally:
        await second.close()


@pytest.mark.parametrize("which", KINDS)
async def test_regenerate_invalidates_every_token(store: Store, which: admin.KeyKind) -> None:
    """Reference: "Regenerating a key invalidates every token". An access token minted
    with the old keys fails a verifier built from the reloaded ring; every refresh
    token is deleted; a token minted with the new ring verifies."""
    await _cluster(store)
    await _refresh_tokens(store, 3)
    old_token = _mint(await load_keyring(store))
    assert await _live_refresh_tokens(store) == 3

    await admin.regenerate_authz_key(store, which, node_name=PUBLISHER)

    ring = await load_keyring(store)
    assert len(ring.signing) == 1 and len(ring.encryption) == 1
    verifier = AccessTokenVerifier(ring, issuer=ISSUER, audience=AUDIENCE)
    now = datetime.now(UTC).timestamp()
    with pytest.raises(InvalidToken):
        verifier.verify(old_token, now)
    assert verifier.verify(_mint(ring), now).subject == "jdoe"
    assert await _live_refresh_tokens(store) == 0


async def test_regenerate_announces_the_change(store: Store) -> None:
    """Every node reloads its key ring on the `config` notification (no restart)."""
    await _cluster(store)
    async with store.listen("config") as changes:
        await admin.regenerate_authz_key(store, "encryption", node_name=PUBLISHER)
        payload = await asyncio.wait_for(anext(changes), timeout=10)
    assert payload == "authz keys"


@pytest.mark.parametrize("which", KINDS)
async def test_regenerate_refused_on_a_subscriber(store: Store, which: admin.KeyKind) -> None:
    """Publisher only, like `utils sipOAuth-mode`: nothing changes on a subscriber."""
    await _cluster(store)
    await _refresh_tokens(store, 2)
    before = await admin.show_authz_key(store, which)
    with pytest.raises(admin.NotPublisher) as refused:
        await admin.regenerate_authz_key(store, which, node_name=SUBSCRIBER)
    assert refused.value.message == (
        f"set key regen authz {which} can only be run on the publisher; "
        f"{SUBSCRIBER} is a subscriber"
    )
    assert refused.value.status == 403
    assert await admin.show_authz_key(store, which) == before
    assert len(await store.keys.list()) == 2
    assert await _live_refresh_tokens(store) == 2


async def test_regenerate_on_an_unknown_node(store: Store) -> None:
    await _cluster(store)
    with pytest.raises(admin.NotFound, match="'nowhere' is not configured"):
        await admin.regenerate_authz_key(store, "signing", node_name="nowhere")

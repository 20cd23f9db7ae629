"""Private keys at rest are sealed under the cluster secret (issue 8 point 4).

What the database holds for a key or a certificate's private key is
AES-256-GCM under the cluster secret, bound to its row; a store without the
secret cannot read it, nor write a plain one into a database that has one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from sipoauth.store import (
    CA_IDENTITY,
    SECRET_FILE,
    Identity,
    Key,
    SecretRequired,
    Store,
    WrongSecret,
    new_secret,
    read_secret_file,
    web_identity,
    write_secret_file,
)
from sipoauth.store._seal import Sealer, parse_secret, secret_text

PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49\n-----END PRIVATE KEY-----\n"


def _key(kid: str, material: str = PEM) -> Key:
    return Key(kid=kid, purpose="authz-signing", alg="RS256", material=material)


async def _raw(store: Store, query: str) -> list[str]:
    async with store.engine.connect() as connection:
        return [row[0] for row in await connection.execute(text(query))]


def test_a_sealed_value_opens_only_with_its_secret_and_row() -> None:
    secret = new_secret()
    sealer = Sealer(secret)
    sealed = sealer.seal("private", name="key k1")
    assert sealed.startswith("sealed:v1:") and "private" not in sealed
    assert sealer.open(sealed, name="key k1") == "private"
    assert Sealer(secret).open(sealed, name="key k1") == "private"
    with pytest.raises(WrongSecret):
        sealer.open(sealed, name="key k2")  # moved to another row
    with pytest.raises(WrongSecret):
        Sealer(new_secret()).open(sealed, name="key k1")
    tampered = sealed[:-2] + ("AA" if not sealed.endswith("AA") else "BB")
    with pytest.raises(WrongSecret):
        sealer.open(tampered, name="key k1")
    assert sealer.seal("private", name="key k1") != sealed  # a fresh nonce each time
    assert "secret" not in repr(sealer).replace("<secret>", "")


def test_the_secret_file_is_one_line_owner_only_and_never_replaced(tmp_path: Path) -> None:
    secret = new_secret()
    path = tmp_path / SECRET_FILE
    write_secret_file(path, secret)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text() == secret_text(secret) + "\n"
    assert read_secret_file(path) == secret
    with pytest.raises(FileExistsError):
        write_secret_file(path, new_secret())
    assert read_secret_file(path) == secret


@pytest.mark.parametrize("content", ["", "short", "!" * 43, secret_text(b"\x01" * 16)])
def test_a_file_without_a_secret_is_refused_by_name(tmp_path: Path, content: str) -> None:
    path = tmp_path / "given.secret"
    path.write_text(content)
    with pytest.raises(ValueError, match=r"given\.secret does not hold a cluster secret"):
        read_secret_file(path)


def test_a_binary_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = tmp_path / "given.secret"
    path.write_bytes(b"\xff\xfe" + b"s3cr3t" * 8)
    with pytest.raises(ValueError, match="not ASCII text") as refused:
        read_secret_file(path)
    assert "s3cr3t" not in str(refused.value) and "0xff" not in str(refused.value)


def test_a_missing_secret_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        read_secret_file(tmp_path / "nowhere")
    assert parse_secret(secret_text(b"\x02" * 32) + "\n", source="x") == b"\x02" * 32


async def test_keys_are_stored_sealed_and_read_back_plain(store: Store) -> None:
    assert await store.unlock(new_secret()) is False  # only init makes the check
    assert not store.unlocked
    assert await store.unlock(new_secret(), create=True) is True
    await store.keys.add(_key("k1"))
    stored = await _raw(store, "SELECT material FROM keys WHERE kid = 'k1'")
    assert stored[0].startswith("sealed:v1:") and "PRIVATE KEY" not in stored[0]
    record = await store.keys.get("k1")
    assert record is not None and record.material == PEM
    rotated = await store.keys.replace("authz-signing", _key("k2", PEM + "2"))
    assert rotated.material == PEM + "2"
    assert [k.material for k in await store.keys.active("authz-signing")] == [PEM + "2"]


async def test_a_store_without_the_secret_cannot_read_or_write_private_keys(
    store: Store, migrated_db_url: str
) -> None:
    secret = new_secret()
    await store.unlock(secret, create=True)
    await store.keys.add(_key("k1"))
    await store.identities.add(Identity(name=CA_IDENTITY, chain_pem="CERT", key_pem=PEM))
    other = await Store.open(migrated_db_url)
    try:
        assert await other.has_secret()
        with pytest.raises(SecretRequired, match="key k1 is sealed"):
            await other.keys.get("k1")
        with pytest.raises(SecretRequired, match="must be sealed"):
            await other.keys.add(_key("k3"))
        with pytest.raises(SecretRequired):
            await other.identities.get(CA_IDENTITY)
        # What needs no key still works: the certificate itself is public.
        public = await other.identities.get(CA_IDENTITY, with_key=False)
        assert public is not None and public.chain_pem == "CERT" and public.key_pem is None
        with pytest.raises(WrongSecret, match="does not open the database"):
            await other.unlock(new_secret())
        assert not other.unlocked
        assert await other.unlock(secret) is False  # the check was there already
        record = await other.keys.get("k1")
        assert record is not None and record.material == PEM
    finally:
        await other.close()
    assert await _raw(store, "SELECT kid FROM keys") == ["k1"]


async def test_plain_keys_from_before_the_secret_are_sealed_once_it_is_known(
    store: Store,
) -> None:
    await store.keys.add(_key("old"))  # a database that never had a secret
    await store.identities.add(Identity(name=web_identity("n1"), chain_pem="C", key_pem=PEM))
    assert (await _raw(store, "SELECT material FROM keys"))[0] == PEM
    await store.unlock(new_secret(), create=True)
    assert await store.keys.seal_plain() == 1
    assert await store.identities.seal_plain() == 1
    assert await store.keys.seal_plain() == 0
    for value in [
        *await _raw(store, "SELECT material FROM keys"),
        *await _raw(store, "SELECT key_pem FROM pki_identities"),
    ]:
        assert value.startswith("sealed:v1:")
    record = await store.keys.get("old")
    assert record is not None and record.material == PEM
    identity = await store.identities.get(web_identity("n1"))
    assert identity is not None and identity.key_pem == PEM


async def test_identities_put_replaces_and_add_refuses_a_second(store: Store) -> None:
    from sipoauth.store import AlreadyExists

    await store.unlock(new_secret(), create=True)
    await store.identities.add(Identity(name=CA_IDENTITY, chain_pem="A", key_pem=None))
    with pytest.raises(AlreadyExists):
        await store.identities.add(Identity(name=CA_IDENTITY, chain_pem="B", key_pem=PEM))
    await store.identities.put(Identity(name=web_identity("n1"), chain_pem="C1", key_pem=PEM))
    await store.identities.put(Identity(name=web_identity("n1"), chain_pem="C2", key_pem="K2"))
    got = await store.identities.get(web_identity("n1"))
    assert got is not None and (got.chain_pem, got.key_pem) == ("C2", "K2")
    ca = await store.identities.get(CA_IDENTITY)
    assert ca is not None and ca.key_pem is None
    assert await store.identities.get("tomcat:nobody") is None
    assert await store.identities.delete(web_identity("n1"))
    assert not await store.identities.delete(web_identity("n1"))
    assert await store.identities.get(web_identity("n1")) is None

"""Edge entries, grants and trust stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sipoauth.store import AlreadyExists, Edge, NotFound, Store, TrustedCert

from .conftest import T0, FakeClock


async def test_edges(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    edge = Edge(
        address="expc.example.com",
        description="Expressway-C",
        x509_names=("expc.example.com", "DNS:expc-2.example.com"),
        domain="example.net",
    )
    added = await store.edges.add(edge)
    assert (added.address, added.x509_names, added.domain) == (
        "expc.example.com",
        ("expc.example.com", "DNS:expc-2.example.com"),
        "example.net",
    )
    assert added.created_at == added.updated_at == T0
    with pytest.raises(AlreadyExists):
        await store.edges.add(Edge(address="expc.example.com"))
    other = await store.edges.add(Edge(address="192.0.2.10"))
    assert other.x509_names == ()
    assert other.domain is None
    assert [e.address for e in await store.edges.list()] == ["192.0.2.10", "expc.example.com"]
    assert await store.edges.get(added.id) == added
    assert await store.edges.find("expc.example.com") == added
    assert await store.edges.find("nope") is None
    clock.advance(1)
    updated = await store.edges.update(
        added.id, Edge(address="expc.example.com", x509_names=("CN=x",))
    )
    assert (updated.id, updated.x509_names, updated.description, updated.domain) == (
        added.id,
        ("CN=x",),
        "",
        None,
    )
    assert (updated.created_at, updated.updated_at) == (T0, clock.now)
    with pytest.raises(NotFound):
        await store.edges.update(99999, edge)
    with pytest.raises(AlreadyExists):
        await store.edges.update(other.id, Edge(address="expc.example.com"))
    assert await store.edges.delete(other.id) is True
    assert await store.edges.delete(other.id) is False
    assert await store.edges.get(other.id) is None


async def test_grants_create_and_revoke(clocked_store: Store) -> None:
    store = clocked_store
    grant = await store.grants.create("g1", "jdoe", "csf")
    assert (grant.sid, grant.subject, grant.client_id, grant.created_at, grant.revoked_at) == (
        "g1",
        "jdoe",
        "csf",
        T0,
        None,
    )
    with pytest.raises(AlreadyExists):
        await store.grants.create("g1", "x", "y")
    assert await store.grants.get("g1") == grant
    assert await store.grants.get("nope") is None
    assert await store.grants.is_revoked("g1") is False
    assert await store.grants.is_revoked("nope") is False
    t1 = T0 + timedelta(minutes=1)
    assert await store.grants.revoke("g1", t1) is True
    assert await store.grants.revoke("g1", t1 + timedelta(minutes=1)) is False  # first time kept
    assert await store.grants.revoke("nope", t1) is False
    assert await store.grants.is_revoked("g1") is True
    assert (await store.grants.get("g1")).revoked_at == t1  # type: ignore[union-attr]


async def test_grants_revoke_subject(store: Store) -> None:
    at = datetime(2025, 3, 1, tzinfo=UTC)
    await store.grants.create("a1", "alice", "csf", at=at)
    await store.grants.create("a2", "alice", "desk-activation", at=at)
    await store.grants.create("a3", "alice", "csf", at=at)
    await store.grants.create("b1", "bob", "csf", at=at)
    t1 = at + timedelta(hours=1)
    assert await store.grants.revoke_subject("alice", "csf", at=t1) == ["a1", "a3"]
    assert await store.grants.revoke_subject("alice", "csf", at=t1) == []
    t2 = at + timedelta(hours=2)
    assert await store.grants.revoke_subject("alice", at=t2) == ["a2"]
    assert await store.grants.revoke_subject("carol", at=t2) == []
    assert [g.sid for g in await store.grants.list_revoked()] == ["a1", "a3", "a2"]
    assert [g.sid for g in await store.grants.revoked_since(t1)] == ["a1", "a3", "a2"]
    assert [g.sid for g in await store.grants.revoked_since(t2)] == ["a2"]
    assert await store.grants.revoked_since(t2 + timedelta(seconds=1)) == []
    assert await store.grants.is_revoked("b1") is False
    assert [g.sid for g in await store.grants.list("alice")] == ["a1", "a2", "a3"]
    assert len(await store.grants.list()) == 4


async def test_times_are_utc_whatever_the_offset_given(store: Store) -> None:
    plus2 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC).astimezone(
        __import__("datetime").timezone(timedelta(hours=2))
    )
    await store.grants.create("g", "s", "c", at=plus2)
    stored = await store.grants.get("g")
    assert stored is not None
    assert stored.created_at == plus2
    assert stored.created_at.tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        await store.grants.create("h", "s", "c", at=datetime(2025, 1, 1))


def _cert(store_name: str, fingerprint: str, subject: str = "CN=Root CA") -> TrustedCert:
    return TrustedCert(
        store_name=store_name,
        fingerprint=fingerprint,
        pem="-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
        subject=subject,
        not_after=datetime(2035, 1, 1, tzinfo=UTC),
    )


async def test_trusted_certs(clocked_store: Store) -> None:
    store = clocked_store
    added = await store.trusted_certs.add(_cert("phone-edge-trust", "aa"))
    assert (added.store_name, added.fingerprint, added.created_at) == ("phone-edge-trust", "aa", T0)
    assert added.not_after == datetime(2035, 1, 1, tzinfo=UTC)
    with pytest.raises(AlreadyExists):
        await store.trusted_certs.add(_cert("phone-edge-trust", "aa"))
    await store.trusted_certs.add(_cert("tomcat-trust", "aa"))  # same cert, other store
    await store.trusted_certs.add(_cert("tomcat-trust", "bb", "CN=Edge CA"))
    assert [c.fingerprint for c in await store.trusted_certs.list("tomcat-trust")] == ["bb", "aa"]
    assert [c.fingerprint for c in await store.trusted_certs.list("phone-edge-trust")] == ["aa"]
    assert await store.trusted_certs.list("CallManager-trust") == []
    assert await store.trusted_certs.get("tomcat-trust", "bb") is not None
    assert await store.trusted_certs.delete("tomcat-trust", "aa") is True
    assert await store.trusted_certs.delete("tomcat-trust", "aa") is False
    assert await store.trusted_certs.get("tomcat-trust", "aa") is None
    assert await store.trusted_certs.get("phone-edge-trust", "aa") == added

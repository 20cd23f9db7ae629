"""The registrations mirror."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from sipoauth.store import CheckViolation, Registration, Store

from .conftest import T0, FakeClock


def _reg(aor: str, instance: str, **changes: object) -> Registration:
    base = Registration(
        aor=aor,
        instance=instance,
        device_name="SEP001122334455",
        contact=f"<sip:{aor.split(':')[1]};transport=tls>",
        node_name="n1",
        transport="TLS",
        path=(),
        expires_at=T0 + timedelta(seconds=120),
        call_id="cid-1",
        cseq=1,
        sid="g1",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def test_upsert_many_inserts_and_replaces(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    first = _reg("sip:1000@example.com", "<urn:uuid:1>")
    second = _reg(
        "sip:1001@example.com",
        "<urn:uuid:1>",
        path=("<sip:expc.example.com;lr>", "<sip:expe.example.com;lr>"),
        node_name="n2",
    )
    assert await store.registrations.upsert_many([first, second]) == 2
    records = await store.registrations.list()
    assert [r.key for r in records] == [first.key, second.key]
    assert records[1].path == ("<sip:expc.example.com;lr>", "<sip:expe.example.com;lr>")
    assert records[0].updated_at == T0
    assert dataclasses.asdict(records[0]) == {**dataclasses.asdict(first), "updated_at": T0}
    clock.advance(60)
    refreshed = dataclasses.replace(first, cseq=2, expires_at=clock.now + timedelta(seconds=120))
    assert await store.registrations.upsert_many([refreshed]) == 1
    (again,) = await store.registrations.list(node_name="n1")
    assert (again.cseq, again.expires_at, again.updated_at) == (2, refreshed.expires_at, clock.now)
    assert await store.registrations.upsert_many([]) == 0


async def test_upsert_many_is_atomic(store: Store) -> None:
    await store.registrations.upsert_many([_reg("sip:1@x", "i", cseq=1)])
    batch = [
        _reg("sip:1@x", "i", cseq=2),
        _reg("sip:2@x", "i"),
        _reg("sip:3@x", "i", transport="SCTP"),
    ]
    with pytest.raises(CheckViolation):
        await store.registrations.upsert_many(batch)
    (only,) = await store.registrations.list()
    assert (only.aor, only.cseq) == ("sip:1@x", 1)


async def test_list_filters(store: Store) -> None:
    await store.registrations.upsert_many(
        [
            _reg("sip:1@x", "a", device_name="SEPA", node_name="n1", sid="g1"),
            _reg("sip:2@x", "a", device_name="SEPA", node_name="n2", sid="g2"),
            _reg("sip:3@x", "b", device_name="CSFjdoe", node_name="n1", sid="g1"),
        ]
    )
    assert [r.aor for r in await store.registrations.list(device_name="SEPA")] == [
        "sip:1@x",
        "sip:2@x",
    ]
    assert [r.aor for r in await store.registrations.list(node_name="n1")] == ["sip:3@x", "sip:1@x"]
    assert [r.aor for r in await store.registrations.list("SEPA", "n2")] == ["sip:2@x"]
    assert [r.aor for r in await store.registrations.list(sid="g1")] == ["sip:3@x", "sip:1@x"]
    assert await store.registrations.list(device_name="nope") == []


async def test_delete_many_and_node(store: Store) -> None:
    regs = [_reg(f"sip:{i}@x", "i", node_name="n1" if i % 2 else "n2") for i in range(1200)]
    await store.registrations.upsert_many(regs)
    keys = [r.key for r in regs[:700]] + [("sip:none@x", "i")]
    assert await store.registrations.delete_many(keys) == 700
    assert await store.registrations.delete_many([]) == 0
    assert len(await store.registrations.list()) == 500
    assert await store.registrations.delete_node("n1") == 250
    assert {r.node_name for r in await store.registrations.list()} == {"n2"}
    assert await store.registrations.delete_node("n1") == 0


async def test_purge_expired(store: Store) -> None:
    await store.registrations.upsert_many(
        [
            _reg("sip:1@x", "i", expires_at=T0 + timedelta(seconds=10)),
            _reg("sip:2@x", "i", expires_at=T0 + timedelta(seconds=20)),
            _reg("sip:3@x", "i", expires_at=T0 + timedelta(seconds=30)),
        ]
    )
    assert await store.registrations.purge_expired(T0) == 0
    assert await store.registrations.purge_expired(T0 + timedelta(seconds=20)) == 2
    assert [r.aor for r in await store.registrations.list()] == ["sip:3@x"]

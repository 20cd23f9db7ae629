"""Revision 0003: audit log, MRA service domains, node services, service
commands, admin tokens, and the new device / trusted-certificate columns."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sipoauth.store import AuditEntry, CheckViolation, Store

from .conftest import T0, FakeClock


async def test_audit_add_list_newest_first(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    first = await store.audit.add(
        AuditEntry(
            actor="alice",
            interface="cli",
            action="update",
            object_type="parameter",
            object_id="SIP Realm",
            detail={"old": "ccmsipline", "new": "example", "nested": {"list": [1, None]}},
        )
    )
    assert first.at == T0
    assert first.detail == {"old": "ccmsipline", "new": "example", "nested": {"list": [1, None]}}
    clock.advance(10)
    second = await store.audit.add(
        AuditEntry(
            actor="bob", interface="api", action="delete", object_type="server", object_id="s"
        )
    )
    assert second.id > first.id
    assert second.detail == {}
    assert [r.id for r in await store.audit.list()] == [second.id, first.id]
    assert [r.id for r in await store.audit.list(limit=1)] == [second.id]
    assert [r.id for r in await store.audit.list(actor="alice")] == [first.id]
    assert [r.id for r in await store.audit.list(object_type="server")] == [second.id]
    assert [r.id for r in await store.audit.list(object_id="SIP Realm")] == [first.id]
    assert [r.id for r in await store.audit.list(since=T0 + timedelta(seconds=5))] == [second.id]


async def test_audit_interface_checked(store: Store) -> None:
    with pytest.raises(CheckViolation):
        await store.audit.add(
            AuditEntry(
                actor="x",
                interface="telnet",  # type: ignore[arg-type]
                action="a",
                object_type="t",
                object_id="i",
            )
        )
    assert await store.audit.list() == []


async def test_audit_purge_keeps_ids_increasing(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    entry = AuditEntry(actor="a", interface="system", action="x", object_type="t", object_id="i")
    old = await store.audit.add(entry)
    clock.advance(3600)
    kept = await store.audit.add(entry)
    assert await store.audit.purge(T0 + timedelta(seconds=1)) == 1
    assert [r.id for r in await store.audit.list()] == [kept.id]
    await store.audit.purge(clock.now + timedelta(seconds=1))
    newest = await store.audit.add(entry)
    assert newest.id > kept.id > old.id  # never reused (AUTOINCREMENT)

"""Revision 0003: audit log, MRA service domains, node services, service
commands, admin tokens, and the new device / trusted-certificate columns."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from sipoauth.store import (
    AlreadyExists,
    AuditEntry,
    CheckViolation,
    Device,
    InvalidReference,
    MraDomain,
    Node,
    NotFound,
    SecurityProfile,
    Store,
    TrustedCert,
    alembic_config,
)

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


# -- MRA service domains ---------------------------------------------------------------


async def test_mra_domains_crud_and_one_default(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    first = await store.mra_domains.add(
        MraDomain(name="Corp", is_default=True, domains=("mra.example.com",))
    )
    assert (first.is_default, first.domains, first.created_at) == (True, ("mra.example.com",), T0)
    with pytest.raises(AlreadyExists):
        await store.mra_domains.add(MraDomain(name="Corp"))
    second = await store.mra_domains.add(
        MraDomain(name="Lab", is_default=True, domains=("a.example", "b.example"))
    )
    assert second.is_default
    assert [(d.name, d.is_default) for d in await store.mra_domains.list()] == [
        ("Corp", False),
        ("Lab", True),
    ]
    clock.advance(5)
    updated = await store.mra_domains.update(dataclasses.replace(first, is_default=True))
    assert updated.is_default and updated.updated_at == clock.now
    assert updated.created_at == T0
    lab = await store.mra_domains.get("Lab")
    assert lab is not None and not lab.is_default
    with pytest.raises(NotFound):
        await store.mra_domains.update(MraDomain(name="nope", is_default=True))
    corp = await store.mra_domains.get("Corp")
    assert corp is not None and corp.is_default  # the failed update cleared nothing
    assert await store.mra_domains.delete("Lab") is True
    assert await store.mra_domains.delete("Lab") is False
    assert await store.mra_domains.get("nope") is None


# -- node services ---------------------------------------------------------------------


async def test_node_services_state_and_restart_pending(
    clocked_store: Store, clock: FakeClock
) -> None:
    store = clocked_store
    await store.nodes.upsert(Node(name="pub", host="h1"))
    await store.nodes.upsert(Node(name="sub", host="h2", role="subscriber"))
    assert await store.node_services.get("pub", "callmanager") is None
    assert await store.node_services.mark_restart_pending(None, ["callmanager"]) == 2
    pending = await store.node_services.list()
    assert [(r.node_name, r.service, r.state, r.restart_pending) for r in pending] == [
        ("pub", "callmanager", "unknown", True),
        ("sub", "callmanager", "unknown", True),
    ]
    started = T0 + timedelta(seconds=1)
    clock.advance(1)
    running = await store.node_services.set_state(
        "pub", "callmanager", "running", started_at=started, applied={"sip_oauth_mode": True}
    )
    assert running.restart_pending  # kept: only clear_restart_pending lowers it
    assert (running.state, running.started_at, running.applied) == (
        "running",
        started,
        {"sip_oauth_mode": True},
    )
    assert await store.node_services.clear_restart_pending("pub", "callmanager") is True
    assert await store.node_services.clear_restart_pending("pub", "tftp") is False
    stopped = await store.node_services.set_state("pub", "callmanager", "stopped", message="bye")
    assert (stopped.state, stopped.restart_pending, stopped.message) == ("stopped", False, "bye")
    assert stopped.started_at == started and stopped.applied == {"sip_oauth_mode": True}
    assert await store.node_services.mark_restart_pending(["sub", "ghost"], ["tomcat", "tftp"]) == 2
    assert [(r.service, r.restart_pending) for r in await store.node_services.list("sub")] == [
        ("callmanager", True),
        ("tftp", True),
        ("tomcat", True),
    ]
    assert await store.node_services.mark_restart_pending([], ["tftp"]) == 0


async def test_node_services_checks_and_cascade(store: Store) -> None:
    with pytest.raises(InvalidReference):
        await store.node_services.set_state("ghost", "callmanager", "running")
    await store.nodes.upsert(Node(name="pub", host="h1"))
    with pytest.raises(CheckViolation):
        await store.node_services.set_state("pub", "sip", "running")  # type: ignore[arg-type]
    with pytest.raises(CheckViolation):
        await store.node_services.set_state("pub", "tftp", "dancing")  # type: ignore[arg-type]
    await store.node_services.set_state("pub", "tftp", "running")
    assert await store.nodes.delete("pub")
    assert await store.node_services.list() == []


# -- service commands ------------------------------------------------------------------


async def test_service_commands_queue_claim_finish(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    first = await store.service_commands.add("pub", "callmanager", "restart", requested_by="alice")
    assert (first.status, first.message, first.done_at, first.requested_at) == (
        "pending",
        "",
        None,
        T0,
    )
    clock.advance(1)
    second = await store.service_commands.add("pub", "tomcat", "stop", requested_by="bob")
    await store.service_commands.add("sub", "tftp", "start", requested_by="bob")
    assert [c.id for c in await store.service_commands.pending("pub")] == [first.id, second.id]
    assert await store.service_commands.claim(first.id) is True
    assert await store.service_commands.claim(first.id) is False
    assert await store.service_commands.claim(999_999) is False
    assert [c.id for c in await store.service_commands.pending("pub")] == [second.id]
    clock.advance(1)
    done = await store.service_commands.finish(first.id, True, "restarted")
    assert (done.status, done.message, done.done_at) == ("done", "restarted", clock.now)
    failed = await store.service_commands.finish(second.id, False, "port in use")
    assert failed.status == "failed"
    with pytest.raises(NotFound):
        await store.service_commands.finish(999_999, True)
    assert await store.service_commands.purge(T0 + timedelta(seconds=1)) == 1
    assert await store.service_commands.get(first.id) is None
    with pytest.raises(CheckViolation):
        await store.service_commands.add("pub", "tftp", "reboot", requested_by="x")  # type: ignore[arg-type]


# -- admin tokens ----------------------------------------------------------------------


async def test_admin_tokens(clocked_store: Store, clock: FakeClock) -> None:
    store = clocked_store
    with pytest.raises(InvalidReference):
        await store.admin_tokens.add("a" * 64, "ghost", T0 + timedelta(hours=1))
    await store.admins.create("alice", "$argon2id$x")
    token = await store.admin_tokens.add("a" * 64, "alice", T0 + timedelta(hours=1))
    assert (token.username, token.created_at, token.last_used_at) == ("alice", T0, None)
    await store.admin_tokens.add("b" * 64, "alice", T0 + timedelta(hours=2))
    clock.advance(60)
    assert await store.admin_tokens.touch("a" * 64) is True
    assert await store.admin_tokens.touch("c" * 64) is False
    touched = await store.admin_tokens.get("a" * 64)
    assert touched is not None and touched.last_used_at == clock.now
    assert await store.admin_tokens.purge_expired(T0 + timedelta(hours=1)) == 1
    assert await store.admin_tokens.get("a" * 64) is None
    assert await store.admin_tokens.delete("b" * 64) is True
    assert await store.admin_tokens.delete("b" * 64) is False
    await store.admin_tokens.add("d" * 64, "alice", T0 + timedelta(hours=2))
    await store.admin_tokens.add("e" * 64, "alice", T0 + timedelta(hours=2))
    assert await store.admin_tokens.delete_user("alice") == 2
    await store.admin_tokens.add("f" * 64, "alice", T0 + timedelta(hours=2))
    async with store.engine.begin() as conn:  # no repository deletes admins: SQL
        await conn.execute(text("DELETE FROM admins WHERE username = 'alice'"))
    assert await store.admin_tokens.get("f" * 64) is None  # ON DELETE CASCADE


# -- new columns of devices and trusted_certs ------------------------------------------


async def test_device_new_columns(store: Store) -> None:
    await store.profiles.add(
        SecurityProfile(
            name="p", device_type="Cisco 8851", security_mode="encrypted", transport="TLS"
        )
    )
    phone = Device(name="SEP001122334455", model="8851", device_type="desk", profile_name="p")
    added = await store.devices.add(phone)
    assert (added.requires_activation_code, added.config_version, added.reset_required) == (
        False,
        1,
        False,
    )
    changed = await store.devices.update(
        dataclasses.replace(
            phone, requires_activation_code=True, config_version=2, reset_required=True
        )
    )
    assert (changed.requires_activation_code, changed.config_version, changed.reset_required) == (
        True,
        2,
        True,
    )


async def test_trusted_cert_issuer_and_not_before(store: Store) -> None:
    def cert(fingerprint: str) -> TrustedCert:
        return TrustedCert(
            store_name="tomcat-trust",
            fingerprint=fingerprint,
            pem="-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
            subject="CN=Edge",
            issuer="CN=Root",
            not_before=datetime(2025, 1, 1, tzinfo=UTC),
            not_after=datetime(2035, 1, 1, tzinfo=UTC),
        )

    added = await store.trusted_certs.add(cert("aa"))
    assert (added.issuer, added.not_before) == ("CN=Root", datetime(2025, 1, 1, tzinfo=UTC))
    assert await store.trusted_certs.get("tomcat-trust", "aa") == added
    many = await store.trusted_certs.add_many([cert("bb"), cert("cc")])
    assert [c.fingerprint for c in many] == ["bb", "cc"]
    with pytest.raises(AlreadyExists):
        await store.trusted_certs.add_many([cert("dd"), cert("aa")])
    assert await store.trusted_certs.get("tomcat-trust", "dd") is None  # all or none


# -- the data migration of 0003 ----------------------------------------------------------


def _at_0002_with_rows(connection: Connection) -> None:
    command.downgrade(alembic_config(connection), "0002")
    true = "true" if connection.dialect.name == "postgresql" else "1"
    false = "false" if connection.dialect.name == "postgresql" else "0"
    for name, pending in (("pub", true), ("sub", false)):
        connection.execute(
            text(
                "INSERT INTO nodes (name, host, role, sip_port, secure_sip_port, oauth_port,"
                " mra_port, web_port, tftp_port, tftp_secure_port, restart_pending,"
                f" created_at, updated_at) VALUES ('{name}', 'h', 'publisher', 5060, 5061,"
                f" 5090, 5091, 8443, 6970, 6971, {pending}, :t, :t)"
            ),
            {"t": T0.replace(tzinfo=None) if connection.dialect.name == "sqlite" else T0},
        )
    connection.execute(
        text(
            "INSERT INTO trusted_certs (store_name, fingerprint, pem, subject, not_after,"
            " created_at) VALUES ('tomcat-trust', 'aa', 'pem', 'CN=x', :t, :t)"
        ),
        {"t": T0.replace(tzinfo=None) if connection.dialect.name == "sqlite" else T0},
    )
    command.upgrade(alembic_config(connection), "head")


async def test_0003_moves_restart_pending_to_node_services(store: Store) -> None:
    await store.profiles.add(
        SecurityProfile(name="p", device_type="x", security_mode="encrypted", transport="TLS")
    )
    await store.devices.add(
        Device(name="SEPAAAAAAAAAAAA", model="8851", device_type="desk", profile_name="p")
    )
    async with store.engine.begin() as conn:
        await conn.run_sync(_at_0002_with_rows)
    services = await store.node_services.list()
    assert [(s.node_name, s.service, s.state, s.restart_pending, s.applied) for s in services] == [
        ("pub", "callmanager", "unknown", True, {})
    ]
    device = await store.devices.get("SEPAAAAAAAAAAAA")
    assert device is not None
    assert (device.requires_activation_code, device.config_version, device.reset_required) == (
        False,
        1,
        False,
    )
    old = await store.trusted_certs.get("tomcat-trust", "aa")
    assert old is not None and (old.issuer, old.not_before) == ("", None)
    # And back: the flag returns to the node it came from.
    async with store.engine.begin() as conn:
        flags = await conn.run_sync(_restart_pending_at_0002)
    assert flags == {"pub": True, "sub": False}


def _restart_pending_at_0002(connection: Connection) -> dict[str, bool]:
    command.downgrade(alembic_config(connection), "0002")
    rows = connection.execute(text("SELECT name, restart_pending FROM nodes")).all()
    command.upgrade(alembic_config(connection), "head")
    return {name: bool(flag) for name, flag in rows}

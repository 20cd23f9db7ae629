"""Service control at the service layer, without a node (R8, issue 4 point 3): names,
the listing, commands queued and notified, waiting for
the node's answer or a timeout, the operator's report, open ports, the audit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from sipoauth import admin
from sipoauth.store import Store

from ._state import snapshot

PUB = "cucm-pub"
SUB = "cucm-sub1"
WHO = admin.Actor("alice", "cli")


async def _cluster(store: Store) -> None:
    await admin.add_server(store, PUB, "10.0.0.1", "publisher")
    await admin.add_server(store, SUB, "10.0.0.2")


async def _running(store: Store, node: str = PUB) -> None:
    """What a node reports once CallManager and Tomcat run."""
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    await store.node_services.set_state(
        node,
        "callmanager",
        "running",
        started_at=started,
        applied={"sip_oauth_mode": True, "ports": {"oauth": 5090, "mra": 5091}, "bind": "0.0.0.0"},
    )
    await store.node_services.set_state(
        node, "tomcat", "running", started_at=started, applied={"ports": {"web": 8443}}
    )


@pytest.mark.parametrize(
    ("name", "sid"),
    [
        ("Cisco CallManager", "callmanager"),
        ("cisco callmanager", "callmanager"),
        ("  CISCO   CallManager ", "callmanager"),
        ("callmanager", "callmanager"),
        ("Cisco Tomcat", "tomcat"),
        ("cisco tftp", "tftp"),
    ],
)
def test_service_names_any_case(name: str, sid: str) -> None:
    assert admin.service_id(name) == sid


def test_unknown_service_names_the_choices() -> None:
    message = (
        "unknown service 'Cisco Foo': choose one of Cisco CallManager, Cisco Tomcat, Cisco TFTP"
    )
    with pytest.raises(admin.InvalidValue, match=message):
        admin.service_id("Cisco Foo")
    assert list(admin.SERVICES.values()) == ["Cisco CallManager", "Cisco Tomcat", "Cisco TFTP"]


async def test_list_before_any_node_reported(store: Store) -> None:
    """Every node lists all three services, in state "unknown" until it reports."""
    await _cluster(store)
    listed = await admin.list_services(store)
    assert [(s.node, s.service, s.state, s.message) for s in listed] == [
        (PUB, "Cisco CallManager", "unknown", ""),
        (PUB, "Cisco Tomcat", "unknown", ""),
        (PUB, "Cisco TFTP", "unknown", ""),
        (SUB, "Cisco CallManager", "unknown", ""),
        (SUB, "Cisco Tomcat", "unknown", ""),
        (SUB, "Cisco TFTP", "unknown", ""),
    ]
    assert all(s.ports == {} and s.started_at is None for s in listed)


async def test_list_running_services_with_ports_mode_and_restart_pending(store: Store) -> None:
    await _cluster(store)
    await _running(store)
    await admin.set_server_ports(store, PUB, oauth_port=6090)  # CallManager restart pending
    cm, tomcat, tftp = await admin.list_services(store, PUB)
    assert (cm.state, cm.restart_pending, cm.sip_oauth_mode) == ("running", True, True)
    assert cm.ports == {"oauth": 5090, "mra": 5091}  # what runs, not what is configured
    assert cm.started_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (tomcat.state, tomcat.ports, tomcat.sip_oauth_mode) == ("running", {"web": 8443}, None)
    assert not tomcat.restart_pending
    assert (tftp.state, tftp.ports) == ("unknown", {})  # it never reported
    # A stopped service shows no ports, whatever it applied last time.
    await store.node_services.set_state(PUB, "tomcat", "stopped")
    assert (await admin.list_services(store, PUB))[1].ports == {}
    with pytest.raises(admin.NotFound, match="'nope' is not configured"):
        await admin.list_services(store, "nope")


async def test_request_queues_audits_and_notifies(store: Store) -> None:
    await _cluster(store)
    async with store.listen(admin.CONTROL_CHANNEL) as notes:
        with admin.acting_as(WHO):
            command = await admin.request_service(
                store,
                node_name=SUB,
                service="cisco callmanager",
                action="Restart",
                requested_by="alice",
            )
        assert await asyncio.wait_for(anext(notes), 10) == SUB  # the node is told at once
    assert (command.node_name, command.service, command.action) == (SUB, "callmanager", "restart")
    assert (command.status, command.requested_by) == ("pending", "alice")
    assert [c.id for c in await store.service_commands.pending(SUB)] == [command.id]
    assert await store.service_commands.pending(PUB) == []
    [row] = await admin.list_audit(store, object_type="service")
    assert (row.actor, row.interface, row.action, row.object_id) == (
        "alice",
        "cli",
        "restart",
        f"{SUB}/callmanager",
    )
    assert row.detail == {"node": SUB, "service": "Cisco CallManager", "command_id": command.id}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"node_name": "nope"}, admin.NotFound, "server 'nope' is not configured"),
        ({"service": "Cisco Foo"}, admin.InvalidValue, "unknown service 'Cisco Foo'"),
        ({"action": "reload"}, admin.InvalidValue, "unknown action 'reload': choose one of"),
        ({"requested_by": " "}, admin.InvalidValue, "requested by: 1-128 characters"),
        ({"requested_by": "x" * 129}, admin.InvalidValue, "requested by: 1-128 characters"),
    ],
)
async def test_request_refused_changes_nothing(
    store: Store, kwargs: dict[str, str], error: type[admin.AdminError], message: str
) -> None:
    await _cluster(store)
    before = await snapshot(store)
    args = {
        "node_name": PUB,
        "service": "Cisco CallManager",
        "action": "restart",
        "requested_by": "alice",
    }
    with pytest.raises(error, match=message):
        await admin.request_service(store, **(args | kwargs))  # type: ignore[arg-type]
    assert await snapshot(store) == before
    assert await store.service_commands.pending(PUB) == []


async def test_tftp_stop_is_queued(store: Store) -> None:
    """Stopping TFTP asks nothing impossible: the node answers that it is not running."""
    await _cluster(store)
    command = await admin.request_service(
        store, node_name=PUB, service="Cisco TFTP", action="stop", requested_by="alice"
    )
    assert (command.service, command.action, command.status) == ("tftp", "stop", "pending")


async def _fake_node(store: Store, node: str, ok: bool, message: str) -> None:
    """What a node's control channel does with its next command."""
    while not (pending := await store.service_commands.pending(node)):
        await asyncio.sleep(0.02)
    assert await store.service_commands.claim(pending[0].id)
    await asyncio.sleep(0.1)
    await store.service_commands.finish(pending[0].id, ok, message)


async def test_wait_returns_the_nodes_answer(store: Store) -> None:
    await _cluster(store)
    await _running(store)
    node = asyncio.create_task(
        _fake_node(store, PUB, True, "Cisco CallManager restarted: SIP Phone OAuth Port 5090")
    )
    command = await admin.request_service(
        store, node_name=PUB, service="callmanager", action="restart", requested_by="alice"
    )
    done = await admin.wait_for_command(store, command.id, timeout=10, poll=0.02)
    await node
    assert (done.status, done.done_at is not None) == ("done", True)
    report = await admin.command_report(store, done)
    assert report == f"{PUB}: Cisco CallManager restarted: SIP Phone OAuth Port 5090"

    node = asyncio.create_task(_fake_node(store, PUB, False, "Cisco Tomcat did not start: in use"))
    command = await admin.request_service(
        store, node_name=PUB, service="Cisco Tomcat", action="start", requested_by="alice"
    )
    failed = await admin.wait_for_command(store, command.id, timeout=10, poll=0.02)
    await node
    assert failed.status == "failed"
    assert await admin.command_report(store, failed) == (
        f"{PUB}: start Cisco Tomcat failed: Cisco Tomcat did not start: in use"
    )


async def test_wait_times_out_and_says_why(store: Store) -> None:
    """A node that is not running leaves the command queued; one that runs but has
    not answered yet is reported differently; a claimed one is being executed."""
    await _cluster(store)
    command = await admin.request_service(
        store, node_name=SUB, service="Cisco CallManager", action="stop", requested_by="alice"
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    record = await admin.wait_for_command(store, command.id, timeout=0.3, poll=0.05)
    assert 0.25 <= loop.time() - started < 5
    assert record.status == "pending"
    assert not await admin.node_running(store, SUB)
    assert await admin.command_report(store, record) == (
        f"{SUB} is not running: the command stays queued (command {command.id}, stop Cisco "
        "CallManager; it runs if the node starts within 60 minutes)"
    )
    await _running(store, SUB)
    assert await admin.node_running(store, SUB)
    assert "has not taken command" in await admin.command_report(store, record)
    assert await store.service_commands.claim(command.id)
    running = await admin.wait_for_command(store, command.id, timeout=0)
    assert running.status == "running"
    assert "is still executing command" in await admin.command_report(store, running)


async def test_wait_refuses_unknown_command_and_negative_timeout(store: Store) -> None:
    with pytest.raises(admin.NotFound, match="no service command 4711"):
        await admin.wait_for_command(store, 4711, timeout=1)
    with pytest.raises(admin.InvalidValue, match="timeout"):
        await admin.wait_for_command(store, 1, timeout=-1)


async def test_open_ports_of_running_services(store: Store) -> None:
    await _cluster(store)
    await _running(store)
    ports = await admin.open_ports(store)
    assert [(p.node, p.service, p.name, p.protocol, p.address, p.port) for p in ports] == [
        (PUB, "Cisco CallManager", "SIP Phone OAuth Port", "TLS", "0.0.0.0", 5090),
        (PUB, "Cisco CallManager", "SIP Mobile and Remote Access Port", "mTLS", "0.0.0.0", 5091),
        (PUB, "Cisco Tomcat", "HTTPS", "HTTPS", "0.0.0.0", 8443),
    ]
    assert await admin.open_ports(store, SUB) == []
    await store.node_services.set_state(PUB, "callmanager", "stopped")
    assert [p.port for p in await admin.open_ports(store, PUB)] == [8443]

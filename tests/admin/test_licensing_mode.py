"""Licensing (R2.2) and SIP OAuth mode (R7, R8): enabling needs export-controlled
functionality; publisher only; restart pending; status per node."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sipoauth import admin
from sipoauth.store import Node, Store

from ._state import snapshot

PUB = "cucm-pub"
SUB = "cucm-sub1"
T = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


async def _cluster(store: Store) -> None:
    await store.nodes.upsert(Node(name=PUB, host="10.0.0.1"))
    await store.nodes.upsert(Node(name=SUB, host="10.0.0.2", role="subscriber"))


async def _register(store: Store, allow: bool = True) -> admin.LicenseStatus:
    return await admin.register_license(
        store, virtual_account="Voice", allow_export_controlled=allow, node_name=PUB, now=T
    )


async def test_fresh_cluster_is_in_evaluation(store: Store) -> None:
    status = await admin.license_status(store)
    assert status == admin.LicenseStatus(
        registration="evaluation",
        virtual_account="",
        product_instance="",
        registered_at=None,
        export_controlled_allowed=False,
        sip_oauth_mode=False,
    )


async def test_register_allow_and_deregister(store: Store) -> None:
    await _cluster(store)
    status = await _register(store, allow=False)
    assert (status.registration, status.virtual_account, status.product_instance) == (
        "registered",
        "Voice",
        PUB,
    )
    assert status.registered_at == T
    assert not status.export_controlled_allowed
    assert (await admin.set_export_controlled(store, True, node_name=PUB)).export_controlled_allowed
    assert not (
        await admin.set_export_controlled(store, False, node_name=PUB)
    ).export_controlled_allowed
    status = await admin.deregister_license(store, node_name=PUB)
    assert (status.registration, status.virtual_account, status.registered_at) == (
        "unregistered",
        "",
        None,
    )


async def test_licensing_refusals_change_nothing(store: Store) -> None:
    await _cluster(store)
    before = await snapshot(store)
    with pytest.raises(admin.Conflict, match="registered cluster"):
        await admin.set_export_controlled(store, True, node_name=PUB)
    with pytest.raises(admin.Conflict, match="not registered"):
        await admin.deregister_license(store, node_name=PUB)
    with pytest.raises(admin.NotPublisher, match="publisher"):
        await admin.register_license(
            store, virtual_account="Voice", allow_export_controlled=True, node_name=SUB
        )
    with pytest.raises(admin.InvalidValue, match="virtual account"):
        await admin.register_license(
            store, virtual_account="  ", allow_export_controlled=True, node_name=PUB
        )
    with pytest.raises(admin.InvalidValue, match="virtual account"):
        await admin.register_license(
            store, virtual_account="x" * 129, allow_export_controlled=True, node_name=PUB
        )
    assert await snapshot(store) == before


async def test_enable_needs_export_controlled_functionality(store: Store) -> None:
    """R2.2: refused, with the command that allows it, and nothing changes."""
    await _cluster(store)
    before = await snapshot(store)
    with pytest.raises(admin.Conflict) as refused:
        await admin.set_sip_oauth_mode(store, node_name=PUB, enabled=True)
    assert "export-controlled functionality" in refused.value.message
    assert "sipoauth license register" in refused.value.message
    assert "--allow-export-controlled" in refused.value.message
    assert await snapshot(store) == before
    await _register(store, allow=False)
    before = await snapshot(store)
    with pytest.raises(admin.Conflict, match="license allow-export-controlled on"):
        await admin.set_sip_oauth_mode(store, node_name=PUB, enabled=True)
    assert await snapshot(store) == before


async def test_enable_is_publisher_only_and_marks_every_callmanager(store: Store) -> None:
    await _cluster(store)
    await _register(store)
    before = await snapshot(store)
    with pytest.raises(admin.NotPublisher, match="only be run on the publisher"):
        await admin.set_sip_oauth_mode(store, node_name=SUB, enabled=True)
    with pytest.raises(admin.NotFound):
        await admin.set_sip_oauth_mode(store, node_name="ghost", enabled=True)
    assert await snapshot(store) == before
    assert await admin.set_sip_oauth_mode(store, node_name=PUB, enabled=True) == [PUB, SUB]
    assert await admin.sip_oauth_mode(store)
    pending = [
        (s.node_name, s.service, s.restart_pending) for s in await store.node_services.list()
    ]
    assert pending == [(PUB, "callmanager", True), (SUB, "callmanager", True)]


async def test_mode_on_blocks_deregistration_and_disallowing(store: Store) -> None:
    await _cluster(store)
    await _register(store)
    await admin.set_sip_oauth_mode(store, node_name=PUB, enabled=True)
    before = await snapshot(store)
    with pytest.raises(admin.Conflict, match="disable it first"):
        await admin.deregister_license(store, node_name=PUB)
    with pytest.raises(admin.Conflict, match="disable it first"):
        await admin.set_export_controlled(store, False, node_name=PUB)
    with pytest.raises(admin.Conflict, match="disable it first"):
        await _register(store, allow=False)
    assert await snapshot(store) == before
    await admin.set_sip_oauth_mode(store, node_name=PUB, enabled=False)
    assert (await admin.deregister_license(store, node_name=PUB)).registration == "unregistered"


async def test_status_per_node(store: Store) -> None:
    """R8: the flag, and whether each node's running CallManager applied it."""
    await _cluster(store)
    await _register(store)
    status = await admin.sip_oauth_mode_status(store)
    assert not status.enabled
    assert [(n.node_name, n.state, n.applied, n.restart_pending) for n in status.nodes] == [
        (PUB, "unknown", False, False),
        (SUB, "unknown", False, False),
    ]
    await store.node_services.set_state(
        PUB, "callmanager", "running", applied={"sip_oauth_mode": False}
    )
    await store.node_services.set_state(
        SUB, "callmanager", "running", applied={"sip_oauth_mode": False}
    )
    status = await admin.sip_oauth_mode_status(store)
    assert [(n.running_mode, n.applied) for n in status.nodes] == [(False, True), (False, True)]
    await admin.set_sip_oauth_mode(store, node_name=PUB, enabled=True)
    status = await admin.sip_oauth_mode_status(store)
    assert status.enabled
    assert [(n.running_mode, n.applied, n.restart_pending) for n in status.nodes] == [
        (False, False, True),
        (False, False, True),
    ]
    # The publisher's CallManager restarts (what Node.start records).
    await store.node_services.clear_restart_pending(PUB, "callmanager")
    await store.node_services.set_state(
        PUB, "callmanager", "running", applied={"sip_oauth_mode": True}
    )
    await store.node_services.set_state(SUB, "callmanager", "stopped")
    status = await admin.sip_oauth_mode_status(store)
    assert [
        (n.node_name, n.state, n.running_mode, n.applied, n.restart_pending) for n in status.nodes
    ] == [
        (PUB, "running", True, True, False),
        (SUB, "stopped", None, False, True),
    ]

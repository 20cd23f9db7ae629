"""Three nodes on one PostgreSQL database (issue 8 point 5): what works already.

node1 publishes, node2 and node3 subscribe; all three run in this event loop
on loopback with their own ports (``conftest``). Changes travel through the
shared database and PostgreSQL LISTEN/NOTIFY. Waits are bounds, never timing
assertions. What the cluster cannot do yet is written as it should be and
marked ``xfail(strict=True)`` with what is missing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from node._support import NODE, PHONE, PHONE2, prepare
from sim._simnode import FAST
from sipoauth import admin
from sipoauth.cli import app
from sipoauth.node import Node, initialise
from sipoauth.pki import client_ssl_context
from sipoauth.sim import (
    DeskPhone,
    DeskPhoneConfig,
    PhoneIdentity,
    ServerAddress,
    SipTlsClient,
    register_request,
)
from sipoauth.store import SECRET_FILE, Store, read_secret_file

from .conftest import NAMES, PHONE3, Cluster

pytestmark = pytest.mark.postgresql

BOUND = 15.0
"""Seconds a change may take to reach every node before a test gives up (a bound)."""
LINES = {PHONE: "1001", PHONE2: "2001", PHONE3: "3001"}
NO_ENV = {
    name: None
    for name in ("SIPOAUTH_HOME", "SIPOAUTH_DATABASE_URL", "SIPOAUTH_NODE", "SIPOAUTH_HOSTNAME")
} | {"COLUMNS": "200", "NO_COLOR": "1"}


async def until(predicate: Callable[[], bool], what: str, bound: float = BOUND) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"not within {bound} s: {what}")
        await asyncio.sleep(0.05)


async def connect(cluster: Cluster, name: str) -> SipTlsClient:
    context = client_ssl_context([cluster.prepared.ca_pem])
    return await SipTlsClient.connect(
        "127.0.0.1", cluster.ports[name]["oauth_port"], context, server_hostname="localhost"
    )


async def register(cluster: Cluster, name: str, device: str, sid: str) -> SipTlsClient:
    """A phone registered over TLS on node ``name`` with a token of grant ``sid``."""
    client = await connect(cluster, name)
    ident = PhoneIdentity(device=device, line=LINES[device], domain="localhost")
    request = register_request(
        ident,
        call_id=str(uuid.uuid4()),
        cseq=1,
        branch=client.next_branch(),
        token=cluster.prepared.mint(device, sid=sid),
    )
    reply = await client.request(request)
    assert reply.status == 200, reply
    return client


def bindings(node: Node, device: str) -> list[object]:
    assert node.registrar is not None
    return [b for b in node.registrar.table if b.device == device]


async def _mode_off(store: Store) -> None:
    await admin.set_sip_oauth_mode(store, node_name=NODE, enabled=False)


async def test_mode_enabled_on_the_publisher_follows_a_restart_on_every_node(
    cluster_factory: Callable[..., object],
) -> None:
    """R7/R8: the flag is set once, on the publisher; each node's CallManager
    takes it when restarted through the control channel."""
    cluster: Cluster = await cluster_factory(before_start=_mode_off)  # type: ignore[misc]
    assert [cluster.nodes[n].directory.oauth_mode for n in NAMES] == [False] * 3
    pending = await admin.set_sip_oauth_mode(cluster.publisher.store, node_name=NODE, enabled=True)
    assert sorted(pending) == sorted(NAMES)
    for name in NAMES:
        queued = await admin.request_service(
            cluster.publisher.store,
            node_name=name,
            service="Cisco CallManager",
            action="restart",
            requested_by="tester",
        )
        done = await admin.wait_for_command(
            cluster.publisher.store, queued.id, timeout=BOUND, poll=0.05
        )
        assert done.status == "done", done.message
    assert [cluster.nodes[n].directory.oauth_mode for n in NAMES] == [True] * 3
    records = [await cluster.publisher.store.node_services.get(n, "callmanager") for n in NAMES]
    assert [r is not None and not r.restart_pending for r in records] == [True] * 3


async def test_every_node_sees_the_registrations_of_the_whole_cluster(cluster: Cluster) -> None:
    clients = []
    try:
        for name, device in zip(NAMES, LINES, strict=True):
            clients.append(await register(cluster, name, device, f"grant-{name}"))
        for node in cluster.nodes.values():
            await node.flush()
        expected = {(NODE, PHONE), ("node2", PHONE2), ("node3", PHONE3)}
        for node in cluster.nodes.values():
            rows = await node.store.registrations.list()
            assert {(r.node_name, r.device_name) for r in rows} == expected
    finally:
        for client in clients:
            await client.close()


async def test_a_grant_revoked_on_the_publisher_drops_the_binding_on_a_subscriber(
    cluster: Cluster,
) -> None:
    pub, sub = cluster.publisher, cluster.nodes["node3"]
    await pub.store.grants.create("grant-revoked", PHONE3, "phone")
    client = await register(cluster, "node3", PHONE3, "grant-revoked")
    try:
        assert len(bindings(sub, PHONE3)) == 1
        assert pub.authz is not None
        assert await pub.authz.revoke_grant("grant-revoked", why="test")
        await until(lambda: not bindings(sub, PHONE3), "binding gone on node3")
        await until(
            lambda: all("grant-revoked" in n.directory.revoked for n in cluster.nodes.values()),
            "every node knows the revocation",
        )
        await sub.flush()
        assert await pub.store.registrations.list(device_name=PHONE3) == []
    finally:
        await client.close()


async def _drop_listen_connections(url: str) -> int:
    """Terminate every node's LISTEN connection (a database outage, as each node sees it)."""
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND query ILIKE 'LISTEN%'"
        )
        return len(await cursor.fetchall())


async def test_a_node_that_lost_its_listen_connection_catches_up_from_the_database(
    cluster: Cluster,
) -> None:
    """Issue 8 point 2: a revocation made while a node was not listening (no
    notification reaches it) still drops the binding once it is back."""
    pub, sub = cluster.publisher, cluster.nodes["node3"]
    await pub.store.grants.create("grant-missed", PHONE3, "phone")
    client = await register(cluster, "node3", PHONE3, "grant-missed")
    try:
        # Revoked in the database while the notification is lost: no NOTIFY is sent.
        assert await pub.store.grants.revoke("grant-missed", datetime.now(UTC))
        assert await _drop_listen_connections(cluster.prepared.url) >= len(NAMES)
        await until(lambda: not bindings(sub, PHONE3), "binding gone on node3")
    finally:
        await client.close()


async def test_a_reset_from_the_publisher_is_sent_by_the_subscriber_holding_the_phone(
    cluster: Cluster,
) -> None:
    client = await register(cluster, "node2", PHONE2, "grant-reset")
    try:
        version = await admin.reset_device(cluster.publisher.store, PHONE2, action="reset")
        notify = await client.next_request(timeout=BOUND)
        assert notify.method == "NOTIFY"
        assert notify.get("event") == "check-sync;reboot=true"
        assert notify.get("to") == "<sip:2001@localhost>"
        assert version >= 2
    finally:
        await client.close()


async def _desk_phone(cluster: Cluster, group: list[str]) -> DeskPhone:
    """A desk phone of the CallManager group ``group``, onboarding through the
    publisher's bootstrap port and token endpoint."""
    store = cluster.publisher.store
    await admin.add_group(store, name="failover", nodes=group)
    mac = uuid.uuid4().hex[:12].upper()
    await admin.add_device(
        store,
        name=f"SEP{mac}",
        model="8851",
        lines=["4001"],
        profile=admin.OAUTH_PROFILE,
        callmanager_group="failover",
    )
    code, _ = await admin.generate_activation_code(store, f"SEP{mac}", now=datetime.now(UTC))
    await until(
        lambda: all(n.directory.device(f"SEP{mac}") for n in cluster.nodes.values()),
        "every node knows the new phone",
    )
    config = DeskPhoneConfig(
        mac=mac,
        model="8851",
        activation_code=code,
        server=ServerAddress("localhost", cluster.ports[NODE]["tftp_port"]),
        settings=dataclasses.replace(FAST),
    )
    return DeskPhone(config)


async def test_with_the_first_node_of_its_group_stopped_a_phone_registers_on_the_second(
    cluster: Cluster,
) -> None:
    await cluster.stop("node2")
    phone = await _desk_phone(cluster, ["node2", "node3"])
    async with phone:
        registered = await phone.wait_for("registered", timeout=30)
        assert registered.data["node"] == f"localhost:{cluster.ports['node3']['oauth_port']}"
        failovers = [e.message for e in phone.log.events if e.kind == "failover"]
        assert failovers[0].startswith(f"localhost:{cluster.ports['node2']['oauth_port']}: ")


async def test_a_node_that_stops_hands_its_phones_to_the_next_of_their_group(
    cluster: Cluster,
) -> None:
    """Issue 8 point 4: registered on node2, the phone moves to node3 when node2 stops."""
    phone = await _desk_phone(cluster, ["node2", "node3"])
    async with phone:
        registered = await phone.wait_for("registered", timeout=30)
        assert registered.data["node"] == f"localhost:{cluster.ports['node2']['oauth_port']}"
        await cluster.stop("node2")
        node3 = f"localhost:{cluster.ports['node3']['oauth_port']}"
        await until(
            lambda: any(
                e.kind == "registered" and e.data.get("node") == node3 for e in phone.log.events
            ),
            "the phone registered on node3",
            bound=30,
        )
        device = f"SEP{phone.config.mac}"
        await until(lambda: bool(bindings(cluster.nodes["node3"], device)), "bound on node3")


async def test_a_subscriber_on_its_own_data_directory_serves_the_clusters_certificate(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Issue 8 point 4: a node on another machine has only its own data directory
    (``initialise`` made ``node2/``); the CA, keys and certificates it serves come
    from the database, so a phone trusting the cluster's CA registers on it."""
    await cluster.stop("node2")
    await cluster.start("node2", data_dir=tmp_path / "node2")
    client = await register(cluster, "node2", PHONE2, "grant-own-dir")
    await client.close()


@pytest.mark.parametrize(
    ("call", "command"),
    [
        (
            lambda store: admin.set_sip_oauth_mode(store, node_name="node2", enabled=True),
            "utils sipOAuth-mode",
        ),
        (
            lambda store: admin.regenerate_authz_key(store, "signing", node_name="node2"),
            "set key regen authz signing",
        ),
    ],
)
async def test_publisher_only_rules_refuse_on_a_subscriber(
    cluster: Cluster, call: Callable[[Store], object], command: str
) -> None:
    with pytest.raises(admin.NotPublisher) as refused:
        await call(cluster.nodes["node2"].store)  # type: ignore[misc]
    assert (
        str(refused.value) == f"{command} can only be run on the publisher; node2 is a subscriber"
    )


def test_publisher_only_commands_refuse_on_a_subscriber_from_the_cli(
    pg_db_url: str, tmp_path: Path
) -> None:
    """`sipoauth --database-url postgresql://… --node node2 …` refuses, with the message."""

    async def setup() -> Path:
        prepared = await prepare(tmp_path, pg_db_url)
        store = await Store.open(pg_db_url)
        try:
            await initialise(
                store,
                data_dir=tmp_path / "node2",
                hostname="localhost",
                node_name="node2",
                cluster_secret=read_secret_file(prepared.data_dir / SECRET_FILE),
            )
        finally:
            await store.close()
        return prepared.data_dir

    data_dir = asyncio.run(setup())
    for args, command in (
        (["utils", "sipOAuth-mode", "enable"], "utils sipOAuth-mode"),
        (["set", "key", "regen", "authz", "signing", "--yes"], "set key regen authz signing"),
    ):
        result = CliRunner().invoke(
            app,
            ["--data-dir", str(data_dir), "--database-url", pg_db_url, "--node", "node2", *args],
            env=NO_ENV,
        )
        assert result.exit_code == 1, result.output
        assert result.stderr.strip() == (
            f"error: {command} can only be run on the publisher; node2 is a subscriber"
        )

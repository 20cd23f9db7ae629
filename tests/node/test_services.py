"""Service control inside a running node on loopback (R8, issue 4 point 3).

Cisco CallManager, Cisco Tomcat and Cisco TFTP stop, start and restart on their
own, directly and through the control channel (commands an administrator queues
in the store); a restart applies the mode and ports in force and clears "restart
pending"; a node executes only its own commands.
"""

from __future__ import annotations

import asyncio
import random
import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sipoauth import admin
from sipoauth.node import Node, NodeConfig, ServiceError, initialise
from sipoauth.node._control import ControlChannel
from sipoauth.pki import client_ssl_context
from sipoauth.sim import PhoneIdentity, SipTlsClient, register_request
from sipoauth.store import ServiceCommandRecord, Store

from ._support import NODE, PHONE, Prepared, port_of, prepare, start_node

METADATA = "/.well-known/oauth-authorization-server"
OTHER = "node2"


def free_port() -> int:
    """A free port in R5's range 1024-49151, below the usual ephemeral ports."""
    while True:
        port = random.randrange(20000, 32000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


async def sip_client(prepared: Prepared, port: int) -> SipTlsClient:
    context = client_ssl_context([prepared.ca_pem])
    return await SipTlsClient.connect("127.0.0.1", port, context, server_hostname="localhost")


async def register(client: SipTlsClient, token: str | None) -> int:
    ident = PhoneIdentity(device=PHONE, line="1001", domain="localhost")
    request = register_request(
        ident, call_id=str(uuid.uuid4()), cseq=1, branch=client.next_branch(), token=token
    )
    return (await client.request(request)).status


async def registers(prepared: Prepared, port: int) -> int:
    """The status of a REGISTER with a valid token on a new connection."""
    return await registers_with(prepared, port, prepared.mint())


async def registers_with(prepared: Prepared, port: int, token: str) -> int:
    """The status of a REGISTER with ``token`` on a new connection."""
    client = await sip_client(prepared, port)
    try:
        return await register(client, token)
    finally:
        await client.close()


@asynccontextmanager
async def https(prepared: Prepared, port: int) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.AsyncHTTPTransport(verify=client_ssl_context([prepared.ca_pem]))
    async with httpx.AsyncClient(
        base_url=f"https://localhost:{port}", transport=transport
    ) as client:
        yield client


async def refused(port: int) -> bool:
    """Nothing listens on the port any more."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def command(
    store: Store, service: str, action: str, node: str = NODE
) -> ServiceCommandRecord:
    """What `sipoauth utils service ACTION SERVICE` does: queue, then wait for the node."""
    queued = await admin.request_service(
        store, node_name=node, service=service, action=action, requested_by="tester"
    )
    return await admin.wait_for_command(store, queued.id, timeout=10, poll=0.02)


async def row(node: Node, service: str) -> tuple[str, bool, dict[str, object], str]:
    """(state, restart pending, applied, message) the node recorded."""
    record = await node.store.node_services.get(NODE, service)  # type: ignore[arg-type]
    assert record is not None
    return record.state, record.restart_pending, dict(record.applied), record.message


async def started_at(store: Store, node: str) -> datetime:
    record = await store.node_services.get(node, "callmanager")
    assert record is not None and record.started_at is not None
    return record.started_at


# -- Cisco CallManager ----------------------------------------------------------------


async def test_stop_callmanager_closes_sip_keeps_https_then_start(
    prepared: Prepared, node: Node
) -> None:
    """Stopping CallManager closes its listeners and connections and drops the
    bindings with their mirror rows; Tomcat still answers; the node's tasks (the
    control channel among them) keep running, so a start command brings it back."""
    store = node.store
    sip_port, mra_port, web_port = (port_of(node, p) for p in ("TLS", "mTLS", "HTTPS"))
    client = await sip_client(prepared, sip_port)
    try:
        assert await register(client, prepared.mint()) == 200
        await node.flush()
        assert len(await store.registrations.list(device_name=PHONE)) == 1

        assert await node.stop_service("callmanager") == "Cisco CallManager stopped"
        assert await refused(sip_port) and await refused(mra_port)
        with pytest.raises((ConnectionError, ssl.SSLError)):
            await client.receive(timeout=5)  # its connection was closed too
    finally:
        await client.close()
    assert [x.protocol for x in node.listeners] == ["HTTPS", "HTTP", "HTTPS"]
    assert (await row(node, "callmanager"))[0] == "stopped"
    assert await store.registrations.list(device_name=PHONE) == []
    assert node.registrar is not None and len(node.registrar.table) == 0
    async with https(prepared, web_port) as web:
        assert (await web.get(METADATA)).status_code == 200

    done = await command(store, "Cisco CallManager", "start")
    assert done.status == "done", done.message
    new_port = port_of(node, "TLS")
    assert done.message.startswith(
        f"Cisco CallManager started: SIP Phone OAuth Port {new_port} (TLS), "
        f"SIP Mobile and Remote Access Port {port_of(node, 'mTLS')} (mTLS)"
    )
    assert done.message.endswith("; SIP OAuth mode enabled")
    assert await registers(prepared, new_port) == 200
    state, pending, applied, _ = await row(node, "callmanager")
    assert (state, pending, applied["sip_oauth_mode"]) == ("running", False, True)
    assert applied["ports"] == {"oauth": new_port, "mra": port_of(node, "mTLS")}
    assert await node.start_service("callmanager") == "Cisco CallManager is running already"


async def test_restart_applies_mode_change_and_clears_restart_pending(
    prepared: Prepared, node: Node
) -> None:
    """R8: `utils sipOAuth-mode disable` marks CallManager restart pending; the running
    service keeps the mode it started with; a restart command applies it."""
    store = node.store
    await admin.set_sip_oauth_mode(store, node_name=NODE, enabled=False)
    try:
        await node.load()  # what the change notification triggers
        assert node.directory.oauth_mode
        assert (await row(node, "callmanager"))[1]  # restart pending
        assert await registers(prepared, port_of(node, "TLS")) == 200

        done = await command(store, "cisco callmanager", "restart")
        assert done.status == "done", done.message
        assert done.message.startswith("Cisco CallManager restarted: ")
        assert done.message.endswith("SIP OAuth mode disabled")
        state, pending, applied, _ = await row(node, "callmanager")
        assert (state, pending, applied["sip_oauth_mode"]) == ("running", False, False)
        status = await admin.sip_oauth_mode_status(store)
        assert [(n.running_mode, n.applied) for n in status.nodes] == [(False, True)]
        assert await registers(prepared, port_of(node, "TLS")) == 403  # prerequisite unmet
    finally:
        await admin.set_sip_oauth_mode(store, node_name=NODE, enabled=True)
    await node.restart_service("callmanager")
    assert await registers(prepared, port_of(node, "TLS")) == 200


async def test_restart_applies_port_change(prepared: Prepared) -> None:
    """R5/R8: new SIP ports are listened on from the restart, not before."""
    store = await Store.open(prepared.url)
    old = await admin.get_server(store, NODE)
    first = {"oauth_port": free_port(), "mra_port": free_port()}
    await admin.set_server_ports(store, NODE, **first)
    config = NodeConfig(
        data_dir=prepared.data_dir,
        database_url=prepared.url,
        node_name=NODE,
        hostname="localhost",
        bind="127.0.0.1",
        port_overrides=(("web", 0), ("tftp", 0), ("tftp_secure", 0)),  # SIP: the server's (R5)
    )
    node = await Node.open(config)
    try:
        await node.start()
        assert (port_of(node, "TLS"), port_of(node, "mTLS")) == tuple(first.values())
        second = {"oauth_port": free_port(), "mra_port": free_port()}
        await admin.set_server_ports(store, NODE, **second)
        assert (await row(node, "callmanager"))[1]  # restart pending
        assert port_of(node, "TLS") == first["oauth_port"]  # not before the restart
        assert await registers(prepared, first["oauth_port"]) == 200

        message = await node.restart_service("callmanager")
        assert f"SIP Phone OAuth Port {second['oauth_port']} (TLS)" in message
        state, pending, applied, _ = await row(node, "callmanager")
        assert (state, pending) == ("running", False)
        assert applied["ports"] == {"oauth": second["oauth_port"], "mra": second["mra_port"]}
        assert await refused(first["oauth_port"])
        assert await registers(prepared, second["oauth_port"]) == 200
        opened = {(p.name, p.port) for p in await admin.open_ports(store, NODE)}
        assert ("SIP Phone OAuth Port", second["oauth_port"]) in opened
    finally:
        await node.close()
        await admin.set_server_ports(store, NODE, oauth_port=old.oauth_port, mra_port=old.mra_port)
        await store.close()


async def test_start_failure_is_recorded(prepared: Prepared) -> None:
    """A service that cannot listen (the port is taken) is `failed`, with the reason;
    a change that waited for its restart still waits."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        config = NodeConfig(
            data_dir=prepared.data_dir,
            database_url=prepared.url,
            node_name=NODE,
            hostname="localhost",
            bind="127.0.0.1",
            port_overrides=(
                ("oauth", taken),
                ("mra", 0),
                ("web", 0),
                ("tftp", 0),
                ("tftp_secure", 0),
            ),
        )
        node = await Node.open(config)
        try:
            await node.store.node_services.mark_restart_pending([NODE], ["callmanager"])
            with pytest.raises(ServiceError, match=r"Cisco CallManager did not start: .*in use"):
                await node.start()
            state, pending, _, message = await row(node, "callmanager")
            assert (state, pending) == ("failed", True)  # nothing was applied
            assert message.startswith("Cisco CallManager did not start: ")
            assert node.listeners == []
        finally:
            await node.close()


# -- Cisco Tomcat ---------------------------------------------------------------------


async def test_restart_tomcat_through_a_command_while_a_client_is_connected(
    prepared: Prepared, node: Node
) -> None:
    """The command is executed by the node's own task: the web service restarts under
    a connected HTTPS client, which is disconnected; new connections are served;
    CallManager is untouched."""
    store, sip_port = node.store, port_of(node, "TLS")
    context = client_ssl_context([prepared.ca_pem])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", port_of(node, "HTTPS"), ssl=context, server_hostname="localhost"
    )
    try:
        writer.write(f"GET {METADATA} HTTP/1.1\r\nHost: localhost\r\n\r\n".encode())
        assert (await reader.readline()).startswith(b"HTTP/1.1 200")  # kept alive
        done = await command(store, "Cisco Tomcat", "restart")
        assert done.status == "done", done.message
        await asyncio.wait_for(reader.read(), 5)  # the rest of the answer, then closed
        assert reader.at_eof()
    finally:
        writer.close()
    new_port = port_of(node, "HTTPS")
    assert done.message == f"Cisco Tomcat restarted: Web (OAuth, administration) {new_port} (HTTPS)"
    async with https(prepared, new_port) as web:
        assert (await web.get(METADATA)).status_code == 200
    assert port_of(node, "TLS") == sip_port
    state, pending, applied, _ = await row(node, "tomcat")
    assert (state, pending, applied["ports"]) == ("running", False, {"web": new_port})


async def test_a_request_through_tomcat_restarts_tomcat(
    prepared: Prepared, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the REST API will do: a request that came in through Tomcat queues a
    restart of Tomcat and waits for it. The node's task restarts the service; the
    request in progress finishes and is answered on its connection."""
    store, build = node.store, node.web_app

    def web_app() -> object:
        inner = build()

        async def app(scope: dict[str, object], receive: object, send: object) -> None:
            if scope["type"] == "http" and scope["path"] == "/test/restart-tomcat":
                done = await command(store, "Cisco Tomcat", "restart")
                body = f"{done.status}: {done.message}".encode()
                headers = [(b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": 200, "headers": headers})  # type: ignore[operator]
                await send({"type": "http.response.body", "body": body})  # type: ignore[operator]
                return
            await inner(scope, receive, send)

        return app

    monkeypatch.setattr(node, "web_app", web_app)
    await node.restart_service("tomcat")  # now serving the app above
    async with https(prepared, port_of(node, "HTTPS")) as web:
        response = await web.get("/test/restart-tomcat")
    assert response.status_code == 200
    assert response.text.startswith("done: Cisco Tomcat restarted: ")
    async with https(prepared, port_of(node, "HTTPS")) as web:
        assert (await web.get(METADATA)).status_code == 200


async def test_stop_tomcat_keeps_sip(prepared: Prepared, node: Node) -> None:
    web_port = port_of(node, "HTTPS")
    done = await command(node.store, "Cisco Tomcat", "stop")
    assert (done.status, done.message) == ("done", "Cisco Tomcat stopped")
    assert await refused(web_port)
    assert await registers(prepared, port_of(node, "TLS")) == 200
    assert (await row(node, "tomcat"))[0] == "stopped"
    again = await command(node.store, "Cisco Tomcat", "stop")
    assert (again.status, again.message) == ("done", "Cisco Tomcat is not running")


# -- Cisco TFTP, refusals ---------------------------------------------------------------


async def test_tftp_stops_and_starts_on_its_own(prepared: Prepared, node: Node) -> None:
    """Cisco TFTP's two listeners (HTTP 6970, HTTPS 6971) stop and start with it;
    SIP and the web service keep serving."""
    listed = {s.service: s for s in await admin.list_services(node.store, NODE)}
    tftp = listed["Cisco TFTP"]
    assert tftp.state == "running"
    assert set(tftp.ports) == {"tftp", "tftp_secure"}
    ports = list(tftp.ports.values())
    done = await command(node.store, "Cisco TFTP", "stop")
    assert (done.status, done.message) == ("done", "Cisco TFTP stopped")
    for port in ports:
        assert await refused(port)
    assert await registers(prepared, port_of(node, "TLS")) == 200
    assert (await row(node, "tftp"))[0] == "stopped"
    done = await command(node.store, "Cisco TFTP", "start")
    assert done.status == "done" and done.message.startswith("Cisco TFTP started: TFTP HTTP ")
    assert (await row(node, "tftp"))[0] == "running"
    assert [x.name for x in node.tftp.listeners] == ["TFTP HTTP", "TFTP HTTPS"]


async def test_unknown_service_or_action_refused(node: Node) -> None:
    with pytest.raises(ServiceError, match="unknown service 'tftpd'"):
        await node.start_service("tftpd")
    with pytest.raises(ServiceError, match="unknown action 'reload'"):
        await node.services.run("callmanager", "reload")
    with pytest.raises(admin.InvalidValue, match="unknown service 'Cisco Foo'"):
        await command(node.store, "Cisco Foo", "restart")
    with pytest.raises(admin.InvalidValue, match="unknown action 'reload'"):
        await command(node.store, "Cisco CallManager", "reload")
    assert [s.running for s in node.services] == [True, True, True]


# -- the control channel ----------------------------------------------------------------


async def test_a_command_for_another_node_is_left_alone(node: Node) -> None:
    store = node.store
    if await store.nodes.get(OTHER) is None:
        await admin.add_server(store, OTHER, "127.0.0.2")
    queued = await admin.request_service(
        store, node_name=OTHER, service="Cisco CallManager", action="stop", requested_by="tester"
    )
    record = await admin.wait_for_command(store, queued.id, timeout=0.5, poll=0.05)
    assert await node.control.drain() == 0
    assert (await store.service_commands.get(queued.id)).status == "pending"  # type: ignore[union-attr]
    assert record.status == "pending"
    assert node.callmanager.running
    report = await admin.command_report(store, record)
    assert report.startswith(f"{OTHER} is not running: the command stays queued")


async def test_a_missed_notification_is_made_up_by_polling(prepared: Prepared) -> None:
    """A command written without a notification (one lost while the database link
    was down) runs at the next poll."""
    node = await start_node(prepared, control_poll_interval=0.1)
    try:
        queued = await node.store.service_commands.add(
            NODE, "tomcat", "restart", requested_by="tester"
        )
        done = await admin.wait_for_command(node.store, queued.id, timeout=10, poll=0.02)
        assert done.status == "done", done.message
    finally:
        await node.close()


async def test_queued_while_stopped_runs_at_start_unless_expired(prepared: Prepared) -> None:
    """A command for a node that is not running stays queued and runs when it starts;
    one older than the node's command lifetime fails as expired."""
    store = await Store.open(prepared.url)
    try:
        queued = await admin.request_service(
            store, node_name=NODE, service="Cisco Tomcat", action="restart", requested_by="t"
        )
        record = await admin.wait_for_command(store, queued.id, timeout=0.2, poll=0.05)
        assert record.status == "pending"
        assert "is not running: the command stays queued" in await admin.command_report(
            store, record
        )
        node = await start_node(prepared)
        try:
            done = await admin.wait_for_command(store, queued.id, timeout=10, poll=0.02)
            assert done.status == "done", done.message
            old = await store.service_commands.add(NODE, "tomcat", "stop", requested_by="t")
            later = ControlChannel(
                store,
                NODE,
                node.services,
                poll_interval=60,
                command_ttl=3600,
                clock=lambda: datetime.now(UTC) + timedelta(hours=2),
            )
            assert await later.drain() == 0
            expired = await store.service_commands.get(old.id)
            assert expired is not None and expired.status == "failed"
            assert expired.message.startswith("expired: requested at ")
            assert node.tomcat.running
        finally:
            await node.close()
    finally:
        await store.close()


async def test_node_stop_waits_for_a_command_in_progress(
    prepared: Prepared, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stopping the node while a command runs lets it finish and record its outcome
    (it is never left `running`)."""
    store, tomcat_start = node.store, node.tomcat.start
    started = asyncio.Event()

    async def slow_start() -> dict[str, object]:
        started.set()
        await asyncio.sleep(0.3)
        return await tomcat_start()  # type: ignore[return-value]

    monkeypatch.setattr(node.tomcat, "start", slow_start)
    queued = await admin.request_service(
        store, node_name=NODE, service="Cisco Tomcat", action="restart", requested_by="t"
    )
    await asyncio.wait_for(started.wait(), 10)
    await node.stop()
    record = await store.service_commands.get(queued.id)
    assert record is not None and record.status == "done", record
    assert [s.running for s in node.services] == [False, False, False]
    assert {(await row(node, s))[0] for s in ("callmanager", "tomcat", "tftp")} == {"stopped"}


@pytest.mark.postgresql
async def test_cluster_each_node_executes_only_its_own_commands(
    pg_db_url: str, tmp_path: Path
) -> None:
    """Two nodes on one PostgreSQL database: a restart for node2 reaches it through
    LISTEN/NOTIFY and only it restarts; node1's CallManager keeps its listeners."""
    prepared = await prepare(tmp_path, pg_db_url)
    store = await Store.open(pg_db_url)
    try:
        await initialise(
            store,
            data_dir=tmp_path / "var2",
            hostname="localhost",
            node_name=OTHER,
            cluster_secret=prepared.secret,
        )
    finally:
        await store.close()
    pub = await start_node(prepared)
    sub = await start_node(prepared, node_name=OTHER)
    try:
        pub_port = port_of(pub, "TLS")
        pub_started = await started_at(pub.store, NODE)
        sub_started = await started_at(pub.store, OTHER)
        done = await command(pub.store, "Cisco CallManager", "restart", node=OTHER)
        assert done.status == "done", done.message
        assert f"SIP Phone OAuth Port {port_of(sub, 'TLS')} (TLS)" in done.message
        assert await started_at(pub.store, OTHER) > sub_started  # node2 restarted
        assert await started_at(pub.store, NODE) == pub_started  # node1 did not
        assert port_of(pub, "TLS") == pub_port
        listed = await admin.list_services(pub.store)
        assert [(s.node, s.service, s.state) for s in listed if s.service == "Cisco TFTP"] == [
            (NODE, "Cisco TFTP", "running"),
            (OTHER, "Cisco TFTP", "running"),
        ]
    finally:
        await sub.close()
        await pub.close()

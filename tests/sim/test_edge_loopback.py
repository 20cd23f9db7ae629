"""The edge proxy against a real node on loopback, real TLS everywhere (issue 6 point 3).

A device outside talks TLS to the edge (trusting the edge's CA, as phones do
through phone-edge-trust); the edge talks mutual TLS to the node's SIP MRA
port and web/TFTP HTTPS ports with its client certificate (its CA in
tomcat-trust, made by ``init_edge_dir`` as ``sipoauth edge init`` does).
Three edge identities: ``edge.example.com`` (an entry names it),
``edge2.example.com`` (no entry: its push creates one) and
``stranger.example.com`` (no entry, no push: the node refuses it).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from node._authz_edge import activate, add_phone, new_code, until_known
from node._support import PHONE, PHONE2, Prepared, port_of, prepare, start_node
from sipoauth import admin
from sipoauth.node import Node
from sipoauth.pki import client_ssl_context
from sipoauth.registrar import CoreResult
from sipoauth.sim import (
    DeskPhone,
    DeskPhoneConfig,
    DeviceSettings,
    EdgeAddress,
    PhoneIdentity,
    SipTlsClient,
    register_request,
)
from sipoauth.sim._edge import Edge
from sipoauth.sim._edge_config import EdgeConfig, NodeAddress
from sipoauth.sim._edge_pki import EdgeFiles, init_edge_dir
from sipoauth.sip import Response
from sipoauth.store import Store

EDGE = "edge.example.com"
EDGE2 = "edge2.example.com"
STRANGER = "stranger.example.com"


@dataclass
class World:
    """The module's data directory and edge directories."""

    prepared: Prepared
    edges: dict[str, EdgeFiles]

    def phone_context(self, name: str = EDGE) -> object:
        """What a phone outside trusts for the edge (its CA, from phone-edge-trust)."""
        return client_ssl_context([self.edges[name].ca_cert.read_bytes()])


async def _prepare(root: Path) -> World:
    prepared = await prepare(root)
    now = datetime.now(UTC)
    edges = {name: init_edge_dir(root / name, name, now=now)[0] for name in (EDGE, EDGE2, STRANGER)}
    store = await Store.open(prepared.url)
    try:
        for files in edges.values():  # what the administrator uploads (edge init says so)
            await admin.upload_trust(store, "tomcat-trust", files.ca_cert.read_bytes())
        await admin.upload_trust(store, "phone-edge-trust", edges[EDGE].ca_cert.read_bytes())
        await admin.add_edge(store, address=EDGE, x509_names=[EDGE], description="test edge")
    finally:
        await store.close()
    return World(prepared, edges)


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    root = Path(tempfile.mkdtemp(prefix="helper-edge-"))
    try:
        yield asyncio.run(_prepare(root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def node(world: World) -> AsyncIterator[Node]:
    n = await start_node(world.prepared)
    try:
        yield n
    finally:
        await n.close()


def address_of(node: Node) -> NodeAddress:
    https = [x.port for x in node.listeners if x.protocol == "HTTPS"]
    return NodeAddress(
        "127.0.0.1", port_of(node, "mTLS"), https[0], port_of(node, "HTTP"), https[1]
    )


def dead_address() -> NodeAddress:
    """A node that is down: ports nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return NodeAddress("127.0.0.1", port, port, port, port)


@contextlib.asynccontextmanager
async def running_edge(
    world: World, nodes: list[NodeAddress], name: str = EDGE, **settings: object
) -> AsyncIterator[Edge]:
    files = world.edges[name]
    config = EdgeConfig(
        nodes=tuple(nodes),
        server_cert=files.server_cert,
        server_key=files.server_key,
        client_cert=files.client_cert,
        client_key=files.client_key,
        node_ca_files=(world.prepared.data_dir / "pki" / "ca.pem",),
        public_host=name,
        bind="127.0.0.1",
        sip_port=0,
        web_port=0,
        bootstrap_port=0,
        **{"push_on_start": False, **settings},  # type: ignore[arg-type]
    )
    edge = Edge(config)
    await edge.start()
    try:
        yield edge
    finally:
        await edge.close()


async def phone_to(world: World, edge: Edge, name: str = EDGE) -> SipTlsClient:
    return await SipTlsClient.connect(
        "127.0.0.1", edge.sip_port, world.phone_context(name), server_hostname=name
    )


def ident(device: str = PHONE, line: str = "1001") -> PhoneIdentity:
    return PhoneIdentity(device=device, line=line, domain="localhost")


async def register(client: SipTlsClient, who: PhoneIdentity, token: str, *extra: str) -> Response:
    request = register_request(
        who,
        call_id=str(uuid.uuid4()),
        cseq=1,
        branch=client.next_branch(),
        token=token,
        extra=extra,
    )
    return await client.request(request)


def record_results(node: Node) -> list[CoreResult]:
    """What the node's SIP core gets from now on (connections opened after this)."""
    endpoint = node.callmanager.endpoint
    assert endpoint is not None
    seen: list[CoreResult] = []
    original: Callable[[CoreResult], None] = endpoint.on_result

    def observe(result: CoreResult) -> None:
        seen.append(result)
        original(result)

    endpoint.on_result = observe
    return seen


async def wait_for(check: Callable[[], bool], what: str) -> None:
    """A generous bound for something the node does in the background."""
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


# -- SIP ---------------------------------------------------------------------------------


async def test_register_through_edge_records_its_path(
    world: World, node: Node, capfd: pytest.CaptureFixture[str]
) -> None:
    """RFC 3327: the node's binding keeps the edge's Path (routes requests to the
    device through it); the device's 200 lists it only with Supported: path."""
    async with running_edge(world, [address_of(node)]) as edge:
        assert edge.path == f"<sip:{EDGE}:{edge.sip_port};transport=tls;lr>"
        client = await phone_to(world, edge)
        try:
            token = world.prepared.mint()
            reply = await register(client, ident(), token)
            assert reply.status == 200, reply
            assert "path" not in reply.headers
            assert len(reply.values("via")) == 1  # the edge's own Via was removed
            [binding] = node.registrar.table.lookup("sip:1001@localhost").values()
            assert binding.path == (edge.path,) and binding.via_edge
            again = await register(client, ident(), token, "Supported: path")
            assert again.status == 200 and again.get_all("path") == [edge.path]
        finally:
            await client.close()
    assert token not in capfd.readouterr().err  # STYLE.md rule 10


async def test_notify_on_reset_reaches_the_phone_and_its_200_goes_back(
    world: World, node: Node
) -> None:
    """RFC 3327 §5.4: the node routes NOTIFY check-sync by the recorded Path; the
    edge takes its Route off, relays it down the device's flow and the answer up."""
    seen = record_results(node)
    async with running_edge(world, [address_of(node)]) as edge:
        client = await phone_to(world, edge)
        try:
            assert (
                await register(client, ident(PHONE2, "2001"), world.prepared.mint(PHONE2))
            ).status == 200
            await admin.reset_device(node.store, PHONE2, action="reset")
            notify = await client.next_request()
            assert notify.method == "NOTIFY" and notify.get("event") == "check-sync;reboot=true"
            assert "route" not in notify.headers
            assert notify.top_via.host == EDGE and len(notify.values("via")) == 2
            await wait_for(
                lambda: any("response received" in r.detail for r in seen), "the phone's 200"
            )
        finally:
            await client.close()


async def test_malformed_sip_is_answered_by_the_edge_and_never_reaches_the_node(
    world: World, node: Node
) -> None:
    seen = record_results(node)
    async with running_edge(world, [address_of(node)]) as edge:
        client = await phone_to(world, edge)
        try:
            broken = register_request(
                ident(), call_id="c-1", cseq=1, branch=client.next_branch(), token="t"
            ).replace(b"CSeq: 1 REGISTER", b"CSeq: 1 INVITE")
            reply = await client.request(broken)
            assert (reply.status, reply.reason) == (
                400,
                "CSeq method does not match the request method",
            )
            assert len(reply.values("via")) == 1
            too_many_hops = register_request(
                ident(), call_id="c-2", cseq=1, branch=client.next_branch(), token="t"
            ).replace(b"Max-Forwards: 70", b"Max-Forwards: 0")
            assert (await client.request(too_many_hops)).status == 483
            # the connection goes on
            assert (await register(client, ident(), world.prepared.mint())).status == 200
        finally:
            await client.close()
    assert [(r.method, r.status) for r in seen] == [("REGISTER", 200)]


async def test_keepalive_ping_is_answered_by_the_edge(world: World, node: Node) -> None:
    """RFC 5626 §4.4.1: a CRLF CRLF ping gets a CRLF pong."""
    async with running_edge(world, [address_of(node)]) as edge:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", edge.sip_port, ssl=world.phone_context(), server_hostname=EDGE
        )
        try:
            writer.write(b"\r\n\r\n")
            await writer.drain()
            async with asyncio.timeout(5):
                assert await reader.readexactly(2) == b"\r\n"
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


async def test_an_edge_whose_certificate_no_entry_names_is_refused(
    world: World, node: Node, capfd: pytest.CaptureFixture[str]
) -> None:
    """R6: the node drops the stranger's mutual-TLS connection after the handshake;
    the phone gets 503 from the edge and the edge's log says what to check."""
    async with running_edge(world, [address_of(node)], STRANGER) as edge:
        client = await phone_to(world, edge, STRANGER)
        try:
            reply = await register(client, ident(), world.prepared.mint())
            assert reply.status == 503
            assert reply.get("retry-after") == "30"
            assert "399 stranger.example.com" in (reply.get("warning") or "")
            assert not node.registrar.table.lookup("sip:1001@localhost")
        finally:
            await client.close()
    err = capfd.readouterr().err
    assert "node refused this edge" in err and "--x509-name stranger.example.com" in err


async def test_node_down_the_next_one_is_used(world: World, node: Node) -> None:
    dead = dead_address()
    async with running_edge(world, [dead, address_of(node)]) as edge:
        client = await phone_to(world, edge)
        try:
            assert (await register(client, ident(), world.prepared.mint())).status == 200
        finally:
            await client.close()
        async with edge_web(world, edge) as web:
            assert (await web.get("/caconfig.json")).status_code == 200
        # the dead node is tried last for a while
        assert edge.selector.order(time.monotonic()) == [address_of(node), dead]


async def test_no_node_reachable_sip_503_and_http_502(world: World) -> None:
    async with running_edge(world, [dead_address()], unavailable_grace=0.5) as edge:
        client = await phone_to(world, edge)
        try:
            reply = await register(client, ident(), "t")
            assert reply.status == 503 and reply.get("retry-after") == "30"
        finally:
            await client.close()
        async with edge_web(world, edge) as web:
            answer = await web.get("/caconfig.json")
        assert answer.status_code == 502
        assert answer.json()["error"] == "bad_gateway"


async def test_push_creates_the_entry_and_the_edge_is_then_accepted(
    world: World, node: Node
) -> None:
    """The reference's push: the node reads the names from the edge's certificate."""
    async with running_edge(world, [address_of(node)], EDGE2, push_on_start=True) as edge:
        outcome = edge.push_outcome
        assert outcome is not None and outcome.ok and outcome.detail == EDGE2
        [entry] = [e for e in await admin.find_edges(node.store) if e.address == EDGE2]
        assert list(entry.x509_names) == [EDGE2] and entry.description == "sipoauth edge"
        await wait_for(lambda: any(e.address == EDGE2 for e in node.edges), "the node's reload")
        client = await phone_to(world, edge, EDGE2)
        try:
            assert (await register(client, ident(), world.prepared.mint())).status == 200
        finally:
            await client.close()
        # and its HTTPS requests count as via MRA from the first one on
        phone = await add_phone(node.store, allow_mra=False)
        code = await new_code(node.store, phone.name)
        async with edge_web(world, edge, EDGE2) as web:
            refused = await activate(web, code, phone)
        assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"


async def test_a_simulated_desk_phone_onboards_registers_and_resyncs_through_the_edge(
    world: World, node: Node
) -> None:
    """The product's desk-phone simulator outside (``sipoauth sim phone --edge``):
    caconfig.json from the edge's bootstrap port, its activation code and its
    file (the MRA variant, which names this edge) through the edge's HTTPS port,
    registration at the edge, then an Apply Config's NOTIFY through the edge
    makes it fetch its file again and re-register; it unregisters on stop."""
    phone = await add_phone(node.store, allow_mra=True)
    code = await new_code(node.store, phone.name)
    await until_known(node, phone.name)
    async with running_edge(world, [address_of(node)]) as edge:
        await admin.update_edge(  # what the MRA variant tells the phone to use
            node.store,
            EDGE,
            public_host="localhost",
            public_sip_port=edge.sip_port,
            public_web_port=edge.web_port,
        )
        await node.load()  # (what the change's notification does, without the wait)
        outside = EdgeAddress("localhost", edge.sip_port, edge.web_port, edge.bootstrap_port)
        device = DeskPhone(
            DeskPhoneConfig(
                mac=phone.mac, model=phone.model, activation_code=code, edge=outside,
                settings=DeviceSettings(
                    retry_after_max=0.3, prerequisite_attempts=20, config_attempts=20,
                    config_retry_delay=0.25, request_timeout=5.0, http_timeout=10.0,
                    stop_grace=5.0,
                ),
            )
        )  # fmt: skip
        await device.start()
        try:
            await device.wait_for("registered", timeout=30)
            config = device.log.find("config")
            assert config is not None and "(mra," in config.message
            [binding] = [b for b in node.registrar.table if b.device == phone.name]
            assert binding.path == (edge.path,)
            mark = device.mark()
            await admin.reset_device(node.store, phone.name, action="apply-config")
            resync = await device.wait_for("notify", since=mark, timeout=30)
            assert "re-registered" in resync.message
        finally:
            await device.stop()
        assert device.log.find("unregistered") is not None
        assert not [b for b in node.registrar.table if b.device == phone.name]


# -- HTTP ----------------------------------------------------------------------------------


def edge_web(world: World, edge: Edge, name: str = EDGE) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        verify=world.phone_context(name),  # type: ignore[arg-type]
        base_url=f"https://localhost:{edge.web_port}",
        timeout=20,
    )


async def test_token_through_the_edge_counts_as_via_mra(world: World, node: Node) -> None:
    """R12: a desk phone without "Allow Activation Code via MRA" is refused through the
    edge (the node saw the edge's certificate), while its code works directly."""
    phone = await add_phone(node.store, allow_mra=False)
    code = await new_code(node.store, phone.name)
    async with running_edge(world, [address_of(node)]) as edge, edge_web(world, edge) as web:
        refused = await activate(web, code, phone)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"] == "unauthorized_client"
        assert refused.headers["via"].endswith(f"1.1 {EDGE}")
    direct_context = client_ssl_context([world.prepared.ca_pem])
    direct_url = f"https://localhost:{port_of(node, 'HTTPS')}"
    async with httpx.AsyncClient(verify=direct_context, base_url=direct_url) as direct:
        accepted = await activate(direct, code, phone)
    assert accepted.status_code == 200, accepted.text


async def test_device_file_through_the_edge_is_the_mra_variant(world: World, node: Node) -> None:
    phone = await add_phone(node.store, allow_mra=True)
    code = await new_code(node.store, phone.name)
    async with running_edge(world, [address_of(node)]) as edge, edge_web(world, edge) as web:
        grant = await activate(web, code, phone, headers={"X-Forwarded-For": "203.0.113.9"})
        assert grant.status_code == 200, grant.text
        token = grant.json()["access_token"]
        await until_known(node, phone.name)
        bearer = {"Authorization": f"Bearer {token}"}
        via_edge = await web.get(f"/{phone.name}.cnf.xml", headers=bearer)
        assert via_edge.status_code == 200, via_edge.text
        assert "<accessMode>mra</accessMode>" in via_edge.text
        zipped = await web.get(
            f"/{phone.name}.cnf.xml.sgn", headers={**bearer, "Accept-Encoding": "gzip"}
        )
        assert zipped.headers["content-encoding"] == "gzip"  # passed through as sent
        assert "<accessMode>mra</accessMode>" in zipped.text  # (httpx unzipped it)
        metadata = await web.get("/.well-known/oauth-authorization-server")
        assert metadata.status_code == 200 and "token_endpoint" in metadata.json()
    direct_context = client_ssl_context([world.prepared.ca_pem])
    direct_url = f"https://localhost:{address_of(node).tftp_secure_port}"
    async with httpx.AsyncClient(verify=direct_context, base_url=direct_url) as direct:
        on_premises = await direct.get(f"/{phone.name}.cnf.xml", headers=bearer)
    assert "<accessMode>on-premises</accessMode>" in on_premises.text


async def test_only_the_allowed_paths_and_bounded_bodies(world: World, node: Node) -> None:
    async with running_edge(world, [address_of(node)], max_body_size=1024) as edge:
        async with edge_web(world, edge) as web:
            assert (await web.get("/caconfig.json")).status_code == 200
            for path in ("/api/v1/edges", "/ssosp/token/revoke", "/oauth/introspect", "/x/y"):
                answer = await web.get(path)
                assert answer.status_code == 404, path
                assert answer.json()["error"] == "not_found"
            wrong = await web.post("/caconfig.json")
            assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
            large = await web.post("/oauth/token", content=b"x" * 2048)
            assert large.status_code == 413
        bootstrap = f"http://127.0.0.1:{edge.bootstrap_port}"
        async with httpx.AsyncClient(base_url=bootstrap) as plain:
            assert (await plain.get("/caconfig.json")).status_code == 200
            # The default file names the cluster's servers: never outside.
            assert (await plain.get("/XMLDefault.cnf.xml")).status_code == 404
            assert (await plain.get(f"/{PHONE}.cnf.xml")).status_code == 404
            assert (await plain.get("/oauth/jwks")).status_code == 404

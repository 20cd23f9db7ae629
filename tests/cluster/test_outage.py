"""A PostgreSQL outage, for real (docs/cluster.md "Database outage").

Two nodes (node1 publishes, node2 subscribes) on a PostgreSQL server of this
module's own (``own_pg_server``): the test stops it as a crash would
(``pg_ctl stop -m immediate``) while phones are registered, and starts it
again. What the documentation promises is what is checked here:

- during the outage the nodes keep serving from memory: re-REGISTERs, a new
  REGISTER with a token the keys in memory verify, and an unREGISTER get
  their answer, at once, and a phone gets its configuration file;
- what needs the database fails clearly and at once: the token endpoint
  answers 503 ``temporarily_unavailable`` with ``Retry-After``, the admin API
  503 ``unavailable`` with ``Retry-After``, the admin layer raises
  ``StoreUnavailable``;
- the binding mirror keeps its changes, one per binding at most (phones
  coming and going do not grow it), and writes them once the database is
  back; after the lost connection each node also writes its bindings again
  and deletes its rows it does not hold, so the registrations table holds
  exactly what the nodes hold even when the database lost writes;
- LISTEN comes back: a revocation and a reset made after the restart reach
  the nodes; the activation code refused during the outage still works;
- a listener subscribed while the database is down (a node starting as it
  goes away) is not lost: it is told to catch up once the database is back;
- a URL naming two hosts (a failover pair) serves queries and LISTEN alike
  from the one that answers.

Waits are bounds, never timing assertions.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx
import psycopg
import pytest
import pytest_asyncio
from psycopg import sql
from sqlalchemy.engine import make_url

from node._support import NODE, PHONE, PHONE2
from sim._simnode import free_ports
from sipoauth import admin
from sipoauth.node import Node
from sipoauth.oauth import ACTIVATION_GRANT, DESK_PHONE_CLIENT
from sipoauth.pki import client_ssl_context
from sipoauth.sim import PhoneIdentity, SipTlsClient, register_request
from sipoauth.sip import Response
from sipoauth.store import CATCH_UP, Store, StoreUnavailable

from .conftest import PHONE3, Cluster, _setup

pytestmark = pytest.mark.postgresql

BOUND = 15.0
"""Seconds anything may take before the test gives up (a bound, not a measure)."""
NODE2 = "node2"
LINES = {PHONE: "1001", PHONE2: "2001", PHONE3: "3001"}
ADMIN = ("admin", "test-password")
"""The administrator ``prepare`` made."""


class PgServer(Protocol):
    """What the test needs of ``own_pg_server`` (tests/conftest.py)."""

    @property
    def url(self) -> str: ...
    def halt(self) -> None: ...
    def resume(self) -> None: ...


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def outage_db_url(own_pg_server: PgServer) -> Iterator[str]:
    """A fresh database on the module's own server (dropped after, server running)."""
    name = f"outage_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(own_pg_server.url), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_url(own_pg_server.url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_conninfo(own_pg_server.url), autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


class Outage:
    """Stops the module's server and starts it again (at the latest when the test ends)."""

    def __init__(self, server: PgServer) -> None:
        self.server = server
        self.down = False

    async def begin(self) -> None:
        """``pg_ctl stop -m immediate``: every connection drops, as in a crash."""
        await asyncio.to_thread(self.server.halt)  # the nodes' loop keeps running
        self.down = True

    async def end(self) -> None:
        """Start the server again (crash recovery), if it is down."""
        if self.down:
            await asyncio.to_thread(self.server.resume)
            self.down = False


@pytest_asyncio.fixture
async def outage(own_pg_server: PgServer) -> AsyncIterator[Outage]:
    """Control of the outage; the server is running again after the test."""
    control = Outage(own_pg_server)
    try:
        yield control
    finally:
        await control.end()


@pytest_asyncio.fixture
async def two_nodes(outage_db_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    """node1 (publisher) and node2 (subscriber) running on ``outage_db_url``."""
    prepared, ports = await _setup(tmp_path, outage_db_url)
    cluster = Cluster(prepared, {}, ports)
    try:
        for name in (NODE, NODE2):
            await cluster.start(name)
        yield cluster
    finally:
        for name in list(cluster.nodes)[::-1]:
            await cluster.stop(name)


async def until(predicate: Callable[[], Awaitable[bool]], what: str, bound: float = BOUND) -> None:
    """Poll ``predicate`` until it holds; a database not back yet counts as 'not yet'."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    last: object = None
    while True:
        try:
            if await predicate():
                return
        except StoreUnavailable as exc:
            last = exc
        if loop.time() > deadline:
            raise AssertionError(f"not within {bound} s: {what}; last: {last!r}")
        await asyncio.sleep(0.05)


@dataclasses.dataclass
class Phone:
    """One registration: a TLS connection, a Call-ID and its CSeq (RFC 3261 §10.2.4)."""

    client: SipTlsClient
    ident: PhoneIdentity
    token: str
    call_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    cseq: int = 0

    async def register(self, expires: int = 3600) -> Response:
        """REGISTER (``expires=0``: unREGISTER); the answer, within the bound."""
        self.cseq += 1
        request = register_request(
            self.ident,
            call_id=self.call_id,
            cseq=self.cseq,
            branch=self.client.next_branch(),
            token=self.token,
            expires=expires,
        )
        return await self.client.request(request, timeout=BOUND)


async def phone(cluster: Cluster, node: str, device: str, sid: str) -> Phone:
    """A phone connected to ``node`` with a token of grant ``sid`` (not registered yet)."""
    context = client_ssl_context([cluster.prepared.ca_pem])
    client = await SipTlsClient.connect(
        "127.0.0.1", cluster.ports[node]["oauth_port"], context, server_hostname="localhost"
    )
    ident = PhoneIdentity(device=device, line=LINES[device], domain="localhost")
    return Phone(client, ident, cluster.prepared.mint(device, sid=sid))


def held(node: Node, device: str) -> int:
    """Bindings of ``device`` in the node's memory."""
    assert node.registrar is not None
    return sum(1 for b in node.registrar.table if b.device == device)


async def mirrored(store: Store) -> set[tuple[str, str]]:
    """(node, device) of every row of the registrations table."""
    return {(r.node_name, r.device_name) for r in await store.registrations.list()}


async def listening_sessions(url: str) -> int:
    """Sessions of the test's database whose last statement was a LISTEN, done."""
    async with await psycopg.AsyncConnection.connect(_conninfo(url), autocommit=True) as conn:
        cursor = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state = 'idle' AND query ILIKE 'LISTEN%'"
        )
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


def web(cluster: Cluster, name: str) -> httpx.AsyncClient:
    """An HTTPS client of node ``name``'s web port (Tomcat), with a bound on every call."""
    return httpx.AsyncClient(
        base_url=f"https://localhost:{cluster.ports[name]['web_port']}",
        verify=client_ssl_context([cluster.prepared.ca_pem]),
        timeout=BOUND,
    )


def activation_form(code: str) -> dict[str, str]:
    """PHONE3 redeeming its activation code (docs/oauth.md "Activation codes")."""
    return {
        "grant_type": ACTIVATION_GRANT,
        "client_id": DESK_PHONE_CLIENT,
        "activation_code": code,
        "mac": PHONE3.removeprefix("SEP"),
        "model": "8851",
    }


async def test_nodes_serve_their_phones_through_a_database_outage_and_catch_up(
    two_nodes: Cluster, outage: Outage
) -> None:
    cluster = two_nodes
    node1, node2 = cluster.nodes[NODE], cluster.nodes[NODE2]
    # An administrator's process elsewhere (the CLI): its own connections.
    store = await Store.open(cluster.prepared.url)
    phones: list[Phone] = []
    try:
        await admin.add_user(store, "alice")
        await store.grants.create("grant-alice", PHONE2, "phone", user_id="alice")
        # Through node1's store: it holds the cluster secret that private keys (the
        # activation codes' hashing key among them) are sealed with (issue 8 point 4).
        code, _ = await admin.generate_activation_code(node1.store, PHONE3, now=datetime.now(UTC))

        one = await phone(cluster, NODE, PHONE, "grant-one")
        two = await phone(cluster, NODE2, PHONE2, "grant-alice")
        phones += [one, two]
        for p in (one, two):
            assert (await p.register()).status == 200
        await node1.flush()
        await node2.flush()
        assert await mirrored(store) == {(NODE, PHONE), (NODE2, PHONE2)}
        # A crash can also lose writes the nodes saw committed (a failover to a
        # standby that had not received them): PHONE2's row is lost, a row node2
        # deleted is back. Done by hand: this server loses nothing.
        rows = {r.device_name: r for r in await store.registrations.list()}
        await store.registrations.delete_many([rows[PHONE2].key])
        gone = dataclasses.replace(
            rows[PHONE], node_name=NODE2, instance=f"urn:uuid:{uuid.uuid4()}"
        )
        await store.registrations.upsert_many([gone])
        assert await mirrored(store) == {(NODE, PHONE), (NODE2, PHONE)}

        # -- the database goes away -----------------------------------------------------
        await outage.begin()

        # Registered phones refresh, a new phone registers with a token the keys
        # in memory verify (grant-three was never stored), one phone leaves, and
        # registrations come and go: all answered from memory.
        for p in (one, two):
            assert (await p.register()).status == 200
        three = await phone(cluster, NODE2, PHONE3, "grant-three")
        passing = await phone(cluster, NODE, PHONE, "grant-passing")
        phones += [three, passing]
        assert (await three.register()).status == 200
        for _ in range(20):
            passing.ident.instance = f"urn:uuid:{uuid.uuid4()}"
            assert (await passing.register()).status == 200
            assert (await passing.register(expires=0)).status == 200
        assert (await one.register(expires=0)).status == 200
        assert (held(node1, PHONE), held(node2, PHONE2), held(node2, PHONE3)) == (0, 1, 1)
        # A phone's configuration file comes from the node's memory (TFTP, 6971).
        async with httpx.AsyncClient(
            base_url=f"https://localhost:{cluster.ports[NODE2]['tftp_secure_port']}",
            verify=client_ssl_context([cluster.prepared.ca_pem]),
            timeout=BOUND,
        ) as tftp:
            answer = await tftp.get(
                f"/{PHONE2}.cnf.xml", headers={"Authorization": f"Bearer {two.token}"}
            )
            assert answer.status_code == 200, answer.text
            assert f"<name>{PHONE2}</name>" in answer.text

        # The mirror keeps what it could not write, one change per binding: node1
        # the removal of PHONE's row (the passing registrations, never written,
        # are nothing to do), node2 PHONE3's new row (a refresh is not a change).
        await node1.flush()
        # (Plus, at most, the removal of one passing registration: when a periodic
        # flush failed between its REGISTER and its removal, the row may exist.)
        assert node1.mirror.failing and node1.mirror.backlog in (1, 2)
        await node2.flush()
        assert (node2.mirror.failing, node2.mirror.backlog) == (True, 1)

        # What needs the database says so at once, clearly: the token endpoint…
        async with web(cluster, NODE) as client:
            answer = await client.post("/oauth/token", data=activation_form(code))
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"] == "temporarily_unavailable"
            assert int(answer.headers["retry-after"]) > 0
            assert answer.headers["cache-control"] == "no-store"
            # … the admin API (the administrator not checked yet: the check needs it) …
            answer = await client.get("/api/v1/registrations", auth=ADMIN)
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"] == "unavailable"
            assert int(answer.headers["retry-after"]) > 0
            # … the admin pages and the admin's OAuth endpoints (no traceback, no 500).
            form = await client.get("/admin/signin")
            assert form.status_code == 200  # the form itself needs no database
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token is not None
            answer = await client.post(
                "/admin/signin",
                data={"csrf_token": token.group(1), "username": "admin", "password": "x"},
                headers={"Origin": str(client.base_url).rstrip("/")},  # as a browser does
            )
            assert answer.status_code == 503, answer.text
            assert "Database not available" in answer.text
            assert int(answer.headers["retry-after"]) > 0
            answer = await client.post("/oauth/introspect", data={"token": "t"}, auth=ADMIN)
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"] == "temporarily_unavailable"
            assert int(answer.headers["retry-after"]) > 0
        # … and the admin layer (the CLI).
        with pytest.raises(StoreUnavailable):
            await admin.reset_device(store, PHONE2, action="reset")

        # -- the database is back ---------------------------------------------------------
        await outage.end()

        async def table_matches_memory() -> bool:
            written = all(not n.mirror.failing and n.mirror.backlog == 0 for n in (node1, node2))
            return written and await mirrored(store) == {(NODE2, PHONE2), (NODE2, PHONE3)}

        await until(table_matches_memory, "the mirrors wrote what waited, and only that")

        async def both_nodes_listen() -> bool:
            return await listening_sessions(cluster.prepared.url) >= 2

        await until(both_nodes_listen, "both nodes LISTEN again")

        # A revocation by an administrator reaches node2, which drops the binding…
        revoked = await admin.set_user_active(store, "alice", False, now=datetime.now(UTC))
        assert [g.sid for g in revoked] == ["grant-alice"]

        async def binding_dropped() -> bool:
            return held(node2, PHONE2) == 0

        await until(binding_dropped, "node2 dropped the revoked grant's binding")

        # … a reset reaches the phone node2 holds …
        await admin.reset_device(store, PHONE3, action="reset")
        notify = await three.client.next_request(timeout=BOUND)
        assert (notify.method, notify.get("event")) == ("NOTIFY", "check-sync;reboot=true")

        # … the mirror follows, and the code refused during the outage was not spent.
        async def revoked_row_gone() -> bool:
            return await mirrored(store) == {(NODE2, PHONE3)}

        await until(revoked_row_gone, "the revoked binding's row is gone")
        async with web(cluster, NODE) as client:
            answer = await client.post("/oauth/token", data=activation_form(code))
            assert answer.status_code == 200, answer.text
            assert answer.json()["token_type"] == "Bearer"
    finally:
        for p in phones:
            await p.client.close()
        await store.close()


async def test_a_listener_subscribed_while_the_database_is_down_catches_up(
    outage_db_url: str, outage: Outage
) -> None:
    """A node's watchers subscribe as it starts: one that does so just as the
    database goes away must not die, or the node would never hear that channel."""
    store = await Store.open(outage_db_url)
    sub = store.listen("outage")
    try:
        await outage.begin()
        async with asyncio.timeout(BOUND):
            await sub.ready()  # neither an error nor a hang
        await outage.end()
        async with asyncio.timeout(BOUND):
            assert await anext(sub) == CATCH_UP
            await store.notify("outage", "after")
            assert await anext(sub) == "after"
    finally:
        await sub.aclose()
        await store.close()


async def test_a_url_naming_two_hosts_listens_on_the_one_that_answers(outage_db_url: str) -> None:
    """docs/cluster.md: a failover pair in the URL (``?host=a:5432&host=b:5432``,
    tried in order). The first here has nothing listening; the engine and the
    LISTEN connection both reach the second."""
    url = make_url(outage_db_url)
    (nobody,) = free_ports(1)
    pair = url.set(host=None, port=None).update_query_pairs(
        [("host", f"127.0.0.1:{nobody}"), ("host", f"127.0.0.1:{url.port}")]
    )
    store = await Store.open(pair)
    try:
        async with store.listen("pair") as sub, asyncio.timeout(BOUND):
            await store.notify("pair", "hello")
            assert await anext(sub) == "hello"
    finally:
        await store.close()

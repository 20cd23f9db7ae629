"""The REST API on a real store, in memory (httpx ``ASGITransport``)."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp, Receive, Scope, Send

from sipoauth import admin
from sipoauth.node import Node, NodeConfig, initialise
from sipoauth.oauth import Peer
from sipoauth.pki import NodePki
from sipoauth.store import Store
from sipoauth.web import ApiContext, ApiSettings, build_web_app

ADMIN = "admin"
PASSWORD = "test-password"
NODE = "node1"
BASE = "https://node.example.com"
API = "/api/v1"


@dataclass
class Clock:
    """Both clocks of the API, moved by the tests."""

    wall: datetime = field(default_factory=lambda: datetime.now(UTC))
    mono: float = 1000.0

    def now(self) -> datetime:
        return self.wall

    def monotonic(self) -> float:
        return self.mono

    def advance(self, seconds: float) -> None:
        self.wall += timedelta(seconds=seconds)
        self.mono += seconds


@dataclass
class Api:
    """An API app on a fresh store, with clients."""

    store: Store
    node: Node
    app: ASGIApp
    clock: Clock
    data_dir: Path
    checks: list[str]
    """User names the admin check (argon2) was asked about, in order."""
    peer: list[Peer | None]
    """The TLS peer every request is made from (None: no state, as ASGI tests)."""
    context: ApiContext

    def client(
        self, auth: Any = (ADMIN, PASSWORD), *, app: ASGIApp | None = None, **kw: Any
    ) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app or self.app)
        return httpx.AsyncClient(transport=transport, base_url=BASE + API, auth=auth, **kw)

    def app_of(self, context: ApiContext) -> ASGIApp:
        """Another web app on the same store and node, with ``context``."""
        return build_web_app(self.node._authz, self.node._check_admin, api=context)


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


class _WithPeer:
    """Puts a TLS peer into the scope's state, as the node's web listener does."""

    def __init__(self, app: ASGIApp, peer: list[Peer | None]) -> None:
        self.app = app
        self.peer = peer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.peer[0] is not None and scope["type"] == "http":
            scope = {**scope, "state": {**scope.get("state", {}), "peer": self.peer[0]}}
        await self.app(scope, receive, send)


async def prepare(url: str, data_dir: Path) -> None:
    """Initialise a migrated store at ``url`` as the publisher ``node1``."""
    store = await Store.open(url)
    try:
        await initialise(
            store, data_dir=data_dir, hostname="localhost", node_name=NODE, admin_password=PASSWORD
        )
    finally:
        await store.close()


@asynccontextmanager
async def open_api(
    url: str, data_dir: Path, *, settings: ApiSettings | None = None
) -> AsyncIterator[Api]:
    """The web app (with the API) of node ``node1`` on a prepared store."""
    store = await Store.open(url)
    await store.unlock_from(data_dir)  # as a node does: it reads sealed keys
    try:
        config = NodeConfig(
            data_dir=data_dir, database_url=url, node_name=NODE, hostname="localhost"
        )
        pki, _ = NodePki.load_or_create(
            data_dir / "pki", hostname="localhost", now=datetime.now(UTC)
        )
        node = Node(config, store, pki)
        await node.load()
        clock = Clock()
        checks: list[str] = []
        real_check = node._check_admin

        async def counting_check(username: str, password: str, peer: Peer) -> bool:
            checks.append(username)
            return await real_check(username, password, peer)

        context = ApiContext(
            store=store,
            node_name=NODE,
            hostname="localhost",
            settings=settings or ApiSettings(),
            now=clock.now,
            monotonic=clock.monotonic,
        )
        peer: list[Peer | None] = [None]
        app = build_web_app(node._authz, counting_check, api=context)
        yield Api(store, node, _WithPeer(app, peer), clock, data_dir, checks, peer, context)
    finally:
        await store.close()


async def snapshot(store: Store) -> dict[str, Any]:
    """Everything an API call could change, to compare before and after a refusal."""
    now = datetime.now(UTC)
    return {
        "settings": await store.settings.get_many(),
        "nodes": await store.nodes.list(),
        "profiles": await store.profiles.list(),
        "devices": await store.devices.list(),
        "users": await store.users.list(),
        "edges": await store.edges.list(),
        "mra": await store.mra_domains.list(),
        "callmanager_groups": await store.callmanager_groups.list(),
        "trust": [await store.trusted_certs.list(name) for name in admin.TRUST_STORES],
        "keys": await store.keys.list(),
        "codes": await admin.list_activation_codes(store, now=now),
        "services": await store.node_services.list(),
        "audit": await admin.list_audit(store, limit=admin.AUDIT_LIST_MAX),
    }


async def unchanged(
    store: Store, before: dict[str, Any], call: Callable[[], Awaitable[Any]]
) -> Any:
    """Run ``call``; assert the store is as ``before``; return what ``call`` returned."""
    result = await call()
    assert await snapshot(store) == before
    return result


def replace_peer(peer: Peer, **changes: Any) -> Peer:
    return dataclasses.replace(peer, **changes)

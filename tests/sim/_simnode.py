"""A real node on loopback for the device simulators (issue 6).

The simulated devices read everything from the node as a phone does — the
phone-edge-trust bundle and ``XMLDefault.cnf.xml`` on the bootstrap port,
then their file on 6971, whose node list names the ports to register on — so
the servers table must hold the ports the node really binds. Free ports are
chosen first and written to the server record (``admin.set_server_ports``)
before the node starts, and the issuer (whose token endpoint the files name)
is the node's real web port. The node's CA goes to phone-edge-trust (R3).
"""

from __future__ import annotations

import asyncio
import random
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from node._support import NODE, Prepared, prepare
from sipoauth import admin
from sipoauth.admin import _settings as keys
from sipoauth.node import Node, NodeConfig
from sipoauth.sim import DeviceSettings, ServerAddress
from sipoauth.store import Store

PORT_RANGE = (20000, 32000)
"""Below Linux's ephemeral range, inside the servers' 1024-49151 (R5)."""
PORT_FIELDS = (
    "sip_port",
    "secure_sip_port",
    "oauth_port",
    "mra_port",
    "web_port",
    "tftp_port",
    "tftp_secure_port",
)
FAST = DeviceSettings(
    renew_fraction=0.75,
    retry_after_max=0.3,
    prerequisite_attempts=20,
    config_attempts=20,
    config_retry_delay=0.25,
    request_timeout=5.0,
    http_timeout=10.0,
    stop_grace=5.0,
)
"""Device settings for tests: a 403 + Retry-After (node not yet told of a new
device) is retried after 0.3 s instead of 35 s."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports nothing listens on now (TCP, 127.0.0.1)."""
    ports: list[int] = []
    while len(ports) < count:
        port = random.randint(*PORT_RANGE)
        if port in ports:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        ports.append(port)
    return ports


@dataclass
class SimNode:
    """A running node whose server record lists its real ports."""

    prepared: Prepared
    node: Node
    ports: dict[str, int]

    @property
    def store(self) -> Store:
        return self.node.store

    @property
    def server(self) -> ServerAddress:
        """What a phone is told (``--server localhost:<bootstrap>``)."""
        return ServerAddress("localhost", self.ports["tftp_port"])

    async def new_phone(
        self, *, lines: int = 1, group: str | None = None, model: str = "8851"
    ) -> tuple[str, str, list[str]]:
        """A desk phone with the OAuth profile and a fresh activation code:
        (MAC, code, lines)."""
        mac = secrets.token_hex(6).upper()
        dns = [unique_dn() for _ in range(lines)]
        await admin.add_device(
            self.store,
            name=f"SEP{mac}",
            model=model,
            lines=dns,
            profile=admin.OAUTH_PROFILE,
            callmanager_group=group,
        )
        code, _ = await admin.generate_activation_code(
            self.store, f"SEP{mac}", now=datetime.now(UTC)
        )
        await self.until_known(f"SEP{mac}")
        return mac, code, dns

    async def until_known(self, device: str) -> None:
        """Wait until the node has heard of ``device`` (the "config" notification;
        the store polls on SQLite). A bound, not a timing assertion; the
        simulators would retry anyway, as phones do, but more slowly."""
        for _ in range(400):
            if self.node.directory.device(device) is not None:
                return
            await asyncio.sleep(0.025)
        await self.node.load()

    async def new_user(self, client_type: str = "CSF") -> tuple[str, str, str]:
        """An end user owning a soft client: (user id, password, device)."""
        user = f"user{secrets.token_hex(4)}"
        password = f"pw-{secrets.token_urlsafe(12)}"
        await admin.add_user(self.store, user, password=password)
        device = f"{client_type}{secrets.token_hex(4).upper()}"
        await admin.add_device(
            self.store,
            name=device,
            model=client_type,
            lines=[unique_dn()],
            profile=admin.OAUTH_PROFILE,
            owner=user,
        )
        await self.until_known(device)
        return user, password, device

    async def close(self) -> None:
        await self.node.close()


_numbers = iter(range(1, 1 << 30))


def unique_dn() -> str:
    return f"8{secrets.randbelow(10**6):06d}{next(_numbers):03d}"


async def start_sim_node(
    root: Path,
    *,
    access_minutes: int = 1,
    before_start: Callable[[Store], Awaitable[None]] | None = None,
) -> SimNode:
    """Prepare a data directory (SIP OAuth mode on, licensed), give the server free
    ports, trust its CA for phones, enable the refresh login flow, run
    ``before_start`` (trust stores are read when the services start), start the node."""
    prepared = await prepare(root)
    ports = dict(zip(PORT_FIELDS, free_ports(len(PORT_FIELDS)), strict=True))
    store = await Store.open(prepared.url)
    try:
        await admin.set_server_ports(store, NODE, **ports)
        await store.settings.set(keys.ISSUER, f"https://localhost:{ports['web_port']}")
        await admin.upload_trust(store, "phone-edge-trust", prepared.ca_pem)
        await admin.set_parameter(store, "OAuth with Refresh Login Flow", "Enabled")
        await admin.set_parameter(
            store, "OAuth Access Token Expiry Timer (minutes)", str(access_minutes)
        )
        if before_start is not None:
            await before_start(store)
    finally:
        await store.close()
    node = await Node.open(
        NodeConfig(
            data_dir=prepared.data_dir,
            database_url=prepared.url,
            node_name=NODE,
            hostname="localhost",
            bind="127.0.0.1",
        )
    )
    await node.start()
    return SimNode(prepared, node, ports)

"""A three-node cluster on one throwaway PostgreSQL database (issue 8 point 5).

node1 is the publisher (``prepare`` runs ``initialise`` for it: licensed, SIP
OAuth mode on, two phones), node2 and node3 join as subscribers
(``initialise`` with their names). The three Node objects run in one event
loop. Every server record holds free ports chosen before the nodes start,
so the files a simulated phone reads name the ports really bound
(``tests/sim/_simnode``); the issuer is the publisher's web port.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest_asyncio

from node._support import NODE, Prepared, prepare
from sim._simnode import PORT_FIELDS, free_ports
from sipoauth import admin
from sipoauth.admin import _settings as keys
from sipoauth.node import Node, NodeConfig, initialise, token_context
from sipoauth.store import SECRET_FILE, Store, read_secret_file

PHONE3 = "SEP00DDEEFF0011"
SUBSCRIBERS = ("node2", "node3")
NAMES = (NODE, *SUBSCRIBERS)


@dataclass
class Cluster:
    """Three nodes on one database: ``nodes[name]``, their ``ports[name]``."""

    prepared: Prepared
    nodes: dict[str, Node]
    ports: dict[str, dict[str, int]]

    @property
    def publisher(self) -> Node:
        return self.nodes[NODE]

    def config(self, name: str, data_dir: Path | None = None) -> NodeConfig:
        return NodeConfig(
            data_dir=data_dir or self.prepared.data_dir,
            database_url=self.prepared.url,
            node_name=name,
            hostname="localhost",
            bind="127.0.0.1",
        )

    async def start(self, name: str, data_dir: Path | None = None) -> Node:
        """Start node ``name``; on the publisher's data directory (its CA, keys and
        certificates) unless ``data_dir`` names the node's own."""
        node = await Node.open(self.config(name, data_dir))
        await node.start()
        self.nodes[name] = node
        return node

    async def stop(self, name: str) -> None:
        await self.nodes.pop(name).close()


async def _setup(root: Path, url: str) -> tuple[Prepared, dict[str, dict[str, int]]]:
    prepared = await prepare(root, url)
    every = free_ports(len(PORT_FIELDS) * len(NAMES))
    ports = {
        name: dict(zip(PORT_FIELDS, every[i * len(PORT_FIELDS) :], strict=False))
        for i, name in enumerate(NAMES)
    }
    store = await Store.open(url)
    try:
        secret = read_secret_file(prepared.data_dir / SECRET_FILE)
        for name in SUBSCRIBERS:
            await initialise(
                store,
                data_dir=root / name,
                hostname="localhost",
                node_name=name,
                cluster_secret=secret,
            )
        for name in NAMES:
            await admin.set_server_ports(store, name, **ports[name])
        await store.settings.set(keys.ISSUER, f"https://localhost:{ports[NODE]['web_port']}")
        await admin.upload_trust(store, "phone-edge-trust", prepared.ca_pem)
        await admin.set_parameter(store, "OAuth with Refresh Login Flow", "Enabled")
        await admin.add_device(
            store, name=PHONE3, model="8851", lines=["3001"], profile=admin.OAUTH_PROFILE
        )
        # Tokens minted by the tests name the issuer just set.
        prepared = dataclasses.replace(prepared, tokens=await token_context(store))
    finally:
        await store.close()
    return prepared, ports


@pytest_asyncio.fixture
async def cluster_factory(pg_db_url: str, tmp_path: Path) -> AsyncIterator[Callable[..., object]]:
    """``await make(before_start=…)``: the cluster, stopped at the end of the test."""
    made: list[Cluster] = []

    async def make(before_start: Callable[[Store], object] | None = None) -> Cluster:
        prepared, ports = await _setup(tmp_path, pg_db_url)
        if before_start is not None:
            store = await Store.open(pg_db_url)
            try:
                await before_start(store)  # type: ignore[misc]
            finally:
                await store.close()
        cluster = Cluster(prepared, {}, ports)
        made.append(cluster)
        for name in NAMES:
            await cluster.start(name)
        return cluster

    try:
        yield make
    finally:
        for cluster in made:
            for name in list(cluster.nodes)[::-1]:
                await cluster.stop(name)


@pytest_asyncio.fixture
async def cluster(cluster_factory: Callable[..., object]) -> Cluster:
    """The cluster, SIP OAuth mode on from the start."""
    made: Cluster = await cluster_factory()  # type: ignore[misc]
    return made

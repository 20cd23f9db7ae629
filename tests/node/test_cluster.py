"""Two nodes on one PostgreSQL database (DESIGN: cluster; B2).

Registrations are mirrored to the shared store with the node that holds
them; a revocation notified through PostgreSQL LISTEN/NOTIFY drops the live
registration on whichever node holds it.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from sipoauth.node import initialise
from sipoauth.pki import client_ssl_context
from sipoauth.sim import PhoneIdentity, SipTlsClient, register_request
from sipoauth.store import Store

from ._support import PHONE, port_of, prepare, start_node

pytestmark = pytest.mark.postgresql


async def _wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_two_nodes_share_registrations_and_revocations(
    pg_db_url: str, tmp_path: Path
) -> None:
    prepared = await prepare(tmp_path, pg_db_url)
    # The second node joins the cluster: same database, its own data directory and PKI.
    store = await Store.open(pg_db_url)
    try:
        report = await initialise(
            store,
            data_dir=tmp_path / "var2",
            hostname="localhost",
            node_name="node2",
            cluster_secret=prepared.secret,
        )
        assert any("subscriber" in item for item in report.created)
        assert report.admin_password is None  # the cluster's admin exists already
    finally:
        await store.close()
    pub = await start_node(prepared)
    sub = await start_node(prepared, node_name="node2")
    client = None
    try:
        assert pub.directory.oauth_mode and sub.directory.oauth_mode
        ctx = client_ssl_context([prepared.ca_pem])
        client = await SipTlsClient.connect(
            "127.0.0.1", port_of(sub, "TLS"), ctx, server_hostname="localhost"
        )
        ident = PhoneIdentity(device=PHONE, line="1001", domain="localhost")
        request = register_request(
            ident,
            call_id=str(uuid.uuid4()),
            cseq=1,
            branch=client.next_branch(),
            token=prepared.mint(sid="cluster-grant"),
        )
        assert (await client.request(request)).status == 200
        await sub.flush()
        rows = await pub.store.registrations.list(device_name=PHONE)
        assert [(r.node_name, r.sid) for r in rows] == [("node2", "cluster-grant")]

        # Revocation is pushed to every node (PostgreSQL NOTIFY) and drops it at once.
        await pub.store.notify("grants", "cluster-grant")
        await _wait_for(lambda: len(sub.registrar.table) == 0)
        await _wait_for(lambda: "cluster-grant" in pub.directory.revoked)
    finally:
        if client is not None:
            await client.close()
        await sub.close()
        await pub.close()

"""Issue 8 point 4: the keys, trust stores and certificates every node needs
come from the database, private keys sealed under a cluster secret given at
init. Three nodes on one throwaway PostgreSQL (``conftest``), each on its own
data directory for the joining tests.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from node._support import prepare
from sipoauth import admin
from sipoauth.cli import app
from sipoauth.pki import client_ssl_context, load_certs_pem
from sipoauth.store import SECRET_FILE, Store, new_secret, web_identity, write_secret_file

from .conftest import NAMES, Cluster
from .test_cluster import BOUND, NO_ENV

pytestmark = pytest.mark.postgresql


async def presented(cluster: Cluster, name: str) -> str:
    """SHA-256 of the certificate node ``name`` presents on its SIP OAuth port,
    to a client that trusts only the cluster CA (the handshake fails otherwise)."""
    context = client_ssl_context([cluster.prepared.ca_pem])
    _, writer = await asyncio.open_connection(
        "127.0.0.1", cluster.ports[name]["oauth_port"], ssl=context, server_hostname="localhost"
    )
    try:
        tls = writer.get_extra_info("ssl_object")
        assert isinstance(tls, ssl.SSLObject)
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        return hashlib.sha256(der).hexdigest().upper()
    finally:
        writer.close()
        await writer.wait_closed()


async def stored(store: Store, name: str) -> str:
    row = await store.identities.get(web_identity(name), with_key=False)
    assert row is not None
    return hashlib.sha256(
        load_certs_pem(row.chain_pem.encode())[0].public_bytes(Encoding.DER)
    ).hexdigest()


async def test_every_node_presents_its_own_certificate_from_the_cluster_ca(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Each node has its own web certificate, issued by the one cluster CA, as the
    database holds it; node2 restarted on an empty data directory of its own
    (another machine) presents the same one."""
    seen = {name: await presented(cluster, name) for name in NAMES}
    assert len(set(seen.values())) == len(NAMES)
    for name in NAMES:
        assert seen[name] == (await stored(cluster.publisher.store, name)).upper()
    await cluster.stop("node2")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write_secret_file(elsewhere / SECRET_FILE, cluster.prepared.secret)
    await cluster.start("node2", data_dir=elsewhere)
    assert await presented(cluster, "node2") == seen["node2"]
    assert not (elsewhere / "pki" / "ca.key").exists()  # the CA key stays in the database


async def test_a_certificate_regenerated_for_a_subscriber_is_presented_after_its_restart(
    cluster: Cluster,
) -> None:
    """Regenerating on the publisher is a database write: node2 keeps its
    certificate until its services restart, then presents the new one."""
    pub = cluster.publisher.store
    before = await presented(cluster, "node2")
    info = await admin.regenerate_tomcat(pub, node_name="node2")
    assert info.fingerprint.replace(":", "") != before
    assert await presented(cluster, "node2") == before
    queued = await admin.request_service(
        pub, node_name="node2", service="Cisco CallManager", action="restart", requested_by="t"
    )
    done = await admin.wait_for_command(pub, queued.id, timeout=BOUND, poll=0.05)
    assert done.status == "done", done.message
    after = await presented(cluster, "node2")
    assert after != before
    assert after == (await stored(pub, "node2")).upper()
    assert await presented(cluster, "node3") != after  # the others are untouched


async def test_the_database_holds_no_private_key_in_the_clear(cluster: Cluster) -> None:
    """A dump of the database without the cluster secret shows no private key:
    every key column is sealed, and no column of any table holds a PEM key."""
    store = cluster.publisher.store
    async with store.engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
        dump = []
        for table in tables:
            rows = await connection.execute(text(f'SELECT * FROM "{table}"'))
            dump.extend(str(value) for row in rows for value in row)
        materials = [r[0] for r in await connection.execute(text("SELECT material FROM keys"))]
        sealed = await connection.execute(text("SELECT key_pem FROM pki_identities"))
        identity_keys = [r[0] for r in sealed]
    assert len(materials) >= 2 and len(identity_keys) == 1 + len(NAMES)  # CA and each node
    assert all(value.startswith("sealed:v1:") for value in [*materials, *identity_keys])
    assert not [value for value in dump if "PRIVATE KEY" in value]


def _init(data_dir: Path, url: str, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app,
        [
            *("--data-dir", str(data_dir), "--node", "node4", "--hostname", "localhost"),
            *("init", "--database", url, "--json", *extra),
        ],
        env=NO_ENV,
    )
    return result.exit_code, result.stdout, result.stderr


def test_a_node_joins_only_with_the_clusters_secret(pg_db_url: str, tmp_path: Path) -> None:
    """`sipoauth init --database postgresql://… --cluster-secret-file F` on a new
    machine: refused without the secret or with another cluster's, by name,
    leaving nothing behind; with it, the node joins and keeps a 0600 copy."""
    prepared = asyncio.run(prepare(tmp_path, pg_db_url))
    node4 = tmp_path / "node4"

    code, _, err = _init(node4, pg_db_url)
    assert code == 1
    assert "this database belongs to a cluster: run sipoauth init --cluster-secret-file FILE" in err
    wrong = tmp_path / "wrong.secret"
    write_secret_file(wrong, new_secret())
    code, _, err = _init(node4, pg_db_url, "--cluster-secret-file", str(wrong))
    assert code == 1 and "does not open the database" in err
    assert not (node4 / SECRET_FILE).exists() and not (node4 / "pki").exists()

    code, out, err = _init(
        node4, pg_db_url, "--cluster-secret-file", str(prepared.data_dir / SECRET_FILE)
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["cluster_secret_file"] == str(node4 / SECRET_FILE)
    assert any("node4, issued by the cluster CA" in item for item in report["created"])
    assert (node4 / SECRET_FILE).stat().st_mode & 0o777 == 0o600
    assert (node4 / SECRET_FILE).read_bytes() == (prepared.data_dir / SECRET_FILE).read_bytes()
    # Again: nothing new, and the data directory's copy suffices from now on.
    code, out, err = _init(node4, pg_db_url)
    assert code == 0, err
    assert json.loads(out)["created"] == []

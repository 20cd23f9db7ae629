"""The cluster secret at init (issue 8 point 4): made once, kept 0600, never
replaced silently; and what an operator does when every copy is lost
(``init --replace-lost-cluster-secret``, the publisher only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trustme
from typer.testing import CliRunner

from sipoauth import admin
from sipoauth.cli import app
from sipoauth.node import initialise
from sipoauth.store import (
    SECRET_FILE,
    Node,
    Store,
    WrongSecret,
    database_url_for,
    read_secret_file,
)

NO_ENV = {
    name: None
    for name in ("SIPOAUTH_HOME", "SIPOAUTH_DATABASE_URL", "SIPOAUTH_NODE", "SIPOAUTH_HOSTNAME")
} | {"COLUMNS": "200", "NO_COLOR": "1"}


async def _init(store: Store, data_dir: Path, node: str = "node1", **kw: object) -> list[str]:
    report = await initialise(
        store,
        data_dir=data_dir,
        hostname="localhost",
        node_name=node,
        **kw,  # type: ignore[arg-type]
    )
    return report.created


async def _signing_kid(store: Store) -> str:
    [key] = await store.keys.active("authz-signing")
    return key.kid


async def test_the_first_init_makes_the_secret_and_the_next_ones_reuse_it(tmp_path: Path) -> None:
    data = tmp_path / "var"
    store = await Store.open(database_url_for(data.resolve()))
    try:
        created = await _init(store, data)
        assert f"cluster secret in {data / SECRET_FILE} (0600)" in created
        secret = read_secret_file(data / SECRET_FILE)
        assert (data / SECRET_FILE).stat().st_mode & 0o777 == 0o600
        assert await _init(store, data) == []
        assert read_secret_file(data / SECRET_FILE) == secret
        other = tmp_path / "other.secret"
        other.write_text("A" * 43 + "\n")
        with pytest.raises(ValueError, match="leave out --cluster-secret-file"):
            await _init(store, data, cluster_secret=read_secret_file(other))
        assert read_secret_file(data / SECRET_FILE) == secret
    finally:
        await store.close()


async def test_a_lost_secret_is_replaced_on_the_publisher_keeping_settings_and_ca(
    tmp_path: Path,
) -> None:
    """Every copy lost: plain init is refused by name; the replacement drops the
    sealed keys (new authz keys), keeps settings and grants, and the publisher's
    CA (its ca.key is on disk), and is audited. Refused while the secret works,
    and on a subscriber."""
    data, sub = tmp_path / "var", tmp_path / "sub"
    url = database_url_for(data.resolve())
    store = await Store.open(url)
    try:
        await _init(store, data)
        await _init(store, sub, "node2", cluster_secret=read_secret_file(data / SECRET_FILE))
        await store.grants.create("grant-1", "alice", "phone")
        issuer, kid = await store.settings.get("cluster.issuer"), await _signing_kid(store)
        ca_before = (await admin.list_certificates(store, "tomcat", node_name="node1"))[-1]
        with pytest.raises(ValueError, match="not lost"):
            await _init(store, data, replace_lost_secret=True)
        # Nor when the secret is given while the data directory's copy is gone.
        kept = tmp_path / "kept.secret"
        kept.write_bytes((data / SECRET_FILE).read_bytes())
        (data / SECRET_FILE).unlink()
        with pytest.raises(ValueError, match="not lost"):
            await _init(
                store, data, cluster_secret=read_secret_file(kept), replace_lost_secret=True
            )
        assert await _signing_kid(store) == kid
    finally:
        await store.close()

    # every copy lost (data/cluster.secret is gone already; sub's is forgotten)
    store = await Store.open(url)
    try:
        with pytest.raises(ValueError, match="this database belongs to a cluster"):
            await _init(store, data)
        with pytest.raises(admin.NotPublisher):
            await _init(store, sub, "node2", replace_lost_secret=True)
        created = await _init(store, data, replace_lost_secret=True)
        new_file = f"lost cluster secret replaced by a new one in {data / SECRET_FILE} (0600)"
        assert any(item.startswith(f"{new_file}: deleted") for item in created), created
        assert await _signing_kid(store) != kid
        assert await store.settings.get("cluster.issuer") == issuer
        assert await store.grants.get("grant-1") is not None
        ca_after = (await admin.list_certificates(store, "tomcat", node_name="node1"))[-1]
        assert ca_after.fingerprint == ca_before.fingerprint
        [row] = [r for r in await admin.list_audit(store) if r.object_type == "cluster-secret"]
        assert row.action == "replace"
    finally:
        await store.close()
    # The subscriber's old copy no longer opens the database: it is told so, and
    # given the new secret it joins again, its old copy kept aside.
    store = await Store.open(url)
    try:
        with pytest.raises(WrongSecret, match="does not open the database"):
            await _init(store, sub, "node2")
        created = await _init(
            store, sub, "node2", cluster_secret=read_secret_file(data / SECRET_FILE)
        )
        assert (
            f"{sub / SECRET_FILE} did not open the database: kept as cluster.secret.replaced"
            in created
        )
        assert read_secret_file(sub / SECRET_FILE) == read_secret_file(data / SECRET_FILE)
        # Its certificate chains to the CA the publisher kept: stored again as it is.
        assert any("web certificate of node2 stored in the database" in c for c in created)
    finally:
        await store.close()


async def test_replacing_needs_a_database_with_a_secret(tmp_path: Path) -> None:
    """A database from before the cluster secret holds plain, usable keys: plain
    init seals them; the replacement is refused and deletes nothing."""
    data = tmp_path / "var"
    data.mkdir()
    store = await Store.open(database_url_for(data.resolve()))
    try:
        await store.migrate()
        await store.nodes.upsert(Node(name="node1", host="localhost"))
        await store.keys.add(admin.new_authz_key("signing"))
        with pytest.raises(ValueError, match="no cluster secret to replace"):
            await _init(store, data, replace_lost_secret=True)
        assert len(await store.keys.list()) == 1
    finally:
        await store.close()


async def test_a_web_certificate_never_held_by_the_database_is_kept_aside(
    tmp_path: Path,
) -> None:
    """A node joining with a certificate of another CA in its pki/ gets one of
    the cluster CA; its own files are moved aside (.previous), never lost."""
    data, sub = tmp_path / "var", tmp_path / "sub"
    url = database_url_for(data.resolve())
    other = trustme.CA().issue_cert("localhost")
    (sub / "pki").mkdir(parents=True)
    (sub / "pki" / "tomcat.pem").write_bytes(other.cert_chain_pems[0].bytes())
    (sub / "pki" / "tomcat.key").write_bytes(other.private_key_pem.bytes())
    store = await Store.open(url)
    try:
        await _init(store, data)
        await _init(store, sub, "node2", cluster_secret=read_secret_file(data / SECRET_FILE))
    finally:
        await store.close()
    assert (sub / "pki" / "tomcat.key.previous").read_bytes() == other.private_key_pem.bytes()
    assert (sub / "pki" / "tomcat.pem.previous").read_bytes() == other.cert_chain_pems[0].bytes()
    assert (sub / "pki" / "tomcat.key").read_bytes() != other.private_key_pem.bytes()


def test_replace_lost_cluster_secret_from_the_cli(tmp_path: Path) -> None:
    data = tmp_path / "var"
    root = ["--data-dir", str(data), "--node", "node1", "--hostname", "localhost"]
    first = CliRunner().invoke(app, [*root, "init", "--json"], env=NO_ENV)
    assert first.exit_code == 0, first.stderr
    assert json.loads(first.stdout)["cluster_secret_file"] == str(data / SECRET_FILE)
    (data / SECRET_FILE).unlink()
    refused = CliRunner().invoke(app, [*root, "init"], env=NO_ENV)
    assert refused.exit_code == 1
    assert "run sipoauth init --cluster-secret-file FILE" in refused.stderr
    done = CliRunner().invoke(
        app, [*root, "init", "--replace-lost-cluster-secret", "--json"], env=NO_ENV
    )
    assert done.exit_code == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["cluster_secret_file"] == str(data / SECRET_FILE)
    assert report["ca_fingerprint"] == json.loads(first.stdout)["ca_fingerprint"]

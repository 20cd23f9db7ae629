"""`sipoauth profiles|devices|edges|users show|activation-codes export|registrations`,
in process (issue 4 points 6, 8-11).

Like test_users_cli.py: typer's CliRunner on `sipoauth.cli.app`, one data
directory initialised per module and copied for each test. Refusals exit 1
with the rule in the message and change nothing; changes are audited as the
OS user through the `cli` interface.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from sipoauth.cli import app
from sipoauth.oauth._secrets import hash_activation_code, normalise_activation_code
from sipoauth.store import MraDomain, Node, Registration, Store, database_url_for

HOST = "cucm-pub.example.com"
NO_ENV = {
    name: None
    for name in ("SIPOAUTH_HOME", "SIPOAUTH_DATABASE_URL", "SIPOAUTH_NODE", "SIPOAUTH_HOSTNAME")
} | {"COLUMNS": "200", "NO_COLOR": "1"}
OAUTH_PROFILE = "Universal Device Template - OAuth Security Profile"
PHONE = "SEP001122334455"


def run(data_dir: Path, *args: str, ok: bool = True) -> Result:
    """`sipoauth --data-dir D --hostname HOST ARGS` in process, checked for exit status
    and tracebacks, stdout and stderr kept apart."""
    result = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), "--hostname", HOST, *args], env=NO_ENV
    )
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result


def refused(data_dir: Path, *args: str) -> str:
    """Run a command that must fail with exit status 1; its stderr."""
    result = run(data_dir, *args, ok=False)
    assert result.exit_code == 1, result.output
    return result.stderr


def in_store(data_dir: Path, action: Any) -> Any:
    """Run `action(store)` on the node's database."""

    async def main() -> Any:
        store = await Store.open(database_url_for(data_dir.resolve()))
        try:
            await store.unlock_from(data_dir)
            return await action(store)
        finally:
            await store.close()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("cli-phones") / "var"
    run(data_dir, "init")
    return data_dir


@pytest.fixture
def node_dir(initialised: Path, tmp_path: Path) -> Path:
    """A private copy of the initialised data directory."""
    copy = tmp_path / "var"
    shutil.copytree(initialised, copy)
    return copy


# -- profiles -------------------------------------------------------------------------


def test_profiles_add_set_list_delete(node_dir: Path) -> None:
    run(
        node_dir,
        "profiles",
        "add",
        "8851 OAuth",
        "--device-type",
        "8851",
        "--security-mode",
        "Encrypted",
        "--transport",
        "TLS",
        "--oauth",
    )
    run(node_dir, "devices", "add", PHONE, "--model", "8851", "--line", "1000",
        "--profile", "8851 OAuth")  # fmt: skip
    listed = {p["name"]: p for p in json.loads(run(node_dir, "profiles", "list", "--json").stdout)}
    assert listed["8851 OAuth"]["phones"] == 1
    assert (listed["8851 OAuth"]["oauth"], listed["8851 OAuth"]["transport"]) == (True, "TLS")

    digest = refused(node_dir, "profiles", "set", "8851 OAuth", "--digest")
    assert "Enable Digest Authentication is not supported with OAuth" in digest
    in_use = refused(node_dir, "profiles", "delete", "8851 OAuth")
    assert "used by 1 phone(s)" in in_use

    saved = run(node_dir, "profiles", "set", "8851 OAuth", "--name", "8851 plain", "--no-oauth",
                "--security-mode", "non secure", "--transport", "tcp")  # fmt: skip
    assert "1 of its 1 phone(s) need a reset" in saved.stdout
    device = in_store(node_dir, lambda store: store.devices.get(PHONE))
    assert (device.profile_name, device.reset_required) == ("8851 plain", True)

    table = run(node_dir, "profiles", "list").stdout
    assert table.splitlines()[0].split()[:3] == ["NAME", "DEVICE_TYPE", "SECURITY_MODE"]
    run(node_dir, "devices", "delete", PHONE)
    run(node_dir, "profiles", "delete", "8851 plain")
    names = [p["name"] for p in json.loads(run(node_dir, "profiles", "list", "--json").stdout)]
    assert "8851 plain" not in names

    async def audited(store: Store) -> list[Any]:
        return await store.audit.list(object_type="security-profile")

    rows = in_store(node_dir, audited)
    assert [r.action for r in reversed(rows)] == ["add", "update", "delete"]
    assert {r.interface for r in rows} == {"cli"}


# -- devices --------------------------------------------------------------------------


def _add_domain(store: Store) -> Any:
    return store.mra_domains.add(MraDomain(name="MRA", domains=("mra.example.com",)))


def test_devices_set_find_reset(node_dir: Path) -> None:
    in_store(node_dir, _add_domain)
    run(node_dir, "devices", "add", PHONE.lower(), "--model", "8851", "--line", "1000",
        "--requires-activation-code")  # fmt: skip
    run(node_dir, "devices", "add", "CSFALICE", "--model", "CSF", "--line", "2000")

    assert "owner: end user 'alice' does not exist" in refused(
        node_dir, "devices", "set", PHONE, "--owner", "alice"
    )
    assert "for desk phones" in refused(
        node_dir, "devices", "set", "CSFALICE", "--allow-activation-via-mra"
    )
    run(node_dir, "users", "add", "alice")
    saved = run(node_dir, "devices", "set", PHONE, "--owner", "alice", "--line", "1000",
                "--line", "1001", "--allow-activation-via-mra", "--mra-service-domain", "MRA",
                "--profile", OAUTH_PROFILE)  # fmt: skip
    assert "reset required" in saved.stdout
    device = in_store(node_dir, lambda store: store.devices.get(PHONE))
    assert (device.owner_user_id, [ln.dn for ln in device.lines]) == ("alice", ["1000", "1001"])
    assert (device.allow_activation_via_mra, device.mra_service_domain) == (True, "MRA")
    assert device.profile_name == OAUTH_PROFILE
    run(node_dir, "devices", "set", PHONE, "--owner", "", "--mra-service-domain", "")
    device = in_store(node_dir, lambda store: store.devices.get(PHONE))
    assert (device.owner_user_id, device.mra_service_domain) == (None, None)

    found = json.loads(run(node_dir, "devices", "find", "--name", "sep00", "--json").stdout)
    assert (found["total"], [d["name"] for d in found["devices"]]) == (1, [PHONE])
    assert found["devices"][0]["reset_required"] is True
    page = json.loads(
        run(node_dir, "devices", "find", "--limit", "1", "--offset", "1", "--json").stdout
    )
    assert (page["total"], [d["name"] for d in page["devices"]]) == (2, [PHONE])
    table = run(node_dir, "devices", "find", "--model", "csf").stdout
    assert "CSFALICE" in table and "1-1 of 1" in table
    assert "limit" in refused(node_dir, "devices", "find", "--limit", "0")

    assert "config version 2" in run(node_dir, "devices", "reset", PHONE.lower()).stdout
    assert "config version 3" in run(node_dir, "devices", "apply-config", PHONE).stdout
    device = in_store(node_dir, lambda store: store.devices.get(PHONE))
    assert (device.config_version, device.reset_required) == (3, False)
    assert "does not exist" in refused(node_dir, "devices", "reset", "SEP0000000000FF")

    rows = in_store(node_dir, lambda store: store.audit.list(object_id=PHONE))
    assert [r.action for r in reversed(rows)] == [
        "add", "update", "update", "reset", "apply-config",
    ]  # fmt: skip
    assert {(r.interface, r.actor != "system") for r in rows} == {("cli", True)}


def test_devices_import(node_dir: Path, tmp_path: Path) -> None:
    run(node_dir, "users", "add", "alice")
    good = tmp_path / "phones.csv"
    good.write_bytes(
        "\ufeffname,model,lines,owner,description\r\n"
        'SEP000000000001,8851,1001;1002,alice,"Desk, 1st floor"\r\n'
        "SEP000000000002,7945,1003,,\r\n".encode()
    )
    done = run(node_dir, "devices", "import", str(good))
    assert done.stdout.splitlines() == [
        "line 2: SEP000000000001: ok",
        "line 3: SEP000000000002: ok",
        "2 added, 0 failed",
    ]

    mixed = tmp_path / "mixed.csv"
    mixed.write_text(
        "name,model,lines,owner\n"
        "SEP000000000003,8851,2001,\n"
        "SEP000000000004,8851,2002,bob\n"
        "SEP000000000001,8851,2003,\n",
        encoding="utf-8",
    )
    failed = run(node_dir, "devices", "import", str(mixed), "--json", ok=False)
    assert failed.exit_code == 1
    report = json.loads(failed.stdout)
    assert (report["added"], report["failed"]) == (1, 2)
    assert [(r["line"], r["device"], r["ok"]) for r in report["rows"]] == [
        (2, "SEP000000000003", True),
        (3, "SEP000000000004", False),
        (4, "SEP000000000001", False),
    ]
    assert "end user 'bob' does not exist" in report["rows"][1]["error"]
    assert "exists already" in report["rows"][2]["error"]
    names = [d.name for d in in_store(node_dir, lambda store: store.devices.list())]
    assert names == ["SEP000000000001", "SEP000000000002", "SEP000000000003"]

    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("device,model\nSEP000000000009,8851\n", encoding="utf-8")
    assert "'device' is not a column" in refused(node_dir, "devices", "import", str(bad_header))
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,model,description\nSEP000000000009,8851,caf\xe9\n".encode("latin-1"))
    assert "not UTF-8" in refused(node_dir, "devices", "import", str(latin))
    assert "cannot read" in refused(node_dir, "devices", "import", str(tmp_path / "none.csv"))
    names = [d.name for d in in_store(node_dir, lambda store: store.devices.list())]
    assert "SEP000000000009" not in names


def test_activation_codes_export(node_dir: Path) -> None:
    run(node_dir, "devices", "add", PHONE, "--model", "8851", "--line", "1000",
        "--requires-activation-code")  # fmt: skip
    run(node_dir, "devices", "add", "SEP0011223344AA", "--model", "8861", "--line", "1001")
    assert "replaces" in run(node_dir, "activation-codes", "export", "--help").stdout.lower()

    exported = run(node_dir, "activation-codes", "export").stdout
    rows = list(csv.DictReader(io.StringIO(exported, newline="")))
    assert [(r["device"], r["model"]) for r in rows] == [(PHONE, "8851")]
    expires_at = datetime.fromisoformat(rows[0]["expires_at"])
    assert timedelta(hours=167) < expires_at - datetime.now(UTC) <= timedelta(hours=168)

    async def check(store: Store) -> None:
        [key] = await store.keys.active("activation-code")
        stored = await store.activation_codes.get(PHONE)
        assert stored is not None
        code = normalise_activation_code(rows[0]["activation_code"])
        assert stored.code_hash == hash_activation_code(base64.b64decode(key.material), code)

    in_store(node_dir, check)
    named = run(node_dir, "activation-codes", "export", "--device", "sep0011223344aa").stdout
    assert [r["device"] for r in csv.DictReader(io.StringIO(named))] == ["SEP0011223344AA"]
    assert "does not exist" in refused(
        node_dir, "activation-codes", "export", "--device", "SEP0000000000FF"
    )


# -- edges, users, registrations ------------------------------------------------------


def test_edges_set_and_find(node_dir: Path) -> None:
    run(node_dir, "edges", "add", "192.0.2.50", "--x509-name", "expc.example.com")
    run(node_dir, "edges", "add", "expc2.example.com", "--description", "DC 2")
    run(node_dir, "edges", "set", "192.0.2.50", "--description", "DC 1", "--x509-name",
        "expc1.example.com", "--domain", "partner.example.net")  # fmt: skip
    [edge] = json.loads(run(node_dir, "edges", "find", "dc 1", "--json").stdout)
    assert (edge["address"], edge["x509_names"], edge["domain"]) == (
        "192.0.2.50",
        ["expc1.example.com"],
        "partner.example.net",
    )
    assert len(json.loads(run(node_dir, "edges", "find", "--json").stdout)) == 2
    assert "is not a host name" in refused(
        node_dir, "edges", "set", "192.0.2.50", "--x509-name", "bad name"
    )
    assert "does not exist" in refused(node_dir, "edges", "set", "198.51.100.9")


def test_users_show(node_dir: Path) -> None:
    run(node_dir, "users", "add", "alice", "--display-name", "Alice")
    run(node_dir, "devices", "add", "CSFALICE", "--model", "CSF", "--line", "2000",
        "--owner", "alice")  # fmt: skip
    shown = json.loads(run(node_dir, "users", "show", "alice", "--json").stdout)
    assert (shown["user_id"], shown["display_name"], shown["password"]) == ("alice", "Alice", False)
    assert [(d["name"], d["lines"]) for d in shown["devices"]] == [("CSFALICE", ["2000"])]
    text = run(node_dir, "users", "show", "alice").stdout
    assert "Display name: Alice" in text and "CSFALICE" in text
    assert "does not exist" in refused(node_dir, "users", "show", "bob")


def test_registrations_list_view(node_dir: Path) -> None:
    async def mirror(store: Store) -> None:
        await store.nodes.upsert(Node(name="sub1", host="sub1.example.com", mra_port=6091))
        expires = datetime.now(UTC) + timedelta(minutes=10)
        await store.registrations.upsert_many(
            [
                Registration(
                    aor="sip:2000@example.com",
                    instance="<urn:uuid:1>",
                    device_name="CSFALICE",
                    contact="<sip:alice@198.51.100.7:5061;transport=tls>",
                    node_name="sub1",
                    transport="TLS",
                    path=("<sip:expc.example.com;lr>",),
                    expires_at=expires,
                    call_id="c1",
                    cseq=1,
                ),
                Registration(
                    aor="sip:1000@example.com",
                    instance="<urn:uuid:2>",
                    device_name=PHONE,
                    contact="<sip:phone@198.51.100.8:5061;transport=tls>",
                    node_name="pub",
                    transport="TLS",
                    path=(),
                    expires_at=datetime.now(UTC) - timedelta(seconds=1),
                    call_id="c2",
                    cseq=1,
                ),
            ]
        )

    in_store(node_dir, mirror)
    [row] = json.loads(run(node_dir, "registrations", "list", "--json").stdout)
    assert (row["device"], row["line"], row["node"], row["port"], row["via_edge"]) == (
        "CSFALICE",
        "2000",
        "sub1",
        6091,
        True,
    )
    assert 500 < row["seconds_left"] <= 600
    assert (
        json.loads(run(node_dir, "registrations", "list", "--node", "pub", "--json").stdout) == []
    )
    table = run(node_dir, "registrations", "list", "--device", "CSFALICE").stdout
    assert table.splitlines()[0].split()[:5] == ["DEVICE", "LINE", "NODE", "PORT", "VIA_EDGE"]

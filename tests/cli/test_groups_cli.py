"""`sipoauth callmanager-groups`, a device's `--callmanager-group` and an
edge's public address and ports, in process.

Like test_phones_cli.py: typer's CliRunner on `sipoauth.cli.app`, one data
directory initialised per module and copied for each test. Refusals exit 1
with the rule in the message and change nothing; changes are audited as the
OS user through the `cli` interface.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from sipoauth.store import Store

from .test_phones_cli import HOST, in_store, refused, run
from .test_shell import PROMPT, shell

PHONE = "SEP001122334455"
PHONE2 = "SEP0011223344AA"
SUB1 = "cucm-sub1"
SUB2 = "cucm-sub2"


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("cli-groups") / "var"
    run(data_dir, "init")
    run(data_dir, "servers", "add", SUB2, "--host", "10.0.0.3")
    run(data_dir, "servers", "add", SUB1, "--host", "10.0.0.2")
    return data_dir


@pytest.fixture
def node_dir(initialised: Path, tmp_path: Path) -> Path:
    """A private copy of the initialised data directory."""
    copy = tmp_path / "var"
    shutil.copytree(initialised, copy)
    return copy


def _publisher(node_dir: Path) -> str:
    servers = json.loads(run(node_dir, "servers", "list", "--json").stdout)
    name: str = servers[0]["name"]
    assert servers[0]["role"] == "publisher"
    return name


def _json(node_dir: Path, *args: str) -> Any:
    return json.loads(run(node_dir, *args, "--json").stdout)


def test_groups_add_show_update_list_delete(node_dir: Path) -> None:
    pub = _publisher(node_dir)
    out = run(node_dir, "callmanager-groups", "add", "Subs first", "--node", SUB2,
              "--node", pub, "--description", "DC 2, then the publisher")  # fmt: skip
    assert "CallManager group 'Subs first' added" in out.stdout
    shown = _json(node_dir, "callmanager-groups", "show", "Subs first")
    assert shown == {
        "name": "Subs first",
        "description": "DC 2, then the publisher",
        "nodes": [
            {"name": SUB2, "host": "10.0.0.3", "role": "subscriber"},
            {"name": pub, "host": HOST, "role": "publisher"},
        ],
        "devices": [],
    }
    text = run(node_dir, "callmanager-groups", "show", "Subs first").stdout
    assert "Servers, in order:" in text and text.index(SUB2) < text.index(HOST)

    run(node_dir, "devices", "add", PHONE, "--model", "8851", "--line", "1000",
        "--callmanager-group", "Subs first")  # fmt: skip
    run(node_dir, "devices", "add", PHONE2, "--model", "8851", "--line", "1001")
    [listed] = _json(node_dir, "callmanager-groups", "list")
    assert listed == {
        "name": "Subs first",
        "description": "DC 2, then the publisher",
        "nodes": [SUB2, pub],
        "devices": 1,
    }
    table = run(node_dir, "callmanager-groups", "list").stdout
    assert table.splitlines()[0].split() == ["NAME", "NODES", "DEVICES", "DESCRIPTION"]

    saved = run(node_dir, "callmanager-groups", "update", "Subs first", "--node", SUB1,
                "--node", SUB2)  # fmt: skip
    assert "1 of its phone(s) need a reset" in saved.stdout
    phone = in_store(node_dir, lambda store: store.devices.get(PHONE))
    assert (phone.callmanager_group, phone.reset_required) == ("Subs first", True)
    other = in_store(node_dir, lambda store: store.devices.get(PHONE2))
    assert (other.callmanager_group, other.reset_required) == (None, False)
    # `set` as for the other objects; only the description: no reset needed.
    run(node_dir, "devices", "reset", PHONE)
    described = run(node_dir, "callmanager-groups", "set", "Subs first", "--description", "")
    assert "need a reset" not in described.stdout
    assert _json(node_dir, "callmanager-groups", "list")[0]["nodes"] == [SUB1, SUB2]

    in_use = refused(node_dir, "callmanager-groups", "delete", "Subs first")
    assert f"is the group of {PHONE}" in in_use
    in_group = refused(node_dir, "servers", "delete", SUB1)
    assert "in CallManager group(s) Subs first" in in_group
    run(node_dir, "devices", "set", PHONE, "--callmanager-group", "Default")
    assert in_store(node_dir, lambda store: store.devices.get(PHONE)).callmanager_group is None
    run(node_dir, "callmanager-groups", "delete", "Subs first")
    assert _json(node_dir, "callmanager-groups", "list") == []

    async def audited(store: Store) -> list[Any]:
        return await store.audit.list(object_type="callmanager-group")

    rows = in_store(node_dir, audited)
    assert [r.action for r in reversed(rows)] == ["add", "update", "update", "delete"]
    assert {r.interface for r in rows} == {"cli"}


def test_show_default(node_dir: Path) -> None:
    pub = _publisher(node_dir)
    run(node_dir, "devices", "add", PHONE, "--model", "8851", "--line", "1000")
    shown = _json(node_dir, "callmanager-groups", "show", "default")
    assert shown["name"] == "Default"
    assert [n["name"] for n in shown["nodes"]] == [pub, SUB1, SUB2]
    assert shown["devices"] == [PHONE]


def test_refusals_change_nothing(node_dir: Path) -> None:
    pub = _publisher(node_dir)
    run(node_dir, "callmanager-groups", "add", "Lab", "--node", pub)
    before = _json(node_dir, "callmanager-groups", "list")
    for args, message in (
        (("add", "Other"), "1 to 16 servers"),
        (("add", "Other", "--node", "ghost"), "server 'ghost' is not configured"),
        (("add", "Other", "--node", pub, "--node", pub), "appears twice"),
        (("add", "Default", "--node", pub), "every server of the cluster"),
        (("add", "Lab", "--node", pub), "exists already"),
        (("update", "Lab", "--node", "ghost"), "is not configured"),
        (("update", "Nope", "--description", "x"), "'Nope' does not exist"),
        (("show", "Nope"), "'Nope' does not exist"),
        (("delete", "Nope"), "'Nope' does not exist"),
    ):
        assert message in refused(node_dir, "callmanager-groups", *args), args
    assert "CallManager group 'Nope' does not exist" in refused(
        node_dir, "devices", "add", PHONE, "--model", "8851", "--line", "1000",
        "--callmanager-group", "Nope",
    )  # fmt: skip
    assert _json(node_dir, "callmanager-groups", "list") == before
    assert _json(node_dir, "devices", "list") == []


def test_devices_show_their_group(node_dir: Path) -> None:
    pub = _publisher(node_dir)
    run(node_dir, "callmanager-groups", "add", "Lab", "--node", pub)
    run(node_dir, "devices", "add", PHONE, "--model", "8851", "--line", "1000")
    assert _json(node_dir, "devices", "list")[0]["callmanager_group"] is None
    saved = run(node_dir, "devices", "set", PHONE, "--callmanager-group", "Lab")
    assert "reset required" in saved.stdout
    found = _json(node_dir, "devices", "find", "--name", PHONE)
    assert found["devices"][0]["callmanager_group"] == "Lab"


def test_edges_public_address(node_dir: Path) -> None:
    run(node_dir, "edges", "add", "192.0.2.50", "--x509-name", "expc.example.com",
        "--public-host", "ExpE.Example.com", "--public-sip-port", "5062")  # fmt: skip
    [edge] = _json(node_dir, "edges", "list")
    assert (edge["public_host"], edge["public_sip_port"], edge["public_web_port"]) == (
        "expe.example.com",
        5062,
        8443,
    )
    run(node_dir, "edges", "set", "192.0.2.50", "--public-host", "", "--public-web-port", "443")
    [edge] = _json(node_dir, "edges", "list")
    assert (edge["public_host"], edge["public_sip_port"], edge["public_web_port"]) == (
        None,
        5062,
        443,
    )
    assert "public SIP port 0 is out of range" in refused(
        node_dir, "edges", "set", "192.0.2.50", "--public-sip-port", "0"
    )
    assert "is not an IP address" in refused(
        node_dir, "edges", "set", "192.0.2.50", "--public-host", "bad host!"
    )
    assert _json(node_dir, "edges", "list") == [edge]


def test_in_the_shell(node_dir: Path) -> None:
    """The `admin:` shell has the commands at once (any case; `--node` is the
    command's, not the session's)."""
    pub = _publisher(node_dir)
    result = shell(
        node_dir,
        f"CALLMANAGER-GROUPS ADD Lab --node {SUB1} --node {pub}",
        'callmanager-groups update Lab --description "first floor"',
        "Callmanager-Groups Show Lab",
    )
    assert result.exit_code == 0, result.output
    assert f"{PROMPT}Callmanager-Groups Show Lab" in result.stdout
    assert "Description: first floor" in result.stdout
    assert result.stdout.index(SUB1) < result.stdout.index(HOST)
    assert "error" not in result.stderr

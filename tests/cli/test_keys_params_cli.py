"""`sipoauth set key regen authz …`, `show key authz …` and `parameters …`, in process.

Like test_system_cli.py: typer's CliRunner on `sipoauth.cli.app`, one data directory
initialised per module and copied for each test. (File modes, which need `main()`'s
umask and so a real process, are tested in test_cli.py.)
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from sipoauth.cli import app
from sipoauth.store import Node, RefreshToken, Store, database_url_for

HOST = "cucm-pub.example.com"
NO_ENV = {
    name: None
    for name in ("SIPOAUTH_HOME", "SIPOAUTH_DATABASE_URL", "SIPOAUTH_NODE", "SIPOAUTH_HOSTNAME")
} | {"COLUMNS": "200", "NO_COLOR": "1"}
PROMPT = (
    "Regenerating the authz signing key makes every issued token invalid; "
    "all devices must obtain new tokens. Continue? [y/N]"
)
KEY_FIELDS = {"purpose", "kid", "algorithm", "created", "hash"}


def run(data_dir: Path, *args: str, ok: bool = True, stdin: str | None = None) -> Result:
    """`sipoauth --data-dir D --hostname HOST ARGS` in process, with `stdin` as its input;
    checked for exit status and tracebacks, stdout and stderr kept apart."""
    result = CliRunner().invoke(
        app, ["--data-dir", str(data_dir), "--hostname", HOST, *args], env=NO_ENV, input=stdin
    )
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code != 0, result.output
    return result


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("cli-keys") / "var"
    run(data_dir, "init")
    return data_dir


@pytest.fixture
def node_dir(initialised: Path, tmp_path: Path) -> Path:
    """A private copy of the initialised data directory."""
    copy = tmp_path / "var"
    shutil.copytree(initialised, copy)
    return copy


def show(data_dir: Path, which: str) -> dict[str, str]:
    shown: dict[str, str] = json.loads(
        run(data_dir, "show", "key", "authz", which, "--json").stdout
    )
    return shown


async def _with_store(data_dir: Path, refresh_tokens: int = 0, subscriber: str = "") -> None:
    store = await Store.open(database_url_for(data_dir.resolve()))
    try:
        if subscriber:
            await store.nodes.upsert(
                Node(name=subscriber, host=f"{subscriber}.example.com", role="subscriber")
            )
        if refresh_tokens:
            await store.grants.create("sid-1", "jdoe", "CSFJDOE")
        for i in range(refresh_tokens):
            await store.refresh_tokens.add(
                RefreshToken(
                    token_hash=hashlib.sha256(f"rt-{i}".encode()).hexdigest(),
                    sid="sid-1",
                    client_id="CSFJDOE",
                    subject="jdoe",
                    scope="sip:register",
                    expires_at=datetime.now(UTC) + timedelta(days=1),
                )
            )
    finally:
        await store.close()


def test_show_key_text_and_json(initialised: Path) -> None:
    """`show key authz signing|encryption`: purpose, kid, algorithm, created, hash."""
    signing = show(initialised, "signing")
    assert set(signing) == KEY_FIELDS
    assert (signing["purpose"], signing["algorithm"]) == ("authz-signing", "RS256")
    assert re.fullmatch(r"[0-9a-f]{64}", signing["hash"])
    assert datetime.fromisoformat(signing["created"]).tzinfo is not None
    encryption = show(initialised, "encryption")
    assert (encryption["purpose"], encryption["algorithm"]) == ("authz-encryption", "dir+A256GCM")
    assert encryption["hash"] != signing["hash"]

    text = run(initialised, "show", "key", "authz", "signing").stdout
    for field in KEY_FIELDS:
        assert re.search(rf"^{field}:\s+{re.escape(signing[field])}$", text, re.M), text


def test_show_key_refuses_an_unknown_kind(initialised: Path) -> None:
    result = run(initialised, "show", "key", "authz", "mystery", ok=False)
    assert result.exit_code != 0 and "signing" in result.stderr


def test_regen_declined_changes_nothing(node_dir: Path) -> None:
    """Without --yes the reference asks first; "n" (or no answer) keeps the key."""
    before = show(node_dir, "signing")
    for answer in ("n\n", ""):
        result = run(node_dir, "set", "key", "regen", "authz", "signing", ok=False, stdin=answer)
        assert result.exit_code == 1
        assert PROMPT in result.stdout
        assert "error: the authz signing key was not changed" in result.stderr
    assert show(node_dir, "signing") == before


def test_regen_with_yes_and_with_confirmation(node_dir: Path) -> None:
    """--yes skips the question; "y" answers it. The printed hash is the new key's, and
    the refresh tokens are gone."""
    asyncio.run(_with_store(node_dir, refresh_tokens=2))
    before = show(node_dir, "signing")
    result = run(node_dir, "set", "key", "regen", "authz", "signing", "--yes")
    assert "Continue?" not in result.stdout
    after = show(node_dir, "signing")
    assert after["hash"] != before["hash"] and after["kid"] != before["kid"]
    assert f"hash: {after['hash']}" in result.stdout

    enc_before = show(node_dir, "encryption")
    result = run(node_dir, "set", "key", "regen", "authz", "encryption", stdin="y\n")
    assert "Regenerating the authz encryption key" in result.stdout
    enc_after = show(node_dir, "encryption")
    assert enc_after["hash"] != enc_before["hash"]
    assert f"hash: {enc_after['hash']}" in result.stdout
    assert show(node_dir, "signing") == after
    # The refresh-token lifetime change below would report them if any were left.
    reported = run(node_dir, "parameters", "set", "OAuth Refresh Token Expiry Timer (days)", "5")
    assert "0 refresh token(s) revoked" in reported.stdout


def test_regen_refused_on_a_subscriber_without_asking(node_dir: Path) -> None:
    asyncio.run(_with_store(node_dir, subscriber="cucm-sub1"))
    before = show(node_dir, "signing")
    result = run(
        node_dir, "--node", "cucm-sub1", "set", "key", "regen", "authz", "signing", ok=False
    )
    assert result.exit_code == 1
    assert "Continue?" not in result.stdout
    assert result.stderr.strip() == (
        "error: set key regen authz signing can only be run on the publisher; "
        "cucm-sub1 is a subscriber"
    )
    assert show(node_dir, "signing") == before


def test_parameters_list_json_and_text(initialised: Path) -> None:
    rows = json.loads(run(initialised, "parameters", "list", "--json").stdout)
    assert len(rows) == 10
    assert set(rows[0]) == {
        "key",
        "name",
        "group",
        "kind",
        "value",
        "display",
        "default",
        "is_default",
        "range",
        "description",
    }
    access = next(r for r in rows if r["name"] == "OAuth Access Token Expiry Timer (minutes)")
    assert (access["value"], access["default"], access["is_default"]) == (60, 60, True)
    assert (access["kind"], access["range"]) == ("int", "1–1440")
    assert access["group"] == "SSO and OAuth Configuration"
    flow = next(r for r in rows if r["name"] == "OAuth with Refresh Login Flow")
    assert (flow["value"], flow["display"]) == (False, "Disabled")

    text = run(initialised, "parameters", "list").stdout
    assert re.search(
        r"^OAuth Access Token Expiry Timer \(minutes\)\s+60\s+60\s+1–1440$", text, re.M
    )
    assert "Implicit: already registered devices" in text


def test_parameters_set_and_reset(node_dir: Path) -> None:
    asyncio.run(_with_store(node_dir, refresh_tokens=2))
    name = "OAuth Access Token Expiry Timer (minutes)"
    result = run(node_dir, "parameters", "set", name, "30")
    assert result.stdout.strip() == f"{name}: 30"
    refused = run(node_dir, "parameters", "set", name, "1441", ok=False)
    assert refused.exit_code == 1
    assert refused.stderr.strip() == f"error: {name} must be between 1 and 1440"

    result = run(node_dir, "parameters", "set", "enterprise.oauth_refresh_token_days", "90")
    assert result.stdout.splitlines() == [
        "OAuth Refresh Token Expiry Timer (days): 90",
        "2 refresh token(s) revoked; users sign in again when their access token expires.",
    ]
    result = run(node_dir, "parameters", "set", "oauth with refresh login flow", "on")
    assert result.stdout.strip() == "OAuth with Refresh Login Flow: Enabled"

    result = run(node_dir, "parameters", "reset", name)
    assert result.stdout.strip() == f"{name}: 60"
    result = run(node_dir, "parameters", "reset", name)
    assert result.stdout.strip() == f"{name}: 60 (unchanged)"
    rows = json.loads(run(node_dir, "parameters", "list", "--json").stdout)
    values = {r["name"]: r["value"] for r in rows}
    assert values[name] == 60
    assert values["OAuth Refresh Token Expiry Timer (days)"] == 90
    assert values["OAuth with Refresh Login Flow"] is True

    unknown = run(node_dir, "parameters", "set", "No Such Thing", "1", ok=False)
    assert unknown.exit_code == 1
    assert "there is no parameter 'No Such Thing'" in unknown.stderr

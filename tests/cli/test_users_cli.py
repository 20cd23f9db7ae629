"""`sipoauth users …` and `sipoauth activation-codes …`, in process.

Like test_system_cli.py: typer's CliRunner on `sipoauth.cli.app`, one data directory
initialised per module and copied for each test. Passwords go in through a
file or stdin only, and never come out; an activation code is printed by
`generate` and by nothing else.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from typer.testing import CliRunner, Result

from sipoauth.cli import app
from sipoauth.oauth._secrets import hash_activation_code, normalise_activation_code
from sipoauth.store import Store, database_url_for

HOST = "cucm-pub.example.com"
NO_ENV = {
    name: None
    for name in ("SIPOAUTH_HOME", "SIPOAUTH_DATABASE_URL", "SIPOAUTH_NODE", "SIPOAUTH_HOSTNAME")
} | {"COLUMNS": "200", "NO_COLOR": "1"}
PASSWORD = "correct horse battery"
PHONE = "SEP001122334455"


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


def refused(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    """Run a command that must fail with exit status 1; its stderr."""
    result = run(data_dir, *args, ok=False, stdin=stdin)
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
    data_dir = tmp_path_factory.mktemp("cli-users") / "var"
    run(data_dir, "init")
    return data_dir


@pytest.fixture
def node_dir(initialised: Path, tmp_path: Path) -> Path:
    """A private copy of the initialised data directory."""
    copy = tmp_path / "var"
    shutil.copytree(initialised, copy)
    return copy


# -- users ----------------------------------------------------------------------------


def test_users_add_from_file_and_stdin_then_list(node_dir: Path, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    added = run(
        node_dir, "users", "add", "alice", "--display-name", "Alice", "--password-file", str(secret)
    )
    assert "alice added" in added.stdout
    run(node_dir, "users", "add", "bob@example.com", "--password-stdin", stdin=PASSWORD + "\n")
    bare = run(node_dir, "users", "add", "carol")
    assert "cannot sign in" in bare.stdout

    listed = json.loads(run(node_dir, "users", "list", "--json").stdout)
    assert [(u["user_id"], u["display_name"], u["active"], u["password"]) for u in listed] == [
        ("alice", "Alice", True, True),
        ("bob@example.com", "", True, True),
        ("carol", "", True, False),
    ]
    table = run(node_dir, "users", "list").stdout
    assert table.splitlines()[0].split()[:3] == ["USER_ID", "DISPLAY_NAME", "ACTIVE"]
    for output in (added.stdout, table, json.dumps(listed)):
        assert PASSWORD not in output and "$argon2" not in output

    users = in_store(node_dir, lambda store: store.users.list())
    for user in users[:2]:
        assert PasswordHasher().verify(user.password_hash, PASSWORD)
    assert users[2].password_hash is None


def test_users_add_refusals(node_dir: Path, tmp_path: Path) -> None:
    run(node_dir, "users", "add", "alice")
    assert "exists already" in refused(node_dir, "users", "add", "alice")
    assert "user id" in refused(node_dir, "users", "add", "not valid")
    assert "8 to 128" in refused(node_dir, "users", "add", "dave", "--password-stdin", stdin="x\n")
    secret = tmp_path / "password"
    secret.write_text(PASSWORD, encoding="utf-8")
    both = refused(
        node_dir, "users", "add", "dave", "--password-file", str(secret), "--password-stdin"
    )
    assert "not both" in both
    missing = refused(node_dir, "users", "add", "dave", "--password-file", str(tmp_path / "no"))
    assert "cannot read" in missing
    # No password on the command line: an extra argument is a usage error.
    usage = run(node_dir, "users", "add", "dave", PASSWORD, ok=False)
    assert usage.exit_code == 2
    assert [u.user_id for u in in_store(node_dir, lambda store: store.users.list())] == ["alice"]


def test_users_set_password(node_dir: Path) -> None:
    run(node_dir, "users", "add", "alice")
    assert "--password-file or --password-stdin" in refused(
        node_dir, "users", "set-password", "alice"
    )
    assert "does not exist" in refused(
        node_dir, "users", "set-password", "nobody", "--password-stdin", stdin=PASSWORD
    )
    done = run(node_dir, "users", "set-password", "alice", "--password-stdin", stdin=PASSWORD)
    assert PASSWORD not in done.stdout + done.stderr
    user = in_store(node_dir, lambda store: store.users.get("alice"))
    assert PasswordHasher().verify(user.password_hash, PASSWORD)


async def _grants(store: Store) -> None:
    at = datetime.now(UTC) - timedelta(hours=1)
    await store.grants.create("s1", "alice", "csf", user_id="alice", at=at)
    await store.grants.create("d1", PHONE, "desk", user_id="alice", at=at)
    await store.grants.create("b1", "bob", "csf", user_id="bob", at=at)


async def _live(store: Store) -> list[str]:
    return [g.sid for g in await store.grants.list_live()]


def test_users_deactivate_activate_delete(node_dir: Path) -> None:
    run(node_dir, "users", "add", "alice", "--password-stdin", stdin=PASSWORD)
    in_store(node_dir, _grants)
    off = run(node_dir, "users", "deactivate", "alice")
    assert "alice deactivated; 2 grant(s) revoked" in off.stdout
    assert in_store(node_dir, _live) == ["b1"]
    assert in_store(node_dir, lambda store: store.users.get("alice")).active is False
    assert "alice activated" in run(node_dir, "users", "activate", "alice").stdout
    assert in_store(node_dir, lambda store: store.users.get("alice")).active is True
    gone = run(node_dir, "users", "delete", "alice")
    assert "alice deleted; 0 grant(s) revoked" in gone.stdout
    assert in_store(node_dir, lambda store: store.users.list()) == []
    assert "does not exist" in refused(node_dir, "users", "deactivate", "alice")


# -- activation codes -----------------------------------------------------------------


def _add_phone(node_dir: Path) -> None:
    run(node_dir, "devices", "add", PHONE, "--model", "8851", "--line", "1000", "--owner", "alice")


def test_activation_codes_generate_list_release(node_dir: Path) -> None:
    _add_phone(node_dir)
    shown = run(node_dir, "activation-codes", "generate", PHONE.lower())
    match = re.search(r"Activation code for (\S+): ([0-9]{4}(?:-[0-9]{4}){3})\n", shown.stdout)
    assert match is not None, shown.stdout
    assert match.group(1) == PHONE
    assert re.search(r"^Expires: \S+", shown.stdout, re.MULTILINE)

    data = json.loads(run(node_dir, "activation-codes", "generate", PHONE, "--json").stdout)
    assert set(data) == {"device", "code", "expires_at"}
    assert data["device"] == PHONE
    assert re.fullmatch(r"[0-9]{16}", data["code"])
    expires_at = datetime.fromisoformat(data["expires_at"])
    assert timedelta(hours=167) < expires_at - datetime.now(UTC) <= timedelta(hours=168)

    async def stored(store: Store) -> tuple[bytes, list[Any]]:
        [key] = await store.keys.active("activation-code")
        return base64.b64decode(key.material), await store.activation_codes.list()

    key, [record] = in_store(node_dir, stored)
    assert record.code_hash == hash_activation_code(key, data["code"])  # the newest code
    first = normalise_activation_code(match.group(2))
    assert first is not None
    assert hash_activation_code(key, first) != record.code_hash  # replaced

    listing = run(node_dir, "activation-codes", "list", "--json").stdout
    [row] = json.loads(listing)
    assert (row["device"], row["model"], row["owner"], row["expired"]) == (
        PHONE,
        "8851",
        "alice",
        False,
    )
    assert row["expires_at"] == data["expires_at"]
    table = run(node_dir, "activation-codes", "list").stdout
    for output in (listing, table):
        assert data["code"] not in output and record.code_hash not in output

    assert "released" in run(node_dir, "activation-codes", "release", PHONE).stdout
    assert json.loads(run(node_dir, "activation-codes", "list", "--json").stdout) == []
    assert "no activation code" in refused(node_dir, "activation-codes", "release", PHONE)


def test_activation_codes_refusals(node_dir: Path) -> None:
    run(node_dir, "devices", "add", "CSFALICE", "--model", "CSF", "--line", "1001")
    assert "activation codes are for desk phones" in refused(
        node_dir, "activation-codes", "generate", "CSFALICE"
    )
    assert "does not exist" in refused(node_dir, "activation-codes", "generate", PHONE)
    assert "does not exist" in refused(node_dir, "activation-codes", "release", PHONE)

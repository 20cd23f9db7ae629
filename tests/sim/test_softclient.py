"""The soft-client simulator against a real node on loopback (issue 6 point 2).

It signs in as a native app does (RFC 8252): PKCE S256, the sign-in page
fetched and its form posted with the CSRF token and cookie, the redirect
followed to its own loopback listener; then the shared lifecycle with
refresh-token rotation, until its grant is revoked (docs/oauth.md).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import typer
from typer.testing import CliRunner

from sipoauth.cli._sim import sim_app
from sipoauth.sim import SoftClient, SoftClientConfig
from sipoauth.sim._softclient import _SignInForm, default_device_name

from ._simnode import FAST, SimNode, start_sim_node

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimNode]:
    node = await start_sim_node(Path(tmp_path_factory.mktemp("softclient")))
    try:
        yield node
    finally:
        await node.close()


def _client(
    sim: SimNode, user: str, password: str, device: str, kind: str = "CSF", **settings: object
) -> SoftClient:
    return SoftClient(
        SoftClientConfig(
            user=user,
            password=password,
            client_type=kind,
            device=device,
            server=sim.server,
            settings=dataclasses.replace(FAST, **settings),  # type: ignore[arg-type]
        )
    )


async def test_signs_in_registers_rotates_its_refresh_token_and_stops_when_revoked(
    sim: SimNode,
) -> None:
    """Point 2: sign-in (code + PKCE through the page), the file with the owner's
    token, registration; each renewal rotates the refresh token (a replayed one
    would revoke the grant, so a second renewal proves the new one was kept);
    the administrator's revocation (/ssosp/token/revoke) stops it cleanly."""
    user, password, device = await sim.new_user()
    client = _client(sim, user, password, device, renew_fraction=0.03)
    await client.start()
    registered = await client.wait_for("registered", timeout=30)
    kinds = [e.kind for e in client.log.events]
    assert kinds == ["caconfig", "default-config", "signed-in", "config", "registered"]
    signed_in = client.log.events[2]
    assert signed_in.message.startswith(f"signed in as {user} (sipoauth-csf, PKCE S256;")
    assert registered.message.startswith(f"registered with localhost:{sim.ports['oauth_port']}")
    assert sim.node.registrar is not None
    assert len([b for b in sim.node.registrar.table if b.device == device]) == 1
    assert client.tokens is not None
    claims = sim.node.token_verify(client.tokens.access_token, time.time())
    assert (claims.subject, claims.client_id) == (user, "sipoauth-csf")

    seen = {client.tokens.refresh_token}
    mark = registered.seq
    for _ in range(2):
        refreshed = await client.wait_for("token-refreshed", since=mark, timeout=15)
        assert refreshed.data["rotated"] is True
        mark = (await client.wait_for("registered", since=refreshed.seq, timeout=10)).seq
        assert client.tokens.refresh_token not in seen
        seen.add(client.tokens.refresh_token)
    assert sim.node.authz is not None
    answer = await sim.node.authz.revoke_user(user)
    assert [(r["client_id"], r["grants"]) for r in answer["revoked"]] == [("sipoauth-csf", 1)]
    final = await client.finished()
    assert final.kind == "revoked"
    # The node closed its connection (it re-registers: "token revoked") or its
    # refresh was refused first, whichever came first.
    assert "invalid_grant" in final.message or "token revoked" in final.message, final.message
    assert not [b for b in sim.node.registrar.table if b.device == device]
    for event in client.log.events:
        assert password not in event.to_json()
        for token in seen:
            assert token is None or token not in event.to_json()


async def test_a_wrong_password_fails_with_the_pages_message(sim: SimNode) -> None:
    user, _, device = await sim.new_user("BOT")
    client = _client(sim, user, "not-the-password", device, "BOT")
    await client.start()
    final = await client.finished()
    assert final.kind == "failed"
    assert final.data["reason"] == "sign-in"
    assert final.message == f"failed: sign-in as {user} refused: Invalid user ID or password."


async def test_another_users_device_is_refused(sim: SimNode) -> None:
    """The registrar takes a soft client's token only for a device its user owns
    (docs/oauth.md); the file server says 403 first."""
    user, password, _ = await sim.new_user()
    _, _, someone_elses = await sim.new_user()
    client = _client(sim, user, password, someone_elses, config_attempts=1)
    await client.start()
    final = await client.finished()
    assert (final.kind, final.data["reason"]) == ("failed", "config")
    assert f"{someone_elses}.cnf.xml" in final.message and "HTTP 403" in final.message


async def test_the_cli_runs_a_soft_client_for_a_while_and_unregisters(sim: SimNode) -> None:
    """``sipoauth sim softclient … --json --duration``: one JSON object per step, the
    password read from the environment, exit status 0 after unregistering."""
    user, password, device = await sim.new_user("TAB")
    app = typer.Typer()
    app.add_typer(sim_app, name="sim")
    args = [
        "sim", "softclient", "--user", user, "--type", "TAB", "--device", device,
        "--server", f"localhost:{sim.ports['tftp_port']}", "--duration", "1", "--json",
    ]  # fmt: skip
    result = await asyncio.to_thread(
        CliRunner().invoke, app, args, env={"SIPOAUTH_PASSWORD": password}
    )
    assert result.exit_code == 0, result.output
    # (the node runs in this process: its log lines land in the same capture)
    events = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events] == [
        "caconfig", "default-config", "signed-in", "config", "registered", "unregistered",
        "stopped",
    ]  # fmt: skip
    assert {e["device"] for e in events} == {device}
    assert events[2]["client_id"] == "sipoauth-tab"
    assert password not in result.output


async def test_the_sign_in_form_is_read_as_a_browser_reads_it() -> None:
    form = _SignInForm()
    form.feed(
        '<form method="post" action="/oauth/authorize"><input type="hidden" name="state" '
        'value="a&amp;b"><input type="hidden" name="csrf_token" value="t1">'
        '<input name="user_id" value=""></form><p class="error" role="alert">Bad.</p>'
    )
    assert form.action == "/oauth/authorize"
    assert form.fields == {"state": "a&b", "csrf_token": "t1", "user_id": ""}
    assert form.error == "Bad."


async def test_default_device_names_follow_the_soft_client_rule() -> None:
    assert default_device_name("csf", "jdoe") == "CSFJDOE"
    assert default_device_name("BOT", "john.doe@example.com") == "BOTJOHN.DOEEXAM"

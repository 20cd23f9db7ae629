"""The desk-phone simulator against a real node on loopback (issue 6 point 1).

Real TLS everywhere: the phone trusts only what ``caconfig.json`` lists (the
node's CA, uploaded to phone-edge-trust, R3), onboards with its activation
code (docs/oauth.md), downloads its file over HTTPS 6971 (R10) and registers
each line over TLS on the SIP Phone OAuth Port (R5, R11). The node's server
record holds the ports it really listens on, so the file the phone reads is
the truth (``_simnode``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from sipoauth import admin
from sipoauth.sim import DeskPhone, DeskPhoneConfig, DeviceStopped, SimEvent

from ._simnode import FAST, NODE, SimNode, free_ports, start_sim_node

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimNode]:
    node = await start_sim_node(Path(tmp_path_factory.mktemp("deskphone")))
    try:
        yield node
    finally:
        await node.close()


async def _phone(sim: SimNode, *, lines: int = 1, group: str | None = None, **settings: object):
    mac, code, dns = await sim.new_phone(lines=lines, group=group)
    config = DeskPhoneConfig(
        mac=mac,
        model="8851",
        activation_code=code,
        server=sim.server,
        settings=dataclasses.replace(FAST, **settings),  # type: ignore[arg-type]
    )
    return DeskPhone(config), code, dns


def _bindings(sim: SimNode, device: str) -> list[object]:
    assert sim.node.registrar is not None
    return [b for b in sim.node.registrar.table if b.device == device]


def _secret_free(events: list[SimEvent], *secrets: str) -> None:
    for event in events:
        text = event.status_line() + event.to_json()
        for secret in secrets:
            assert secret not in text, event


async def test_onboards_downloads_its_file_registers_every_line_and_unregisters(
    sim: SimNode,
) -> None:
    """Point 1: caconfig.json (1 certificate), XMLDefault.cnf.xml, the activation code,
    the file over 6971, one binding per line carrying the device's identity on
    the flow; stop() unregisters (Expires: 0) and the bindings are gone. No
    token and no whole activation code in any status line."""
    phone, code, dns = await _phone(sim, lines=2)
    await phone.start()
    registered = await phone.wait_for("registered", timeout=30)
    kinds = [e.kind for e in phone.log.events]
    assert kinds == ["caconfig", "default-config", "activated", "config", "registered"]
    caconfig, default, activated, config = phone.log.events[:4]
    assert caconfig.message == "caconfig.json: 1 certificate"
    assert (
        default.data["token_endpoint"] == f"https://localhost:{sim.ports['web_port']}/oauth/token"
    )
    assert activated.message.startswith(f"activated with code ****-****-****-{code[-4:]}")
    assert config.data["config_version"] == 1
    assert config.data["source"] == f"localhost:{sim.ports['tftp_secure_port']}"
    assert config.message.endswith(f"lines {dns[0]}, {dns[1]})")
    assert (
        registered.message == f"registered with localhost:{sim.ports['oauth_port']} (expires 120 s)"
    )
    assert registered.status_line().startswith(phone.name)

    bindings = _bindings(sim, phone.name)
    assert sorted(b.aor for b in bindings) == sorted(f"sip:{dn}@localhost" for dn in dns)
    for binding in bindings:
        assert "reg-id=1" in binding.contact
        assert f'+u.sip!devicename.ccm.cisco.com="{phone.name}"' in binding.contact
        assert binding.instance.startswith("<urn:uuid:")
    assert phone.registered and phone.registered_with is not None

    final = await phone.stop()
    assert final.kind == "stopped"
    assert phone.log.last("unregistered") is not None
    assert _bindings(sim, phone.name) == []
    assert phone.tokens is not None
    _secret_free(
        phone.log.events, code, phone.tokens.access_token, phone.tokens.refresh_token or "-"
    )


async def test_renews_its_token_at_the_set_part_of_its_life_and_reregisters(
    sim: SimNode,
) -> None:
    """Point 1: the access token (60 s here) is renewed with the refresh token —
    rotated, the new one kept — and the lines re-register with the new token
    (renewal at 3 % of its life instead of 75 %, to keep the test short)."""
    phone, _, _ = await _phone(sim, renew_fraction=0.03)
    async with phone:
        await phone.wait_for("registered", timeout=30)
        assert phone.tokens is not None
        first = phone.tokens
        refreshed = await phone.wait_for("token-refreshed", timeout=15)
        assert refreshed.data["rotated"] is True
        again = await phone.wait_for("registered", since=refreshed.seq, timeout=10)
        assert again.data["why"] == "new token"
        assert phone.tokens.access_token != first.access_token
        assert phone.tokens.refresh_token not in (None, first.refresh_token)
        [binding] = _bindings(sim, phone.name)
        assert binding.cseq == 2
        # Same grant: the registrar sees the renewed token's session.
        assert binding.sid == sim.node.token_verify(phone.tokens.access_token, time.time()).sid
        refreshed = await phone.wait_for("token-refreshed", since=again.seq, timeout=15)
    assert phone.log.final is not None and phone.log.final.kind == "stopped"


async def test_check_sync_redownloads_the_file_and_reregisters_reset_restarts(
    sim: SimNode,
) -> None:
    """Point 1, point 4: Apply Config sends NOTIFY check-sync (reboot=false): the
    phone fetches its file (the new configVersion) and re-registers; Reset
    (reboot=true) restarts the whole lifecycle with the same tokens."""
    phone, _, _ = await _phone(sim, lines=2)
    async with phone:
        await phone.wait_for("registered", timeout=30)
        tokens = phone.tokens
        mark = phone.mark()
        version = await admin.reset_device(sim.store, phone.name, action="apply-config")
        notify = await phone.wait_for("notify", since=mark, timeout=10)
        assert notify.data == {"config_version": version, "reboot": False}
        assert notify.message == f"NOTIFY check-sync: config v{version}, re-registered"
        assert phone.reset_seen.is_set()
        after = [e.kind for e in phone.log.events if e.seq > mark]
        assert after == ["config", "registered", "notify"]  # one NOTIFY per line, acted on once

        phone.reset_seen.clear()
        mark = phone.mark()
        version = await admin.reset_device(sim.store, phone.name, action="reset")
        notify = await phone.wait_for("notify", since=mark, timeout=10)
        assert notify.data == {"config_version": version, "reboot": True}
        after = [e.kind for e in phone.log.events if e.seq > mark]
        assert after == ["caconfig", "default-config", "config", "registered", "notify"]
        assert phone.tokens is tokens  # no new onboarding
        assert len(_bindings(sim, phone.name)) == 2


async def test_a_revoked_grant_stops_the_phone_with_a_clear_message(sim: SimNode) -> None:
    """Revocation takes effect at once: the node drops the bindings and closes
    their connection (or refuses the refresh token, whichever the phone meets
    first); the phone stops (without a useless unregistration)."""
    phone, _, _ = await _phone(sim, renew_fraction=0.03)
    await phone.start()
    await phone.wait_for("registered", timeout=30)
    assert phone.tokens is not None and sim.node.authz is not None
    sid = sim.node.token_verify(phone.tokens.access_token, time.time()).sid
    assert await sim.node.authz.revoke_grant(sid, why="test")
    final = await phone.finished()
    assert final.kind == "revoked"
    assert final.message.startswith(
        ("token refresh refused (invalid_grant", "registration refused: 401 invalid_token")
    ), final.message
    assert final.message.endswith(": stopped")
    assert phone.log.last("unregistered") is None
    assert _bindings(sim, phone.name) == []
    with pytest.raises(DeviceStopped, match="stopped"):
        await phone.wait_for("registered", since=final.seq)


async def test_a_code_already_used_fails_with_a_clear_message(sim: SimNode) -> None:
    """Activation codes are single use (docs/oauth.md): a second phone with the
    same MAC and code is refused "Invalid activation code" and says so."""
    phone, code, _ = await _phone(sim)
    async with phone:
        await phone.wait_for("registered", timeout=30)
    again = DeskPhone(phone.config)
    await again.start()
    final = await again.finished()
    assert final.kind == "failed"
    assert final.data["reason"] == "activation"
    assert final.message == (
        f"failed: activation with code ****-****-****-{code[-4:]} refused: "
        "invalid_grant (Invalid activation code)"
    )
    assert [e.kind for e in again.log.events] == ["caconfig", "default-config", "failed"]
    _secret_free(again.log.events, code)


async def test_a_node_that_is_down_makes_the_phone_fail_over_to_the_next(sim: SimNode) -> None:
    """Point 6: the phone's CallManager group lists a node that is down first; the
    phone falls back to the next one (its config download too: the dead node's
    6971 is listed first)."""
    dead = dict(
        zip(
            (
                "sip_port",
                "secure_sip_port",
                "oauth_port",
                "mra_port",
                "web_port",
                "tftp_port",
                "tftp_secure_port",
            ),
            free_ports(7),
            strict=True,
        )
    )
    await admin.add_server(sim.store, "node0", "localhost", **dead)
    await admin.add_group(sim.store, name="failover", nodes=["node0", NODE])
    phone, _, _ = await _phone(sim, group="failover")
    async with phone:
        registered = await phone.wait_for("registered", timeout=30)
        assert registered.data["node"] == f"localhost:{sim.ports['oauth_port']}"
        config = phone.log.last("config")
        assert config is not None
        assert config.data["source"] == f"localhost:{sim.ports['tftp_secure_port']}"
        failovers = [e.message for e in phone.log.events if e.kind == "failover"]
        assert len(failovers) == 1
        assert failovers[0].startswith(f"localhost:{dead['oauth_port']}: ")
        assert failovers[0].endswith("; trying the next node")


async def test_keepalives_refreshes_and_a_lost_flow_registered_again(sim: SimNode) -> None:
    """RFC 5626 §4.4.1: CRLF CRLF pings get CRLF pongs; the registration is refreshed
    before the granted Expires ends (here at 2 % of it); when the node's
    CallManager restarts (its connections close), the phone registers again on a
    new flow. This phone sends its token as deployed phones do
    (``Proxy-Authorization: Bearer token="…"``)."""
    phone, _, _ = await _phone(
        sim, keepalive_interval=0.2, reregister_fraction=0.02, proxy_form=True
    )
    async with phone:
        first = await phone.wait_for("registered", timeout=30)
        refreshed = await phone.wait_for("registered", since=first.seq, timeout=10)
        assert refreshed.data["why"] == "refresh"
        for _ in range(100):
            if phone.pongs >= 2:
                break
            await asyncio.sleep(0.05)
        assert phone.pongs >= 2
        mark = phone.mark()
        await sim.node.restart_service("callmanager")
        lost = await phone.wait_for("connection-lost", since=mark, timeout=10)
        again = await phone.wait_for("registered", since=lost.seq, timeout=20)
        assert again.data["why"] == "recovered"
        assert len(_bindings(sim, phone.name)) == 1

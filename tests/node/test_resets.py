"""Reset / Apply Config reach a registered phone as NOTIFY check-sync (issue 4
point 10, R9: "a phone must be reset for the change to take effect"), down its
flow: directly, and through the edge with the recorded Path as Route (RFC 3327
§5.4)."""

from __future__ import annotations

import pytest

from sipoauth import admin
from sipoauth.node import Node
from sipoauth.node._resets import ResetRequest, parse_reset

from ._support import PHONE, PHONE2, Prepared
from .test_loopback import PATH, connect, phone, register


async def test_reset_sends_check_sync_with_reboot(prepared: Prepared, node: Node) -> None:
    client = await connect(prepared, node)
    try:
        assert (await register(client, phone(), prepared.mint())).status == 200
        version = await admin.reset_device(node.store, PHONE, action="reset")
        notify = await client.next_request()
        assert notify.method == "NOTIFY"
        assert notify.get("event") == "check-sync;reboot=true"
        assert notify.get("cseq") == "1 NOTIFY"
        assert notify.get("to") == "<sip:1001@localhost>"
        assert str(notify.request_uri).startswith("sip:1001@")
        assert "route" not in notify.headers
        assert version >= 2
    finally:
        await client.close()


async def test_apply_config_through_the_edge_routes_by_path(prepared: Prepared, node: Node) -> None:
    client = await connect(prepared, node, cert=prepared.edge_cert, mra=True)
    try:
        ident = phone(PHONE2, "2001")
        reply = await register(
            client, ident, prepared.mint(PHONE2), extra=(f"Path: {PATH}", "Supported: path")
        )
        assert reply.status == 200
        await admin.reset_device(node.store, PHONE2, action="apply-config")
        notify = await client.next_request()
        assert notify.get("event") == "check-sync;reboot=false"
        assert notify.get_all("route") == [PATH]
    finally:
        await client.close()


async def test_a_device_registered_elsewhere_gets_nothing_here(
    prepared: Prepared, node: Node
) -> None:
    """Only the node holding the registration sends; the others ignore it."""
    client = await connect(prepared, node)
    try:
        assert (await register(client, phone(), prepared.mint())).status == 200
        await admin.reset_device(node.store, PHONE2, action="reset")
        with pytest.raises(TimeoutError):
            await client.next_request(timeout=1.0)
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("payload", "parsed"),
    [
        (
            '{"device": "SEP1", "action": "reset", "config_version": 3}',
            ResetRequest("SEP1", "reset", 3),
        ),
        (
            '{"device": "SEP1", "action": "apply-config"}',
            ResetRequest("SEP1", "apply-config", None),
        ),
        ('{"device": "SEP1", "action": "format-disk"}', None),
        ('{"device": "", "action": "reset"}', None),
        ("[1, 2]", None),
        ("not json", None),
    ],
)
def test_parse_reset(payload: str, parsed: ResetRequest | None) -> None:
    assert parse_reset(payload) == parsed

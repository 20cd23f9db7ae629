"""Admin pages: SIP OAuth mode (R7), Feature Services (R8), Registrations."""

from __future__ import annotations

import pytest

from sipoauth import admin
from sipoauth.web import _pages_cluster

from ._pages_support import browser
from ._support import NODE, Api


async def test_sip_oauth_mode(api: Api) -> None:
    async with browser(api) as b:
        r = await b.get("/admin/mode")
        assert r.status_code == 200 and 'id="mode-flag"' in r.text and "Disabled" in r.text
        r = await b.post("/admin/mode", {"action": "enable"})
        r = await b.get(r.headers["location"])
        assert "export-controlled" in r.text and "flash-error" in r.text  # R2.2
        assert not await admin.sip_oauth_mode(api.store)
        await admin.register_license(
            api.store, virtual_account="v", allow_export_controlled=True, node_name=NODE
        )
        r = await b.post("/admin/mode", {"action": "enable"})
        r = await b.get(r.headers["location"])
        assert "SIP OAuth mode enabled. Restart Cisco CallManager on node1" in r.text
        assert "Restart pending" in r.text
        assert await admin.sip_oauth_mode(api.store)
        r = await b.post("/admin/mode", {"action": "disable"})
        assert "Disable SIP OAuth mode on every node" in r.text  # confirmation first
        assert await admin.sip_oauth_mode(api.store)
        r = await b.post("/admin/mode", {"action": "disable", "confirm": "yes"})
        assert r.status_code == 303 and not await admin.sip_oauth_mode(api.store)


async def test_feature_services(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_pages_cluster, "COMMAND_WAIT_SECONDS", 0.05)
    async with browser(api) as b:
        r = await b.get("/admin/services")
        assert r.status_code == 200
        for name in ("Cisco CallManager", "Cisco Tomcat", "Cisco TFTP"):
            assert name in r.text
        action = "/admin/services/action?node=node1&service=callmanager&action=restart"
        r = await b.post(action)
        assert "Restart Cisco CallManager on node1?" in r.text  # confirmation first
        assert await api.store.service_commands.get(1) is None
        r = await b.post(action, {"confirm": "yes"})
        assert r.status_code == 303 and r.headers["location"] == "/admin/services?node=node1"
        r = await b.get(r.headers["location"])
        assert "node1 is not running: the command stays queued" in r.text
        command = await api.store.service_commands.get(1)
        assert command is not None and (command.action, command.requested_by) == (
            "restart",
            "admin",
        )
        r = await b.post("/admin/services/action?node=node1&service=nope&action=start")
        assert r.status_code == 400 and "unknown service" in r.text


async def test_registrations(api: Api) -> None:
    async with browser(api) as b:
        r = await b.get("/admin/registrations?device=SEP001122334455&node=node1")
        assert r.status_code == 200 and "No device is registered that matches" in r.text
        assert 'data-refresh="5"' in r.text

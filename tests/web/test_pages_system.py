"""Admin pages: System > Server (R5), Enterprise / Service Parameters (R4), Licensing (R2.2)."""

from __future__ import annotations

import html
import re

from sipoauth import admin

from ._pages_support import browser
from ._support import ADMIN, NODE, Api, snapshot

ACCESS_KEY = "enterprise.oauth_access_token_minutes"
FLOW_KEY = "enterprise.oauth_refresh_login_flow"


async def form_values(api: Api, group: str) -> dict[str, str]:
    """The parameters of ``group`` as their form posts them now."""
    return {
        p.parameter.key: str(p.value).lower() if isinstance(p.value, bool) else str(p.value or "")
        for p in await admin.list_parameters(api.store)
        if p.parameter.group == group
    }


def error_of(text: str, field: str) -> str:
    """The validation message shown next to ``field``."""
    found = re.search(rf'<p class="error" id="e-{re.escape(field)}">(.*?)</p>', text, re.S)
    assert found, f"no error next to {field}"
    return html.unescape(found.group(1))


async def test_servers_list_add_edit_delete(api: Api) -> None:
    async with browser(api) as b:
        r = await b.get("/admin/servers")
        assert r.status_code == 200 and "1 servers found" in r.text and NODE in r.text
        r = await b.get("/admin/servers/new")
        assert 'value="5090"' in r.text and "SIP Phone OAuth Port" in r.text
        form = {
            "name": "sub1",
            "host": "192.0.2.7",
            "role": "subscriber",
            "sip_port": "5060",
            "secure_sip_port": "5061",
            "oauth_port": "5090",
            "mra_port": "5091",
            "web_port": "8443",
            "tftp_port": "6970",
            "tftp_secure_port": "6971",
        }
        r = await b.post("/admin/servers/new", form)
        assert r.status_code == 303 and r.headers["location"] == "/admin/servers/edit?name=sub1"
        r = await b.get(r.headers["location"])
        assert "Added sub1." in r.text
        # R5: the OAuth ports, range checked, the message next to the field.
        ports = {k: v for k, v in form.items() if k.endswith("port")}
        before = await snapshot(api.store)
        r = await b.post("/admin/servers/edit?name=sub1", {**ports, "mra_port": "80"})
        assert r.status_code == 422
        assert "1024-49151" in error_of(r.text, "mra_port")
        assert 'value="80"' in r.text  # what was typed stays
        r = await b.post("/admin/servers/edit?name=sub1", {**ports, "oauth_port": "x"})
        assert "whole number" in error_of(r.text, "oauth_port")
        r = await b.post("/admin/servers/edit?name=sub1", {**ports, "mra_port": "5090"})
        assert "both 5090" in error_of(r.text, "oauth_port")
        assert await snapshot(api.store) == before
        r = await b.post("/admin/servers/edit?name=sub1", {**ports, "oauth_port": "5190"})
        assert r.status_code == 303
        assert (await admin.get_server(api.store, "sub1")).oauth_port == 5190
        row = (await admin.list_audit(api.store, limit=1))[0]
        assert (row.action, row.object_id, row.actor, row.interface) == (
            "set-ports",
            "sub1",
            ADMIN,
            "web",
        )
        # a wrong add: the message is next to the host
        r = await b.post("/admin/servers/new", {**form, "name": "sub2", "host": "bad host!"})
        assert r.status_code == 422 and "host" in error_of(r.text, "host")
        # find: by name, paging
        r = await b.get("/admin/servers?field=name&op=begins&text=sub")
        assert "1 servers found" in r.text and "sub1" in r.text
        r = await b.get("/admin/servers?field=host&op=contains&text=nothing")
        assert "No servers match" in r.text
        # delete: confirmation first
        r = await b.get("/admin/servers/delete?name=sub1")
        assert "Delete server sub1" in r.text
        assert await admin.get_server(api.store, "sub1")
        r = await b.post("/admin/servers/delete?name=sub1", {"confirm": "yes"})
        assert r.status_code == 303
        assert [n.name for n in await admin.list_servers(api.store)] == [NODE]
        r = await b.get("/admin/servers/edit?name=nope")
        assert r.status_code == 404 and "not configured" in r.text


async def test_enterprise_parameters_saved_as_a_unit(api: Api) -> None:
    async with browser(api) as b:
        r = await b.get("/admin/parameters/enterprise")
        assert "OAuth with Refresh Login Flow" in r.text and "SSO and OAuth Configuration" in r.text
        values = await form_values(api, "SSO and OAuth Configuration")
        assert len(values) == 5
        values.update({FLOW_KEY: "true", ACCESS_KEY: "30"})
        assert all(f'name="{key}"' in r.text for key in values), r.text
        before = await snapshot(api.store)
        r = await b.post("/admin/parameters/enterprise", {**values, ACCESS_KEY: "0"})
        assert r.status_code == 422
        assert "between 1 and 1440" in error_of(r.text, ACCESS_KEY)
        assert await snapshot(api.store) == before  # nothing saved, not even the flow
        r = await b.post("/admin/parameters/enterprise", values)
        assert r.status_code == 303
        r = await b.get(r.headers["location"])
        assert "Saved: OAuth with Refresh Login Flow, OAuth Access Token" in r.text
        params = {p.parameter.key: p.value for p in await admin.list_parameters(api.store)}
        assert params[FLOW_KEY] is True and params[ACCESS_KEY] == 30


async def test_service_parameters(api: Api) -> None:
    async with browser(api) as b:
        r = await b.get("/admin/parameters/service")
        assert "SIP Realm Station" in r.text and "Activation Time to Live (Hours)" in r.text
        values = await form_values(api, "Service Parameters")
        realm = "service.sip_realm"
        assert realm in values
        r = await b.post("/admin/parameters/service", {**values, realm: 'a"b'})
        assert r.status_code == 422 and "quotes" in error_of(r.text, realm)
        r = await b.post("/admin/parameters/service", {**values, realm: "example"})
        assert r.status_code == 303
        assert {p.parameter.key: p.value for p in await admin.list_parameters(api.store)}[
            realm
        ] == "example"


async def test_licensing(api: Api) -> None:
    async with browser(api) as b:
        r = await b.get("/admin/licensing")
        assert "Evaluation" in r.text
        r = await b.post("/admin/licensing", {"action": "register", "virtual_account": ""})
        assert r.status_code == 422 and "1-128" in error_of(r.text, "virtual_account")
        r = await b.post("/admin/licensing", {"action": "allow"})
        assert r.status_code == 422 and "registered cluster" in r.text
        r = await b.post(
            "/admin/licensing",
            {"action": "register", "virtual_account": "Voice", "allow_export_controlled": "on"},
        )
        assert r.status_code == 303
        status = await admin.license_status(api.store)
        assert status.registration == "registered" and status.export_controlled_allowed
        r = await b.post("/admin/licensing", {"action": "deregister"})
        assert r.status_code == 200 and "Deregister the cluster" in r.text  # confirmation
        assert (await admin.license_status(api.store)).registration == "registered"
        r = await b.post("/admin/licensing", {"action": "deregister", "confirm": "yes"})
        assert r.status_code == 303
        assert (await admin.license_status(api.store)).registration == "unregistered"

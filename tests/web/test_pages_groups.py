"""Admin pages: System > CallManager Group."""

from __future__ import annotations

from sipoauth import admin

from ._pages_support import browser
from ._support import NODE, Api
from .test_pages_system import error_of


async def test_callmanager_groups(api: Api) -> None:
    await admin.add_server(api.store, "node2", "192.0.2.8")
    async with browser(api) as b:
        r = await b.post("/admin/groups/new", {"name": "DC2", "nodes": "node2, nope"})
        assert r.status_code == 422 and error_of(r.text, "nodes")
        r = await b.post(
            "/admin/groups/new", {"name": "DC2", "description": "", "nodes": "node2, node1"}
        )
        assert r.status_code == 303
        assert (await admin.get_group(api.store, "DC2")).nodes == ("node2", NODE)
        r = await b.get("/admin/groups")
        assert "node2 → node1" in r.text
        r = await b.post("/admin/groups/edit?name=DC2", {"description": "x", "nodes": "node1"})
        assert r.status_code == 303
        assert (await admin.get_group(api.store, "DC2")).nodes == (NODE,)
        r = await b.get("/admin/groups/delete?name=DC2")
        assert "Delete CallManager group DC2?" in r.text
        r = await b.post("/admin/groups/delete?name=DC2", {"confirm": "yes"})
        assert r.status_code == 303 and await admin.find_groups(api.store) == []
        r = await b.get("/admin/users")
        assert r.status_code == 200


async def test_audit_log(api: Api) -> None:
    async with browser(api) as b:
        await b.post("/admin/groups/new", {"name": "G", "description": "", "nodes": NODE})
        r = await b.get("/admin/audit?object_type=callmanager-group")
        assert r.status_code == 200
        assert "callmanager-group G" in r.text and "web" in r.text
        r = await b.get("/admin/audit?actor=nobody&limit=500")
        assert "No entries match" in r.text

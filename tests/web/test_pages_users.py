"""Admin pages: User Management > End User."""

from __future__ import annotations

from sipoauth import admin

from ._pages_support import browser
from ._support import Api
from .test_pages_system import error_of


async def test_end_users(api: Api) -> None:
    async with browser(api) as b:
        r = await b.post(
            "/admin/users/new", {"user_id": "bad user", "password": "", "active": "on"}
        )
        assert r.status_code == 422 and error_of(r.text, "user_id")
        r = await b.post(
            "/admin/users/new", {"user_id": "jdoe", "password": "short", "active": "on"}
        )
        assert r.status_code == 422 and "8" in error_of(r.text, "password")
        assert 'value="short"' not in r.text  # a password is never sent back
        assert await admin.list_users(api.store) == []
        r = await b.post(
            "/admin/users/new",
            {"user_id": "jdoe", "display_name": "J Doe", "password": "secret-pass", "active": "on"},
        )
        assert r.status_code == 303
        assert await admin.verify_user_password(api.store, "jdoe", "secret-pass")
        r = await b.get("/admin/users?field=display_name&op=contains&text=doe")
        assert "1 users found" in r.text
        r = await b.post("/admin/users/edit?user=jdoe", {"action": "password", "password": "x"})
        assert r.status_code == 422 and error_of(r.text, "password")
        r = await b.post(
            "/admin/users/edit?user=jdoe", {"action": "password", "password": "another-pass"}
        )
        assert r.status_code == 303
        assert await admin.verify_user_password(api.store, "jdoe", "another-pass")
        r = await b.post("/admin/users/edit?user=jdoe", {"action": "deactivate"})
        r = await b.get(r.headers["location"])
        assert 'id="user-status">Inactive' in r.text
        r = await b.get("/admin/users/delete?user=jdoe")
        assert "Delete end user jdoe?" in r.text
        r = await b.post("/admin/users/delete?user=jdoe", {"confirm": "yes"})
        assert r.status_code == 303 and await admin.list_users(api.store) == []

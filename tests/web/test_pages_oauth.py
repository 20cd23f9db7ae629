"""Admin pages: OAuth (keys, revocation) and Activation Codes."""

from __future__ import annotations

from datetime import UTC, datetime

from sipoauth import admin

from ._pages_support import browser
from ._support import Api
from .test_pages_system import error_of

PHONE = "SEP001122334455"


async def test_keys_and_revocation(api: Api) -> None:
    async with browser(api) as b:
        before = await admin.show_authz_key(api.store, "signing")
        r = await b.get("/admin/oauth")
        assert r.status_code == 200 and before.hash in r.text
        r = await b.get("/admin/oauth/regenerate?key=signing")
        assert "Every access and refresh token becomes invalid" in r.text
        assert (await admin.show_authz_key(api.store, "signing")).hash == before.hash
        r = await b.post("/admin/oauth/regenerate?key=signing", {"confirm": "yes"})
        assert r.status_code == 303
        after = await admin.show_authz_key(api.store, "signing")
        assert after.hash != before.hash
        r = await b.get("/admin/oauth")
        assert f"its hash is now {after.hash}" in r.text
        r = await b.post("/admin/oauth/revoke", {"user_id": "", "client_id": ""})
        assert r.status_code == 422 and "User ID" in error_of(r.text, "user_id")
        r = await b.post("/admin/oauth/revoke", {"user_id": "jdoe", "client_id": ""})
        assert r.status_code == 303
        r = await b.get("/admin/oauth")
        assert "Revoked 0 grant(s) of jdoe" in r.text
        row = (await admin.list_audit(api.store, limit=1))[0]
        assert (row.action, row.object_id, row.interface) == ("revoke", "jdoe", "web")


async def test_activation_codes(api: Api) -> None:
    await admin.add_device(
        api.store,
        name=PHONE,
        model="8851",
        lines=["1001"],
        profile=admin.OAUTH_PROFILE,
        requires_activation_code=True,
    )
    await admin.generate_activation_code(api.store, PHONE, now=datetime.now(UTC))
    async with browser(api) as b:
        r = await b.get("/admin/activation-codes")
        assert "1 pending activation codes" in r.text and PHONE in r.text
        r = await b.get("/admin/activation-codes/export")
        assert "its previous code stops working" in r.text
        r = await b.post("/admin/activation-codes/export", {"confirm": "yes"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert r.headers["cache-control"] == "no-store"
        lines = r.text.strip().splitlines()
        assert lines[0].startswith("device,model") and lines[1].startswith(PHONE)
        r = await b.get(f"/admin/activation-codes/release?device={PHONE}")
        assert f"Release the activation code of {PHONE}?" in r.text
        r = await b.post(f"/admin/activation-codes/release?device={PHONE}", {"confirm": "yes"})
        assert r.status_code == 303
        assert await admin.list_activation_codes(api.store, now=datetime.now(UTC)) == []

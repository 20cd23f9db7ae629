"""Admin pages: sign-in, session, sign-out, CSRF, lockout, security headers."""

from __future__ import annotations

from sipoauth import admin

from ._pages_support import ORIGIN, browser
from ._support import ADMIN, Api

COOKIE = "__Host-sipoauth-admin"


async def test_signin_session_and_signout(api: Api) -> None:
    async with browser(api, signed_in=False) as b:
        r = await b.get("/admin/servers?text=node")
        assert r.status_code == 303
        assert r.headers["location"].startswith("/admin/signin?next=%2Fadmin%2Fservers")
        r = await b.get("/admin/signin")
        assert r.status_code == 200 and 'name="username"' in r.text
        assert "default-src 'none'" in r.headers["content-security-policy"]
        r = await b.post(
            "/admin/signin",
            {"username": ADMIN, "password": "test-password", "next": "/admin/servers?text=node"},
        )
        assert r.status_code == 303 and r.headers["location"] == "/admin/servers?text=node"
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(COOKIE + "=")
        for attribute in ("Secure", "HttpOnly", "SameSite=strict", "Path=/"):
            assert attribute.lower() in cookie.lower(), cookie
        r = await b.get("/admin/")
        assert r.status_code == 200 and "Signed in as" in r.text
        headers = r.headers
        assert headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert "'unsafe-inline'" not in headers["content-security-policy"]
        assert "<script>" not in r.text and "style=" not in r.text
        for label in (
            "System",
            "Device",
            "User Management",
            "Certificate Management",
            "Control Center",
            "Registrations",
            "OAuth",
            "Activation Codes",
        ):
            assert label in r.text
        r = await b.post("/admin/signout")
        assert r.status_code == 303 and r.headers["location"] == "/admin/signin?m=signed-out"
        r = await b.get("/admin/")
        assert r.status_code == 303 and "/admin/signin" in r.headers["location"]
    rows = await admin.list_audit(api.store, limit=2)
    assert [(r.action, r.interface) for r in rows] == [("sign-out", "web"), ("sign-in", "web")]


async def test_unsafe_next_is_ignored(api: Api) -> None:
    async with browser(api, signed_in=False) as b:
        await b.get("/admin/signin")
        unsafe = ("https://evil.example/", "//evil.example/x", "/oauth/authorize", "/admin\\x")
        for target in unsafe:
            r = await b.post(
                "/admin/signin", {"username": ADMIN, "password": "test-password", "next": target}
            )
            assert r.headers["location"] == "/admin/", target
            await b.get("/admin/signin")


async def test_session_idle_and_absolute_expiry(api: Api) -> None:
    async with browser(api) as b:
        api.clock.advance(29 * 60)
        assert (await b.get("/admin/")).status_code == 200
        api.clock.advance(29 * 60)
        assert (await b.get("/admin/")).status_code == 200  # idle time restarted
        api.clock.advance(30 * 60)
        r = await b.get("/admin/")
        assert r.status_code == 303 and "m=expired" in r.headers["location"]
        r = await b.get(r.headers["location"])
        assert "Your session ended" in r.text
    async with browser(api) as b:
        for _ in range(16):  # busy, but 8 hours after sign-in it ends
            api.clock.advance(29 * 60)
            assert (await b.get("/admin/")).status_code == 200
        api.clock.advance(29 * 60)
        assert (await b.get("/admin/")).status_code == 303


async def test_csrf_refused(api: Api) -> None:
    async with browser(api) as b:
        await b.get("/admin/servers/edit?name=node1")
        before = await api.store.nodes.list()
        r = await b.post("/admin/servers/edit?name=node1", {"oauth_port": "5190"}, token="forged")
        assert r.status_code == 403 and "Nothing was changed" in r.text
        r = await b.post(
            "/admin/servers/edit?name=node1",
            {"oauth_port": "5190"},
            headers={"Origin": "https://evil.example"},
        )
        assert r.status_code == 403
        form = {"csrf_token": b.token, "oauth_port": "5190"}
        r = await b.client.post("/admin/servers/edit?name=node1", data=form)  # no Origin/Referer
        assert r.status_code == 403
        assert await api.store.nodes.list() == before
        r = await b.client.post("/admin/signout", data={"csrf_token": "x"}, headers=ORIGIN)
        assert r.status_code == 403
        assert (await b.get("/admin/")).status_code == 200  # still signed in


async def test_signin_form_csrf(api: Api) -> None:
    async with browser(api, signed_in=False) as b:
        r = await b.client.post(
            "/admin/signin",
            data={"username": ADMIN, "password": "test-password", "csrf_token": "x"},
            headers=ORIGIN,
        )
        assert r.status_code == 400 and "expired" in r.text
        await b.get("/admin/signin")
        r = await b.post(
            "/admin/signin",
            {"username": ADMIN, "password": "test-password"},
            headers={"Origin": "https://evil.example"},
        )
        assert r.status_code == 403


async def test_lockout(api: Api) -> None:
    async with browser(api, signed_in=False) as b:
        for _ in range(5):
            r = await b.signin(password="wrong-password")
            assert r.status_code in (401, 429)
        assert r.status_code == 429 and "try again in" in r.text
        assert int(r.headers["retry-after"]) > 0
        checks = len(api.checks)
        r = await b.signin()  # the right password, but locked: not even checked
        assert r.status_code == 429 and len(api.checks) == checks
    # The same key as the REST API's Basic check: the API is locked too.
    async with api.client() as client:
        r = await client.get("/servers")
        assert r.status_code == 429
    api.node._authz().throttle._limiter.storage.reset()  # type: ignore[attr-defined]
    async with browser(api) as b:
        assert (await b.get("/admin/")).status_code == 200


async def test_inactive_admin_is_signed_out(api: Api) -> None:
    async with browser(api) as b:
        account = await api.store.admins.get(ADMIN)
        assert account is not None
        await api.store.admins.set_active(ADMIN, False)
        r = await b.get("/admin/")
        assert r.status_code == 303


async def test_static_files(api: Api) -> None:
    async with browser(api, signed_in=False) as b:
        r = await b.client.get("/admin/static/admin.css")
        assert r.status_code == 200 and "text/css" in r.headers["content-type"]
        r = await b.client.get("/admin/static/admin.js")
        assert r.status_code == 200


async def test_unknown_page(api: Api) -> None:
    async with browser(api, signed_in=False) as b:
        r = await b.client.get("/admin/nowhere")
        assert r.status_code == 404 and "Page not found" in r.text
        assert r.headers["cache-control"] == "no-store"
        r = await b.client.delete("/admin/signin")
        assert r.status_code == 405

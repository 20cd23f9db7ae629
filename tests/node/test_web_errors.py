"""The web service's own errors: JSON, never cached, with ``Allow`` on 405 (RFC 9110 §15.5.6)."""

from __future__ import annotations

import httpx

from sipoauth.web import build_web_app


async def _never(username: str, password: str, peer: object) -> bool:
    raise AssertionError("not reached")


async def test_405_carries_allow_and_no_store() -> None:
    app = build_web_app(lambda: None, _never)  # type: ignore[arg-type,return-value]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://node") as client:
        r = await client.get("/oauth/token")
        assert r.status_code == 405
        assert r.headers["allow"] == "POST"
        assert r.headers["cache-control"] == "no-store"
        assert r.json()["error"] == "method_not_allowed"
        r = await client.get("/no/such/page")
        assert r.status_code == 404 and r.json()["error"] == "not_found"

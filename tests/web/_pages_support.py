"""Helpers of the admin page tests: a signed-in browser-like client over ASGI."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from ._support import ADMIN, BASE, PASSWORD, Api

ORIGIN = {"Origin": BASE}
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The synchronizer token of a page's forms."""
    found = _TOKEN.search(html)
    assert found, "no csrf_token on the page"
    return found.group(1)


class Browser:
    """A cookie-keeping client that posts forms as a browser of this origin does."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.token = ""

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        r = await self.client.get(path, **kw)
        if "csrf_token" in r.text:
            self.token = csrf_of(r.text)
        return r

    async def post(
        self, path: str, data: dict[str, Any] | None = None, *, token: str | None = None, **kw: Any
    ) -> httpx.Response:
        form = {"csrf_token": self.token if token is None else token, **(data or {})}
        headers = {**ORIGIN, **kw.pop("headers", {})}
        r = await self.client.post(path, data=form, headers=headers, **kw)
        if "csrf_token" in r.text:
            self.token = csrf_of(r.text)
        return r

    async def signin(self, user: str = ADMIN, password: str = PASSWORD) -> httpx.Response:
        await self.get("/admin/signin")
        return await self.post("/admin/signin", {"username": user, "password": password})


@asynccontextmanager
async def browser(api: Api, *, signed_in: bool = True) -> AsyncIterator[Browser]:
    """A browser on the node's web app, signed in as the admin unless told not to."""
    transport = httpx.ASGITransport(app=api.app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as client:
        b = Browser(client)
        if signed_in:
            r = await b.signin()
            assert r.status_code == 303, r.text
            assert r.headers["location"] == "/admin/"
            await b.get("/admin/")  # the session's token for the forms
        yield b

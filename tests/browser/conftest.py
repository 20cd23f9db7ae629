"""Browser tests: Playwright (Python) driving the system Chromium against a real
node on loopback.

Chromium is Debian's ``chromium`` (``.ci/run`` installs it). When it is missing
and ``apt-get`` is there (as root), it is installed here; the tests are skipped,
with the reason printed, only when it is missing and cannot be installed that
way.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from node._support import Prepared, port_of, prepare, start_node
from sipoauth.node import Node

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
ADMIN = "admin"
PASSWORD = "test-password"


def _chromium() -> str:
    found = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        reason = "chromium is not installed and apt-get is not available to install it"
        print(f"\n[browser] skipping: {reason}")
        pytest.skip(reason)
    if os.geteuid() != 0:
        pytest.fail("chromium is missing: install Debian's chromium (.ci/run does)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([apt, "update", "-qq"], env=env, check=False)
    subprocess.run([apt, "install", "-y", "-qq", "chromium"], env=env, check=True)
    found = shutil.which("chromium")
    assert found, "apt-get installed chromium but it is not on PATH"
    return found


@dataclass
class Site:
    """A running node, a browser page on it, and the REST API to check results."""

    node: Node
    prepared: Prepared
    base: str
    page: Page
    context: BrowserContext
    api: httpx.AsyncClient
    folder: Path
    step: int = 0

    async def shot(self, name: str) -> None:
        """A screenshot of this step under test-artifacts/browser/<test>/."""
        self.step += 1
        path = self.folder / f"{self.step:02d}-{name}.png"
        await self.page.screenshot(path=path, full_page=True)

    async def signin(self, user: str = ADMIN, password: str = PASSWORD) -> None:
        await self.page.goto(self.base + "/admin/signin")
        await self.page.get_by_label("User name").fill(user)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Sign in").click()


@pytest.fixture(scope="module")
def chromium() -> str:
    return _chromium()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Prepared:
    import asyncio

    root: Path = tmp_path_factory.mktemp("browser")
    return asyncio.run(prepare(root))


@pytest_asyncio.fixture
async def browser(chromium: str) -> AsyncIterator[Browser]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    ignore = ARTIFACTS.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            yield launched
        finally:
            await launched.close()


@pytest_asyncio.fixture
async def site(
    request: pytest.FixtureRequest, prepared: Prepared, browser: Browser
) -> AsyncIterator[Site]:
    folder = ARTIFACTS / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    node = await start_node(prepared)
    base = f"https://localhost:{port_of(node, 'HTTPS')}"
    context = await browser.new_context(ignore_https_errors=True, locale="en-US")
    page = await context.new_page()
    page.set_default_timeout(10_000)
    trust = ssl.create_default_context(cadata=prepared.ca_pem.decode())
    api = httpx.AsyncClient(base_url=base + "/api/v1", verify=trust, auth=(ADMIN, PASSWORD))
    try:
        yield Site(node, prepared, base, page, context, api, folder)
    finally:
        await api.aclose()
        await context.close()
        await node.close()

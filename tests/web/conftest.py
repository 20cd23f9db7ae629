"""An API app per test on a fresh SQLite store and data directory, copied from
a template initialised once per session (keys and certificates take time)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ._support import Api, open_api, prepare


@pytest.fixture(scope="session")
def _api_template(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> Path:
    root = tmp_path_factory.mktemp("api-template")
    shutil.copyfile(_sqlite_template, root / "sipoauth.db")
    asyncio.run(prepare(f"sqlite+aiosqlite:///{root / 'sipoauth.db'}", root / "var"))
    return root


@pytest.fixture
async def api(tmp_path: Path, _api_template: Path) -> AsyncIterator[Api]:
    root = tmp_path / "api"
    shutil.copytree(_api_template, root)
    async with open_api(f"sqlite+aiosqlite:///{root / 'sipoauth.db'}", root / "var") as opened:
        yield opened


@pytest.fixture
async def pg_api(tmp_path: Path, pg_db_url: str) -> AsyncIterator[Api]:
    """The same on a fresh PostgreSQL database (cluster mode)."""
    await prepare(pg_db_url, tmp_path / "var")
    async with open_api(pg_db_url, tmp_path / "var") as opened:
        yield opened

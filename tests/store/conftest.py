"""Helpers for the store tests: a settable clock and a Store opened on it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from sipoauth.store import Store

T0 = datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


@dataclass
class FakeClock:
    """A clock the test moves by hand."""

    now: datetime = field(default=T0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest_asyncio.fixture(loop_scope="function")
async def clocked_store(migrated_db_url: str, clock: FakeClock) -> AsyncIterator[Store]:
    """Like ``store``, with created_at/updated_at taken from ``clock``."""
    opened = await Store.open(migrated_db_url, clock=clock)
    try:
        await opened.migrate()
        yield opened
    finally:
        await opened.close()

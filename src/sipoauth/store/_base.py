"""What every repository shares: sessions, the clock, error translation, upserts.

Each public repository method is one short transaction of its own. Reads use
``_read()``; anything that writes uses ``_write()``, whose transaction on
SQLite starts with ``BEGIN IMMEDIATE`` (see ``_urls``). A method that writes
several rows does so inside one ``_write()``: all or nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ._errors import translate

__all__ = ["Clock", "Repository", "StoreContext"]

Clock = Callable[[], datetime]
"""Gives the current time, aware and in UTC (passed in: tests fix it)."""


@dataclass(frozen=True, slots=True)
class StoreContext:
    """Session factories, clock and dialect handed to each repository."""

    read: async_sessionmaker[AsyncSession]
    """Sessions for read-only transactions."""
    write: async_sessionmaker[AsyncSession]
    """Sessions for transactions that write (``BEGIN IMMEDIATE`` on SQLite)."""
    clock: Clock
    """Source of ``created_at`` / ``updated_at``."""
    dialect: str
    """``"sqlite"`` or ``"postgresql"``."""


def _unwrap(error: exc.StatementError) -> Exception:
    """A value the driver could not take (bad JSON, naive datetime): the
    caller's mistake, so give back the original TypeError / ValueError."""
    return error.orig if isinstance(error.orig, Exception) else error


class Repository:
    """Base of the repositories: one aggregate each, records in and out."""

    __slots__ = ("_ctx", "_sessionmaker")

    def __init__(self, ctx: StoreContext) -> None:
        self._ctx = ctx
        self._sessionmaker = ctx.write

    def _now(self) -> datetime:
        return self._ctx.clock()

    @asynccontextmanager
    async def _read(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._ctx.read.begin() as session:
                yield session
        except exc.DBAPIError as error:
            raise translate(error) from error
        except exc.StatementError as error:
            raise _unwrap(error) from error

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._sessionmaker.begin() as session:
                yield session
        except exc.DBAPIError as error:
            raise translate(error) from error
        except exc.StatementError as error:
            raise _unwrap(error) from error

    def _insert(self, entity: Any) -> Any:
        """A dialect INSERT offering ``on_conflict_do_update`` / ``excluded``.

        Typed ``Any``: the two dialects' Insert classes share that API but no
        common base declaring it.
        """
        if self._ctx.dialect == "postgresql":
            return postgresql.insert(entity)
        return sqlite.insert(entity)

"""What every repository shares: sessions, the clock, error translation, upserts.

Each public repository method is one short transaction of its own. Reads use
``_read()``; anything that writes uses ``_write()``, whose transaction on
SQLite starts with ``BEGIN IMMEDIATE`` (see ``_urls``). A method that writes
several rows does so inside one ``_write()``: all or nothing.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import exc, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from . import _models as m
from ._errors import StoreUnavailable, translate
from ._seal import SECRET_CHECK_SETTING, SECRET_FILE, SealSlot, SecretRequired, is_sealed

__all__ = ["Clock", "Repository", "StoreContext", "WriteGate"]

Clock = Callable[[], datetime]
"""Gives the current time, aware and in UTC (passed in: tests fix it)."""


class WriteGate:
    """SQLite has one writer at a time. Writers of this process queue here, on an
    asyncio lock, instead of in SQLite's busy handler, which polls with sleeps of
    up to 100 ms and gives up after ``busy_timeout`` with "database is locked"
    (measured with bench/token.py at 16 concurrent clients: p99 ~1.6 s and an
    occasional 500). Other processes (the CLI, another node on the same file)
    still meet the busy handler. PostgreSQL needs no gate.

    One lock per event loop, so a store used from several loops (tests) works.
    """

    __slots__ = ("_enabled", "_locks")

    def __init__(self, enabled: bool) -> None:
        self._enabled = enabled
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        if not self._enabled:
            yield
            return
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        async with lock:
            yield


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
    gate: WriteGate = field(default_factory=lambda: WriteGate(False))
    """Queues this process's write transactions (SQLite)."""
    seal: SealSlot = field(default_factory=SealSlot)
    """Seals private keys at rest once the store has the cluster secret."""


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
        except exc.TimeoutError as error:  # the pool: the database hangs, no driver error
            raise StoreUnavailable(f"no database connection: {error}") from error

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[AsyncSession]:
        try:
            async with self._ctx.gate(), self._sessionmaker.begin() as session:
                yield session
        except exc.DBAPIError as error:
            raise translate(error) from error
        except exc.StatementError as error:
            raise _unwrap(error) from error
        except exc.TimeoutError as error:  # the pool: the database hangs, no driver error
            raise StoreUnavailable(f"no database connection: {error}") from error

    async def _seal(self, session: AsyncSession, plaintext: str, *, name: str) -> str:
        """What to store for a private value ``name``: sealed when the store has
        the cluster secret; plain only in a database that never had a secret
        (``init`` seals those values once it has one)."""
        sealer = self._ctx.seal.sealer
        if sealer is not None:
            return sealer.seal(plaintext, name=name)
        if await session.get(m.Setting, SECRET_CHECK_SETTING) is not None:
            raise SecretRequired(
                f"{name} must be sealed: this needs the cluster secret, a copy of "
                f"{SECRET_FILE} from a node's data directory in this --data-dir"
            )
        return plaintext

    async def _seal_plain(self, entity: Any, column: str, name_of: Callable[[Any], str]) -> int:
        """Seal the values of ``entity.column`` still stored plain (from before
        the cluster had a secret), each bound to ``name_of(row)``; how many."""
        count = 0
        async with self._write() as session:
            for row in await session.scalars(select(entity)):
                value = getattr(row, column)
                if value is not None and not is_sealed(value):
                    setattr(row, column, await self._seal(session, value, name=name_of(row)))
                    count += 1
        return count

    def _open(self, text: str, *, name: str) -> str:
        """The plaintext of a stored private value (see :class:`SealSlot`)."""
        return self._ctx.seal.open(text, name=name)

    def _insert(self, entity: Any) -> Any:
        """A dialect INSERT offering ``on_conflict_do_update`` / ``excluded``.

        Typed ``Any``: the two dialects' Insert classes share that API but no
        common base declaring it.
        """
        if self._ctx.dialect == "postgresql":
            return postgresql.insert(entity)
        return sqlite.insert(entity)

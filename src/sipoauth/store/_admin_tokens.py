"""Bearer tokens of the REST API (issue 4: admin Basic or bearer authentication).

The token is an opaque random string handed to the administrator once; only
its SHA-256 (``sipoauth.oauth._secrets.hash_secret``) is kept. A token goes
with its administrator (ON DELETE CASCADE).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, update

from . import _models as m
from ._base import Repository

__all__ = ["AdminTokenRecord", "AdminTokensRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AdminTokenRecord:
    """A stored API token (its hash only)."""

    token_hash: str
    """SHA-256 hex of the token (never the token)."""
    username: str
    """The administrator it authenticates."""
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None


def _record(row: m.AdminToken) -> AdminTokenRecord:
    return AdminTokenRecord(
        token_hash=row.token_hash,
        username=row.username,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
    )


class AdminTokensRepository(Repository):
    """``store.admin_tokens``."""

    __slots__ = ()

    async def add(self, token_hash: str, username: str, expires_at: datetime) -> AdminTokenRecord:
        """Store a token's hash (InvalidReference when there is no such admin)."""
        row = m.AdminToken(
            token_hash=token_hash,
            username=username,
            created_at=self._now(),
            expires_at=expires_at,
            last_used_at=None,
        )
        async with self._write() as session:
            session.add(row)
            await session.flush()
            return _record(row)

    async def get(self, token_hash: str) -> AdminTokenRecord | None:
        """The token of that hash, if any (expired or not: the caller checks)."""
        async with self._read() as session:
            row = await session.get(m.AdminToken, token_hash)
            return None if row is None else _record(row)

    async def touch(self, token_hash: str) -> bool:
        """Set ``last_used_at`` to now; False when there is no such token."""
        stmt = (
            update(m.AdminToken)
            .where(m.AdminToken.token_hash == token_hash)
            .values(last_used_at=self._now())
            .returning(m.AdminToken.token_hash)
        )
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

    async def delete(self, token_hash: str) -> bool:
        """Revoke one token; False when it was not there."""
        stmt = (
            delete(m.AdminToken)
            .where(m.AdminToken.token_hash == token_hash)
            .returning(m.AdminToken.token_hash)
        )
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

    async def delete_user(self, username: str) -> int:
        """Revoke every token of an administrator; how many."""
        stmt = (
            delete(m.AdminToken)
            .where(m.AdminToken.username == username)
            .returning(m.AdminToken.token_hash)
        )
        async with self._write() as session:
            return len((await session.execute(stmt)).all())

    async def purge_expired(self, at: datetime | None = None) -> int:
        """Delete tokens expired at ``at`` (default: now); how many."""
        moment = self._now() if at is None else at
        stmt = (
            delete(m.AdminToken)
            .where(m.AdminToken.expires_at <= moment)
            .returning(m.AdminToken.token_hash)
        )
        async with self._write() as session:
            return len((await session.execute(stmt)).all())

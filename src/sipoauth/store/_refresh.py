"""Refresh tokens: opaque, stored hashed, rotated on every use (DESIGN "Tokens").

Each refresh hands out a new token and retires the old one (RFC 9700 §4.14.2,
refresh token rotation). Retiring is a conditional UPDATE in the same
transaction as the INSERT of the successor, so of two requests racing with the
same token exactly one rotates it; the other sees a used token, which the
caller treats as a replay (and may revoke the grant). Tokens belong to a grant
and go with it (ON DELETE CASCADE).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, insert, select, update

from . import _models as m
from ._base import Repository

__all__ = ["RefreshToken", "RefreshTokenRecord", "RefreshTokensRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshToken:
    """A refresh token to store."""

    token_hash: str
    """Hex SHA-256 of the token (never the token)."""
    sid: str
    """The grant it was issued under (must exist)."""
    client_id: str
    subject: str
    """The ``sub`` of the access tokens it refreshes."""
    scope: str
    """Scope, space-separated (RFC 6749 §3.3)."""
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RefreshTokenRecord(RefreshToken):
    """A stored refresh token."""

    created_at: datetime
    rotated_at: datetime | None
    """When it was exchanged for its successor; None while it is usable."""


def _record(row: m.RefreshToken) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        token_hash=row.token_hash,
        sid=row.sid,
        client_id=row.client_id,
        subject=row.subject,
        scope=row.scope,
        expires_at=row.expires_at,
        created_at=row.created_at,
        rotated_at=row.rotated_at,
    )


def _values(token: RefreshToken, now: datetime) -> dict[str, object]:
    return {
        "token_hash": token.token_hash,
        "sid": token.sid,
        "client_id": token.client_id,
        "subject": token.subject,
        "scope": token.scope,
        "expires_at": token.expires_at,
        "created_at": now,
        "rotated_at": None,
    }


def _count(result: object) -> int:
    """Rows a DELETE removed (without fetching them all back)."""
    return cast("CursorResult[Any]", result).rowcount


class RefreshTokensRepository(Repository):
    """``store.refresh_tokens``."""

    __slots__ = ()

    async def add(self, token: RefreshToken) -> RefreshTokenRecord:
        """Store a new token (AlreadyExists when the hash is taken,
        InvalidReference when the grant does not exist)."""
        async with self._write() as session:
            await session.execute(insert(m.RefreshToken).values(**_values(token, self._now())))
            row = await session.get(m.RefreshToken, token.token_hash)
            assert row is not None
            return _record(row)

    async def get(self, token_hash: str) -> RefreshTokenRecord | None:
        """The token, rotated or not, if it exists."""
        async with self._read() as session:
            row = await session.get(m.RefreshToken, token_hash)
            return None if row is None else _record(row)

    async def rotate(self, old_hash: str, new: RefreshToken, at: datetime) -> bool:
        """Retire ``old_hash`` at ``at`` and store ``new``, in one transaction.

        False (and nothing stored) when the old token does not exist or was
        rotated already: of concurrent rotations of one token, exactly one
        returns True. Expiry and grant checks are the caller's (on the record).
        """
        retire = (
            update(m.RefreshToken)
            .where(m.RefreshToken.token_hash == old_hash, m.RefreshToken.rotated_at.is_(None))
            .values(rotated_at=at)
            .returning(m.RefreshToken.token_hash)
        )
        async with self._write() as session:
            if (await session.execute(retire)).first() is None:
                return False
            await session.execute(insert(m.RefreshToken).values(**_values(new, self._now())))
            return True

    async def delete_all(self) -> int:
        """Delete every refresh token; how many. (Changing the refresh token
        lifetime revokes them all, as the reference does.)"""
        async with self._write() as session:
            return _count(await session.execute(delete(m.RefreshToken)))

    async def delete_grant(self, sid: str) -> int:
        """Delete the tokens of one grant; how many."""
        stmt = delete(m.RefreshToken).where(m.RefreshToken.sid == sid)
        async with self._write() as session:
            return _count(await session.execute(stmt))

    async def purge_expired(self, now: datetime) -> int:
        """Delete tokens that expired before ``now``, rotated or not; how many."""
        stmt = delete(m.RefreshToken).where(m.RefreshToken.expires_at < now)
        async with self._write() as session:
            return _count(await session.execute(stmt))

    async def count_live(self, now: datetime) -> int:
        """Tokens still usable at ``now``: not rotated, not expired."""
        query = (
            select(func.count())
            .select_from(m.RefreshToken)
            .where(m.RefreshToken.rotated_at.is_(None), m.RefreshToken.expires_at >= now)
        )
        async with self._read() as session:
            return int(await session.scalar(query) or 0)

"""Authorization codes (RFC 6749 §4.1.2): single use, about a minute, stored hashed.

The code itself is 256 random bits; the table keeps its SHA-256 only
(``oauth._secrets.hash_secret``). Redeeming is one conditional UPDATE, so of
two token requests racing with the same code exactly one gets it (RFC 6749
§4.1.2: "The client MUST NOT use the authorization code more than once"); the
loser learns which grant the winner made (``sid``) so that it can be revoked
(§4.1.2: "SHOULD revoke ... all tokens previously issued based on that code").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, update

from . import _models as m
from ._base import Repository
from ._errors import NotFound

__all__ = ["AuthorizationCode", "AuthorizationCodeRecord", "AuthorizationCodesRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizationCode:
    """An authorization code as issued by the authorization endpoint."""

    code_hash: str
    """Hex SHA-256 of the code (never the code)."""
    client_id: str
    redirect_uri: str
    """The ``redirect_uri`` of the request; the token request must repeat it
    (RFC 6749 §4.1.3)."""
    user_id: str
    """The end user who signed in."""
    scope: str
    """Granted scope, space-separated (RFC 6749 §3.3)."""
    code_challenge: str
    """PKCE challenge (RFC 7636 §4.2)."""
    code_challenge_method: str
    """``S256`` (RFC 7636 §4.3)."""
    via_mra: bool
    """The request came through an edge (Mobile and Remote Access)."""
    auth_time: datetime
    """When the user authenticated."""
    expires_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthorizationCodeRecord(AuthorizationCode):
    """A stored authorization code."""

    created_at: datetime
    used_at: datetime | None
    """When it was redeemed; None while it is unused."""
    sid: str | None
    """The grant created when it was redeemed (to revoke on a replay)."""


def _record(row: m.AuthorizationCode) -> AuthorizationCodeRecord:
    return AuthorizationCodeRecord(
        code_hash=row.code_hash,
        client_id=row.client_id,
        redirect_uri=row.redirect_uri,
        user_id=row.user_id,
        scope=row.scope,
        code_challenge=row.code_challenge,
        code_challenge_method=row.code_challenge_method,
        via_mra=row.via_mra,
        auth_time=row.auth_time,
        expires_at=row.expires_at,
        created_at=row.created_at,
        used_at=row.used_at,
        sid=row.sid,
    )


class AuthorizationCodesRepository(Repository):
    """``store.authorization_codes``."""

    __slots__ = ()

    async def add(self, code: AuthorizationCode) -> AuthorizationCodeRecord:
        """Store a new code (AlreadyExists when the hash is taken)."""
        stmt = insert(m.AuthorizationCode).values(
            code_hash=code.code_hash,
            client_id=code.client_id,
            redirect_uri=code.redirect_uri,
            user_id=code.user_id,
            scope=code.scope,
            code_challenge=code.code_challenge,
            code_challenge_method=code.code_challenge_method,
            via_mra=code.via_mra,
            auth_time=code.auth_time,
            expires_at=code.expires_at,
            created_at=self._now(),
            used_at=None,
            sid=None,
        )
        async with self._write() as session:
            await session.execute(stmt)
            row = await session.get(m.AuthorizationCode, code.code_hash)
            assert row is not None
            return _record(row)

    async def get(self, code_hash: str) -> AuthorizationCodeRecord | None:
        """The code, used or not, if it exists."""
        async with self._read() as session:
            row = await session.get(m.AuthorizationCode, code_hash)
            return None if row is None else _record(row)

    async def consume(self, code_hash: str, at: datetime) -> AuthorizationCodeRecord | None:
        """Mark the code used at ``at`` and return it; None when there is no such
        code or it was used already. One statement: of concurrent consumers,
        exactly one wins. Expiry is the caller's to check (on the record)."""
        stmt = (
            update(m.AuthorizationCode)
            .where(
                m.AuthorizationCode.code_hash == code_hash,
                m.AuthorizationCode.used_at.is_(None),
            )
            .values(used_at=at)
            .returning(m.AuthorizationCode)
        )
        async with self._write() as session:
            row = (await session.scalars(stmt)).first()
            return None if row is None else _record(row)

    async def set_sid(self, code_hash: str, sid: str) -> None:
        """Remember the grant made when the code was redeemed (NotFound when
        there is no such code)."""
        stmt = (
            update(m.AuthorizationCode)
            .where(m.AuthorizationCode.code_hash == code_hash)
            .values(sid=sid)
            .returning(m.AuthorizationCode.code_hash)
        )
        async with self._write() as session:
            if (await session.execute(stmt)).first() is None:
                raise NotFound("no such authorization code")

    async def purge(self, before: datetime) -> int:
        """Delete codes that expired before ``before``; how many."""
        stmt = (
            delete(m.AuthorizationCode)
            .where(m.AuthorizationCode.expires_at < before)
            .returning(m.AuthorizationCode.code_hash)
        )
        async with self._write() as session:
            return len((await session.execute(stmt)).all())

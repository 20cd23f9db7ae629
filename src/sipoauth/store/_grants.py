"""OAuth grants and their revocation (DESIGN "Tokens", "Grants").

A grant is what the ``sid`` claim of every token names. Revoking it revokes
every access and refresh token issued under it; nodes learn of it through a
notification and, when one was missed, through ``revoked_since``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update

from . import _models as m
from ._base import Repository

__all__ = ["GrantRecord", "GrantsRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class GrantRecord:
    """A stored grant."""

    sid: str
    """Grant id (the tokens' ``sid`` claim)."""
    subject: str
    """The user (``sub``) the grant was given to."""
    client_id: str
    created_at: datetime
    revoked_at: datetime | None
    """When it was revoked; None while it is live."""
    user_id: str | None = None
    """The end user it belongs to: the subject for soft clients, the owner of
    a desk phone for device grants; None when it belongs to no user."""
    grant_type: str | None = None
    """How it was obtained (``authorization_code``, an activation, …)."""


def _record(row: m.Grant) -> GrantRecord:
    return GrantRecord(
        sid=row.sid,
        subject=row.subject,
        client_id=row.client_id,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        user_id=row.user_id,
        grant_type=row.grant_type,
    )


def _of_user(user_id: str) -> ColumnElement[bool]:
    """Grants belonging to ``user_id``: as their user, or as their subject."""
    return or_(m.Grant.user_id == user_id, m.Grant.subject == user_id)


class GrantsRepository(Repository):
    """``store.grants``."""

    __slots__ = ()

    async def create(
        self,
        sid: str,
        subject: str,
        client_id: str,
        *,
        user_id: str | None = None,
        grant_type: str | None = None,
        at: datetime | None = None,
    ) -> GrantRecord:
        """Record a new grant (AlreadyExists when ``sid`` is taken)."""
        row = m.Grant(
            sid=sid,
            subject=subject,
            client_id=client_id,
            created_at=at or self._now(),
            revoked_at=None,
            user_id=user_id,
            grant_type=grant_type,
        )
        async with self._write() as session:
            session.add(row)
            await session.flush()
            return _record(row)

    async def get(self, sid: str) -> GrantRecord | None:
        """The grant, if it exists. A token whose ``sid`` is unknown is invalid."""
        async with self._read() as session:
            row = await session.get(m.Grant, sid)
            return None if row is None else _record(row)

    async def revoke(self, sid: str, at: datetime) -> bool:
        """Revoke one grant; False when it does not exist or was already revoked
        (the first revocation time is kept)."""
        stmt = (
            update(m.Grant)
            .where(m.Grant.sid == sid, m.Grant.revoked_at.is_(None))
            .values(revoked_at=at)
            .returning(m.Grant.sid)
        )
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

    async def revoke_subject(
        self, subject: str, client_id: str | None = None, *, at: datetime
    ) -> list[str]:
        """Revoke every live grant of ``subject`` (for ``client_id`` only, when
        given), in one statement; the sids newly revoked, sorted."""
        stmt = update(m.Grant).where(m.Grant.subject == subject, m.Grant.revoked_at.is_(None))
        if client_id is not None:
            stmt = stmt.where(m.Grant.client_id == client_id)
        async with self._write() as session:
            rows = await session.execute(stmt.values(revoked_at=at).returning(m.Grant.sid))
            return sorted(rows.scalars())

    async def revoke_user(
        self, user_id: str, client_id: str | None = None, *, at: datetime
    ) -> list[GrantRecord]:
        """Revoke every live grant of an end user — those whose ``user_id`` or
        ``subject`` is ``user_id`` — (for ``client_id`` only, when given), in one
        statement; the grants newly revoked, by sid."""
        stmt = update(m.Grant).where(_of_user(user_id), m.Grant.revoked_at.is_(None))
        if client_id is not None:
            stmt = stmt.where(m.Grant.client_id == client_id)
        async with self._write() as session:
            rows = await session.scalars(stmt.values(revoked_at=at).returning(m.Grant))
            return sorted((_record(row) for row in rows), key=lambda grant: grant.sid)

    async def list_live(self, user_id: str | None = None) -> list[GrantRecord]:
        """Grants not revoked (of the end user ``user_id``, as user or subject),
        oldest first."""
        query = (
            select(m.Grant)
            .where(m.Grant.revoked_at.is_(None))
            .order_by(m.Grant.created_at, m.Grant.sid)
        )
        if user_id is not None:
            query = query.where(_of_user(user_id))
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def is_revoked(self, sid: str) -> bool:
        """True when the grant exists and is revoked (an unknown sid is not
        "revoked": use :meth:`get` to tell it from a live one)."""
        query = select(m.Grant.revoked_at).where(m.Grant.sid == sid)
        async with self._read() as session:
            return (await session.scalar(query)) is not None

    async def revoked_since(self, since: datetime) -> list[GrantRecord]:
        """Grants revoked at or after ``since``, in revocation order: what a node
        that lost its notification link re-reads when it comes back."""
        query = (
            select(m.Grant)
            .where(m.Grant.revoked_at >= since)
            .order_by(m.Grant.revoked_at, m.Grant.sid)
        )
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def list_revoked(self) -> list[GrantRecord]:
        """Every revoked grant, in revocation order."""
        query = (
            select(m.Grant)
            .where(m.Grant.revoked_at.is_not(None))
            .order_by(m.Grant.revoked_at, m.Grant.sid)
        )
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def list(self, subject: str | None = None) -> list[GrantRecord]:
        """Grants (of ``subject``), oldest first."""
        query = select(m.Grant).order_by(m.Grant.created_at, m.Grant.sid)
        if subject is not None:
            query = query.where(m.Grant.subject == subject)
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

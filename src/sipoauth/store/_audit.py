"""The audit log: who changed what, when, and from which interface (issue 4 point 12).

Rows are only ever added (and purged by age); ``admin/_audit.py`` decides
what is written and keeps secrets out of ``detail``. Ids come from
AUTOINCREMENT on SQLite too, so an id is never reused after a purge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, insert, select

from . import _models as m
from ._base import Repository
from ._types import AuditInterface, JsonValue

__all__ = ["AuditEntry", "AuditRecord", "AuditRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """One change to record."""

    actor: str
    """Who: an administrator's name, an OS user (CLI), ``system``, an edge's address."""
    interface: AuditInterface
    """From where: ``cli``, ``api``, ``web``, ``shell``, ``system`` or ``edge``."""
    action: str
    """What was done, e.g. ``update``, ``delete``, ``regenerate``."""
    object_type: str
    """The kind of object, e.g. ``parameter``, ``server``, ``certificate``."""
    object_id: str
    """Which one (its name, key or fingerprint)."""
    detail: Mapping[str, JsonValue] = field(default_factory=dict)
    """What changed (never a secret)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord(AuditEntry):
    """A stored audit row."""

    id: int
    at: datetime
    """When (UTC)."""


def _record(row: m.AuditLog) -> AuditRecord:
    return AuditRecord(
        id=row.id,
        at=row.at,
        actor=row.actor,
        interface=row.interface,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        detail=dict(row.detail),
    )


class AuditRepository(Repository):
    """``store.audit``."""

    __slots__ = ()

    async def add(self, entry: AuditEntry) -> AuditRecord:
        """Append one row, timed by the store's clock."""
        stmt = (
            insert(m.AuditLog)
            .values(
                at=self._now(),
                actor=entry.actor,
                interface=entry.interface,
                action=entry.action,
                object_type=entry.object_type,
                object_id=entry.object_id,
                detail=dict(entry.detail),
            )
            .returning(m.AuditLog.id)
        )
        async with self._write() as session:
            row_id = (await session.execute(stmt)).scalar_one()
            row = await session.get(m.AuditLog, row_id)
            assert row is not None
            return _record(row)

    async def list(
        self,
        *,
        limit: int = 100,
        since: datetime | None = None,
        object_type: str | None = None,
        object_id: str | None = None,
        actor: str | None = None,
    ) -> list[AuditRecord]:
        """Rows newest first (at most ``limit``), optionally only those at or
        after ``since`` and of that object type, object id or actor."""
        query = select(m.AuditLog).order_by(m.AuditLog.id.desc()).limit(limit)
        if since is not None:
            query = query.where(m.AuditLog.at >= since)
        if object_type is not None:
            query = query.where(m.AuditLog.object_type == object_type)
        if object_id is not None:
            query = query.where(m.AuditLog.object_id == object_id)
        if actor is not None:
            query = query.where(m.AuditLog.actor == actor)
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def purge(self, before: datetime) -> int:
        """Delete rows older than ``before``; how many."""
        stmt = delete(m.AuditLog).where(m.AuditLog.at < before).returning(m.AuditLog.id)
        async with self._write() as session:
            return len((await session.execute(stmt)).all())

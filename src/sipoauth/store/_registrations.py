"""Registrations: the database mirror of the bindings nodes hold in memory.

The node that holds a device's TLS connection owns its bindings (RFC 3261
§10.3) and writes them behind, in batches, so that every node and the admin
pages can see who is registered where. The mirror is never read back to answer
a REGISTER.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from sqlalchemy import delete, select, tuple_

from . import _models as m
from ._base import Repository
from ._types import RegistrationTransport

__all__ = ["Registration", "RegistrationKey", "RegistrationRecord", "RegistrationsRepository"]

RegistrationKey = tuple[str, str]
"""``(aor, instance)``: what identifies a binding."""

_CHUNK = 500
"""Keys per DELETE statement (SQLite bounds the number of bound parameters)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Registration:
    """A binding as the registrar holds it."""

    aor: str
    """Address of record (the To URI of the REGISTER)."""
    instance: str
    """The Contact's ``+sip.instance``, or the contact URI when absent."""
    device_name: str
    contact: str
    """The Contact URI the node sends requests to."""
    node_name: str
    """The node holding the connection."""
    transport: RegistrationTransport
    path: tuple[str, ...]
    """Path header values (RFC 3327), edge first; empty when direct."""
    expires_at: datetime
    call_id: str
    cseq: int
    sid: str | None = None
    """Grant of the token the device registered with (to drop it on revocation)."""

    @property
    def key(self) -> RegistrationKey:
        """``(aor, instance)``."""
        return (self.aor, self.instance)


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationRecord(Registration):
    """A stored binding."""

    updated_at: datetime


def _record(row: m.Registration) -> RegistrationRecord:
    return RegistrationRecord(
        aor=row.aor,
        instance=row.instance,
        device_name=row.device_name,
        contact=row.contact,
        node_name=row.node_name,
        transport=row.transport,
        path=tuple(row.path),
        expires_at=row.expires_at,
        call_id=row.call_id,
        cseq=row.cseq,
        sid=row.sid,
        updated_at=row.updated_at,
    )


_UPDATED = (
    "device_name",
    "contact",
    "node_name",
    "transport",
    "path",
    "expires_at",
    "call_id",
    "cseq",
    "sid",
    "updated_at",
)


class RegistrationsRepository(Repository):
    """``store.registrations``."""

    __slots__ = ()

    async def upsert_many(self, registrations: Iterable[Registration]) -> int:
        """Insert or replace bindings, all in one transaction; how many."""
        now = self._now()
        rows = [
            {
                "aor": r.aor,
                "instance": r.instance,
                "device_name": r.device_name,
                "contact": r.contact,
                "node_name": r.node_name,
                "transport": r.transport,
                "path": list(r.path),
                "expires_at": r.expires_at,
                "call_id": r.call_id,
                "cseq": r.cseq,
                "sid": r.sid,
                "updated_at": now,
            }
            for r in registrations
        ]
        if not rows:
            return 0
        table = m.Registration.__table__
        insert = self._insert(table)
        stmt = insert.on_conflict_do_update(
            index_elements=[table.c.aor, table.c.instance],
            set_={name: insert.excluded[name] for name in _UPDATED},
        )
        async with self._write() as session:
            await session.execute(stmt, rows)
        return len(rows)

    async def delete_many(self, keys: Iterable[RegistrationKey]) -> int:
        """Remove bindings by ``(aor, instance)``, in one transaction; how many were there."""
        pending = iter(list(keys))
        deleted = 0
        async with self._write() as session:
            while chunk := list(islice(pending, _CHUNK)):
                stmt = (
                    delete(m.Registration)
                    .where(tuple_(m.Registration.aor, m.Registration.instance).in_(chunk))
                    .returning(m.Registration.aor)
                )
                deleted += len((await session.execute(stmt)).all())
        return deleted

    async def delete_node(self, node_name: str) -> int:
        """Remove every binding held by a node (it restarted or left); how many."""
        stmt = (
            delete(m.Registration)
            .where(m.Registration.node_name == node_name)
            .returning(m.Registration.aor)
        )
        async with self._write() as session:
            return len((await session.execute(stmt)).all())

    async def list(
        self,
        device_name: str | None = None,
        node_name: str | None = None,
        *,
        sid: str | None = None,
    ) -> list[RegistrationRecord]:
        """Bindings, by device then AOR, filtered by any of the arguments given."""
        query = select(m.Registration).order_by(
            m.Registration.device_name, m.Registration.aor, m.Registration.instance
        )
        if device_name is not None:
            query = query.where(m.Registration.device_name == device_name)
        if node_name is not None:
            query = query.where(m.Registration.node_name == node_name)
        if sid is not None:
            query = query.where(m.Registration.sid == sid)
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def purge_expired(self, now: datetime) -> int:
        """Remove bindings that expired at or before ``now``; how many."""
        stmt = (
            delete(m.Registration)
            .where(m.Registration.expires_at <= now)
            .returning(m.Registration.aor)
        )
        async with self._write() as session:
            return len((await session.execute(stmt)).all())

"""MRA service domains (issue 4 point 7, Device > MRA Service Domain).

A phone allowed to activate through the edge names one of these as its
"Activation Code MRA Service Domain" (R12.1). At most one is the default:
making one the default clears the flag of the others in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from . import _models as m
from ._base import Repository
from ._errors import NotFound

__all__ = ["MraDomain", "MraDomainRecord", "MraDomainsRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class MraDomain:
    """An MRA service domain as configured."""

    name: str
    """Its name (1-128 characters), unique."""
    is_default: bool = False
    """The domain phones get when none is chosen; at most one."""
    domains: tuple[str, ...] = ()
    """The DNS names of the service (validated in ``admin/``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MraDomainRecord(MraDomain):
    """A stored MRA service domain."""

    created_at: datetime
    updated_at: datetime


def _record(row: m.MraDomain) -> MraDomainRecord:
    return MraDomainRecord(
        name=row.name,
        is_default=row.is_default,
        domains=tuple(row.domains),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _clear_default(session: AsyncSession, keep: str) -> None:
    await session.execute(
        update(m.MraDomain)
        .where(m.MraDomain.is_default, m.MraDomain.name != keep)
        .values(is_default=False)
    )


class MraDomainsRepository(Repository):
    """``store.mra_domains``."""

    __slots__ = ()

    async def add(self, domain: MraDomain) -> MraDomainRecord:
        """Add one (AlreadyExists when the name is taken)."""
        now = self._now()
        async with self._write() as session:
            if domain.is_default:
                await _clear_default(session, domain.name)
            await session.execute(
                insert(m.MraDomain).values(
                    name=domain.name,
                    is_default=domain.is_default,
                    domains=list(domain.domains),
                    created_at=now,
                    updated_at=now,
                )
            )
            row = await session.get(m.MraDomain, domain.name)
            assert row is not None
            return _record(row)

    async def get(self, name: str) -> MraDomainRecord | None:
        """The domain of that name, if any."""
        async with self._read() as session:
            row = await session.get(m.MraDomain, name)
            return None if row is None else _record(row)

    async def list(self) -> list[MraDomainRecord]:
        """Every domain, by name."""
        async with self._read() as session:
            rows = await session.scalars(select(m.MraDomain).order_by(m.MraDomain.name))
            return [_record(row) for row in rows]

    async def update(self, domain: MraDomain) -> MraDomainRecord:
        """Replace the fields of the domain of that name (NotFound when none)."""
        stmt = (
            update(m.MraDomain)
            .where(m.MraDomain.name == domain.name)
            .values(
                is_default=domain.is_default,
                domains=list(domain.domains),
                updated_at=self._now(),
            )
            .returning(m.MraDomain.name)
        )
        async with self._write() as session:
            if domain.is_default:
                await _clear_default(session, domain.name)
            if (await session.execute(stmt)).first() is None:
                raise NotFound(f"no MRA service domain {domain.name!r}")
            row = await session.get(m.MraDomain, domain.name, populate_existing=True)
            assert row is not None
            return _record(row)

    async def delete(self, name: str) -> bool:
        """Remove the domain; False when there was none."""
        stmt = delete(m.MraDomain).where(m.MraDomain.name == name).returning(m.MraDomain.name)
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

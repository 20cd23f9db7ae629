"""Edge proxy (Expressway-C) entries allowed on the remote-access port (R6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, insert, select, update

from . import _models as m
from ._base import Repository
from ._errors import NotFound

__all__ = ["Edge", "EdgeRecord", "EdgesRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Edge:
    """An edge entry as configured (R6)."""

    address: str
    """IP address, host name or FQDN; unique."""
    description: str = ""
    x509_names: tuple[str, ...] = ()
    """Subject names / SANs of the edge's certificate that are accepted."""
    domain: str | None = None
    """The edge's domain, when it differs from this server's."""
    public_host: str | None = None
    """Host name or address phones outside reach the edge at (Mobile and
    Remote Access config files); None: ``address``."""
    public_sip_port: int = 5061
    """SIP TLS port of the edge for phones outside."""
    public_web_port: int = 8443
    """HTTPS port of the edge for phones outside (config files, OAuth)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EdgeRecord(Edge):
    """A stored edge entry."""

    id: int
    created_at: datetime
    updated_at: datetime


def _record(row: m.Edge) -> EdgeRecord:
    return EdgeRecord(
        id=row.id,
        address=row.address,
        description=row.description,
        x509_names=tuple(row.x509_names),
        domain=row.domain,
        public_host=row.public_host,
        public_sip_port=row.public_sip_port,
        public_web_port=row.public_web_port,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _values(edge: Edge) -> dict[str, object]:
    return {
        "address": edge.address,
        "description": edge.description,
        "x509_names": list(edge.x509_names),
        "domain": edge.domain,
        "public_host": edge.public_host,
        "public_sip_port": edge.public_sip_port,
        "public_web_port": edge.public_web_port,
    }


class EdgesRepository(Repository):
    """``store.edges``."""

    __slots__ = ()

    async def add(self, edge: Edge) -> EdgeRecord:
        """Add an entry (AlreadyExists when the address is taken)."""
        now = self._now()
        stmt = (
            insert(m.Edge)
            .values(**_values(edge), created_at=now, updated_at=now)
            .returning(m.Edge.id)
        )
        async with self._write() as session:
            edge_id = (await session.execute(stmt)).scalar_one()
            row = await session.get(m.Edge, edge_id)
            assert row is not None
            return _record(row)

    async def get(self, edge_id: int) -> EdgeRecord | None:
        """The entry with that id, if any."""
        async with self._read() as session:
            row = await session.get(m.Edge, edge_id)
            return None if row is None else _record(row)

    async def find(self, address: str) -> EdgeRecord | None:
        """The entry for that address, if any."""
        async with self._read() as session:
            row = await session.scalar(select(m.Edge).where(m.Edge.address == address))
            return None if row is None else _record(row)

    async def list(self) -> list[EdgeRecord]:
        """Every entry, by address."""
        async with self._read() as session:
            rows = await session.scalars(select(m.Edge).order_by(m.Edge.address))
            return [_record(row) for row in rows]

    async def update(self, edge_id: int, edge: Edge) -> EdgeRecord:
        """Replace every field of entry ``edge_id`` (NotFound when there is none)."""
        stmt = (
            update(m.Edge)
            .where(m.Edge.id == edge_id)
            .values(**_values(edge), updated_at=self._now())
            .returning(m.Edge.id)
        )
        async with self._write() as session:
            if (await session.execute(stmt)).first() is None:
                raise NotFound(f"no edge entry {edge_id}")
            row = await session.get(m.Edge, edge_id, populate_existing=True)
            assert row is not None
            return _record(row)

    async def delete(self, edge_id: int) -> bool:
        """Remove the entry; False when there was none."""
        stmt = delete(m.Edge).where(m.Edge.id == edge_id).returning(m.Edge.id)
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

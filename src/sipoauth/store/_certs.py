"""Trust stores: ``tomcat-trust`` (web and edge mTLS, R5/R6),
``phone-edge-trust`` (bundle handed to desk phones, R3), and others."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from . import _models as m
from ._base import Repository

__all__ = ["TrustedCert", "TrustedCertRecord", "TrustedCertsRepository"]


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedCert:
    """A certificate to put in a trust store (parsed by ``pki/``)."""

    store_name: str
    """Trust store, e.g. ``tomcat-trust`` or ``phone-edge-trust``."""
    fingerprint: str
    """SHA-256 fingerprint, hex."""
    pem: str
    subject: str
    """Subject distinguished name, RFC 4514 text."""
    not_after: datetime
    issuer: str = ""
    """Issuer distinguished name, RFC 4514 text (empty for certificates stored
    before revision 0003)."""
    not_before: datetime | None = None
    """Start of validity (None for certificates stored before revision 0003)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustedCertRecord(TrustedCert):
    """A stored trusted certificate."""

    created_at: datetime


def _record(row: m.TrustedCert) -> TrustedCertRecord:
    return TrustedCertRecord(
        store_name=row.store_name,
        fingerprint=row.fingerprint,
        pem=row.pem,
        subject=row.subject,
        not_after=row.not_after,
        issuer=row.issuer,
        not_before=row.not_before,
        created_at=row.created_at,
    )


class TrustedCertsRepository(Repository):
    """``store.trusted_certs``."""

    __slots__ = ()

    async def add(self, cert: TrustedCert) -> TrustedCertRecord:
        """Add a certificate to its store (AlreadyExists when already there)."""
        row = m.TrustedCert(
            store_name=cert.store_name,
            fingerprint=cert.fingerprint,
            pem=cert.pem,
            subject=cert.subject,
            not_after=cert.not_after,
            issuer=cert.issuer,
            not_before=cert.not_before,
            created_at=self._now(),
        )
        async with self._write() as session:
            session.add(row)
            await session.flush()
            return _record(row)

    async def add_many(self, certs: Sequence[TrustedCert]) -> list[TrustedCertRecord]:
        """Add several certificates in one transaction: all or none
        (AlreadyExists when one is already in its store)."""
        now = self._now()
        rows = [
            m.TrustedCert(
                store_name=cert.store_name,
                fingerprint=cert.fingerprint,
                pem=cert.pem,
                subject=cert.subject,
                not_after=cert.not_after,
                issuer=cert.issuer,
                not_before=cert.not_before,
                created_at=now,
            )
            for cert in certs
        ]
        async with self._write() as session:
            session.add_all(rows)
            await session.flush()
            return [_record(row) for row in rows]

    async def get(self, store_name: str, fingerprint: str) -> TrustedCertRecord | None:
        """One certificate of a store, if there."""
        async with self._read() as session:
            row = await session.get(m.TrustedCert, (store_name, fingerprint))
            return None if row is None else _record(row)

    async def list(self, store_name: str) -> list[TrustedCertRecord]:
        """The certificates of a store, by subject."""
        query = (
            select(m.TrustedCert)
            .where(m.TrustedCert.store_name == store_name)
            .order_by(m.TrustedCert.subject, m.TrustedCert.fingerprint)
        )
        async with self._read() as session:
            return [_record(row) for row in await session.scalars(query)]

    async def delete(self, store_name: str, fingerprint: str) -> bool:
        """Remove a certificate from a store; False when it was not there."""
        stmt = (
            delete(m.TrustedCert)
            .where(m.TrustedCert.store_name == store_name, m.TrustedCert.fingerprint == fingerprint)
            .returning(m.TrustedCert.fingerprint)
        )
        async with self._write() as session:
            return (await session.execute(stmt)).first() is not None

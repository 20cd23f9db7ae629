"""The cluster's certificates with their private keys (issue 8 point 4).

``ca`` is the cluster CA, which issues the nodes' web certificates and is
the phone-edge-trust anchor; ``tomcat:<node>`` is a node's web ("tomcat")
certificate, presented by all its TLS listeners. Each is a PEM chain, leaf
first, and a PEM private key kept sealed under the cluster secret (``_seal``).
The database is the authority; a node's ``pki/`` files are a copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from sqlalchemy import delete as sa_delete

from . import _models as m
from ._base import Repository

__all__ = ["CA_IDENTITY", "IdentitiesRepository", "Identity", "IdentityRecord", "web_identity"]

CA_IDENTITY: Final = "ca"
"""The cluster CA's identity name."""


def _name(identity: str) -> str:
    """What an identity's sealed key is bound to (associated data)."""
    return f"identity {identity}"


def web_identity(node_name: str) -> str:
    """The identity name of ``node_name``'s web certificate."""
    return f"tomcat:{node_name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """A certificate chain (PEM, leaf first) and its key (PEM, or None when
    the cluster does not hold it: an external CA)."""

    name: str
    chain_pem: str
    key_pem: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityRecord(Identity):
    """A stored identity."""

    updated_at: datetime


class IdentitiesRepository(Repository):
    """``store.identities``. Keys are sealed at rest; records carry them opened
    (reading a key needs the secret: SecretRequired otherwise)."""

    __slots__ = ()

    def _record(self, row: m.PkiIdentity, *, with_key: bool) -> IdentityRecord:
        key = row.key_pem
        if key is not None and with_key:
            key = self._open(key, name=_name(row.name))
        return IdentityRecord(
            name=row.name,
            chain_pem=row.chain_pem,
            key_pem=key if with_key else None,
            updated_at=row.updated_at,
        )

    async def get(self, name: str, *, with_key: bool = True) -> IdentityRecord | None:
        """The identity ``name``; its key opened unless ``with_key`` is false
        (then ``key_pem`` is None and no secret is needed)."""
        async with self._read() as session:
            row = await session.get(m.PkiIdentity, name)
            return None if row is None else self._record(row, with_key=with_key)

    async def delete(self, name: str) -> bool:
        """Forget identity ``name`` (a deleted server's); False when absent."""
        async with self._write() as session:
            result = await session.execute(
                sa_delete(m.PkiIdentity).where(m.PkiIdentity.name == name)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def add(self, identity: Identity) -> IdentityRecord:
        """Store a new identity (AlreadyExists when ``name`` is taken: another
        node made it first; read that one)."""
        row = m.PkiIdentity(
            name=identity.name, chain_pem=identity.chain_pem, updated_at=self._now()
        )
        async with self._write() as session:
            if identity.key_pem is not None:
                row.key_pem = await self._seal(session, identity.key_pem, name=_name(identity.name))
            session.add(row)
            await session.flush()
            return self._record(row, with_key=False)

    async def put(self, identity: Identity) -> IdentityRecord:
        """Store ``identity``, replacing one of that name."""
        async with self._write() as session:
            row = await session.get(m.PkiIdentity, identity.name)
            if row is None:
                row = m.PkiIdentity(name=identity.name, chain_pem="", updated_at=self._now())
                session.add(row)
            row.chain_pem = identity.chain_pem
            row.key_pem = (
                None
                if identity.key_pem is None
                else await self._seal(session, identity.key_pem, name=_name(identity.name))
            )
            row.updated_at = self._now()
            await session.flush()
            return self._record(row, with_key=False)

    async def seal_plain(self) -> int:
        """Seal every key still stored plain; how many. Needs the secret."""
        return await self._seal_plain(m.PkiIdentity, "key_pem", lambda row: _name(row.name))

"""The node's CA and web certificate, from the database (issue 8 point 4).

The database holds the cluster CA (``ca``) and each node's web certificate
(``tomcat:<node>``), private keys sealed under the cluster secret. A node's
``pki/`` directory is a copy, written from the database at start and at each
restart of a service that presents the certificate, because ``ssl`` loads
certificates from files:

- the first node on a database (or one installed before the cluster kept
  certificates) stores what its ``pki/`` files hold, made now if missing;
- any other node takes the cluster CA and its own web certificate from the
  database; when it has none yet, one is issued by the cluster CA (or its
  ``pki/`` certificate is adopted, when that chains to the cluster CA);
- files that differ from the database are replaced; a ``ca.key`` that does not
  belong to the cluster CA is moved aside to ``ca.key.previous``, never deleted.
  The CA key is not written where it was not: issuing needs the database anyway.

So a node on another machine needs only its data directory, the database URL
and the cluster secret; regenerating or uploading a web certificate for any
node is a database write that the node applies at its next restart of
Cisco Tomcat, CallManager or TFTP.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from cryptography import x509

from sipoauth.admin import issue_node_certificate
from sipoauth.pki import (
    NodePki,
    PkiError,
    PrivateKey,
    cert_to_pem,
    chains_to,
    key_to_pem,
    load_cert_pem,
    load_certs_pem,
    load_key_pem,
)
from sipoauth.pki._files import PRIVATE_MODE, PUBLIC_MODE, write_atomic
from sipoauth.pki._node import CA_CERT_FILE, CA_KEY_FILE, WEB_CERT_FILE, WEB_KEY_FILE
from sipoauth.store import CA_IDENTITY, AlreadyExists, Identity, Store, set_aside, web_identity

__all__ = ["IdentitySync", "sync_identity"]


@dataclass(slots=True)
class IdentitySync:
    """What :func:`sync_identity` found, made and wrote."""

    pki: NodePki
    created: list[str] = field(default_factory=list)
    """Human-readable list of what was created."""
    written: list[str] = field(default_factory=list)
    """Files of ``pki/`` replaced from the database."""


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _chain_pem(chain: tuple[x509.Certificate, ...] | list[x509.Certificate]) -> str:
    return b"".join(cert_to_pem(cert) for cert in chain).decode("ascii")


def _key_text(key: PrivateKey) -> str:
    return key_to_pem(key).decode("ascii")


def _adoptable(pki_dir: Path, ca_cert: x509.Certificate) -> Identity | None:
    """The ``pki/`` web certificate, if it is whole and its chain leads to ``ca_cert``."""
    chain_pem, key_pem = _read(pki_dir / WEB_CERT_FILE), _read(pki_dir / WEB_KEY_FILE)
    if chain_pem is None or key_pem is None:
        return None
    try:
        chain = load_certs_pem(chain_pem)
        key = load_key_pem(key_pem)
    except PkiError:
        return None
    if chain[0].public_key() != key.public_key() or not chains_to(tuple(chain), ca_cert):
        return None
    return Identity(name="", chain_pem=chain_pem.decode("ascii"), key_pem=key_pem.decode("ascii"))


async def _store_first(store: Store, pki: NodePki, node_name: str) -> bool:
    """Store the CA and web certificate of ``pki`` as the cluster's; False when
    another node stored a CA first."""
    ca_key = None if pki.ca_key is None else _key_text(pki.ca_key)
    try:
        await store.identities.add(
            Identity(name=CA_IDENTITY, chain_pem=_chain_pem([pki.ca_cert]), key_pem=ca_key)
        )
    except AlreadyExists:
        return False
    await store.identities.put(
        Identity(
            name=web_identity(node_name),
            chain_pem=pki.web_chain_pem.decode("ascii"),
            key_pem=_key_text(pki.web_key),
        )
    )
    return True


def _write_if_changed(path: Path, data: bytes, mode: int, written: list[str]) -> None:
    if _read(path) != data:
        write_atomic(path, data, mode=mode)
        written.append(path.name)


def _materialise(pki_dir: Path, ca_pem: bytes, web: Identity, written: list[str]) -> None:
    assert web.key_pem is not None
    pki_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(pki_dir, 0o700)
    old_key = _read(pki_dir / CA_KEY_FILE)
    if old_key is not None:
        try:
            mismatch = load_key_pem(old_key).public_key() != load_cert_pem(ca_pem).public_key()
        except PkiError:
            mismatch = True
        if mismatch:
            moved = set_aside(pki_dir / CA_KEY_FILE, ".previous")
            written.append(f"{CA_KEY_FILE} (moved to {moved.name})")
    _write_if_changed(pki_dir / CA_CERT_FILE, ca_pem, PUBLIC_MODE, written)
    # Key first: a crash in between leaves a pair the next start rewrites.
    _write_if_changed(pki_dir / WEB_KEY_FILE, web.key_pem.encode("ascii"), PRIVATE_MODE, written)
    _write_if_changed(pki_dir / WEB_CERT_FILE, web.chain_pem.encode("ascii"), PUBLIC_MODE, written)


async def sync_identity(
    store: Store, pki_dir: Path, *, node_name: str, hostname: str, now: datetime
) -> IdentitySync:
    """Make ``pki_dir`` hold this node's CA and web certificate as the database
    has them (storing or issuing what is missing, see the module); the loaded
    :class:`NodePki`. Needs a store unlocked with the cluster secret."""
    # The CA's key is opened only to issue a certificate, not at every start.
    ca = await store.identities.get(CA_IDENTITY, with_key=False)
    if ca is None:
        pki, made = NodePki.load_or_create(pki_dir, hostname=hostname, now=now)
        sync = IdentitySync(pki)
        if made:
            sync.created.append(f"local CA and web certificate in {pki_dir}")
        if await _store_first(store, pki, node_name):
            sync.created.append("cluster CA and this node's web certificate stored in the database")
            return sync
        ca = await store.identities.get(CA_IDENTITY, with_key=False)  # another was first
        assert ca is not None
    created: list[str] = []
    written: list[str] = []
    ca_cert = load_cert_pem(ca.chain_pem.encode("ascii"))
    name = web_identity(node_name)
    web: Identity | None = await store.identities.get(name)
    if web is None:
        adopted = _adoptable(pki_dir, ca_cert)
        if adopted is not None:
            web = Identity(name=name, chain_pem=adopted.chain_pem, key_pem=adopted.key_pem)
            what = f"web certificate of {node_name} stored in the database (from {pki_dir})"
        else:
            issuer = await store.identities.get(CA_IDENTITY)
            assert issuer is not None
            web = issue_node_certificate(issuer, node_name=node_name, hostname=hostname, now=now)
            what = f"web certificate of {node_name}, issued by the cluster CA"
            # What pki/ held was never the database's (another CA's certificate,
            # or one whose row a lost secret took): kept, never overwritten.
            for file in (WEB_KEY_FILE, WEB_CERT_FILE):
                if (pki_dir / file).exists():
                    moved = set_aside(pki_dir / file, ".previous")
                    written.append(f"{file} (moved to {moved.name})")
        try:
            await store.identities.add(web)
            created.append(what)
        except AlreadyExists:  # the same node started twice at once
            web = await store.identities.get(name)
            assert web is not None
    if web.key_pem is None:
        raise PkiError(f"the database holds no key for the web certificate of {node_name}")
    try:
        _materialise(pki_dir, ca.chain_pem.encode("ascii"), web, written)
    except OSError as exc:
        raise PkiError(f"cannot write {pki_dir}: {exc.strerror}") from exc
    pki, _ = NodePki.load_or_create(pki_dir, hostname=hostname, now=now)
    return IdentitySync(pki, created, written)

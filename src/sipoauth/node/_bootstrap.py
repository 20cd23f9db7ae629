"""First start of a node: data directory, PKI, schema, keys, admin account.

`initialise` is idempotent: the first call creates everything, later calls
reuse it unchanged (and report that nothing was created).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from argon2 import PasswordHasher

from sipoauth._defaults import PKI_DIR as PKI_DIR  # re-exported (the CLI reads it lightly)
from sipoauth.admin import _settings as keys_
from sipoauth.admin import audit, ensure_default_profiles, new_authz_key, require_publisher
from sipoauth.pki import PkiError, cert_to_pem, fingerprint_sha256
from sipoauth.store import (
    DATABASE_FILE,
    SECRET_FILE,
    JsonValue,
    Store,
    TrustedCert,
    WrongSecret,
    new_secret,
    read_secret_file,
    set_aside,
    write_secret_file,
)
from sipoauth.store import Node as NodeRow

from ._identity import sync_identity

ADMIN_USER = "admin"


@dataclass(slots=True)
class InitReport:
    """What `initialise` found or created."""

    data_dir: Path
    database_url: str
    created: list[str] = field(default_factory=list)
    """Human-readable list of what was created this time."""
    admin_user: str = ADMIN_USER
    admin_password: str | None = None
    """Set only when the admin account was created now with a generated password."""
    ca_fingerprint: str = ""
    web_fingerprint: str = ""
    web_problems: list[str] = field(default_factory=list)
    secret_path: Path | None = None
    """Set when the cluster secret file was written now."""
    secret_created: bool = False
    """The cluster secret was made now (this is the cluster's first node)."""


def read_password_file(path: Path) -> str:
    """The first line of `path`, stripped; refuses an empty or short password."""
    text = path.read_text(encoding="utf-8").splitlines()
    password = text[0].strip() if text else ""
    if len(password) < 8:
        raise ValueError(f"{path}: the admin password must have at least 8 characters")
    return password


def _restrict_database_files(data_dir: Path) -> None:
    """The embedded database holds the authz keys: owner-only, like the key files."""
    for path in data_dir.glob(f"{DATABASE_FILE}*"):
        path.chmod(0o600)


async def unlock_store(store: Store, data_dir: Path) -> None:
    """Unlock ``store`` with the secret in ``data_dir`` (a node that starts or an
    admin command on a node). Without the file: nothing to do on a database
    that has no secret; ValueError on one that has."""
    if not await store.unlock_from(data_dir) and await store.has_secret():
        raise ValueError(
            f"{data_dir / SECRET_FILE} is missing: this node needs the cluster secret "
            "(sipoauth init --cluster-secret-file FILE, with a copy of cluster.secret "
            "from any node's data directory)"
        )


async def _opens(store: Store, secret: bytes) -> bool:
    """Whether ``secret`` opens the database (the store is unlocked with it then)."""
    try:
        return await store.unlock(secret) or store.unlocked
    except WrongSecret:
        return False


def _read_local(path: Path, report: InitReport) -> bytes | None:
    """The data directory's secret, made owner-only if it was not."""
    if not path.exists():
        return None
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        path.chmod(0o600)
        report.created.append(f"{path} made owner-only (mode {mode:04o} -> 0600)")
    return read_secret_file(path)


async def _forget_lost_secret(
    store: Store, data_dir: Path, node_name: str, given: bytes | None, report: InitReport
) -> None:
    """Every copy of the cluster secret is lost (try each node's cluster.secret
    first): on the publisher, drop what was sealed under it (authz keys, so
    every access token stops working; the activation codes; the cluster CA and
    web certificates in the database) and install a new secret, in one
    transaction, so that ``init`` goes on as on a new database: new keys, and
    the CA and web certificate of this node's ``pki/`` files stored again (a
    publisher that still has ``ca.key`` keeps its CA, and phones their trust).
    Grants, refresh tokens and every setting stay. Refused on a database
    without a secret, and while a secret at hand (given, or the data
    directory's) opens the database."""
    await require_publisher(store, node_name, "init --replace-lost-cluster-secret")
    if not await store.has_secret():
        raise ValueError(
            "this database has no cluster secret to replace: run sipoauth init "
            "without --replace-lost-cluster-secret (it makes one and seals the keys)"
        )
    path = data_dir / SECRET_FILE
    try:
        local = _read_local(path, report)
    except ValueError:
        local = None  # unusable: set aside below
    for candidate in (given, local):
        if candidate is not None and await _opens(store, candidate):
            raise ValueError("the cluster secret at hand opens this database: it is not lost")
    if path.exists():
        moved = set_aside(path, ".replaced")
        report.created.append(f"{path} did not open the database: kept as {moved.name}")
    secret = new_secret()
    write_secret_file(path, secret)  # before the database knows it
    counts = await store.keys.forget_secret(secret)
    await store.unlock(secret)
    await audit(store, "replace", "cluster-secret", "cluster", {"deleted": dict(counts)})
    report.created.append(
        f"lost cluster secret replaced by a new one in {path} (0600): deleted "
        + ", ".join(f"{count} {table}" for table, count in counts.items())
        + "; initialise every other node again with it, and give out new activation codes"
    )
    report.secret_path, report.secret_created = path, True


async def _cluster_secret(
    store: Store, data_dir: Path, given: bytes | None, report: InitReport
) -> None:
    """Unlock ``store`` with the cluster secret: the one given, else the data
    directory's, else (first node of the database) a new one, written there.
    The secret is kept in ``<data-dir>/cluster.secret`` (0600) either way; a
    copy there that no longer opens the database (the secret was replaced)
    gives way to a given one that does."""
    path = data_dir / SECRET_FILE
    local = _read_local(path, report)
    if given is not None and local is not None and given != local:
        if await _opens(store, local):
            raise ValueError(
                f"{path} opens this database and the secret given is another one: "
                "leave out --cluster-secret-file"
            )
        if not await _opens(store, given):
            raise WrongSecret(
                "neither the cluster secret given nor the data directory's opens this "
                "database: use a copy of cluster.secret from any node of this cluster"
            )
        moved = set_aside(path, ".replaced")
        report.created.append(f"{path} did not open the database: kept as {moved.name}")
        local = None
    secret = given or local
    if secret is None:
        if await store.has_secret():
            raise ValueError(
                "this database belongs to a cluster: run sipoauth init "
                "--cluster-secret-file FILE with a copy of cluster.secret from any "
                f"node's data directory (or put that copy in {path})"
            )
        # The first node: the file first, so the database never knows a secret
        # that nobody holds.
        secret = new_secret()
        write_secret_file(path, secret)
        try:
            await store.unlock(secret, create=True)
        except WrongSecret:  # another node was first, a moment ago
            path.unlink()
            raise
        report.created.append(f"cluster secret in {path} (0600)")
        report.secret_path, report.secret_created = path, True
    else:
        # Checked before anything is written (or this is the first node and was
        # given its secret).
        await store.unlock(secret, create=True)
        if local is None:
            write_secret_file(path, secret)
            report.created.append(f"cluster secret copied to {path} (0600)")
            report.secret_path = path
    sealed = await store.keys.seal_plain() + await store.identities.seal_plain()
    if sealed:
        report.created.append(f"{sealed} private keys sealed with the cluster secret")


async def initialise(
    store: Store,
    *,
    data_dir: Path,
    hostname: str,
    node_name: str,
    admin_password: str | None = None,
    now: datetime | None = None,
    cluster_secret: bytes | None = None,
    replace_lost_secret: bool = False,
) -> InitReport:
    """Create (first time) or check (later) everything a node needs to start.

    ``cluster_secret``: the secret of the cluster this node joins (a copy of
    the first node's ``cluster.secret``); needed for a database that has one
    unless the data directory already holds it.

    ``replace_lost_secret`` (the publisher, every node stopped): see
    :func:`_forget_lost_secret`.
    """
    now = now or datetime.now(UTC)
    report = InitReport(data_dir=data_dir, database_url=store.url)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # One init at a time per database, whatever the machine: each reads what
    # the database lacks (a publisher, keys, the cluster CA) and creates it.
    async with store.init_lock():
        await _initialise(
            store, report, data_dir, hostname, node_name, admin_password, now,
            cluster_secret, replace_lost_secret,
        )  # fmt: skip
    return report


async def _initialise(
    store: Store,
    report: InitReport,
    data_dir: Path,
    hostname: str,
    node_name: str,
    admin_password: str | None,
    now: datetime,
    cluster_secret: bytes | None,
    replace_lost_secret: bool,
) -> None:
    await store.migrate()
    _restrict_database_files(data_dir)
    if replace_lost_secret:
        await _forget_lost_secret(store, data_dir, node_name, cluster_secret, report)
    await _cluster_secret(store, data_dir, cluster_secret, report)
    # The server record before the certificates: a node whose certificate must
    # be uploaded (a cluster CA held outside) can be named by upload-tomcat.
    if await store.nodes.get(node_name) is None:
        role: Literal["publisher", "subscriber"] = (
            "subscriber" if await store.nodes.list() else "publisher"
        )
        await store.nodes.upsert(NodeRow(name=node_name, host=hostname, role=role))
        report.created.append(f"server {node_name} ({role})")

    try:
        sync = await sync_identity(
            store, data_dir / PKI_DIR, node_name=node_name, hostname=hostname, now=now
        )
    except PkiError as exc:
        raise ValueError(f"certificates: {exc.description}") from None
    pki = sync.pki
    report.created.extend(sync.created)
    if sync.written:
        report.created.append(f"{data_dir / PKI_DIR}: {', '.join(sync.written)} from the database")
    report.ca_fingerprint = fingerprint_sha256(pki.ca_cert)
    report.web_fingerprint = fingerprint_sha256(pki.web_cert)
    report.web_problems = pki.web_cert_problems(now)

    current = await store.settings.get_many()
    fresh: dict[str, JsonValue] = {}
    if keys_.CLUSTER_ID not in current:
        fresh[keys_.CLUSTER_ID] = str(uuid.uuid4())
    if keys_.ISSUER not in current:
        fresh[keys_.ISSUER] = f"https://{hostname}:8443"
    for key, value in keys_.DEFAULTS.items():
        if key not in current:
            fresh[key] = value
    if fresh:
        await store.settings.set_many(fresh)
        report.created.append("cluster settings")

    for name in await ensure_default_profiles(store):
        report.created.append(f"security profile {name!r}")

    if not await store.keys.active("authz-signing"):
        await store.keys.add(new_authz_key("signing"))
        report.created.append("authz signing key (RSA 2048, RS256)")
    if not await store.keys.active("authz-encryption"):
        await store.keys.add(new_authz_key("encryption"))
        report.created.append("authz encryption key (256-bit, dir/A256GCM)")

    trusted = {c.fingerprint for c in await store.trusted_certs.list("tomcat-trust")}
    if report.ca_fingerprint not in trusted:
        await store.trusted_certs.add(
            TrustedCert(
                store_name="tomcat-trust",
                fingerprint=report.ca_fingerprint,
                pem=cert_to_pem(pki.ca_cert).decode("ascii"),
                subject=pki.ca_cert.subject.rfc4514_string(),
                not_after=pki.ca_cert.not_valid_after_utc,
            )
        )
        report.created.append("local CA added to tomcat-trust")

    if await store.admins.get(ADMIN_USER) is None:
        password = admin_password or secrets.token_urlsafe(12)
        await store.admins.create(ADMIN_USER, PasswordHasher().hash(password))
        report.created.append("admin account")
        if admin_password is None:
            report.admin_password = password

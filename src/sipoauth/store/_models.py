"""SQLAlchemy models: the schema, as of the newest migration.

Private to the store: repositories turn rows into frozen record dataclasses,
so no ORM object leaves this package. Every change here needs a migration in
``migrations/versions`` (``tests/store/test_migrations.py`` compares the two on
both databases). Constraint names come from the naming convention below, so a
migration can name what it alters.

Types are portable (String, Integer, Boolean, Text, JSON, and timezone-aware
DateTime stored as UTC); enumerations are strings with a named CHECK
constraint rather than database enums, which SQLite lacks and which are
awkward to extend in PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from ._types import (
    AUDIT_INTERFACES,
    COMMAND_STATUSES,
    DEVICE_TYPES,
    KEY_PURPOSES,
    NODE_ROLES,
    REGISTRATION_TRANSPORTS,
    SECURITY_MODES,
    SERVICE_ACTIONS,
    SERVICE_STATES,
    SERVICES,
    TRANSPORTS,
    AuditInterface,
    CommandStatus,
    DeviceType,
    JsonValue,
    KeyPurpose,
    NodeRole,
    RegistrationTransport,
    SecurityMode,
    ServiceAction,
    ServiceName,
    ServiceState,
    Transport,
    UtcDateTime,
)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME = String(64)
"""Names of nodes and devices, grant ids, key ids."""
LONG_NAME = String(255)
"""Host names, domains, URIs used as keys."""


def _one_of(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and its naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime()}


class Setting(Base):
    """A cluster-wide parameter (enterprise parameters, OAuth mode, …)."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[JsonValue] = mapped_column(JSON(), nullable=False)
    updated_at: Mapped[datetime]


class Node(Base):
    """A server of the cluster and its per-node listener ports (R5)."""

    __tablename__ = "nodes"
    __table_args__ = (CheckConstraint(_one_of("role", NODE_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(NAME, unique=True)
    host: Mapped[str] = mapped_column(LONG_NAME)
    role: Mapped[NodeRole] = mapped_column(String(16))
    sip_port: Mapped[int]
    secure_sip_port: Mapped[int]
    oauth_port: Mapped[int]
    mra_port: Mapped[int]
    web_port: Mapped[int]
    tftp_port: Mapped[int]
    tftp_secure_port: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Key(Base):
    """A cluster key for tokens (signing / encryption), PEM or base64 text."""

    __tablename__ = "keys"
    __table_args__ = (
        CheckConstraint(_one_of("purpose", KEY_PURPOSES), name="purpose"),
        Index("ix_keys_purpose_active", "purpose", "active"),
    )

    kid: Mapped[str] = mapped_column(String(128), primary_key=True)
    purpose: Mapped[KeyPurpose] = mapped_column(String(32))
    alg: Mapped[str] = mapped_column(String(32))
    material: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    active: Mapped[bool]


class Admin(Base):
    """An administrator account of the admin pages, REST API and CLI."""

    __tablename__ = "admins"

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    active: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SecurityProfile(Base):
    """A phone security profile (R9)."""

    __tablename__ = "security_profiles"
    __table_args__ = (
        CheckConstraint(_one_of("security_mode", SECURITY_MODES), name="security_mode"),
        CheckConstraint(_one_of("transport", TRANSPORTS), name="transport"),
    )

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    device_type: Mapped[str] = mapped_column(NAME)
    security_mode: Mapped[SecurityMode] = mapped_column(String(16))
    transport: Mapped[Transport] = mapped_column(String(8))
    oauth: Mapped[bool]
    digest: Mapped[bool]
    tftp_encrypted: Mapped[bool]
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Device(Base):
    """A phone or soft client (R1, R12.1), with its lines."""

    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint(_one_of("device_type", DEVICE_TYPES), name="device_type"),
        Index("ix_devices_profile_name", "profile_name"),
        Index("ix_devices_owner_user_id", "owner_user_id"),
        Index("ix_devices_callmanager_group", "callmanager_group"),
    )

    name: Mapped[str] = mapped_column(NAME, primary_key=True)
    model: Mapped[str] = mapped_column(NAME)
    device_type: Mapped[DeviceType] = mapped_column(String(8))
    description: Mapped[str] = mapped_column(Text)
    # A profile in use cannot be deleted (RESTRICT); a renamed one is followed.
    profile_name: Mapped[str] = mapped_column(
        String(128),
        ForeignKey("security_profiles.name", onupdate="CASCADE", ondelete="RESTRICT"),
    )
    owner_user_id: Mapped[str | None] = mapped_column(String(128))
    oauth_firmware: Mapped[bool]
    allow_activation_via_mra: Mapped[bool]
    mra_service_domain: Mapped[str | None] = mapped_column(LONG_NAME)
    # Revision 0003; server defaults so that existing rows migrate.
    requires_activation_code: Mapped[bool] = mapped_column(Boolean, server_default=false())
    config_version: Mapped[int] = mapped_column(Integer, server_default="1")
    reset_required: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Revision 0004. NULL: the Default group (every server, publisher first).
    # A group in use cannot be deleted (NO ACTION: SQLite adds a foreign key to
    # an existing table only inline, where it reflects no ON DELETE / UPDATE).
    callmanager_group: Mapped[str | None] = mapped_column(
        String(128), ForeignKey("callmanager_groups.name")
    )

    lines: Mapped[list[Line]] = relationship(
        order_by="Line.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
        passive_updates=True,
        lazy="selectin",
    )


class Line(Base):
    """A directory number on a device, at a button position (1-based)."""

    __tablename__ = "lines"
    __table_args__ = (CheckConstraint("position >= 1", name="position"),)

    device_name: Mapped[str] = mapped_column(
        NAME,
        ForeignKey("devices.name", onupdate="CASCADE", ondelete="CASCADE"),
        primary_key=True,
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    dn: Mapped[str] = mapped_column(NAME)


class Edge(Base):
    """An edge proxy (Expressway-C) allowed on the remote-access port (R6)."""

    __tablename__ = "edges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    address: Mapped[str] = mapped_column(LONG_NAME, unique=True)
    description: Mapped[str] = mapped_column(Text)
    x509_names: Mapped[list[str]] = mapped_column(JSON())
    domain: Mapped[str | None] = mapped_column(LONG_NAME)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Revision 0004: where phones outside reach the edge (MRA config files).
    # NULL host: ``address``. Server defaults so that existing rows migrate.
    public_host: Mapped[str | None] = mapped_column(LONG_NAME)
    public_sip_port: Mapped[int] = mapped_column(Integer, server_default="5061")
    public_web_port: Mapped[int] = mapped_column(Integer, server_default="8443")


class CallManagerGroup(Base):
    """A CallManager group: the ordered servers a device registers to (failover)."""

    __tablename__ = "callmanager_groups"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    description: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    members: Mapped[list[CallManagerGroupMember]] = relationship(
        order_by="CallManagerGroupMember.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
        passive_updates=True,
        lazy="selectin",
    )


class CallManagerGroupMember(Base):
    """A server of a CallManager group at a position (0 = tried first).

    A deleted server leaves its groups (CASCADE); the positions of the others
    keep their order, with a gap.
    """

    __tablename__ = "callmanager_group_members"
    __table_args__ = (
        CheckConstraint("position >= 0", name="position"),
        UniqueConstraint("group_name", "node_name"),
    )

    group_name: Mapped[str] = mapped_column(
        String(128),
        ForeignKey("callmanager_groups.name", onupdate="CASCADE", ondelete="CASCADE"),
        primary_key=True,
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    node_name: Mapped[str] = mapped_column(
        NAME, ForeignKey("nodes.name", onupdate="CASCADE", ondelete="CASCADE")
    )


class Grant(Base):
    """An OAuth grant (``sid`` in tokens); revoking it revokes its tokens."""

    __tablename__ = "grants"
    __table_args__ = (
        Index("ix_grants_subject_client_id", "subject", "client_id"),
        Index("ix_grants_revoked_at", "revoked_at"),
        Index("ix_grants_user_id", "user_id"),
    )

    sid: Mapped[str] = mapped_column(NAME, primary_key=True)
    subject: Mapped[str] = mapped_column(String(128))
    client_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # The end user the grant belongs to: the subject for soft clients, the
    # owner of a desk phone for device grants (revoked with the user).
    user_id: Mapped[str | None] = mapped_column(String(128))
    grant_type: Mapped[str | None] = mapped_column(String(64))


class User(Base):
    """An end user who signs in on soft clients (no password: cannot sign in)."""

    __tablename__ = "users"

    user_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    display_name: Mapped[str] = mapped_column(Text, server_default="")
    password_hash: Mapped[str | None] = mapped_column(Text)
    active: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AuthorizationCode(Base):
    """An authorization code (RFC 6749 §4.1), by hash; single use, short-lived."""

    __tablename__ = "authorization_codes"
    __table_args__ = (Index("ix_authorization_codes_expires_at", "expires_at"),)

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    redirect_uri: Mapped[str] = mapped_column(Text)
    user_id: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(Text)
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(16))
    via_mra: Mapped[bool]
    auth_time: Mapped[datetime]
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    sid: Mapped[str | None] = mapped_column(NAME)


class RefreshToken(Base):
    """An opaque refresh token, by hash; rotated on every use (DESIGN "Tokens")."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_sid", "sid"),
        Index("ix_refresh_tokens_expires_at", "expires_at"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Deleting a grant deletes its refresh tokens.
    sid: Mapped[str] = mapped_column(NAME, ForeignKey("grants.sid", ondelete="CASCADE"))
    client_id: Mapped[str] = mapped_column(String(128))
    subject: Mapped[str] = mapped_column(String(128))
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]


class ActivationCode(Base):
    """The activation code of a desk phone (one per device), by keyed hash."""

    __tablename__ = "activation_codes"

    # The code follows a renamed device and goes with a deleted one.
    device_name: Mapped[str] = mapped_column(
        NAME,
        ForeignKey("devices.name", onupdate="CASCADE", ondelete="CASCADE"),
        primary_key=True,
    )
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    model: Mapped[str] = mapped_column(NAME)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class TrustedCert(Base):
    """A certificate in a trust store (``tomcat-trust``, ``phone-edge-trust``…)."""

    __tablename__ = "trusted_certs"

    store_name: Mapped[str] = mapped_column(NAME, primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(128), primary_key=True)
    pem: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    not_after: Mapped[datetime]
    created_at: Mapped[datetime]
    # Revision 0003: empty / None for certificates stored before.
    issuer: Mapped[str] = mapped_column(Text, server_default="")
    not_before: Mapped[datetime | None]


class PkiIdentity(Base):
    """A certificate chain and its private key, sealed (revision 0005): the
    cluster CA (``ca``) and each node's web certificate (``tomcat:<node>``)."""

    __tablename__ = "pki_identities"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    chain_pem: Mapped[str] = mapped_column(Text)
    key_pem: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime]


class Registration(Base):
    """Mirror of a binding held in the memory of one node (write-behind)."""

    __tablename__ = "registrations"
    __table_args__ = (
        CheckConstraint(_one_of("transport", REGISTRATION_TRANSPORTS), name="transport"),
        Index("ix_registrations_device_name", "device_name"),
        Index("ix_registrations_node_name", "node_name"),
        Index("ix_registrations_expires_at", "expires_at"),
    )

    aor: Mapped[str] = mapped_column(String(512), primary_key=True)
    instance: Mapped[str] = mapped_column(String(512), primary_key=True)
    device_name: Mapped[str] = mapped_column(NAME)
    contact: Mapped[str] = mapped_column(Text)
    node_name: Mapped[str] = mapped_column(NAME)
    transport: Mapped[RegistrationTransport] = mapped_column(String(8))
    path: Mapped[list[str]] = mapped_column(JSON())
    expires_at: Mapped[datetime]
    call_id: Mapped[str] = mapped_column(LONG_NAME)
    cseq: Mapped[int]
    sid: Mapped[str | None] = mapped_column(NAME)
    updated_at: Mapped[datetime]


class ChangeLog(Base):
    """Notifications for SQLite (PostgreSQL uses LISTEN/NOTIFY instead).

    AUTOINCREMENT so that ids are never reused after the table is trimmed:
    listeners remember the last id they delivered.
    """

    __tablename__ = "change_log"
    __table_args__ = (
        Index("ix_change_log_created_at", "created_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(NAME)
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class AuditLog(Base):
    """Who changed what, when, from which interface (issue 4 point 12).

    AUTOINCREMENT so that ids are never reused after a purge.
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(_one_of("interface", AUDIT_INTERFACES), name="interface"),
        Index("ix_audit_log_at", "at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    interface: Mapped[AuditInterface] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(NAME)
    object_type: Mapped[str] = mapped_column(NAME)
    object_id: Mapped[str] = mapped_column(LONG_NAME)
    detail: Mapped[dict[str, JsonValue]] = mapped_column(JSON())


class MraDomain(Base):
    """An MRA service domain (issue 4 point 7, Device > MRA Service Domain)."""

    __tablename__ = "mra_domains"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    is_default: Mapped[bool]
    domains: Mapped[list[str]] = mapped_column(JSON())
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class NodeService(Base):
    """What a node reports of one of its services, and "restart pending" (R8)."""

    __tablename__ = "node_services"
    __table_args__ = (
        CheckConstraint(_one_of("service", SERVICES), name="service"),
        CheckConstraint(_one_of("state", SERVICE_STATES), name="state"),
    )

    node_name: Mapped[str] = mapped_column(
        NAME,
        ForeignKey("nodes.name", onupdate="CASCADE", ondelete="CASCADE"),
        primary_key=True,
    )
    service: Mapped[ServiceName] = mapped_column(String(32), primary_key=True)
    state: Mapped[ServiceState] = mapped_column(String(16))
    restart_pending: Mapped[bool]
    started_at: Mapped[datetime | None]
    applied: Mapped[dict[str, JsonValue]] = mapped_column(JSON())
    message: Mapped[str] = mapped_column(Text, server_default="")
    updated_at: Mapped[datetime]


class ServiceCommand(Base):
    """A start / stop / restart asked of a node's service; the node executes it.

    AUTOINCREMENT so that ids are never reused after a purge.
    """

    __tablename__ = "service_commands"
    __table_args__ = (
        CheckConstraint(_one_of("service", SERVICES), name="service"),
        CheckConstraint(_one_of("action", SERVICE_ACTIONS), name="action"),
        CheckConstraint(_one_of("status", COMMAND_STATUSES), name="status"),
        Index("ix_service_commands_node_name_status", "node_name", "status"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_name: Mapped[str] = mapped_column(NAME)
    service: Mapped[ServiceName] = mapped_column(String(32))
    action: Mapped[ServiceAction] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime]
    status: Mapped[CommandStatus] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    done_at: Mapped[datetime | None]


class AdminToken(Base):
    """A bearer token of the REST API, by SHA-256 (never the token)."""

    __tablename__ = "admin_tokens"
    __table_args__ = (
        Index("ix_admin_tokens_username", "username"),
        Index("ix_admin_tokens_expires_at", "expires_at"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(
        String(128), ForeignKey("admins.username", ondelete="CASCADE")
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]


metadata = Base.metadata
"""The target metadata of the migrations."""

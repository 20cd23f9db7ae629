"""sipoauth.store: the database of a node (SQLite embedded, PostgreSQL for a cluster).

Repositories take and return frozen record dataclasses; errors are
:class:`StoreError` subclasses; change notifications go through
``Store.notify`` / ``Store.listen``. See docs/storage.md.
"""

from typing import TYPE_CHECKING

from ._activation import ActivationCode, ActivationCodeRecord, ActivationCodesRepository
from ._admin_tokens import AdminTokenRecord, AdminTokensRepository
from ._admins import AdminRecord, AdminsRepository
from ._audit import AuditEntry, AuditRecord, AuditRepository
from ._base import Clock
from ._certs import TrustedCert, TrustedCertRecord, TrustedCertsRepository
from ._codes import AuthorizationCode, AuthorizationCodeRecord, AuthorizationCodesRepository
from ._devices import Device, DeviceRecord, DevicesRepository, Line
from ._edges import Edge, EdgeRecord, EdgesRepository
from ._errors import (
    AlreadyExists,
    CheckViolation,
    IntegrityViolation,
    InvalidReference,
    NotFound,
    SchemaOutdated,
    StoreError,
    StoreUnavailable,
)
from ._grants import GrantRecord, GrantsRepository
from ._groups import CallManagerGroup, CallManagerGroupRecord, CallManagerGroupsRepository
from ._identities import (
    CA_IDENTITY,
    IdentitiesRepository,
    Identity,
    IdentityRecord,
    web_identity,
)
from ._keys import Key, KeyRecord, KeysRepository
from ._mra import MraDomain, MraDomainRecord, MraDomainsRepository
from ._nodes import Node, NodeRecord, NodesRepository
from ._notify import CATCH_UP, MAX_PAYLOAD_BYTES, Subscription
from ._profiles import ProfilesRepository, SecurityProfile, SecurityProfileRecord
from ._refresh import RefreshToken, RefreshTokenRecord, RefreshTokensRepository
from ._registrations import (
    Registration,
    RegistrationKey,
    RegistrationRecord,
    RegistrationsRepository,
)
from ._seal import (
    SECRET_FILE,
    SecretRequired,
    WrongSecret,
    new_secret,
    read_secret_file,
    set_aside,
    write_secret_file,
)
from ._services import (
    NodeServiceRecord,
    NodeServicesRepository,
    ServiceCommandRecord,
    ServiceCommandsRepository,
)
from ._settings import SettingsRepository
from ._store import Store, StoreOptions
from ._types import (
    SERVICES,
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
)
from ._urls import DATABASE_FILE, database_url_for, normalise_url
from ._users import User, UserRecord, UsersRepository

__all__ = [
    "CATCH_UP",
    "CA_IDENTITY",
    "DATABASE_FILE",
    "MAX_PAYLOAD_BYTES",
    "SECRET_FILE",
    "SERVICES",
    "ActivationCode",
    "ActivationCodeRecord",
    "ActivationCodesRepository",
    "AdminRecord",
    "AdminTokenRecord",
    "AdminTokensRepository",
    "AdminsRepository",
    "AlreadyExists",
    "AuditEntry",
    "AuditInterface",
    "AuditRecord",
    "AuditRepository",
    "AuthorizationCode",
    "AuthorizationCodeRecord",
    "AuthorizationCodesRepository",
    "CallManagerGroup",
    "CallManagerGroupRecord",
    "CallManagerGroupsRepository",
    "CheckViolation",
    "Clock",
    "CommandStatus",
    "Device",
    "DeviceRecord",
    "DeviceType",
    "DevicesRepository",
    "Edge",
    "EdgeRecord",
    "EdgesRepository",
    "GrantRecord",
    "GrantsRepository",
    "IdentitiesRepository",
    "Identity",
    "IdentityRecord",
    "IntegrityViolation",
    "InvalidReference",
    "JsonValue",
    "Key",
    "KeyPurpose",
    "KeyRecord",
    "KeysRepository",
    "Line",
    "MraDomain",
    "MraDomainRecord",
    "MraDomainsRepository",
    "Node",
    "NodeRecord",
    "NodeRole",
    "NodeServiceRecord",
    "NodeServicesRepository",
    "NodesRepository",
    "NotFound",
    "ProfilesRepository",
    "RefreshToken",
    "RefreshTokenRecord",
    "RefreshTokensRepository",
    "Registration",
    "RegistrationKey",
    "RegistrationRecord",
    "RegistrationTransport",
    "RegistrationsRepository",
    "SchemaOutdated",
    "SecretRequired",
    "SecurityMode",
    "SecurityProfile",
    "SecurityProfileRecord",
    "ServiceAction",
    "ServiceCommandRecord",
    "ServiceCommandsRepository",
    "ServiceName",
    "ServiceState",
    "SettingsRepository",
    "Store",
    "StoreError",
    "StoreOptions",
    "StoreUnavailable",
    "Subscription",
    "Transport",
    "TrustedCert",
    "TrustedCertRecord",
    "TrustedCertsRepository",
    "User",
    "UserRecord",
    "UsersRepository",
    "WrongSecret",
    "alembic_config",
    "database_url_for",
    "head_revision",
    "new_secret",
    "normalise_url",
    "read_secret_file",
    "set_aside",
    "web_identity",
    "write_secret_file",
]

if TYPE_CHECKING:
    from ._migrate import alembic_config, head_revision


def __getattr__(name: str) -> object:
    # Alembic is imported when a migration helper is first used, not with the store:
    # an admin command never needs it (~0.1 s of its start-up).
    if name in ("alembic_config", "head_revision"):
        from . import _migrate

        return getattr(_migrate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

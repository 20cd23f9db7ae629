"""Value types shared by the models and the records: enumerations and UTC times."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, TypeAlias, get_args

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "AUDIT_INTERFACES",
    "COMMAND_STATUSES",
    "DEVICE_TYPES",
    "KEY_PURPOSES",
    "NODE_ROLES",
    "REGISTRATION_TRANSPORTS",
    "SECURITY_MODES",
    "SERVICES",
    "SERVICE_ACTIONS",
    "SERVICE_STATES",
    "TRANSPORTS",
    "AuditInterface",
    "CommandStatus",
    "DeviceType",
    "JsonValue",
    "KeyPurpose",
    "NodeRole",
    "RegistrationTransport",
    "SecurityMode",
    "ServiceAction",
    "ServiceName",
    "ServiceState",
    "Transport",
    "UtcDateTime",
]

NodeRole: TypeAlias = Literal["publisher", "subscriber"]
"""A node of the cluster: one publisher, any number of subscribers."""

KeyPurpose: TypeAlias = Literal["authz-signing", "authz-encryption", "activation-code"]
"""What a cluster key is for: the authz keys of access tokens (DESIGN "Tokens":
nested JWS-in-JWE), and the HMAC secret activation codes are stored under."""

SecurityMode: TypeAlias = Literal["non-secure", "authenticated", "encrypted"]
"""Device Security Mode of a phone security profile (R9)."""

Transport: TypeAlias = Literal["TCP", "UDP", "TCP+UDP", "TLS"]
"""Transport Type of a phone security profile (R9)."""

DeviceType: TypeAlias = Literal["desk", "soft"]
"""Desk phones onboard with activation codes, soft clients sign in (R1.2)."""

RegistrationTransport: TypeAlias = Literal["UDP", "TCP", "TLS", "WS", "WSS"]
"""Transport of a registered contact (the Via of the REGISTER)."""

AuditInterface: TypeAlias = Literal["cli", "api", "web", "shell", "system", "edge"]
"""Where an audited change came from (issue 4 point 12): the command line, the
REST API, the admin pages, the interactive shell, the node itself, or an edge
pushing its certificate names."""

ServiceName: TypeAlias = Literal["callmanager", "tomcat", "tftp"]
"""The services of a node (DESIGN "One node, one process"): Cisco CallManager
(SIP), Cisco Tomcat (web), Cisco TFTP (config files)."""

ServiceState: TypeAlias = Literal["running", "stopped", "starting", "stopping", "failed", "unknown"]
"""What a node reports of one of its services (R8)."""

ServiceAction: TypeAlias = Literal["start", "stop", "restart"]
"""What an administrator asks of a service on a node (R8, Control Center)."""

CommandStatus: TypeAlias = Literal["pending", "running", "done", "failed"]
"""Progress of a service command: written ``pending``, claimed by the node
(``running``), then ``done`` or ``failed``."""

JsonValue: TypeAlias = "dict[str, JsonValue] | list[JsonValue] | str | int | float | bool | None"
"""A value stored in a JSON column (cluster settings)."""

NODE_ROLES: tuple[str, ...] = get_args(NodeRole)
KEY_PURPOSES: tuple[str, ...] = get_args(KeyPurpose)
SECURITY_MODES: tuple[str, ...] = get_args(SecurityMode)
TRANSPORTS: tuple[str, ...] = get_args(Transport)
DEVICE_TYPES: tuple[str, ...] = get_args(DeviceType)
REGISTRATION_TRANSPORTS: tuple[str, ...] = get_args(RegistrationTransport)
AUDIT_INTERFACES: tuple[str, ...] = get_args(AuditInterface)
SERVICES: tuple[str, ...] = get_args(ServiceName)
SERVICE_STATES: tuple[str, ...] = get_args(ServiceState)
SERVICE_ACTIONS: tuple[str, ...] = get_args(ServiceAction)
COMMAND_STATUSES: tuple[str, ...] = get_args(CommandStatus)


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` that only takes and always gives aware UTC times.

    SQLite has no time zone support: values are stored there as naive UTC
    text in one fixed format (so comparisons in SQL order correctly) and given
    back with ``tzinfo=UTC``. A naive datetime is refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) time")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - driver contract
            raise TypeError(f"unexpected datetime value {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

"""Enterprise and service parameters: one table of definitions, one way to set them.

Theory of operation
-------------------
`PARAMETERS` lists every parameter an operator may change here: its settings
key (`_settings.py`), the display name the reference system shows, its group,
its kind and range, and its default (`DEFAULTS`). `set_parameter` finds a
parameter by key or display name, parses the operator's text by kind,
stores the value and announces it on the `config` channel; nodes reload it.
Changing "OAuth Refresh Token Expiry Timer (days)" revokes every refresh token
(REFERENCE-BEHAVIOUR "Parameters"), so tokens never outlive the lifetime in force.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal
from urllib.parse import urlsplit

from sipoauth.store import JsonValue, Store

from . import _settings as keys
from ._audit import audit
from ._errors import InvalidValue, NotFound

__all__ = [
    "ENTERPRISE_GROUP",
    "PARAMETERS",
    "SERVICE_GROUP",
    "Parameter",
    "ParameterKind",
    "ParameterValue",
    "find_parameter",
    "list_parameters",
    "reset_parameter",
    "set_parameter",
]

ParameterKind = Literal["bool", "int", "choice", "text", "uri-list"]
"""How a parameter's text value is parsed and shown."""

ENTERPRISE_GROUP: Final = "SSO and OAuth Configuration"
"""Enterprise parameter group of the OAuth parameters (REFERENCE-BEHAVIOUR)."""
SERVICE_GROUP: Final = "Service Parameters"
"""Service parameters of the call-control and activation services."""

MAX_VALUE_LENGTH: Final = 4096
"""Characters of an operator's text value at most (before it is parsed)."""
REALM_MAX_LENGTH: Final = 64
"""Characters of the SIP realm at most."""

# -- parsing and checking values by kind ------------------------------------------------

_TRUE: Final = frozenset({"true", "enabled", "on", "1"})
_FALSE: Final = frozenset({"false", "disabled", "off", "0"})
_INTEGER = re.compile(r"[+-]?[0-9]{1,12}")
# RFC 3261 §25.1 / RFC 7235 §2.2: the realm is sent as a quoted-string; without
# '"' and '\' it needs no quoted-pair, and printable ASCII keeps the SIP and
# HTTP headers it appears in plain ASCII.
_REALM = re.compile(rf"[\x20-\x21\x23-\x5b\x5d-\x7e]{{1,{REALM_MAX_LENGTH}}}")
# RFC 1123 §2.1 host name labels; the last one not all digits (not an IPv4 address).
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}$)({_LABEL}\.)+(?![0-9]+$){_LABEL}")
# RFC 3986 §3.1 scheme, with at least one dot: a reverse domain name (RFC 8252 §7.1).
_PRIVATE_SCHEME = re.compile(r"[a-z][a-z0-9+-]*(\.[a-z0-9][a-z0-9+-]*)+")
_URI_CHARS = re.compile(r"[\x21-\x7e]+")


def _parse_bool(name: str, text: str, labels: tuple[str, str]) -> bool:
    """Enabled/Disabled, True/False, on/off, 1/0, in any case."""
    word = text.strip().casefold()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise InvalidValue(f"{name} must be {labels[0]} or {labels[1]}")


def _parse_int(name: str, text: str, minimum: int, maximum: int) -> int:
    """A whole number within [minimum, maximum]."""
    word = text.strip()
    if not _INTEGER.fullmatch(word):
        raise InvalidValue(f"{name} must be a whole number between {minimum} and {maximum}")
    number = int(word)
    if not minimum <= number <= maximum:
        raise InvalidValue(f"{name} must be between {minimum} and {maximum}")
    return number


def _check_realm(name: str, text: str) -> str:
    """1–64 printable ASCII characters without quotes or backslashes."""
    realm = text.strip()
    if not _REALM.fullmatch(realm):
        raise InvalidValue(
            f"{name} must be 1 to {REALM_MAX_LENGTH} printable ASCII characters "
            "without quotes or backslashes"
        )
    return realm


def _check_dns_name(name: str, text: str) -> str:
    """Empty, or a DNS domain name (lower case, no trailing dot)."""
    domain = text.strip().lower().removesuffix(".")
    if domain and not _DOMAIN.fullmatch(domain):
        raise InvalidValue(f"{name} must be empty or a domain name such as example.com")
    return domain


def _redirect_uri_problem(uri: str) -> str | None:
    """Why `uri` may not be a redirect URI, or None when it may."""
    if not _URI_CHARS.fullmatch(uri):
        return "must be ASCII without spaces (RFC 3986 §2)"
    if "#" in uri:
        return "must not contain a fragment (RFC 6749 §3.1.2)"
    try:
        parts = urlsplit(uri)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return "is not a valid URI (RFC 3986)"
    scheme, host = parts.scheme, parts.hostname
    if not scheme:
        return "must be an absolute URI (RFC 6749 §3.1.2)"
    if scheme in ("https", "http"):
        if not host or not port_ok:
            return f"needs a host (and a valid port): {scheme}://host/path"
        if parts.username is not None or parts.password is not None:
            return "must not contain user information (RFC 3986 §3.2.1)"
        if scheme == "https":
            return None
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if loopback:
            return None
        return (
            "may use http only on a loopback IP address such as http://127.0.0.1:8080/cb "
            "(RFC 8252 §7.3; 'localhost' is not recommended, §8.3)"
        )
    if not _PRIVATE_SCHEME.fullmatch(scheme):
        return (
            "must use https, http on a loopback IP address, or a private-use scheme "
            "named after a reverse domain such as com.example.app:/callback (RFC 8252 §7.1)"
        )
    if parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "a private-use scheme URI has the form com.example.app:/path (RFC 8252 §7.1)"
    return None


def _check_uri_list(name: str, text: str) -> str:
    """A comma list of redirect URIs, each checked; stored comma-joined, duplicates dropped."""
    uris = list(dict.fromkeys(u.strip() for u in text.split(",") if u.strip()))
    for uri in uris:
        problem = _redirect_uri_problem(uri)
        if problem is not None:
            raise InvalidValue(f"{name}: {uri!r} {problem}")
    return ",".join(uris)


@dataclass(frozen=True, slots=True, kw_only=True)
class Parameter:
    """The definition of one parameter."""

    key: str
    """Settings key (`sipoauth.admin._settings`)."""
    name: str
    """Display name, as on the reference system's pages."""
    group: str
    """`ENTERPRISE_GROUP` or `SERVICE_GROUP`."""
    kind: ParameterKind
    """How the text value is parsed."""
    description: str
    """One or two sentences for the operator."""
    minimum: int | None = None
    """Smallest value (kind `int`)."""
    maximum: int | None = None
    """Largest value (kind `int`)."""
    choices: tuple[tuple[str, str], ...] = ()
    """`(value, label)` pairs (kind `choice`)."""
    bool_labels: tuple[str, str] = ("True", "False")
    """How True and False are shown (kind `bool`)."""
    revokes_refresh_tokens: bool = False
    """A change revokes every refresh token (refresh-token lifetime)."""
    check: Callable[[str, str], str] | None = field(default=None, compare=False, repr=False)
    """Validator of a `text` / `uri-list` value: `(name, text) -> normalised`."""

    @property
    def default(self) -> JsonValue:
        """The value of a cluster where nobody changed it (`DEFAULTS`)."""
        return keys.DEFAULTS[self.key]

    @property
    def range_text(self) -> str:
        """The allowed values, in words."""
        if self.kind == "int":
            return f"{self.minimum}–{self.maximum}"
        if self.kind == "bool":
            return " / ".join(self.bool_labels)
        if self.kind == "choice":
            return " / ".join(label for _, label in self.choices)
        if self.kind == "uri-list":
            return "comma-separated redirect URIs"
        return "text"

    def display(self, value: JsonValue) -> str:
        """`value` as the pages show it (labels for bools and choices)."""
        if self.kind == "bool":
            return self.bool_labels[0] if value else self.bool_labels[1]
        if self.kind == "choice":
            return dict(self.choices).get(str(value), str(value))
        return "" if value is None else str(value)

    def parse(self, text: str) -> JsonValue:
        """The stored value for the operator's `text`; `InvalidValue` when out of range."""
        if len(text) > MAX_VALUE_LENGTH:
            raise InvalidValue(f"{self.name}: at most {MAX_VALUE_LENGTH} characters")
        if self.kind == "bool":
            return _parse_bool(self.name, text, self.bool_labels)
        if self.kind == "int":
            assert self.minimum is not None and self.maximum is not None
            return _parse_int(self.name, text, self.minimum, self.maximum)
        if self.kind == "choice":
            return _parse_choice(self, text)
        assert self.check is not None
        return self.check(self.name, text)


def _parse_choice(parameter: Parameter, text: str) -> str:
    wanted = text.strip().casefold()
    for value, label in parameter.choices:
        if wanted in (value.casefold(), label.casefold()):
            return value
    options = ", ".join(f"{value} ({label})" for value, label in parameter.choices)
    raise InvalidValue(f"{parameter.name} must be one of: {options}")


PARAMETERS: Final[tuple[Parameter, ...]] = (
    Parameter(
        key=keys.REFRESH_LOGIN_FLOW,
        name="OAuth with Refresh Login Flow",
        group=ENTERPRISE_GROUP,
        kind="bool",
        bool_labels=("Enabled", "Disabled"),
        description="Soft clients sign in with the authorization code grant and keep "
        "their session with refresh tokens; refresh tokens are issued only while Enabled.",
    ),
    Parameter(
        key=keys.ACCESS_TOKEN_MINUTES,
        name="OAuth Access Token Expiry Timer (minutes)",
        group=ENTERPRISE_GROUP,
        kind="int",
        minimum=1,
        maximum=1440,
        description="Lifetime of an access token; clients renew it at 75 % of its life.",
    ),
    Parameter(
        key=keys.REFRESH_TOKEN_DAYS,
        name="OAuth Refresh Token Expiry Timer (days)",
        group=ENTERPRISE_GROUP,
        kind="int",
        minimum=1,
        maximum=365,
        revokes_refresh_tokens=True,
        description="Lifetime of a refresh token; users sign in again when it ends. "
        "Changing it revokes every refresh token.",
    ),
    Parameter(
        key=keys.TOKEN_FOR_DEVICES,
        name="OAuth Access Token for Devices",
        group=ENTERPRISE_GROUP,
        kind="choice",
        choices=(
            ("implicit", "Implicit: already registered devices"),
            ("explicit", "Explicit: activation-code onboarding required"),
        ),
        description="How desk phones obtain tokens: implicit (a registered device may "
        "obtain one) or explicit (activation codes only).",
    ),
    Parameter(
        key=keys.THIRD_PARTY_REDIRECT_URIS,
        name="Redirect URIs for Third Party SSO Client",
        group=ENTERPRISE_GROUP,
        kind="uri-list",
        check=_check_uri_list,
        description="Comma-separated redirect URIs a third-party client may use: https, "
        "http on a loopback IP address (RFC 8252 §7.3), or a private-use scheme "
        "such as com.example.app:/callback (RFC 8252 §7.1).",
    ),
    Parameter(
        key=keys.SIP_REALM,
        name="SIP Realm Station",
        group=SERVICE_GROUP,
        kind="text",
        check=_check_realm,
        description="Realm of the Bearer challenge sent to devices (1–64 printable "
        "characters, no quotes or backslashes).",
    ),
    Parameter(
        key=keys.REGISTRATION_INTERVAL,
        name="Registration Interval (seconds)",
        group=SERVICE_GROUP,
        kind="int",
        minimum=60,
        maximum=3600,
        description="Seconds the registrar grants a registration (the Expires of its 200 OK).",
    ),
    Parameter(
        key=keys.ACTIVATION_TTL_HOURS,
        name="Activation Time to Live (Hours)",
        group=SERVICE_GROUP,
        kind="int",
        minimum=1,
        maximum=720,
        description="How long a new activation code stays valid.",
    ),
    Parameter(
        key=keys.MRA_ACTIVATION_ENABLED,
        name="Enable Mobile and Remote Access Activation",
        group=SERVICE_GROUP,
        kind="bool",
        description="Whether phones may use activation codes through the edge (MRA).",
    ),
    Parameter(
        key=keys.MRA_ACTIVATION_DOMAIN,
        name="Mobile and Remote Access Activation Domain",
        group=SERVICE_GROUP,
        kind="text",
        check=_check_dns_name,
        description="Domain phones activating through the edge are given (empty: none).",
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ParameterValue:
    """A parameter with its current value."""

    parameter: Parameter
    """The definition."""
    value: JsonValue
    """The value in force (the default when never set)."""
    is_default: bool
    """True when `value` equals the default."""
    changed: bool = False
    """`set_parameter` / `reset_parameter`: True when the value was different before."""
    refresh_tokens_revoked: int = 0
    """Refresh tokens revoked by this change (refresh-token lifetime only)."""

    @property
    def display(self) -> str:
        """The value as shown on the pages."""
        return self.parameter.display(self.value)


_BY_NAME: Final = {p.key.casefold(): p for p in PARAMETERS} | {
    p.name.casefold(): p for p in PARAMETERS
}


def find_parameter(name: str) -> Parameter:
    """The parameter whose key or display name is `name` (case-insensitive)."""
    found = _BY_NAME.get(name.strip().casefold())
    if found is None:
        raise NotFound(
            f"there is no parameter {name.strip()!r}; `sipoauth parameters list` shows them"
        )
    return found


def _value(
    parameter: Parameter, value: JsonValue, *, changed: bool = False, revoked: int = 0
) -> ParameterValue:
    return ParameterValue(
        parameter=parameter,
        value=value,
        is_default=value == parameter.default,
        changed=changed,
        refresh_tokens_revoked=revoked,
    )


async def list_parameters(store: Store) -> list[ParameterValue]:
    """Every parameter with its current value, in table order."""
    stored = await store.settings.get_many([p.key for p in PARAMETERS])
    return [_value(p, stored.get(p.key, p.default)) for p in PARAMETERS]


async def _store_value(
    store: Store, parameter: Parameter, value: JsonValue, action: str
) -> ParameterValue:
    current = await store.settings.get(parameter.key, parameter.default)
    if current == value:
        return _value(parameter, value)
    await store.settings.set(parameter.key, value)
    revoked = 0
    if parameter.revokes_refresh_tokens:
        # REFERENCE-BEHAVIOUR "Parameters": changing the refresh-token lifetime
        # revokes every refresh token, so none outlives the lifetime in force.
        revoked = await store.refresh_tokens.delete_all()
    detail: dict[str, JsonValue] = {"name": parameter.name, "old": current, "new": value}
    if parameter.revokes_refresh_tokens:
        detail["refresh_tokens_revoked"] = revoked
    await audit(store, action, "parameter", parameter.key, detail)
    await store.notify("config", parameter.key)
    return _value(parameter, value, changed=True, revoked=revoked)


async def set_parameter(store: Store, name: str, value: str) -> ParameterValue:
    """Set parameter `name` (key or display name) from the operator's text `value`."""
    parameter = find_parameter(name)
    return await _store_value(store, parameter, parameter.parse(value), "set")


async def reset_parameter(store: Store, name: str) -> ParameterValue:
    """Put parameter `name` back to its default (same side effects as a change)."""
    parameter = find_parameter(name)
    return await _store_value(store, parameter, parameter.default, "reset")

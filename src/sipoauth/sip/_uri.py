"""SIP, SIPS and other URIs (RFC 3261 §19.1, §25.1).

:func:`parse_uri` returns a :class:`SipUri` for the ``sip``/``sips`` schemes
and an :class:`AbsoluteUri` for anything else. Escapes are resolved when
parsing (``user``, parameter names and values, URI headers hold unescaped
text) and re-applied minimally by ``str()``, so ``parse_uri(str(u)) == u``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Final
from urllib.parse import quote as _pct_quote
from urllib.parse import unquote as _pct_unquote

from . import _abnf
from ._errors import RemoteProtocolError
from ._util import EMPTY, frozen_map

__all__ = ["AbsoluteUri", "SipUri", "parse_uri"]

# RFC 3261 §19.1.4: these parameters must match when either URI has them.
_SIGNIFICANT_PARAMS: Final = ("user", "ttl", "method", "maddr", "transport")


def _unescape(text: str) -> str:
    return _pct_unquote(text, errors="surrogateescape") if "%" in text else text


def _escape(text: str, safe: str) -> str:
    return _pct_quote(text, safe=safe, errors="surrogateescape")


@dataclass(slots=True)
class SipUri:
    """A ``sip:`` or ``sips:`` URI (RFC 3261 §19.1.1), escapes resolved.

    ``params`` maps lowercased parameter names to values (``None`` for a
    parameter without ``=``); ``headers`` maps URI header names to values.

    A URI built by the parser is immutable: parsed values are shared between
    the messages of a connection (see ``_cache``), so assigning an attribute
    of one raises :class:`dataclasses.FrozenInstanceError` and its mappings
    are read-only views. (A URI built by calling the class stays a plain
    value that its owner may adjust; the parser never hands one out.)
    """

    scheme: str
    """``"sip"`` or ``"sips"`` (lowercased)."""
    user: str | None = None
    """The user part, unescaped (``%41`` is ``A``), case preserved; ``None`` if absent."""
    password: str | None = None
    """The password part of the userinfo, unescaped; ``None`` if absent."""
    host: str = ""
    """Hostname or IPv4 address lowercased, or ``[IPv6]`` in compressed form."""
    port: int | None = None
    """The explicit port, or ``None`` (no default is filled in: §19.1.4)."""
    params: Mapping[str, str | None] = field(default_factory=dict)
    """URI parameters, lowercased names, unescaped values."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """URI headers (the ``?h=v&...`` part), unescaped."""
    _sealed: bool = field(default=False, init=False, repr=False, compare=False)

    def __setattr__(self, name: str, value: object) -> None:
        if getattr(self, "_sealed", False):
            raise FrozenInstanceError(f"cannot assign to field {name!r} of a parsed URI")
        object.__setattr__(self, name, value)

    def __str__(self) -> str:
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(_escape(self.user, _abnf.USER_SAFE))
            if self.password is not None:
                parts += (":", _escape(self.password, _abnf.PASSWORD_SAFE))
            parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts += (":", str(self.port))
        for name, value in self.params.items():
            parts += (";", _escape(name, _abnf.PARAM_SAFE))
            if value is not None:
                parts += ("=", _escape(value, _abnf.PARAM_SAFE))
        sep = "?"
        for name, value in self.headers.items():
            parts += (sep, _escape(name, _abnf.HNV_SAFE), "=", _escape(value, _abnf.HNV_SAFE))
            sep = "&"
        return "".join(parts)

    @property
    def transport(self) -> str | None:
        """The ``transport`` parameter, lowercased, or ``None``."""
        value = self.params.get("transport")
        return value.lower() if value else None

    def aor(self) -> str:
        """The canonical address-of-record form (RFC 3261 §10.3 step 5).

        ``scheme:user@host[:port]``: parameters, headers and password removed,
        host lowercased, the user part escaped only where the grammar requires
        it (so two spellings of one user give one key).
        """
        text = self.scheme + ":"
        if self.user is not None:
            text += _escape(self.user, _abnf.USER_SAFE) + "@"
        text += self.host
        if self.port is not None:
            text += ":" + str(self.port)
        return text

    def equivalent(self, other: object) -> bool:
        """URI equality per RFC 3261 §19.1.4."""
        if not isinstance(other, SipUri):
            return False
        if (self.scheme, self.user, self.password, self.host, self.port) != (
            other.scheme,
            other.user,
            other.password,
            other.host,
            other.port,
        ):
            return False
        mine, theirs = self.params, other.params
        for name in _SIGNIFICANT_PARAMS:
            if (name in mine) != (name in theirs):
                return False
        for name, value in mine.items():
            if name in theirs:
                their_value = theirs[name]
                if (value is None) != (their_value is None):
                    return False
                if (
                    value is not None
                    and their_value is not None
                    and value.lower() != their_value.lower()
                ):
                    return False
        return {k.lower(): v for k, v in self.headers.items()} == {
            k.lower(): v for k, v in other.headers.items()
        }


@dataclass(frozen=True, slots=True)
class AbsoluteUri:
    """A URI of a scheme other than sip/sips (RFC 3261 ``absoluteURI``)."""

    scheme: str
    """The scheme, lowercased (``"tel"``, ``"http"``, ``"urn"``...)."""
    opaque: str
    """Everything after the first ``:``, as sent."""

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"

    def equivalent(self, other: object) -> bool:
        """Same scheme and the same text after it."""
        return (
            isinstance(other, AbsoluteUri)
            and self.scheme == other.scheme
            and self.opaque == other.opaque
        )


_SIP_URI_FULLMATCH: Final = _abnf.SIP_URI_RE.fullmatch
_HOST_FULLMATCH: Final = _abnf.HOST_RE.fullmatch
_BAD_ESCAPE_SEARCH: Final = _abnf.BAD_ESCAPE_RE.search
_ABSOLUTE_URI_FULLMATCH: Final = _abnf.ABSOLUTE_URI_RE.fullmatch


def _bad(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(400, f"Invalid {what}")


# Hosts already checked against the hostname / IPv4address rules, lowercased.
# Bounded: cleared when full (hosts repeat across requests: the node's own
# domain, each phone's address).
HOSTS_SEEN: dict[str, str] = {}
HOSTS_SEEN_MAX: Final = 4096


def check_host(host: str) -> str:
    """Check ``host`` (hostname / IPv4address / IPv6reference); return it canonical.

    Hostnames are lowercased, IPv6 references compressed. Raises
    :class:`RemoteProtocolError` (400) when ``host`` is not a valid host.
    """
    lowered = HOSTS_SEEN.get(host)
    if lowered is not None:
        return lowered
    if host[0] == "[":
        try:
            lowered = "[" + ipaddress.IPv6Address(host[1:-1]).compressed + "]"
        except ValueError:
            raise _bad("IPv6 reference") from None
    elif _HOST_FULLMATCH(host) is None:
        raise _bad("host")
    else:
        lowered = host.lower()
    if len(HOSTS_SEEN) >= HOSTS_SEEN_MAX:
        HOSTS_SEEN.clear()
    HOSTS_SEEN[host] = lowered
    return lowered


def _unescape_checked(text: str) -> str:
    if _BAD_ESCAPE_SEARCH(text) is not None:
        raise _bad("escape in URI")
    return _pct_unquote(text, errors="surrogateescape")


def _split_params(text: str) -> Mapping[str, str | None]:
    """``;a=b;c`` -> ``{"a": "b", "c": None}``; a repeated name keeps its last value.

    Checks ``other-param = pname [ "=" pvalue ]`` with ``1*paramchar`` each
    (the character set was checked by SIP_URI_RE).
    """
    params: dict[str, str | None] = {}
    for item in text[1:].split(";"):
        name, eq, value = item.partition("=")
        if not name or (eq and (not value or "=" in value)):
            raise _bad("URI parameter")
        if "%" in name:
            name = _unescape_checked(name)
        if eq:
            params[name.lower()] = _unescape_checked(value) if "%" in value else value
        else:
            params[name.lower()] = None
    return frozen_map(params)


def _split_headers(text: str) -> Mapping[str, str]:
    """``h=v&h2=v2`` (``header = hname "=" hvalue``; hname non-empty)."""
    headers: dict[str, str] = {}
    for item in text.split("&"):
        name, eq, value = item.partition("=")
        if not name or not eq or "=" in value:
            raise _bad("URI header")
        if "%" in item:
            name, value = _unescape_checked(name), _unescape_checked(value)
        headers[name] = value
    return frozen_map(headers)


_new_object = object.__new__
_SET_SCHEME, _SET_USER, _SET_PASSWORD, _SET_HOST, _SET_PORT, _SET_PARAMS, _SET_HEADERS, _SEAL = (
    SipUri.__dict__[name].__set__
    for name in ("scheme", "user", "password", "host", "port", "params", "headers", "_sealed")
)


def parsed_sip_uri(
    scheme: str,
    user: str | None,
    password: str | None,
    host: str,
    port: int | None,
    params: Mapping[str, str | None],
    headers: Mapping[str, str],
) -> SipUri:
    """A sealed (immutable) :class:`SipUri` from already-checked parts.

    Fills the slots directly: quicker than the dataclass ``__init__``, which
    goes through the sealing ``__setattr__`` once per field.
    """
    uri: SipUri = _new_object(SipUri)
    _SET_SCHEME(uri, scheme)
    _SET_USER(uri, user)
    _SET_PASSWORD(uri, password)
    _SET_HOST(uri, host)
    _SET_PORT(uri, port)
    _SET_PARAMS(uri, params)
    _SET_HEADERS(uri, headers)
    _SEAL(uri, True)
    return uri


def sip_uri_from_parts(
    scheme: str,
    user: str | None,
    password: str | None,
    host: str,
    port: str | None,
    params: str | None,
    headers: str | None,
    allow_headers: bool = True,
) -> SipUri:
    """Build a :class:`SipUri` from the seven groups of ``SIP_URI_PARTS``,
    applying the per-part rules the character-class split left to check."""
    if user is not None and "%" in user:
        user = _unescape_checked(user)
    if password is not None and "%" in password:
        password = _unescape_checked(password)
    port_number = None
    if port is not None:
        port_number = int(port) if len(port) <= 5 else _abnf.MAX_PORT + 1
        if port_number > _abnf.MAX_PORT:
            raise _bad("port")
    if headers is not None and not allow_headers:
        raise _bad("URI: headers not allowed here")
    return parsed_sip_uri(
        scheme if scheme == "sip" or scheme == "sips" else scheme.lower(),
        user,
        password,
        HOSTS_SEEN.get(host) or check_host(host),
        port_number,
        _split_params(params) if params else EMPTY,
        EMPTY if headers is None else _split_headers(headers),
    )


def parse_sip_uri(text: str, *, allow_headers: bool = True) -> SipUri:
    """Parse a SIP/SIPS URI, raising :class:`RemoteProtocolError` (400) if invalid."""
    m = _SIP_URI_FULLMATCH(text)
    if m is None:
        raise _bad("SIP URI")
    scheme, user, password, host, port, params, headers = m.groups()
    return sip_uri_from_parts(scheme, user, password, host, port, params, headers, allow_headers)


def parse_uri(text: str, *, allow_headers: bool = True) -> SipUri | AbsoluteUri:
    """Parse ``addr-spec`` text: a :class:`SipUri` or an :class:`AbsoluteUri`.

    ``allow_headers=False`` rejects a SIP URI with a ``?headers`` part (not
    allowed in a Request-URI, RFC 3261 §19.1.1 table 1). Raises
    :class:`RemoteProtocolError` (400) when ``text`` is not a valid URI.
    """
    if text.startswith("sip:") or text.startswith("sips:"):
        return parse_sip_uri(text, allow_headers=allow_headers)
    head = text[:5].lower()
    if head.startswith("sip:") or head == "sips:":
        return parse_sip_uri(text, allow_headers=allow_headers)
    m = _ABSOLUTE_URI_FULLMATCH(text)
    if m is None:
        raise _bad("URI")
    return AbsoluteUri(m.group(1).lower(), m.group(2))

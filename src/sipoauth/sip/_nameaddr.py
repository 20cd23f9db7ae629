"""name-addr / addr-spec header values: From, To, Contact, Route, Path (RFC 3261 §20)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from . import _abnf
from ._errors import RemoteProtocolError
from ._headers import split_list
from ._uri import HOSTS_SEEN, AbsoluteUri, SipUri, parse_uri, parsed_sip_uri, sip_uri_from_parts
from ._util import EMPTY, Derived, frozen_map

__all__ = [
    "Contact",
    "NameAddr",
    "parse_contact",
    "parse_contact_line",
    "parse_name_addr",
    "parse_name_addr_line",
    "parse_params",
]

_NAME_ADDR_FULLMATCH: Final = _abnf.NAME_ADDR_RE.fullmatch
_NAME_ADDR_SIP_FULLMATCH: Final = _abnf.NAME_ADDR_SIP_RE.fullmatch
_ADDR_SPEC_SIP_FULLMATCH: Final = _abnf.ADDR_SPEC_SIP_RE.fullmatch
_GEN_PARAM_FINDALL: Final = _abnf.GEN_PARAM_ITEM_RE.findall
_QVALUE_FULLMATCH: Final = _abnf.QVALUE_RE.fullmatch
_HOSTS_SEEN_GET: Final = HOSTS_SEEN.get


def parse_params(text: str) -> Mapping[str, str | None]:
    """``;a=b;c`` (already checked against ``*( SEMI generic-param )``) -> read-only mapping.

    Names are lowercased; values are kept as sent (a quoted-string keeps its
    quotes: see :meth:`NameAddr.param_unquoted`). ``None`` = no ``=value``.
    A repeated name keeps its last value.
    """
    params: dict[str, str | None] = {}
    items = _abnf.split_params(text)
    if items is None:
        for name, value in _GEN_PARAM_FINDALL(text):
            params[name.lower()] = value or None
    else:
        for item in items:
            name, _, value = item.partition("=")
            params[name.lower()] = value or None
    return frozen_map(params)


@dataclass(frozen=True, slots=True)
class NameAddr(Derived):
    """A From/To/Contact/Route/Path value: display name, URI and header parameters.

    Immutable (frozen; the parser's mappings are read-only): parsed values are
    shared between the messages of a connection (see ``_cache``). Pure
    functions of a value can be remembered on it with :meth:`derived`.
    """

    display_name: str | None
    """The display name: a quoted-string's content (unescaped) or the token
    sequence as sent; ``None`` when there is none."""
    uri: SipUri | AbsoluteUri
    """The URI; an :class:`AbsoluteUri` for schemes other than sip/sips."""
    params: Mapping[str, str | None] = field(default_factory=dict)
    """Header parameters: lowercased names, raw values (quoted-strings keep
    their quotes), ``None`` for a parameter without a value."""
    _memo: dict[object, object] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def sip_uri(self) -> SipUri:
        """:attr:`uri` when it is a SIP/SIPS URI; otherwise raises
        :class:`RemoteProtocolError` (400): e.g. a registrar's To must be a SIP
        AOR (RFC 4475 §3.3.4), while the grammar allows any scheme."""
        if isinstance(self.uri, SipUri):
            return self.uri
        raise RemoteProtocolError(400, "Not a SIP or SIPS URI")

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (RFC 3261 §19.3), or ``None``."""
        return self.params.get("tag")

    def param_unquoted(self, name: str) -> str | None:
        """Parameter ``name``'s value with a quoted-string's quotes and escapes removed."""
        value = self.params.get(name.lower())
        if value is not None and value[:1] == '"':
            return _abnf.unquote(value)
        return value

    def __str__(self) -> str:
        text = f"<{self.uri}>"
        if self.display_name is not None:
            text = _abnf.quote(self.display_name) + " " + text
        for name, value in self.params.items():
            text += f";{name}" if value is None else f";{name}={value}"
        return text


@dataclass(frozen=True, slots=True)
class Contact(NameAddr):
    """One Contact value (RFC 3261 §20.10); ``Contact: *`` has ``is_star`` set.

    For ``*`` the URI is ``AbsoluteUri("*", "")`` and there are no parameters;
    check :attr:`is_star` before using :attr:`uri`.
    """

    is_star: bool = False
    """Whether this is the ``*`` wildcard of a REGISTER removing all bindings."""

    @property
    def expires(self) -> int | None:
        """The ``expires`` parameter in seconds (checked ≤ 2**32-1), or ``None``."""
        value = self.params.get("expires")
        return None if value is None else _abnf.parse_uint32(value)

    @property
    def q(self) -> float | None:
        """The ``q`` parameter (0-1), or ``None``."""
        value = self.params.get("q")
        return None if value is None else float(value)

    def __str__(self) -> str:
        return "*" if self.is_star else NameAddr.__str__(self)


def _bad(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(400, f"Invalid {what}")


_Parts = tuple[str | None, SipUri | AbsoluteUri, str]


def _match(value: str, name_addr_only: bool) -> _Parts | None:
    """(display name, URI, raw header params) when ``value`` is one name-addr /
    addr-spec with params; ``None`` when it does not match as a whole."""
    # Common case first: a SIP URI, split in the same match as the name-addr.
    if "<" in value:
        m = _NAME_ADDR_SIP_FULLMATCH(value)
    else:
        if name_addr_only:
            return None
        m = _ADDR_SPEC_SIP_FULLMATCH(value)
    if m is not None:
        quoted, tokens, scheme, user, password, host, port, uparams, uheaders, params = m.groups()
        canonical_host = _HOSTS_SEEN_GET(host)
        uri: SipUri | AbsoluteUri
        if (  # the common shape, built inline (saves a call per value)
            canonical_host is not None
            and port is None
            and not uparams
            and uheaders is None
            and password is None
            and (user is None or "%" not in user)
            and scheme == "sip"
        ):
            uri = parsed_sip_uri("sip", user, None, canonical_host, None, EMPTY, EMPTY)
        else:
            uri = sip_uri_from_parts(scheme, user, password, host, port, uparams, uheaders)
        return (tokens if quoted is None else _abnf.unquote(quoted)), uri, params
    m = _NAME_ADDR_FULLMATCH(value)
    if m is None:
        return None
    quoted, tokens, inner, params, spec, spec_params = m.groups()
    if inner is not None:
        display = tokens if quoted is None else _abnf.unquote(quoted)
        return display, parse_uri(inner), params
    if name_addr_only:
        return None
    return None, parse_uri(spec), spec_params


def parse_name_addr(value: str, *, name_addr_only: bool = False) -> NameAddr:
    """Parse ``( name-addr / addr-spec ) *( SEMI generic-param )``.

    ``name_addr_only`` requires the ``<...>`` form (Route, Record-Route, Path).
    Raises :class:`RemoteProtocolError` (400) on a syntax error.
    """
    parts = _match(value, name_addr_only)
    if parts is None:
        raise _bad("name-addr")
    display, uri, params = parts
    return NameAddr(display, uri, parse_params(params) if params else EMPTY)


def parse_name_addr_line(raw: str, *, name_addr_only: bool = False) -> list[NameAddr]:
    """All values of one header line of name-addr / addr-spec values (Route, Path...)."""
    parts = _match(raw, name_addr_only)  # most lines carry exactly one value
    if parts is not None:
        display, uri, params = parts
        return [NameAddr(display, uri, parse_params(params) if params else EMPTY)]
    items = split_list(raw)
    if len(items) == 1:
        raise _bad("name-addr")
    return [parse_name_addr(item, name_addr_only=name_addr_only) for item in items]


_STAR: Final = AbsoluteUri("*", "")


def _contact(parts: _Parts | None) -> Contact:
    # contact-params = c-p-q / c-p-expires / contact-extension
    if parts is None:
        raise _bad("contact")
    display, uri, raw_params = parts
    if not raw_params:
        return Contact(display, uri, EMPTY, False)
    params = parse_params(raw_params)
    if "expires" in params:  # c-p-expires = "expires" EQUAL delta-seconds
        expires = params["expires"]
        if expires is None or _abnf.parse_uint32(expires) is None:
            raise _bad("Contact expires parameter")
    if "q" in params:  # c-p-q = "q" EQUAL qvalue
        q = params["q"]
        if q is None or _QVALUE_FULLMATCH(q) is None:
            raise _bad("Contact q parameter")
    return Contact(display, uri, params, False)


def parse_contact(value: str) -> Contact:
    """Parse one ``contact-param`` (or ``*``), checking ``q`` and ``expires``."""
    if value == "*":
        return Contact(None, _STAR, EMPTY, True)
    return _contact(_match(value, False))


def parse_contact_line(raw: str) -> list[Contact]:
    """All values of one Contact header line (``STAR / contact-param *(COMMA ...)``)."""
    if raw == "*":
        return [Contact(None, _STAR, EMPTY, True)]
    parts = _match(raw, False)  # most lines carry exactly one contact
    if parts is not None:
        return [_contact(parts)]
    items = split_list(raw)
    if len(items) == 1 or "*" in items:
        raise _bad("contact")
    return [_contact(_match(item, False)) for item in items]

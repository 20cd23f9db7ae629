"""Typed header values other than name-addr: Via, CSeq, credentials, lists, scalars.

Each ``parse_*`` function applies the RFC 3261 §25 rule of its header to one
raw (unfolded) value and raises :class:`RemoteProtocolError` (400) if it does
not match; the message accessors in ``_message`` call them lazily and add the
header name to the reason phrase.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from . import _abnf
from ._errors import RemoteProtocolError
from ._uri import HOSTS_SEEN, check_host
from ._util import EMPTY, Derived, frozen_map

__all__ = [
    "CSeq",
    "Credentials",
    "Via",
    "parse_credentials",
    "parse_cseq",
    "parse_media_range",
    "parse_option_tags",
    "parse_via",
    "split_list",
]


_TOKEN_FULLMATCH: Final = _abnf.TOKEN_RE.fullmatch
_HOSTS_SEEN_GET: Final = HOSTS_SEEN.get


def _bad(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(400, f"Invalid {what}")


# --- comma-separated lists (RFC 3261 §7.3.1) -------------------------------------------

_LIST_SPECIAL_SEARCH: Final = re.compile(r'[",<]').search
_QUOTED_MATCH: Final = re.compile(_abnf.QUOTED).match


def split_list(value: str) -> list[str]:
    """Split a header value at the commas that separate list elements.

    Commas inside a quoted-string or inside ``<...>`` do not separate.
    Elements are stripped of SP/HTAB; empty elements are kept (as ``""``) so
    that the grammar checks see and reject them.
    """
    if '"' not in value and "<" not in value:
        if "," not in value:
            return [value]
        return [item.strip(" \t") for item in value.split(",")]
    items: list[str] = []
    start = pos = 0
    while (m := _LIST_SPECIAL_SEARCH(value, pos)) is not None:
        at = m.start()
        char = value[at]
        if char == ",":
            items.append(value[start:at].strip(" \t"))
            start = pos = at + 1
        elif char == '"':
            quoted = _QUOTED_MATCH(value, at)
            if quoted is None:
                raise _bad("quoted-string")
            pos = quoted.end()
        else:
            end = value.find(">", at)
            if end < 0:
                raise _bad("name-addr: unclosed angle bracket")
            pos = end + 1
    items.append(value[start:].strip(" \t"))
    return items


# --- Via (RFC 3261 §20.42) ---------------------------------------------------------------

_VIA_FULLMATCH: Final = _abnf.VIA_RE.fullmatch
_VIA_PARAM_FINDALL: Final = _abnf.VIA_PARAM_ITEM_RE.findall
_MAGIC_COOKIE: Final = "z9hG4bK"
_VALUE_REQUIRED: Final = frozenset({"branch", "received", "ttl", "maddr"})
_SPECIFIC: Final = frozenset({"branch", "received", "ttl", "maddr", "rport"})


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value (``via-parm``); immutable, like every parsed value."""

    protocol: str
    """``protocol-name/protocol-version`` as sent, normally ``SIP/2.0``."""
    transport: str
    """The transport, uppercased (``UDP``, ``TCP``, ``TLS``, ``SCTP``, ``WSS``...)."""
    host: str
    """The sent-by host, lowercased (``[IPv6]`` compressed)."""
    port: int | None
    """The sent-by port, or ``None``."""
    params: Mapping[str, str | None] = field(default_factory=dict)
    """Parameters: lowercased names, values as sent, ``None`` without a value."""

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter (RFC 3261 §8.1.1.7), or ``None``."""
        return self.params.get("branch")

    @property
    def has_magic_cookie(self) -> bool:
        """Whether the branch is an RFC 3261 one: ``z9hG4bK`` plus an identifier.

        A bare ``z9hG4bK`` (RFC 4475 §3.2.1 badbranch) does not count.
        """
        branch = self.params.get("branch")
        return branch is not None and len(branch) > 7 and branch.startswith(_MAGIC_COOKIE)

    @property
    def sent_by(self) -> str:
        """``host[:port]`` with the host lowercased (RFC 3261 §17.2.3 matching)."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def received(self) -> str | None:
        """The ``received`` parameter (RFC 3261 §18.2.1), or ``None``."""
        return self.params.get("received")

    @property
    def rport(self) -> int | None:
        """The ``rport`` value (RFC 3581) if it has one; see ``"rport" in params``."""
        value = self.params.get("rport")
        return None if value is None else int(value)

    @property
    def maddr(self) -> str | None:
        """The ``maddr`` parameter, or ``None``."""
        return self.params.get("maddr")

    def __str__(self) -> str:
        text = f"{self.protocol}/{self.transport} {self.sent_by}"
        for name, value in self.params.items():
            text += f";{name}" if value is None else f";{name}={value}"
        return text


_IPV4_FULLMATCH: Final = _abnf.IPV4_RE.fullmatch


def _via_param_ok(name: str, value: str) -> bool:
    """Check one Via parameter with a value against its specific rule.

    via-params = via-ttl / via-maddr / via-received / via-branch / via-extension
    """
    if name == "branch":  # via-branch = "branch" EQUAL token
        # VIA_RE admitted token / IPv6reference / quoted-string / IPv6address
        return value[0] != '"' and value[0] != "[" and ":" not in value
    if name == "received":  # via-received = "received" EQUAL (IPv4address / IPv6address)
        if _IPV4_FULLMATCH(value) is not None:
            return True
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            return False
        return True
    if name == "ttl":  # via-ttl = "ttl" EQUAL ttl ; ttl = 1*3DIGIT ; 0 to 255
        return value.isascii() and value.isdigit() and len(value) <= 3 and int(value) <= 255
    if name == "rport":  # response-port = "rport" [EQUAL 1*DIGIT]  (RFC 3581)
        return value.isascii() and value.isdigit() and len(value) <= 5 and int(value) <= 65535
    if name == "maddr":  # via-maddr = "maddr" EQUAL host
        try:
            check_host(value)
        except RemoteProtocolError:
            return False
        return True
    # via-extension = generic-param ; gen-value = token / host / quoted-string
    # (VIA_RE also admitted a bare IPv6address for received: not allowed here)
    return ":" not in value or value[0] == '"' or value[0] == "["


def parse_via(value: str) -> Via:
    """Parse one ``via-parm`` (RFC 3261 §25.1), checking branch/received/ttl/maddr/rport."""
    m = _VIA_FULLMATCH(value)
    if m is None:
        raise _bad("Via")
    return _via_from_groups(*m.groups())


def parse_via_line(raw: str) -> list[Via]:
    """All ``via-parm`` values of one Via header line."""
    m = _VIA_FULLMATCH(raw)  # most lines carry exactly one value
    if m is not None:
        return [_via_from_groups(*m.groups())]
    return [parse_via(item) for item in split_list(raw)]


def _via_from_groups(
    name: str,
    version: str,
    transport: str,
    host: str,
    port: str | None,
    params_text: str,
) -> Via:
    port_number = None
    if port is not None:
        port_number = int(port) if len(port) <= 5 else _abnf.MAX_PORT + 1
        if port_number > _abnf.MAX_PORT:
            raise _bad("Via port")
    params: dict[str, str | None] = {}
    if params_text:
        items = _abnf.split_params(params_text)
        pairs = (
            _VIA_PARAM_FINDALL(params_text)
            if items is None
            else [item.partition("=")[::2] for item in items]
        )
        for pname, pvalue in pairs:
            pname = pname.lower()
            if pvalue:
                if pname == "branch":  # via-branch = "branch" EQUAL token
                    if pvalue[0] == '"' or pvalue[0] == "[" or ":" in pvalue:
                        raise _bad("Via branch parameter")
                elif (pname in _SPECIFIC or ":" in pvalue) and not _via_param_ok(pname, pvalue):
                    raise _bad(f"Via {pname} parameter")
                params[pname] = pvalue
            elif pname in _VALUE_REQUIRED:
                raise _bad(f"Via {pname} parameter")
            else:
                params[pname] = None
    return Via(
        "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name}/{version}".upper(),
        transport.upper(),
        _HOSTS_SEEN_GET(host) or check_host(host),
        port_number,
        frozen_map(params) if params else EMPTY,
    )


# --- CSeq (RFC 3261 §20.16) ------------------------------------------------------------------

_CSEQ_FULLMATCH: Final = _abnf.CSEQ_RE.fullmatch


@dataclass(frozen=True, slots=True)
class CSeq:
    """A CSeq value: sequence number and method."""

    seq: int
    """The sequence number (0 .. 2**32-1)."""
    method: str
    """The method, case preserved (methods are case-sensitive)."""

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(value: str) -> CSeq:
    """``CSeq = 1*DIGIT LWS Method``; the number must fit 32 bits unsigned."""
    m = _CSEQ_FULLMATCH(value)
    if m is None:
        raise _bad("CSeq")
    seq = _abnf.parse_uint32(m.group(1))
    if seq is None:
        raise _bad("CSeq number")
    return CSeq(seq, m.group(2))


# --- Authorization / Proxy-Authorization (RFC 3261 §22, RFC 8898) ------------------------

_CREDENTIALS_FULLMATCH: Final = _abnf.CREDENTIALS_RE.fullmatch
_AUTH_PARAM_FINDALL: Final = _abnf.AUTH_PARAM_ITEM_RE.findall
# ASCII octets that are not qdtext: controls except HTAB, DEL, DQUOTE, backslash.
_NOT_QDTEXT_ASCII: Final = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F, 0x22, 0x5C])


@dataclass(frozen=True, slots=True)
class Credentials(Derived):
    """One Authorization / Proxy-Authorization value.

    Either ``token68`` is set (``Bearer <token>``, RFC 8898 §2.1 / RFC 6750
    §2.1) or ``params`` holds the auth-params (lowercased names, unquoted
    values), e.g. ``Bearer token="<jwt>"`` or ``Digest username=...``.
    Immutable; pure functions of it can be remembered with :meth:`derived`.
    """

    scheme: str
    """The auth-scheme as sent (compare case-insensitively)."""
    params: Mapping[str, str] = field(default_factory=dict)
    """auth-params: lowercased names, values with quotes and escapes removed."""
    token68: str | None = None
    """The token68 / b64token form's token, or ``None``."""
    _memo: dict[object, object] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def bearer_token(self) -> str | None:
        """For the Bearer scheme: the token in either form; otherwise ``None``."""
        if self.scheme.lower() != "bearer":
            return None
        return self.token68 if self.token68 is not None else self.params.get("token")


def parse_credentials(value: str) -> Credentials:
    """Parse ``credentials`` (``auth-scheme LWS ( token68 / auth-param #auth-param )``).

    Duplicate auth-param names are rejected (RFC 7235 §2.1: each parameter
    name occurs only once), so a second ``token=`` cannot shadow the first.
    """
    scheme, _, rest = value.partition(" ")
    if rest[:7] == 'token="' and rest[-1:] == '"' and len(rest) > 7:
        # Fast path for the deployed form ``Bearer token="<jwt>"``: ASCII
        # without controls, DQUOTE or backslash is qdtext, a strict subset of
        # the grammar, checked with C-speed bytes.translate instead of the
        # regex (a 1 KiB token costs the regex several µs).
        inner = rest[7:-1]
        if (
            inner.isascii()
            and len(inner.encode().translate(None, _NOT_QDTEXT_ASCII)) == len(inner)
            and _TOKEN_FULLMATCH(scheme) is not None
        ):
            return Credentials(scheme, frozen_map({"token": inner}), None)
    m = _CREDENTIALS_FULLMATCH(value)
    if m is None:
        raise _bad("credentials")
    scheme, token68, name, pvalue, more = m.groups()
    if token68 is not None:
        return Credentials(scheme, EMPTY, token68)
    params = {name.lower(): _abnf.unquote(pvalue) if pvalue[0] == '"' else pvalue}
    if not more:  # the common single-parameter form: Bearer token="..."
        return Credentials(scheme, frozen_map(params), None)
    for name, pvalue in _AUTH_PARAM_FINDALL(more):
        name = name.lower()
        if name in params:
            raise _bad(f"credentials: duplicate {name}")
        params[name] = _abnf.unquote(pvalue) if pvalue[0] == '"' else pvalue
    return Credentials(scheme, frozen_map(params), None)


# --- media types, option tags -------------------------------------------------------------

_MEDIA_TYPE_FULLMATCH: Final = _abnf.MEDIA_TYPE_RE.fullmatch
_ACCEPT_RANGE_FULLMATCH: Final = _abnf.ACCEPT_RANGE_RE.fullmatch


def parse_media_type(value: str) -> str:
    """``media-type`` -> ``"type/subtype"`` lowercased (parameters checked, dropped)."""
    m = _MEDIA_TYPE_FULLMATCH(value)
    if m is None:
        raise _bad("media type")
    return f"{m.group(1)}/{m.group(2)}".lower()


def parse_media_range(value: str) -> str:
    """``accept-range`` -> ``"type/subtype"`` lowercased (``*`` wildcards kept)."""
    m = _ACCEPT_RANGE_FULLMATCH(value)
    if m is None:
        raise _bad("media range")
    return f"{m.group(1)}/{m.group(2)}".lower()


_OPTION_TAGS_FULLMATCH: Final = _abnf.OPTION_TAGS_RE.fullmatch


def parse_option_tags(raw_values: list[str], *, allow_empty: bool) -> frozenset[str]:
    """Header lines of ``option-tag *(COMMA option-tag)`` -> lowercased set.

    ``allow_empty``: an empty line is allowed (Supported, RFC 3261 §20.37).
    """
    tags: set[str] = set()
    for raw in raw_values:
        if not raw:
            if not allow_empty:
                raise _bad("option tag list")
            continue
        if _OPTION_TAGS_FULLMATCH(raw) is None:
            raise _bad("option tag list")
        lowered = raw.lower()
        if " " in lowered or "\t" in lowered:
            tags.update(tag.strip(" \t") for tag in lowered.split(","))
        else:
            tags.update(lowered.split(","))
    return frozenset(tags)

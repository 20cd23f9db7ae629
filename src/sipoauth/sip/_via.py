"""Via (RFC 3261 §20.42): one ``via-parm`` parsed, and the branch template.

The top Via changes with every request (a new branch, RFC 3261 §8.1.1.7), so
besides the full parse (:func:`parse_via_line`) a :class:`BranchTemplate`
reads a Via that repeats a learned one around another branch token (used by
``_cache``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from . import _abnf
from ._errors import RemoteProtocolError
from ._lists import split_list
from ._uri import HOSTS_SEEN, check_host
from ._util import EMPTY, frozen_map, slot_setters

__all__ = ["BranchTemplate", "Via", "parse_via", "parse_via_line"]

_TOKEN_FULLMATCH: Final = _abnf.TOKEN_RE.fullmatch
_HOSTS_SEEN_GET: Final = HOSTS_SEEN.get


def _bad(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(400, f"Invalid {what}")


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


_new_object = object.__new__
_VIA_SETTERS = slot_setters(Via, "protocol", "transport", "host", "port", "params")


def _new_via(
    protocol: str, transport: str, host: str, port: int | None, params: Mapping[str, str | None]
) -> Via:
    via: Via = _new_object(Via)
    set_protocol, set_transport, set_host, set_port, set_params = _VIA_SETTERS
    set_protocol(via, protocol)
    set_transport(via, transport)
    set_host(via, host)
    set_port(via, port)
    set_params(via, params)
    return via


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
    return _new_via(
        "SIP/2.0" if name == "SIP" and version == "2.0" else f"{name}/{version}".upper(),
        transport.upper(),
        _HOSTS_SEEN_GET(host) or check_host(host),
        port_number,
        frozen_map(params) if params else EMPTY,
    )


class BranchTemplate:
    """A Via value seen as the text around its branch parameter.

    Every request of a transaction has a new branch (RFC 3261 §8.1.1.7) and
    usually nothing else new in its Via. A template is learned from a parsed,
    single ``via-parm`` line whose lowercase ``;branch=<value>`` occurs once, with
    no other ``branch`` text and no quoted-string in it; :meth:`parse` then
    reads a value that is the same text around another branch token.

    Why that is exact: the branch value is a ``token`` (it cannot hold ``;``,
    ``=``, ``,``, LWS, DQUOTE or ``:``), so putting another token in its place
    leaves every other part of the value, and how the grammar splits it,
    unchanged; ``via-branch = "branch" EQUAL token`` accepts any token; and the
    parameter is the only (so the effective) branch. The result equals
    :func:`parse_via_line`'s, which the tests check.
    """

    __slots__ = ("_min_length", "_params", "_prefix", "_prefix_length", "_suffix", "_via")

    def __init__(self, prefix: str, suffix: str, via: Via) -> None:
        self._prefix = prefix
        self._prefix_length = len(prefix)
        self._suffix = suffix
        self._via = via
        self._params = dict(via.params)
        self._min_length = len(prefix) + len(suffix) + 1

    @classmethod
    def learn(cls, raw: str, vias: list[Via]) -> BranchTemplate | None:
        """A template for ``raw`` (one Via line, parsed into ``vias``), or ``None``."""
        if len(vias) != 1 or '"' in raw or raw.lower().count("branch") != 1:
            return None
        branch = vias[0].params.get("branch")
        if not branch:
            return None
        marker = ";branch=" + branch
        at = raw.find(marker)
        if at < 0:
            return None
        suffix = raw[at + len(marker) :]
        if suffix and suffix[0] != ";":
            return None
        return cls(raw[: at + len(";branch=")], suffix, vias[0])

    def parse(self, raw: str) -> Via | None:
        """The Via in ``raw`` if it is the template's text around another branch token."""
        if len(raw) < self._min_length or not raw.startswith(self._prefix):
            return None
        suffix = self._suffix
        if suffix:
            if not raw.endswith(suffix):
                return None
            branch = raw[self._prefix_length : len(raw) - len(suffix)]
        else:
            branch = raw[self._prefix_length :]
        if _TOKEN_FULLMATCH(branch) is None:
            return None
        via = self._via
        params = self._params.copy()
        params["branch"] = branch
        return _new_via(via.protocol, via.transport, via.host, via.port, frozen_map(params))

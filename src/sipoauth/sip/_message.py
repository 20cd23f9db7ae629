"""Request and Response: raw header storage plus lazily parsed typed headers.

A message is split once (``_parse.parse_message``) into a start line and a
``headers`` dict of canonical key -> raw values. Typed accessors (``via``,
``to``, ``cseq``...) apply the header's full RFC 3261 grammar on first access
and cache the result on the instance, so a rule that reads ``request.to``
after ``validate()`` pays nothing more. A malformed header raises
:class:`RemoteProtocolError` (400, reason naming the header) from the accessor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, TypeVar

from . import _abnf, _validate
from ._errors import RemoteProtocolError
from ._headers import (
    Credentials,
    CSeq,
    Via,
    parse_credentials,
    parse_cseq,
    parse_media_range,
    parse_media_type,
    parse_option_tags,
    parse_via_line,
    split_list,
)
from ._nameaddr import (
    Contact,
    NameAddr,
    parse_contact_line,
    parse_name_addr,
    parse_name_addr_line,
)
from ._names import display_name, header_key
from ._uri import AbsoluteUri, SipUri, parse_uri
from ._util import FrozenList, lazy

__all__ = ["Request", "Response"]

T = TypeVar("T")
_CALLID_FULLMATCH: Final = _abnf.CALLID_RE.fullmatch
_TOKEN_FULLMATCH: Final = _abnf.TOKEN_RE.fullmatch


def _invalid(key: str) -> RemoteProtocolError:
    return RemoteProtocolError(400, f"Invalid {display_name(key)} header")


# Typed values that repeat across requests and connections (a device's From,
# To and Contact each time it connects again, a phone model's Supported list,
# the registrar's Request-URI): parsed once per process and shared, as parsed
# values are immutable; so is what the registrar derives from them. Only
# successful parses are kept, keyed by the exact text. Bounded, as the text is
# the peer's: values up to _SHARED_MAX_LENGTH characters, and emptied when full.
_SHARED: dict[tuple[str, str], object] = {}
_SHARED_MAX: Final = 8192
_SHARED_MAX_LENGTH: Final = 512


def _shared(kind: str, raw: str, parse: Callable[[str], T]) -> T:
    if len(raw) > _SHARED_MAX_LENGTH:
        return parse(raw)
    key = (kind, raw)
    value = _SHARED.get(key)
    if value is None:
        value = parse(raw)
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.clear()
        _SHARED[key] = value
    return value  # type: ignore[return-value]


def _tagged_name_addr(value: str) -> NameAddr:
    name_addr = parse_name_addr(value)
    tag = name_addr.params.get("tag", "")
    # tag-param = "tag" EQUAL token (not a quoted-string / IPv6reference)
    if tag is None or (tag and (tag[0] == '"' or tag[0] == "[")):
        raise RemoteProtocolError(400, "Invalid tag parameter")
    return name_addr


def _contact_line(raw: str) -> list[Contact]:
    return FrozenList(parse_contact_line(raw))  # shared: read-only


def _option_tags_or_empty(raw: str) -> frozenset[str]:
    return parse_option_tags([raw], allow_empty=True)


def _option_tags_strict(raw: str) -> frozenset[str]:
    return parse_option_tags([raw], allow_empty=False)


def _request_uri(raw: str) -> SipUri | AbsoluteUri:
    return parse_uri(raw, allow_headers=False)


class _Message:
    """Behaviour shared by :class:`Request` and :class:`Response`."""

    headers: dict[str, list[str]]
    """Canonical key (long form, lowercase) -> raw values, one per header line,
    in order, unfolded and stripped. Read-only by convention."""
    body: bytes
    """The message body (exactly Content-Length bytes when the header is present)."""
    version: str
    """The SIP-Version of the start line (``SIP/2.0``)."""
    validated: bool = False
    """Whether ``validate()`` has passed."""
    _unchecked: tuple[str, ...] | None = None
    # Set by a ParseCache match: the only headers validate() must still check
    # (the others are the very strings of a request that passed it).

    # --- raw access -------------------------------------------------------------------

    def get(self, name: str) -> str | None:
        """The first raw value of header ``name`` (any case, compact form ok), or ``None``."""
        values = self.headers.get(name) or self.headers.get(header_key(name))
        return values[0] if values else None

    def get_all(self, name: str) -> list[str]:
        """All raw values of header ``name``, one per header line."""
        return list(self.headers.get(name) or self.headers.get(header_key(name)) or ())

    def values(self, name: str) -> list[str]:
        """All list elements of header ``name``: each line split at commas outside
        quoted-strings and ``<>``; empty lines contribute nothing. Raises
        :class:`RemoteProtocolError` for an unterminated quoted-string or ``<``."""
        out: list[str] = []
        for raw in self.headers.get(name) or self.headers.get(header_key(name)) or ():
            if raw:
                out += split_list(raw)
        return out

    # --- helpers for typed accessors ------------------------------------------------

    def _single(self, key: str) -> str | None:
        values = self.headers.get(key)
        if values is None:
            return None
        if len(values) > 1:  # RFC 4475 §3.3.8: single-valued header repeated
            raise RemoteProtocolError(400, f"Multiple {display_name(key)} headers")
        return values[0]

    def _required(self, key: str) -> str:
        value = self._single(key)
        if value is None:
            raise RemoteProtocolError(400, f"Missing {display_name(key)} header")
        return value

    def _elements(self, key: str, *, allow_empty: bool) -> list[str]:
        out: list[str] = []
        try:
            for raw in self.headers.get(key, ()):
                if raw:
                    out += split_list(raw)
                elif not allow_empty:
                    raise _invalid(key)
        except RemoteProtocolError as exc:
            raise _invalid(key) from exc
        return out

    def _lines(self, key: str, parse_line: Callable[[str], list[T]]) -> list[T]:
        out: list[T] = []
        try:
            for raw in self.headers.get(key, ()):
                out += parse_line(raw)
        except RemoteProtocolError as exc:
            raise _invalid(key) from exc
        return out

    def _uint32(self, key: str) -> int | None:
        value = self._single(key)
        if value is None:
            return None
        number = _abnf.parse_uint32(value)
        if number is None:
            raise _invalid(key)
        return number

    def _tagged(self, key: str) -> NameAddr:
        value = self._required(key)
        try:
            return _shared(key, value, _tagged_name_addr)
        except RemoteProtocolError as exc:
            raise _invalid(key) from exc

    def _option_tags(self, key: str, *, allow_empty: bool) -> frozenset[str]:
        values = self.headers.get(key, [])
        try:
            if len(values) == 1:  # the usual single line: shared per process
                parse = _option_tags_or_empty if allow_empty else _option_tags_strict
                return _shared(key, values[0], parse)
            return parse_option_tags(values, allow_empty=allow_empty)
        except RemoteProtocolError as exc:
            raise _invalid(key) from exc

    # --- typed accessors ------------------------------------------------------------------

    @lazy
    def via(self) -> list[Via]:
        """All Via values, top first (RFC 3261 §20.42)."""
        return self._lines("via", parse_via_line)

    @lazy
    def top_via(self) -> Via:
        """The topmost Via value (parsed alone unless ``via`` was already read)."""
        vias: list[Via] | None = self.__dict__.get("via")
        if vias:
            return vias[0]
        raw = self.headers.get("via")
        if not raw:
            raise RemoteProtocolError(400, "Missing Via header")
        try:
            return parse_via_line(raw[0])[0]
        except RemoteProtocolError as exc:
            raise _invalid("via") from exc

    @lazy
    def from_(self) -> NameAddr:
        """The From value (RFC 3261 §20.20)."""
        return self._tagged("from")

    @lazy
    def to(self) -> NameAddr:
        """The To value (RFC 3261 §20.39)."""
        return self._tagged("to")

    @lazy
    def call_id(self) -> str:
        """The Call-ID (``callid = word [ "@" word ]``)."""
        value = self._required("call-id")
        if _CALLID_FULLMATCH(value) is None:
            raise _invalid("call-id")
        return value

    @lazy
    def cseq(self) -> CSeq:
        """The CSeq value (RFC 3261 §20.16)."""
        value = self._required("cseq")
        try:
            return parse_cseq(value)
        except RemoteProtocolError as exc:
            raise _invalid("cseq") from exc

    @lazy
    def contacts(self) -> list[Contact]:
        """All Contact values in order; ``Contact: *`` gives one with ``is_star``."""
        lines = self.headers.get("contact", ())
        if len(lines) == 1:  # the usual single line: shared per process
            try:
                return _shared("contact", lines[0], _contact_line)
            except RemoteProtocolError as exc:
                raise _invalid("contact") from exc
        contacts = self._lines("contact", parse_contact_line)
        if len(contacts) > 1 and any(c.is_star for c in contacts):
            raise RemoteProtocolError(400, "Invalid Contact header: * with other contacts")
        return contacts

    @lazy
    def expires(self) -> int | None:
        """The Expires delta-seconds (0 .. 2**32-1), or ``None``."""
        return self._uint32("expires")

    @lazy
    def min_expires(self) -> int | None:
        """The Min-Expires delta-seconds, or ``None``."""
        return self._uint32("min-expires")

    @lazy
    def max_forwards(self) -> int | None:
        """Max-Forwards (0-255), or ``None``."""
        value = self._single("max-forwards")
        if value is None:
            return None
        number = _abnf.parse_uint32(value)
        if number is None or number > 255:
            raise _invalid("max-forwards")
        return number

    @lazy
    def content_length(self) -> int:
        """The body length: Content-Length once framing has applied it (a message
        without the header, over a datagram, has the rest of the datagram as body)."""
        return len(self.body)

    @lazy
    def content_type(self) -> str | None:
        """The Content-Type media type ``type/subtype`` lowercased, or ``None``."""
        value = self._single("content-type")
        if value is None:
            return None
        try:
            return parse_media_type(value)
        except RemoteProtocolError as exc:
            raise _invalid("content-type") from exc

    @lazy
    def authorization(self) -> list[Credentials]:
        """All Authorization values (one per header line; never comma-split)."""
        return self._credentials("authorization")

    @lazy
    def proxy_authorization(self) -> list[Credentials]:
        """All Proxy-Authorization values."""
        return self._credentials("proxy-authorization")

    def _credentials(self, key: str) -> list[Credentials]:
        try:
            return [parse_credentials(value) for value in self.headers.get(key, ())]
        except RemoteProtocolError as exc:
            raise _invalid(key) from exc

    @lazy
    def path(self) -> list[NameAddr]:
        """Path values (RFC 3327), name-addr form only."""
        return self._lines("path", _name_addr_only_line)

    @lazy
    def route(self) -> list[NameAddr]:
        """Route values, name-addr form only."""
        return self._lines("route", _name_addr_only_line)

    @lazy
    def record_route(self) -> list[NameAddr]:
        """Record-Route values, name-addr form only."""
        return self._lines("record-route", _name_addr_only_line)

    @lazy
    def supported(self) -> frozenset[str]:
        """Supported option tags, lowercased (may be empty)."""
        return self._option_tags("supported", allow_empty=True)

    @lazy
    def require(self) -> frozenset[str]:
        """Require option tags, lowercased."""
        return self._option_tags("require", allow_empty=False)

    @lazy
    def proxy_require(self) -> frozenset[str]:
        """Proxy-Require option tags, lowercased."""
        return self._option_tags("proxy-require", allow_empty=False)

    @lazy
    def unsupported(self) -> frozenset[str]:
        """Unsupported option tags, lowercased."""
        return self._option_tags("unsupported", allow_empty=False)

    @lazy
    def allow(self) -> frozenset[str]:
        """Allow: methods (case preserved)."""
        methods = self._elements("allow", allow_empty=True)
        if any(_TOKEN_FULLMATCH(m) is None for m in methods):
            raise _invalid("allow")
        return frozenset(methods)

    @lazy
    def accept(self) -> list[str] | None:
        """Accept media ranges lowercased (``"*/*"`` forms kept); ``None`` if absent,
        ``[]`` for an empty Accept (nothing acceptable)."""
        if "accept" not in self.headers:
            return None
        elements = self._elements("accept", allow_empty=True)
        try:
            return [parse_media_range(item) for item in elements]
        except RemoteProtocolError as exc:
            raise _invalid("accept") from exc

    @lazy
    def content_encoding(self) -> list[str]:
        """Content-Encoding content-codings, lowercased."""
        return _validate.codings(self, "content-encoding", allow_empty=False)

    @lazy
    def accept_encoding(self) -> list[str] | None:
        """Accept-Encoding codings lowercased; ``None`` if absent."""
        if "accept-encoding" not in self.headers:
            return None
        return _validate.codings(self, "accept-encoding", allow_empty=True)


def _name_addr_only_line(raw: str) -> list[NameAddr]:
    return parse_name_addr_line(raw, name_addr_only=True)


class Request(_Message):
    """A SIP request (RFC 3261 §7.1), split once, typed headers parsed lazily."""

    method: str
    """The method, case preserved."""
    uri: str
    """The Request-URI as sent."""
    response_via: list[str] | None = None
    """The Via lines a response copies instead of ``headers["via"]``, when the top
    one gains ``received``/``rport`` (RFC 3261 §18.2.1, RFC 3581 §4; see
    ``_received.stamp_source``)."""

    def __init__(
        self, method: str, uri: str, version: str, headers: dict[str, list[str]], body: bytes
    ) -> None:
        self.method = method
        self.uri = uri
        self.version = version
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"

    @lazy
    def request_uri(self) -> SipUri | AbsoluteUri:
        """The parsed Request-URI (URI headers are not allowed in it: RFC 3261 §19.1.1)."""
        try:
            return _shared("request-uri", self.uri, _request_uri)
        except RemoteProtocolError as exc:
            raise RemoteProtocolError(400, "Invalid Request-URI") from exc

    def validate(self) -> None:
        """Check the request line, the mandatory headers (To, From, Call-ID, CSeq,
        Via, and Max-Forwards unless the top Via lacks the RFC 3261 magic cookie:
        RFC 4475 §3.4.1) and every present header whose grammar we know.

        Raises :class:`RemoteProtocolError` (400, reason naming the header);
        the typed accessors then return the values already parsed.
        """
        _validate.validate_request(self)
        self.validated = True


class Response(_Message):
    """A SIP response (RFC 3261 §7.2)."""

    status: int
    """The status code (100-699)."""
    reason: str
    """The reason phrase as sent (may be empty)."""

    def __init__(
        self, status: int, reason: str, version: str, headers: dict[str, list[str]], body: bytes
    ) -> None:
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"

    def validate(self) -> None:
        """Check the status line and the headers as :meth:`Request.validate` does
        (Max-Forwards is not required in responses)."""
        _validate.validate_response(self)
        self.validated = True

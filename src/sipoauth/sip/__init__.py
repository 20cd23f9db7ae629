"""sipoauth.sip: sans-IO SIP (RFC 3261) for the registrar node.

Parse with :func:`parse_message` (then ``validate()``), frame stream
transports with :class:`StreamFramer`, give each connection a
:class:`ParseCache` so repeated requests are parsed by comparison, absorb
retransmissions with
:class:`ServerTransactions`, apply the UAS checks of RFC 3261 §8.2 with
:func:`inspect_request`, answer with :func:`build_response`. Nothing here
touches a socket or reads a clock; every error is a :class:`SipError`
carrying the status to answer with.

Refinements of the agreed API (names and semantics kept):

* ``parse_message(data, *, max_size=65535)``: the size limit (513) is a
  keyword argument. Added: ``parse_head(head)``, which parses a head without
  applying Content-Length, to answer a :class:`FramingError`; ``parse_uri``;
  ``REASON_PHRASES``; ``DEFAULT_MAX_MESSAGE_SIZE``.
* ``FramingError(status, reason, head=None, close=True)`` with ``answerable``
  (``head is not None``), ``response`` (the ready-made 400/513 bytes, or
  ``None`` when no answer is possible) and ``respond(to_tag)``;
  ``KeepAlivePing(pong_needed=True)``; ``FramedMessage(data)``.
  ``StreamFramer`` also has ``closed`` and ``buffered``.
* ``SipError.request``: set by ``parse_message`` / ``parse_head`` when the
  start line or Content-Length is wrong but the headers could be split, so a
  400 / 505 can still be answered (RFC 4475 badvers, lwsstart, trws...).
* ``inspect_request(..., to_tag=None)``: the To tag for its final responses
  (RFC 3261 §8.2.6.2). The 416 check looks at the Request-URI only (RFC 4475
  §3.3.4: a non-SIP To is syntactically valid; the registrar answers 400).
  ACK is never answered (returns ``None``).
* ``ServerTransactions.lookup`` returns ``bytes | None | PENDING`` with
  :data:`PENDING` exported; ``key`` is a static method.
* ``validate()`` requires Max-Forwards only when the top Via branch has the
  RFC 3261 magic cookie (RFC 4475 §3.4.1 inv2543 must be accepted).
* Parsed header objects (``NameAddr``, ``Contact``, ``Via``, ``CSeq``,
  ``Credentials``, ``AbsoluteUri``) are frozen slotted dataclasses, and the
  mappings the parser puts in them are read-only views: a :class:`ParseCache`
  shares them between the messages of a connection. A parsed ``SipUri`` is
  sealed the same way (``FrozenInstanceError``), while one built by calling
  the class stays adjustable. ``NameAddr`` and ``Credentials`` can remember
  pure functions of themselves (``derived(fn)``), which the registrar uses
  for what it computes from a Contact, a To or a token.
* ``parse_message(data, cache=...)``: with a connection's :class:`ParseCache`
  (see ``_cache``); ``Request.validated`` / ``Response.validated`` tell
  whether ``validate()`` passed. Values that repeat across connections (a
  device's From, To and single Contact line, Supported / Require lists, the
  Request-URI) are parsed once per process and shared (bounded; see
  ``_message._shared``). Shared lists (``headers`` values and list accessors of a
  cached request, a single-line ``contacts``) are read-only (``FrozenList``).
* ``NameAddr.uri`` is ``SipUri | AbsoluteUri`` (RFC 4475 §3.3.4 unksm2: other
  schemes are syntactically valid); ``NameAddr.sip_uri`` returns the SipUri or
  raises RemoteProtocolError(400). ``Contact("*")`` has ``is_star`` and
  ``uri == AbsoluteUri("*", "")``. Added ``Via.has_magic_cookie``,
  ``Via.protocol``, ``Via.maddr``; ``Via.rport`` is the value (``"rport" in
  via.params`` tells a valueless rport); ``SipUri.transport``.
* ``SipUri.aor()`` keeps an explicit port (``sip:user@host:5061``) and drops
  the password; the user part is minimally escaped, so one user has one key.
* Parameter dicts: lowercased names; a repeated name keeps its last value.
  Header parameter values are raw (quoted-strings keep their quotes: use
  ``param_unquoted``); URI parameter values are unescaped.
* Extra accessors: ``route``, ``record_route``, ``unsupported``, ``allow``,
  ``accept`` (``None`` when absent), ``accept_encoding``,
  ``content_encoding``, ``content_type`` (``"type/subtype"`` lowercased).
* ``stamp_source(request, ip, port)``: the top Via of the responses to a
  request gains ``received`` / ``rport`` (RFC 3261 §18.2.1, RFC 3581 §4), in
  ``Request.response_via``, which ``build_response`` copies.
* ``new_tag()``: a To tag for a response this node makes, 64 bits from the
  OS CSPRNG (RFC 3261 §19.3).
"""

from ._build import REASON_PHRASES, build_response, serialize_request
from ._cache import ParseCache
from ._errors import LocalProtocolError, RemoteProtocolError, SipError
from ._framing import FramedMessage, FramingError, KeepAlivePing, StreamFramer
from ._headers import Credentials, CSeq, Via
from ._message import Request, Response
from ._nameaddr import Contact, NameAddr
from ._parse import DEFAULT_MAX_MESSAGE_SIZE, parse_head, parse_message
from ._received import stamp_source
from ._tags import new_tag
from ._transactions import PENDING, ServerTransactions
from ._uas import inspect_request
from ._uri import AbsoluteUri, SipUri, parse_uri

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "PENDING",
    "REASON_PHRASES",
    "AbsoluteUri",
    "CSeq",
    "Contact",
    "Credentials",
    "FramedMessage",
    "FramingError",
    "KeepAlivePing",
    "LocalProtocolError",
    "NameAddr",
    "ParseCache",
    "RemoteProtocolError",
    "Request",
    "Response",
    "ServerTransactions",
    "SipError",
    "SipUri",
    "StreamFramer",
    "Via",
    "build_response",
    "inspect_request",
    "new_tag",
    "parse_head",
    "parse_message",
    "parse_uri",
    "serialize_request",
    "stamp_source",
]

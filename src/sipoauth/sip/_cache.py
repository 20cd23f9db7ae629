"""Per-connection parse cache: a repeated request costs a comparison, not a parse.

Theory of operation
-------------------
A phone re-registers on its persistent connection with a REGISTER that
repeats the previous one line for line, except a few lines (the Via branch,
the CSeq number). A :class:`ParseCache` belongs to one connection and is
passed to ``parse_message(data, cache=...)``; it remembers the *layout* of
the requests it saw pass ``validate()``:

* a layout is a request head as a sequence of *fixed* lines (octets that must
  come again exactly) and *variable* lines (the same header name, spelled the
  same, with a value read afresh). The start line is always fixed. A layout
  is first learned with every line fixed; when a later request has the same
  start line and the same header names in the same order, the lines that
  differ become variable (learned once, on the second or third request of a
  connection). Learning is lazy: ``validate()`` only keeps the request, and
  the layout is worked out when the next request arrives (a connection that
  carries a single request pays nothing).
* matching ``data`` against a layout: each run of fixed lines must follow
  (``bytes.startswith``), each variable line must start with its header name
  and colon and hold no CR or LF, the head must then end, and Content-Length
  must cover exactly the rest of ``data``. Anything else (a line more or
  less, folding, a new start line, a body of another length, a second
  message behind the first) is no match: the request is parsed in full, as
  without a cache.

What a match gives is the :class:`Request` that ``parse_message(data)``
would give (same start line, ``headers``, body), plus, for every header
whose lines are all fixed, the typed values computed for it when the
learned request was validated: a fixed line is the very string that passed
``validate()``, so it is valid again, and ``validate()`` checks only the
headers with a variable line (in header order, so the first error reported is
the one a full check would report) and the rules that span headers. The match
itself parses a variable CSeq, and a variable Via whose only change is its
branch (``BranchTemplate``): validate() then has nothing left to read. A match
is also exactly what ``StreamFramer`` would have framed from ``data``: the
learned request was framed by it, and a match has the same header lines and
the one Content-Length (``SipConnection`` relies on this).

Sharing: the typed values and raw value lists of fixed headers are shared by
every message that matches a layout, so they are immutable: frozen
dataclasses with read-only mappings (a parsed ``SipUri`` is sealed), and
read-only lists (``FrozenList``) for ``headers`` values and list-valued
accessors; a variable header gets fresh lists. When a layout is refined, the
values it already handed out are kept (not the new request's equal copies), so
what was derived from them (the registrar's ``derived`` facts) and what they
share (the token string the verifier caches) stay.

Bounds: at most ``max_layouts`` layouts (default 2: what the last message or
two used), each holding one head's fixed octets, its raw values and typed
values (about 6 KB for a phone's REGISTER with its bearer token); plus the
last request not yet learned from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final, TypeVar

from ._abnf import parse_uint32
from ._errors import RemoteProtocolError
from ._headers import parse_cseq
from ._message import Request
from ._names import canonical_key
from ._util import FrozenList
from ._via import BranchTemplate

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["ACCESSOR_KEYS", "ParseCache"]

# Typed accessor -> the header it reads. request_uri reads the start line
# (always fixed); content_length reads the body (never remembered).
ACCESSOR_KEYS: Final[dict[str, str]] = {
    "via": "via",
    "top_via": "via",
    "from_": "from",
    "to": "to",
    "call_id": "call-id",
    "cseq": "cseq",
    "contacts": "contact",
    "expires": "expires",
    "min_expires": "min-expires",
    "max_forwards": "max-forwards",
    "content_type": "content-type",
    "authorization": "authorization",
    "proxy_authorization": "proxy-authorization",
    "path": "path",
    "route": "route",
    "record_route": "record-route",
    "supported": "supported",
    "require": "require",
    "proxy_require": "proxy-require",
    "unsupported": "unsupported",
    "allow": "allow",
    "accept": "accept",
    "content_encoding": "content-encoding",
    "accept_encoding": "accept-encoding",
}
_START_LINE_ACCESSORS: Final = frozenset({"request_uri"})
_CRLF: Final = b"\r\n"
_new_object = object.__new__

# What every device of a model sends alike (start lines, header names, values
# such as Supported or User-Agent) is kept once per process, not once per
# connection's layout: bounded tables of equal immutable values, emptied when
# full (as the parser's shared typed values; the text is the peer's). Text and
# octets apart: equal-looking str and bytes hash alike but never compare equal.
_INTERNED_MAX: Final = 4096
_INTERNED_MAX_LENGTH: Final = 512
_I = TypeVar("_I", str, bytes)


def _interner(table: dict[_I, _I]) -> Callable[[_I], _I]:
    def intern(value: _I) -> _I:
        if len(value) > _INTERNED_MAX_LENGTH:
            return value
        found = table.get(value)
        if found is None:
            if len(table) >= _INTERNED_MAX:
                table.clear()
            table[value] = found = value
        return found

    return intern


_intern_text: Final[Callable[[str], str]] = _interner({})
_intern_octets: Final[Callable[[bytes], bytes]] = _interner({})


# One block: fixed octets and their length, then the variable line after them:
# its header name and colon, that prefix's length, its header key and its
# index among that key's lines (-1: the key's only line); for the last block,
# which ends with the empty line: (None, 0, "", -1).
_Block = tuple[bytes, int, bytes | None, int, str, int]


class _Layout:
    """One learned request head (see the module docstring)."""

    __slots__ = (
        "blocks", "branch", "fixed", "headers", "length", "prefixes", "remaining", "seed",
        "start",
    )  # fmt: skip
    blocks: tuple[_Block, ...]
    branch: BranchTemplate | None
    fixed: tuple[bool, ...]
    headers: dict[str, list[str]]
    length: int | None
    prefixes: tuple[bytes, ...]
    remaining: tuple[tuple[str, ...], ...]
    seed: dict[str, object]
    start: bytes

    def __init__(
        self,
        start: bytes,
        prefixes: tuple[bytes, ...],
        fixed: tuple[bool, ...],
        lines: Sequence[bytes],
        keys: Sequence[str],
        request: Request,
        previous: _Layout | None = None,
    ) -> None:
        self.start = start
        self.prefixes = prefixes
        self.fixed = fixed
        variable_keys = {key for key, is_fixed in zip(keys, fixed, strict=True) if not is_fixed}
        # The raw values, shared by every match (read-only lists); a variable
        # key's list is replaced in each match.
        self.headers = {
            key: FrozenList([_intern_text(value) for value in values])
            for key, values in request.headers.items()
        }
        if previous is not None:  # refined from `previous`: keep its fixed values
            for key in self.headers:
                if key not in variable_keys:
                    self.headers[key] = previous.headers[key]
        blocks: list[_Block] = []
        run = [start]
        seen: dict[str, int] = {}
        for index, line in enumerate(lines):
            key = keys[index]
            slot = seen.get(key, -1) + 1
            seen[key] = slot
            if fixed[index]:
                run.append(line)
                continue
            octets = b"\r\n".join(run) + _CRLF if run else b""
            prefix = prefixes[index]
            blocks.append((octets, len(octets), prefix, len(prefix), key, slot))
            run = []
        octets = b"\r\n".join([*run, b"", b""]) if run else _CRLF
        blocks.append((octets, len(octets), None, 0, "", -1))
        # A key with a single line has its list replaced whole (slot -1).
        self.blocks = tuple(
            (o, n, p, pn, key, -1 if p is None or seen[key] == 0 else slot)
            for o, n, p, pn, key, slot in blocks
        )
        if "content-length" in variable_keys:
            self.length = None
        else:
            self.length = parse_uint32(request.headers["content-length"][0])
            assert self.length is not None  # it parsed
        # A variable Via / CSeq line alone under its name (the usual case: they
        # change with every request) is parsed by the match itself, the Via
        # from the text around its branch (BranchTemplate).
        self.branch = None
        if "via" in variable_keys and seen["via"] == 0:
            self.branch = BranchTemplate.learn(request.headers["via"][0], request.via)
        eager_cseq = "cseq" in variable_keys and seen["cseq"] == 0
        # What validate() must still check: the other variable headers, in
        # header order (it then reports the first error a full check would).
        # Keyed by (Via parsed by the match, CSeq parsed by the match).
        self.remaining = tuple(  # [2 * Via parsed by the match + CSeq parsed by the match]
            tuple(
                key
                for key in request.headers
                if key in variable_keys
                and not (via_done and key == "via")
                and not (cseq_done and eager_cseq and key == "cseq")
            )
            for via_done in (False, True)
            for cseq_done in (False, True)
        )
        # A match's attributes start from these: the start line, and every
        # other header's typed values (list values as read-only lists).
        seed: dict[str, object] = {
            "method": request.method,
            "uri": request.uri,
            "version": request.version,
        }
        for name, value in request.__dict__.items():
            header = ACCESSOR_KEYS.get(name)
            if header is None and name not in _START_LINE_ACCESSORS:
                continue
            if header in variable_keys:
                continue
            if isinstance(value, list) and type(value) is not FrozenList:
                value = FrozenList(value)
            seed[name] = value
        if previous is not None:
            # The very objects `previous` handed out (same text): what was
            # derived from them (the registrar's facts) and what they share
            # (the token the verifier caches) stay as they are.
            for name in seed:
                if name in previous.seed:
                    seed[name] = previous.seed[name]
        self.seed = seed

    def fixed_lines(self) -> list[bytes | None]:
        """Each header line's fixed octets, ``None`` for a variable line."""
        octets = b"".join(block[0] for block in self.blocks)
        pieces = iter(octets.split(_CRLF)[1:-2])  # (start line ... empty line)
        return [next(pieces) if is_fixed else None for is_fixed in self.fixed]

    def match(self, data: bytes) -> Request | None:
        """The request in ``data`` if it fits this layout exactly (see the module docstring)."""
        startswith = data.startswith
        find = data.find
        pos = 0
        headers = self.headers.copy()
        via: str | None = None
        cseq: str | None = None
        for octets, size, prefix, prefix_size, key, slot in self.blocks:
            if not startswith(octets, pos):
                return None
            pos += size
            if prefix is None:
                break
            if not startswith(prefix, pos):
                return None
            begin = pos + prefix_size
            # The line ends at the first LF, which must follow a CR, and holds
            # no other CR (no lone CR or LF: RFC 3261 §7.3.1).
            end = find(b"\n", begin) - 1
            if end < begin or data[end] != 13 or find(b"\r", begin, end) >= 0:
                return None
            value = data[begin:end].decode("utf-8", "surrogateescape").strip(" \t")
            if slot < 0:
                headers[key] = [value]
                if key == "via":
                    via = value
                elif key == "cseq":
                    cseq = value
            else:
                values = headers[key]
                if type(values) is FrozenList:
                    values = headers[key] = list(values)
                values[slot] = value
            pos = end + 2
        length = self.length
        if length is None:
            length = parse_uint32(headers["content-length"][0])
            if length is None:
                return None
        if pos + length != len(data):
            return None
        # The Request parse_message would build, attributes set at once.
        typed = self.seed.copy()
        typed["headers"] = headers
        typed["body"] = data[pos:] if length else b""
        via_done = cseq_done = False
        if via is not None and self.branch is not None:
            top = self.branch.parse(via)
            if top is not None:
                typed["via"] = [top]
                typed["top_via"] = top
                via_done = True
        if cseq is not None:
            try:
                typed["cseq"] = parse_cseq(cseq)
                cseq_done = True
            except RemoteProtocolError:
                pass  # validate() reports it, as a full check would
        typed["_unchecked"] = self.remaining[2 * via_done + cseq_done]
        request: Request = _new_object(Request)
        request.__dict__ = typed
        return request


class ParseCache:
    """What one connection's recent requests looked like, to parse the next ones quickly.

    Pass it to ``parse_message(data, cache=...)`` for every message of one
    connection (see the module docstring); ``max_layouts`` bounds what it
    remembers.
    """

    __slots__ = ("_layouts", "_max_layouts", "_pending")

    def __init__(self, max_layouts: int = 2) -> None:
        if max_layouts < 1:
            raise ValueError("max_layouts must be at least 1")
        self._max_layouts = max_layouts
        self._layouts: list[_Layout] = []
        self._pending: tuple[bytes, Request] | None = None

    def __len__(self) -> int:
        """How many layouts are remembered."""
        return len(self._layouts)

    def match(self, data: bytes) -> Request | None:
        """The request ``data`` holds, when it is exactly one request fitting a layout.

        ``None`` otherwise: parse ``data`` in full then (``parse_message`` does).
        """
        if self._pending is not None:
            self._learn()
        layouts = self._layouts
        if not layouts:
            return None
        request = layouts[0].match(data)
        if request is not None:
            return request
        for n in range(1, len(layouts)):
            request = layouts[n].match(data)
            if request is not None:
                layouts.insert(0, layouts.pop(n))  # most recently used first
                return request
        return None

    def remember(self, head: bytes, request: Request) -> None:
        """``request`` was parsed in full from ``head`` (start line to empty line):
        if it passes ``validate()``, learn its layout before the next match."""
        self._pending = (head, request)

    def _learn(self) -> None:
        assert self._pending is not None
        head, request = self._pending
        self._pending = None
        if not request.validated:
            return
        lines = head.split(_CRLF)
        start, lines = lines[0], lines[1:-2]
        if len(lines) != sum(map(len, request.headers.values())):
            return  # folded lines: no layout
        keys: list[str] = []
        prefixes: list[bytes] = []
        seen: dict[str, int] = {}
        headers = request.headers
        for line in lines:
            name, _, value = line.partition(b":")
            key = canonical_key(name.decode("utf-8", "surrogateescape"))
            n = seen.get(key, 0)
            seen[key] = n + 1
            # The request must still hold what its octets say (parsed values are
            # read-only; this keeps a misbehaving caller from teaching a layout).
            values = headers.get(key, ())
            text = value.decode("utf-8", "surrogateescape").strip(" \t")
            if n >= len(values) or values[n] != text:
                return
            keys.append(key)
            prefixes.append(_intern_octets(name + b":"))
        if seen.get("content-length") != 1:
            return  # a stream message has exactly one (RFC 3261 §18.3)
        layouts = self._layouts
        start = _intern_octets(start)
        prefix_tuple = tuple(prefixes)
        fixed = (True,) * len(lines)
        previous = None
        for n, old in enumerate(layouts):
            if old.start == start and old.prefixes == prefix_tuple:
                fixed = tuple(
                    line is not None and line == new
                    for line, new in zip(old.fixed_lines(), lines, strict=True)
                )
                previous = layouts.pop(n)
                break
        layout = _Layout(start, prefix_tuple, fixed, lines, keys, request, previous)
        layouts.insert(0, layout)
        del layouts[self._max_layouts :]

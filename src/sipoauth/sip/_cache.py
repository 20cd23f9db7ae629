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
the one a full check would report) and the rules that span headers. A match
is also exactly what ``StreamFramer`` would have framed from ``data``: the
learned request was framed by it, and a match has the same header lines and
the one Content-Length (``SipConnection`` relies on this).

Sharing: typed values are shared by every message that matches a layout, so
they are immutable (frozen dataclasses with read-only mappings; a parsed
``SipUri`` is sealed); list-valued accessors are copied for each message.

Bounds: at most ``max_layouts`` layouts (default 2: what the last message or
two used), each holding one head's fixed octets, its raw values and the typed
values (a few KB for a REGISTER with a bearer token); plus the last validated
request not yet learned from.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ._abnf import parse_uint32
from ._message import Request
from ._names import canonical_key

if TYPE_CHECKING:
    from collections.abc import Sequence

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

# One block: fixed octets, their length, then the variable line after them
# (its name and colon, that prefix's length, its index among the header
# lines) or (None, 0, -1) for the last block, which ends with the empty line.
_Block = tuple[bytes, int, bytes | None, int, int]


class _Layout:
    """One learned request head (see the module docstring)."""

    __slots__ = (
        "blocks", "fixed", "keys", "length", "length_index", "method", "prefixes", "seed",
        "seed_lists", "single", "start", "uri", "values", "version",
    )  # fmt: skip

    def __init__(
        self,
        start: bytes,
        prefixes: tuple[bytes, ...],
        fixed: tuple[bool, ...],
        lines: Sequence[bytes],
        keys: tuple[str, ...],
        values: list[str],
        request: Request,
    ) -> None:
        self.start = start
        self.prefixes = prefixes
        self.fixed = fixed
        self.keys = keys
        self.values = values
        self.method = request.method
        self.uri = request.uri
        self.version = request.version
        self.single = len(set(keys)) == len(keys)
        blocks: list[_Block] = []
        run = [start]
        variable_keys: list[str] = []
        for index, line in enumerate(lines):
            if fixed[index]:
                run.append(line)
                continue
            octets = b"\r\n".join(run) + _CRLF if run else b""
            prefix = prefixes[index]
            blocks.append((octets, len(octets), prefix, len(prefix), index))
            run = []
            if keys[index] not in variable_keys:
                variable_keys.append(keys[index])
        octets = b"\r\n".join([*run, b"", b""]) if run else _CRLF
        blocks.append((octets, len(octets), None, 0, -1))
        self.blocks = tuple(blocks)
        self.length_index = keys.index("content-length")
        length = parse_uint32(values[self.length_index])
        assert length is not None  # the request parsed, so its Content-Length is valid
        self.length = None if "content-length" in variable_keys else length
        # Variable headers in header order (validate() reports the first error a
        # full check would); every other header's typed values are remembered.
        unchecked = tuple(key for key in request.headers if key in variable_keys)
        seed: dict[str, object] = {"_unchecked": unchecked}
        seed_lists: list[tuple[str, tuple[object, ...]]] = []
        for name, value in request.__dict__.items():
            key = ACCESSOR_KEYS.get(name)
            if key is None and name not in _START_LINE_ACCESSORS:
                continue
            if key in variable_keys:
                continue
            if isinstance(value, list):
                seed_lists.append((name, tuple(value)))
            else:
                seed[name] = value
        self.seed = seed
        self.seed_lists = tuple(seed_lists)

    def fixed_lines(self) -> list[bytes | None]:
        """Each header line's fixed octets, ``None`` for a variable line."""
        octets = b"".join(block[0] for block in self.blocks)
        pieces = iter(octets.split(_CRLF)[1:-2])  # (start line ... empty line)
        return [next(pieces) if fixed else None for fixed in self.fixed]

    def match(self, data: bytes) -> Request | None:
        """The request in ``data`` if it fits this layout exactly (see the module docstring)."""
        startswith = data.startswith
        find = data.find
        pos = 0
        values = self.values
        copied = False
        for octets, size, prefix, prefix_size, index in self.blocks:
            if not startswith(octets, pos):
                return None
            pos += size
            if prefix is None:
                break
            if not startswith(prefix, pos):
                return None
            begin = pos + prefix_size
            end = find(b"\r\n", begin)
            if end < 0:
                return None
            raw = data[begin:end]
            if b"\r" in raw or b"\n" in raw:  # a lone CR or LF (RFC 3261 §7.3.1)
                return None
            if not copied:
                values = values.copy()
                copied = True
            values[index] = raw.decode("utf-8", "surrogateescape").strip(" \t")
            pos = end + 2
        length = self.length
        if length is None:
            length = parse_uint32(values[self.length_index])
            if length is None:
                return None
        if pos + length != len(data):
            return None
        if self.single:
            headers = {key: [value] for key, value in zip(self.keys, values, strict=False)}
        else:
            headers = {}
            for key, value in zip(self.keys, values, strict=False):
                found = headers.get(key)
                if found is None:
                    headers[key] = [value]
                else:
                    found.append(value)
        request = Request(self.method, self.uri, self.version, headers, data[pos:] if length else b"")
        remembered = request.__dict__
        remembered.update(self.seed)
        for name, items in self.seed_lists:
            remembered[name] = list(items)
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
        for n, layout in enumerate(layouts):
            request = layout.match(data)
            if request is not None:
                if n:
                    layouts.insert(0, layouts.pop(n))
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
        values: list[str] = []
        prefixes: list[bytes] = []
        seen: dict[str, int] = {}
        for line in lines:
            name, _, _ = line.partition(b":")
            key = canonical_key(name.decode("utf-8", "surrogateescape"))
            n = seen.get(key, 0)
            seen[key] = n + 1
            keys.append(key)
            values.append(request.headers[key][n])  # the very strings the request holds
            prefixes.append(name + b":")
        if seen.get("content-length") != 1:
            return  # a stream message has exactly one (RFC 3261 §18.3)
        layouts = self._layouts
        prefix_tuple = tuple(prefixes)
        fixed = (True,) * len(lines)
        for n, old in enumerate(layouts):
            if old.start == start and old.prefixes == prefix_tuple:
                fixed = tuple(
                    line is not None and line == new
                    for line, new in zip(old.fixed_lines(), lines, strict=True)
                )
                del layouts[n]
                break
        layout = _Layout(start, prefix_tuple, fixed, lines, tuple(keys), values, request)
        layouts.insert(0, layout)
        del layouts[self._max_layouts :]

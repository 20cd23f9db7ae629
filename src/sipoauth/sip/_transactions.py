"""Server transactions for non-INVITE requests: RFC 3261 §17.2.2 and §17.2.3.

Theory of operation
-------------------
The table maps a *transaction key* to the state of the request it
identifies. The I/O layer, for each incoming request::

    key = transactions.key(request)
    state = transactions.lookup(key, now)
    if state is PENDING: drop it          # retransmission, first copy in progress
    elif state is not None: send(state)   # retransmission of a completed one
    else:
        transactions.start(key, now)
        response = ...process...
        transactions.complete(key, response, now)
        send(response)

and calls ``expire(now)`` when ``next_timer()`` says so. ``now`` is passed in
(a monotonic clock in seconds); nothing here reads a clock.

Keys (§17.2.3). When the top Via's branch starts with the magic cookie
``z9hG4bK`` (and has something after it), the key is (branch, sent-by,
method), with ACK mapped to INVITE; sent-by as its two parts (host, port),
the same comparison without building a string per request. The Call-ID is
added to it: a retransmission always repeats it, and without it a client
reusing a branch (a bug, or a guess within the linger time) would be sent
the cached response of another device's REGISTER, contacts and all. Otherwise the
request comes from an RFC 2543 element and the key is built from the
Request-URI, To tag, From tag, Call-ID, CSeq number and method, and the raw
top Via (RFC 4475 §3.2.1 badbranch takes this path).

States. A started transaction is PENDING (Trying/Proceeding: its
retransmissions are absorbed); ``complete`` stores the final response bytes
(Completed: retransmissions get those exact bytes again). Entries are kept
``linger`` seconds after their last change. On unreliable transports §17.2.2
asks for Timer J = 64*T1 = 32 s; on TLS/TCP Timer J is 0, but we keep the
entry anyway: a phone whose connection broke retransmits its REGISTER on a
new connection, and it must get the same answer rather than a second
processing (and a second token check).

One per Call-ID. A UA sends no new REGISTER on a Call-ID before the previous
one got its final response (RFC 3261 §10.2), so when a request completes, an
older completed transaction of the same Call-ID can no longer be
retransmitted and is dropped: a device re-registering thousands of times a
minute costs one entry, not one per REGISTER.

Bounds. Entries are kept in an ordered dict in deadline order (every write
moves its entry to the end with deadline ``now + linger``, so with a
non-decreasing ``now`` the order is the deadline order): ``expire`` pops from
the front, ``next_timer`` reads the front, and when ``max_entries`` is
exceeded the oldest entry is evicted. Every operation is O(1) (amortised for
``expire``).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Hashable
from typing import Final, Literal

from ._errors import LocalProtocolError
from ._headers import split_list
from ._message import Request

__all__ = ["PENDING", "ServerTransactions"]


class _Pending(enum.Enum):
    PENDING = "PENDING"


PENDING: Final = _Pending.PENDING
"""``lookup`` result: the request is a retransmission of one still being processed."""

_METHOD_OF_ACK: Final = "INVITE"
_MAGIC_COOKIE: Final = "z9hG4bK"  # RFC 3261 §8.1.1.7 (as Via.has_magic_cookie)


class ServerTransactions:
    """The server transaction table of one node (or one listener).

    ``linger`` is how long (seconds) an entry is kept after its last change;
    ``max_entries`` bounds memory (oldest evicted first).
    """

    def __init__(self, *, linger: float = 32.0, max_entries: int = 20_000) -> None:
        if linger <= 0 or max_entries <= 0:
            raise LocalProtocolError(reason="linger and max_entries must be positive")
        self.linger = linger
        self.max_entries = max_entries
        # key -> (deadline, state, the Call-ID it is registered under in _by_call_id)
        self._entries: OrderedDict[Hashable, tuple[float, bytes | _Pending, str | None]] = (
            OrderedDict()
        )
        self._by_call_id: dict[str, Hashable] = {}

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def key(request: Request) -> Hashable:
        """The transaction key of ``request`` (RFC 3261 §17.2.3).

        Raises :class:`RemoteProtocolError` if a header the key needs is
        malformed (``validate()`` has normally run before).
        """
        via = request.top_via
        branch = via.params.get("branch")
        if branch is not None and len(branch) > 7 and branch.startswith(_MAGIC_COOKIE):
            method = request.method
            method = _METHOD_OF_ACK if method == "ACK" else method
            return (branch, via.host, via.port, method, request.call_id)
        # RFC 2543 style: Request-URI, To tag, From tag, Call-ID, CSeq, top Via.
        cseq = request.cseq
        top_via_raw = split_list(request.headers["via"][0])[0]
        return (
            "rfc2543",
            request.uri,
            request.to.tag,
            request.from_.tag,
            request.call_id,
            cseq.seq,
            cseq.method,
            top_via_raw,
        )

    def lookup(self, key: Hashable, now: float) -> bytes | Literal[_Pending.PENDING] | None:
        """The state of the transaction ``key``.

        ``None``: a new request. :data:`PENDING`: a retransmission while the
        first copy is processed (absorb it). ``bytes``: a retransmission of a
        completed transaction; send these bytes again.
        """
        entry = self._entries.get(key)
        if entry is None:
            return None
        deadline, state, _ = entry
        if deadline <= now:
            self._forget(key)
            return None
        return state

    def start(self, key: Hashable, now: float) -> None:
        """Record that the request ``key`` is being processed (state PENDING)."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            raise LocalProtocolError(reason="transaction already exists")
        self._put(key, PENDING, now)

    def complete(
        self, key: Hashable, response: bytes, now: float, *, call_id: str | None = None
    ) -> None:
        """Record the final response of ``key``; retransmissions get ``response``.

        With ``call_id``, an older completed transaction of the same Call-ID is
        dropped (see "One per Call-ID" above).
        """
        entries = self._entries
        if call_id is not None:
            by_call_id = self._by_call_id
            previous = by_call_id.get(call_id)
            if previous is not None and previous != key:
                self._forget(previous)
            by_call_id[call_id] = key
        else:
            entry = entries.get(key)
            if entry is not None:
                call_id = entry[2]  # stays registered under the Call-ID it had
        entries[key] = (now + self.linger, response, call_id)
        entries.move_to_end(key)
        if len(entries) > self.max_entries:
            self._forget(next(iter(entries)))

    def _put(self, key: Hashable, state: bytes | _Pending, now: float) -> None:
        entries = self._entries
        entry = entries.get(key)
        entries[key] = (now + self.linger, state, None if entry is None else entry[2])
        entries.move_to_end(key)
        if len(entries) > self.max_entries:
            self._forget(next(iter(entries)))

    def _forget(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            call_id = entry[2]
            if call_id is not None and self._by_call_id.get(call_id) == key:
                del self._by_call_id[call_id]

    def expire(self, now: float) -> None:
        """Forget every transaction whose linger time has passed."""
        entries = self._entries
        while entries:
            key, (deadline, _, _) = next(iter(entries.items()))
            if deadline > now:
                break
            self._forget(key)

    def next_timer(self) -> float | None:
        """When ``expire`` next has work (an absolute ``now`` value), or ``None``."""
        for deadline, _, _ in self._entries.values():
            return deadline
        return None

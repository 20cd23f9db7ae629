"""Bounded cache of *successful* token verifications.

Theory of operation: verifying a token costs a decryption and an RSA
verification (tens of µs); a device presents the same token on every REGISTER
refresh (default every 120 s) until it renews it. The registrar therefore keeps
the result per token string until the token's ``exp`` (DESIGN.md "Tokens").

Rules, each for a reason:

* Only successes are stored: a failure is recomputed every time, so a later key
  change or clock change can never be bypassed by a remembered "no".
* Each entry carries the time window it was valid for (``[not_before - leeway,
  exp + leeway)``); a hit re-checks ``now`` against it (the clock passed in may
  be anything, including earlier than the first verification).
* The size is bounded; the least recently used entry is evicted first.
* :meth:`clear` is called whenever the key ring changes.

Memory: an entry holds a reference to the token string (~1.2 KB; the caller
usually still holds it) and the claims object (~1 KB), so 100 000 entries cost
in the order of 100–250 MB; size the cache to the number of live devices.

Not thread-safe: the node calls it from its one event-loop thread.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["VerificationCache"]

T = TypeVar("T")


class VerificationCache(Generic[T]):
    """An LRU map ``token -> (value, valid_from, valid_until)``."""

    __slots__ = ("_entries", "_max_size")

    def __init__(self, max_size: int) -> None:
        if max_size < 0:
            raise ValueError("cache size must be >= 0")
        self._max_size = max_size
        self._entries: OrderedDict[str, tuple[T, float, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def max_size(self) -> int:
        """The bound on the number of entries (0 disables caching)."""
        return self._max_size

    def get(self, token: str, now: float) -> T | None:
        """The cached value if present and ``valid_from <= now < valid_until``.

        An entry found outside its window is dropped (it can only be expired
        or, with a clock that went backwards, not yet valid; either way the
        full verification must decide).
        """
        entry = self._entries.get(token)
        if entry is None:
            return None
        value, valid_from, valid_until = entry
        if valid_from <= now < valid_until:
            self._entries.move_to_end(token)
            return value
        del self._entries[token]
        return None

    def put(self, token: str, value: T, valid_from: float, valid_until: float) -> None:
        """Remember a success; evicts the least recently used entry when full."""
        if self._max_size == 0:
            return
        entries = self._entries
        entries[token] = (value, valid_from, valid_until)
        entries.move_to_end(token)
        while len(entries) > self._max_size:
            entries.popitem(last=False)

    def clear(self) -> None:
        """Forget everything (key ring replaced)."""
        self._entries.clear()

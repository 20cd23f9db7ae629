"""Throttling of guessable secrets: activation codes and sign-in passwords.

RFC 8628 §5.1 reasoning applied to activation codes: a 16-digit code has 10^16
values, so an attacker's odds depend only on how many guesses the server lets
through. Failures are counted per source address and across the node; once a
limit is reached the endpoint answers 429 with ``slow_down`` until the moving
window lets the next attempt through. Successful attempts are never counted,
so a legitimate phone behind a busy NAT is not punished for its neighbours'
successes. Counts live in the node's memory (``limits``, moving window): in
a cluster every node counts on its own, so the cluster-wide ceiling is the
per-node one times the number of nodes (docs/oauth.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

__all__ = ["Throttle", "ThrottleSettings"]

Kind = Literal["activation", "signin"]


@dataclass(frozen=True, slots=True)
class ThrottleSettings:
    """Failures allowed per minute before ``slow_down`` (per node)."""

    activation_per_source: int = 5
    """Wrong activation codes per source address per minute."""
    activation_global: int = 30
    """Wrong activation codes per minute from all sources together."""
    signin_per_source: int = 10
    """Failed sign-ins per source address per minute."""
    signin_per_user: int = 5
    """Failed sign-ins per user id per minute (whatever the source)."""
    signin_global: int = 120
    """Failed sign-ins per minute from all sources together."""

    def guesses_per_day(self) -> int:
        """The most activation-code guesses one node lets through in a day."""
        return self.activation_global * 60 * 24


_GLOBAL: Final = "*"


class Throttle:
    """Counts failures; says how long to wait when a limit is reached."""

    __slots__ = ("_clock", "_items", "_limiter")

    def __init__(
        self, settings: ThrottleSettings | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        s = settings or ThrottleSettings()
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._clock = clock
        self._items: dict[Kind, tuple[RateLimitItemPerMinute, ...]] = {
            "activation": (
                RateLimitItemPerMinute(s.activation_per_source, namespace="activation-src"),
                RateLimitItemPerMinute(s.activation_global, namespace="activation-all"),
            ),
            "signin": (
                RateLimitItemPerMinute(s.signin_per_source, namespace="signin-src"),
                RateLimitItemPerMinute(s.signin_global, namespace="signin-all"),
                RateLimitItemPerMinute(s.signin_per_user, namespace="signin-user"),
            ),
        }

    def _keyed(self, kind: Kind, source: str, user: str | None) -> list[tuple[object, str]]:
        items = self._items[kind]
        keyed: list[tuple[object, str]] = [(items[0], source), (items[1], _GLOBAL)]
        if kind == "signin" and user is not None:
            keyed.append((items[2], user.lower()))
        return keyed

    def wait(self, kind: Kind, source: str, user: str | None = None) -> int | None:
        """Seconds to wait before the next attempt is heard, or None to go ahead."""
        longest = 0.0
        for item, key in self._keyed(kind, source, user):
            if not self._limiter.test(item, key):  # type: ignore[arg-type]
                stats = self._limiter.get_window_stats(item, key)  # type: ignore[arg-type]
                longest = max(longest, stats.reset_time - self._clock(), 1.0)
        return math.ceil(longest) if longest else None

    def failed(self, kind: Kind, source: str, user: str | None = None) -> None:
        """Count one failed attempt."""
        for item, key in self._keyed(kind, source, user):
            self._limiter.hit(item, key)  # type: ignore[arg-type]

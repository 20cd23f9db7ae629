"""Tags for the To header of the responses this node makes (RFC 3261 §19.3).

§19.3: a tag a UA generates "MUST be globally unique and cryptographically
random with at least 32 bits of randomness". Every tag here is 64 bits from
the operating system's CSPRNG (`os.urandom`), as 16 hex digits. The random
octets are drawn a block at a time, so a tag costs a slice rather than a
system call; a forked child starts with a block of its own, never its
parent's.
"""

from __future__ import annotations

import os
from typing import Final

__all__ = ["new_tag"]

TAG_BYTES: Final = 8
"""Randomness per tag: 64 bits (§19.3 asks for at least 32)."""
_BLOCK: Final = TAG_BYTES * 512


class _Random:
    __slots__ = ("octets", "position")

    def __init__(self) -> None:
        self.octets = b""
        self.position = 0


_random = _Random()


def new_tag() -> str:
    """A fresh tag: 64 random bits, lowercase hex."""
    state = _random
    position = state.position
    if position >= len(state.octets):
        state.octets = os.urandom(_BLOCK)
        position = 0
    state.position = position + TAG_BYTES
    return state.octets[position : position + TAG_BYTES].hex()


def _forget_after_fork() -> None:
    # The parent's unused octets are the parent's: the child must not repeat them.
    _random.octets = b""
    _random.position = 0


os.register_at_fork(after_in_child=_forget_after_fork)

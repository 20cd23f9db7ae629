"""The one error tree of the PKI area.

Errors of ``cryptography`` and ``ssl`` met while loading, issuing or checking
certificates are translated into these, with a description that is safe to
print (it names files and checks, never key material).
"""

from __future__ import annotations

__all__ = ["ChainVerificationError", "PkiError"]


class PkiError(Exception):
    """Base of every PKI-area error: bad PEM, mismatched key, unusable files."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class ChainVerificationError(PkiError):
    """A certificate does not chain to the given trust store (or is unusable)."""

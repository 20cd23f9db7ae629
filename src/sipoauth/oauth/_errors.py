"""The one error tree of the OAuth area.

Every failure this package reports is an :class:`OAuthError` carrying its wire
meaning: ``error`` is the RFC 6749 §5.2 / RFC 6750 §3.1 error code an endpoint
or the registrar answers with, ``description`` a short human text that is safe
to send to the peer and to log — it never contains a token, a key or key
material. Exceptions of joserfc and cryptography are translated into this tree
where they are raised (the "boundary"), never let through.
"""

from __future__ import annotations

__all__ = ["InvalidKey", "InvalidToken", "OAuthError"]


class OAuthError(Exception):
    """Base of every OAuth-area error.

    ``error`` is the registered error code (RFC 6749 §4.1.2.1, §5.2; RFC 6750
    §3.1); subclasses fix it. ``description`` is safe to show the client
    (``error_description``) and to log.
    """

    error: str = "server_error"

    def __init__(self, description: str) -> None:
        super().__init__(f"{self.error}: {description}")
        self.description = description


class InvalidToken(OAuthError):
    """An access token failed verification (RFC 6750 §3.1 ``invalid_token``).

    ``reason`` is a short stable machine code (for metrics and structured logs,
    e.g. ``"expired"``, ``"bad_signature"``); ``description`` says precisely
    which check failed, without echoing any part of the token.
    """

    error = "invalid_token"

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(description)
        self.reason = reason


class InvalidKey(OAuthError):
    """Key material given to this package is malformed or unsuitable.

    A local configuration problem, so it maps to ``server_error`` if it ever
    reaches the wire. The description names what is wrong, never the key.
    """

    error = "server_error"

"""Why a simulated device stopped: one base, with a short reason for summaries."""

from __future__ import annotations

__all__ = ["GrantRevoked", "SimError", "SimFailure"]


class SimError(Exception):
    """A device cannot go on. ``reason`` is a short key the load generator counts
    failures by (``activation``, ``config``, ``registration`` …); the message
    is the sentence a person reads."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class SimFailure(SimError):
    """A step failed for good: bootstrap, onboarding or sign-in, the config
    file, or every node refused or could not be reached."""


class GrantRevoked(SimError):
    """The device's grant was revoked (401 ``invalid_token`` "token revoked", or
    ``invalid_grant`` on refresh): it stops, and must be onboarded again."""

    def __init__(self, message: str) -> None:
        super().__init__("revoked", message)

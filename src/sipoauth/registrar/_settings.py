"""Registrar settings: every limit and policy knob, with safe defaults (STYLE.md rule 7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ChallengeStyle = Literal["rfc8898", "proxy"]


@dataclass(frozen=True, slots=True)
class RegistrarSettings:
    """How this node's registrar answers REGISTER requests."""

    realm: str = "ccmsipline"
    """SIP realm ("SIP Realm Station" service parameter), named in every challenge."""

    authz_server: str = "https://localhost:8443"
    """The authorization server URL advertised in the RFC 8898 challenge (`authz_server`)."""

    host: str = "localhost"
    """This node's host name, used as the Warning header's warn-agent (RFC 3261 §20.43)."""

    domains: frozenset[str] = field(default_factory=frozenset)
    """Domains whose bindings this registrar holds (RFC 3261 §10.3 step 1), lowercased.
    Empty means: any domain (a single-domain deployment that does not name itself)."""

    challenge_style: ChallengeStyle = "rfc8898"
    """`rfc8898`: 401 + WWW-Authenticate (the standard); `proxy`: 407 + Proxy-Authenticate,
    the style deployed phones expect from the reference system."""

    interval: int = 120
    """Registration interval granted by the server (seconds). A longer request is shortened
    to this (RFC 3261 §10.3 step 7 allows the registrar to shorten)."""

    min_expires: int = 60
    """Shortest interval accepted; a shorter non-zero request gets 423 + Min-Expires."""

    max_bindings_per_aor: int = 10
    """Bindings one address-of-record may hold at once."""

    retry_after: int = 35
    """Retry-After sent with the prerequisite 403 (reference behaviour)."""

    oauth_scope: str = "sip:register"
    """Scope a token must carry to register (RFC 6750 §3.1 insufficient_scope otherwise)."""

    def __post_init__(self) -> None:
        if not 1 <= self.min_expires <= self.interval:
            raise ValueError("min_expires must be between 1 and the registration interval")
        if self.max_bindings_per_aor < 1:
            raise ValueError("max_bindings_per_aor must be at least 1")

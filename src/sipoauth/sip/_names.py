"""Header field names: canonical keys, compact forms, display spelling.

Messages store header values under a *canonical key*: the long form,
lowercased (``"call-id"``, ``"via"``). Compact forms (RFC 3261 §7.3.3 and the
extensions that define one) are expanded when the message is split.
"""

from __future__ import annotations

from typing import Final

from . import _abnf
from ._errors import RemoteProtocolError

__all__ = ["KEY_CACHE", "canonical_key", "display_name", "header_key"]

# RFC 3261 §7.3.3 and §20; the later letters from the RFCs in the comments.
COMPACT_FORMS: Final[dict[str, str]] = {
    "a": "accept-contact",  # RFC 3841
    "b": "referred-by",  # RFC 3892
    "c": "content-type",
    "d": "request-disposition",  # RFC 3841
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",  # RFC 3841
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",  # RFC 4474
    "o": "event",  # RFC 6665
    "r": "refer-to",  # RFC 3515
    "s": "subject",
    "t": "to",
    "u": "allow-events",  # RFC 6665
    "v": "via",
    "x": "session-expires",  # RFC 4028
    "y": "identity",  # RFC 8224
}

# Canonical key -> conventional spelling, where title-casing gets it wrong.
_SPECIAL_SPELLING: Final[dict[str, str]] = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

_COMMON: Final = (
    "accept",
    "accept-encoding",
    "accept-language",
    "alert-info",
    "allow",
    "authorization",
    "call-id",
    "call-info",
    "contact",
    "content-disposition",
    "content-encoding",
    "content-length",
    "content-type",
    "cseq",
    "date",
    "event",
    "expires",
    "from",
    "max-forwards",
    "min-expires",
    "path",
    "proxy-authorization",
    "proxy-require",
    "reason",
    "record-route",
    "require",
    "retry-after",
    "route",
    "server",
    "supported",
    "to",
    "user-agent",
    "via",
    "warning",
    "www-authenticate",
)


def display_name(key: str) -> str:
    """The conventional spelling of a canonical key (``"call-id"`` -> ``"Call-ID"``)."""
    special = _SPECIAL_SPELLING.get(key)
    if special is not None:
        return special
    return "-".join(part.capitalize() for part in key.split("-"))


# Raw name as it appeared before the colon (trailing SP/HTAB included) ->
# canonical key. Pre-filled with common spellings; grows with what peers send,
# up to a bound (names are peer-controlled).
KEY_CACHE: Final[dict[str, str]] = {}
KEY_CACHE_MAX: Final = 2048
for _key in _COMMON:
    for _spelling in (_key, display_name(_key), _key.upper()):
        KEY_CACHE[_spelling] = _key
for _letter, _key in COMPACT_FORMS.items():
    KEY_CACHE[_letter] = KEY_CACHE[_letter.upper()] = _key
del _key, _spelling, _letter

_TOKEN_FULLMATCH: Final = _abnf.TOKEN_RE.fullmatch


def canonical_key(raw: str) -> str:
    """Canonical key of a header name as received (``"Via "`` -> ``"via"``, ``"l"`` ->
    ``"content-length"``); raises :class:`RemoteProtocolError` if it is not a token.

    ``header-name = token`` and ``HCOLON = *( SP / HTAB ) ":" SWS``.
    """
    key = KEY_CACHE.get(raw)
    if key is not None:
        return key
    name = raw.rstrip(" \t")
    if _TOKEN_FULLMATCH(name) is None:
        raise RemoteProtocolError(400, "Invalid header name")
    lowered = name.lower()
    key = COMPACT_FORMS.get(lowered, lowered)
    if len(KEY_CACHE) < KEY_CACHE_MAX:
        KEY_CACHE[raw] = key
    return key


def header_key(name: str) -> str:
    """Canonical key for a name given by our own code (no validation)."""
    key = KEY_CACHE.get(name)
    if key is not None:
        return key
    lowered = name.strip().lower()
    return COMPACT_FORMS.get(lowered, lowered)

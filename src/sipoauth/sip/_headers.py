"""Typed header values other than name-addr and Via: CSeq, credentials, lists, scalars.

Each ``parse_*`` function applies the RFC 3261 §25 rule of its header to one
raw (unfolded) value and raises :class:`RemoteProtocolError` (400) if it does
not match; the message accessors in ``_message`` call them lazily and add the
header name to the reason phrase.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from . import _abnf
from ._errors import RemoteProtocolError
from ._lists import split_list
from ._util import EMPTY, Derived, frozen_map, slot_setters
from ._via import BranchTemplate, Via, parse_via, parse_via_line

__all__ = [
    "BranchTemplate",
    "CSeq",
    "Credentials",
    "Via",
    "parse_credentials",
    "parse_cseq",
    "parse_media_range",
    "parse_option_tags",
    "parse_via",
    "parse_via_line",
    "split_list",
]


_TOKEN_FULLMATCH: Final = _abnf.TOKEN_RE.fullmatch
_new_object = object.__new__


def _bad(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(400, f"Invalid {what}")


# --- CSeq (RFC 3261 §20.16) ------------------------------------------------------------------

_CSEQ_FULLMATCH: Final = _abnf.CSEQ_RE.fullmatch


@dataclass(frozen=True, slots=True)
class CSeq:
    """A CSeq value: sequence number and method."""

    seq: int
    """The sequence number (0 .. 2**32-1)."""
    method: str
    """The method, case preserved (methods are case-sensitive)."""

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


_SET_SEQ, _SET_METHOD = slot_setters(CSeq, "seq", "method")
_COMMON_METHODS: Final = _abnf.COMMON_METHODS


def _new_cseq(seq: int, method: str) -> CSeq:
    cseq: CSeq = _new_object(CSeq)
    _SET_SEQ(cseq, seq)
    _SET_METHOD(cseq, method)
    return cseq


def parse_cseq(value: str) -> CSeq:
    """``CSeq = 1*DIGIT LWS Method``; the number must fit 32 bits unsigned."""
    number, space, method = value.partition(" ")
    if (  # the usual ``<digits> SP <common method>``, which the rule matches as is
        space
        and method in _COMMON_METHODS
        and len(number) <= 10
        and number.isdigit()
        and number.isascii()
    ):
        seq = int(number)
        if seq <= _abnf.MAX_UINT32:
            return _new_cseq(seq, method)
    m = _CSEQ_FULLMATCH(value)
    if m is None:
        raise _bad("CSeq")
    seq_or_none = _abnf.parse_uint32(m.group(1))
    if seq_or_none is None:
        raise _bad("CSeq number")
    return _new_cseq(seq_or_none, m.group(2))


# --- Authorization / Proxy-Authorization (RFC 3261 §22, RFC 8898) ------------------------

_CREDENTIALS_FULLMATCH: Final = _abnf.CREDENTIALS_RE.fullmatch
_AUTH_PARAM_FINDALL: Final = _abnf.AUTH_PARAM_ITEM_RE.findall
# ASCII octets that are not qdtext: controls except HTAB, DEL, DQUOTE, backslash.
_NOT_QDTEXT_ASCII: Final = bytes([*range(0x09), *range(0x0A, 0x20), 0x7F, 0x22, 0x5C])


@dataclass(frozen=True, slots=True)
class Credentials(Derived):
    """One Authorization / Proxy-Authorization value.

    Either ``token68`` is set (``Bearer <token>``, RFC 8898 §2.1 / RFC 6750
    §2.1) or ``params`` holds the auth-params (lowercased names, unquoted
    values), e.g. ``Bearer token="<jwt>"`` or ``Digest username=...``.
    Immutable; pure functions of it can be remembered with :meth:`derived`.
    """

    scheme: str
    """The auth-scheme as sent (compare case-insensitively)."""
    params: Mapping[str, str] = field(default_factory=dict)
    """auth-params: lowercased names, values with quotes and escapes removed."""
    token68: str | None = None
    """The token68 / b64token form's token, or ``None``."""
    _memo: dict[object, object] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def bearer_token(self) -> str | None:
        """For the Bearer scheme: the token in either form; otherwise ``None``."""
        if self.scheme.lower() != "bearer":
            return None
        return self.token68 if self.token68 is not None else self.params.get("token")


def parse_credentials(value: str) -> Credentials:
    """Parse ``credentials`` (``auth-scheme LWS ( token68 / auth-param #auth-param )``).

    Duplicate auth-param names are rejected (RFC 7235 §2.1: each parameter
    name occurs only once), so a second ``token=`` cannot shadow the first.
    """
    scheme, _, rest = value.partition(" ")
    if rest[:7] == 'token="' and rest[-1:] == '"' and len(rest) > 7:
        # Fast path for the deployed form ``Bearer token="<jwt>"``: ASCII
        # without controls, DQUOTE or backslash is qdtext, a strict subset of
        # the grammar, checked with C-speed bytes.translate instead of the
        # regex (a 1 KiB token costs the regex several µs).
        inner = rest[7:-1]
        if (
            inner.isascii()
            and len(inner.encode().translate(None, _NOT_QDTEXT_ASCII)) == len(inner)
            and _TOKEN_FULLMATCH(scheme) is not None
        ):
            return Credentials(scheme, frozen_map({"token": inner}), None)
    m = _CREDENTIALS_FULLMATCH(value)
    if m is None:
        raise _bad("credentials")
    scheme, token68, name, pvalue, more = m.groups()
    if token68 is not None:
        return Credentials(scheme, EMPTY, token68)
    params = {name.lower(): _abnf.unquote(pvalue) if pvalue[0] == '"' else pvalue}
    if not more:  # the common single-parameter form: Bearer token="..."
        return Credentials(scheme, frozen_map(params), None)
    for name, pvalue in _AUTH_PARAM_FINDALL(more):
        name = name.lower()
        if name in params:
            raise _bad(f"credentials: duplicate {name}")
        params[name] = _abnf.unquote(pvalue) if pvalue[0] == '"' else pvalue
    return Credentials(scheme, frozen_map(params), None)


# --- media types, option tags -------------------------------------------------------------

_MEDIA_TYPE_FULLMATCH: Final = _abnf.MEDIA_TYPE_RE.fullmatch
_ACCEPT_RANGE_FULLMATCH: Final = _abnf.ACCEPT_RANGE_RE.fullmatch


def parse_media_type(value: str) -> str:
    """``media-type`` -> ``"type/subtype"`` lowercased (parameters checked, dropped)."""
    m = _MEDIA_TYPE_FULLMATCH(value)
    if m is None:
        raise _bad("media type")
    return f"{m.group(1)}/{m.group(2)}".lower()


def parse_media_range(value: str) -> str:
    """``accept-range`` -> ``"type/subtype"`` lowercased (``*`` wildcards kept)."""
    m = _ACCEPT_RANGE_FULLMATCH(value)
    if m is None:
        raise _bad("media range")
    return f"{m.group(1)}/{m.group(2)}".lower()


_OPTION_TAGS_FULLMATCH: Final = _abnf.OPTION_TAGS_RE.fullmatch


def parse_option_tags(raw_values: list[str], *, allow_empty: bool) -> frozenset[str]:
    """Header lines of ``option-tag *(COMMA option-tag)`` -> lowercased set.

    ``allow_empty``: an empty line is allowed (Supported, RFC 3261 §20.37).
    """
    tags: set[str] = set()
    for raw in raw_values:
        if not raw:
            if not allow_empty:
                raise _bad("option tag list")
            continue
        if _OPTION_TAGS_FULLMATCH(raw) is None:
            raise _bad("option tag list")
        lowered = raw.lower()
        if " " in lowered or "\t" in lowered:
            tags.update(tag.strip(" \t") for tag in lowered.split(","))
        else:
            tags.update(lowered.split(","))
    return frozenset(tags)

"""Comma-separated header values (RFC 3261 §7.3.1): where one list element ends."""

from __future__ import annotations

import re
from typing import Final

from . import _abnf
from ._errors import RemoteProtocolError

__all__ = ["split_list"]


def _bad(what: str) -> RemoteProtocolError:
    return RemoteProtocolError(400, f"Invalid {what}")


_LIST_SPECIAL_SEARCH: Final = re.compile(r'[",<]').search
_QUOTED_MATCH: Final = re.compile(_abnf.QUOTED).match


def split_list(value: str) -> list[str]:
    """Split a header value at the commas that separate list elements.

    Commas inside a quoted-string or inside ``<...>`` do not separate.
    Elements are stripped of SP/HTAB; empty elements are kept (as ``""``) so
    that the grammar checks see and reject them.
    """
    if '"' not in value and "<" not in value:
        if "," not in value:
            return [value]
        return [item.strip(" \t") for item in value.split(",")]
    items: list[str] = []
    start = pos = 0
    while (m := _LIST_SPECIAL_SEARCH(value, pos)) is not None:
        at = m.start()
        char = value[at]
        if char == ",":
            items.append(value[start:at].strip(" \t"))
            start = pos = at + 1
        elif char == '"':
            quoted = _QUOTED_MATCH(value, at)
            if quoted is None:
                raise _bad("quoted-string")
            pos = quoted.end()
        else:
            end = value.find(">", at)
            if end < 0:
                raise _bad("name-addr: unclosed angle bracket")
            pos = end + 1
    items.append(value[start:].strip(" \t"))
    return items

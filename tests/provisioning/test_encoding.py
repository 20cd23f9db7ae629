"""Content negotiation of the 6971 app (RFC 9110 §12.5.3, §13.1.2)."""

from __future__ import annotations

import pytest

from sipoauth.provisioning._app import _accepts_gzip, _matches


@pytest.mark.parametrize(
    ("header", "gzip"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("gzip;q=0", False),
        ("gzip; q=0.000", False),
        ("identity", False),
        ("", False),
        ("*;q=0, gzip", True),  # the explicit entry wins over the wildcard
        ("gzip;q=0, *", False),
        ("gzip;q=bogus", False),
        ("br, deflate", False),
    ],
)
def test_accept_encoding(header: str, gzip: bool) -> None:
    assert _accepts_gzip(header) is gzip


@pytest.mark.parametrize(
    ("header", "match"),
    [
        ('"abc"', True),
        ('W/"abc"', True),  # weak comparison for If-None-Match
        ('"x", "abc"', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
    ],
)
def test_if_none_match(header: str, match: bool) -> None:
    assert _matches(header, '"abc"') is match

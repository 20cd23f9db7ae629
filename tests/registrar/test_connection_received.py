"""Responses on a connection record the peer's address in the top Via (RFC 3261
§18.2.1 received, RFC 3581 §4 rport), on every path: first request, re-REGISTERs
parsed by the connection's cache, challenges, refusals and retransmissions."""

from __future__ import annotations

from sipoauth.oauth import KeyRing
from sipoauth.registrar import DirectorySnapshot, Flow, SipConnection, SipCore
from sipoauth.sip import Response, ServerTransactions, parse_message

from ._support import NOW, Minter, register_bytes
from .test_connection import make_registrar

SOURCE = ("203.0.113.9", 41234)
STAMPED = "SIP/2.0/TLS 192.0.2.10:50000;branch={branch};rport=41234;received=203.0.113.9"


def connection(keys: KeyRing, directory: DirectorySnapshot) -> SipConnection:
    core = SipCore(make_registrar(keys, directory), ServerTransactions())
    return SipConnection(core, Flow("f1", remote="203.0.113.9:41234", source=SOURCE))


def answer(conn: SipConnection, data: bytes, now: float) -> tuple[bytes, Response]:
    [raw] = conn.receive_data(data, now).data
    message = parse_message(raw)
    assert isinstance(message, Response)
    return raw, message


def test_rfc3581_s4_every_response_on_a_connection_records_the_source(
    keys: KeyRing, directory: DirectorySnapshot, mint: Minter
) -> None:
    conn = connection(keys, directory)
    token = mint()
    _, challenge = answer(conn, register_bytes(branch="z9hG4bK-c"), NOW)
    assert challenge.status == 401
    assert challenge.headers["via"] == [STAMPED.format(branch="z9hG4bK-c")]
    # Re-REGISTERs repeat the layout: the connection's parse cache takes them.
    for cseq in range(2, 7):
        branch = f"z9hG4bK-{cseq}"
        data = register_bytes(token=token, cseq=cseq, branch=branch)
        raw, ok = answer(conn, data, NOW + cseq)
        assert ok.status == 200
        assert ok.headers["via"] == [STAMPED.format(branch=branch)]
    assert len(conn._cache) >= 1  # the stamping does not keep the cache from learning
    # A retransmission gets the very same bytes (RFC 3261 §17.2.2).
    again, _ = answer(conn, data, NOW + 7)
    assert again == raw
    # A refusal after validation (a line that is not on the device: 403 or 404).
    _, refused = answer(conn, register_bytes(token=token, line="9999", cseq=9), NOW + 8)
    assert refused.status in (403, 404)
    assert refused.headers["via"] == [STAMPED.format(branch="z9hG4bK-1")]


def test_rfc3261_s18_2_1_a_400_for_a_broken_header_records_the_source(
    keys: KeyRing, directory: DirectorySnapshot
) -> None:
    conn = connection(keys, directory)
    _, bad = answer(conn, register_bytes(extra=["Expires: soon"], expires=None), NOW)
    assert bad.status == 400
    assert bad.headers["via"] == [STAMPED.format(branch="z9hG4bK-1")]


def test_rfc3261_s18_2_1_the_400_before_a_framing_close_records_the_source(
    keys: KeyRing, directory: DirectorySnapshot
) -> None:
    """Two different Content-Lengths: the stream cannot be framed any more; the 400
    sent before closing still records the source in its top Via."""
    conn = connection(keys, directory)
    data = register_bytes(extra=["Content-Length: 7"])  # besides the Content-Length: 0
    out = conn.receive_data(data, NOW)
    assert out.close
    [raw] = out.data
    bad = parse_message(raw)
    assert isinstance(bad, Response) and bad.status == 400
    assert bad.headers["via"] == [STAMPED.format(branch="z9hG4bK-1")]

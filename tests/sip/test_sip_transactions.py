"""Server transactions: RFC 3261 §17.2.2 (non-INVITE) and §17.2.3 (matching)."""

from __future__ import annotations

import pytest
from sip_torture import load

from sipoauth.sip import (
    PENDING,
    LocalProtocolError,
    Request,
    ServerTransactions,
    build_response,
    parse_message,
)


def register(
    branch: str = "z9hG4bKabc",
    sent_by: str = "192.0.2.1:5061",
    method: str = "REGISTER",
    cseq: int = 1,
    call_id: str = "c",
) -> Request:
    data = (
        f"{method} sip:example.com SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS {sent_by};branch={branch}\r\n"
        "From: <sip:a@example.com>;tag=f\r\nTo: <sip:a@example.com>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\n"
        "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    m = parse_message(data)
    assert isinstance(m, Request)
    return m


def test_retransmission_gets_identical_bytes() -> None:
    """RFC 3261 §17.2.2: in Completed, a retransmission gets the final response again."""
    table = ServerTransactions()
    first = register()
    key = table.key(first)
    assert table.lookup(key, 0.0) is None
    table.start(key, 0.0)
    assert table.lookup(table.key(register()), 0.1) is PENDING  # absorbed while processing
    response = build_response(first, 200, to_tag="t")
    table.complete(key, response, 0.2)
    again = table.lookup(table.key(register()), 5.0)
    assert again == response and again is response


def test_key_parts_with_magic_cookie() -> None:
    """RFC 3261 §17.2.3: branch, sent-by and method (ACK matches INVITE)."""
    key = ServerTransactions.key
    base = key(register())
    assert key(register(branch="z9hG4bKother")) != base
    assert key(register(branch="z9hG4bKABC")) != base  # branch compared exactly
    assert key(register(sent_by="192.0.2.1:5062")) != base
    assert key(register(sent_by="192.0.2.1:5061", cseq=2)) == base  # CSeq not part of it
    assert key(register(method="OPTIONS")) != base
    assert key(register(method="ACK")) == key(register(method="INVITE"))


def test_same_branch_other_call_id_is_not_a_retransmission() -> None:
    """RFC 3261 §8.1.1.7 makes branches unique per UA; a reused (or guessed)
    branch with another Call-ID is a new request, never answered with the
    cached response of someone else's REGISTER."""
    table = ServerTransactions()
    first = register()
    key = table.key(first)
    table.start(key, 0.0)
    table.complete(key, build_response(first, 200, to_tag="t"), 0.1)
    other = register(call_id="another-device")
    assert table.key(other) != key
    assert table.lookup(table.key(other), 1.0) is None


def test_rfc2543_fallback() -> None:
    """RFC 3261 §17.2.3: no magic cookie -> Request-URI, tags, Call-ID, CSeq, top Via."""
    old = register(branch="1234")
    key = ServerTransactions.key(old)
    assert key == ("rfc2543", "sip:example.com", None, "f", "c", 1, "REGISTER",
                   "SIP/2.0/TLS 192.0.2.1:5061;branch=1234")  # fmt: skip
    assert ServerTransactions.key(register(branch="1234", cseq=2)) != key
    badbranch = parse_message(load("badbranch"))  # RFC 4475 §3.2.1
    assert isinstance(badbranch, Request)
    assert ServerTransactions.key(badbranch)[0] == "rfc2543"  # type: ignore[index]


def test_linger_and_expiry() -> None:
    """Entries stay `linger` seconds after their last change (even on TLS), then go."""
    table = ServerTransactions(linger=32.0)
    key = table.key(register())
    assert table.next_timer() is None
    table.start(key, 10.0)
    assert table.next_timer() == 42.0
    table.complete(key, b"resp", 11.0)
    assert table.next_timer() == 43.0
    table.expire(42.9)
    assert table.lookup(key, 42.9) == b"resp"
    table.expire(43.0)
    assert len(table) == 0 and table.next_timer() is None
    assert table.lookup(key, 43.0) is None


def test_lookup_ignores_a_stale_entry_before_expire_runs() -> None:
    table = ServerTransactions(linger=1.0)
    key = table.key(register())
    table.complete(key, b"r", 0.0)
    assert table.lookup(key, 1.0) is None and len(table) == 0
    table.start(key, 1.0)  # a new transaction with the same key is fine now


def test_start_twice_is_a_local_error() -> None:
    table = ServerTransactions()
    key = table.key(register())
    table.start(key, 0.0)
    with pytest.raises(LocalProtocolError):
        table.start(key, 0.5)


def test_expiry_keeps_deadline_order() -> None:
    table = ServerTransactions(linger=10.0)
    keys = [table.key(register(branch=f"z9hG4bK{i}")) for i in range(3)]
    table.start(keys[0], 0.0)
    table.start(keys[1], 1.0)
    table.start(keys[2], 2.0)
    table.complete(keys[0], b"0", 3.0)  # now expires last
    table.expire(11.5)
    assert table.lookup(keys[0], 11.5) == b"0"
    assert table.lookup(keys[1], 11.5) is None
    assert table.lookup(keys[2], 11.5) is PENDING
    assert table.next_timer() == 12.0


def test_max_entries_evicts_oldest_first() -> None:
    """Memory stays bounded under a flood of distinct requests."""
    table = ServerTransactions(max_entries=100)
    keys = [table.key(register(branch=f"z9hG4bK{i}")) for i in range(250)]
    for i, key in enumerate(keys):
        table.complete(key, str(i).encode(), float(i) / 1000)
    assert len(table) == 100
    assert table.lookup(keys[149], 1.0) is None
    assert table.lookup(keys[150], 1.0) == b"150"
    assert table.lookup(keys[249], 1.0) == b"249"


def test_bad_settings() -> None:
    with pytest.raises(LocalProtocolError):
        ServerTransactions(linger=0)
    with pytest.raises(LocalProtocolError):
        ServerTransactions(max_entries=0)

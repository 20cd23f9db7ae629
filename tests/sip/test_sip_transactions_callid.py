"""Server transactions keep one completed transaction per Call-ID (RFC 3261 §10.2)."""

from __future__ import annotations

from sipoauth.sip import ServerTransactions


def test_completed_transaction_superseded_by_same_call_id() -> None:
    """RFC 3261 §10.2: no new REGISTER on a Call-ID before the last one completed, so
    the older completed transaction can be forgotten: memory is one entry per Call-ID."""
    table = ServerTransactions()
    for n in range(1000):
        key = (f"z9hG4bK-{n}", "192.0.2.1", 5061, "REGISTER")
        assert table.lookup(key, float(n)) is None
        table.start(key, float(n))
        table.complete(key, b"SIP/2.0 200 OK\r\n\r\n", float(n), call_id="device-1")
    assert len(table) == 1
    # The latest is still answered from the table (a retransmission).
    assert table.lookup(("z9hG4bK-999", "192.0.2.1", 5061, "REGISTER"), 999.5) is not None
    assert table.lookup(("z9hG4bK-998", "192.0.2.1", 5061, "REGISTER"), 999.5) is None


def test_other_call_ids_are_kept_and_indexes_do_not_leak() -> None:
    table = ServerTransactions(linger=10, max_entries=50)
    for n in range(200):
        key = (f"z9hG4bK-{n}", "h", None, "REGISTER")
        table.start(key, 0.0)
        table.complete(key, b"x", 0.0, call_id=f"c{n}")
    assert len(table) == 50  # bounded: oldest evicted
    assert len(table._by_call_id) == 50
    table.expire(100.0)
    assert len(table) == 0
    assert not table._by_call_id

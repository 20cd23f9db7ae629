"""Binding expiry (RFC 3261 §10.3: bindings expire on time) with the lazily updated heap."""

from __future__ import annotations

from sipoauth.registrar import Binding, BindingTable


def _binding(instance: str, expires_at: float, aor: str = "sip:100@example.com") -> Binding:
    return Binding(aor, instance, f"<sip:{instance}>", "SEP1", expires_at, "c", 1, "f1")


def test_refreshes_do_not_grow_the_heap_and_the_binding_expires_at_its_latest_time() -> None:
    table = BindingTable()
    for n in range(100):  # a device re-registering often
        table.put(_binding("a", 100.0 + n))
    assert len(table._heap) == 1
    assert table.expire(150.0) == []  # the first entry came due; the binding was refreshed
    assert len(table) == 1
    assert [b.instance for b in table.expire(199.0)] == ["a"]
    assert len(table) == 0 and not table._heap


def test_an_earlier_expiry_is_honoured() -> None:
    table = BindingTable()
    table.put(_binding("a", 300.0))
    table.put(_binding("a", 120.0))  # shortened by a later REGISTER
    assert table.next_expiry() == 120.0
    assert [b.expires_at for b in table.expire(120.0)] == [120.0]
    assert table.expire(400.0) == []


def test_removed_and_added_again_keeps_one_live_binding_and_a_bounded_heap() -> None:
    table = BindingTable()
    for n in range(1000):
        table.put(_binding("a", 100.0 + n))
        table.remove(("sip:100@example.com", "a"))
        table.put(_binding("a", 100.0 + n))
        table.expire(float(n))  # nothing due yet; the churn leaves stale entries
    assert len(table) == 1
    assert len(table._heap) <= 4 * 64 + 1
    assert [b.expires_at for b in table.expire(1100.0)] == [1099.0]
    assert not table._heap

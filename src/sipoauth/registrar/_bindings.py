"""Bindings: address-of-record -> contacts, with expiry (RFC 3261 §10.3, RFC 5626 §6).

Theory of operation: a binding is keyed by (AOR, instance), where the instance is
the Contact's `+sip.instance` (RFC 5626 §4.1) or, without one, the Contact URI
itself. A REGISTER computes all its changes first (`stage`), and they are
applied together (`apply`) or not at all, so a failure leaves the table as it
was (RFC 3261 §10.3 step 7-8).

Expiry uses a heap of (deadline, AOR, instance) with lazy updates. Invariant:
every binding in the table has a heap entry whose deadline is no later than
its `expires_at`. A refresh that pushes the expiry later (the usual re-REGISTER)
therefore touches the heap not at all; only a binding that is new or whose
expiry moved earlier gets an entry. `expire` pops the due entries: a binding
that is gone is skipped, one that is due is removed, one refreshed since is
pushed again at its current expiry. So the heap holds about one entry per
binding (not one per REGISTER), a refresh costs O(1), and nothing is scanned.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass

BindingKey = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of an address-of-record."""

    aor: str
    """Canonical address-of-record, `sip:user@host`."""
    instance: str
    """`+sip.instance` value, or the contact URI when the device sent none."""
    contact: str
    """The Contact header value to list in 200 responses (name-addr with its parameters,
    without `expires`)."""
    device: str
    """Device name the binding belongs to."""
    expires_at: float
    call_id: str
    cseq: int
    flow: str
    """Identifier of the connection (flow) the REGISTER arrived on (RFC 5626 §5.2)."""
    path: tuple[str, ...] = ()
    """Path header values recorded for requests towards the device (RFC 3327 §5.3)."""
    sid: str = ""
    """Grant id of the token that registered it, so a revoked grant drops it."""
    via_edge: bool = False
    """Registered through the edge proxy (SIP MRA port)."""

    @property
    def key(self) -> BindingKey:
        return (self.aor, self.instance)


_new_object = object.__new__
_BINDING_SETTERS = tuple(
    Binding.__dict__[name].__set__
    for name in (
        "aor", "instance", "contact", "device", "expires_at", "call_id", "cseq", "flow", "path",
        "sid", "via_edge",
    )
)  # fmt: skip


def new_binding(
    aor: str,
    instance: str,
    contact: str,
    device: str,
    expires_at: float,
    call_id: str,
    cseq: int,
    flow: str,
    path: tuple[str, ...],
    sid: str,
    via_edge: bool,
) -> Binding:
    """``Binding(...)`` (all fields, in order), built about twice as quickly.

    A frozen dataclass's ``__init__`` calls ``object.__setattr__`` per field;
    this fills the slots directly. The registrar builds one per REGISTER.
    """
    binding: Binding = _new_object(Binding)
    (
        set_aor, set_instance, set_contact, set_device, set_expires_at, set_call_id, set_cseq,
        set_flow, set_path, set_sid, set_via_edge,
    ) = _BINDING_SETTERS  # fmt: skip
    set_aor(binding, aor)
    set_instance(binding, instance)
    set_contact(binding, contact)
    set_device(binding, device)
    set_expires_at(binding, expires_at)
    set_call_id(binding, call_id)
    set_cseq(binding, cseq)
    set_flow(binding, flow)
    set_path(binding, path)
    set_sid(binding, sid)
    set_via_edge(binding, via_edge)
    return binding


@dataclass(frozen=True, slots=True)
class BindingChange:
    """A change to mirror to the store (write-behind): `binding` is None when removed."""

    key: BindingKey
    binding: Binding | None


_SET_CHANGE_KEY, _SET_CHANGE_BINDING = (
    BindingChange.__dict__[name].__set__ for name in ("key", "binding")
)


def new_change(key: BindingKey, binding: Binding | None) -> BindingChange:
    """``BindingChange(key, binding)``, built without the frozen ``__init__`` (as
    ``new_binding``); the registrar builds one per REGISTER."""
    change: BindingChange = _new_object(BindingChange)
    _SET_CHANGE_KEY(change, key)
    _SET_CHANGE_BINDING(change, binding)
    return change


class BindingTable:
    """All bindings held by this node, in memory."""

    __slots__ = ("_by_aor", "_by_flow", "_by_sid", "_count", "_heap")

    def __init__(self) -> None:
        self._by_aor: dict[str, dict[str, Binding]] = {}
        self._by_sid: dict[str, set[BindingKey]] = {}
        self._by_flow: dict[str, set[BindingKey]] = {}
        self._heap: list[tuple[float, str, str]] = []
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Binding]:
        for per_aor in self._by_aor.values():
            yield from per_aor.values()

    def lookup(self, aor: str) -> dict[str, Binding]:
        """The bindings of `aor` by instance (a live view: do not modify)."""
        return self._by_aor.get(aor) or {}

    def get(self, key: BindingKey) -> Binding | None:
        per_aor = self._by_aor.get(key[0])
        return per_aor.get(key[1]) if per_aor else None

    def keys_for_sid(self, sid: str) -> list[BindingKey]:
        """Keys of bindings registered with grant `sid`."""
        return list(self._by_sid.get(sid, ()))

    def keys_for_flow(self, flow: str) -> list[BindingKey]:
        """Keys of bindings that arrived over `flow`."""
        return list(self._by_flow.get(flow, ()))

    def put(self, binding: Binding) -> None:
        """Insert or replace one binding."""
        aor, instance = binding.aor, binding.instance
        per_aor = self._by_aor.get(aor)
        if per_aor is None:
            per_aor = self._by_aor[aor] = {}
        old = per_aor.get(instance)
        per_aor[instance] = binding
        if old is None:
            self._count += 1
            self._index(binding)
        else:
            if old.sid != binding.sid or old.flow != binding.flow:
                self._unindex(old)
                self._index(binding)
            # else: a refresh on the same flow with the same grant, already indexed
            if binding.expires_at >= old.expires_at:
                return  # the entry that was due no later than `old` still is (see above)
        heapq.heappush(self._heap, (binding.expires_at, aor, instance))

    def _index(self, binding: Binding) -> None:
        key = binding.key
        if binding.sid:
            keys = self._by_sid.get(binding.sid)
            if keys is None:
                self._by_sid[binding.sid] = {key}
            else:
                keys.add(key)
        keys = self._by_flow.get(binding.flow)
        if keys is None:
            self._by_flow[binding.flow] = {key}
        else:
            keys.add(key)

    def remove(self, key: BindingKey) -> Binding | None:
        """Remove one binding; returns it, or None if there was none."""
        per_aor = self._by_aor.get(key[0])
        if not per_aor:
            return None
        old = per_aor.pop(key[1], None)
        if old is None:
            return None
        if not per_aor:
            del self._by_aor[key[0]]
        self._count -= 1
        self._unindex(old)
        return old

    def _unindex(self, old: Binding) -> None:
        if old.sid:
            keys = self._by_sid.get(old.sid)
            if keys is not None:
                keys.discard(old.key)
                if not keys:
                    del self._by_sid[old.sid]
        keys = self._by_flow.get(old.flow)
        if keys is not None:
            keys.discard(old.key)
            if not keys:
                del self._by_flow[old.flow]

    def expire(self, now: float) -> list[Binding]:
        """Remove and return every binding whose expiry has passed."""
        gone: list[Binding] = []
        heap = self._heap
        heappop, heappush = heapq.heappop, heapq.heappush
        while heap and heap[0][0] <= now:
            _, aor, instance = heappop(heap)
            current = self.get((aor, instance))
            if current is None:
                continue  # removed since: a stale entry
            if current.expires_at <= now:
                self.remove(current.key)
                gone.append(current)
            else:  # refreshed since: due again at its current expiry
                heappush(heap, (current.expires_at, aor, instance))
        # A binding removed and added again leaves an extra entry behind: keep the
        # heap from growing without bound under such churn.
        if len(heap) > 4 * max(64, len(self)):
            self._rebuild_heap()
        return gone

    def _rebuild_heap(self) -> None:
        self._heap = [(b.expires_at, b.aor, b.instance) for b in self]
        heapq.heapify(self._heap)

    def next_expiry(self) -> float | None:
        """When `expire` next has work to do (may be early: a refreshed binding's
        entry is still due at its earlier expiry)."""
        return self._heap[0][0] if self._heap else None

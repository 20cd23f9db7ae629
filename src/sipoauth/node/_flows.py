"""The flow table: which live connection leads to a device (RFC 5626 §5.2, RFC 3327).

Every connection that delivered a REGISTER is a flow. The node sends requests
(NOTIFY on reset, later calls) to a device down the flow its binding arrived
on: directly for devices on the SIP Phone OAuth Port, through the edge's
connection for MRA devices, with the recorded Path as Route (RFC 3327 §5.4).
A lost connection marks the flow dead; the binding itself lives until it
expires (RFC 5626 §4.2: the UA will re-register on a new flow).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sipoauth.registrar import Binding
from sipoauth.sip import serialize_request


class FlowWriter(Protocol):
    """The part of a connection the flow table needs."""

    def send(self, data: bytes) -> None:
        """Queue bytes for the peer."""
        ...

    def close(self) -> None:
        """Close the connection politely."""
        ...


class FlowTable:
    """Live flows of this node, by flow id."""

    __slots__ = ("_flows",)

    def __init__(self) -> None:
        self._flows: dict[str, FlowWriter] = {}

    def __len__(self) -> int:
        return len(self._flows)

    def __contains__(self, flow_id: object) -> bool:
        return flow_id in self._flows

    def add(self, flow_id: str, writer: FlowWriter) -> None:
        self._flows[flow_id] = writer

    def remove(self, flow_id: str) -> None:
        self._flows.pop(flow_id, None)

    def close(self, flow_id: str) -> bool:
        """Close a flow's connection; False when it is not live."""
        writer = self._flows.get(flow_id)
        if writer is None:
            return False
        writer.close()
        return True

    def send_to_binding(
        self,
        binding: Binding,
        method: str,
        headers: Sequence[tuple[str, str]],
        body: bytes = b"",
    ) -> bool:
        """Send a request to the device of `binding`; False when its flow is dead.

        Through the edge, the request carries the recorded Path as Route headers,
        in order, so the edge can relay it to the device (RFC 3327 §5.4).
        """
        writer = self._flows.get(binding.flow)
        if writer is None:
            return False
        route = [("Route", value) for value in binding.path]
        uri = _contact_uri(binding.contact)
        writer.send(serialize_request(method, uri, [*route, *headers], body))
        return True


def _contact_uri(contact: str) -> str:
    """The URI inside a stored `<uri>;params` Contact value."""
    start = contact.find("<")
    end = contact.find(">", start + 1)
    return contact[start + 1 : end] if start >= 0 and end > start else contact

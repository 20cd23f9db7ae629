"""The registrations view (issue 4 point 11): device, line, node, port, edge or
not, contact, expiry; expired mirror rows left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sipoauth import admin
from sipoauth.admin._registrations import line_of
from sipoauth.store import Node, Registration, Store

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
PHONE = "SEP001122334455"
EDGE_PATH = ("<sip:expc.example.com:5061;transport=tls;lr>",)


def _binding(
    device: str,
    aor: str,
    node: str,
    *,
    expires_in: float,
    path: tuple[str, ...] = (),
    instance: str = "<urn:uuid:1>",
) -> Registration:
    return Registration(
        aor=aor,
        instance=instance,
        device_name=device,
        contact=f"<sip:{device}@198.51.100.7:5061;transport=tls>",
        node_name=node,
        transport="TLS",
        path=path,
        expires_at=NOW + timedelta(seconds=expires_in),
        call_id=f"call-{device}-{aor}",
        cseq=1,
    )


@pytest.fixture
async def mirrored(store: Store) -> Store:
    await store.nodes.upsert(Node(name="pub", host="pub.example.com", oauth_port=6090))
    await store.nodes.upsert(
        Node(name="sub1", host="sub1.example.com", role="subscriber", mra_port=6091)
    )
    await store.registrations.upsert_many(
        [
            _binding(PHONE, "sip:1000@example.com", "pub", expires_in=119.2),
            _binding(PHONE, "sips:1001@example.com;user=phone", "pub", expires_in=60),
            _binding("CSFALICE", "sip:2000@example.com", "sub1", expires_in=90, path=EDGE_PATH),
            _binding("CSFBOB", "sip:3000@example.com", "gone", expires_in=30),
            _binding("CSFOLD", "sip:4000@example.com", "pub", expires_in=0),
            _binding("CSFOLDER", "sip:5000@example.com", "pub", expires_in=-5),
        ]
    )
    return store


async def test_every_live_registration(mirrored: Store) -> None:
    views = await admin.list_registrations(mirrored, now=NOW)
    assert [(v.device, v.line, v.node, v.port, v.via_edge, v.seconds_left) for v in views] == [
        ("CSFALICE", "2000", "sub1", 6091, True, 90),  # the node's own MRA port
        ("CSFBOB", "3000", "gone", 5090, False, 30),  # unknown node: the default port
        (PHONE, "1000", "pub", 6090, False, 120),  # rounded up
        (PHONE, "1001", "pub", 6090, False, 60),
    ]
    alice = views[0]
    assert alice.contact == "<sip:CSFALICE@198.51.100.7:5061;transport=tls>"
    assert alice.expires_at == NOW + timedelta(seconds=90)
    assert alice.aor == "sip:2000@example.com"


async def test_filtered_by_device_and_node(mirrored: Store) -> None:
    by_device = await admin.list_registrations(mirrored, device=PHONE.lower(), now=NOW)
    assert [v.line for v in by_device] == ["1000", "1001"]
    by_node = await admin.list_registrations(mirrored, node="sub1", now=NOW)
    assert [v.device for v in by_node] == ["CSFALICE"]
    both = await admin.list_registrations(mirrored, device=PHONE, node="sub1", now=NOW)
    assert both == []
    later = await admin.list_registrations(mirrored, now=NOW + timedelta(seconds=100))
    assert [v.line for v in later] == ["1000"]


@pytest.mark.parametrize(
    ("aor", "line"),
    [
        ("sip:1000@example.com", "1000"),
        ("sips:+4930123@example.com;user=phone", "+4930123"),
        ("<sip:2000;ext=1@example.com>", "2000"),
        ("sip:example.com", ""),
        ("1000@example.com", "1000"),
    ],
)
def test_line_of(aor: str, line: str) -> None:
    assert line_of(aor) == line

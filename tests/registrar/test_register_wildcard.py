"""Requests whose Contacts name no device: `Contact: *` (RFC 3261 §10.2.2, §10.3
step 6) and queries (§10.2.3), for desk phones and soft clients; and what the 200
lists (§10.3 step 8)."""

from __future__ import annotations

from sipoauth.registrar import Registrar

from ._support import NOW, PHONE, SOFT, Minter
from .test_register import Req, answer

SOFT_INSTANCE = "<urn:uuid:soft-1>"


def test_rfc3261_s10_2_2_soft_client_removes_its_bindings_with_star(
    registrar: Registrar, req: Req, mint: Minter
) -> None:
    """A soft client's token names its user, not the device: `*` with the token
    that registered finds the device through the grant's bindings."""
    token = mint("jdoe", sid="grant-soft")
    ok = answer(registrar, req(token=token, device=SOFT, instance=SOFT_INSTANCE, call_id="s1"))
    assert ok.status == 200
    gone = answer(
        registrar,
        req(token=token, contacts=["*"], expires=0, call_id="s1", cseq=2),
        now=NOW + 1,
    )
    assert gone.status == 200
    assert gone.get("warning") is None
    assert [b.device for b in registrar.table] == []


def test_rfc3261_s10_2_2_soft_client_star_spares_other_devices_on_the_line(
    registrar: Registrar, req: Req, mint: Minter
) -> None:
    """Line 1001 is shared by a desk phone and the soft client: the soft client's
    `*` removes its own binding only."""
    assert answer(registrar, req(token=mint(PHONE), call_id="p1")).status == 200
    token = mint("jdoe", sid="grant-soft")
    answer(registrar, req(token=token, device=SOFT, instance=SOFT_INSTANCE, call_id="s1"))
    gone = answer(registrar, req(token=token, contacts=["*"], expires=0, call_id="s1", cseq=2))
    assert gone.status == 200
    assert [b.device for b in registrar.table] == [PHONE]


def test_rfc3261_s10_2_3_soft_client_queries_its_line(
    registrar: Registrar, req: Req, mint: Minter
) -> None:
    """A query (no Contact) with a new grant of the user: the user's device carrying
    the line is the one asking; the 200 lists every binding of the AOR."""
    answer(
        registrar,
        req(token=mint("jdoe"), device=SOFT, instance=SOFT_INSTANCE, call_id="s1"),
    )
    listed = answer(registrar, req(token=mint("jdoe"), contacts=[], call_id="q1"))
    assert listed.status == 200
    assert len(listed.values("contact")) == 1


def test_star_from_a_user_with_no_device_on_the_line_is_refused(
    registrar: Registrar, req: Req, mint: Minter
) -> None:
    refused = answer(registrar, req(token=mint("nobody"), contacts=["*"], expires=0))
    assert refused.status == 403


def test_rfc3261_s10_3_step8_expired_unswept_binding_is_not_listed(
    registrar: Registrar, req: Req, mint: Minter
) -> None:
    """A binding whose time is up is gone, even before the sweep removes it: it is
    not listed (`expires=0` would tell the UA it was just removed), and one with
    less than half a second left is listed with expires=1, not 0."""
    token = mint(PHONE)
    answer(registrar, req(token=token, expires=60, call_id="e1", instance="<urn:uuid:e1>"))
    answer(registrar, req(token=token, expires=120, call_id="e2", instance="<urn:uuid:e2>"))
    listed = answer(registrar, req(token=token, contacts=[], call_id="q"), now=NOW + 60.2)
    contacts = listed.values("contact")
    assert len(contacts) == 1 and "e2" in contacts[0]
    almost = answer(registrar, req(token=token, contacts=[], call_id="q", cseq=2), now=NOW + 119.7)
    assert [c.rsplit("expires=", 1)[1] for c in almost.values("contact")] == ["1"]


def test_rfc3261_s10_3_step7_contact_without_instance_matches_by_uri_comparison(
    registrar: Registrar, req: Req, mint: Minter
) -> None:
    """Step 7 searches the bindings "using the URI comparison rules" (§19.1.4): a
    Contact without +sip.instance that differs only in parameter order and the case
    of a transport value is the same binding, refreshed and then removed."""
    token = mint(PHONE)
    first = "sip:1001@192.0.2.10:50000;transport=tls;ob"
    again = "sip:1001@192.0.2.10:50000;ob;transport=TLS"
    answer(registrar, req(token=token, instance=None, contact_uri=first, call_id="u1"))
    refreshed = answer(
        registrar, req(token=token, instance=None, contact_uri=again, call_id="u1", cseq=2)
    )
    assert refreshed.status == 200
    assert len(refreshed.values("contact")) == 1
    assert len(registrar.table) == 1
    gone = answer(
        registrar,
        req(token=token, instance=None, contact_uri=first, call_id="u1", cseq=3, expires=0),
    )
    assert gone.status == 200
    assert len(registrar.table) == 0


def test_rfc3261_s19_1_4_a_different_contact_uri_is_another_binding(
    registrar: Registrar, req: Req, mint: Minter
) -> None:
    token = mint(PHONE)
    answer(registrar, req(token=token, instance=None, contact_uri="sip:1001@192.0.2.10:50000"))
    answer(
        registrar,
        req(token=token, instance=None, contact_uri="sip:1001@192.0.2.11:50000", cseq=2),
    )
    assert len(registrar.table) == 2

"""Revocation reaches the device at once (DESIGN "Tokens"): its bindings are
dropped and the connection they were on is closed, so the device re-registers
and is told why (401/407 invalid_token, "token revoked"); a connection that
still carries another grant's binding stays open."""

from __future__ import annotations

import ssl
import uuid

import pytest

from sipoauth.node import Node
from sipoauth.sim import PhoneIdentity, register_request

from ._support import PHONE, PHONE2, Prepared, port_of
from .test_services import sip_client


async def test_revoked_grant_closes_its_connection(prepared: Prepared, node: Node) -> None:
    port = port_of(node, "TLS")
    revoked, kept = await sip_client(prepared, port), await sip_client(prepared, port)
    try:
        for client, device, line, sid in (
            (revoked, PHONE, "1001", "sid-revoked"),
            (kept, PHONE2, "2001", "sid-kept"),
        ):
            ident = PhoneIdentity(device=device, line=line, domain="localhost")
            request = register_request(
                ident,
                call_id=str(uuid.uuid4()),
                cseq=1,
                branch=client.next_branch(),
                token=prepared.mint(device, sid=sid),
            )
            assert (await client.request(request)).status == 200
        assert node.revoke_grant("sid-revoked") == 1
        with pytest.raises((ConnectionError, ssl.SSLError, EOFError)):
            await revoked.receive(timeout=5)
        # The other device's connection still works: a re-REGISTER answers 200.
        ident = PhoneIdentity(device=PHONE2, line="2001", domain="localhost")
        again = register_request(
            ident,
            call_id=str(uuid.uuid4()),
            cseq=1,
            branch=kept.next_branch(),
            token=prepared.mint(PHONE2, sid="sid-kept"),
        )
        assert (await kept.request(again)).status == 200
    finally:
        await revoked.close()
        await kept.close()

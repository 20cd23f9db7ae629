"""The issuer follows the publisher's web port (RFC 8414 §3), in a running node:
the authorization server and the registrar's verifier take the new one, tokens
naming the old one are refused, the configuration files name the new endpoints."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sipoauth import admin

from ._support import NODE, port_of, prepare, start_node
from .test_services import registers_with


async def test_new_web_port_new_issuer(tmp_path: Path) -> None:
    prepared = await prepare(tmp_path)
    node = await start_node(prepared)
    try:
        old = prepared.tokens.issuer
        server = await admin.get_server(node.store, NODE)
        await admin.set_server_ports(node.store, NODE, web_port=server.web_port + 1)
        new = f"https://{server.host}:{server.web_port + 1}"
        token_url = f"{new}/oauth/token".encode()
        for _ in range(400):  # the node hears the change (SQLite: a poll)
            if token_url in node.catalog.default_file.body:  # the last step of a load
                break
            await asyncio.sleep(0.025)
        assert node.authz is not None and node.authz.endpoints.issuer == new
        assert node.registrar is not None and node.registrar.verifier.issuer == new
        assert node.catalog.default_file.body.count(token_url) == 1
        sip = port_of(node, "TLS")
        assert await registers_with(prepared, sip, prepared.mint(issuer=new)) == 200
        assert await registers_with(prepared, sip, prepared.mint(issuer=old)) in (401, 407)
    finally:
        await node.close()

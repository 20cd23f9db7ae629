"""Property: a token obtained for one device or user registers nothing else.

docs/oauth.md "Tokens": the registrar accepts a soft client's token only for a
soft-client device *owned by* its ``sub``, and a desk phone's token only for
the phone it names — a user's token never registers that user's desk phone.
Tokens come from the real endpoints (activation codes for desk phones, the
authorization code flow for soft clients), minted once per test; Hypothesis
then picks (token, device, line) and sends REGISTERs to the running node,
directly or relayed by the edge, in either credential form. Configuration
files (issue 5) are not served yet, so registration is the resource checked.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx
import pytest
from argon2 import PasswordHasher
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sipoauth import admin
from sipoauth.node import Node
from sipoauth.sim import PhoneIdentity
from sipoauth.store import User as StoredUser

from ._authz_edge import (
    Phone,
    User,
    activate,
    add_phone,
    add_user,
    new_code,
    register,
    sign_in,
    unique_dn,
    until_known,
    web,
)
from ._support import Prepared

TOKENS = ("desk A", "desk B", "desk D of U", "user U", "user V")
DEVICES = ("desk A", "desk B", "desk D of U", "soft of U", "soft of V")
MAY_REGISTER = {
    "desk A": {"desk A"},
    "desk B": {"desk B"},
    "desk D of U": {"desk D of U"},
    "user U": {"soft of U"},
    "user V": {"soft of V"},
}
"""docs/oauth.md "Tokens": the only devices each token may register."""


@dataclass
class World:
    """Devices (one fixed identity each: re-registrations update one binding) and
    the tokens the endpoints gave out."""

    idents: dict[str, PhoneIdentity]
    lines: dict[str, str]
    tokens: dict[str, str]


async def _activated(client: httpx.AsyncClient, node: Node, phone: Phone) -> str:
    response = await activate(client, await new_code(node.store, phone.name), phone)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def _signed_in(client: httpx.AsyncClient, user: User) -> str:
    done = await sign_in(client, user.user_id, user.password)
    assert done.token.status_code == 200, done.token.text
    token: str = done.token.json()["access_token"]
    return token


async def _world(prepared: Prepared, node: Node) -> World:
    store = node.store
    u, v = await add_user(store), await add_user(store)
    a, b = await add_phone(store), await add_phone(store)
    d = await add_phone(store, owner=u.user_id)
    async with web(prepared, node) as client:
        tokens = {
            "desk A": await _activated(client, node, a),
            "desk B": await _activated(client, node, b),
            "desk D of U": await _activated(client, node, d),
            "user U": await _signed_in(client, u),
            "user V": await _signed_in(client, v),
        }
    idents = {
        "desk A": a.ident(),
        "desk B": b.ident(),
        "desk D of U": d.ident(),
        "soft of U": u.ident(),
        "soft of V": v.ident(),
    }
    await until_known(node, *(ident.device for ident in idents.values()))
    return World(idents, {key: ident.line for key, ident in idents.items()}, tokens)


async def test_no_token_registers_another_device_or_user(prepared: Prepared, node: Node) -> None:
    """docs/oauth.md "Tokens" (registrar step 4, REFERENCE-BEHAVIOUR): a token
    registers its own device's lines only — a desk phone's token the phone it names,
    a soft client's token the soft clients its user owns; everything else is 403
    (or 401), never 200."""
    world = await _world(prepared, node)
    loop = asyncio.get_running_loop()

    def send(token: str, device: str, line: str, edge: bool, proxy_form: bool) -> int:
        ident = world.idents[device]
        ident.line = world.lines[line]
        future = asyncio.run_coroutine_threadsafe(
            register(prepared, node, ident, world.tokens[token], edge=edge, proxy_form=proxy_form),
            loop,
        )
        return future.result(timeout=60).status

    @settings(max_examples=40, deadline=None, database=None)
    @given(
        token=st.sampled_from(TOKENS),
        device=st.sampled_from(DEVICES),
        line=st.sampled_from(DEVICES),
        edge=st.booleans(),
        proxy_form=st.booleans(),
    )
    @example(token="user U", device="desk D of U", line="desk D of U", edge=False, proxy_form=True)
    @example(token="desk D of U", device="soft of U", line="soft of U", edge=False, proxy_form=True)
    @example(token="user U", device="soft of V", line="soft of V", edge=True, proxy_form=False)
    @example(token="desk A", device="desk B", line="desk B", edge=True, proxy_form=True)
    @example(token="desk A", device="desk A", line="desk B", edge=False, proxy_form=False)
    @example(token="user U", device="soft of U", line="soft of U", edge=True, proxy_form=True)
    def check(token: str, device: str, line: str, edge: bool, proxy_form: bool) -> None:
        status = send(token, device, line, edge, proxy_form)
        if device in MAY_REGISTER[token] and line == device:
            assert status == 200, (token, device, line, edge, status)
        else:
            assert status in (401, 403), (token, device, line, edge, status)

    await asyncio.to_thread(check)


async def test_user_id_shaped_like_a_phone_name_is_refused(node: Node) -> None:
    """docs/oauth.md "Tokens": a soft client's token carries the user id as ``sub``,
    a desk phone's its name; so no user may be named like a desk phone."""
    phone = await add_phone(node.store)
    for user_id in (phone.name, phone.name.lower(), "BAT" + phone.mac):
        with pytest.raises(admin.InvalidValue, match="desk phone"):
            await admin.add_user(node.store, user_id, password="long enough")
        assert await node.store.users.get(user_id) is None


async def test_phone_named_user_from_elsewhere_does_not_register_that_phone(
    prepared: Prepared, node: Node
) -> None:
    """docs/oauth.md "Tokens" (defence in depth at the registrar): a soft client's
    token registers only soft clients its user owns — even for a user named like a
    desk phone that reached the store by another way than ``admin.add_user`` (an
    older release, a directory import); and that phone's own token does not
    register the user's soft client."""
    phone = await add_phone(node.store)
    password = "pw-" + phone.mac.lower()
    await node.store.users.add(
        StoredUser(user_id=phone.name, password_hash=PasswordHasher().hash(password))
    )
    soft = f"CSF{phone.mac[:8]}"
    await admin.add_device(
        node.store,
        name=soft,
        model="CSF",
        lines=[unique_dn()],
        profile=admin.OAUTH_PROFILE,
        owner=phone.name,
    )
    record = await node.store.devices.get(soft)
    assert record is not None
    user = User(phone.name, password, soft, record.lines[0].dn)
    async with web(prepared, node) as client:
        soft_token = await _signed_in(client, user)
        desk_token = await _activated(client, node, phone)
    await until_known(node, phone.name, user.soft_client)
    as_phone = await register(prepared, node, phone.ident(), soft_token)
    as_soft = await register(prepared, node, user.ident(), desk_token)
    assert (await register(prepared, node, user.ident(), soft_token)).status == 200
    assert (await register(prepared, node, phone.ident(), desk_token)).status == 200
    assert as_phone.status == 403
    assert as_soft.status == 403

"""OAuth pages: the authz keys (hash to compare across nodes, regenerate after
a confirmation: every token becomes invalid), revocation of a user's tokens
(every client, or one), and Activation Codes (list, release, export as CSV).

Revocation is the authorization service's own (``revoke_user``, the rule of
``/ssosp/token/revoke``), which audits it as the administrator signed in here.
"""

from __future__ import annotations

from typing import Final, cast

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin

from ._pages_base import PAGE_HEADERS, Field, FormState, Page, Pages, page, url

__all__ = ["routes"]

_KINDS: Final[tuple[admin.KeyKind, ...]] = ("signing", "encryption")
_REVOKE: Final = [
    Field(name="user_id", label="User ID", required=True, aliases=("user",)),
    Field(
        name="client_id",
        label="Client ID",
        help="Empty: every client of the user (soft clients and phones).",
    ),
]


async def oauth(current: Page, state: FormState | None = None) -> Response:
    keys = [await admin.show_authz_key(current.ctx.store, kind) for kind in _KINDS]
    return current.render(
        "oauth.html",
        status=422 if state is not None and state.errors else 200,
        title="OAuth",
        keys=zip(_KINDS, keys, strict=True),
        state=state or FormState(),
        fields=_REVOKE,
    )


async def revoke(current: Page) -> Response:
    values = current.values(_REVOKE)
    user_id, client_id = values["user_id"].strip(), values["client_id"].strip() or None
    if not user_id:
        state = FormState(values=values, errors={"user_id": "User ID: enter the user's id"})
        return await oauth(current, state)
    result = await current.pages.service().revoke_user(user_id, client_id)
    revoked = cast(list[dict[str, object]], result["revoked"])
    grants = sum(cast(int, entry["grants"]) for entry in revoked)
    clients = ", ".join(f"{e['client_id']} ({e['grants']})" for e in revoked) or "none"
    return current.redirect(
        "/oauth", f"Revoked {grants} grant(s) of {user_id}; clients: {clients}."
    )


async def regenerate(current: Page) -> Response:
    kind = current.query.get("key", "")
    if kind not in _KINDS:
        return current.redirect("/oauth")

    async def act() -> str:
        info = await admin.regenerate_authz_key(
            current.ctx.store, kind, node_name=current.ctx.node_name
        )
        return f"Regenerated the authz {kind} key; its hash is now {info.hash}."

    return await current.confirm(
        act,
        done="/oauth",
        back="/oauth",
        action=url("/oauth/regenerate", key=kind),
        title=f"Regenerate the authz {kind} key",
        crumbs=[("OAuth", "/oauth")],
        question=f"Regenerate the authz {kind} key?",
        detail="Every access and refresh token becomes invalid: every soft client signs in "
        "again and every desk phone needs a new activation code.",
        confirm_label="Regenerate",
    )


async def activation_codes(current: Page) -> Response:
    rows = await admin.list_activation_codes(current.ctx.store, now=current.ctx.now())
    return current.render("activation_codes.html", title="Activation Codes", rows=rows)


async def release(current: Page) -> Response:
    device = current.query.get("device", "")

    async def act() -> str:
        await admin.release_activation_code(current.ctx.store, device)
        return f"Released the code of {device}."

    return await current.confirm(
        act,
        done="/activation-codes",
        back="/activation-codes",
        action=url("/activation-codes/release", device=device),
        title="Release Activation Code",
        crumbs=[("Activation Codes", "/activation-codes")],
        question=f"Release the activation code of {device}?",
        detail="The code can no longer be used to onboard the phone.",
        confirm_label="Release",
    )


async def export(current: Page) -> Response:
    if current.request.method != "POST" or current.value("confirm") != "yes":
        return current.render(
            "confirm.html",
            title="Export Activation Codes",
            crumbs=[("Activation Codes", "/activation-codes")],
            question="Export activation codes of every phone that requires one?",
            detail="Codes are stored only as hashes: the export makes a new code for each "
            "phone, and its previous code stops working. The file holds secrets.",
            action="/activation-codes/export",
            hidden={},
            confirm_label="Export",
            back="/activation-codes",
        )
    text = await admin.export_activation_codes_csv(current.ctx.store, None, now=current.ctx.now())
    return Response(
        text,
        media_type="text/csv",
        headers={
            **PAGE_HEADERS,
            "Content-Disposition": 'attachment; filename="activation-codes.csv"',
        },
    )


def routes(pages: Pages) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/oauth", page(pages, oauth), methods=["GET"]),
        Route("/oauth/revoke", page(pages, revoke), methods=["POST"]),
        Route("/oauth/regenerate", page(pages, regenerate), methods=both),
        Route("/activation-codes", page(pages, activation_codes), methods=["GET"]),
        Route("/activation-codes/release", page(pages, release), methods=both),
        Route("/activation-codes/export", page(pages, export), methods=both),
    ]

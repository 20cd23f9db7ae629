"""User Management > End User: find and list, add (with a password, so the
user can sign in on soft clients), set a password, activate / deactivate
(deactivating revokes every live grant), delete (confirmed). Passwords are
taken, never shown or kept in the form."""

from __future__ import annotations

from typing import Final

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin
from sipoauth.admin._user_devices import UserDetail

from ._pages_base import Field, FormState, Page, Pages, page, url
from ._pages_list import Row, list_page

__all__ = ["routes"]

_CRUMBS: Final = [("End User", "/users")]
_NEW: Final = [
    Field(name="user_id", label="User ID", required=True, aliases=("user id", "user")),
    Field(name="display_name", label="Display name"),
    Field(
        name="password",
        label="Password",
        kind="password",
        help="8–128 characters; empty: the user cannot sign in until one is set.",
        attrs={"autocomplete": "new-password"},
        aliases=("password",),
    ),
    Field(name="active", label="Active", kind="checkbox"),
]
_PASSWORD: Final = [
    Field(
        name="password",
        label="New password",
        kind="password",
        required=True,
        help="8–128 characters. The user's tokens stay: revoke them on the OAuth page.",
        attrs={"autocomplete": "new-password"},
        aliases=("password",),
    )
]


async def users(current: Page) -> Response:
    return list_page(
        current,
        title="Find and List Users",
        base="/users",
        noun="Users",
        noun_plural="users",
        find_fields=[("user_id", "User ID"), ("display_name", "Display name")],
        fields_of=lambda d: {"user_id": d.user.user_id, "display_name": d.user.display_name},
        items=await admin.list_user_details(current.ctx.store),
        columns=("User ID", "Display name", "Status", "Devices"),
        row=lambda d: Row(
            (
                d.user.user_id,
                d.user.display_name,
                "Active" if d.user.active else "Inactive",
                ", ".join(dev.name for dev in d.devices),
            ),
            url("/users/edit", user=d.user.user_id),
        ),
        add_href="/users/new",
        crumbs=[("User Management", "/users")],
    )


async def user_new(current: Page) -> Response:
    state = FormState(values={"active": True})
    if current.request.method == "POST":
        state.values = current.values(_NEW)
        try:
            record = await admin.add_user(
                current.ctx.store,
                state.values["user_id"].strip(),
                password=state.values["password"] or None,
                display_name=state.values["display_name"].strip(),
                active=state.values["active"],
            )
        except admin.AdminError as exc:
            state.fail(exc, _NEW)
        else:
            return current.redirect(
                url("/users/edit", user=record.user_id), f"Added {record.user_id}."
            )
    state.values.pop("password", None)
    return current.render(
        "form.html",
        status=422 if state.errors else 200,
        title="End User — Add New",
        crumbs=_CRUMBS,
        action="/users/new",
        hidden={},
        state=state,
        groups=[("User Information", _NEW)],
        back="/users",
    )


async def user_edit(current: Page) -> Response:
    store = current.ctx.store
    detail: UserDetail = await admin.get_user_detail(store, current.query.get("user", ""))
    user = detail.user
    state = FormState()
    if current.request.method == "POST":
        action = current.value("action")
        try:
            if action == "password":
                await admin.set_user_password(store, user.user_id, current.value("password"))
                return current.redirect(url("/users/edit", user=user.user_id), "Password set.")
            if action in ("activate", "deactivate"):
                revoked = await admin.set_user_active(
                    store, user.user_id, action == "activate", now=current.ctx.now()
                )
                note = f" {len(revoked)} grant(s) revoked." if revoked else ""
                return current.redirect(
                    url("/users/edit", user=user.user_id), f"{user.user_id} {action}d.{note}"
                )
        except admin.AdminError as exc:
            state.fail(exc, _PASSWORD)
    return current.render(
        "user.html",
        status=422 if state.errors else 200,
        title=f"End User — {user.user_id}",
        crumbs=_CRUMBS,
        detail=detail,
        state=state,
        fields=_PASSWORD,
    )


async def user_delete(current: Page) -> Response:
    user_id = current.query.get("user", "")
    detail = await admin.get_user_detail(current.ctx.store, user_id)

    async def act() -> str:
        revoked = await admin.delete_user(current.ctx.store, user_id, now=current.ctx.now())
        return f"Deleted {user_id}; {len(revoked)} grant(s) revoked."

    return await current.confirm(
        act,
        done="/users",
        back=url("/users/edit", user=user_id),
        action=url("/users/delete", user=user_id),
        title="Delete end user",
        crumbs=_CRUMBS,
        question=f"Delete end user {user_id}?",
        detail=f"Their tokens are revoked; the {len(detail.devices)} device(s) they own stay, "
        "without an owner.",
        confirm_label="Delete user",
    )


def routes(pages: Pages) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/users", page(pages, users), methods=["GET"]),
        Route("/users/new", page(pages, user_new), methods=both),
        Route("/users/edit", page(pages, user_edit), methods=both),
        Route("/users/delete", page(pages, user_delete), methods=both),
    ]

"""System > Security > Phone Security Profile (R9).

The OAuth checkbox is enabled in the page only with Device Security Mode
Encrypted and Transport Type TLS (the page script, a hint next to it says so);
the rule itself is the server's (``admin.check_profile``), which refuses any
other combination whatever the browser sent.
"""

from __future__ import annotations

from typing import Final

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin
from sipoauth.store import SecurityProfileRecord

from ._pages_base import Choice, Field, FormState, Page, Pages, page, url
from ._pages_list import Row, list_page

__all__ = ["routes"]

_CRUMBS: Final = [("Phone Security Profile", "/profiles")]
_MODES: Final = (
    Choice("non-secure", "Non Secure"),
    Choice("authenticated", "Authenticated"),
    Choice("encrypted", "Encrypted"),
)
_MODE_LABELS: Final = {c.value: c.label for c in _MODES}
_TRANSPORTS: Final = tuple(Choice(t, t) for t in ("TCP+UDP", "TCP", "UDP", "TLS"))
OAUTH_HINT: Final = (
    "Available only with Device Security Mode Encrypted and Transport Type TLS; "
    "Enable Digest Authentication and TFTP Encrypted Config are not supported with it (R9)."
)


def _fields(*, new: bool) -> list[Field]:
    return [
        Field(name="name", label="Name", required=True, aliases=("profile name",)),
        Field(
            name="device_type",
            label="Device type",
            kind="select",
            readonly=False,
            choices=tuple(Choice(t, t) for t in admin.PROFILE_DEVICE_TYPES),
            aliases=("device type",),
        ),
        Field(name="description", label="Description"),
        Field(
            name="security_mode",
            label="Device Security Mode",
            kind="select",
            choices=_MODES,
            attrs={"data-oauth-mode": "encrypted"},
        ),
        Field(
            name="transport",
            label="Transport Type",
            kind="select",
            choices=_TRANSPORTS,
            attrs={"data-oauth-transport": "TLS"},
        ),
        Field(
            name="oauth",
            label="Enable OAuth Authentication",
            kind="checkbox",
            help=OAUTH_HINT,
            attrs={"data-oauth-checkbox": "1"},
            aliases=("oauth",),
        ),
        Field(name="digest", label="Enable Digest Authentication", kind="checkbox"),
        Field(name="tftp_encrypted", label="TFTP Encrypted Config", kind="checkbox"),
    ]


def _values(p: SecurityProfileRecord) -> dict[str, object]:
    return {
        "name": p.name,
        "device_type": p.device_type,
        "description": p.description,
        "security_mode": p.security_mode,
        "transport": p.transport,
        "oauth": p.oauth,
        "digest": p.digest,
        "tftp_encrypted": p.tftp_encrypted,
    }


async def profiles(current: Page) -> Response:
    store = current.ctx.store
    usage = await admin.profile_usage(store)
    return list_page(
        current,
        title="Find and List Phone Security Profiles",
        base="/profiles",
        noun="Phone Security Profiles",
        noun_plural="phone security profiles",
        find_fields=[("name", "Name"), ("device_type", "Device type")],
        fields_of=lambda p: {"name": p.name, "device_type": p.device_type},
        items=await admin.list_profiles(store),
        columns=("Name", "Device type", "Security mode", "Transport", "OAuth", "Phones"),
        row=lambda p: Row(
            (
                p.name,
                p.device_type,
                _MODE_LABELS.get(p.security_mode, p.security_mode),
                p.transport,
                "Yes" if p.oauth else "No",
                usage.get(p.name, 0),
            ),
            url("/profiles/edit", name=p.name),
        ),
        add_href="/profiles/new",
        crumbs=[("System", "/profiles")],
    )


def _render(
    current: Page, state: FormState, title: str, action: str, actions: list[tuple[str, str, str]]
) -> Response:
    fields = _fields(new=not actions)
    return current.render(
        "form.html",
        status=422 if state.errors else 200,
        title=title,
        crumbs=_CRUMBS,
        action=action,
        hidden={},
        state=state,
        groups=[("Phone Security Profile Information", fields[:3]), ("Security", fields[3:])],
        back="/profiles",
        actions=actions,
    )


async def profile_new(current: Page) -> Response:
    state = FormState(
        values={
            "device_type": admin.UNIVERSAL_TEMPLATE,
            "security_mode": "encrypted",
            "transport": "TLS",
            "oauth": True,
        }
    )
    if current.request.method == "POST":
        fields = _fields(new=True)
        state.values = current.values(fields)
        try:
            record = await admin.add_profile(current.ctx.store, **state.values)
        except admin.AdminError as exc:
            state.fail(exc, fields)
        else:
            return current.redirect(
                url("/profiles/edit", name=record.name), f"Added profile {record.name}."
            )
    return _render(current, state, "Phone Security Profile — Add New", "/profiles/new", [])


async def profile_edit(current: Page) -> Response:
    store = current.ctx.store
    record = await admin.get_profile(store, current.query.get("name", ""))
    state = FormState(values=_values(record))
    if current.request.method == "POST":
        fields = _fields(new=False)
        posted = current.values(fields)
        state.values = posted
        changes = {k: v for k, v in posted.items() if k != "name"}
        try:
            updated = await admin.update_profile(
                store, record.name, new_name=str(posted["name"]), **changes
            )
        except admin.AdminError as exc:
            state.fail(exc, fields)
        else:
            usage = (await admin.profile_usage(store)).get(updated.name, 0)
            note = (
                f" Reset the {usage} phone(s) using it for the change to take effect (R9)."
                if usage
                else ""
            )
            return current.redirect(
                url("/profiles/edit", name=updated.name), f"Saved {updated.name}.{note}"
            )
    return _render(
        current,
        state,
        f"Phone Security Profile — {record.name}",
        url("/profiles/edit", name=record.name),
        [("Delete", url("/profiles/delete", name=record.name), "danger")],
    )


async def profile_delete(current: Page) -> Response:
    store = current.ctx.store
    record = await admin.get_profile(store, current.query.get("name", ""))

    async def act() -> str:
        await admin.delete_profile(store, record.name)
        return f"Deleted profile {record.name}."

    return await current.confirm(
        act,
        done="/profiles",
        back=url("/profiles/edit", name=record.name),
        action=url("/profiles/delete", name=record.name),
        title="Delete phone security profile",
        crumbs=_CRUMBS,
        question=f"Delete phone security profile {record.name}?",
        detail="A profile that phones use cannot be deleted.",
        confirm_label="Delete profile",
    )


def routes(pages: Pages) -> list[Route]:
    both = ["GET", "POST"]
    return [
        Route("/profiles", page(pages, profiles), methods=["GET"]),
        Route("/profiles/new", page(pages, profile_new), methods=both),
        Route("/profiles/edit", page(pages, profile_edit), methods=both),
        Route("/profiles/delete", page(pages, profile_delete), methods=both),
    ]

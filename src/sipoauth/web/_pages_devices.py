"""Device > Phone (R1, R9, R12.1): find and list, add, edit, delete, Reset /
Apply Config, and the activation code (generate, shown once; release).

R12.1 on the phone page: *Requires Activation Code for Onboarding*, *Allow
Activation Code via MRA* and *Activation Code MRA Service Domain*, the
OAuth-enabled security profile, Save, then Apply Config. The rules are
``admin.add_device`` / ``admin.update_device``'s; the page only gathers them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import Route

from sipoauth import admin
from sipoauth.store import DeviceRecord

from ._pages_base import Choice, Field, FormState, Page, Pages, Paging, page, url
from ._pages_list import Find, Row

__all__ = ["routes"]

_CRUMBS: Final = [("Phone", "/phones")]
_FIND_FIELDS: Final = [("name", "Device name"), ("model", "Model"), ("owner", "Owner user ID")]


async def _fields(current: Page, *, new: bool) -> list[Field]:
    store = current.ctx.store
    profiles = await admin.list_profiles(store)
    groups = await admin.find_groups(store)
    domains = await admin.list_mra_domains(store)
    return [
        Field(
            name="name",
            label="Device name",
            required=True,
            readonly=not new,
            help="SEP or BAT + 12 hex digits for a desk phone; CSF, BOT, TCT or TAB + "
            "user for a soft client.",
            aliases=("device name",),
        ),
        Field(name="model", label="Model", required=True, help="8851, 8865, CSF…"),
        Field(name="description", label="Description"),
        Field(name="owner", label="Owner user ID", aliases=("owner",)),
        Field(
            name="lines",
            label="Directory numbers",
            help="Line 1 first, separated by commas.",
            aliases=("directory number", "lines"),
        ),
        Field(
            name="callmanager_group",
            label="CallManager group",
            kind="select",
            choices=(Choice("", "Default"), *(Choice(g.name, g.name) for g in groups)),
            aliases=("callmanager group",),
        ),
        Field(
            name="profile",
            label="Device Security Profile",
            kind="select",
            choices=tuple(Choice(p.name, p.name) for p in profiles),
            help="For SIP OAuth: a profile with Enable OAuth Authentication (R9).",
            aliases=("security profile", "profile"),
        ),
        Field(
            name="oauth_firmware",
            label="Firmware supports SIP OAuth",
            kind="checkbox",
            help="The phone's firmware supports SIP OAuth (R2.3).",
        ),
        Field(
            name="requires_activation_code",
            label="Requires Activation Code for Onboarding",
            kind="checkbox",
            aliases=("requires activation code",),
        ),
        Field(
            name="allow_activation_via_mra",
            label="Allow Activation Code via MRA",
            kind="checkbox",
            aliases=("allow activation code via mra",),
        ),
        Field(
            name="mra_service_domain",
            label="Activation Code MRA Service Domain",
            kind="select",
            choices=(Choice("", "< None >"), *(Choice(d.name, d.name) for d in domains)),
            aliases=("mra service domain",),
        ),
    ]


def _values(d: DeviceRecord) -> dict[str, Any]:
    return {
        "name": d.name,
        "model": d.model,
        "description": d.description,
        "owner": d.owner_user_id or "",
        "lines": ", ".join(line.dn for line in d.lines),
        "callmanager_group": d.callmanager_group or "",
        "profile": d.profile_name,
        "oauth_firmware": d.oauth_firmware,
        "requires_activation_code": d.requires_activation_code,
        "allow_activation_via_mra": d.allow_activation_via_mra,
        "mra_service_domain": d.mra_service_domain or "",
    }


def _arguments(values: dict[str, Any]) -> dict[str, Any]:
    """Form values as the admin functions take them."""
    return {
        "model": values["model"].strip(),
        "description": values["description"],
        "owner": values["owner"].strip() or None,
        "lines": [dn.strip() for dn in values["lines"].split(",") if dn.strip()],
        "callmanager_group": values["callmanager_group"] or None,
        "profile": values["profile"],
        "oauth_firmware": values["oauth_firmware"],
        "requires_activation_code": values["requires_activation_code"],
        "allow_activation_via_mra": values["allow_activation_via_mra"],
        "mra_service_domain": values["mra_service_domain"] or None,
    }


async def phones(current: Page) -> Response:
    query = current.query
    field = query.get("field", "name")
    field = field if field in dict(_FIND_FIELDS) else "name"
    text = query.get("text", "").strip()[:64]
    name = text if text and field == "name" else None
    model = text if text and field == "model" else None
    owner = text if text and field == "owner" else None
    store = current.ctx.store
    sizes = current.pages.settings.page_sizes
    _, total = await admin.find_devices(
        store, name_contains=name, model=model, owner=owner, limit=1
    )
    paging = Paging.of(query, total, sizes)
    items, total = await admin.find_devices(
        store,
        name_contains=name,
        model=model,
        owner=owner,
        limit=paging.limit,
        offset=paging.offset,
    )
    find = Find(field, "contains" if field == "name" else "is", text)
    rows = [
        Row(
            (
                d.name,
                d.description,
                d.model,
                d.owner_user_id or "",
                d.profile_name,
                "Reset required" if d.reset_required else "",
            ),
            url("/phones/edit", name=d.name),
        )
        for d in items
    ]
    return current.render(
        "list.html",
        title="Find and List Phones",
        base="/phones",
        noun="Phones",
        noun_plural="phones",
        find_fields=_FIND_FIELDS,
        ops=[(find.op, "contains" if field == "name" else "is exactly")],
        find=find,
        query=urlencode({"field": field, "text": text}),
        paging=paging,
        columns=("Device name", "Description", "Model", "Owner", "Security profile", "Status"),
        rows=rows,
        add_href="/phones/new",
        import_href="/phones/import",
        crumbs=[("Device", "/phones")],
    )


def _render(
    current: Page,
    fields: list[Field],
    state: FormState,
    title: str,
    action: str,
    device: DeviceRecord | None = None,
) -> Response:
    actions: list[tuple[str, str, str]] = []
    extra: dict[str, Any] = {}
    if device is not None:
        actions = [("Delete", url("/phones/delete", name=device.name), "danger")]
        secret = current.session.secret
        code = secret[1] if secret is not None and secret[0] == device.name else None
        if code is not None:
            current.session.secret = None
        extra = {"device": device, "code": code}
    return current.render(
        "phone.html",
        status=422 if state.errors else 200,
        title=title,
        crumbs=_CRUMBS,
        action=action,
        hidden={},
        state=state,
        groups=[
            ("Device Information", fields[:7]),
            ("Protocol Specific Information", fields[7:]),
        ],
        back="/phones",
        actions=actions,
        **extra,
    )


async def phone_new(current: Page) -> Response:
    fields = await _fields(current, new=True)
    state = FormState(
        values={"profile": admin.DEFAULT_PROFILE, "oauth_firmware": True, "model": "8851"}
    )
    if current.request.method == "POST":
        state.values = current.values(fields)
        try:
            record = await admin.add_device(
                current.ctx.store, name=state.values["name"].strip(), **_arguments(state.values)
            )
        except admin.AdminError as exc:
            state.fail(exc, fields)
        else:
            return current.redirect(url("/phones/edit", name=record.name), f"Added {record.name}.")
    return _render(current, fields, state, "Phone Configuration — Add New", "/phones/new")


async def phone_edit(current: Page) -> Response:
    store = current.ctx.store
    device = await admin.get_device(store, current.query.get("name", ""))
    fields = await _fields(current, new=False)
    state = FormState(values=_values(device))
    if current.request.method == "POST":
        state.values = {**current.values(fields), "name": device.name}
        try:
            updated = await admin.update_device(store, device.name, **_arguments(state.values))
        except admin.AdminError as exc:
            state.fail(exc, fields)
        else:
            note = (
                " Apply Config (or Reset) for the phone to use it."
                if updated.reset_required
                else ""
            )
            return current.redirect(url("/phones/edit", name=device.name), f"Saved.{note}")
    return _render(
        current,
        fields,
        state,
        f"Phone Configuration — {device.name}",
        url("/phones/edit", name=device.name),
        device,
    )


def _confirm(
    current: Page, device: DeviceRecord, what: str, question: str, detail: str
) -> Response:
    return current.render(
        "confirm.html",
        title=what,
        crumbs=_CRUMBS,
        question=question,
        detail=detail,
        action=url(f"/phones/{what.lower().replace(' ', '-')}", name=device.name),
        hidden={},
        confirm_label=what,
        back=url("/phones/edit", name=device.name),
    )


async def phone_action(current: Page) -> Response:
    """Reset, Apply Config, activation codes and delete (each a POST; the
    destructive ones after a confirmation page)."""
    store = current.ctx.store
    device = await admin.get_device(store, current.query.get("name", ""))
    action = current.request.url.path.rsplit("/", 1)[-1]
    back = url("/phones/edit", name=device.name)
    confirmed = current.request.method == "POST" and current.value("confirm") == "yes"
    if action == "apply-config" and current.request.method == "POST":
        version = await admin.reset_device(store, device.name, action="apply-config")
        return current.redirect(back, f"Apply Config sent to {device.name} (version {version}).")
    if action == "reset" and confirmed:
        version = await admin.reset_device(store, device.name, action="reset")
        return current.redirect(back, f"Reset sent to {device.name} (version {version}).")
    if action == "reset":
        return _confirm(
            current,
            device,
            "Reset",
            f"Reset {device.name}?",
            "The phone restarts and fetches its configuration; calls in progress are dropped.",
        )
    if action == "activation-code" and current.request.method == "POST":
        code, expires = await admin.generate_activation_code(
            store, device.name, now=current.ctx.now()
        )
        current.session.secret = (device.name, _shown_code(code, expires))
        return current.redirect(
            back, "A new activation code was generated; any previous one is void."
        )
    if action == "release-code" and confirmed:
        try:
            await admin.release_activation_code(store, device.name)
        except admin.AdminError as exc:
            return current.redirect(back, exc.message, "error")
        return current.redirect(back, "The activation code was released.")
    if action == "release-code":
        return _confirm(
            current,
            device,
            "Release code",
            f"Release the activation code of {device.name}?",
            "The code can no longer be used to onboard the phone.",
        )
    if action == "delete" and confirmed:
        await admin.delete_device(store, device.name)
        return current.redirect("/phones", f"Deleted {device.name}.")
    if action == "delete":
        return _confirm(
            current,
            device,
            "Delete",
            f"Delete {device.name}?",
            "Its lines and any pending activation code are deleted with it.",
        )
    return current.redirect(back)


def _shown_code(code: str, expires: datetime) -> str:
    return f"{admin.format_activation_code(code)} (valid until {expires:%Y-%m-%d %H:%M} UTC)"


def routes(pages: Pages) -> list[Route]:
    both = ["GET", "POST"]
    action = page(pages, phone_action)
    return [
        Route("/phones", page(pages, phones), methods=["GET"]),
        Route("/phones/new", page(pages, phone_new), methods=both),
        Route("/phones/edit", page(pages, phone_edit), methods=both),
        Route("/phones/reset", action, methods=both),
        Route("/phones/apply-config", action, methods=["POST"]),
        Route("/phones/activation-code", action, methods=["POST"]),
        Route("/phones/release-code", action, methods=both),
        Route("/phones/delete", action, methods=both),
    ]

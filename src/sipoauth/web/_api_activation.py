"""REST routes: activation codes (R12.1) and phones in bulk (CSV import, code export).

An activation code is in the response that generates it and nowhere else:
it is stored only as a keyed hash (docs/oauth.md). Exporting codes therefore
generates fresh ones, replacing the phones' previous codes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter, Request, Response
from pydantic import Field

from sipoauth import admin

from ._api_base import ApiError, Body, Ctx, Out, Who
from ._api_devices import DeviceName

__all__ = ["import_router", "router"]

router = APIRouter(tags=["activation-codes"])
import_router = APIRouter(tags=["devices"])

CSV_TYPES: Final = ("text/csv", "text/plain", "application/csv")
"""Media types of a CSV import body."""
_NO_STORE: Final = {"Cache-Control": "no-store"}


class ActivationCodeOut(Out):
    """A new activation code: shown this once (it replaces the phone's previous one)."""

    device: str = Field(description="The desk phone.")
    activation_code: str = Field(description="16 digits, for the phone's user to type.")
    display: str = Field(description="The code as shown to people: `1234-5678-9012-3456`.")
    expires_at: datetime = Field(description="When it stops being accepted.")


class PendingCodeOut(Out):
    """A pending activation code, without the code."""

    device: str = Field(description="The desk phone.")
    model: str = Field(description="The model the phone must report.")
    owner: str | None = Field(description="The phone's owner.")
    created_at: datetime = Field(description="When it was generated.")
    expires_at: datetime = Field(description="When it stops being accepted.")
    expired: bool = Field(description="It can no longer be redeemed.")


class CodeExport(Body):
    """Which phones get fresh codes."""

    devices: list[str] | None = Field(
        default=None,
        description="Desk phone names; null: every desk phone that requires an activation code.",
        max_length=10_000,
    )


class ImportRowOut(Out):
    """The outcome of one CSV row."""

    line: int = Field(description="Line of the file where the row starts (header: 1).")
    device: str = Field(description="The device name as written.")
    ok: bool = Field(description="The device was added.")
    error: str | None = Field(description="Why the row was refused.")


class ImportOut(Out):
    """A CSV import, row by row: a refused row adds nothing, the others go on."""

    added: int = Field(description="Rows whose device was added.")
    failed: int = Field(description="Rows refused.")
    ok: bool = Field(description="Every row was added.")
    rows: list[ImportRowOut] = Field(description="Every data row, in file order.")


@router.post(
    "/devices/{name}/activation-code",
    status_code=201,
    operation_id="generate_activation_code",
)
async def generate_activation_code(ctx: Ctx, who: Who, name: DeviceName) -> ActivationCodeOut:
    """Generate New Activation Code for a desk phone (the previous one stops working)."""
    with admin.acting_as(who.actor):
        code, expires_at = await admin.generate_activation_code(ctx.store, name, now=ctx.now())
    device = await admin.get_device(ctx.store, name)
    return ActivationCodeOut(
        device=device.name,
        activation_code=code,
        display=admin.format_activation_code(code),
        expires_at=expires_at,
    )


@router.delete(
    "/devices/{name}/activation-code", status_code=204, operation_id="release_activation_code"
)
async def release_activation_code(ctx: Ctx, who: Who, name: DeviceName) -> Response:
    """Release Activation Code: withdraw the phone's pending code."""
    with admin.acting_as(who.actor):
        await admin.release_activation_code(ctx.store, name)
    return Response(status_code=204)


@router.get("/activation-codes", operation_id="list_activation_codes")
async def list_activation_codes(ctx: Ctx) -> list[PendingCodeOut]:
    """Pending activation codes (never the codes themselves)."""
    return [
        PendingCodeOut(
            device=c.device,
            model=c.model,
            owner=c.owner,
            created_at=c.created_at,
            expires_at=c.expires_at,
            expired=c.expired,
        )
        for c in await admin.list_activation_codes(ctx.store, now=ctx.now())
    ]


@router.post(
    "/activation-codes/export",
    operation_id="export_activation_codes",
    response_class=Response,
    responses={
        200: {
            "description": "CSV `device,model,owner,activation_code,expires_at`: fresh "
            "codes, replacing the phones' previous ones. Holds secrets.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def export_activation_codes(ctx: Ctx, who: Who, body: CodeExport) -> Response:
    """Export Activation Codes: generate fresh codes for desk phones, as CSV."""
    with admin.acting_as(who.actor):
        text = await admin.export_activation_codes_csv(ctx.store, body.devices, now=ctx.now())
    return Response(
        text,
        media_type="text/csv",
        headers={**_NO_STORE, "Content-Disposition": 'attachment; filename="activation-codes.csv"'},
    )


_IMPORT_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "description": "CSV, UTF-8: a header row (`name`, `model` required; "
        + ", ".join(admin.IMPORT_COLUMNS)
        + "), then one device a row; lines separated by `;`.",
        "content": {kind: {"schema": {"type": "string"}} for kind in CSV_TYPES},
    }
}


@import_router.post(
    "/devices/import", operation_id="import_devices_csv", openapi_extra=_IMPORT_BODY
)
async def import_devices_csv(request: Request, ctx: Ctx, who: Who) -> ImportOut:
    """Bulk insert devices from CSV, with a per-row report; no row is half applied."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind not in CSV_TYPES:
        raise ApiError(415, "unsupported_media_type", f"send the file as {CSV_TYPES[0]}")
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(422, "invalid_value", "the CSV file is not UTF-8") from None
    if "\x00" in text:
        raise ApiError(422, "invalid_value", "the CSV file holds NUL characters")
    with admin.acting_as(who.actor):
        report = await admin.import_devices_csv(ctx.store, text)
    return ImportOut(
        added=report.added,
        failed=report.failed,
        ok=report.ok,
        rows=[
            ImportRowOut(line=r.line, device=r.device, ok=r.ok, error=r.error) for r in report.rows
        ],
    )

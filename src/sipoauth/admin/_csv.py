"""Phones in bulk (issue 4 point 10): import from CSV, export activation codes.

Import: a header row names the columns (any order; ``name`` and ``model``
required), then one phone a row. Each row is checked by the rules of
``add_device`` (and its owner must exist) and added on its own, in one
transaction: a row with any error adds nothing, and the other rows go on.
The report says, per row, its line in the file, the device and either ok or
the error. Whole-file problems (too large, no header, unknown or repeated
columns) refuse the whole file before anything is added. A row the CSV
reader cannot parse (bad quoting) is reported like any other bad row.

Export: activation codes are stored as keyed hashes only (docs/oauth.md),
so they cannot be read back; exporting them means generating fresh codes,
which replace the phones' previous ones.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sipoauth.store import DeviceRecord, Store, StoreError

from ._activation import format_activation_code, generate_activation_code
from ._audit import audit
from ._devices import (
    CONFIG_CHANNEL,
    DEFAULT_PROFILE,
    DEVICE_OBJECT,
    canonical_name,
    insert_device,
    prepare_device,
)
from ._errors import AdminError, InvalidValue, NotFound

__all__ = [
    "EXPORT_COLUMNS",
    "IMPORT_COLUMNS",
    "IMPORT_MAX_BYTES",
    "IMPORT_MAX_ROWS",
    "ImportReport",
    "ImportRow",
    "export_activation_codes_csv",
    "import_devices_csv",
]

IMPORT_COLUMNS: Final = (
    "name",
    "model",
    "lines",
    "profile",
    "owner",
    "description",
    "requires_activation_code",
    "allow_activation_via_mra",
    "mra_service_domain",
    "oauth_firmware",
    "callmanager_group",
)
"""The columns an import file may have (``name`` and ``model`` required)."""
EXPORT_COLUMNS: Final = ("device", "model", "owner", "activation_code", "expires_at")
"""The columns of an activation-code export."""
IMPORT_MAX_BYTES: Final = 1_000_000
"""Bytes (UTF-8) of one import file at most."""
IMPORT_MAX_ROWS: Final = 10_000
"""Phones (data rows) of one import file at most."""
_REQUIRED: Final = ("name", "model")
_TRUE: Final = frozenset({"true", "yes", "1"})
_FALSE: Final = frozenset({"false", "no", "0"})
_LINE_SEPARATOR: Final = ";"


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportRow:
    """The outcome of one data row."""

    line: int
    """Line of the file where the row starts (the header is line 1)."""
    device: str
    """The device name as written in the row ("" when it has none)."""
    ok: bool
    """The phone was added."""
    error: str | None = None
    """Why the row was refused (names the field and the rule)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ImportReport:
    """The outcome of an import, row by row in file order."""

    rows: tuple[ImportRow, ...]

    @property
    def added(self) -> int:
        """Rows whose phone was added."""
        return sum(row.ok for row in self.rows)

    @property
    def failed(self) -> int:
        """Rows refused."""
        return len(self.rows) - self.added

    @property
    def ok(self) -> bool:
        """Every row was added."""
        return self.failed == 0


def _column(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def _header(cells: list[str]) -> list[str]:
    columns = [_column(cell) for cell in cells]
    for column in columns:
        if column not in IMPORT_COLUMNS:
            raise InvalidValue(
                f"CSV header: {column!r} is not a column; the first row must be the header, "
                f"with columns among {','.join(IMPORT_COLUMNS)}"
            )
    seen: set[str] = set()
    for column in columns:
        if column in seen:
            raise InvalidValue(f"CSV header: column {column!r} appears twice")
        seen.add(column)
    missing = [c for c in _REQUIRED if c not in seen]
    if missing:
        raise InvalidValue(f"CSV header: required column(s) missing: {', '.join(missing)}")
    return columns


def _flag(values: dict[str, str], column: str, default: bool) -> bool:
    text = values.get(column, "").lower()
    if not text:
        return default
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise InvalidValue(f"{column}: {values[column]!r} is not true/false, yes/no or 1/0")


def _optional(values: dict[str, str], column: str) -> str | None:
    return values.get(column) or None


@dataclass(frozen=True, slots=True)
class _Record:
    line: int
    cells: list[str] | None
    """None when the reader could not parse the row."""
    error: str | None = None


def _read(text: str, max_rows: int) -> tuple[list[str], list[_Record]]:
    """The header and the non-blank data rows, each with its first line."""
    if text.startswith("\ufeff"):  # a byte order mark, as spreadsheets write
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise InvalidValue(f"CSV header (line 1) cannot be read: {exc}") from None
    if header is None or not any(cell.strip() for cell in header):
        raise InvalidValue("the CSV file is empty: a header row is required")
    records: list[_Record] = []
    while True:
        start = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            records.append(_Record(start, None, f"malformed CSV: {exc}"))
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        records.append(_Record(start, cells))
        if len(records) > max_rows:
            raise InvalidValue(f"the CSV file has more than {max_rows} rows; split it")
    return _header(header), records


async def _import_row(
    store: Store, columns: list[str], record: _Record, first_seen: dict[str, int]
) -> ImportRow:
    cells = record.cells
    if cells is None:
        return ImportRow(line=record.line, device="", ok=False, error=record.error)
    values = {column: cell.strip() for column, cell in zip(columns, cells, strict=False)}
    name = values.get("name", "")
    if len(cells) != len(columns):
        error = f"malformed CSV: {len(cells)} fields, the header has {len(columns)}"
        return ImportRow(line=record.line, device=name, ok=False, error=error)
    try:
        for column in _REQUIRED:
            if not values[column]:
                raise InvalidValue(f"{column}: required")
        key = canonical_name(name)
        if key in first_seen:
            raise InvalidValue(
                f"name: device {key} appears twice in the file (first at line {first_seen[key]})"
            )
        first_seen[key] = record.line
        lines = [dn.strip() for dn in values.get("lines", "").split(_LINE_SEPARATOR)]
        device, line_list = prepare_device(
            name=name,
            model=values["model"],
            lines=[dn for dn in lines if dn],
            profile=values.get("profile") or DEFAULT_PROFILE,
            owner=_optional(values, "owner"),
            description=values.get("description", ""),
            oauth_firmware=_flag(values, "oauth_firmware", True),
            requires_activation_code=_flag(values, "requires_activation_code", False),
            allow_activation_via_mra=_flag(values, "allow_activation_via_mra", False),
            mra_service_domain=_optional(values, "mra_service_domain"),
            callmanager_group=_optional(values, "callmanager_group"),
        )
        await insert_device(store, device, line_list, check_owner=True)
    except AdminError as exc:
        return ImportRow(line=record.line, device=name, ok=False, error=exc.message)
    except StoreError as exc:  # e.g. a value too long for its column (PostgreSQL)
        error = f"could not be stored: {exc}"
        return ImportRow(line=record.line, device=name, ok=False, error=error)
    return ImportRow(line=record.line, device=device.name, ok=True)


async def import_devices_csv(
    store: Store,
    text: str,
    *,
    max_bytes: int = IMPORT_MAX_BYTES,
    max_rows: int = IMPORT_MAX_ROWS,
) -> ImportReport:
    """Add the phones of a CSV file, each row on its own (see the module doc).

    Columns: name, model (required), lines (directory numbers separated by
    ``;``), profile (default: the model-independent profile), owner (an
    existing end user), description, requires_activation_code,
    allow_activation_via_mra, mra_service_domain, oauth_firmware (default
    true), callmanager_group (an existing group; empty or ``Default``: every
    server, the publisher first); booleans true/false, yes/no or 1/0, any case. A byte order mark
    and CRLF line ends are accepted. InvalidValue, with nothing added, when
    the file is over ``max_bytes`` or ``max_rows`` or its header is wrong.
    """
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InvalidValue(f"the CSV file is {size} bytes; at most {max_bytes} per import")
    columns, records = _read(text, max_rows)
    first_seen: dict[str, int] = {}
    rows = [await _import_row(store, columns, record, first_seen) for record in records]
    report = ImportReport(rows=tuple(rows))
    if report.added:
        await audit(
            store,
            "import",
            DEVICE_OBJECT,
            "csv",
            {"rows": len(rows), "added": report.added, "failed": report.failed},
        )
        await store.notify(CONFIG_CHANNEL, f"devices imported: {report.added}")
    return report


async def _export_targets(store: Store, names: Sequence[str] | None) -> list[DeviceRecord]:
    if names is None:
        return [
            device
            for device in await store.devices.list()
            if device.device_type == "desk" and device.requires_activation_code
        ]
    targets: dict[str, DeviceRecord] = {}
    for typed in names:
        name = canonical_name(typed)
        device = await store.devices.get(name)
        if device is None:
            raise NotFound(f"device {name} does not exist")
        if device.device_type != "desk":
            raise InvalidValue(f"device {name}: activation codes are for desk phones")
        targets[name] = device
    return sorted(targets.values(), key=lambda d: d.name)


async def export_activation_codes_csv(
    store: Store, names: Sequence[str] | None, *, now: datetime
) -> str:
    """Export Activation Codes: fresh codes for desk phones, as CSV text.

    Activation codes are stored only as keyed hashes (docs/oauth.md) and
    cannot be read back, so this **generates a new code for each phone,
    replacing its previous code** (which stops working). ``names``: the
    phones (desk phones only; all are checked before any code is made);
    None: every desk phone with "Requires Activation Code for Onboarding".
    Columns ``device,model,owner,activation_code,expires_at``; codes as
    ``format_activation_code`` shows them, expiry in ISO 8601 UTC. The text
    holds secrets: hand it over, never log it.
    """
    targets = await _export_targets(store, names)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    for device in targets:
        code, expires_at = await generate_activation_code(store, device.name, now=now, via="export")
        writer.writerow(
            [
                device.name,
                device.model,
                device.owner_user_id or "",
                format_activation_code(code),
                expires_at.isoformat(),
            ]
        )
    return out.getvalue()

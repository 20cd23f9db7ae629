"""Phones in bulk (issue 4 point 10): CSV import with a report per row and no
half-applied rows; activation codes exported as fresh codes."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest

from sipoauth import admin
from sipoauth.oauth._secrets import hash_activation_code, normalise_activation_code
from sipoauth.store import MraDomain, Store, Subscription

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
HEADER = "name,model,lines,profile,owner,description"
DOMAIN = "MRA Europe"


async def _take(sub: Subscription, count: int, timeout: float = 5.0) -> list[str]:
    async with asyncio.timeout(timeout):
        return [await anext(sub) for _ in range(count)]


@pytest.fixture
async def prepared(store: Store) -> Store:
    await admin.ensure_default_profiles(store)
    await store.mra_domains.add(MraDomain(name=DOMAIN, domains=("mra.example.com",)))
    await admin.add_user(store, "alice")
    return store


def _outcomes(report: admin.ImportReport) -> list[tuple[int, str, bool]]:
    return [(row.line, row.device, row.ok) for row in report.rows]


async def _names(store: Store) -> list[str]:
    return [d.name for d in await store.devices.list()]


async def test_import_with_bom_crlf_and_quoted_commas(prepared: Store) -> None:
    store = prepared
    text = (
        "\ufeffName,Model,Lines,Profile,Owner,Description,Requires Activation Code,"
        "allow_activation_via_mra,mra-service-domain,oauth_firmware\r\n"
        f'sep001122334455,8851,1000;1001,{admin.OAUTH_PROFILE},alice,"Desk, 3rd floor",'
        f"yes,TRUE,{DOMAIN},1\r\n"
        "\r\n"
        'CSFALICE,CSF,2000,,alice,"She said ""hi"", then left",,,,\r\n'
        "BAT00AABBCCDDEE,8861, 3000 ; ;3001 ,,,,no,0,,false\r\n"
    )
    async with store.listen("config") as changes:
        report = await admin.import_devices_csv(store, text)
        assert await _take(changes, 1) == ["devices imported: 3"]
    assert report.ok and (report.added, report.failed) == (3, 0)
    assert _outcomes(report) == [
        (2, "SEP001122334455", True),
        (4, "CSFALICE", True),
        (5, "BAT00AABBCCDDEE", True),
    ]
    phone = await store.devices.get("SEP001122334455")
    assert phone is not None
    assert phone.description == "Desk, 3rd floor"
    assert [line.dn for line in phone.lines] == ["1000", "1001"]
    assert (phone.profile_name, phone.owner_user_id) == (admin.OAUTH_PROFILE, "alice")
    assert (phone.requires_activation_code, phone.allow_activation_via_mra) == (True, True)
    assert (phone.mra_service_domain, phone.oauth_firmware) == (DOMAIN, True)
    soft = await store.devices.get("CSFALICE")
    assert soft is not None
    assert soft.description == 'She said "hi", then left'
    assert soft.profile_name == admin.DEFAULT_PROFILE
    bat = await store.devices.get("BAT00AABBCCDDEE")
    assert bat is not None
    assert [line.dn for line in bat.lines] == ["3000", "3001"]
    assert (bat.requires_activation_code, bat.oauth_firmware) == (False, False)

    rows = [r for r in await admin.list_audit(store) if r.object_type != "user"]
    assert (rows[0].action, rows[0].object_id) == ("import", "csv")
    assert rows[0].detail == {"rows": 3, "added": 3, "failed": 0}
    assert sorted(r.object_id for r in rows[1:]) == sorted(await _names(store))


async def test_one_bad_row_among_good_ones(prepared: Store) -> None:
    store = prepared
    text = (
        f"{HEADER}\n"
        "SEP000000000001,8851,1001,,,\n"
        f"SEP000000000002,7945,1002;1003,{admin.OAUTH_PROFILE},,\n"
        "SEP000000000003,8851,1004,,,\n"
    )
    report = await admin.import_devices_csv(store, text)
    assert _outcomes(report) == [
        (2, "SEP000000000001", True),
        (3, "SEP000000000002", False),
        (4, "SEP000000000003", True),
    ]
    assert report.rows[1].error is not None
    assert "model 7945 cannot use a security profile with OAuth" in report.rows[1].error
    assert not report.ok and (report.added, report.failed) == (2, 1)
    assert await _names(store) == ["SEP000000000001", "SEP000000000003"]
    assert await store.devices.get("SEP000000000002") is None  # no line left behind either


@pytest.mark.parametrize(
    ("row", "error"),
    [
        ("SEP000000000009,8851,1,,bob,", "owner: end user 'bob' does not exist"),
        ("SEP000000000009,,1,,,", "model: required"),
        (",8851,1,,,", "name: required"),
        ("SEP0000000009,8851,1,,,", "device name 'SEP0000000009'"),
        ("SEP000000000009,8851,1x,,,", "directory number '1x'"),
        ("SEP000000000009,8851,1;1,,,", "appears twice on the device"),
        ("SEP000000000009,8851,1,nope,,", "security profile 'nope' does not exist"),
        ("SEP000000000009,8851,1,,,a,b", "7 fields, the header has 6"),
        ("SEP000000000009,8851,1,,", "5 fields, the header has 6"),
        ('SEP000000000009,8851,"1"x,,,', "malformed CSV"),
        ("CSFBOB,BOT,1,,,", "a CSF device has model CSF"),
    ],
)
async def test_row_errors_name_the_field_and_add_nothing(
    prepared: Store, row: str, error: str
) -> None:
    text = f"{HEADER}\n{row}\nSEP000000000010,8851,2,,,\n"
    report = await admin.import_devices_csv(prepared, text)
    assert [(r.line, r.ok) for r in report.rows] == [(2, False), (3, True)]
    assert report.rows[0].error is not None
    assert error in report.rows[0].error
    assert await _names(prepared) == ["SEP000000000010"]


async def test_booleans_and_activation_rules_per_row(prepared: Store) -> None:
    text = (
        "name,model,requires_activation_code,allow_activation_via_mra,mra_service_domain\n"
        "SEP000000000001,8851,maybe,,\n"
        "CSFBOB,CSF,yes,,\n"
        "SEP000000000002,8851,,,Nowhere\n"
        "SEP000000000003,8851,Yes,No,\n"
    )
    report = await admin.import_devices_csv(prepared, text)
    errors = [r.error for r in report.rows]
    assert errors[0] == "requires_activation_code: 'maybe' is not true/false, yes/no or 1/0"
    assert errors[1] is not None and "for desk phones" in errors[1]
    assert errors[2] is not None and "'Nowhere' does not exist" in errors[2]
    assert errors[3] is None
    assert await _names(prepared) == ["SEP000000000003"]


async def test_duplicate_names_within_the_file(prepared: Store) -> None:
    text = (
        "name,model\n"
        "SEP0000000000AA,8851\n"
        "sep0000000000aa,8861\n"
        "SEP0000000000BB,8851\n"
        "SEP0000000000AA,8851\n"
    )
    report = await admin.import_devices_csv(prepared, text)
    assert [r.ok for r in report.rows] == [True, False, True, False]
    assert report.rows[1].error == (
        "name: device SEP0000000000AA appears twice in the file (first at line 2)"
    )
    assert await _names(prepared) == ["SEP0000000000AA", "SEP0000000000BB"]
    again = await admin.import_devices_csv(prepared, "name,model\nSEP0000000000AA,8851\n")
    assert again.rows[0].error == "device SEP0000000000AA exists already"


async def test_a_row_with_bad_quoting_is_reported_and_the_rest_goes_on(prepared: Store) -> None:
    text = 'name,model\nSEP000000000001,8851\n"SEP000000000002" x,8851\nSEP000000000003,8851\n'
    report = await admin.import_devices_csv(prepared, text)
    assert [(r.line, r.ok) for r in report.rows] == [(2, True), (3, False), (4, True)]
    assert report.rows[1].error is not None and report.rows[1].error.startswith("malformed CSV")
    # A quoted field may span lines (the next row's line number follows), but
    # a description is one line.
    spanning = 'name,model,description\nSEP00000000000A,8851,"two\nlines"\nSEP00000000000B,8851,x\n'
    report = await admin.import_devices_csv(prepared, spanning)
    assert [(r.line, r.ok) for r in report.rows] == [(2, False), (4, True)]
    assert report.rows[0].error == "description: one line, no control characters"
    # An unterminated quote swallows the rest of the file: one error, at its line.
    tail = 'name,model\nSEP000000000004,8851\n"SEP000000000005,8851\nSEP000000000006,8851\n'
    report = await admin.import_devices_csv(prepared, tail)
    assert [(r.line, r.ok) for r in report.rows] == [(2, True), (3, False)]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty: a header row is required"),
        ("\ufeff\r\n", "empty: a header row is required"),
        ("name,lines\nSEP000000000001,1\n", "required column(s) missing: model"),
        ("model\n8851\n", "required column(s) missing: name"),
        ("SEP000000000001,8851\n", "'sep000000000001' is not a column"),
        ("name,model,colour\nSEP000000000001,8851,red\n", "'colour' is not a column"),
        ("name,model,Name\nSEP000000000001,8851,x\n", "column 'name' appears twice"),
        ('"name,model\nSEP000000000001,8851\n', "header (line 1) cannot be read"),
    ],
)
async def test_whole_file_refusals_add_nothing(prepared: Store, text: str, match: str) -> None:
    with pytest.raises(admin.InvalidValue, match=re.escape(match)):
        await admin.import_devices_csv(prepared, text)
    assert await _names(prepared) == []
    assert await admin.list_audit(prepared, object_type="device") == []


async def test_header_only(prepared: Store) -> None:
    report = await admin.import_devices_csv(prepared, "name,model\r\n\r\n")
    assert report.rows == () and report.ok
    assert await admin.list_audit(prepared, object_type="device") == []


async def test_size_limits(prepared: Store) -> None:
    big = "name,model\n" + "x" * admin.IMPORT_MAX_BYTES
    with pytest.raises(admin.InvalidValue, match=f"at most {admin.IMPORT_MAX_BYTES}"):
        await admin.import_devices_csv(prepared, big)
    many = "name,model\n" + "".join(f"SEP{i:012X},8851\n" for i in range(admin.IMPORT_MAX_ROWS + 1))
    assert len(many.encode()) < admin.IMPORT_MAX_BYTES
    with pytest.raises(admin.InvalidValue, match=f"more than {admin.IMPORT_MAX_ROWS} rows"):
        await admin.import_devices_csv(prepared, many)
    small = "name,model\nSEP000000000001,8851\nSEP000000000002,8851\n"
    with pytest.raises(admin.InvalidValue, match="more than 1 rows"):
        await admin.import_devices_csv(prepared, small, max_rows=1)
    with pytest.raises(admin.InvalidValue, match="at most 20 per import"):
        await admin.import_devices_csv(prepared, small, max_bytes=20)
    assert await _names(prepared) == []


# -- export ---------------------------------------------------------------------------


async def _phones(store: Store) -> None:
    await admin.add_device(
        store,
        name="SEP000000000001",
        model="8851",
        lines=["1"],
        owner="alice",
        requires_activation_code=True,
    )
    await admin.add_device(
        store, name="SEP000000000002", model="8861", lines=["2"], requires_activation_code=True
    )
    await admin.add_device(store, name="SEP000000000003", model="7841", lines=["3"])
    await admin.add_device(store, name="CSFALICE", model="CSF", lines=["4"], owner="alice")


def _parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


async def _key(store: Store) -> bytes:
    [key] = await store.keys.active("activation-code")
    return base64.b64decode(key.material)


async def test_export_makes_fresh_codes_for_phones_requiring_one(prepared: Store) -> None:
    store = prepared
    await _phones(store)
    old, _ = await admin.generate_activation_code(store, "SEP000000000001", now=NOW)
    text = await admin.export_activation_codes_csv(store, None, now=NOW)
    assert text.splitlines()[0] == "device,model,owner,activation_code,expires_at"
    rows = _parse(text)
    assert [(r["device"], r["model"], r["owner"]) for r in rows] == [
        ("SEP000000000001", "8851", "alice"),
        ("SEP000000000002", "8861", ""),
    ]
    key = await _key(store)
    for row in rows:
        assert re.fullmatch(r"[0-9]{4}(-[0-9]{4}){3}", row["activation_code"])
        assert datetime.fromisoformat(row["expires_at"]) == NOW + timedelta(hours=168)
        stored = await store.activation_codes.get(row["device"])
        assert stored is not None
        code = normalise_activation_code(row["activation_code"])
        assert stored.code_hash == hash_activation_code(key, code)
    # The previous code was replaced.
    assert await store.activation_codes.find(hash_activation_code(key, old)) is None
    audit_rows = await admin.list_audit(store, object_type="device")
    exported = [
        r
        for r in audit_rows
        if r.action == "generate-activation-code" and r.detail.get("via") == "export"
    ]
    assert sorted(r.object_id for r in exported) == ["SEP000000000001", "SEP000000000002"]
    for row in exported:
        assert set(row.detail) == {"expires_at", "via"}
    assert all(r["activation_code"].replace("-", "") not in repr(audit_rows) for r in rows)


async def test_export_of_named_phones(prepared: Store) -> None:
    store = prepared
    await _phones(store)
    text = await admin.export_activation_codes_csv(
        store, ["sep000000000003", "SEP000000000003"], now=NOW
    )
    assert [r["device"] for r in _parse(text)] == ["SEP000000000003"]
    assert [c.device_name for c in await store.activation_codes.list()] == ["SEP000000000003"]


@pytest.mark.parametrize(
    ("names", "error", "match"),
    [
        (["SEP000000000001", "CSFALICE"], admin.InvalidValue, "activation codes are for desk"),
        (["SEP000000000001", "SEP0000000000FF"], admin.NotFound, "does not exist"),
    ],
)
async def test_export_refusals_generate_nothing(
    prepared: Store, names: list[str], error: type[admin.AdminError], match: str
) -> None:
    await _phones(prepared)
    with pytest.raises(error, match=match):
        await admin.export_activation_codes_csv(prepared, names, now=NOW)
    assert await prepared.activation_codes.list() == []


async def test_export_with_nothing_to_export(prepared: Store) -> None:
    text = await admin.export_activation_codes_csv(prepared, None, now=NOW)
    assert text == "device,model,owner,activation_code,expires_at\r\n"


async def test_import_callmanager_group(prepared: Store) -> None:
    store = prepared
    await admin.add_server(store, "cucm-pub", "10.0.0.1", "publisher")
    await admin.add_group(store, name="Lab", nodes=["cucm-pub"])
    text = (
        "name,model,CallManager Group\n"
        "SEP000000000001,8851,Lab\n"
        "SEP000000000002,8851,default\n"
        "SEP000000000003,8851,\n"
        "SEP000000000004,8851,Nope\n"
    )
    report = await admin.import_devices_csv(store, text)
    assert [(row.device, row.ok) for row in report.rows] == [
        ("SEP000000000001", True),
        ("SEP000000000002", True),
        ("SEP000000000003", True),
        ("SEP000000000004", False),
    ]
    assert report.rows[3].error == "CallManager group 'Nope' does not exist"
    groups = {d.name: d.callmanager_group for d in await store.devices.list()}
    assert groups == {
        "SEP000000000001": "Lab",
        "SEP000000000002": None,
        "SEP000000000003": None,
    }

"""Enterprise and service parameters (REFERENCE-BEHAVIOUR "Parameters"): one table,
parsed by kind, ranges named in the refusal, refresh tokens revoked when their
lifetime changes."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import pytest

from sipoauth import admin
from sipoauth.admin import _settings as keys
from sipoauth.store import RefreshToken, Store

ACCESS = "OAuth Access Token Expiry Timer (minutes)"
REFRESH = "OAuth Refresh Token Expiry Timer (days)"
RANGES = [
    (ACCESS, 1, 1440),
    (REFRESH, 1, 365),
    ("Activation Time to Live (Hours)", 1, 720),
    ("Registration Interval (seconds)", 60, 3600),
]


async def _refresh_tokens(store: Store, count: int) -> None:
    await store.grants.create("sid-1", "jdoe", "CSFJDOE")
    expires = datetime.now(UTC) + timedelta(days=1)
    for i in range(count):
        await store.refresh_tokens.add(
            RefreshToken(
                token_hash=hashlib.sha256(f"rt-{i}".encode()).hexdigest(),
                sid="sid-1",
                client_id="CSFJDOE",
                subject="jdoe",
                scope="sip:register",
                expires_at=expires,
            )
        )


async def _live(store: Store) -> int:
    return await store.refresh_tokens.count_live(datetime.now(UTC))


def test_table_covers_the_reference_parameters() -> None:
    """Every parameter has its settings key's default, a group and a description."""
    names = [p.name for p in admin.PARAMETERS]
    assert names == [
        "OAuth with Refresh Login Flow",
        ACCESS,
        REFRESH,
        "OAuth Access Token for Devices",
        "Redirect URIs for Third Party SSO Client",
        "SIP Realm Station",
        "Registration Interval (seconds)",
        "Activation Time to Live (Hours)",
        "Enable Mobile and Remote Access Activation",
        "Mobile and Remote Access Activation Domain",
    ]
    for parameter in admin.PARAMETERS:
        assert parameter.default == keys.DEFAULTS[parameter.key]
        assert parameter.group in ("SSO and OAuth Configuration", "Service Parameters")
        assert parameter.description
        # The default is a value the parameter accepts.
        assert parameter.parse(parameter.display(parameter.default)) == parameter.default
    assert [p.name for p in admin.PARAMETERS if p.group == "SSO and OAuth Configuration"] == (
        names[:5]
    )


async def test_list_shows_defaults_then_changes(store: Store) -> None:
    listed = await admin.list_parameters(store)
    assert [v.parameter for v in listed] == list(admin.PARAMETERS)
    assert all(v.is_default for v in listed)
    by_name = {v.parameter.name: v for v in listed}
    assert by_name["OAuth with Refresh Login Flow"].display == "Disabled"
    assert by_name["OAuth Access Token for Devices"].display == (
        "Implicit: already registered devices"
    )
    assert by_name["SIP Realm Station"].value == "ccmsipline"

    await admin.set_parameter(store, ACCESS, "30")
    changed = {v.parameter.name: v for v in await admin.list_parameters(store)}[ACCESS]
    assert (changed.value, changed.is_default) == (30, False)


@pytest.mark.parametrize(("name", "low", "high"), RANGES)
async def test_integer_ranges(store: Store, name: str, low: int, high: int) -> None:
    """Each boundary is accepted; one past it is refused with a message naming the range."""
    for good in (low, high):
        result = await admin.set_parameter(store, name, f" {good} ")
        assert result.value == good
    for bad in (str(low - 1), str(high + 1), "-5"):
        with pytest.raises(admin.InvalidValue) as refused:
            await admin.set_parameter(store, name, bad)
        assert refused.value.message == f"{name} must be between {low} and {high}"
        assert refused.value.status == 400
    for bad in ("ten", "1.5", "", "1e3", "9" * 40):
        with pytest.raises(admin.InvalidValue, match=f"between {low} and {high}"):
            await admin.set_parameter(store, name, bad)
    assert (await store.settings.get(admin.find_parameter(name).key)) == high


async def test_access_token_message_as_in_the_issue(store: Store) -> None:
    with pytest.raises(admin.InvalidValue) as refused:
        await admin.set_parameter(store, ACCESS, "1441")
    assert str(refused.value) == (
        "OAuth Access Token Expiry Timer (minutes) must be between 1 and 1440"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Enabled", True),
        ("enabled", True),
        ("TRUE", True),
        ("on", True),
        ("1", True),
        ("Disabled", False),
        ("false", False),
        ("OFF", False),
        ("0", False),
    ],
)
async def test_bool_spellings(store: Store, text: str, expected: bool) -> None:
    for name in ("OAuth with Refresh Login Flow", "Enable Mobile and Remote Access Activation"):
        assert (await admin.set_parameter(store, name, text)).value is expected


async def test_bool_refusal_and_labels(store: Store) -> None:
    with pytest.raises(admin.InvalidValue) as refused:
        await admin.set_parameter(store, "OAuth with Refresh Login Flow", "maybe")
    assert refused.value.message == "OAuth with Refresh Login Flow must be Enabled or Disabled"
    result = await admin.set_parameter(store, "OAuth with Refresh Login Flow", "on")
    assert result.display == "Enabled"
    result = await admin.set_parameter(store, "Enable Mobile and Remote Access Activation", "0")
    assert result.display == "False"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("explicit", "explicit"),
        ("Explicit", "explicit"),
        ("explicit: activation-code onboarding required", "explicit"),
        ("IMPLICIT", "implicit"),
        ("Implicit: already registered devices", "implicit"),
    ],
)
async def test_choices(store: Store, text: str, expected: str) -> None:
    result = await admin.set_parameter(store, "OAuth Access Token for Devices", text)
    assert result.value == expected


async def test_choice_refused(store: Store) -> None:
    with pytest.raises(admin.InvalidValue) as refused:
        await admin.set_parameter(store, "OAuth Access Token for Devices", "sometimes")
    assert "implicit (Implicit: already registered devices)" in refused.value.message
    assert "explicit (Explicit: activation-code onboarding required)" in refused.value.message


URIS = "Redirect URIs for Third Party SSO Client"


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("", ""),
        (" , ", ""),
        ("https://app.example.com/cb", "https://app.example.com/cb"),
        ("HTTPS://App.Example.com:8443/cb?x=1", "HTTPS://App.Example.com:8443/cb?x=1"),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:8080/cb"),  # RFC 8252 §7.3
        ("http://127.0.0.1/cb", "http://127.0.0.1/cb"),
        ("http://[::1]:53017/cb", "http://[::1]:53017/cb"),
        ("com.example.app:/oauth2redirect", "com.example.app:/oauth2redirect"),  # §7.1
        (
            " https://a.example/cb , com.example.app:/cb,https://a.example/cb ",
            "https://a.example/cb,com.example.app:/cb",
        ),
    ],
)
async def test_redirect_uris_accepted(store: Store, text: str, stored: str) -> None:
    assert (await admin.set_parameter(store, URIS, text)).value == stored


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("http://app.example.com/cb", "loopback IP address"),
        ("http://localhost:8080/cb", "loopback IP address"),  # RFC 8252 §8.3
        ("http://10.0.0.1/cb", "loopback IP address"),
        ("https://app.example.com/cb#top", "fragment"),
        ("com.example.app:/cb#x", "fragment"),
        ("com.example.app://cb", "com.example.app:/path"),
        ("com.example.app:cb", "com.example.app:/path"),
        ("myapp:/cb", "private-use scheme"),
        ("javascript:alert(1)", "private-use scheme"),
        ("ftp://files.example.com/cb", "private-use scheme"),
        ("/relative/cb", "absolute URI"),
        ("app.example.com/cb", "absolute URI"),
        ("https:///cb", "needs a host"),
        ("https://user:pw@app.example.com/cb", "user information"),
        ("https://app.example.com:99999/cb", "not a valid URI"),
        ("https://[::1/cb", "not a valid URI"),
        ("https://app.example.com/a b", "without spaces"),
        ("https://app.example.com/ü", "ASCII"),
        ("https://ok.example/cb, http://evil.example/cb", "http://evil.example/cb"),
    ],
)
async def test_redirect_uris_refused(store: Store, text: str, reason: str) -> None:
    with pytest.raises(admin.InvalidValue) as refused:
        await admin.set_parameter(store, URIS, text)
    assert refused.value.message.startswith(f"{URIS}: ")
    assert reason in refused.value.message
    assert await store.settings.get(keys.THIRD_PARTY_REDIRECT_URIS) is None  # unchanged


@pytest.mark.parametrize(
    ("text", "stored"),
    [("ccmsipline", "ccmsipline"), ("  Realm one  ", "Realm one"), ("r" * 64, "r" * 64)],
)
async def test_realm_accepted(store: Store, text: str, stored: str) -> None:
    assert (await admin.set_parameter(store, "SIP Realm Station", text)).value == stored


@pytest.mark.parametrize("text", ["", "   ", "r" * 65, 'a"b', "a\\b", "tab\there", "réalm"])
async def test_realm_refused(store: Store, text: str) -> None:
    with pytest.raises(admin.InvalidValue) as refused:
        await admin.set_parameter(store, "SIP Realm Station", text)
    assert refused.value.message == (
        "SIP Realm Station must be 1 to 64 printable ASCII characters without quotes or backslashes"
    )


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("", ""),
        ("Example.COM.", "example.com"),
        ("mra.collab-edge.example.org", "mra.collab-edge.example.org"),
    ],
)
async def test_mra_domain_accepted(store: Store, text: str, stored: str) -> None:
    name = "Mobile and Remote Access Activation Domain"
    assert (await admin.set_parameter(store, name, text)).value == stored


@pytest.mark.parametrize(
    "text", ["not a domain", "example", "1.2.3.4", "-bad.example.com", "a..example.com", "x_y.com"]
)
async def test_mra_domain_refused(store: Store, text: str) -> None:
    with pytest.raises(admin.InvalidValue, match="empty or a domain name"):
        await admin.set_parameter(store, "Mobile and Remote Access Activation Domain", text)


async def test_names_match_key_or_display_name(store: Store) -> None:
    assert admin.find_parameter(keys.ACCESS_TOKEN_MINUTES).name == ACCESS
    assert admin.find_parameter("  oauth ACCESS token expiry timer (MINUTES) ").name == ACCESS
    result = await admin.set_parameter(store, keys.ACCESS_TOKEN_MINUTES, "15")
    assert result.value == 15
    with pytest.raises(admin.NotFound) as refused:
        await admin.set_parameter(store, "cluster.id", "x")  # a setting, not a parameter
    assert refused.value.message == (
        "there is no parameter 'cluster.id'; `sipoauth parameters list` shows them"
    )
    assert refused.value.status == 404


async def test_refresh_lifetime_change_revokes_refresh_tokens(store: Store) -> None:
    """Reference: changing the refresh-token lifetime revokes every refresh token; setting
    the value it already has revokes nothing; other parameters revoke nothing."""
    await _refresh_tokens(store, 3)
    unchanged = await admin.set_parameter(store, REFRESH, "60")  # the default
    assert (unchanged.changed, unchanged.refresh_tokens_revoked) == (False, 0)
    await admin.set_parameter(store, ACCESS, "30")
    assert await _live(store) == 3

    changed = await admin.set_parameter(store, REFRESH, "30")
    assert (changed.changed, changed.refresh_tokens_revoked, changed.value) == (True, 3, 30)
    assert await _live(store) == 0

    await _refresh_tokens_again(store)
    same = await admin.set_parameter(store, REFRESH, "30")
    assert same.refresh_tokens_revoked == 0 and await _live(store) == 1

    reset = await admin.reset_parameter(store, REFRESH)
    assert (reset.value, reset.is_default, reset.refresh_tokens_revoked) == (60, True, 1)
    assert await _live(store) == 0
    again = await admin.reset_parameter(store, REFRESH)
    assert (again.changed, again.refresh_tokens_revoked) == (False, 0)


async def _refresh_tokens_again(store: Store) -> None:
    await store.refresh_tokens.add(
        RefreshToken(
            token_hash=hashlib.sha256(b"rt-new").hexdigest(),
            sid="sid-1",
            client_id="CSFJDOE",
            subject="jdoe",
            scope="sip:register",
            expires_at=datetime.now(UTC) + timedelta(days=1),
        )
    )


async def test_reset_restores_the_default(store: Store) -> None:
    await admin.set_parameter(store, "OAuth Access Token for Devices", "explicit")
    result = await admin.reset_parameter(store, "oauth access token for devices")
    assert (result.value, result.is_default, result.changed) == ("implicit", True, True)
    assert await store.settings.get(keys.TOKEN_FOR_DEVICES) == "implicit"


async def test_changes_are_announced(store: Store) -> None:
    """A change is announced on `config` with the settings key; an unchanged value is not."""
    async with store.listen("config") as changes:
        await admin.set_parameter(store, ACCESS, "60")  # the default: nothing to announce
        await admin.set_parameter(store, "SIP Realm Station", "realm2")
        first = await asyncio.wait_for(anext(changes), timeout=10)
        await admin.reset_parameter(store, "SIP Realm Station")
        second = await asyncio.wait_for(anext(changes), timeout=10)
    assert (first, second) == (keys.SIP_REALM, keys.SIP_REALM)


async def test_overlong_value_refused(store: Store) -> None:
    with pytest.raises(admin.InvalidValue, match="at most 4096 characters"):
        await admin.set_parameter(store, URIS, "https://a.example/" + "x" * 5000)

"""Unit tests of the client registry, secrets and throttle (no sockets)."""

from __future__ import annotations

import hashlib

import pytest

from sipoauth.oauth import (
    ACTIVATION_GRANT,
    DESK_PHONE_CLIENT,
    SOFT_CLIENT_IDS,
    THIRD_PARTY_CLIENT,
    ClientRegistry,
    Throttle,
    ThrottleSettings,
    hash_activation_code,
    hash_secret,
    new_activation_code,
)
from sipoauth.oauth._clients import redirect_uri_matches
from sipoauth.oauth._secrets import new_secret, normalise_activation_code


@pytest.mark.parametrize(
    ("registered", "presented", "ok"),
    [
        ("http://127.0.0.1/callback", "http://127.0.0.1/callback", True),
        ("http://127.0.0.1/callback", "http://127.0.0.1:51234/callback", True),
        ("http://[::1]/callback", "http://[::1]:8080/callback", True),
        ("http://127.0.0.1/callback", "http://127.0.0.1:51234/other", False),
        ("http://127.0.0.1/callback", "http://localhost:51234/callback", False),
        ("http://127.0.0.1/callback", "https://127.0.0.1:51234/callback", False),
        ("http://127.0.0.1/callback", "http://127.0.0.1:99999/callback", False),
        ("http://127.0.0.1/callback", "http://127.0.0.1:1/callback#frag", False),
        ("http://127.0.0.1/callback", "http://user@127.0.0.1:1/callback", False),
        ("https://app.example.com/cb", "https://app.example.com/cb", True),
        ("https://app.example.com/cb", "https://app.example.com:444/cb", False),
        ("https://app.example.com/cb", "https://app.example.com/cb?x=1", False),
        (
            "com.sipoauth.softclient:/oauth2redirect",
            "com.sipoauth.softclient:/oauth2redirect",
            True,
        ),
    ],
)
def test_redirect_uri_exact_except_loopback_port(registered: str, presented: str, ok: bool) -> None:
    """RFC 6749 §3.1.2.3 / RFC 9700 §4.1.3 exact match; RFC 8252 §7.3 loopback port."""
    assert redirect_uri_matches(registered, presented) is ok


def test_registry_clients_and_grants() -> None:
    """R1.1 soft clients, the desk-phone client; third party only when configured."""
    registry = ClientRegistry()
    assert registry.get(THIRD_PARTY_CLIENT) is None
    assert registry.get("") is None and registry.get(None) is None
    for kind, cid in SOFT_CLIENT_IDS.items():
        client = registry.get(cid)
        assert client is not None and client.kind == "soft" and kind in client.name
        assert client.check_grant_type("authorization_code")
        assert not client.check_grant_type(ACTIVATION_GRANT)
        assert client.check_response_type("code") and not client.check_response_type("token")
        assert not client.check_client_secret("anything")
    desk = registry.get(DESK_PHONE_CLIENT)
    assert desk is not None
    assert desk.check_grant_type(ACTIVATION_GRANT) and not desk.check_response_type("code")
    assert desk.check_endpoint_auth_method("tls_client_auth", "token")
    third = ClientRegistry.from_parameter(" https://a.example/cb , ,com.example.app:/cb ")
    client = third.get(THIRD_PARTY_CLIENT)
    assert client is not None
    assert client.redirect_uris == ("https://a.example/cb", "com.example.app:/cb")


def test_allowed_scope_is_a_subset() -> None:
    """RFC 6749 §3.3: a client gets at most its registered scope."""
    client = ClientRegistry().get(SOFT_CLIENT_IDS["CSF"])
    assert client is not None
    assert client.get_allowed_scope(None) == "sip:register config:read"
    assert client.get_allowed_scope("config:read admin:all") == "config:read"


def test_secrets() -> None:
    """DESIGN Tokens: opaque 256-bit secrets stored as SHA-256; 16-digit codes, HMAC."""
    a, b = new_secret(), new_secret()
    assert a != b and len(a) >= 43
    assert hash_secret(a) == hashlib.sha256(a.encode()).hexdigest()
    codes = {new_activation_code() for _ in range(200)}
    assert len(codes) == 200 and all(len(c) == 16 and c.isdigit() for c in codes)
    assert normalise_activation_code("1234-5678 9012-3456") == "1234567890123456"
    for bad in ("123456789012345", "12345678901234567", "1234x67890123456", "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦"):
        assert normalise_activation_code(bad) is None
    h1 = hash_activation_code(b"k" * 32, "1234567890123456")
    assert h1 != hash_activation_code(b"j" * 32, "1234567890123456")
    assert h1 != hashlib.sha256(b"1234567890123456").hexdigest()


def test_throttle_counts_failures_per_source_and_globally() -> None:
    """RFC 8628 §5.1 reasoning: after the limit, wait; other sources unaffected
    until the global limit."""
    t = Throttle(ThrottleSettings(activation_per_source=3, activation_global=5))
    for _ in range(3):
        assert t.wait("activation", "192.0.2.1") is None
        t.failed("activation", "192.0.2.1")
    wait = t.wait("activation", "192.0.2.1")
    assert wait is not None and 1 <= wait <= 60
    assert t.wait("activation", "192.0.2.2") is None
    t.failed("activation", "192.0.2.2")
    t.failed("activation", "192.0.2.3")
    assert t.wait("activation", "192.0.2.4") is not None  # global limit reached
    assert t.wait("signin", "192.0.2.1", "jdoe") is None  # kinds are separate
    assert ThrottleSettings().guesses_per_day() == 30 * 60 * 24


def test_throttle_per_user_for_sign_in() -> None:
    """Sign-in failures also count per user id, whatever the source."""
    t = Throttle(ThrottleSettings(signin_per_user=2, signin_per_source=100, signin_global=100))
    t.failed("signin", "192.0.2.1", "JDoe")
    t.failed("signin", "192.0.2.2", "jdoe")
    assert t.wait("signin", "192.0.2.3", "jdoe") is not None
    assert t.wait("signin", "192.0.2.3", "asmith") is None


def test_registrar_knows_the_client_ids() -> None:
    """The registrar's copy of the client ids (it does not import the
    authorization server) is the registry's."""
    from sipoauth.registrar._directory import DESK_PHONE_CLIENT as REG_DESK
    from sipoauth.registrar._directory import USER_CLIENTS

    assert REG_DESK == DESK_PHONE_CLIENT
    registry = ClientRegistry.from_parameter("https://a.example/cb")
    assert {c.client_id for c in registry.all() if c.kind != "desk"} == USER_CLIENTS

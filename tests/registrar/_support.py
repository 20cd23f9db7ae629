"""Fixtures for the sans-IO registrar tests: keys, a directory, a REGISTER builder."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from sipoauth.oauth import (
    AccessTokenVerifier,
    EncryptionKey,
    KeyRing,
    SigningKey,
    mint_access_token,
)
from sipoauth.registrar import (
    DeviceInfo,
    DirectorySnapshot,
    Flow,
    Registrar,
    RegistrarSettings,
)
from sipoauth.sip import Request, parse_message

ISSUER = "https://cucm-pub.example.com:8443"
AUDIENCE = "urn:sipoauth:cluster:test"
NOW = 1_800_000_000.0
PHONE = "SEP001122334455"
PHONE2 = "SEP00AABBCCDDEE"
SOFT = "CSFjdoe"


@pytest.fixture(scope="session")
def keys() -> KeyRing:
    return KeyRing([SigningKey.generate()], [EncryptionKey.generate()])


@pytest.fixture(scope="session")
def other_keys() -> KeyRing:
    """Another cluster's keys."""
    return KeyRing([SigningKey.generate()], [EncryptionKey.generate()])


@dataclass
class Minter:
    keys: KeyRing
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def __call__(
        self,
        subject: str = PHONE,
        *,
        scope: str = "sip:register config:read",
        sid: str | None = None,
        now: float = NOW,
        lifetime: int = 3600,
        issuer: str = ISSUER,
        audience: str = AUDIENCE,
        keys: KeyRing | None = None,
    ) -> str:
        n = next(self.counter)
        return mint_access_token(
            keys or self.keys,
            issuer=issuer,
            audience=audience,
            subject=subject,
            client_id="phone" if subject.startswith("SEP") else "csf",
            scope=scope,
            sid=sid or f"grant-{n}",
            now=now,
            lifetime=lifetime,
        )


@pytest.fixture
def mint(keys: KeyRing) -> Minter:
    return Minter(keys)


@pytest.fixture
def directory() -> DirectorySnapshot:
    return DirectorySnapshot.build(
        oauth_mode=True,
        devices=[
            DeviceInfo(PHONE, ("1001", "1002"), oauth=True),
            DeviceInfo(PHONE2, ("2001",), oauth=True),
            DeviceInfo("SEPDEADBEEF0000", ("3001",), oauth=False),
            DeviceInfo(SOFT, ("1001",), oauth=True, owner="jdoe"),
        ],
    )


@pytest.fixture
def settings() -> RegistrarSettings:
    return RegistrarSettings(
        host="cucm-pub.example.com",
        authz_server=ISSUER,
        domains=frozenset({"example.com", "cucm-pub.example.com"}),
    )


@pytest.fixture
def registrar(
    keys: KeyRing, directory: DirectorySnapshot, settings: RegistrarSettings
) -> Registrar:
    verifier = AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    tags = itertools.count(1)
    return Registrar(settings, directory, verifier, tag_factory=lambda: f"t{next(tags)}")


DIRECT = Flow("flow-1", via_edge=False, remote="192.0.2.10:50000")
EDGE = Flow("flow-edge", via_edge=True, edge="expc.example.com", remote="192.0.2.99:40000")


def register_bytes(
    *,
    line: str = "1001",
    device: str | None = PHONE,
    instance: str | None = "<urn:uuid:00000000-0000-1000-8000-001122334455>",
    token: str | None = None,
    proxy_form: bool = False,
    expires: int | None = 3600,
    contact_expires: int | None = None,
    cseq: int = 1,
    call_id: str = "call-1@192.0.2.10",
    branch: str = "z9hG4bK-1",
    contact_uri: str = "sip:1001@192.0.2.10:50000;transport=tls",
    contacts: list[str] | None = None,
    ruri: str = "sip:example.com",
    to_host: str = "example.com",
    extra: list[str] | None = None,
) -> bytes:
    """A REGISTER as a deployed phone sends it."""
    if contacts is None:
        params = ""
        if instance is not None:
            params += f';+sip.instance="{instance}"'
        if device is not None:
            params += f';+u.sip!devicename.ccm.cisco.com="{device}"'
        if contact_expires is not None:
            params += f";expires={contact_expires}"
        contacts = [f"<{contact_uri}>{params}"]
    lines = [
        f"REGISTER {ruri} SIP/2.0",
        f"Via: SIP/2.0/TLS 192.0.2.10:50000;branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:{line}@{to_host}>;tag=ftag1",
        f"To: <sip:{line}@{to_host}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} REGISTER",
    ]
    lines += [f"Contact: {c}" for c in contacts]
    if expires is not None:
        lines.append(f"Expires: {expires}")
    if token is not None:
        if proxy_form:
            lines.append(f'Proxy-Authorization: Bearer token="{token}"')
        else:
            lines.append(f"Authorization: Bearer {token}")
    lines += extra or []
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def request(**kwargs: object) -> Request:
    message = parse_message(register_bytes(**kwargs))  # type: ignore[arg-type]
    assert isinstance(message, Request)
    message.validate()
    return message


@pytest.fixture
def req() -> Callable[..., Request]:
    return request

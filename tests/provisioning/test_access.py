"""Who may read a device's file on 6971 (issue 5 point 2, R10): the token must be
for this device (desk phones) or its owner (soft clients) and allow config reads."""

from __future__ import annotations

import pytest

from sipoauth.oauth import DESK_PHONE_CLIENT, SCOPE_CONFIG_READ, SCOPE_SIP_REGISTER, AccessClaims
from sipoauth.provisioning import decide
from sipoauth.registrar import DeviceInfo

PHONE = DeviceInfo("SEP001122334455", ("1001",), oauth=True)
OTHER_PHONE = DeviceInfo("SEP00112233AABB", ("1002",), oauth=True)
SOFT = DeviceInfo("CSFALICE", ("1003",), oauth=True, owner="alice")


def _claims(
    subject: str, client: str, scope: frozenset[str] = frozenset({SCOPE_CONFIG_READ})
) -> AccessClaims:
    return AccessClaims(subject, client, scope, "sid1", "jti1", 0.0, 60.0, None)


def test_desk_phone_token_reads_its_own_file() -> None:
    assert decide(_claims(PHONE.name, DESK_PHONE_CLIENT), PHONE.name, PHONE).status == 200


def test_soft_client_owner_token_reads_its_file() -> None:
    assert decide(_claims("alice", "sipoauth-csf"), SOFT.name, SOFT).status == 200


def test_one_device_token_cannot_read_another_device_file() -> None:
    decision = decide(_claims(PHONE.name, DESK_PHONE_CLIENT), OTHER_PHONE.name, OTHER_PHONE)
    assert decision.status == 403


@pytest.mark.parametrize(
    ("claims", "device"),
    [
        (("bob", "sipoauth-csf"), SOFT),  # another user's soft client
        (("alice", DESK_PHONE_CLIENT), SOFT),  # desk-phone client for a soft client
        ((PHONE.name, "sipoauth-csf"), PHONE),  # a sign-in client for a desk phone
        (("alice", "sipoauth-csf"), PHONE),  # a user's token for a desk phone
    ],
)
def test_token_bound_like_at_the_registrar(claims: tuple[str, str], device: DeviceInfo) -> None:
    assert decide(_claims(*claims), device.name, device).status == 403


def test_token_without_config_read_gets_insufficient_scope() -> None:
    """RFC 6750 §3.1: a valid token lacking the scope is 403 insufficient_scope."""
    claims = _claims(PHONE.name, DESK_PHONE_CLIENT, frozenset({SCOPE_SIP_REGISTER}))
    decision = decide(claims, PHONE.name, PHONE)
    assert (decision.status, decision.error) == (403, "insufficient_scope")


def test_unknown_device_looks_like_someone_elses_to_a_token_holder() -> None:
    """A holder of a valid token cannot probe which names exist: 403 either way."""
    claims = _claims(PHONE.name, DESK_PHONE_CLIENT)
    unknown = decide(claims, "SEP999999999999", None)
    existing = decide(claims, OTHER_PHONE.name, OTHER_PHONE)
    assert (unknown.status, unknown.detail) == (existing.status, existing.detail)


def test_desk_phone_whose_record_is_gone_gets_404() -> None:
    assert decide(_claims(PHONE.name, DESK_PHONE_CLIENT), PHONE.name, None).status == 404
    # A user named like the missing device learns nothing.
    assert decide(_claims(PHONE.name, "sipoauth-csf"), PHONE.name, None).status == 403

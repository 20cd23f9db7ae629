"""Property tests: whatever arrives, verify() answers with InvalidToken or claims.

RFC 8725 §3.4 ("validate all ... inputs") — the parser is fed arbitrary text,
arbitrary compact-looking tokens and single-character mutations of valid ones.
"""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oauth_forge import AUDIENCE, ISSUER, NOW

from sipoauth.oauth import AccessTokenVerifier, InvalidToken, KeyRing, mint_access_token

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
B64URL = string.ascii_letters + string.digits + "-_"


def refused(verifier: AccessTokenVerifier, token: str) -> None:
    try:
        verifier.verify(token, NOW)
    except InvalidToken:
        return
    raise AssertionError("accepted")


@SETTINGS
@given(text=st.text(max_size=300))
def test_arbitrary_text(verifier: AccessTokenVerifier, text: str) -> None:
    refused(verifier, text)


@SETTINGS
@given(parts=st.lists(st.text(alphabet=B64URL, max_size=60), min_size=1, max_size=7))
def test_arbitrary_compact(verifier: AccessTokenVerifier, parts: list[str]) -> None:
    refused(verifier, ".".join(parts))


@SETTINGS
@given(data=st.data())
def test_any_single_change_is_refused(
    verifier: AccessTokenVerifier, ring: KeyRing, data: st.DataObject
) -> None:
    """AES-GCM covers header, IV, ciphertext and tag: no edited token verifies."""
    token = mint_access_token(
        ring,
        issuer=ISSUER,
        audience=AUDIENCE,
        subject="jdoe",
        client_id="CSFJDOE",
        scope="sip:register",
        sid="g",
        now=NOW,
        lifetime=60,
        jti="fuzz",
    )
    # Draws must not depend on the token's random IV (Hypothesis replays examples):
    # pick a position and a non-zero step through the alphabet, then apply both.
    alphabet = B64URL + "."
    position = data.draw(st.floats(0, 1, exclude_max=True))
    step = data.draw(st.integers(1, len(alphabet) - 1))
    index = int(position * len(token))
    replacement = alphabet[(alphabet.index(token[index]) + step) % len(alphabet)]
    assert replacement != token[index]
    refused(verifier, token[:index] + replacement + token[index + 1 :])

"""The connection's fast path (parse cache, framer skipped) writes what the framer path writes.

`SipConnection` parses a request that repeats a recent one by comparison and
skips the framer when the octets just read are exactly that request. Each test
feeds the same octets, in the same chunks, to a `SipConnection` and to a
reference that always frames and parses in full (the path before the cache),
on twin cores (same keys, directory, tags and clock), and expects the same
writes, the same closes and the same registrar state.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipoauth.oauth import AccessTokenVerifier, KeyRing
from sipoauth.registrar import (
    ConnectionOutput,
    DirectorySnapshot,
    Flow,
    Registrar,
    RegistrarSettings,
    SipConnection,
    SipCore,
)
from sipoauth.sip import (
    FramedMessage,
    FramingError,
    KeepAlivePing,
    ParseCache,
    Request,
    ServerTransactions,
    StreamFramer,
)

from ._support import AUDIENCE, ISSUER, NOW, Minter, register_bytes

FLOW = Flow("f1")


def make_core(keys: KeyRing, directory: DirectorySnapshot) -> SipCore:
    settings_ = RegistrarSettings(
        host="cucm-pub.example.com",
        authz_server=ISSUER,
        domains=frozenset({"example.com", "cucm-pub.example.com"}),
    )
    verifier = AccessTokenVerifier(keys, issuer=ISSUER, audience=AUDIENCE)
    tags = itertools.count(1)
    registrar = Registrar(settings_, directory, verifier, tag_factory=lambda: f"t{next(tags)}")
    return SipCore(registrar, ServerTransactions())


class Reference:
    """The connection as it was before the parse cache: framer, then a full parse."""

    def __init__(self, core: SipCore) -> None:
        self.core = core
        self.framer = StreamFramer()

    def receive_data(self, data: bytes, now: float) -> ConnectionOutput:
        out = ConnectionOutput()
        self.framer.receive_data(data)
        while (event := self.framer.next_event()) is not None:
            if isinstance(event, FramedMessage):
                result = self.core.handle(event.data, FLOW, now)
                if result.response is not None:
                    out.data.append(result.response)
                out.results.append(result)
            elif isinstance(event, KeepAlivePing):
                out.data.append(b"\r\n")
            elif isinstance(event, FramingError):
                if event.response is not None:
                    out.data.append(event.response)
                out.close = True
                break
        return out


def same(
    keys: KeyRing, directory: DirectorySnapshot, chunks: Sequence[bytes], now: float = NOW
) -> SipConnection:
    """Feed `chunks` to a connection and to the reference; both must answer alike."""
    conn = SipConnection(make_core(keys, directory), FLOW)
    reference = Reference(make_core(keys, directory))
    for n, chunk in enumerate(chunks):
        got = conn.receive_data(chunk, now + n)
        want = reference.receive_data(chunk, now + n)
        assert (got.data, got.close) == (want.data, want.close), (n, chunk[:60])
        assert [(r.status, r.detail, r.changes) for r in got.results] == [
            (r.status, r.detail, r.changes) for r in want.results
        ]
    assert list(conn._core.registrar.table) == list(reference.core.registrar.table)
    return conn


def re_registers(token: str, count: int, **kw: object) -> list[bytes]:
    return [
        register_bytes(token=token, cseq=n, branch=f"z9hG4bK-{n}", **kw)  # type: ignore[arg-type]
        for n in range(1, count + 1)
    ]


def test_steady_re_registers_take_the_fast_path(
    keys: KeyRing, directory: DirectorySnapshot, mint: Minter, monkeypatch: pytest.MonkeyPatch
) -> None:
    matches: list[bool] = []
    match = ParseCache.match

    def counting(self: ParseCache, data: bytes) -> Request | None:
        request = match(self, data)
        matches.append(request is not None)
        return request

    monkeypatch.setattr(ParseCache, "match", counting)
    conn = same(keys, directory, re_registers(mint(), 8))
    assert len(conn._cache) == 1
    assert matches.count(True) == 6  # all but the first two (and the reference never asks)


def test_retransmission_gets_the_stored_answer(
    keys: KeyRing, directory: DirectorySnapshot, mint: Minter
) -> None:
    """RFC 3261 §17.2.3: the same request again (matched by the cache) is a retransmission."""
    messages = re_registers(mint(), 4)
    same(keys, directory, [*messages, messages[-1], messages[-1]])


def test_pipelined_split_and_pings(
    keys: KeyRing, directory: DirectorySnapshot, mint: Minter
) -> None:
    """Chunks that are not exactly one request go through the framer, in order."""
    m = re_registers(mint(), 9)
    chunks = [m[0], m[1], m[2], m[3] + m[4], m[5][:50], m[5][50:], b"\r\n\r\n", m[6]]
    same(keys, directory, [*chunks, b"\r\n" + m[7], m[8]])


def _with_length(data: bytes, length: int, body: bytes = b"") -> bytes:
    return data.replace(b"Content-Length: 0", f"Content-Length: {length}".encode()) + body


@pytest.mark.parametrize(
    "last",
    [
        lambda token: register_bytes(token=token, cseq=9, branch="z9hG4bK-9", expires=60),
        lambda token: register_bytes(cseq=9, branch="z9hG4bK-9"),  # no credentials: 401
        lambda token: register_bytes(token=token, cseq=9, extra=["Require: foo"]),  # 420
        lambda token: register_bytes(token=token, cseq=9).replace(b"9 REGISTER", b"9 INVITE"),
        lambda token: register_bytes(token=token, cseq=9).replace(b"Content-Length", b"l"),
        lambda token: register_bytes(token=token, cseq=1, branch="z9hG4bK-x"),  # 500: CSeq
        lambda token: _with_length(register_bytes(token=token, cseq=9), 3, b"abc"),  # no type
        lambda token: _with_length(register_bytes(token=token, cseq=9), 9),  # waits for more
    ],
)
def test_other_requests_on_the_connection(
    keys: KeyRing, directory: DirectorySnapshot, mint: Minter, last: Callable[[str], bytes]
) -> None:
    token = mint()
    messages = re_registers(token, 4)
    same(keys, directory, [*messages, last(token), messages[-1]])


@given(
    st.lists(
        st.tuples(
            st.integers(1, 8),
            st.sampled_from(["as is", "branch", "cseq", "expires", "pipelined", "cut", "garble"]),
            st.integers(0, 2000),
        ),
        min_size=1,
        max_size=10,
    )
)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_any_sequence_same_writes(
    keys: KeyRing, directory: DirectorySnapshot, mint: Minter, steps: list[tuple[int, str, int]]
) -> None:
    """Re-REGISTERs changed, pipelined, cut or garbled at random: the same writes."""
    token = mint()
    chunks = re_registers(token, 3)
    for seq, how, at in steps:
        data = register_bytes(token=token, cseq=3 + seq, branch=f"z9hG4bK-{seq}")
        if how == "branch":
            data = data.replace(f"z9hG4bK-{seq}".encode(), f"z9hG4bK-{seq}{at}".encode())
        elif how == "cseq":
            data = data.replace(f"CSeq: {3 + seq} ".encode(), f"CSeq: {at} ".encode())
        elif how == "expires":
            data = data.replace(b"Expires: 3600", f"Expires: {at}".encode())
        elif how == "pipelined":
            chunks.append(data + data)
            continue
        elif how == "cut":
            cut = at % len(data)
            chunks += [data[:cut], data[cut:]]
            continue
        elif how == "garble":
            pos = at % len(data)
            data = data[:pos] + b"\r" + data[pos + 1 :]
        chunks.append(data)
    same(keys, directory, chunks)

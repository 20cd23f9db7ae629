#!/usr/bin/env python3
"""In-process REGISTER cost, from decrypted bytes to response bytes (no sockets, no TLS).

    .venv/bin/python bench/core.py              # steady state: 1,000 devices re-registering
    .venv/bin/python bench/core.py --fresh      # cold path: a never-seen token every time
    .venv/bin/python bench/core.py --profile    # cProfile of (a), top functions by own time

Steady state is what `bench/register.py` measures over TLS: every device keeps
its connection (one `SipConnection` each) and re-registers with the same
Call-ID, an increasing CSeq and a new Via branch; its token is a verifier
cache hit. `--fresh`: every REGISTER arrives on a new connection with a new
Call-ID and a token the node has never seen (decrypt + signature check).
The requests are the realistic 1.2 KB REGISTER of `bench/register.py`, sent
by the devices in turn, so each device's state is as cold in the CPU caches
as it is in a node serving them all. Requests are prepared (untimed) in small
chunks right before they are processed (timed), so their bytes are as warm as
bytes just decrypted.

Prints µs per REGISTER (best of `--repeat` runs) for
  (a) `SipConnection.receive_data`: framing, parse, validate, transaction
      match, UAS checks, registrar, response bytes (--fresh: on a new
      connection each time);
  (b) parse + validate only, as the connection does it (with its parse cache);
  (c) `Registrar.register` only, on requests parsed and validated beforehand;
  (d) --fresh only: `AccessTokenVerifier.verify` alone, never-seen tokens (the
      part of (c) that decrypts and checks the signature and claims);
then one JSON line.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import itertools
import json
import pstats
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from register import device_name, line_of, register_template
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
    SipConnection,
    SipCore,
)
from sipoauth.sip import ParseCache, Request, ServerTransactions, new_tag, parse_message

ISSUER = "https://localhost:8443"
AUDIENCE = "urn:sipoauth:cluster:bench"
RATE = 30_000.0  # REGISTERs per second the simulated clock advances at
CHUNK = 32  # requests prepared together, right before they are processed

Item = TypeVar("Item")
Prepared = TypeVar("Prepared")


class World:
    """One node's SIP core with `devices` OAuth phones, one connection each."""

    def __init__(self, devices: int) -> None:
        self.keys = KeyRing([SigningKey.generate()], [EncryptionKey.generate()])
        self.devices = devices
        directory = DirectorySnapshot.build(
            oauth_mode=True,
            devices=[DeviceInfo(device_name(i), (line_of(i),), oauth=True) for i in range(devices)],
        )
        verifier = AccessTokenVerifier(self.keys, issuer=ISSUER, audience=AUDIENCE)
        self.registrar = Registrar(RegistrarSettings(), directory, verifier, tag_factory=new_tag)
        self.core = SipCore(self.registrar, ServerTransactions())
        # As on loopback: the Via says 192.0.2.10 with rport, so every response
        # gains received and rport (RFC 3261 §18.2.1, RFC 3581 §4), as live.
        self.flows = [
            Flow(f"flow-{i}", remote=f"127.0.0.1:{40000 + i}", source=("127.0.0.1", 40000 + i))
            for i in range(devices)
        ]
        self.connections = [SipConnection(self.core, flow) for flow in self.flows]
        self.templates = [register_template(i) for i in range(devices)]
        self.now = 1_800_000_000.0
        self._sids = itertools.count()

    def mint(self, i: int) -> str:
        return mint_access_token(
            self.keys,
            issuer=ISSUER,
            audience=AUDIENCE,
            subject=device_name(i),
            client_id="bench-phone",
            scope="sip:register config:read",
            sid=f"bench-{next(self._sids)}",
            now=self.now,
            lifetime=3600,
        )

    def tick(self) -> float:
        self.now += 1.0 / RATE
        return self.now


def run(
    items: Sequence[Item],
    prepare: Callable[[Sequence[Item]], Prepared],
    process: Callable[[Prepared], list[bytes]],
) -> tuple[float, int]:
    """(seconds spent in `process`, requests) over `items`, chunk by chunk."""
    gc.collect()
    seconds = 0.0
    responses: list[bytes] = []
    for start in range(0, len(items), CHUNK):
        prepared = prepare(items[start : start + CHUNK])
        # CPU time of this thread: other load on the machine (it is shared) does
        # not count, as it would in wall-clock time.
        t0 = time.thread_time()
        responses += process(prepared)
        seconds += time.thread_time() - t0
    bad = [r[:40] for r in responses if not r.startswith(b"SIP/2.0 200 ")]
    if bad:
        raise SystemExit(f"{len(bad)} REGISTERs were not answered 200, e.g. {bad[0]!r}")
    return seconds, len(responses)


def best(runs: Sequence[tuple[float, int]]) -> float:
    """The best µs per REGISTER of several runs."""
    return min(seconds / count * 1e6 for seconds, count in runs)


def parse_all(
    items: Sequence[tuple[int, bytes]], caches: Sequence[ParseCache] | None
) -> list[tuple[int, Request]]:
    out = []
    for i, data in items:
        request = parse_message(data, cache=None if caches is None else caches[i])
        assert isinstance(request, Request)
        request.validate()
        out.append((i, request))
    return out


def profile(process: Callable[[], object]) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(process)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


# -- steady state -------------------------------------------------------------------------


def steady(args: argparse.Namespace) -> dict[str, float]:
    world = World(args.devices)
    tokens = [world.mint(i) for i in range(world.devices)]
    caches = [ParseCache() for _ in range(world.devices)]  # for (b) and (c)
    cseq = [0] * world.devices
    OK = b"SIP/2.0 200 "

    def items(rounds: int) -> list[int]:
        return [i for _ in range(rounds) for i in range(world.devices)]

    def requests(chunk: Sequence[int]) -> list[tuple[int, bytes]]:
        """The next re-REGISTER of each device in `chunk`: same Call-ID, CSeq + 1, new branch."""
        out = []
        for i in chunk:
            cseq[i] += 1
            seq = cseq[i]
            out.append((i, world.templates[i].format(
                branch=f"{i}x{seq}", call_id=f"bench-{i}", cseq=seq, token=tokens[i],
            ).encode()))  # fmt: skip
        return out

    def connection(chunk: list[tuple[int, bytes]]) -> list[bytes]:
        conns, tick = world.connections, world.tick
        return [conns[i].receive_data(data, tick()).data[0] for i, data in chunk]

    def parse(chunk: list[tuple[int, bytes]]) -> list[bytes]:
        for i, data in chunk:
            parse_message(data, cache=caches[i]).validate()
        return [OK] * len(chunk)

    def registrar(chunk: list[tuple[int, Request]]) -> list[bytes]:
        register, flows, tick = world.registrar.register, world.flows, world.tick
        return [register(request, flows[i], tick()).response for i, request in chunk]

    def parsed(chunk: Sequence[int]) -> list[tuple[int, Request]]:
        return parse_all(requests(chunk), caches)

    # Every device registered (token verified once); the parse caches have learned.
    for _ in range(3):
        run(items(1), requests, connection)
        run(items(1), requests, parse)
    a = best([run(items(args.rounds), requests, connection) for _ in range(args.repeat)])
    b = best([run(items(args.rounds), requests, parse) for _ in range(args.repeat)])
    c = best([run(items(args.rounds), parsed, registrar) for _ in range(args.repeat)])
    if args.profile:
        chunk = requests(items(args.rounds))
        profile(lambda: connection(chunk))
    return {"receive_data_us": a, "parse_validate_us": b, "registrar_us": c}


# -- cold path ------------------------------------------------------------------------------


def fresh(args: argparse.Namespace) -> dict[str, float]:
    world = World(args.devices)
    serial = itertools.count(1)

    def items() -> list[tuple[int, str]]:
        """`--fresh-count` REGISTERs, devices in turn, each with a token never seen."""
        return [(n % world.devices, world.mint(n % world.devices)) for n in range(args.fresh_count)]

    def requests(chunk: Sequence[tuple[int, str]]) -> list[tuple[int, bytes]]:
        out = []
        for i, token in chunk:
            k = next(serial)
            out.append((i, world.templates[i].format(
                branch=f"{i}y{k}", call_id=f"storm-{i}-{k}", cseq=1, token=token,
            ).encode()))  # fmt: skip
        return out

    def connection(chunk: list[tuple[int, bytes]]) -> list[bytes]:
        core, flows, tick = world.core, world.flows, world.tick
        # A new connection (and so an empty parse cache) for every REGISTER.
        return [
            SipConnection(core, flows[i]).receive_data(data, tick()).data[0] for i, data in chunk
        ]

    def parse(chunk: list[tuple[int, bytes]]) -> list[bytes]:
        for _, data in chunk:
            parse_message(data, cache=ParseCache()).validate()
        return [b"SIP/2.0 200 "] * len(chunk)

    def registrar(chunk: list[tuple[int, Request]]) -> list[bytes]:
        register, flows, tick = world.registrar.register, world.flows, world.tick
        return [register(request, flows[i], tick()).response for i, request in chunk]

    def parsed(chunk: Sequence[tuple[int, str]]) -> list[tuple[int, Request]]:
        return parse_all(requests(chunk), None)

    def verify(chunk: Sequence[tuple[int, str]]) -> list[bytes]:
        check, now = world.registrar.verifier.verify, world.now
        for _, token in chunk:
            check(token, now)
        return [b"SIP/2.0 200 "] * len(chunk)

    a = best([run(items(), requests, connection) for _ in range(args.repeat)])
    b = best([run(items(), requests, parse) for _ in range(args.repeat)])
    c = best([run(items(), parsed, registrar) for _ in range(args.repeat)])
    d = best([run(items(), list, verify) for _ in range(args.repeat)])
    if args.profile:
        chunk = requests(items())
        profile(lambda: connection(chunk))
    return {"receive_data_us": a, "parse_validate_us": b, "registrar_us": c, "verify_us": d}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument(
        "--rounds", type=int, default=10, help="steady: REGISTERs per device per run"
    )
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best one is reported")
    parser.add_argument("--fresh", action="store_true", help="cold path: never-seen tokens")
    parser.add_argument(
        "--fresh-count", type=int, default=1000, help="cold path: REGISTERs per run"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile one run of (a)")
    args = parser.parse_args()
    figures = fresh(args) if args.fresh else steady(args)
    mode = "fresh" if args.fresh else "steady"
    print(f"{mode}, {args.devices} devices, µs per REGISTER (best of {args.repeat} runs)")
    print(f"  (a) SipConnection.receive_data  {figures['receive_data_us']:8.1f}")
    print(f"  (b) parse + validate            {figures['parse_validate_us']:8.1f}")
    print(f"  (c) Registrar.register          {figures['registrar_us']:8.1f}")
    if "verify_us" in figures:
        print(f"  (d) AccessTokenVerifier.verify  {figures['verify_us']:8.1f}")
    print(json.dumps({"mode": mode, **{k: round(v, 2) for k, v in figures.items()}}))


if __name__ == "__main__":
    main()

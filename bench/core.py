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
The requests are the realistic 1.2 KB REGISTER of `bench/register.py`.

Prints µs per REGISTER (best of `--repeat` runs) for
  (a) `SipConnection.receive_data`: framing, parse, validate, transaction
      match, UAS checks, registrar, response bytes;
  (b) parse + validate only, as the connection does it (with its parse cache);
  (c) `Registrar.register` only, on requests parsed and validated beforehand;
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
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from register import device_name, line_of, register_template  # noqa: E402

from sipoauth.oauth import (  # noqa: E402
    AccessTokenVerifier,
    EncryptionKey,
    KeyRing,
    SigningKey,
    mint_access_token,
)
from sipoauth.registrar import (  # noqa: E402
    DeviceInfo,
    DirectorySnapshot,
    Flow,
    Registrar,
    RegistrarSettings,
    SipConnection,
    SipCore,
)
from sipoauth.sip import ParseCache, Request, ServerTransactions, parse_message  # noqa: E402

ISSUER = "https://localhost:8443"
AUDIENCE = "urn:sipoauth:cluster:bench"
RATE = 30_000.0  # REGISTERs per second the simulated clock advances at


class World:
    """One node's SIP core with `devices` OAuth phones and one token per device."""

    def __init__(self, devices: int) -> None:
        self.keys = KeyRing([SigningKey.generate()], [EncryptionKey.generate()])
        self.devices = devices
        directory = DirectorySnapshot.build(
            oauth_mode=True,
            devices=[DeviceInfo(device_name(i), (line_of(i),), oauth=True) for i in range(devices)],
        )
        verifier = AccessTokenVerifier(self.keys, issuer=ISSUER, audience=AUDIENCE)
        tags = itertools.count()
        self.registrar = Registrar(
            RegistrarSettings(), directory, verifier, tag_factory=lambda: f"{next(tags):x}"
        )
        self.core = SipCore(self.registrar, ServerTransactions())
        self.flows = [Flow(f"flow-{i}", remote=f"192.0.2.10:{5061 + i}") for i in range(devices)]
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


def best(runs: Iterator[tuple[float, int]]) -> float:
    """The best µs-per-REGISTER of several (seconds, count) runs."""
    return min(seconds / count * 1e6 for seconds, count in runs)


def check_ok(responses: list[bytes]) -> None:
    bad = [r[:40] for r in responses if not r.startswith(b"SIP/2.0 200 ")]
    if bad:
        raise SystemExit(f"{len(bad)} REGISTERs were not answered 200, e.g. {bad[0]!r}")


def timed(run: Callable[[], list[bytes]]) -> tuple[float, int]:
    gc.collect()
    t0 = time.perf_counter()
    responses = run()
    seconds = time.perf_counter() - t0
    check_ok(responses)
    return seconds, len(responses)


# -- steady state -------------------------------------------------------------------------


class Steady:
    """Every device re-registers on its own connection, same Call-ID, CSeq + 1."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.tokens = [world.mint(i) for i in range(world.devices)]
        self.cseq = [0] * world.devices
        self.caches = [ParseCache() for _ in range(world.devices)]

    def batch(self, rounds: int) -> list[tuple[int, bytes]]:
        """`rounds` re-REGISTERs of every device, round-robin."""
        w = self.world
        out = []
        for _ in range(rounds):
            for i in range(w.devices):
                self.cseq[i] += 1
                seq = self.cseq[i]
                out.append((i, w.templates[i].format(
                    branch=f"{i}x{seq}", call_id=f"bench-{i}", cseq=seq, token=self.tokens[i],
                ).encode()))  # fmt: skip
        return out

    def run_connection(self, batch: list[tuple[int, bytes]]) -> list[bytes]:
        conns, tick = self.world.connections, self.world.tick
        responses = []
        for i, data in batch:
            out = conns[i].receive_data(data, tick())
            responses.append(out.data[0])
        return responses

    def run_parse(self, batch: list[tuple[int, bytes]]) -> list[bytes]:
        caches = self.caches
        for i, data in batch:
            parse_message(data, cache=caches[i]).validate()
        return [b"SIP/2.0 200 "] * len(batch)

    def parsed(self, batch: list[tuple[int, bytes]]) -> list[tuple[int, Request]]:
        out = []
        for i, data in batch:
            request = parse_message(data, cache=self.caches[i])
            assert isinstance(request, Request)
            request.validate()
            out.append((i, request))
        return out

    def run_registrar(self, requests: list[tuple[int, Request]]) -> list[bytes]:
        register, flows, tick = self.world.registrar.register, self.world.flows, self.world.tick
        return [register(request, flows[i], tick()).response for i, request in requests]


def steady(args: argparse.Namespace) -> dict[str, float]:
    world = World(args.devices)
    s = Steady(world)
    s.run_connection(s.batch(1))  # every device registered, every token verified once
    s.run_parse(s.batch(1))  # the parse caches are warm
    a = best(timed(lambda: s.run_connection(s.batch(args.rounds))) for _ in range(args.repeat))
    b = best(timed(lambda: s.run_parse(s.batch(args.rounds))) for _ in range(args.repeat))

    def registrar_run() -> tuple[float, int]:
        requests = s.parsed(s.batch(args.rounds))
        return timed(lambda: s.run_registrar(requests))

    c = best(registrar_run() for _ in range(args.repeat))
    if args.profile:
        batch = s.batch(args.rounds)
        profiler = cProfile.Profile()
        profiler.runcall(s.run_connection, batch)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return {"receive_data_us": a, "parse_validate_us": b, "registrar_us": c}


# -- cold path ------------------------------------------------------------------------------


def fresh(args: argparse.Namespace) -> dict[str, float]:
    world = World(args.devices)
    count = args.fresh_count
    seq = itertools.count(1)

    def batch() -> list[tuple[int, bytes]]:
        out = []
        for n in range(count):
            i = n % world.devices
            k = next(seq)
            out.append((i, world.templates[i].format(
                branch=f"{i}y{k}", call_id=f"storm-{i}-{k}", cseq=1, token=world.mint(i),
            ).encode()))  # fmt: skip
        return out

    def run_connection(items: list[tuple[int, bytes]]) -> list[bytes]:
        core, flows, tick = world.core, world.flows, world.tick
        responses = []
        for i, data in items:
            out = SipConnection(core, flows[i]).receive_data(data, tick())  # a new connection
            responses.append(out.data[0])
        return responses

    def run_parse(items: list[tuple[int, bytes]]) -> list[bytes]:
        for _, data in items:
            parse_message(data, cache=ParseCache()).validate()
        return [b"SIP/2.0 200 "] * len(items)

    def registrar_run() -> tuple[float, int]:
        requests = []
        for i, data in batch():
            request = parse_message(data)
            assert isinstance(request, Request)
            request.validate()
            requests.append((i, request))
        register, flows, tick = world.registrar.register, world.flows, world.tick
        return timed(lambda: [register(r, flows[i], tick()).response for i, r in requests])

    a = best(timed(lambda items=batch(): run_connection(items)) for _ in range(args.repeat))
    b = best(timed(lambda items=batch(): run_parse(items)) for _ in range(args.repeat))
    c = best(registrar_run() for _ in range(args.repeat))
    if args.profile:
        items = batch()
        profiler = cProfile.Profile()
        profiler.runcall(run_connection, items)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return {"receive_data_us": a, "parse_validate_us": b, "registrar_us": c}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10, help="steady: REGISTERs per device per run")
    parser.add_argument("--repeat", type=int, default=5, help="runs; the best one is reported")
    parser.add_argument("--fresh", action="store_true", help="cold path: never-seen tokens")
    parser.add_argument("--fresh-count", type=int, default=1000, help="cold path: REGISTERs per run")
    parser.add_argument("--profile", action="store_true", help="cProfile one run of (a)")
    args = parser.parse_args()
    figures = fresh(args) if args.fresh else steady(args)
    mode = "fresh" if args.fresh else "steady"
    print(f"{mode}, {args.devices} devices, µs per REGISTER (best of {args.repeat} runs)")
    print(f"  (a) SipConnection.receive_data  {figures['receive_data_us']:8.1f}")
    print(f"  (b) parse + validate            {figures['parse_validate_us']:8.1f}")
    print(f"  (c) Registrar.register          {figures['registrar_us']:8.1f}")
    print(json.dumps({"mode": mode, **{k: round(v, 2) for k, v in figures.items()}}))


if __name__ == "__main__":
    main()

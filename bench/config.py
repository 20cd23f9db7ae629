#!/usr/bin/env python3
"""Configuration-file benchmark: token-gated fetches from the TFTP HTTPS port (6971).

    .venv/bin/python bench/config.py --compare           # four scenarios side by side
    .venv/bin/python bench/config.py --scenario gzip     # one of them

Builds a data directory with N OAuth desk phones (default 1,000), each with its
own access token (subject = the phone, scope "sip:register config:read",
minted with the node's token keys), and starts `sipoauth serve` in its own
process with every listener on a free port. Load-generator processes
(`--clients`) hold keep-alive HTTPS connections (`--connections` in all, the
node's CA verified; raw asyncio + ssl on uvloop, one request in flight per
connection) and fetch `GET /<DEVICE>.cnf.xml` for their devices in turn.

First every file is fetched once (the *prime* pass: the node renders each file
and verifies each token cold); then each scenario gets fresh clients, checks
one request per device, and is measured after a warm-up:

- full: `Authorization: Bearer <token>` → 200, identity encoding;
- gzip: the same with `Accept-Encoding: gzip` → 200, gzip-encoded;
- revalidate: the same with `If-None-Match: <ETag>` → 304;
- refused: no Authorization → 401 (the cost of turning a client away).

Every answer is checked (status, body length, `Content-Encoding`, `ETag`,
`WWW-Authenticate`); anything else is an error, printed, and the script exits
non-zero. The node's CPU time and RSS come from /proc, so the clients' cost is
not counted (their own CPU is shown, to see they are not the bottleneck).
Last line: one JSON object with every figure.
"""

from __future__ import annotations

import os
import sys

# Run as a script: take bench/ off sys.path (bench/token.py would shadow the
# standard library's `token`) and put src/ on it, as bench/token.py does.
_here = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _here]
sys.path.insert(0, os.path.join(os.path.dirname(_here), "src"))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import socket  # noqa: E402
import ssl  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(_here).parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
NODE = "bench"
SCENARIOS = ("full", "gzip", "revalidate", "refused")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of process `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_syscalls(pid: int) -> tuple[int, int]:
    """(read, write) system calls of process `pid` so far (/proc/<pid>/io)."""
    fields = dict(line.split(": ") for line in Path(f"/proc/{pid}/io").read_text().splitlines())
    return int(fields["syscr"]), int(fields["syscw"])


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def device_name(i: int) -> str:
    return f"SEP{0x00CC00000000 + i:012X}"


# -- setup ------------------------------------------------------------------------------


async def prepare(data_dir: Path, devices: int) -> int:
    """A data directory with `devices` OAuth desk phones; returns the TFTP HTTPS port."""
    from sipoauth import admin
    from sipoauth.node import initialise
    from sipoauth.store import Node as NodeRow
    from sipoauth.store import Store, database_url_for

    secure_port = free_port()
    store = await Store.open(database_url_for(data_dir))
    try:
        await initialise(
            store,
            data_dir=data_dir,
            hostname="localhost",
            node_name=NODE,
            admin_password="bench-password",
        )
        # Free ports for every listener: never a clash with a node on the defaults.
        await store.nodes.upsert(
            NodeRow(
                name=NODE,
                host="localhost",
                role="publisher",
                oauth_port=free_port(),
                mra_port=free_port(),
                web_port=free_port(),
                tftp_port=free_port(),
                tftp_secure_port=secure_port,
            )
        )
        await admin.register_license(
            store, virtual_account="bench", allow_export_controlled=True, node_name=NODE
        )
        await admin.set_sip_oauth_mode(store, node_name=NODE, enabled=True)
        for i in range(devices):
            await admin.add_device(
                store,
                name=device_name(i),
                model="8851",
                lines=[str(100000 + i)],
                profile=admin.OAUTH_PROFILE,
            )
    finally:
        await store.close()
    return secure_port


async def mint_tokens(data_dir: Path, devices: int) -> list[tuple[str, str]]:
    """(device, access token) for every device, as the node would issue them."""
    from sipoauth.node import token_context
    from sipoauth.oauth import DESK_PHONE_CLIENT, mint_access_token
    from sipoauth.store import Store, database_url_for

    store = await Store.open(database_url_for(data_dir))
    try:
        await store.unlock_from(data_dir)  # the keys are sealed
        ctx = await token_context(store)
    finally:
        await store.close()
    now = time.time()
    return [
        (
            device_name(i),
            mint_access_token(
                ctx.keys,
                issuer=ctx.issuer,
                audience=ctx.audience,
                subject=device_name(i),
                client_id=DESK_PHONE_CLIENT,
                scope="sip:register config:read",
                sid=f"bench-config-{i}",
                now=now,
                lifetime=3600,
            ),
        )
        for i in range(devices)
    ]


# -- client process ---------------------------------------------------------------------


class HttpsConnection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection, one request at a time (TLS by the loop).

    Only what the node sends is parsed: a head, then `Content-Length` bytes (none
    for a 304). So the clients stay
    far from being the bottleneck (~60 µs of client CPU a request against ~1.1 ms
    for httpx.AsyncClient on HTTP/1.1, measured on this stack)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = b""
        self._waiter: asyncio.Future[tuple[int, bytes, bytes]] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self._buf = self._buf + data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = buf[:end].lower()
        status = int(head[9:12])
        length = 0
        if status != 304:
            at = head.find(b"\r\ncontent-length:")
            if at < 0:
                waiter.set_exception(ConnectionError("response without Content-Length"))
                return
            stop = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : stop if stop >= 0 else None])
        total = end + 4 + length
        if len(buf) < total:
            return
        self._buf, self._waiter = buf[total:], None
        waiter.set_result((status, head, buf[end + 4 : total]))

    def connection_lost(self, exc: Exception | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc}"))

    async def fetch(self, request: bytes) -> tuple[int, bytes, bytes]:
        """(status, lowercased head, body) of one request."""
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self._waiter


@dataclass(frozen=True, slots=True)
class Job:
    """One request and what its answer must be."""

    request: bytes
    status: int
    length: int
    marker: bytes
    """Must appear in the (lowercased) head; b"" when nothing is required."""


class Tally:
    """What the workers saw inside the measured window."""

    def __init__(self) -> None:
        self.measuring = False
        self.stop = False
        self.ok = 0
        self.errors = 0
        self.statuses: dict[str, int] = {}
        self.samples: list[str] = []
        self.latencies: list[float] = []

    def error(self, what: str, detail: str) -> None:
        self.errors += 1
        self.statuses[what] = self.statuses.get(what, 0) + 1
        if len(self.samples) < 5:
            self.samples.append(f"{what}: {detail[:300]}")


def request_for(name: str, token: str | None, host: str, *extra: str) -> bytes:
    lines = [f"GET /{name}.cnf.xml HTTP/1.1", f"Host: {host}"]
    if token is not None:
        lines.append(f"Authorization: Bearer {token}")
    return ("\r\n".join([*lines, *extra]) + "\r\n\r\n").encode()


async def plan(
    conn: HttpsConnection, scenario: str, devices: list[tuple[str, str]], host: str, tally: Tally
) -> list[Job]:
    """Per device: a plain fetch (its body and ETag), then one request in the
    scenario's form, checked in full; the jobs the workers repeat."""
    jobs = []
    for name, token in devices:
        plain = request_for(name, token, host)
        status, head, body = await conn.fetch(plain)
        if status != 200 or not body.startswith(b"<?xml"):
            tally.error(f"plain fetch {status}", head.decode(errors="replace"))
            continue
        if scenario in ("full", "prime"):
            jobs.append(Job(plain, 200, len(body), b""))
            continue
        etag = next((h[5:].strip() for h in head.split(b"\r\n") if h.startswith(b"etag:")), b"")
        if scenario == "gzip":
            request = request_for(name, token, host, "Accept-Encoding: gzip")
            want, marker = 200, b"content-encoding: gzip"
        elif scenario == "revalidate":
            request = request_for(name, token, host, f"If-None-Match: {etag.decode()}")
            want, marker = 304, b"etag: " + etag
        else:
            request = request_for(name, None, host)
            want, marker = 401, b"www-authenticate: bearer"
        status, head, zipped = await conn.fetch(request)
        if status != want or marker not in head:
            tally.error(f"{scenario} check {status}", head.decode(errors="replace"))
            continue
        if scenario == "gzip" and gzip.decompress(zipped) != body:
            tally.error("gzip check", "the gzip body is not the file")
            continue
        jobs.append(Job(request, want, len(zipped), marker))
    return jobs


async def worker(conn: HttpsConnection, jobs: list[Job], tally: Tally) -> None:
    """Repeat the connection's jobs in turn until told to stop."""
    k = 0
    while not tally.stop:
        job = jobs[k]
        k = (k + 1) % len(jobs)
        started = time.perf_counter()
        try:
            status, head, body = await conn.fetch(job.request)
        except ConnectionError as exc:
            tally.error(type(exc).__name__, str(exc))
            return
        if not tally.measuring:
            continue
        if status == job.status and len(body) == job.length and job.marker in head:
            tally.ok += 1
            tally.latencies.append(time.perf_counter() - started)
        else:
            tally.error(str(status), (head + b"\r\n\r\n" + body).decode(errors="replace"))


async def client_main(args: argparse.Namespace) -> None:
    ca = Path(args.ca).read_bytes().decode()
    context = ssl.create_default_context(cadata=ca)
    devices = [tuple(d) for d in json.loads(Path(args.tokens).read_text())]
    host = f"localhost:{args.port}"
    loop = asyncio.get_running_loop()
    conns = []
    for _ in range(min(args.connections, len(devices))):
        _, conn = await loop.create_connection(
            HttpsConnection, "127.0.0.1", args.port, ssl=context, server_hostname="localhost"
        )
        conns.append(conn)
    shares = [devices[k :: len(conns)] for k in range(len(conns))]
    tally = Tally()
    print("ready", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    t0 = time.perf_counter()
    plans = await asyncio.gather(
        *(plan(c, args.scenario, s, host, tally) for c, s in zip(conns, shares, strict=True))
    )
    report: dict[str, Any] = {"planned": sum(map(len, plans)), "plan_s": time.perf_counter() - t0}
    if args.scenario != "prime":
        print("planned", flush=True)
        await loop.run_in_executor(None, sys.stdin.readline)
        tasks = [
            asyncio.create_task(worker(c, jobs, tally))
            for c, jobs in zip(conns, plans, strict=True)
            if jobs
        ]
        await asyncio.sleep(args.warmup)
        tally.measuring = True
        t0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.sleep(args.seconds)
        tally.measuring = False
        report["elapsed"] = time.perf_counter() - t0
        report["client_cpu_s"] = time.process_time() - cpu0
        tally.stop = True
        await asyncio.gather(*tasks)
    for conn in conns:
        assert conn.transport is not None
        conn.transport.close()
    report.update(
        ok=tally.ok,
        errors=tally.errors,
        statuses=tally.statuses,
        samples=tally.samples,
        latencies=[round(x, 6) for x in tally.latencies],
    )
    print(json.dumps(report), flush=True)


# -- orchestration ----------------------------------------------------------------------


class Clients:
    """The load-generator processes of one scenario, stepped through stdin."""

    def __init__(self, args: argparse.Namespace, scenario: str, work: Path, port: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
        self.procs = []
        for k in range(args.clients):
            share = args.connections // args.clients + (k < args.connections % args.clients)
            command = [sys.executable, __file__, "--client", scenario]
            command += ["--port", str(port), "--ca", str(work / "var" / "pki" / "ca.pem")]
            command += ["--tokens", str(work / f"tokens-{k}.json"), "--connections", str(share)]
            command += ["--seconds", str(args.seconds), "--warmup", str(args.warmup)]
            self.procs.append(
                subprocess.Popen(
                    command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
                )
            )

    def step(self, expect: str) -> None:
        """Wait until every client says `expect`, then let them go on."""
        for p in self.procs:
            assert p.stdout is not None
            line = p.stdout.readline().strip()
            if line != expect:
                raise RuntimeError(f"a client said {line!r}, not {expect!r} (see its stderr)")
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()

    def results(self) -> list[dict[str, Any]]:
        out = []
        for p in self.procs:
            stdout, _ = p.communicate(timeout=120)
            if p.returncode != 0:
                raise RuntimeError(f"a client failed (exit {p.returncode})")
            out.append(json.loads(stdout.strip().splitlines()[-1]))
        return out


def merge(results: list[dict[str, Any]]) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for r in results:
        for code, n in r["statuses"].items():
            statuses[code] = statuses.get(code, 0) + n
    return {
        "ok": sum(r["ok"] for r in results),
        "errors": sum(r["errors"] for r in results),
        "statuses": statuses,
        "samples": [s for r in results for s in r["samples"]],
        "latencies": [x for r in results for x in r["latencies"]],
    }


def run_prime(args: argparse.Namespace, pid: int, work: Path, port: int) -> dict[str, Any]:
    """Every device's file fetched once: rendered, token verified cold."""
    clients = Clients(args, "prime", work, port)
    clients.step("ready")  # connected: the handshakes are not counted
    cpu0, t0 = proc_cpu(pid), time.perf_counter()
    results = clients.results()
    wall, cpu1 = time.perf_counter() - t0, proc_cpu(pid)
    merged = merge(results)
    fetched = sum(r["planned"] for r in results)
    cpu = sum(cpu1) - sum(cpu0)
    return {
        "fetched": fetched,
        "wall_s": wall,
        "server_cpu_s": cpu,
        "server_cpu_ms_per_first_fetch": cpu / max(1, fetched) * 1000,
        "server_rss_mb": proc_rss_mb(pid),
        "errors": merged["errors"],
        "statuses": merged["statuses"],
        "samples": merged["samples"],
    }


def run_scenario(
    args: argparse.Namespace, scenario: str, pid: int, work: Path, port: int
) -> dict[str, Any]:
    clients = Clients(args, scenario, work, port)
    clients.step("ready")
    clients.step("planned")
    time.sleep(args.warmup)
    cpu0, io0 = proc_cpu(pid), proc_syscalls(pid)
    time.sleep(args.seconds)
    cpu1, io1 = proc_cpu(pid), proc_syscalls(pid)
    rss = proc_rss_mb(pid)
    results = clients.results()
    merged = merge(results)
    user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    cpu = user + system
    elapsed = max(r["elapsed"] for r in results)
    latencies = merged["latencies"]
    return {
        "requests": merged["ok"] + merged["errors"],
        "fetches_per_s": merged["ok"] / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "server_cpu_s": cpu,
        "server_user_s": user,
        "server_system_s": system,
        "server_cpu_share": cpu / args.seconds,
        "fetches_per_cpu_s": merged["ok"] / cpu if cpu > 0 else float("nan"),
        "server_us_per_fetch": cpu / max(1, merged["ok"]) * 1e6,
        "server_reads_per_fetch": (io1[0] - io0[0]) / max(1, merged["ok"]),
        "server_writes_per_fetch": (io1[1] - io0[1]) / max(1, merged["ok"]),
        "server_rss_mb": rss,
        "client_cpu_s": sum(r["client_cpu_s"] for r in results),
        "errors": merged["errors"],
        "statuses": merged["statuses"],
        "samples": merged["samples"],
        "window_s": elapsed,
    }


def start_node(work: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """`sipoauth serve` on the data directory; the process and its listeners' ports."""
    command = [sys.executable, "-m", "sipoauth", "--data-dir", str(work / "var"), "--node", NODE]
    command += ["--hostname", "localhost", "serve", "--bind", "127.0.0.1", "--json"]
    command += ["--log-json", "--log-level", "info"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out_path, log_path = work / "node.out", work / "node.log"
    with out_path.open("w") as out, log_path.open("w") as err:
        node = subprocess.Popen(command, stdout=out, stderr=err, env=env)
    deadline = time.time() + 60
    while '"listeners"' not in out_path.read_text():
        if node.poll() is not None or time.time() > deadline:
            node.kill()
            raise RuntimeError(f"the node did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.1)
    line = next(x for x in out_path.read_text().splitlines() if '"listeners"' in x)
    ports = {x["name"]: x["port"] for x in json.loads(line)["listeners"]}
    return node, ports


def run(args: argparse.Namespace, scenarios: list[str]) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="sipoauth-bench-config-"))
    failed = True
    try:
        t0 = time.perf_counter()
        port = asyncio.run(prepare(work / "var", args.devices))
        tokens = asyncio.run(mint_tokens(work / "var", args.devices))
        for k in range(args.clients):
            (work / f"tokens-{k}.json").write_text(json.dumps(tokens[k :: args.clients]))
        setup_s = time.perf_counter() - t0
        node, ports = start_node(work)
        try:
            if ports.get("TFTP HTTPS") != port:
                raise RuntimeError(f"TFTP HTTPS is not on port {port}: {ports}")
            time.sleep(0.5)
            rss_start = proc_rss_mb(node.pid)
            prime = run_prime(args, node.pid, work, port)
            rows = {s: run_scenario(args, s, node.pid, work, port) for s in scenarios}
        finally:
            node.terminate()
            try:
                node.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.kill()
        failed = bool(prime["errors"] or any(r["errors"] for r in rows.values()))
    finally:
        if failed or args.keep:
            print(f"data directory and node log kept in {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    return {"setup_s": setup_s, "rss_start_mb": rss_start, "prime": prime, "scenarios": rows}


def rounded(value: Any) -> Any:
    """`value` with its floats rounded for the JSON line."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    return value


LABELS = [
    ("requests", "requests (measured window)", "{:,.0f}"),
    ("fetches_per_s", "fetches/s (wall)", "{:,.0f}"),
    ("p50_ms", "p50 latency (ms)", "{:.2f}"),
    ("p99_ms", "p99 latency (ms)", "{:.2f}"),
    ("server_cpu_s", "server CPU seconds", "{:.2f}"),
    ("server_user_s", "  of which user", "{:.2f}"),
    ("server_system_s", "  of which system (kernel)", "{:.2f}"),
    ("server_cpu_share", "  per second of wall (1 = a core)", "{:.2f}"),
    ("fetches_per_cpu_s", "fetches per server CPU-second", "{:,.0f}"),
    ("server_us_per_fetch", "server CPU per fetch (µs)", "{:.0f}"),
    ("server_reads_per_fetch", "server read syscalls per fetch", "{:.2f}"),
    ("server_writes_per_fetch", "server write syscalls per fetch", "{:.2f}"),
    ("server_rss_mb", "server RSS (MB)", "{:.1f}"),
    ("client_cpu_s", "clients' CPU seconds", "{:.2f}"),
    ("errors", "errors (unexpected answers)", "{:.0f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=1000, help="phones, one token each")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured window per scenario")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured load first (s)")
    parser.add_argument("--clients", type=int, default=1, help="load-generator processes")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    parser.add_argument("--compare", action="store_true", help="all four scenarios (default)")
    parser.add_argument("--scenario", choices=SCENARIOS, action="append", help="repeatable")
    parser.add_argument("--keep", action="store_true", help="keep the data directory and log")
    # client-process options (internal)
    parser.add_argument("--client", choices=["prime", *SCENARIOS], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        args.scenario = args.client
        try:
            import uvloop
        except ImportError:
            asyncio.run(client_main(args))
        else:
            uvloop.run(client_main(args))
        return
    if args.clients < 1 or args.connections < args.clients or args.devices < args.connections:
        parser.error("need 1 <= --clients <= --connections <= --devices")
    scenarios = list(SCENARIOS) if args.compare or not args.scenario else args.scenario
    figures = run(args, scenarios)
    rows, prime = figures["scenarios"], figures["prime"]
    print(f"{'':34}" + "".join(f"{s:>12}" for s in rows))
    for key, label, fmt in LABELS:
        print(f"{label:34}" + "".join(f"{fmt.format(r[key]):>12}" for r in rows.values()))
    print(
        f"prime (first fetch of each of {prime['fetched']:,} files: render + cold token check): "
        f"{prime['server_cpu_ms_per_first_fetch']:.2f} ms server CPU each, "
        f"{prime['wall_s']:.2f} s wall; server RSS {figures['rss_start_mb']:.1f} MB at start, "
        f"{prime['server_rss_mb']:.1f} MB after"
    )
    sys.stdout.flush()
    for name, r in [("prime", prime), *rows.items()]:
        if r["errors"]:
            print(f"{name}: {r['errors']} errors {r['statuses']}", file=sys.stderr)
            for sample in r["samples"]:
                print(f"  {sample}", file=sys.stderr)
    out: dict[str, Any] = {
        "devices": args.devices,
        "clients": args.clients,
        "connections": args.connections,
        "seconds": args.seconds,
        "rss_start_mb": round(figures["rss_start_mb"], 1),
        "prime": {k: v for k, v in prime.items() if k != "samples"},
    }
    for name, r in rows.items():
        out[name] = {k: v for k, v in r.items() if k != "samples"}
    print(json.dumps(rounded(out)))
    if prime["errors"] or any(r["errors"] for r in rows.values()):
        sys.exit("errors: every answer must be the expected one (see above)")


if __name__ == "__main__":
    main()

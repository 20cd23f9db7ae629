#!/usr/bin/env python3
"""REGISTER benchmark: simulated devices against a node on loopback, real token checks.

    .venv/bin/python bench/register.py                 # steady state, 1,000 devices, 10 s
    .venv/bin/python bench/register.py --fresh         # registration storm
    .venv/bin/python bench/register.py --compare       # both, side by side, and the
                                                       # storm's TLS-only ceiling;
                                                       # the same three against
                                                       # Kamailio when installed
    .venv/bin/python bench/register.py --peer kamailio # one mode against Kamailio

Steady state: every device holds one TLS connection to the SIP Phone OAuth
Port and re-registers as fast as the node answers (token verification is a
cache hit). `--fresh`: every registration opens a new TLS connection (full
handshake) and presents a token the node has never seen (decrypt + RS256
verify). The node runs in its own process (`sipoauth serve`); its CPU time
and RSS are read from /proc, so the client's cost is not counted.

Kamailio (`apt-get install kamailio kamailio-tls-modules`), the C server the
targets were set against, runs the same load as a plain TLS registrar on the
node's certificate with no authentication at all (bindings in memory): its
processes' CPU is summed and its memory is the sum of their PSS (its shared
memory is mapped by every process). It receives the same 1.2 KB REGISTER,
token included.

Prints REGISTER/s, p50/p99 latency, server CPU seconds, REGISTERs per server
CPU-second, server RSS per registered device, then one JSON line with
`register_per_cpu_s`, `p50_ms`, `p99_ms`, `rss_per_device_kb`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_cpu(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of `pid`."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


# -- setup ------------------------------------------------------------------------------


async def prepare(data_dir: Path, devices: int, port: int, mra_port: int, web_port: int) -> None:
    """Initialise a data directory with `devices` OAuth phones and SIP OAuth mode on."""
    from sipoauth import admin
    from sipoauth.node import initialise
    from sipoauth.store import Node as NodeRow
    from sipoauth.store import Store, database_url_for

    store = await Store.open(database_url_for(data_dir))
    try:
        await initialise(
            store,
            data_dir=data_dir,
            hostname="localhost",
            node_name="bench",
            admin_password="bench-password",
        )
        row = await store.nodes.get("bench")
        assert row is not None
        await store.nodes.upsert(
            NodeRow(
                name="bench",
                host="localhost",
                role="publisher",
                oauth_port=port,
                mra_port=mra_port,
                web_port=web_port,
                tftp_port=free_port(),
                tftp_secure_port=free_port(),
            )
        )
        await admin.register_license(
            store, virtual_account="bench", allow_export_controlled=True, node_name="bench"
        )
        await admin.set_sip_oauth_mode(store, node_name="bench", enabled=True)
        for i in range(devices):
            await admin.add_device(
                store,
                name=device_name(i),
                model="8851",
                lines=[line_of(i)],
                profile=admin.OAUTH_PROFILE,
            )
    finally:
        await store.close()


def device_name(i: int) -> str:
    return f"SEP{0x00AA00000000 + i:012X}"


def line_of(i: int) -> str:
    return str(100000 + i)


def mint_tokens(data_dir: Path, first: int, count: int, devices: int) -> list[str]:
    """Mint `count` tokens; token n is for device `first + n % devices`."""

    async def go() -> list[str]:
        from sipoauth.node import token_context
        from sipoauth.oauth import mint_access_token
        from sipoauth.store import Store, database_url_for

        store = await Store.open(database_url_for(data_dir))
        try:
            await store.unlock_from(data_dir)  # the keys are sealed
            ctx = await token_context(store)
        finally:
            await store.close()
        now = time.time()
        out = []
        for n in range(count):
            i = first + n % devices
            out.append(
                mint_access_token(
                    ctx.keys,
                    issuer=ctx.issuer,
                    audience=ctx.audience,
                    subject=device_name(i),
                    client_id="bench-phone",
                    scope="sip:register config:read",
                    sid=f"bench-{first + n}",
                    now=now,
                    lifetime=3600,
                )
            )
        return out

    return asyncio.run(go())


# -- client process ---------------------------------------------------------------------


def register_template(i: int) -> str:
    line = line_of(i)
    dev = device_name(i)
    return (
        "REGISTER sip:localhost SIP/2.0\r\n"
        "Via: SIP/2.0/TLS 192.0.2.10:5061;branch=z9hG4bK-{branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:{line}@localhost>;tag=f{i}\r\n"
        f"To: <sip:{line}@localhost>\r\n"
        "Call-ID: {call_id}\r\n"
        "CSeq: {cseq} REGISTER\r\n"
        f"Contact: <sip:{line}@192.0.2.10:5061;transport=tls>"
        f';+sip.instance="<urn:uuid:00000000-0000-4000-8000-{0x00AA00000000 + i:012x}>"'
        f';+u.sip!devicename.ccm.cisco.com="{dev}";+u.sip!model.ccm.cisco.com="36670"\r\n'
        "Expires: 3600\r\n"
        "User-Agent: Cisco-CP8851/14.2.1\r\n"
        "Supported: replaces,join,sdp-anat,norefersub,resource-priority,extended-refer,X-cisco-"
        "callinfo,X-cisco-serviceuri,X-cisco-escapecodes,X-cisco-service-control,X-cisco-srtp-"
        "fallback,X-cisco-monrec,X-cisco-config,X-cisco-sis-10.0.0,X-cisco-xsi-8.5.1\r\n"
        'Proxy-Authorization: Bearer token="{token}"\r\n'
        "Content-Length: 0\r\n\r\n"
    )


async def client_main(args: argparse.Namespace) -> None:
    from _tlsclient import connect, status_of
    from sipoauth.pki import client_ssl_context

    ca_pem = Path(args.ca).read_bytes()
    context = client_ssl_context([ca_pem])
    if args.fresh:
        # The load generator skips verifying the node's certificate in a storm: that
        # client-side cost would otherwise cap the load (the node's side is unchanged).
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    indices = list(range(args.first, args.first + args.count))
    tokens: list[str] = json.loads(Path(args.tokens).read_text()) if args.tokens else []
    templates = {i: register_template(i) for i in indices}
    latencies: list[float] = []
    stats = {"ok": 0, "fail": 0, "other": {}}
    state = {"measuring": False, "stop": False}
    # Storm: token n belongs to device first + n % count (see mint_tokens).
    work_iter = iter([(indices[n % len(indices)], token) for n, token in enumerate(tokens)])

    def note(status: int, started: float) -> None:
        if not state["measuring"]:
            return
        if status == 200:
            stats["ok"] += 1
            latencies.append(time.perf_counter() - started)
        else:
            stats["fail"] += 1
            stats["other"][str(status)] = stats["other"].get(str(status), 0) + 1

    go = asyncio.Event()
    registered = 0
    all_registered = asyncio.Event()

    # Devices connect (unmeasured) at most 64 at a time, as phones coming up do
    # rather than 1,000 in the same millisecond (Kamailio's one TCP worker drops
    # connections queued beyond its fd-passing queue).
    connecting = asyncio.Semaphore(64)

    async def steady(i: int, token: str) -> None:
        nonlocal registered
        async with connecting:
            conn = await connect("127.0.0.1", args.port, context, "localhost")
        call_id = f"bench-{i}-{random.getrandbits(32):x}"
        cseq = 1
        template = templates[i]
        # First registration, then wait until every device is registered and the
        # parent has read the server's memory.
        request = template.format(branch=f"{i}x0", call_id=call_id, cseq=cseq, token=token).encode()
        if status_of(await conn.exchange(request)) != 200:
            raise RuntimeError(f"device {i} failed to register")
        cseq += 1
        registered += 1
        if registered == len(indices):
            all_registered.set()
        await go.wait()
        while not state["stop"]:
            request = template.format(
                branch=f"{i}x{cseq}", call_id=call_id, cseq=cseq, token=token
            ).encode()
            started = time.perf_counter()
            response = await conn.exchange(request)
            note(status_of(response), started)
            cseq += 1
        conn.abort()

    async def fresh(worker: int) -> None:
        cseq = 1
        while not state["stop"]:
            job = next(work_iter, None)
            if job is None:
                state["stop"] = True
                break
            i, token = job
            template = templates[i]
            started = time.perf_counter()
            conn = await connect("127.0.0.1", args.port, context, "localhost")
            if args.handshake_only:
                note(200, started)  # the TLS connection alone: the storm's ceiling
                conn.abort()
                continue
            request = template.format(
                branch=f"{worker}y{cseq}",
                call_id=f"storm-{worker}-{cseq}",
                cseq=cseq,
                token=token,
            ).encode()
            response = await conn.exchange(request)
            note(status_of(response), started)
            conn.abort()
            cseq += 1

    if args.fresh:
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        tasks = [asyncio.create_task(fresh(w)) for w in range(args.concurrency)]
    else:
        per_device = {i: tokens[n] for n, i in enumerate(indices)}
        tasks = [asyncio.create_task(steady(i, per_device[i])) for i in indices]
        await all_registered.wait()
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        go.set()
    await asyncio.sleep(args.warmup)
    state["measuring"] = True
    t0 = time.perf_counter()
    await asyncio.sleep(args.seconds)
    state["measuring"] = False
    elapsed = time.perf_counter() - t0
    state["stop"] = True
    await asyncio.gather(*tasks, return_exceptions=True)
    print(
        json.dumps(
            {
                "ok": stats["ok"],
                "fail": stats["fail"],
                "other": stats["other"],
                "elapsed": elapsed,
                "latencies": latencies,
            }
        ),
        flush=True,
    )


# -- orchestration ----------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run_mode(
    args: argparse.Namespace, fresh: bool, tls_only: bool = False, peer: str = "sipoauth"
) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="sipoauth-bench-"))
    try:
        return _run_mode(args, fresh, work, tls_only, peer)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- the server under test: the node, or Kamailio for the side-by-side -----------------------


class ServerProcess:
    """The server under test, started in its own process(es)."""

    label = ""
    proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        raise NotImplementedError

    def pids(self) -> list[int]:
        raise NotImplementedError

    def memory_kb(self) -> int:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class NodeServer(ServerProcess):
    """`sipoauth serve` on a prepared data directory, in its own process."""

    def __init__(self, data_dir: Path, work: Path) -> None:
        self.data_dir = data_dir
        self.work = work
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, env: dict[str, str]) -> None:
        out_path, err_path = self.work / "server.out", self.work / "server.err"
        with out_path.open("w") as out, err_path.open("w") as err:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sipoauth",
                    "--data-dir",
                    str(self.data_dir),
                    "--node",
                    "bench",
                    "--hostname",
                    "localhost",
                    "serve",
                    "--bind",
                    "127.0.0.1",
                    "--json",
                    "--log-level",
                    "warning",
                ],
                stdout=out,
                stderr=err,
                env=env,
            )
        deadline = time.time() + 60
        while '"listeners"' not in out_path.read_text():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the node did not start: {err_path.read_text()[-2000:]}")
            time.sleep(0.1)

    def pids(self) -> list[int]:
        assert self.proc is not None
        return [self.proc.pid]

    def memory_kb(self) -> int:
        return proc_rss_kb(self.pids()[0])


KAMAILIO_CFG = """#!KAMAILIO
# bench/register.py: Kamailio as a plain TLS registrar (no authentication at all),
# the reference the issue's targets come from. Bindings in memory (usrloc db_mode 0).
debug=1
log_stderror=yes
children=1
tcp_children={workers}
enable_tls=yes
auto_aliases=no
listen=tls:127.0.0.1:{port}
alias="localhost"
tcp_connection_lifetime=3605
tcp_max_connections=20000
open_files_limit=16384
tls_max_connections=20000
loadpath "{modules}"
loadmodule "tls.so"
loadmodule "sl.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("tls", "config", "{tls_cfg}")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
request_route {{
    if (method == "REGISTER") {{
        if (!save("location")) {{ sl_reply_error(); }}
        exit;
    }}
    sl_send_reply("405", "Method Not Allowed");
}}
"""

KAMAILIO_TLS_CFG = """[server:default]
method = TLSv1.2+
verify_certificate = no
require_certificate = no
certificate = {cert}
private_key = {key}
"""


def kamailio_binary() -> str | None:
    return shutil.which("kamailio") or next(
        (p for p in ("/usr/sbin/kamailio", "/usr/local/sbin/kamailio") if os.access(p, os.X_OK)),
        None,
    )


class KamailioServer(ServerProcess):
    """Kamailio with its TLS module on the node's certificate, same port role.

    Its processes (main, TCP main, TCP workers, timers) are all counted: CPU
    summed, memory as the sum of their PSS (its shared memory is mapped by all).
    """

    label = "kamailio "

    def __init__(self, data_dir: Path, work: Path, port: int, workers: int) -> None:
        self.work = work
        self.proc: subprocess.Popen[bytes] | None = None
        binary = kamailio_binary()
        if binary is None:
            raise RuntimeError(
                "kamailio is not installed (apt-get install kamailio kamailio-tls-modules)"
            )
        self.binary = binary
        self.version = (
            subprocess.run([binary, "-v"], capture_output=True, text=True, check=False)
            .stdout.split("\n", 1)[0]
            .removeprefix("version: ")
            .strip()
        )
        modules = next(
            (
                str(p)
                for p in (
                    Path("/usr/lib/x86_64-linux-gnu/kamailio/modules"),
                    Path("/usr/lib/kamailio/modules"),
                    Path("/usr/local/lib64/kamailio/modules"),
                )
                if (p / "tls.so").exists()
            ),
            None,
        )
        if modules is None:
            raise RuntimeError("kamailio's tls module is not installed (kamailio-tls-modules)")
        tls_cfg = work / "kamailio-tls.cfg"
        tls_cfg.write_text(
            KAMAILIO_TLS_CFG.format(
                cert=data_dir / "pki" / "tomcat.pem", key=data_dir / "pki" / "tomcat.key"
            )
        )
        self.cfg = work / "kamailio.cfg"
        self.cfg.write_text(
            KAMAILIO_CFG.format(port=port, workers=workers, modules=modules, tls_cfg=tls_cfg)
        )
        self.port = port

    def start(self, env: dict[str, str]) -> None:
        err_path = self.work / "kamailio.log"
        with err_path.open("w") as err:
            self.proc = subprocess.Popen(
                [self.binary, "-f", str(self.cfg), "-DD", "-E", "-m", "512", "-M", "32",
                 "-w", str(self.work)],
                stdout=err,
                stderr=err,
            )  # fmt: skip
        deadline = time.time() + 30
        while True:
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"kamailio did not start: {err_path.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)

    def pids(self) -> list[int]:
        assert self.proc is not None
        main = self.proc.pid
        pids = [main]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == main:
                    pids.append(int(entry.name))
        return pids

    def memory_kb(self) -> int:
        total = 0
        for pid in self.pids():
            try:
                for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
            except OSError:
                pass
        return total


def server_cpu(pids: list[int]) -> tuple[float, float]:
    user = system = 0.0
    for pid in pids:
        try:
            u, s = proc_cpu(pid)
        except OSError:
            continue
        user, system = user + u, system + s
    return user, system


def _run_mode(
    args: argparse.Namespace, fresh: bool, work: Path, tls_only: bool, peer: str
) -> dict[str, float]:
    data_dir = work / "var"
    port, mra_port, web_port = free_port(), free_port(), free_port()
    kamailio = peer == "kamailio"
    # Kamailio needs no devices: only the node's certificate (and tokens of the same size).
    asyncio.run(prepare(data_dir, 0 if kamailio else args.devices, port, mra_port, web_port))
    clients = args.clients
    share = [
        args.devices // clients + (1 if k < args.devices % clients else 0) for k in range(clients)
    ]
    firsts = [sum(share[:k]) for k in range(clients)]

    # Tokens: one per device (steady), or a pool of never-seen ones (storm).
    # Kamailio checks none: one token of the same size, sent by everyone.
    one_token = mint_tokens(data_dir, 0, 1, 1)[0] if kamailio else ""
    token_files = []
    for k in range(clients):
        count = share[k] if not fresh else args.storm_tokens // clients
        # TLS-only sends no REGISTER: its "tokens" are just connection slots.
        if tls_only:
            tokens = ["-"] * count
        elif kamailio:
            tokens = [one_token] * count
        else:
            tokens = mint_tokens(data_dir, firsts[k], count, share[k])
        path = work / f"tokens-{k}.json"
        path.write_text(json.dumps(tokens))
        token_files.append(path)

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    server: ServerProcess = (
        KamailioServer(data_dir, work, port, args.kamailio_workers)
        if kamailio
        else NodeServer(data_dir, work)
    )
    try:
        server.start(env)
        time.sleep(0.5)
        pids = server.pids()
        mem_base = server.memory_kb()
        procs = []
        for k in range(clients):
            cmd = [
                sys.executable,
                __file__,
                "--client",
                "--port",
                str(port),
                "--ca",
                str(data_dir / "pki" / "ca.pem"),
                "--first",
                str(firsts[k]),
                "--count",
                str(share[k]),
                "--tokens",
                str(token_files[k]),
                "--seconds",
                str(args.seconds),
                "--warmup",
                str(args.warmup),
                "--concurrency",
                str(max(1, args.concurrency // clients)),
            ]
            if fresh:
                cmd.append("--fresh")
            if tls_only:
                cmd.append("--handshake-only")
            procs.append(
                subprocess.Popen(
                    cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
                )
            )
        for p in procs:
            assert p.stdout is not None
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError("a client failed to start")
        time.sleep(2.5)  # every device has registered once (steady); let RSS settle
        mem_loaded = server.memory_kb()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        time.sleep(args.warmup)
        pids = server.pids()
        cpu0 = server_cpu(pids)
        time.sleep(args.seconds)
        cpu1 = server_cpu(pids)
        if sorted(server.pids()) != sorted(pids):
            raise RuntimeError(f"{server.label or 'the node '}lost a process during the run")
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=120)
            results.append(json.loads(out.strip().splitlines()[-1]))
        mem_end = server.memory_kb()
    finally:
        server.stop()
    ok = sum(r["ok"] for r in results)
    fail = sum(r["fail"] for r in results)
    elapsed = max(r["elapsed"] for r in results)
    latencies = [x for r in results for x in r["latencies"]]
    user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
    cpu = user + system
    registered = args.devices if not fresh else min(args.devices, ok)
    # After the run: steady, every device connected, registered and its caches warm;
    # storm, every device registered (bindings) with its last connection closed.
    rss_per_device = (mem_end - mem_base) / max(1, registered)
    mode = "tls-only" if tls_only else "fresh" if fresh else "steady"
    figures = {
        "mode": server.label + mode,
        "server": getattr(server, "version", "sipoauth"),
        "devices": args.devices,
        "register_per_s": ok / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "server_cpu_s": cpu,
        "server_user_s": user,
        "server_system_s": system,
        "register_per_cpu_s": ok / cpu if cpu > 0 else float("nan"),
        "rss_per_device_kb": rss_per_device,
        "server_rss_mb": mem_end / 1024,
        "server_rss_base_mb": mem_base / 1024,
        "rss_after_first_register_kb": (mem_loaded - mem_base) / max(1, registered),
        "failures": fail,
    }
    others = {}
    for r in results:
        for code, n in r["other"].items():
            others[code] = others.get(code, 0) + n
    if others:
        figures["failure_statuses"] = others  # type: ignore[assignment]
    return figures


def print_table(rows: list[dict[str, float]]) -> None:
    labels = [
        ("register_per_s", "REGISTER/s", "{:,.0f}"),
        ("p50_ms", "p50 latency (ms)", "{:.2f}"),
        ("p99_ms", "p99 latency (ms)", "{:.2f}"),
        ("server_cpu_s", "server CPU seconds", "{:.2f}"),
        ("server_user_s", "  of which user", "{:.2f}"),
        ("server_system_s", "  of which system (kernel)", "{:.2f}"),
        ("register_per_cpu_s", "REGISTERs per server CPU-second", "{:,.0f}"),
        ("rss_per_device_kb", "server RSS per registered device (KB)", "{:.1f}"),
        ("server_rss_mb", "server RSS (MB)", "{:.1f}"),
        ("failures", "non-200 answers", "{:.0f}"),
    ]
    header = f"{'':40}" + "".join(f"{r['mode']:>18}" for r in rows)
    print(header)
    for key, label, fmt in labels:
        print(f"{label:40}" + "".join(f"{fmt.format(r[key]):>18}" for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=1, help="load-generator processes")
    parser.add_argument("--fresh", action="store_true", help="registration storm")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="steady, storm and the storm's TLS-only ceiling side by side",
    )
    parser.add_argument(
        "--handshake-only",
        action="store_true",
        help="storm without the REGISTER: new TLS connections only (the storm's ceiling)",
    )
    parser.add_argument(
        "--concurrency", type=int, default=64, help="storm: registrations in flight at once"
    )
    parser.add_argument(
        "--storm-tokens", type=int, default=40000, help="storm: never-seen tokens minted beforehand"
    )
    parser.add_argument(
        "--peer",
        choices=("sipoauth", "kamailio"),
        default="sipoauth",
        help="the server under test (kamailio: a plain TLS registrar, no token check)",
    )
    parser.add_argument(
        "--no-kamailio",
        action="store_true",
        help="--compare: leave out Kamailio even when it is installed",
    )
    parser.add_argument(
        "--kamailio-workers",
        type=int,
        default=1,
        help="Kamailio's TCP worker processes (5.6 with OpenSSL 3 fails TLS with more)",
    )
    # client-process options (internal)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ca", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tokens", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # SIGTERM (e.g. `timeout`) unwinds like ^C, so the server under test is stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.client:
        try:
            import uvloop

            uvloop.run(client_main(args))
        except ImportError:
            asyncio.run(client_main(args))
        return
    if args.compare:
        modes = [(False, False), (True, False), (True, True)]
        peers = ["sipoauth"]
        if args.no_kamailio:
            pass
        elif kamailio_binary() is None:
            print("kamailio is not installed: the node's figures only", file=sys.stderr)
        else:
            peers.append("kamailio")
    else:
        modes = [(args.fresh or args.handshake_only, args.handshake_only)]
        peers = [args.peer]
    # Kamailio gets steady and storm; the TLS-only ceiling is the node's own measure.
    rows = [
        run_mode(args, fresh, tls_only, peer)
        for peer in peers
        for fresh, tls_only in modes
        if not (peer == "kamailio" and tls_only and args.compare)
    ]
    print_table(rows)
    for row in rows:
        print(json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}))


if __name__ == "__main__":
    main()

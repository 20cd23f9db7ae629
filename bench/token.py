#!/usr/bin/env python3
"""Token endpoint benchmark: grants per second on the embedded database (SQLite).

    .venv/bin/python bench/token.py                  # both modes, 10 s each
    .venv/bin/python bench/token.py --mode refresh   # one mode

Each mode gets a fresh data directory and node (`sipoauth serve` in its own
process, listeners on free ports); this process is the load generator: httpx,
HTTPS with keep-alive, the node's CA verified, one connection per worker.

- refresh: every user signs in for real first (authorize page + code exchange,
  not measured); then each worker rotates its user's refresh token as fast as
  the node answers (grant_type=refresh_token, client sipoauth-csf), always
  presenting the newest one.
- activation: each request onboards one 8851 desk phone with its own correct
  activation code (client sipoauth-desk-phone), until the time or the codes run
  out. Every answer must be 200: a failure would also feed the guessing throttle.

Measured after the warm-up: grants/s (wall), p50/p99 latency seen by the client,
the node's CPU seconds (user + system from /proc/<pid>/stat; the event-loop
thread's share from /proc/<pid>/task/<pid>/stat), grants per node CPU-second,
the node's RSS. Last line: JSON, one object per mode.
"""

from __future__ import annotations

import os
import sys

if __name__ == "token":
    # Python puts a script's directory first on sys.path, so the other scripts in
    # bench/ import this file when anything imports the standard library's
    # `token` (tokenize does, for logging and asyncio). Hand them the real one:
    # the import statement returns whatever sys.modules holds once this ends.
    import importlib.util

    _path = os.path.join(os.path.dirname(os.__file__), "token.py")
    _spec = importlib.util.spec_from_file_location("token", _path)
    assert _spec is not None and _spec.loader is not None
    sys.modules["token"] = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(sys.modules["token"])
else:
    # Run as the script: take this directory off sys.path for the same reason.
    _here = os.path.dirname(os.path.realpath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _here]
    sys.path.insert(0, os.path.join(os.path.dirname(_here), "src"))  # as bench/register.py

    import argparse
    import asyncio
    import itertools
    import json
    import re
    import shutil
    import socket
    import ssl
    import subprocess
    import tempfile
    import time
    from base64 import urlsafe_b64encode
    from collections.abc import Coroutine
    from datetime import UTC, datetime
    from hashlib import sha256
    from pathlib import Path
    from secrets import token_urlsafe
    from typing import Any
    from urllib.parse import parse_qs, urlsplit

    import httpx

# Below: definitions only, which need no import to be made (see above).
CLK_TCK = os.sysconf("SC_CLK_TCK")
NODE = "bench"
PASSWORD = "bench-user-password"
SOFT_CLIENT = "sipoauth-csf"
DESK_CLIENT = "sipoauth-desk-phone"
ACTIVATION_GRANT = "urn:sipoauth:params:oauth:grant-type:activation-code"
REDIRECT_URI = "http://127.0.0.1:5555/callback"
MODES = ("refresh", "activation")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_of(pid: int) -> tuple[float, float, float]:
    """(user, system, main thread's user + system) CPU seconds of process `pid`."""
    ticks = [
        Path(stat).read_text().rsplit(")", 1)[1].split()[11:13]
        for stat in (f"/proc/{pid}/stat", f"/proc/{pid}/task/{pid}/stat")
    ]
    return int(ticks[0][0]) / CLK_TCK, int(ticks[0][1]) / CLK_TCK, sum(map(int, ticks[1])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def user_id(i: int) -> str:
    return f"bench{i:04d}"


def phone_mac(i: int) -> str:
    return f"{0x00BB00000000 + i:012X}"


# -- setup ------------------------------------------------------------------------------


async def prepare(data_dir: Path, mode: str, args: argparse.Namespace) -> tuple[int, list[str]]:
    """A data directory for `mode`; returns the web port and (activation) the codes."""
    from sipoauth import admin
    from sipoauth.node import initialise
    from sipoauth.store import Node as NodeRow
    from sipoauth.store import Store, database_url_for

    web_port = free_port()
    codes: list[str] = []
    store = await Store.open(database_url_for(data_dir))
    try:
        await initialise(
            store,
            data_dir=data_dir,
            hostname="localhost",
            node_name=NODE,
            admin_password="bench-password",
        )
        # Free ports for every listener: never a clash with a node on 8443/5090/5091.
        oauth_port, mra_port = free_port(), free_port()
        await store.nodes.upsert(
            NodeRow(
                name=NODE,
                host="localhost",
                oauth_port=oauth_port,
                mra_port=mra_port,
                web_port=web_port,
            )
        )
        # SIP OAuth mode stays off: it gates registrations, not the token endpoint.
        await admin.set_parameter(store, "OAuth with Refresh Login Flow", "Enabled")
        if mode == "refresh":
            # argon2 runs in worker threads: hash the users' passwords concurrently.
            await asyncio.gather(
                *(admin.add_user(store, user_id(i), password=PASSWORD) for i in range(args.users))
            )
            for i in range(args.users):
                name, line = f"CSF{user_id(i).upper()}", str(200000 + i)
                await admin.add_device(
                    store,
                    name=name,
                    model="CSF",
                    lines=[line],
                    profile=admin.OAUTH_PROFILE,
                    owner=user_id(i),
                )
        else:
            now = datetime.now(UTC)
            for i in range(args.codes):
                name, line = f"SEP{phone_mac(i)}", str(100000 + i)
                await admin.add_device(
                    store, name=name, model="8851", lines=[line], profile=admin.OAUTH_PROFILE
                )
                code, _ = await admin.generate_activation_code(store, name, now=now)
                codes.append(code)
    finally:
        await store.close()
    return web_port, codes


# -- load generator ---------------------------------------------------------------------


class Tally:
    """What the workers saw inside the measured window."""

    def __init__(self) -> None:
        self.measuring = False
        self.stop = False
        """Set after the window: workers finish the request in hand and return."""
        self.ok = 0
        self.errors = 0
        self.statuses: dict[str, int] = {}
        self.latencies: list[float] = []

    def note(self, status: int | str, started: float) -> None:
        if not self.measuring:
            return
        if status == 200:
            self.ok += 1
            self.latencies.append(time.perf_counter() - started)
        else:
            self.errors += 1
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1


async def sign_in(client: httpx.AsyncClient, uid: str) -> str:
    """The real flow: authorize page, credentials, code exchange; the refresh token."""
    verifier = token_urlsafe(48)
    challenge = urlsafe_b64encode(sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {
        "response_type": "code",
        "client_id": SOFT_CLIENT,
        "redirect_uri": REDIRECT_URI,
        "scope": "sip:register config:read",
        "state": uid,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = await client.get("/oauth/authorize", params=query)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert page.status_code == 200 and found, page.text[:300]
    form = {**query, "csrf_token": found.group(1), "user_id": uid, "password": PASSWORD}
    signed = await client.post("/oauth/authorize", data=form)
    assert signed.status_code in (302, 303), signed.text[:300]
    code = parse_qs(urlsplit(signed.headers["location"]).query)["code"][0]
    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": SOFT_CLIENT,
        "code_verifier": verifier,
    }
    answer = await client.post("/oauth/token", data=exchange)
    assert answer.status_code == 200, answer.text[:300]
    return str(answer.json()["refresh_token"])


async def post_token(client: httpx.AsyncClient, form: dict[str, str], tally: Tally) -> Any:
    """One token request, noted in the tally; the JSON answer when it is a 200."""
    started = time.perf_counter()
    try:
        answer = await client.post("/oauth/token", data=form)
    except httpx.HTTPError as exc:
        tally.note(type(exc).__name__, started)
        return None
    tally.note(answer.status_code, started)
    return answer.json() if answer.status_code == 200 else None


async def refresh_worker(client: httpx.AsyncClient, tokens: dict[str, str], tally: Tally) -> None:
    """Rotate this worker's users' refresh tokens in turn, always the newest."""
    users = itertools.cycle(list(tokens))
    while not tally.stop:
        uid = next(users)
        form = {"grant_type": "refresh_token", "client_id": SOFT_CLIENT}
        answer = await post_token(client, {**form, "refresh_token": tokens[uid]}, tally)
        if answer is not None:
            tokens[uid] = answer["refresh_token"]


async def activation_worker(
    client: httpx.AsyncClient, work: list[tuple[str, str]], tally: Tally
) -> None:
    """Onboard phones (MAC, code) from the shared list until it is empty."""
    while work and not tally.stop:
        mac, code = work.pop()
        form = {"grant_type": ACTIVATION_GRANT, "client_id": DESK_CLIENT, "model": "8851"}
        await post_token(client, {**form, "activation_code": code, "mac": mac}, tally)


async def drive(
    mode: str, args: argparse.Namespace, pid: int, web_port: int, ca: Path, codes: list[str]
) -> dict[str, Any]:
    context = ssl.create_default_context(cafile=str(ca))
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    base_url = f"https://localhost:{web_port}"
    clients = [
        httpx.AsyncClient(verify=context, base_url=base_url, limits=limits, timeout=30.0)
        for _ in range(args.concurrency)
    ]
    tally = Tally()
    try:
        if mode == "refresh":
            mine: list[dict[str, str]] = [{} for _ in clients]

            async def sign_in_all(w: int) -> None:
                for i in range(w, args.users, len(clients)):
                    mine[w][user_id(i)] = await sign_in(clients[w], user_id(i))

            await asyncio.gather(*(sign_in_all(w) for w in range(len(clients))))
            jobs = [refresh_worker(c, t, tally) for c, t in zip(clients, mine, strict=True)]
        else:
            work = [(phone_mac(i), code) for i, code in enumerate(codes)][::-1]
            jobs = [activation_worker(c, work, tally) for c in clients]
        tasks = [asyncio.create_task(job) for job in jobs]
        await asyncio.wait(tasks, timeout=args.warmup)
        cpu0, t0 = cpu_of(pid), time.perf_counter()
        tally.measuring = True
        await asyncio.wait(tasks, timeout=args.seconds)  # activation: codes may run out
        tally.measuring = False
        cpu1, elapsed = cpu_of(pid), time.perf_counter() - t0
        rss = rss_mb(pid)
        tally.stop = True
        await asyncio.gather(*tasks)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    user, system, loop = (b - a for a, b in zip(cpu0, cpu1, strict=True))
    cpu = user + system
    return {
        "requests": tally.ok + tally.errors,
        "grants_per_s": tally.ok / elapsed,
        "p50_ms": percentile(tally.latencies, 0.50) * 1000,
        "p99_ms": percentile(tally.latencies, 0.99) * 1000,
        "server_cpu_s": cpu,
        "server_user_s": user,
        "server_system_s": system,
        "server_loop_thread_s": loop,
        "grants_per_cpu_s": tally.ok / cpu if cpu > 0 else float("nan"),
        "server_rss_mb": rss,
        "errors": tally.errors,
        "window_s": elapsed,
        "statuses": tally.statuses,
    }


# -- orchestration ----------------------------------------------------------------------


def log_summary(path: Path) -> dict[str, int]:
    """The node's log records by level, and lines that speak of a locked database."""
    counts: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines():
        try:
            level = str(json.loads(line).get("level", "?"))
        except (ValueError, AttributeError):
            level = "not-json"  # a traceback
        counts[level] = counts.get(level, 0) + 1
        if "database is locked" in line or "SQLITE_BUSY" in line:
            counts["sqlite_locked"] = counts.get("sqlite_locked", 0) + 1
    return counts


def run_async(coro: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run the load generator on uvloop when it is installed (as the node does)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def run_mode(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix=f"sipoauth-token-{mode}-"))
    data_dir = work / "var"
    web_port, codes = asyncio.run(prepare(data_dir, mode, args))
    command = [sys.executable, "-m", "sipoauth", "--data-dir", str(data_dir), "--node", NODE]
    command += ["--hostname", "localhost", "serve", "--bind", "127.0.0.1", "--json"]
    command += ["--log-json", "--log-level", args.log_level]
    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(_here), "src")}
    out_path, log_path = work / "node.out", work / "node.log"
    with out_path.open("w") as out, log_path.open("w") as err:
        node = subprocess.Popen(command, stdout=out, stderr=err, env=env)
    try:
        deadline = time.time() + 60
        while '"listeners"' not in out_path.read_text():
            if node.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"the node did not start: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        ca = data_dir / "pki" / "ca.pem"
        figures = run_async(drive(mode, args, node.pid, web_port, ca, codes))
    finally:
        node.terminate()
        try:
            node.wait(timeout=30)
        except subprocess.TimeoutExpired:
            node.kill()
    figures["node_log"] = log = log_summary(log_path)
    if args.keep or figures["errors"] or "error" in log or "sqlite_locked" in log:
        print(f"{mode}: data directory and node log kept in {work}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return figures


LABELS = [
    ("requests", "requests (measured window)", "{:,.0f}"),
    ("grants_per_s", "grants/s (wall)", "{:,.0f}"),
    ("p50_ms", "p50 latency (ms)", "{:.1f}"),
    ("p99_ms", "p99 latency (ms)", "{:.1f}"),
    ("server_cpu_s", "server CPU seconds", "{:.2f}"),
    ("server_user_s", "  of which user", "{:.2f}"),
    ("server_system_s", "  of which system (kernel)", "{:.2f}"),
    ("server_loop_thread_s", "  of which event-loop thread", "{:.2f}"),
    ("grants_per_cpu_s", "grants per server CPU-second", "{:,.0f}"),
    ("server_rss_mb", "server RSS (MB)", "{:.1f}"),
    ("errors", "errors (non-200 answers)", "{:.0f}"),
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--mode", choices=[*MODES, "both"], default="both", help="both: one fresh node each"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per mode")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured load first (s)")
    parser.add_argument("--concurrency", type=int, default=16, help="workers (one connection each)")
    parser.add_argument("--users", type=int, help="refresh: end users (default: one per worker)")
    parser.add_argument("--codes", type=int, default=2000, help="activation: phones with a code")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="the node's log level (default info: one audit line per grant, as deployed)",
    )
    parser.add_argument("--keep", action="store_true", help="keep data directories and node logs")
    args = parser.parse_args()
    args.users = args.users or args.concurrency
    if args.users < args.concurrency:
        parser.error("--users must be at least --concurrency (each worker has its own users)")
    rows = {m: run_mode(m, args) for m in (MODES if args.mode == "both" else [args.mode])}
    print(f"{'':32}" + "".join(f"{mode:>14}" for mode in rows))
    for key, label, fmt in LABELS:
        print(f"{label:32}" + "".join(f"{fmt.format(r[key]):>14}" for r in rows.values()))
    for mode, r in rows.items():
        window, log, statuses = r["window_s"], r["node_log"], r["statuses"]
        print(f"{mode}: window {window:.1f} s; node log records {log}; non-200 {statuses}")
    keys = ["grants_per_s", "grants_per_cpu_s", "p50_ms", "p99_ms", "errors", "requests"]
    keys += ["server_cpu_s", "server_rss_mb"]
    print(json.dumps({m: {k: round(r[k], 2) for k in keys} for m, r in rows.items()}))
    if any(r["errors"] for r in rows.values()):
        sys.exit("errors: every grant must succeed (statuses above)")


if __name__ == "__main__":
    main()

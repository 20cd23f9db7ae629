"""The load generator (issue 6 point 7): N simulated desk phones in one process.

``run_load`` onboards and registers N :class:`DeskPhone` s concurrently on one
event loop, started at ``rate`` phones per second, each with an activation
code from the CSV that ``sipoauth activation-codes export`` writes (columns
``device,model,owner,activation_code,expires_at``). The phones share one
HTTP connection pool and one TLS context (``SimNetwork``), so hundreds of
them cost hundreds of SIP TLS connections and a handful of HTTPS ones. Once
every phone is registered or has failed, they stay up ``duration`` seconds
(re-registering, renewing tokens), then all unregister.

The report counts phones registered and failed by reason, the onboarding and
registration rates over the bring-up, and per-step latency percentiles
(``tokens``: the activation request, ``config``: the file download,
``register``: the REGISTERs, ``ready``: start to registered).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ._config import EdgeAddress, ServerAddress
from ._deskphone import DeskPhone, DeskPhoneConfig
from ._events import DeviceStopped, SimEvent
from ._http import HttpClient
from ._network import DeviceSettings, SimNetwork

__all__ = [
    "LoadConfig",
    "LoadPhone",
    "LoadReport",
    "LoadStatus",
    "percentile",
    "read_activation_csv",
    "run_load",
]

_DESK = re.compile(r"(SEP|BAT)([0-9A-F]{12})")
STEPS = ("tokens", "config", "register", "ready")


@dataclass(frozen=True, slots=True)
class LoadPhone:
    """One row of the activation-code export."""

    device: str
    mac: str
    """``SEP<MAC>``'s MAC; a ``BAT`` phone (renamed on activation) uses its hex as MAC."""
    model: str
    activation_code: str

    def __repr__(self) -> str:  # never the code
        return f"LoadPhone({self.device}, {self.model})"


def read_activation_csv(text: str) -> list[LoadPhone]:
    """The desk phones of an activation-code export, in file order (ValueError
    when a required column is missing)."""
    reader = csv.DictReader(io.StringIO(text))
    columns = {name.strip().lower() for name in reader.fieldnames or ()}
    missing = {"device", "model", "activation_code"} - columns
    if missing:
        raise ValueError(
            "the CSV is not an activation-code export: column(s) "
            f"{', '.join(sorted(missing))} missing"
        )
    phones = []
    for row in reader:
        values = {(k or "").strip().lower(): (v or "").strip() for k, v in row.items()}
        found = _DESK.fullmatch(values.get("device", "").upper())
        if found is None or not values.get("activation_code"):
            continue
        phones.append(
            LoadPhone(found.group(0), found.group(2), values["model"], values["activation_code"])
        )
    return phones


@dataclass(frozen=True, slots=True)
class LoadConfig:
    """One load run."""

    phones: int
    server: ServerAddress | None = None
    edge: EdgeAddress | None = None
    rate: float = 50.0
    """Phones started per second."""
    duration: float = 0.0
    """Seconds the phones stay registered once all are up (then they unregister)."""
    bring_up_timeout: float = 300.0
    """Seconds a phone may take to register before it counts as failed (``timeout``)."""
    settings: DeviceSettings = field(default_factory=DeviceSettings)
    max_connections: int = 64
    """HTTPS connections to one origin at once (further requests queue)."""


@dataclass(slots=True)
class LoadStatus:
    """Counts while the run goes on (for a progress bar)."""

    total: int
    started: int = 0
    registered: int = 0
    failed: int = 0
    unregistered: int = 0

    @property
    def done(self) -> int:
        return self.registered + self.failed


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@dataclass(slots=True)
class LoadReport:
    """What a run did."""

    phones: int
    registered: int
    failed: dict[str, int]
    """Failed phones by reason (``activation``, ``config``, ``registration``, ``timeout`` …)."""
    failures: dict[str, str]
    """One example message per reason."""
    bring_up_seconds: float
    onboard_rate: float
    """Activations per second over the bring-up."""
    registration_rate: float
    """Phones registered per second over the bring-up."""
    latency: dict[str, tuple[float, float]]
    """Per step, (p50, p99) in seconds."""
    unregistered: int = 0

    def summary_lines(self) -> list[str]:
        lines = [
            f"phones: {self.phones}, registered: {self.registered}, "
            f"failed: {sum(self.failed.values())}, unregistered at the end: {self.unregistered}",
            f"bring-up: {self.bring_up_seconds:.2f} s; onboarding {self.onboard_rate:.1f}/s, "
            f"registration {self.registration_rate:.1f}/s",
        ]
        for step, (p50, p99) in self.latency.items():
            lines.append(f"latency {step:<9} p50 {p50 * 1000:8.1f} ms   p99 {p99 * 1000:8.1f} ms")
        for reason, count in sorted(self.failed.items()):
            lines.append(f"failed ({reason}): {count} — e.g. {self.failures[reason]}")
        return lines

    def to_json(self) -> dict[str, object]:
        return {
            "phones": self.phones,
            "registered": self.registered,
            "failed": dict(self.failed),
            "unregistered": self.unregistered,
            "bring_up_seconds": round(self.bring_up_seconds, 3),
            "onboard_rate": round(self.onboard_rate, 2),
            "registration_rate": round(self.registration_rate, 2),
            "latency_ms": {
                step: {"p50": round(p50 * 1000, 1), "p99": round(p99 * 1000, 1)}
                for step, (p50, p99) in self.latency.items()
            },
        }


async def run_load(
    config: LoadConfig,
    phones: Sequence[LoadPhone],
    *,
    on_status: Callable[[LoadStatus], None] | None = None,
    on_event: Callable[[SimEvent], None] | None = None,
    stop: asyncio.Event | None = None,
) -> LoadReport:
    """Bring ``config.phones`` phones up, keep them ``duration`` s, stop them."""
    if config.phones > len(phones):
        raise ValueError(
            f"{config.phones} phones asked for, the CSV has {len(phones)} desk phone(s) with a code"
        )
    if config.rate <= 0:
        raise ValueError("the rate must be positive")
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    status = LoadStatus(config.phones)
    network = SimNetwork(
        HttpClient(timeout=config.settings.http_timeout, max_per_origin=config.max_connections)
    )
    devices: list[DeskPhone] = []
    outcomes: list[asyncio.Task[SimEvent | None]] = []
    activated: list[float] = []
    registered_at: list[float] = []
    began = loop.time()

    def changed() -> None:
        if on_status is not None:
            on_status(status)

    async def bring_up(phone: DeskPhone) -> SimEvent | None:
        """The final event when the phone failed; None once it is registered."""
        try:
            await phone.wait_for("registered", timeout=config.bring_up_timeout)
        except DeviceStopped as exc:
            status.failed += 1
            changed()
            return exc.event
        except TimeoutError:
            status.failed += 1
            changed()
            text = f"not registered within {config.bring_up_timeout:g} s"
            return SimEvent(0, phone.name, "failed", text, 0.0, {"reason": "timeout"})
        status.registered += 1
        registered_at.append(loop.time())
        changed()
        return None

    def watch(event: SimEvent) -> None:
        if event.kind == "activated":
            activated.append(loop.time())
        if on_event is not None:
            on_event(event)

    try:
        for number, row in enumerate(phones[: config.phones]):
            start_at = began + number / config.rate
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, start_at - loop.time())):
                    await stop.wait()
            if stop.is_set():
                break
            phone = DeskPhone(
                DeskPhoneConfig(
                    mac=row.mac,
                    model=row.model,
                    activation_code=row.activation_code,
                    server=config.server,
                    edge=config.edge,
                    settings=config.settings,
                ),
                network=network,
            )
            phone.log.subscribe(watch)
            devices.append(phone)
            await phone.start()
            status.started += 1
            changed()
            outcomes.append(asyncio.create_task(bring_up(phone)))
        results = await asyncio.gather(*outcomes)
        up_seconds = loop.time() - began
        if config.duration > 0 and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(config.duration):
                    await stop.wait()
        await asyncio.gather(*(phone.stop() for phone in devices))
    finally:
        for task in outcomes:
            task.cancel()
        await network.aclose()
    status.unregistered = sum(1 for phone in devices if phone.log.count("unregistered"))
    changed()
    failed: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for result in results:
        if result is not None:  # a phone that never registered
            reason = str(result.data.get("reason") or result.kind)
            failed[reason] += 1
            examples.setdefault(reason, f"{result.device}: {result.message}")
    latency = {
        step: (
            percentile([p.timings[step] for p in devices if step in p.timings], 0.5),
            percentile([p.timings[step] for p in devices if step in p.timings], 0.99),
        )
        for step in STEPS
    }
    last_activation = max(activated, default=began) - began
    last_registration = max(registered_at, default=began) - began
    return LoadReport(
        phones=len(devices),
        registered=status.registered,
        failed=dict(failed),
        failures=examples,
        bring_up_seconds=up_seconds,
        onboard_rate=len(activated) / last_activation if last_activation > 0 else 0.0,
        registration_rate=len(registered_at) / last_registration if last_registration > 0 else 0.0,
        latency=latency,
        unregistered=status.unregistered,
    )

"""The load generator against a real node on loopback (issue 6 point 7).

``sipoauth sim load`` reads the CSV that ``sipoauth activation-codes export``
writes (``admin.export_activation_codes_csv``), brings the phones up
concurrently in one process and prints a summary.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
import typer
from typer.testing import CliRunner

from sipoauth import admin
from sipoauth.cli._sim import sim_app
from sipoauth.sim._load import LoadConfig, percentile, read_activation_csv, run_load

from ._simnode import FAST, SimNode, start_sim_node

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SimNode]:
    node = await start_sim_node(Path(tmp_path_factory.mktemp("load")))
    try:
        yield node
    finally:
        await node.close()


async def _export(sim: SimNode, count: int) -> str:
    """``count`` new desk phones and the activation-code export naming them."""
    names = [f"SEP{(await sim.new_phone())[0]}" for _ in range(count)]
    return await admin.export_activation_codes_csv(sim.store, names, now=datetime.now(UTC))


async def test_sim_load_registers_20_phones_and_summarises(sim: SimNode, tmp_path: Path) -> None:
    """``sim load --phones 20``: all 20 onboard, register and unregister at the end;
    the JSON summary has the counts, the rates and the latency percentiles."""
    csv_file = tmp_path / "codes.csv"
    csv_file.write_text(await _export(sim, 20))
    names = {phone.device for phone in read_activation_csv(csv_file.read_text())}
    app = typer.Typer()
    app.add_typer(sim_app, name="sim")
    args = [
        "sim", "load", "--phones", "20", "--server", f"localhost:{sim.ports['tftp_port']}",
        "--activation-codes", str(csv_file), "--rate", "200", "--json",
    ]  # fmt: skip
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.output.splitlines() if line.startswith("{")]
    summary = json.loads(line)
    assert summary["phones"] == summary["registered"] == summary["unregistered"] == 20
    assert summary["failed"] == {}
    assert summary["onboard_rate"] > 0 and summary["registration_rate"] > 0
    latency = summary["latency_ms"]
    assert set(latency) == {"tokens", "config", "register", "ready"}
    assert 0 < latency["ready"]["p50"] <= latency["ready"]["p99"]
    assert sim.node.registrar is not None
    assert len(names) == 20
    assert not [b for b in sim.node.registrar.table if b.device in names]


async def test_failures_are_counted_by_reason(sim: SimNode) -> None:
    """A code already used counts as an ``activation`` failure; the rest register.
    The progress callback sees every phone done; the text summary names the reason."""
    first = read_activation_csv(await _export(sim, 3))
    used = first[0]
    config = LoadConfig(phones=1, server=sim.server, rate=50, settings=FAST)
    assert (await run_load(config, [used])).registered == 1
    seen: list[int] = []
    report = await run_load(
        dataclasses.replace(config, phones=3),
        [used, *first[1:]],
        on_status=lambda status: seen.append(status.done),
    )
    assert (report.phones, report.registered, report.failed) == (3, 2, {"activation": 1})
    assert max(seen) == 3
    text = "\n".join(report.summary_lines())
    assert "failed (activation): 1" in text
    assert f"****-****-****-{used.activation_code[-4:]}" in text
    assert used.activation_code not in text


async def test_the_csv_is_read_as_the_export_writes_it() -> None:
    text = (
        "device,model,owner,activation_code,expires_at\n"
        "SEP001122334455,8851,,1234-5678-9012-3456,2030-01-01T00:00:00+00:00\n"
        "BATAABBCCDDEEFF,8845,jdoe,1111-2222-3333-4444,2030-01-01T00:00:00+00:00\n"
        "CSFJDOE,CSF,jdoe,,\n"
    )
    phones = read_activation_csv(text)
    assert [(p.device, p.mac, p.model) for p in phones] == [
        ("SEP001122334455", "001122334455", "8851"),
        ("BATAABBCCDDEEFF", "AABBCCDDEEFF", "8845"),
    ]
    assert "1234" not in repr(phones)
    with pytest.raises(ValueError, match="activation_code"):
        read_activation_csv("device,model\nSEP001122334455,8851\n")


async def test_more_phones_than_codes_is_refused(sim: SimNode) -> None:
    with pytest.raises(ValueError, match="2 phones asked for, the CSV has 1"):
        await run_load(
            LoadConfig(phones=2, server=sim.server),
            read_activation_csv(
                "device,model,activation_code\nSEP001122334455,8851,1234567890123456\n"
            ),
        )


async def test_percentiles_are_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 0.5), percentile(values, 0.99)) == (50.0, 99.0)
    assert percentile([], 0.5) == 0.0

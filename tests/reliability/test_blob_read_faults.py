"""No output lost when blob reads fail, stall or read empty (the fault row "slow and failing
blob reads"): fleet retries, confirms an empty blob against the instanceView, and what stayed
unreadable is fetched later by `fleet report --recollect`. Oracle: the simulator's truth (each
machine executed once) and the agents' own output in Azurite, read directly."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from azure.storage.blob import BlobServiceClient

from fleet.engine.options import CollectPolicy, EngineOptions
from fleet.engine.session import execute_plan
from fleet.types import JobState, RunRecord
from fleet_sim.azurite import Azurite
from fleet_sim.server import SimServer
from tests.engine.helpers import FAST_OPTIONS, connection, machines_of, make_plan
from tests.engine.test_scenarios import assert_exactly_once, healthy_profile
from tests.fixtures.sim import SimFactory
from tests.reliability.blobproxy import BlobProxy, ReadFaults

OPTIONS = FAST_OPTIONS.__class__(
    **{**{f: getattr(FAST_OPTIONS, f) for f in FAST_OPTIONS.__dataclass_fields__},
       "collect": CollectPolicy(attempts=4, backoff_s=0.01, max_backoff_s=0.05)}
)


def via(proxy: BlobProxy, azurite: Azurite) -> str:
    return azurite.connection_string.replace(f":{azurite.port}/", f":{proxy.port}/")


def agent_outputs(azurite: Azurite, record: RunRecord, plan_jobs: dict[str, str]) -> dict[str, bytes]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(f"fleet-{record.run_id}")
    return {key: container.get_blob_client(blob).download_blob().readall()
            for key, blob in plan_jobs.items()}


async def run(sim: SimServer, tmp_path: Path, conn: str, run_id: str,
              options: EngineOptions = OPTIONS) -> tuple[RunRecord, dict[str, str]]:
    plan = make_plan(machines_of(sim), run_id=run_id)
    record = await execute_plan(plan, connection=connection(sim, conn), run_dir=tmp_path / "run",
                                options=options)
    # The blob names the run used: its plan.json (names carry the run folder's instance tag).
    from fleet.engine.recollect import jobs_from_plan_json

    jobs, _ = jobs_from_plan_json(tmp_path / "run")
    return record, {j.machine.key: j.output_blob for j in jobs.values()}


def assert_outputs_equal_agents(tmp_path: Path, record: RunRecord, truth: dict[str, bytes]) -> None:
    for result in record.results:
        assert result.state == JobState.SUCCEEDED, result
        assert result.output.source == "blob" and result.output.path, result
        kept = (tmp_path / "run" / result.output.path).read_bytes()
        assert kept == truth[result.machine.key] and kept, result.machine.name


async def test_failing_and_empty_first_reads_lose_nothing(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=12, profile=healthy_profile())
    async with BlobProxy(f"http://127.0.0.1:{azurite.port}", ReadFaults(fail_first=1, empty_first=1)) as proxy:
        record, blobs = await run(sim, tmp_path, via(proxy, azurite), "flakyreads")
    assert record.exit_code == 0, [r.reason for r in record.results]
    assert_exactly_once(sim, record)
    assert all(r.reason is None for r in record.results), [r.reason for r in record.results]
    assert_outputs_equal_agents(tmp_path, record, agent_outputs(azurite, record, blobs))
    assert all(n >= 3 for n in proxy.faults.reads.values() if n)  # 403, then empty, then data


async def test_reads_that_time_out_are_abandoned_and_read_again(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    """The fault row "timing-out blob reads": each output's first read stalls far past the
    read timeout; fleet abandons it and reads again, and nothing is lost."""
    sim = await sim_factory(machines=8, profile=healthy_profile())
    policy = CollectPolicy(attempts=6, backoff_s=0.01, max_backoff_s=0.05, read_timeout_s=1.0)
    options = dataclasses.replace(OPTIONS, collect=policy)
    async with BlobProxy(f"http://127.0.0.1:{azurite.port}", ReadFaults(stall_first=1, stall_s=6.0)) as proxy:
        record, blobs = await run(sim, tmp_path, via(proxy, azurite), "stalledreads", options)
    assert record.exit_code == 0, [r.reason for r in record.results]
    assert_exactly_once(sim, record)
    assert all(r.reason is None for r in record.results), [r.reason for r in record.results]
    assert_outputs_equal_agents(tmp_path, record, agent_outputs(azurite, record, blobs))
    read = [n for n in proxy.faults.reads.values() if n]
    assert len(read) == len(blobs) and all(n >= 2 for n in read)  # stalled, then read


async def test_a_storage_outage_is_recollected_later(
    sim_factory: SimFactory, azurite: Azurite, tmp_path: Path
) -> None:
    sim = await sim_factory(machines=8, profile=healthy_profile())
    async with BlobProxy(f"http://127.0.0.1:{azurite.port}", ReadFaults(outage=True)) as proxy:
        record, blobs = await run(sim, tmp_path, via(proxy, azurite), "outage")
        assert_exactly_once(sim, record)
        assert all("output could not be downloaded" in (r.reason or "") for r in record.results)
        proxy.faults.outage = False
        # The proxy lives on this event loop: the CLI runs as an asyncio child process.
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fleet", "report", str(tmp_path / "run"), "--recollect",
            "--format", "json", "--storage-connection-string", via(proxy, azurite),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out_b, err_b = await asyncio.wait_for(child.communicate(), timeout=300)
    out, err = out_b.decode(), err_b.decode()
    assert child.returncode == 0, err
    assert f"recollected {len(blobs)} of {len(blobs)} output(s)" in out
    assert "AccountKey" not in out + err
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    rows = report["rows"]
    assert rows and all("could not be downloaded" not in json.dumps(row) for row in rows)
    from fleet.engine.record import record_from_journal
    from fleet.journal import Journal

    journal = Journal.open(tmp_path / "run" / "journal.sqlite")
    try:
        after = record_from_journal(journal)
    finally:
        journal.close()
    assert_outputs_equal_agents(tmp_path, after, agent_outputs(azurite, record, blobs))

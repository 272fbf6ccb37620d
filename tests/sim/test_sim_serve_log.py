"""`fleet sim serve` says on stderr (the benchmark's sim.log) when a simulated agent's blob write
failed for good: the machine's name and the stream, never the SAS, and /_sim/stats counts it, so
an output missing from its blob can be put down to the test bed."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import aiohttp

from fleet_sim.azurite import Azurite
from fleet_sim.inventory_io import read_inventory
from tests.sim.armhttp import API, AUTH


def _serve(argv: list[str], log: Path) -> tuple[subprocess.Popen[str], IO[str]]:
    err = open(log, "w", encoding="utf-8")
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True), err


async def test_a_lost_blob_write_is_logged_with_machine_and_stream_and_counted(
    tmp_path: Path, azurite: Azurite
) -> None:
    inventory, log = tmp_path / "inv.yaml", tmp_path / "sim.log"
    argv = [sys.executable, "-m", "fleet", "sim", "serve", "--machines", "3", "--time-scale",
            "0.01", "--storage", azurite.connection_string, "--write-inventory", str(inventory)]
    process, err = _serve(argv, log)
    with err, process:
        try:
            assert process.stdout is not None
            arm = json.loads(process.stdout.readline())["arm_endpoint"]
            m = read_inventory(inventory)[0]
            url = (f"{arm}/subscriptions/{m.subscription_id}/resourceGroups/{m.resource_group}"
                   f"/providers/Microsoft.HybridCompute/machines/{m.name}/runCommands/c"
                   f"?api-version={API}")
            # A SAS whose signature Azurite refuses (403: not transient, so no retries).
            sas = "sv=2020-10-02&sr=b&sp=racw&se=2030-01-01&sig=SECRETSIGNATURE%3D"
            blob = f"{azurite.blob_endpoint}/lost/{m.name}"
            body = {"location": m.location, "properties": {
                "source": {"script": "echo hi"},
                "outputBlobUri": f"{blob}.out?{sas}", "errorBlobUri": f"{blob}.err?{sas}"}}
            async with aiohttp.ClientSession(headers=AUTH) as session:
                async with session.put(url, json=body) as response:
                    assert response.status == 201, await response.text()
                for _ in range(600):  # hang guard only: the run ends within seconds
                    async with session.get(url) as response:
                        view = (await response.json())["properties"]["instanceView"]
                    if view["executionState"] not in ("Pending", "Running"):
                        break
                    await asyncio.sleep(0.1)
                async with session.get(f"{arm}/_sim/stats") as response:
                    storage = (await response.json())["storage"]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    assert view["executionState"] == "Succeeded"  # the script ran; its blobs did not get it
    assert storage["failed"] == 2 and storage["failed_by_stream"] == {"output": 1, "error": 1}
    text = log.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if "blob write failed" in line]
    assert len(lines) == 2
    assert all(m.name in line and "HTTP 403" in line for line in lines)
    assert any(": output blob" in line for line in lines)
    assert any(": error blob" in line for line in lines)
    assert "SECRETSIGNATURE" not in text and "sig=" not in text

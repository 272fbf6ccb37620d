"""Secrets never written, owner-only run folders, least-privilege SAS links, no bearer token
over plain HTTP, and a Jinja sandbox that holds against known escape payloads."""

from __future__ import annotations

import asyncio
import os
import re
import stat
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from click.testing import CliRunner

from fleet.arm.credentials import build_credential, check_endpoint
from fleet.cli import main
from fleet.errors import InsecureEndpointError
from fleet_sim.azurite import Azurite
from fleet_sim.inventory_io import write_inventory
from tests.fixtures.sim import SimFactory
from tests.reliability.fault_matrix import FaultProfile, sim_config

PASSWORD = "H7-runas-Pa55word-zq81"
PROTECTED = "H7-protected-value-kx47"
TOKEN = "fleet-dev-token"  # the dev credential's bearer token (refreshes append ~N)
SIG = re.compile(rb"sig=(?!\*|REDACTED|<redacted>|%3Credacted|\[redacted)[A-Za-z0-9%+/=]{6,}", re.I)


async def test_full_rollout_writes_no_secret_anywhere(tmp_path: Path, azurite: Azurite) -> None:
    from fleet_sim.server import SimServer

    async with SimServer(sim_config(FaultProfile("secrets", "-"), 6)) as sim:
        inventory = tmp_path / "inventory.yaml"
        write_inventory(sim.machines, inventory)
        playbook = tmp_path / "playbook.yaml"
        playbook.write_text(yaml.safe_dump({
            "name": "secrets", "hosts": "all", "script": "echo secret-scan",
            "parameters": {"port": 443},
            "protected_parameters": {"token": '{{ secret("env:H7_PROTECTED") }}'},
            "run_as": {"user": "svc", "password": '{{ secret("env:H7_PASSWORD") }}'},
            # 1h simulated = 36 wall s at FLEET_TIME_SCALE 0.01: Azurite and a busy machine are
            # not time-scaled, and a timed-out job would fail the exit-code check below.
            "timeout": "1h",
        }))  # fmt: skip
        run_dir, log = tmp_path / "run", tmp_path / "fleet.jsonl"
        env = {
            **os.environ, "H7_PASSWORD": PASSWORD, "H7_PROTECTED": PROTECTED,
            "FLEET_ARM_ENDPOINT": sim.arm_endpoint, "FLEET_CREDENTIAL": "dev",
            "FLEET_STORAGE_CONNECTION_STRING": azurite.connection_string, "FLEET_TIME_SCALE": "0.01",
        }  # fmt: skip
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fleet", "--debug", "run", str(playbook), "-i", str(inventory),
            "--yes", "-vv", "--log-file", str(log), "--run-dir", str(run_dir), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        stdout, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()[-2000:]
        assert sim.stats()["executions_total"] == 6  # the secrets really went out
    account_key = azurite.connection_string.split("AccountKey=")[1].split(";")[0]
    written = {"stdout": stdout, "stderr": stderr}
    for path in [*run_dir.rglob("*"), log]:
        if path.is_file():
            written[str(path)] = path.read_bytes()
    assert len(written) > 6 and log.stat().st_size > 0
    for name, data in written.items():
        for secret in (PASSWORD, PROTECTED, TOKEN, account_key):
            assert secret.encode() not in data, f"{secret[:6]}... in {name}"
        assert not SIG.search(data), f"a SAS signature in {name}: {SIG.search(data)}"


async def test_run_folder_and_journal_are_owner_only(sim_factory: SimFactory, tmp_path: Path) -> None:
    from fleet.engine.session import execute_plan
    from tests.engine.helpers import FAST_OPTIONS, connection, machines_of, make_plan

    os.umask(0o022)  # a permissive umask must not leak into the run folder
    sim = await sim_factory(machines=2)
    run_dir = tmp_path / "run"
    await execute_plan(make_plan(machines_of(sim)), connection=connection(sim, None),
                       run_dir=run_dir, options=FAST_OPTIONS)  # fmt: skip
    assert stat.S_IMODE(run_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE((run_dir / "journal.sqlite").stat().st_mode) & 0o077 == 0
    # Everything else lives inside the 0700 folder, so no other user can reach it.


async def test_sas_links_are_one_blob_racw_and_short_lived(azurite: Azurite) -> None:
    from fleet.blobs import RunStorage
    from fleet.engine.options import EngineOptions

    options = EngineOptions()
    timeout_s = 3600
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=timeout_s + options.timeout_margin_s + options.sas_margin_s)
    storage = RunStorage.from_connection_string(azurite.connection_string, run_id="sas-test")
    try:
        url = storage.blob_sas_url("web-1/apply.a1.out", expires_at=expires)
    finally:
        await storage.aclose()
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path.endswith("/web-1/apply.a1.out")
    assert query["sp"] == ["racw"] and query["sr"] == ["b"]  # one blob, read/add/create/write
    expiry = datetime.fromisoformat(query["se"][0].replace("Z", "+00:00"))
    limit = now + timedelta(seconds=timeout_s + options.timeout_margin_s + options.sas_margin_s + 60)
    assert now < expiry <= limit


@pytest.mark.parametrize("endpoint", ["http://arm.example.com", "http://10.0.0.5:8080", "http://[2001:db8::1]"])
def test_bearer_token_refused_over_plain_http(endpoint: str) -> None:
    with pytest.raises(InsecureEndpointError, match="plain HTTP"):
        check_endpoint(endpoint)
    with pytest.raises(InsecureEndpointError):
        build_credential("dev", endpoint=endpoint, ca_file=None)


def test_dev_token_refused_for_real_https_endpoints() -> None:
    with pytest.raises(InsecureEndpointError, match="loopback"):
        build_credential("dev", endpoint="https://management.azure.com", ca_file=None)


ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ lipsum.__globals__['os'].system('touch PWNED') }}",
    "{{ cycler.__init__.__globals__.os.system('touch PWNED') }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ request.application.__globals__ }}",
    "{{ config.__class__.__init__.__globals__['os'] }}",
    "{{ machine.__class__ }}",
    "{{ secret.__call__.__globals__ }}",
    "{% set x = ''.__class__ %}{{ x }}",
    "{{ ''|attr('__class__') }}",
    "{{ (1).__class__.__base__.__subclasses__() }}",
    "{{ [].append.__self__.__class__ }}",
    "{{ {}.update({'a': 1}) }}",
    "{{ range(10**9)|list }}",
    "{{ 'a' * 10**10 }}",
]


@pytest.mark.parametrize("payload", ESCAPES)
def test_sandbox_blocks_escape_payloads(payload: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("inventory.yaml").write_text(
        "all:\n  vars: {subscription_id: 00000000-0000-0000-0000-000000000001, resource_group: rg,"
        " location: eastus, os_type: linux}\n  hosts:\n    web-1: {}\n"
    )
    Path("playbook.yaml").write_text(yaml.safe_dump({"name": "x", "hosts": "all", "script": payload}))
    result = CliRunner().invoke(main, ["plan", "playbook.yaml", "-i", "inventory.yaml"])
    assert result.exit_code == 2, (result.stdout[-300:], result.stderr)
    assert len(result.stderr.splitlines()) == 1 and "playbook.yaml:" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not Path("PWNED").exists()

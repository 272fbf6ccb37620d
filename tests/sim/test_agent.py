"""The simulated agent against a real Azurite: modelled output in the blobs, overwrite, blocks,
blob failures, timeouts, cancel, script URIs and secrets. Every wait is an Event, never a sleep."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import BlobSasPermissions

from fleet_sim.agent import Agent, Execution
from fleet_sim.agent_profile import AgentProfile, parse_agent_profile
from fleet_sim.azurite import Azurite
from tests.sim.agent_helpers import Store, new_store, request


@pytest.fixture
async def store(azurite: Azurite) -> Store:
    return await new_store(azurite, "agent")


@pytest.fixture
async def agent() -> AsyncIterator[Agent]:
    instance = Agent(AgentProfile(), seed=7, time_scale=0)
    yield instance
    await instance.aclose()


async def run(agent: Agent, **kwargs: object) -> Execution:
    execution = agent.start(request(**kwargs))  # type: ignore[arg-type]
    await execution.finished.wait()
    return execution


async def test_blobs_hold_the_modelled_output_of_several_machines(
    azurite: Azurite, store: Store
) -> None:
    profile = parse_agent_profile(
        {"rules": [{"match": {"tag": "role=db"}, "exit_code": 3}]}, source="profile.yaml"
    )
    agent = Agent(profile, seed=1, time_scale=0)
    try:
        web = agent.start(
            request(
                "web-01",
                script="#!/bin/bash\nsystemctl restart nginx\n",
                parameters=(("port", "443"), ("mode", "a\nb")),
                protected=(("token", "s3cr3t-value"),),
                run_as_user="deploy",
                out=store.sas_url("web-01.out"),
                err=store.sas_url("web-01.err"),
            )
        )
        db = agent.start(
            request(
                "db-01",
                tags={"role": "db"},
                script="apt-get -y upgrade",
                out=store.sas_url("db-01.out"),
                err=store.sas_url("db-01.err"),
            )
        )
        win = agent.start(
            request(
                "win-01",
                os_type="windows",
                script=None,
                command_id="RunPowerShellScript",
                out=store.sas_url("win-01.out"),
                err=store.sas_url("win-01.err"),
            )
        )
        for execution in (web, db, win):
            await execution.finished.wait()
    finally:
        await agent.aclose()

    web_out = (
        "fleet-sim: machine=web-01 os=linux\n"
        "fleet-sim: script=#!/bin/bash | scriptUri= | commandId=\n"
        "fleet-sim: param port=443\n"
        "fleet-sim: param mode=a\\nb\n"
        "fleet-sim: protected token=***\n"
        "fleet-sim: runAs=deploy\n"
        "fleet-sim: exit=0\n"
    )
    db_out = (
        "fleet-sim: machine=db-01 os=linux\n"
        "fleet-sim: script=apt-get -y upgrade | scriptUri= | commandId=\n"
        "fleet-sim: exit=3\n"
    )
    win_out = (
        "fleet-sim: machine=win-01 os=windows\n"
        "fleet-sim: script= | scriptUri= | commandId=RunPowerShellScript\n"
        "fleet-sim: exit=0\n"
    )
    assert await store.read("web-01.out") == web_out.encode()
    assert await store.read("web-01.err") == b""
    assert await store.read("db-01.out") == db_out.encode()
    assert await store.read("db-01.err") == b"fleet-sim: simulated failure exit=3\n"
    assert await store.read("win-01.out") == win_out.encode()
    assert (await store.properties("web-01.out"))["blob_type"] == "BlobType.APPENDBLOB"

    view = web.instance_view()
    assert view["executionState"] == "Succeeded"
    assert view["exitCode"] == 0
    assert view["output"] == web_out
    assert view["error"] == ""
    assert view["executionMessage"] == ""
    assert view["statuses"] == []
    assert view["startTime"] <= view["endTime"]
    db_view = db.instance_view()
    assert (db_view["executionState"], db_view["exitCode"]) == ("Failed", 3)
    assert db_view["error"] == "fleet-sim: simulated failure exit=3\n"


async def test_a_second_execution_overwrites_the_first(agent: Agent, store: Store) -> None:
    out, err = store.sas_url("m.out"), store.sas_url("m.err")
    first = await run(agent, parameters=(("run", "first"),), out=out, err=err)
    assert b"param run=first" in await store.read("m.out")
    second = await run(agent, script="echo two", parameters=(("run", "second"),), out=out, err=err)
    content = (await store.read("m.out")).decode()
    assert content == second.instance_view()["output"]
    assert "param run=second" in content
    assert "first" not in content
    assert content.count("fleet-sim: machine=") == 1
    assert first.instance_view()["output"] != content


async def test_long_output_spans_several_blocks_and_the_view_keeps_the_last_4096_bytes(
    store: Store,
) -> None:
    profile = parse_agent_profile(
        {"output_bytes": 300_000, "append_block_bytes": 65536}, source="profile.yaml"
    )
    agent = Agent(profile, seed=3, time_scale=0)
    try:
        execution = agent.start(request(out=store.sas_url("big.out"), err=store.sas_url("big.err")))
        await execution.finished.wait()
    finally:
        await agent.aclose()
    content = await store.read("big.out")
    assert len(content) == 300_000
    assert content.startswith(b"fleet-sim: machine=web-01")
    assert content.endswith(b"\nfleet-sim: exit=0\n")
    assert b"fleet-sim: filler 00000001 " in content
    blocks = (await store.properties("big.out"))["committed_blocks"]
    assert isinstance(blocks, int) and blocks >= 300_000 // 65536
    view = execution.instance_view()
    assert view["output"] == content[-4096:].decode()
    assert len(view["output"].encode()) == 4096


@pytest.mark.parametrize("pad", ["x", "xy"])
async def test_tail_is_counted_in_bytes_and_decoded_with_replacement(
    agent: Agent, store: Store, pad: str
) -> None:
    # Two-byte characters, then one or two ASCII bytes after them: one of the two cases makes
    # the 4096-byte cut split a character, which must show as U+FFFD, never raise or shift.
    params = (("greeting", "é" * 3000), ("pad", pad))
    execution = await run(agent, parameters=params, out=store.sas_url("t.out"))
    content = await store.read("t.out")
    assert len(content) > 6000
    output = execution.instance_view()["output"]
    assert output == content[-4096:].decode("utf-8", errors="replace")
    splits = content[-4096] & 0xC0 == 0x80  # the tail starts on a continuation byte
    assert output.startswith("\ufffd") == splits
    assert splits == (pad == "xy")  # so this test really covers both cases
    assert output.endswith("fleet-sim: exit=0\n")


async def test_read_only_sas_is_reported_and_the_script_still_succeeds(
    agent: Agent, store: Store
) -> None:
    read_only = store.sas_url("ro.out", BlobSasPermissions(read=True))
    execution = await run(agent, out=read_only, err=store.sas_url("ro.err"))
    view = execution.instance_view()
    assert view["executionState"] == "Succeeded"
    assert view["exitCode"] == 0
    assert "Failed to write output blob" in view["executionMessage"]
    assert "403" in view["executionMessage"]
    assert "/ro.out" in view["executionMessage"]
    assert "sig=" not in json.dumps(view)
    assert [s["level"] for s in view["statuses"]] == ["Warning"]
    assert view["statuses"][0]["code"] == "BlobWriteFailed"
    assert view["output"].endswith("fleet-sim: exit=0\n")  # the view still has the output
    assert await store.read("ro.err") == b""  # the other stream was written


async def test_profile_blob_failure_rate_fails_the_writes_but_not_the_script(store: Store) -> None:
    agent = Agent(parse_agent_profile({"blob_failure_rate": 1.0}, source="p"), seed=1, time_scale=0)
    try:
        execution = agent.start(request(out=store.sas_url("f.out"), err=store.sas_url("f.err")))
        await execution.finished.wait()
    finally:
        await agent.aclose()
    view = execution.instance_view()
    assert view["executionState"] == "Succeeded"
    assert "simulated failure" in view["executionMessage"]
    assert len(view["statuses"]) == 2
    with pytest.raises(ResourceNotFoundError):
        await store.read("f.out")


async def test_protected_values_and_password_never_leave_the_agent(
    agent: Agent, store: Store
) -> None:
    secret, password = "pr0tected-VALUE-42", "passw0rd-XYZ-99"
    req = request(
        protected=(("apiKey", secret), ("", secret + "-nameless")),
        run_as_user="svc",
        run_as_password=password,
        out=store.sas_url("s.out"),
        err=store.sas_url("s.err"),
    )
    assert secret not in repr(req) and password not in repr(req)
    execution = agent.start(req)
    await execution.finished.wait()
    blobs = (await store.read("s.out")) + (await store.read("s.err"))
    everything = blobs.decode() + json.dumps(execution.instance_view())
    assert "fleet-sim: protected apiKey=***" in everything
    assert secret not in everything
    assert password not in everything


async def test_hang_ends_as_timed_out_at_the_timeout(store: Store) -> None:
    agent = Agent(parse_agent_profile({"hang_fraction": 1.0}, source="p"), seed=1, time_scale=0)
    try:
        execution = agent.start(request(timeout_s=90, out=store.sas_url("h.out")))
        await execution.finished.wait()
    finally:
        await agent.aclose()
    view = execution.instance_view()
    assert view["executionState"] == "TimedOut"
    assert "exitCode" not in view
    assert "90 seconds" in view["executionMessage"]
    assert "exit=" not in view["output"]
    assert (await store.read("h.out")).decode() == view["output"]


async def test_duration_longer_than_timeout_times_out() -> None:
    agent = Agent(parse_agent_profile({"duration_s": 100}, source="p"), seed=1, time_scale=0)
    try:
        execution = agent.start(request(timeout_s=10))
        await execution.finished.wait()
    finally:
        await agent.aclose()
    assert execution.instance_view()["executionState"] == "TimedOut"


async def test_cancel_a_running_execution() -> None:
    # time_scale 1 and a 1e6 s duration: it only ends because we cancel it.
    profile = parse_agent_profile({"start_latency_s": 0, "duration_s": 1e6}, source="p")
    agent = Agent(profile, seed=1, time_scale=1.0)
    try:
        execution = agent.start(request(timeout_s=10**7))
        await execution.started.wait()
        assert execution.instance_view()["executionState"] == "Running"
        assert "endTime" not in execution.instance_view()
        execution.cancel()
        await execution.finished.wait()
    finally:
        await agent.aclose()
    view = execution.instance_view()
    assert view["executionState"] == "Canceled"
    assert "exitCode" not in view
    assert "endTime" in view


async def test_pending_before_the_start_latency_and_aclose_cancels() -> None:
    profile = parse_agent_profile({"start_latency_s": 1e6}, source="p")
    agent = Agent(profile, seed=1, time_scale=1.0)
    execution = agent.start(request())
    view = execution.instance_view()
    assert view["executionState"] == "Pending"
    assert "startTime" not in view
    await agent.aclose()
    assert execution.finished.is_set()
    assert execution.instance_view()["executionState"] == "Canceled"


async def test_script_uri_is_downloaded_and_shown_without_its_query(
    agent: Agent, store: Store
) -> None:
    await store.put_text("script.sh", "#!/bin/sh -e\necho from-uri\n")
    script_uri = store.sas_url("script.sh", BlobSasPermissions(read=True))
    execution = await run(agent, script=None, script_uri=script_uri, out=store.sas_url("u.out"))
    output = execution.instance_view()["output"]
    plain = script_uri.split("?")[0]
    assert f"fleet-sim: script=#!/bin/sh -e | scriptUri={plain} | commandId=\n" in output
    assert "sig=" not in output


async def test_failed_script_download_fails_the_execution(agent: Agent, store: Store) -> None:
    missing = store.sas_url("nope.sh", BlobSasPermissions(read=True))
    execution = await run(agent, script=None, script_uri=missing, out=store.sas_url("n.out"))
    view = execution.instance_view()
    assert view["executionState"] == "Failed"
    assert "Failed to download script" in view["executionMessage"]
    assert "404" in view["executionMessage"]
    assert "sig=" not in view["executionMessage"]


async def test_same_seed_same_results_different_seed_differs() -> None:
    profile = parse_agent_profile({"failure_rate": 0.5, "failure_exit_code": 9}, source="p")

    async def exit_codes(seed: int) -> list[int]:
        agent = Agent(profile, seed=seed, time_scale=0)
        try:
            executions = [agent.start(request(f"m{i:02d}")) for i in range(24)]
            executions += [agent.start(request("m00"))]  # a second execution on m00
            for execution in executions:
                await execution.finished.wait()
            return [e.instance_view()["exitCode"] for e in executions]
        finally:
            await agent.aclose()

    first = await exit_codes(11)
    assert first == await exit_codes(11)
    assert set(first) == {0, 9}
    assert first != await exit_codes(12)


async def test_long_modelled_output_grows_in_the_blob_while_running(store: Store) -> None:
    calls = 0
    reached, release = asyncio.Event(), asyncio.Event()

    async def gated_sleep(seconds: float) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:  # 1: start latency, 2: before the first piece, 3: before the second
            reached.set()
            await release.wait()

    moment = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    # flush_every_s 0: every piece is appended as it comes (the sleeps here take no wall time).
    profile = parse_agent_profile({"output_bytes": 100_000, "flush_every_s": 0}, source="p")
    agent = Agent(profile, seed=1, time_scale=1.0, sleep=gated_sleep, clock=lambda: moment)
    try:
        execution = agent.start(request(out=store.sas_url("g.out"), err=store.sas_url("g.err")))
        await reached.wait()
        partial = await store.read("g.out")
        view = execution.instance_view()
        assert view["executionState"] == "Running"
        assert view["startTime"] == "2030-01-02T03:04:05+00:00"
        assert partial.startswith(b"fleet-sim: machine=web-01")
        assert b"fleet-sim: filler" in partial
        assert len(partial) < 100_000
        release.set()
        await execution.finished.wait()
    finally:
        await agent.aclose()
    full = await store.read("g.out")
    assert len(full) == 100_000
    assert full.startswith(partial)


async def test_an_agent_bug_ends_the_execution_as_failed_without_leaking() -> None:
    async def broken_sleep(seconds: float) -> None:
        raise RuntimeError("boom with http://127.0.0.1/x?sig=SECRETSIG")

    agent = Agent(AgentProfile(), seed=1, time_scale=0, sleep=broken_sleep)
    try:
        execution = agent.start(request())
        await execution.finished.wait()
    finally:
        await agent.aclose()
    view = execution.instance_view()
    assert view["executionState"] == "Failed"
    assert view["executionMessage"] == "Simulated agent error: RuntimeError"


async def test_output_is_coalesced_into_few_appends_and_complete_at_the_end(store: Store) -> None:
    """The default profile appends what gathered at intervals: a 20 KB output printed in
    pieces over a run that takes no wall time is one append, and all of it is there when the
    execution reports its end (nothing printed last is left unwritten)."""

    async def no_wait(seconds: float) -> None:
        return None

    profile = parse_agent_profile({"output_bytes": 20_000}, source="p")
    agent = Agent(profile, seed=1, time_scale=1.0, sleep=no_wait)
    try:
        execution = agent.start(request(out=store.sas_url("c.out"), err=store.sas_url("c.err")))
        await execution.finished.wait()
        data = await store.read("c.out")
        assert len(data) == execution.output_bytes and len(data) >= 20_000
        assert execution._out.writer is not None and execution._out.writer.blocks_written == 1
    finally:
        await agent.aclose()

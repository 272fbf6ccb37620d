"""The shell executor: real bash, parameters as Arc passes them on Linux, timeout and cancel kill
the process group, output streamed to the append blobs."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator

import pytest

from fleet_sim.agent import Agent, Execution
from fleet_sim.agent_profile import AgentProfile, Draw, parse_agent_profile
from fleet_sim.azurite import Azurite
from fleet_sim.executors import ScriptJob, ShellExecutor
from tests.sim.agent_helpers import Store, new_store, request

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")

SHELL = {"executor": "shell", "start_latency_s": 0, "duration_s": 0}


@pytest.fixture
async def store(azurite: Azurite) -> Store:
    return await new_store(azurite, "shell")


@pytest.fixture
async def shell_agent() -> AsyncIterator[Agent]:
    # time_scale 1: shell timeouts are real seconds here unless a test says otherwise.
    instance = Agent(parse_agent_profile(SHELL, source="p"), seed=1, time_scale=1.0)
    yield instance
    await instance.aclose()


async def run(agent: Agent, **kwargs: object) -> Execution:
    execution = agent.start(request(**kwargs))  # type: ignore[arg-type]
    await execution.finished.wait()
    return execution


async def test_bash_runs_with_parameters_as_environment_and_positional_args(
    shell_agent: Agent, store: Store
) -> None:
    script = (
        "#!/bin/bash\n"
        'echo "port=$PORT mode=$MODE secret_len=${#API_KEY}"\n'
        'echo "args=$# first=$1 second=$2"\n'
        'echo "cwd_is_home=$([ "$PWD" = "$HOME" ] && echo yes)"\n'
        "echo to-stderr >&2\n"
    )
    execution = await run(
        shell_agent,
        script=script,
        parameters=(("PORT", "443"), ("MODE", "fast lane"), ("", "pos1")),
        protected=(("API_KEY", "abcdef"), ("", "pos2")),
        out=store.sas_url("sh.out"),
        err=store.sas_url("sh.err"),
    )
    view = execution.instance_view()
    expected = (
        "port=443 mode=fast lane secret_len=6\nargs=2 first=pos1 second=pos2\ncwd_is_home=yes\n"
    )
    assert (view["executionState"], view["exitCode"]) == ("Succeeded", 0)
    assert view["output"] == expected
    assert await store.read("sh.out") == expected.encode()
    assert await store.read("sh.err") == b"to-stderr\n"


async def test_nonzero_exit_is_failed(shell_agent: Agent) -> None:
    execution = await run(shell_agent, script="echo bad >&2\nexit 4\n")
    view = execution.instance_view()
    assert (view["executionState"], view["exitCode"], view["error"]) == ("Failed", 4, "bad\n")


async def test_output_streams_in_several_blocks(store: Store) -> None:
    profile = parse_agent_profile({**SHELL, "append_block_bytes": 1024}, source="p")
    agent = Agent(profile, seed=1, time_scale=1.0)
    try:
        execution = agent.start(
            request(
                script="seq 1 20000\n", out=store.sas_url("seq.out"), err=store.sas_url("seq.err")
            )
        )
        await execution.finished.wait()
    finally:
        await agent.aclose()
    expected = "".join(f"{i}\n" for i in range(1, 20001)).encode()
    assert await store.read("seq.out") == expected
    blocks = (await store.properties("seq.out"))["committed_blocks"]
    assert isinstance(blocks, int) and blocks >= len(expected) // 1024
    assert execution.instance_view()["output"] == expected[-4096:].decode()


async def test_timeout_kills_the_script(store: Store) -> None:
    # 600 simulated seconds at time_scale 0.003 is a 1.8 s real timeout: short enough for a
    # fast test. A busy machine may not even have started bash by then, so the output is
    # "begin" or nothing, but never what comes after the hang.
    agent = Agent(parse_agent_profile(SHELL, source="p"), seed=1, time_scale=0.003)
    try:
        execution = agent.start(
            request(script="echo begin\nsleep 600 & wait\necho never\n", out=store.sas_url("t.out"))
        )
        await execution.finished.wait()
    finally:
        await agent.aclose()
    view = execution.instance_view()
    assert view["executionState"] == "TimedOut"
    assert "exitCode" not in view
    assert view["output"] in ("begin\n", "")
    assert await store.read("t.out") == view["output"].encode()


async def test_cancel_ends_as_canceled(shell_agent: Agent) -> None:
    execution = shell_agent.start(request(script="exec sleep 600\n", timeout_s=3600))
    await execution.started.wait()
    execution.cancel()
    await execution.finished.wait()
    assert execution.instance_view()["executionState"] == "Canceled"


class _EventSink:
    def __init__(self) -> None:
        self.out = bytearray()
        self.first_output = asyncio.Event()

    async def stdout(self, data: bytes) -> None:
        self.out += data
        self.first_output.set()

    async def stderr(self, data: bytes) -> None:
        pass


def _job(script: str, timeout_s: float = 3600) -> ScriptJob:
    return ScriptJob(
        machine_name="m",
        os_type="linux",
        script=script,
        script_uri=None,
        command_id=None,
        parameters=(),
        protected_names=(),
        run_as_user=None,
        draw=Draw(0, 0, 0, False, 0, False, False),
        timeout_s=timeout_s,
        time_scale=1.0,
    )


async def _exited(pid: int) -> bool:
    """Wait (event-driven, through a pidfd) until ``pid`` has exited; True if it did in time."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True  # already reaped
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_reader(fd, done.set)
    try:
        # The bound only limits a failing test; a passing one returns as soon as the pid exits.
        async with asyncio.timeout(60):
            await done.wait()
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def test_cancel_kills_the_process_group() -> None:
    sink = _EventSink()
    script = "sleep 600 &\necho $$ $!\nwait\n"
    task = asyncio.create_task(ShellExecutor().run(_job(script), sink, ()))
    await sink.first_output.wait()
    shell_pid, child_pid = (int(p) for p in sink.out.split())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await _exited(shell_pid)
    assert await _exited(child_pid)  # the background child died with its group


async def test_windows_machine_under_shell_profile_is_modelled(shell_agent: Agent) -> None:
    execution = await run(shell_agent, os_type="windows", script="Write-Host hi")
    assert execution.instance_view()["output"].startswith("fleet-sim: machine=web-01 os=windows\n")


async def test_shell_rules_by_tag_only_apply_to_matching_machines() -> None:
    profile = parse_agent_profile(
        {
            "start_latency_s": 0,
            "duration_s": 0,
            "rules": [{"match": {"tag": "real=yes"}, "executor": "shell"}],
        },
        source="p",
    )
    agent = Agent(profile, seed=1, time_scale=1.0)
    try:
        real = agent.start(request("a", tags={"real": "yes"}, script="echo real"))
        fake = agent.start(request("b", script="echo real"))
        await real.finished.wait()
        await fake.finished.wait()
    finally:
        await agent.aclose()
    assert real.instance_view()["output"] == "real\n"
    assert fake.instance_view()["output"].startswith("fleet-sim: machine=b")


async def test_default_profile_is_modelled() -> None:
    assert AgentProfile().defaults.executor == "modelled"


async def test_a_parameter_name_that_cannot_be_an_environment_variable_fails(
    shell_agent: Agent,
) -> None:
    execution = await run(shell_agent, script="echo never", parameters=(("A=B", "1"),))
    view = execution.instance_view()
    assert view["executionState"] == "Failed"
    assert "cannot be passed to a shell" in view["executionMessage"]
    assert view["output"] == ""

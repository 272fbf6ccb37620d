"""The conformance suite: every behaviour the simulator models and every assumption fleet relies
on, checked against a target that is either the simulator (always, in CI) or real Azure with a
real Connected Machine agent (``pytest -m live tests/conformance -rP``; docs/readme/live.md).

Each test prints what it observed as a block that pastes into a simulator profile (the keys of
fleet_sim/config.py). Where the simulator models a behaviour Azure's documentation leaves open,
the test names the simulator option that switches between the readings; on the simulator it
runs once per reading and asserts the configured one, on live Azure it reports which one holds.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from typing import Any

import pytest

from fleet_sim.config import BucketSpec, ThrottleSpec
from tests.conformance.conftest import alternative, behaviour
from tests.conformance.target import Observations, Target, instance_view

TERMINAL = ("Succeeded", "Failed", "TimedOut", "Canceled")
# Order of the states a run command passes through (lower first).
PROVISIONING_ORDER = {"Creating": 0, "Updating": 0, "Succeeded": 1, "Failed": 1, "Canceled": 1}
EXECUTION_ORDER = {"Unknown": 0, "Pending": 0, "Running": 1, **{s: 2 for s in TERMINAL}}


def _json(body: bytes) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(body) if body else {}
    return data


def pause_s(target: Target) -> int:
    """Real seconds a script sleeps where a test must see it running (bash really sleeps on
    the simulator too, so it is short there)."""
    return 1 if target.name == "sim" else 20


def readings(target: Target, *values: Any) -> tuple[Any, ...]:
    """The knob's readings to run: each one on the simulator (the default first), the one
    reality on live Azure (None: observe, assert nothing about the knob)."""
    return values if target.name == "sim" else (None,)


def report(obs: Observations, configured: Any, default: Any, section: str, key: str, seen: Any) -> None:
    """Record the observed value as a profile key; on the simulator only for the default
    reading (the others are asserted, not reported)."""
    if configured is None or configured == default:
        obs.key(section, key, seen)
    else:
        obs.note(f"with {section}.{key}: {configured!r} configured, observed {seen!r}")


# -------------------------------------------------------------------------- create / re-PUT


async def test_create_is_201_and_an_identical_put_is_200(
    target: Target, request: pytest.FixtureRequest, obs: Observations
) -> None:
    """PUT creates (201) and runs; an identical PUT answers 200. Whether it runs the script
    again is unconfirmed: simulator option ``behaviour.rerun_identical_put``."""
    for configured in readings(target, False, True):
        async with alternative(target, request, behaviour=behaviour(rerun_identical_put=bool(configured))) as t:
            m = t.machines.linux
            name = t.new_name("reput")
            _, out_url, _, _ = t.blob_urls(name)
            body = t.body(m, 'echo "run $(cat /proc/sys/kernel/random/uuid)"', outputBlobUri=out_url)
            first = await t.put(m, name, body)
            assert first.status == 201, first.body[:500]
            created = _json(first.body)
            assert created["name"] == name and created["properties"]["provisioningState"]
            ended = await t.finished(m, name)
            first_start = instance_view(ended).get("startTime")
            first_output = instance_view(ended).get("output")
            again = await t.put(m, name, body)
            assert again.status == 200, again.body[:500]
            # A re-run shows as a new start time or a new random line; give a real agent time.
            rerun = False
            for _ in range(10 if t.name == "live" else 3):
                view = instance_view(await t.view(m, name))
                state = view.get("executionState")
                if view.get("startTime") != first_start or (
                    state in TERMINAL and view.get("output") != first_output
                ) or state not in TERMINAL:
                    rerun = True
                    break
                await t.sleep(3)
            if rerun:
                await t.finished(m, name)
            report(obs, configured, False, "behaviour", "rerun_identical_put", rerun)
            if configured is not None:
                assert rerun is configured


async def test_lro_headers_and_operation_status(target: Target, obs: Observations) -> None:
    """fleet does not follow the LRO, but relies on ARM's shape of it: a 201 carries
    Azure-AsyncOperation (and Location, Retry-After), the operation goes InProgress ->
    Succeeded, and a DELETE answers 202 (or 200/204) with a Location to poll."""
    m = target.machines.linux
    name = target.new_name("lro")
    created = await target.put(m, name, target.body(m, "echo lro"))
    assert created.status == 201
    operation = created.header("azure-asyncoperation")
    assert operation and operation.startswith("https://" if target.name == "live" else "http")
    retry_after = created.header("retry-after")
    obs.note(f"PUT 201 headers: Azure-AsyncOperation yes, Location {'yes' if created.header('location') else 'no'}, Retry-After {retry_after}")
    if retry_after is not None:
        obs.key("behaviour", "lro_retry_after_s", int(retry_after))
    statuses: list[str] = []

    async def done() -> str | None:
        answer = await target.request("GET", operation)
        assert answer.status == 200, answer.body[:300]
        status = str(_json(answer.body)["status"])
        if not statuses or statuses[-1] != status:
            statuses.append(status)
        return status if status != "InProgress" else None

    assert await target.until(done, what="the PUT's operation", every_s=1) == "Succeeded"
    assert set(statuses) <= {"InProgress", "Succeeded"}
    obs.note(f"operation statuses: {' -> '.join(statuses)}")
    deleted = await target.delete(m, name)
    assert deleted.status in (200, 202, 204), deleted.body[:300]
    obs.note(f"DELETE answered {deleted.status}, Location {'yes' if deleted.header('location') else 'no'}")
    if deleted.status == 202:
        assert deleted.header("location") or deleted.header("azure-asyncoperation")
    await target.gone(m, name)
    again = await target.delete(m, name)
    assert again.status in (200, 204), again.status  # deleting what is gone is not an error


# -------------------------------------------------------------------------- states


async def test_states_progress_in_order(target: Target, obs: Observations) -> None:
    """provisioningState and instanceView.executionState only move forward (Creating ->
    Succeeded; Pending -> Running -> Succeeded); with ``asyncExecution`` provisioning ends when
    the script starts, without it when the script ends."""
    m = target.machines.linux
    for asynchronous in (False, True):
        name = target.new_name("states")
        body = target.body(m, f"echo start; sleep {pause_s(target)}; echo end",
                           asyncExecution=asynchronous)  # fmt: skip
        assert (await target.put(m, name, body)).status == 201
        seen: list[tuple[str, str]] = []

        async def probe(name: str = name, seen: list[tuple[str, str]] = seen) -> bool | None:
            data = await target.view(m, name)
            pair = (str(data["properties"].get("provisioningState")),
                    str(instance_view(data).get("executionState")))  # fmt: skip
            if not seen or seen[-1] != pair:
                seen.append(pair)
            return True if pair[1] in TERMINAL and pair[0] in PROVISIONING_ORDER and pair[0] != "Creating" else None

        await target.until(probe, what="the end", every_s=0.2 if target.name == "sim" else 1)
        obs.note(f"asyncExecution={str(asynchronous).lower()}: " + " -> ".join(f"{p}/{e}" for p, e in seen))
        ranks = [(PROVISIONING_ORDER.get(p, 0), EXECUTION_ORDER.get(e, 0)) for p, e in seen]
        assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in itertools.pairwise(ranks)), seen
        assert seen[-1] == ("Succeeded", "Succeeded"), seen
        running = [p for p, e in seen if e == "Running"]
        if running and target.name == "sim":  # the simulator models the documented reading
            assert set(running) == ({"Succeeded"} if asynchronous else {"Creating"}), seen


# -------------------------------------------------------------------------- PATCH


async def test_patch_with_tags_only_does_not_rerun_and_with_properties_does(
    target: Target, obs: Observations
) -> None:
    """PATCH semantics fleet relies on never to re-run by accident: tags alone update the
    resource only; new properties (the seed walkthrough's step 3) stop and re-run it."""
    m = target.machines.linux
    name = target.new_name("patch")
    out, out_url, _, _ = target.blob_urls(name)
    body = target.body(m, "echo first", outputBlobUri=out_url)
    assert (await target.put(m, name, body)).status == 201
    started = instance_view(await target.finished(m, name)).get("startTime")
    tagged = await target.patch(m, name, {"tags": {"fleet-conformance": "yes"}})
    assert tagged.status in (200, 202), tagged.body[:300]
    await target.sleep(5)
    view = await target.view(m, name)
    assert (view.get("tags") or {}).get("fleet-conformance") == "yes"
    assert instance_view(view).get("startTime") == started  # no re-run
    patched = await target.patch(m, name, {"properties": {**body["properties"], "source": {"script": "echo second"}}})
    assert patched.status in (200, 202), patched.body[:300]

    async def second() -> bytes | None:
        data = await target.read_blob(out)
        return data if data is not None and b"second" in data else None

    try:
        await target.until(second, what="the patched script's output", timeout_s=180, window=True)
    except AssertionError:
        raise AssertionError(
            "PATCH with new properties did not run the new script within 180 s: the "
            "simulator's model (a full PATCH behaves like a changed PUT) is wrong here"
        ) from None

    async def rerun_ended() -> dict[str, Any] | None:
        data = await target.view(m, name)
        view = instance_view(data)
        ended = view.get("executionState") in TERMINAL and view.get("startTime") != started
        return data if ended else None

    await target.until(rerun_ended, what="the patched run to end")
    obs.note("PATCH tags only: no re-run; PATCH with properties: stops and re-runs (no simulator option)")


# -------------------------------------------------------------------------- output, DELETE


async def test_output_is_appended_while_running_and_delete_stops_the_script(
    target: Target, obs: Observations
) -> None:
    """The output append blob grows while the script runs (fleet may read it early), and a
    DELETE stops a running script (fleet's cancel and timeout rely on it)."""
    m = target.machines.linux
    name = target.new_name("delete")
    out, out_url, _, err_url = target.blob_urls(name)
    # Only the DELETE may end it: the timeout is an hour live, a day on the simulator (864 s
    # of wall time there, so that a busy machine cannot turn it into a TimedOut).
    body = target.body(m, "echo one; sleep 600; echo two", outputBlobUri=out_url, errorBlobUri=err_url,
                       timeoutInSeconds=3600 if target.name == "live" else 86_400)  # fmt: skip
    assert (await target.put(m, name, body)).status == 201

    async def first_line() -> bytes | None:
        data = await target.read_blob(out)
        return data if data and b"one" in data else None

    early = await target.until(first_line, what="the first line in the output blob", every_s=1)
    assert b"two" not in early
    assert instance_view(await target.view(m, name)).get("executionState") == "Running"
    deleted = await target.delete(m, name)
    assert deleted.status in (200, 202, 204), deleted.body[:300]
    await target.gone(m, name)
    await target.sleep(5)
    assert b"two" not in (await target.read_blob(out) or b"")
    if target.sim is not None:
        truth = target.sim.state.launches[-1]
        assert truth.execution is not None
        assert truth.execution.instance_view()["executionState"] == "Canceled"
    obs.note("output blob appended while Running: yes; DELETE of a running command stopped the script")


async def test_timeout_in_seconds_ends_timed_out(
    target: Target, request: pytest.FixtureRequest, obs: Observations
) -> None:
    """``timeoutInSeconds`` stops the script and the execution ends TimedOut without an exit
    code. Whether provisioning then says Failed is unconfirmed: simulator option
    ``behaviour.script_failure_fails_provisioning`` (also covers a non-zero exit)."""
    for configured in readings(target, False, True):
        async with alternative(target, request, behaviour=behaviour(script_failure_fails_provisioning=bool(configured))) as t:
            m = t.machines.linux
            name = t.new_name("timeout")
            body = t.body(m, "echo begin; sleep 3600", timeoutInSeconds=30)
            assert (await t.put(m, name, body)).status == 201
            ended = await t.finished(m, name, timeout_s=600)
            view = instance_view(ended)
            assert view["executionState"] == "TimedOut", view
            assert view.get("exitCode") in (None, -1), view  # no script exit code to report
            provisioning = ended["properties"]["provisioningState"]
            fails = provisioning == "Failed"
            report(obs, configured, False, "behaviour", "script_failure_fails_provisioning", fails)
            obs.note(f"timeoutInSeconds 30: TimedOut, provisioningState {provisioning}")
            failing = t.new_name("exit3")
            assert (await t.put(m, failing, t.body(m, "echo failing; exit 3"))).status == 201
            ended = await t.finished(m, failing)
            view = instance_view(ended)
            assert view.get("exitCode") == 3, view
            # fleet's client reads the same: exit code and states, parsed from the real body.
            parsed = await t.arm.get_run_command(m, failing)
            assert parsed is not None and parsed.exit_code == 3
            assert parsed.execution_state == view["executionState"]
            assert parsed.provisioning_state == ended["properties"]["provisioningState"]
            obs.note(f"exit 3: executionState {view['executionState']}, provisioningState {ended['properties']['provisioningState']}")
            if configured is not None:
                assert fails is configured
                assert view["executionState"] == "Failed"  # how the simulator models exit != 0
                assert (ended["properties"]["provisioningState"] == "Failed") is configured


async def test_blobs_are_overwritten_when_the_script_runs_again(target: Target, obs: Observations) -> None:
    """"Output and error blobs are overwritten each time the Run command script executes":
    a re-run's blob holds only the new output (fleet gives every attempt its own blob)."""
    m = target.machines.linux
    name = target.new_name("overwrite")
    out, out_url, err, err_url = target.blob_urls(name)
    props = {"outputBlobUri": out_url, "errorBlobUri": err_url}
    assert (await target.put(m, name, target.body(m, "echo first-run; echo first-err >&2", **props))).status == 201
    await target.finished(m, name)
    assert (await target.put(m, name, target.body(m, "echo second-run", **props))).status == 200
    await target.finished(m, name)

    async def rewritten() -> bytes | None:
        data = await target.read_blob(out)
        return data if data and b"second-run" in data else None

    data = await target.until(rewritten, what="the second output")
    assert b"first-run" not in data
    assert b"first-err" not in (await target.read_blob(err) or b"")
    obs.note("a re-execution overwrites the output and error blobs (no simulator option)")


async def test_instance_view_keeps_the_last_4_kb(target: Target, obs: Observations) -> None:
    """instanceView.output holds the tail of stdout (about 4 KB), the blob all of it: fleet
    takes outputs from the blob and falls back to the tail only without storage."""
    m = target.machines.linux
    name = target.new_name("tail")
    out, out_url, _, _ = target.blob_urls(name)
    script = "for i in $(seq 1 1000); do printf 'line %04d xxxxxxxxxx\\n' $i; done"  # 21,000 bytes
    assert (await target.put(m, name, target.body(m, script, outputBlobUri=out_url))).status == 201
    ended = await target.finished(m, name)
    tail = str(instance_view(ended).get("output") or "")
    assert tail.rstrip().endswith("line 1000 xxxxxxxxxx")
    assert "line 0001 " not in tail and 1000 <= len(tail.encode()) <= 4096 + 100

    async def whole() -> bytes | None:
        data = await target.read_blob(out)
        return data if data is not None and len(data) >= 21_000 else None

    blob = await target.until(whole, what="the whole output in the blob")
    assert len(blob) == 21_000 and blob.startswith(b"line 0001 ")
    obs.note(f"instanceView.output kept the last {len(tail.encode())} of 21000 bytes (simulator: "
             "fleet_sim.agent.TAIL_BYTES = 4096, no profile option)")  # fmt: skip


# -------------------------------------------------------------------------- inputs


async def test_parameters_reach_the_script(target: Target, obs: Observations) -> None:
    """Parameters are environment variables on Linux and named arguments on Windows;
    protected parameters reach the script and never come back in the resource."""
    m = target.machines.linux
    name = target.new_name("params")
    secret = "conformance-protected-7d1"
    digest = hashlib.sha256(secret.encode()).hexdigest()[:16]
    # The script is echoed in the resource: it names the value only by its digest.
    script = 'echo "port=$port name=$name"; printf %s "$token" | sha256sum | cut -c1-16'
    body = target.body(m, script, parameters=[{"name": "port", "value": "443"}, {"name": "name", "value": "a b"}],
                       protectedParameters=[{"name": "token", "value": secret}])  # fmt: skip
    # Through fleet's own ARM client this time: the request shape fleet sends, its parsing.
    target.created.append((m, name))
    accepted = await target.arm.put_run_command(m, name, body)
    assert accepted.name == name and accepted.provisioning_state
    ended = await target.finished(m, name)
    parsed = await target.arm.get_run_command(m, name)
    assert parsed is not None and parsed.execution_state == "Succeeded" and parsed.exit_code == 0
    output = str(instance_view(ended).get("output"))
    assert parsed.output == output
    assert "port=443 name=a b" in output and digest in output, output
    assert secret not in json.dumps(ended)
    obs.note("Linux: parameters are environment variables; protected ones too, never echoed")
    windows = target.machines.windows
    if windows is None:
        return
    name = target.new_name("params-win")
    body = target.body(windows, 'param($port) Write-Output "port=$port"',
                       parameters=[{"name": "port", "value": "443"}])  # fmt: skip
    assert (await target.put(windows, name, body)).status == 201
    output = str(instance_view(await target.finished(windows, name)).get("output"))
    if target.name == "live":
        assert "port=443" in output, output
        obs.note("Windows: parameters are named arguments (param($port))")
    else:  # Windows is modelled on the simulator: it shows what it was given
        assert "fleet-sim: param port=443" in output, output


async def test_numeric_parameter_values(
    target: Target, request: pytest.FixtureRequest, obs: Observations
) -> None:
    """Microsoft's own walkthrough sends ``"value": 433`` (a number) where the spec says
    string. Accepted as "433" or refused is unconfirmed: simulator option
    ``behaviour.parameter_values`` (coerce, strict)."""
    for configured in readings(target, "coerce", "strict"):
        async with alternative(target, request, behaviour=behaviour(parameter_values=configured or "coerce")) as t:
            m = t.machines.linux
            name = t.new_name("number")
            answer = await t.put(m, name, t.body(m, 'echo "port=$port"', parameters=[{"name": "port", "value": 433}]))
            if answer.status == 201:
                seen = "coerce"
                output = str(instance_view(await t.finished(m, name)).get("output"))
                assert "port=433" in output, output
                obs.note("a numeric parameter value is accepted and reaches the script as 433")
            else:
                seen = "strict"
                error = _json(answer.body).get("error", {})
                assert answer.status == 400, (answer.status, error)
                obs.note(f"a numeric parameter value is refused: 400 {error.get('code')}: {error.get('message')}")
            report(obs, configured, "coerce", "behaviour", "parameter_values", seen)
            if configured is not None:
                assert seen == configured


async def test_run_as_user(target: Target, obs: Observations) -> None:
    """runAsUser/runAsPassword: the script runs as that user and the password is write-only."""
    import os

    m = target.machines.linux
    user = os.environ.get("FLEET_LIVE_RUN_AS_USER") if target.name == "live" else "svc-fleet"
    password = os.environ.get("FLEET_LIVE_RUN_AS_PASSWORD") if target.name == "live" else "conformance-pw-5c2"
    if not user or not password:
        pytest.skip("live runAs: set FLEET_LIVE_RUN_AS_USER and FLEET_LIVE_RUN_AS_PASSWORD")
    name = target.new_name("runas")
    created = await target.put(m, name, target.body(m, "id -un", runAsUser=user, runAsPassword=password))
    assert created.status == 201 and password.encode() not in created.body
    ended = await target.finished(m, name)
    assert ended["properties"].get("runAsUser") == user and "runAsPassword" not in json.dumps(ended).replace(
        '"runAsPassword": null', "")  # fmt: skip
    assert password not in json.dumps(ended)
    output = str(instance_view(ended).get("output")).strip()
    if target.name == "live":
        assert output == user, output
        obs.note(f"runAs: the script ran as {output}; the password is never returned")
    else:
        obs.note("the simulator does not switch users (its shell runs as itself); the password is never returned")


# -------------------------------------------------------------------------- unreachable


async def test_disconnected_and_old_agent_machines_never_run(
    target: Target, request: pytest.FixtureRequest, obs: Observations
) -> None:
    """A PUT to a Disconnected machine, or one whose agent is older than 1.33, never runs.
    How ARM says so is unconfirmed: simulator option ``behaviour.unreachable`` (fail: 201 then
    provisioning Failed; reject: an error at once; pending: stays Creating)."""
    if target.name == "live" and target.machines.disconnected is None and target.machines.old_agent is None:
        pytest.skip("live: set FLEET_LIVE_DISCONNECTED_MACHINE and/or FLEET_LIVE_OLD_AGENT_MACHINE")
    for configured in readings(target, "fail", "reject", "pending"):
        async with alternative(target, request, behaviour=behaviour(unreachable=configured or "fail")) as t:
            for label, m in (("disconnected", t.machines.disconnected), ("old agent", t.machines.old_agent)):
                if m is None:
                    continue
                name = t.new_name("unreachable")
                answer = await t.put(m, name, t.body(m, "echo never"))
                if answer.status >= 400:
                    seen = "reject"
                    error = _json(answer.body).get("error", {})
                    obs.note(f"{label}: PUT answered {answer.status} {error.get('code')}: {error.get('message')}")
                else:
                    assert answer.status == 201

                    async def settled(m: Any = m, name: str = name) -> dict[str, Any] | None:
                        data = await t.view(m, name)
                        return data if data["properties"].get("provisioningState") != "Creating" else None

                    try:
                        data = await t.until(settled, what="provisioning to end", timeout_s=60, window=True)
                        seen = "fail"
                        view = instance_view(data)
                        obs.note(f"{label}: 201, then provisioningState {data['properties']['provisioningState']}, "
                                 f"executionState {view.get('executionState')}: {view.get('executionMessage')}")  # fmt: skip
                    except AssertionError:
                        seen = "pending"
                        obs.note(f"{label}: 201, and provisioning stayed Creating for 60 s")
                report(obs, configured, "fail", "behaviour", "unreachable", seen)
                if configured is not None:
                    assert seen == configured, (label, seen)
                if t.sim is not None:
                    assert not any(x.kind == "executed" for x in t.sim.state.launches
                                   if x.machine_id == m.resource_id)  # fmt: skip


# -------------------------------------------------------------------------- throttling


async def test_throttling_headers(target: Target, request: pytest.FixtureRequest, obs: Observations) -> None:
    """ARM reports what is left of each bucket on every answer (fleet's client learns its
    rates from them): reads on GET, writes on PUT, deletes on DELETE; a 429 carries
    Retry-After. The machine view carries the status and agentVersion preflight relies on."""
    m = target.machines.linux
    machine_url = target.rc_url(m, "x").split("/runCommands/")[0] + f"?api-version={target.api_version}"
    got = await target.request("GET", machine_url)
    assert got.status == 200
    props = _json(got.body)["properties"]
    assert props.get("status") == "Connected" and props.get("agentVersion")
    name = target.new_name("headers")
    put = await target.put(m, name, target.body(m, "echo headers"))
    await target.finished(m, name)
    deleted = await target.delete(m, name)
    found = {
        "reads": got.header("x-ms-ratelimit-remaining-subscription-reads"),
        "writes": put.header("x-ms-ratelimit-remaining-subscription-writes"),
        "deletes": deleted.header("x-ms-ratelimit-remaining-subscription-deletes"),
    }
    obs.note("remaining after one request: " + ", ".join(f"{k} {v}" for k, v in found.items()))
    for kind, value in found.items():
        assert value is not None and int(value) >= 0, (kind, found)
        obs.key("throttle", kind, {"capacity": int(value) + 1})
    if target.name != "sim":
        return  # never provoke throttling in a real subscription
    async with alternative(target, request, throttle=ThrottleSpec(reads=BucketSpec(2, 0.001))) as t:
        answers = [await t.request("GET", machine_url.replace(target.endpoint, t.endpoint)) for _ in range(4)]
        limited = [a for a in answers if a.status == 429]
        assert limited and int(limited[0].header("retry-after") or "0") >= 1

"""The agent profile: parsing, validation messages, rule matching, deterministic draws, and the
modelled output format (pure; no Azurite)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from fleet.errors import InputError
from fleet_sim.agent_profile import AgentProfile, Behaviour, Distribution, Draw, parse_agent_profile
from fleet_sim.executors import ScriptJob, modelled_output


def test_empty_section_gives_documented_defaults() -> None:
    profile = parse_agent_profile({}, source="p.yaml")
    assert profile == AgentProfile()
    assert profile.defaults.executor == "modelled"
    assert profile.defaults.start_latency_s.median_s == 1.0
    assert profile.defaults.duration_s == Distribution(5.0, 0.5)
    assert profile.defaults.exit_code == 0
    assert profile.append_block_bytes == 65536


def test_full_section_parses() -> None:
    profile = parse_agent_profile(
        {
            "executor": "shell",
            "start_latency_s": {"median_s": 2, "sigma": 0.1, "min_s": 1, "max_s": 3},
            "duration_s": 7,
            "failure_rate": 0.25,
            "failure_exit_code": 42,
            "output_bytes": 5000,
            "hang_fraction": 0.1,
            "blob_failure_rate": 0.05,
            "append_block_bytes": 1024,
            "default_timeout_s": 120,
            "rules": [
                {"match": {"name": "db-*"}, "exit_code": 5},
                {"match": {"tag": ["env=prod", "tier=w*"], "script": "^apt"}, "duration_s": 1},
            ],
        },
        source="p.yaml",
    )
    d = profile.defaults
    assert d.executor == "shell"
    assert d.start_latency_s == Distribution(2.0, 0.1, 1.0, 3.0)
    assert d.duration_s == Distribution(7.0)
    assert (d.failure_rate, d.failure_exit_code, d.output_bytes) == (0.25, 42, 5000)
    assert (profile.append_block_bytes, profile.default_timeout_s) == (1024, 120)
    assert profile.rules[1].tags == (("env", "prod"), ("tier", "w*"))


@pytest.mark.parametrize(
    ("data", "field", "text"),
    [
        ({"duraton_s": 5}, "agent.duraton_s", "unknown key"),
        ({"executor": "docker"}, "agent.executor", "unknown executor"),
        ({"failure_rate": 1.5}, "agent.failure_rate", "between 0 and 1"),
        ({"duration_s": "5s"}, "agent.duration_s", "expected a number"),
        ({"duration_s": {"sigma": 1}}, "agent.duration_s.median_s", "required"),
        (
            {"duration_s": {"median_s": 5, "min_s": 4, "max_s": 3}},
            "agent.duration_s.max_s",
            "min_s",
        ),
        ({"exit_code": True}, "agent.exit_code", "integer"),
        ({"append_block_bytes": 5 * 1024 * 1024}, "agent.append_block_bytes", "between"),
        ({"rules": {"a": 1}}, "agent.rules", "list"),
        ({"rules": [{"exit_code": 1}]}, "agent.rules[0].match", "non-empty match"),
        ({"rules": [{"match": {"name": "x"}}]}, "agent.rules[0]", "at least one"),
        (
            {"rules": [{"match": {"tag": "noequals"}, "exit_code": 1}]},
            "agent.rules[0].match.tag",
            "key=value",
        ),
        (
            {"rules": [{"match": {"script": "("}, "exit_code": 1}]},
            "agent.rules[0].match.script",
            "regular",
        ),
        (
            {"rules": [{"match": {"nmae": "x"}, "exit_code": 1}]},
            "agent.rules[0].match.nmae",
            "unknown",
        ),
    ],
)
def test_bad_values_name_source_and_field(data: dict[str, Any], field: str, text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_agent_profile(data, source="sim.yaml")
    assert caught.value.file == "sim.yaml"
    assert caught.value.field == field
    assert text in str(caught.value)


def test_rules_apply_in_order_each_overriding_only_what_it_sets() -> None:
    profile = parse_agent_profile(
        {
            "exit_code": 0,
            "rules": [
                {"match": {"name": "WEB-*"}, "exit_code": 2, "output_bytes": 100},
                {"match": {"tag": "Env=prod"}, "exit_code": 3},
                {"match": {"script": "reboot"}, "hang_fraction": 1},
            ],
        },
        source="p",
    )
    both = profile.resolve("web-7", {"env": "prod"}, "echo hi")
    assert (both.exit_code, both.output_bytes, both.hang_fraction) == (3, 100, 0.0)
    assert profile.resolve("web-7", {"env": "dev"}, "").exit_code == 2
    assert profile.resolve("db-1", {"ENV": "prod"}, "").exit_code == 3  # tag keys fold case
    assert profile.resolve("db-1", {"env": "Prod"}, "").exit_code == 0  # values do not
    assert profile.resolve("db-1", {}, "sudo reboot now").hang_fraction == 1.0
    assert profile.resolve("db-1", {}, "echo").hang_fraction == 0.0


def test_draws_are_deterministic_and_use_fixed_randomness() -> None:
    behaviour = Behaviour(failure_rate=0.5, hang_fraction=0.3, blob_failure_rate=0.2)
    first = [behaviour.draw(random.Random(f"1:{i}")) for i in range(200)]
    assert first == [behaviour.draw(random.Random(f"1:{i}")) for i in range(200)]
    rate = sum(d.exit_code != 0 for d in first) / len(first)
    assert 0.35 < rate < 0.65
    assert any(d.hang for d in first) and not all(d.hang for d in first)
    # Changing a distribution's shape must not shift the later draws of the same execution.
    fixed = Behaviour(
        failure_rate=0.5, hang_fraction=0.3, blob_failure_rate=0.2, duration_s=Distribution(3)
    )
    others = [fixed.draw(random.Random(f"1:{i}")) for i in range(200)]
    assert [d.exit_code for d in others] == [d.exit_code for d in first]
    assert all(d.duration_s == 3 for d in others)


def test_distribution_median_and_clamps() -> None:
    dist = Distribution(5.0, 0.5, min_s=2.0, max_s=20.0)
    rng = random.Random(3)
    values = sorted(dist.draw(rng) for _ in range(2001))
    assert 4.5 < values[1000] < 5.5
    assert values[0] >= 2.0 and values[-1] <= 20.0


def _job(**draw: Any) -> ScriptJob:
    base = {"start_latency_s": 0, "duration_s": 0, "exit_code": 0, "hang": False, "output_bytes": 0,
            "fail_output_blob": False, "fail_error_blob": False}  # fmt: skip
    return ScriptJob(
        machine_name="m1",
        os_type="linux",
        script="\n",
        script_uri="http://127.0.0.1/c/s.sh",
        command_id=None,
        parameters=(("a", "x\\y\r"),),
        protected_names=("p",),
        run_as_user=None,
        draw=Draw(**(base | draw)),
        timeout_s=60,
        time_scale=0,
    )


def test_modelled_output_format() -> None:
    head, tail, err = modelled_output(_job(exit_code=2))
    assert head == (
        "fleet-sim: machine=m1 os=linux\n"
        "fleet-sim: script= | scriptUri=http://127.0.0.1/c/s.sh | commandId=\n"
        "fleet-sim: param a=x\\\\y\\r\n"
        "fleet-sim: protected p=***\n"
    )
    assert tail == "fleet-sim: exit=2\n"
    assert err == "fleet-sim: simulated failure exit=2\n"
    assert modelled_output(_job(), timed_out=True) == (head, "", "")


@pytest.mark.parametrize("size", [0, 50, 200, 201, 202, 1000, 123_457])
def test_output_bytes_is_the_exact_stdout_size_when_larger_than_the_text(size: int) -> None:
    head, tail, _ = modelled_output(_job(output_bytes=size))
    natural = len(head) + len("fleet-sim: exit=0\n")
    assert len((head + tail).encode()) == max(size, natural)
    assert tail.endswith("\nfleet-sim: exit=0\n") or tail == "fleet-sim: exit=0\n"

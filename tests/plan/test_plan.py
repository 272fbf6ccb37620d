from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from fleet.errors import (
    InputError,
    PlaybookError,
    SecretError,
    SelectionError,
    TemplateError,
    UsageError,
)
from fleet.inventory import load_inventory
from fleet.plan.build import SCRIPT_INLINE_MAX_BYTES, build_plan, new_run_id
from fleet.plan.names import RUN_COMMAND_NAME, blob_names, run_command_name
from fleet.plan.render import dumps_plan, plan_to_json, plan_to_text
from fleet.types import MachineRef, SecretRef

from .conftest import INVENTORY

Write = Callable[[str, str], Path]
RUN = "20261126-014512-ab12"
ROOT = Path(__file__).resolve().parents[2]


def plan_of(write: Write, playbook: str, *, inventory: str = INVENTORY, **kwargs: Any) -> Any:
    inv = load_inventory(write("inv.yaml", inventory))
    args: dict[str, Any] = {"limit": None, "extra_vars": {}, "run_id": RUN, "seed": 0}
    args.update(kwargs)
    return build_plan(playbook_path=write("pb.yaml", playbook), inventory=inv, **args)


def test_request_body_matches_arm_shape(write: Write) -> None:
    plan = plan_of(write, """\
        name: t
        hosts: linux
        script: echo hi
        parameters: {port: 443, flag: true, ratio: 1.5, name: x}
        run_as: {user: svc, password: '{{ secret("env:PW") }}'}
        timeout: 15m
        async_execution: true
        """)
    job = plan.jobs[0]
    assert job.request == {
        "location": "eastus",
        "properties": {
            "source": {"script": "echo hi"},
            "parameters": [{"name": "port", "value": "443"}, {"name": "flag", "value": "true"},
                           {"name": "ratio", "value": "1.5"}, {"name": "name", "value": "x"}],
            "asyncExecution": True,
            "runAsUser": "svc",
            "timeoutInSeconds": 900,
        },
    }
    assert job.run_as_password == SecretRef("env", "PW")
    assert job.timeout_s == 900


def test_same_input_same_bytes_and_secrets_never_shown(write: Write) -> None:
    playbook = """\
        name: t
        hosts: all
        script_uri: "https://acct.blob.core.windows.net/c/s.ps1?sv=1&sig=SECRETSIG"
        protected_parameters: {pw: hunter2-literal, tok: '{{ secret("env:TOK") }}'}
        """
    first = dumps_plan(plan_of(write, playbook))
    second = dumps_plan(plan_of(write, playbook))
    assert first == second
    plan = plan_of(write, playbook)
    text = plan_to_text(plan)
    for shown in (first, text, repr(plan.jobs[0].protected_parameters)):
        assert "hunter2-literal" not in shown
        assert "SECRETSIG" not in shown
    assert "sig=***" in first
    assert plan.jobs[0].request["properties"]["source"]["scriptUri"].endswith("sig=SECRETSIG")


@pytest.mark.parametrize("field", [
    "script: 'echo {{ secret(\"env:X\") }}'",
    "parameters: {a: '{{ secret(\"env:X\") }}'}",
    "run_as: {user: '{{ secret(\"env:X\") }}'}",
])
def test_secret_outside_protected_fields_is_an_error(write: Write, field: str) -> None:
    with pytest.raises(SecretError, match="may only be used in protected_parameters"):
        plan_of(write, f"name: t\nhosts: all\n{field}\n" + ("script: x\n" if "script" not in field else ""))


def test_secret_must_be_whole_value(write: Write) -> None:
    with pytest.raises(SecretError, match="whole value"):
        plan_of(write, "name: t\nhosts: all\nscript: x\n"
                       "protected_parameters: {a: 'pre-{{ secret(\"env:X\") }}'}\n")


HOSTILE = [
    "'; rm -rf / #",
    "$(touch /tmp/pwned)",
    "`id`",
    "\"; Remove-Item C:\\ -Recurse; \"",
    "$(Stop-Computer -Force)",
    "it\u2019s'; Stop-Computer #",
    "a\nb; reboot",
]


@pytest.mark.parametrize("tag", HOSTILE)
def test_hostile_tag_cannot_change_the_command(write: Write, tag: str) -> None:
    inventory = INVENTORY.replace("lnx-1: {tags: {env: prod}}", f"lnx-1: {{tags: {{t: {json.dumps(tag)}}}}}")
    inventory = inventory.replace("win-1: {tags: {env: prod}}", f"win-1: {{tags: {{t: {json.dumps(tag)}}}}}")
    plan = plan_of(write, "name: t\nhosts: lnx-1:win-1\nscript: 'echo {{ machine.tags.t }}'\n",
                   inventory=inventory)
    linux, windows = plan.jobs
    sh = linux.request["properties"]["source"]["script"]
    import shlex
    assert shlex.split(sh) == ["echo", tag]  # exactly one literal word after echo
    ps = windows.request["properties"]["source"]["script"]
    assert ps.startswith("echo '") and ps.endswith("'")
    inner = ps[len("echo '"):-1]
    # Inside a PowerShell single-quoted string only (doubled) single quotes are special.
    assert not re.search(r"(?<!['\u2018\u2019\u201a\u201b])['\u2018\u2019\u201a\u201b](?!['\u2018\u2019\u201a\u201b])", inner.replace("''", ""))


def test_interpolation_inside_double_quotes_is_refused(write: Write) -> None:
    with pytest.raises(TemplateError, match="inside double quotes"):
        plan_of(write, "name: t\nhosts: linux\nscript: 'echo \"{{ machine.name }}\"'\n")
    plan_of(write, "name: t\nhosts: linux\nscript: 'echo \"{{ machine.name | raw }}\"'\n")


def test_undefined_variable_names_file_line_field_and_machine(write: Write) -> None:
    with pytest.raises(TemplateError) as info:
        plan_of(write, "name: t\nhosts: linux\nscript: x\nparameters:\n  a: '{{ nope }}'\n")
    message = info.value.one_line()
    assert "pb.yaml:5: parameters.a:" in message
    assert "'nope' is undefined" in message and "machine lnx-1" in message


def test_os_filter_excludes_with_reason(write: Write) -> None:
    plan = plan_of(write, "name: t\nhosts: all\nos: windows\nscript: x\n")
    assert [j.machine.name for j in plan.jobs] == ["win-1"]
    assert {e.machine.name for e in plan.excluded} == {"lnx-1", "lnx-2"}
    assert "linux" in plan.excluded[0].reason


def test_limit_intersects_hosts(write: Write) -> None:
    plan = plan_of(write, "name: t\nhosts: all\nscript: x\n", limit="tag:env=prod")
    assert [j.machine.name for j in plan.jobs] == ["lnx-1", "win-1"]
    with pytest.raises(SelectionError, match="no machine in common"):
        plan_of(write, "name: t\nhosts: linux\nscript: x\n", limit="windows")


def test_extra_vars_beat_playbook_vars_beat_host_vars(write: Write) -> None:
    inventory = INVENTORY.replace("vars: {os_type: linux}", "vars: {os_type: linux, a: inv, b: inv, c: inv}")
    plan = plan_of(write, "name: t\nhosts: lnx-1\nvars: {b: pb, c: pb}\nscript: x\n"
                   "parameters: {a: '{{ a }}', b: '{{ b }}', c: '{{ c }}'}\n",
                   inventory=inventory, extra_vars={"c": "extra"})
    params = {p["name"]: p["value"] for p in plan.jobs[0].request["properties"]["parameters"]}
    assert params == {"a": "inv", "b": "pb", "c": "extra"}


@pytest.mark.parametrize(("waves", "sizes"), [
    ('[1, "10%", "100%"]', [1, 2, 17]),  # 10% of 20 = 2
    ("[5, 5, 5, 5]", [5, 5, 5, 5]),
    ('["50%", "50%"]', [10, 10]),
    ('[1, "100%", 3]', [1, 19]),  # the last wave is empty: dropped with a warning
])
def test_wave_arithmetic(write: Write, waves: str, sizes: list[int]) -> None:
    hosts = "\n".join(f"    m{i:02d}:" for i in range(20))
    inventory = ("all:\n  vars: {subscription_id: s, resource_group: r, location: l, os_type: linux}\n"
                 f"  hosts:\n{hosts}\n")
    plan = plan_of(write, f"name: t\nhosts: all\nscript: x\nrollout:\n  waves: {waves}\n",
                   inventory=inventory)
    assert [len(w.machines) for w in plan.waves] == sizes
    every = [m.name for w in plan.waves for m in w.machines]
    assert sorted(every) == sorted(set(every)) and len(every) == 20


@pytest.mark.parametrize(("waves", "needle"), [
    ('[1, 2]', "leave 17 of 20 machines out"),
    ('[0]', "at least 1"),
    ('["150%"]', "1%..100%"),
])
def test_bad_wave_arithmetic_is_an_error(write: Write, waves: str, needle: str) -> None:
    hosts = "\n".join(f"    m{i:02d}:" for i in range(20))
    inventory = ("all:\n  vars: {subscription_id: s, resource_group: r, location: l, os_type: linux}\n"
                 f"  hosts:\n{hosts}\n")
    with pytest.raises(PlaybookError, match=re.escape(needle)):
        plan_of(write, f"name: t\nhosts: all\nscript: x\nrollout:\n  waves: {waves}\n",
                inventory=inventory)


def test_a_small_percent_wave_takes_one_machine_with_a_note(write: Write) -> None:
    hosts = "\n".join(f"    m{i:02d}:" for i in range(20))
    inventory = ("all:\n  vars: {subscription_id: s, resource_group: r, location: l, os_type: linux}\n"
                 f"  hosts:\n{hosts}\n")
    plan = plan_of(write, 'name: t\nhosts: all\nscript: x\nrollout:\n  waves: [1, "4%", "100%"]\n',
                   inventory=inventory)
    assert [len(w.machines) for w in plan.waves] == [1, 1, 18]
    assert any("rounds down to 0: this wave takes 1 machine" in w for w in plan.warnings)


def test_seed_orders_stably(write: Write) -> None:
    playbook = "name: t\nhosts: all\nscript: x\nrollout: {waves: [1, '100%']}\n"
    a = plan_of(write, playbook, seed=3)
    b = plan_of(write, playbook, seed=3)
    assert [m.name for w in a.waves for m in w.machines] == [m.name for w in b.waves for m in w.machines]
    orders = {tuple(m.name for w in plan_of(write, playbook, seed=s).waves for m in w.machines)
              for s in range(1, 8)}
    assert len(orders) > 1


def test_names_are_valid_unique_and_deterministic() -> None:
    steps = ["check", "apply", "a" * 32, "a" * 31 + "b", "verify-step-name-long"]
    names = [run_command_name(RUN, s) for s in steps]
    assert all(RUN_COMMAND_NAME.match(n) for n in names)
    assert len(set(names)) == len(names)
    assert run_command_name(RUN, "check", 2) != run_command_name(RUN, "check", 1)
    m1 = MachineRef("s", "rg1", "web")
    m2 = MachineRef("s", "rg2", "web")
    assert blob_names(RUN, m1, "check") != blob_names(RUN, m2, "check")
    assert blob_names(RUN, m1, "check", 2) != blob_names(RUN, m1, "check", 1)
    run_id = new_run_id(datetime(2026, 11, 26, 1, 45, 12, tzinfo=UTC), suffix="ab12")
    assert run_id == RUN


def test_bad_run_id_is_usage_error(write: Write) -> None:
    with pytest.raises(UsageError):
        plan_of(write, "name: t\nhosts: all\nscript: x\n", run_id="Bad Id!")


def test_large_script_goes_to_upload(write: Write) -> None:
    write("big.sh", "#" * (SCRIPT_INLINE_MAX_BYTES + 1))
    plan = plan_of(write, "name: t\nhosts: lnx-1\nscript_file: big.sh\ntemplate: false\n")
    job = plan.jobs[0]
    assert job.request["properties"]["source"] == {}
    assert job.script_upload is not None and len(job.script_upload) == SCRIPT_INLINE_MAX_BYTES + 1
    assert plan_to_json(plan)["jobs"][0]["script_upload"]["size_bytes"] == SCRIPT_INLINE_MAX_BYTES + 1


def test_steps_rollback_and_verify(write: Write) -> None:
    plan = plan_of(write, """\
        name: t
        hosts: linux
        steps:
          - {name: check, script: x}
          - {name: apply, script: y, when: steps.check.failed}
        rollback:
          - {name: undo, script: z}
        rollout: {verify: check}
        """)
    assert [(j.machine.name, j.step) for j in plan.jobs] == [
        ("lnx-1", "check"), ("lnx-1", "apply"), ("lnx-2", "check"), ("lnx-2", "apply")]
    assert plan.jobs[1].when == "steps.check.failed"
    assert [j.step for j in plan.rollback_jobs] == ["undo", "undo"]
    assert all(j.rollback for j in plan.rollback_jobs)
    assert plan.rollout.verify_step == "check" and plan.rollout.rollback_on == "breach"


@pytest.mark.parametrize(("playbook", "error", "needle"), [
    ("name: t\nhosts: all\nscrpt: x\n", PlaybookError, "did you mean 'script'"),
    ("name: t\nhosts: all\nscript: x\ntimeout: soon\n", PlaybookError, "not a duration"),
    ("name: t\nhosts: all\nscript: x\nparameters: [a]\n", PlaybookError, "must be a mapping"),
    ("name: t\nhosts: all\n", PlaybookError, "exactly one of script"),
    ("name: t\nhosts: all\nscript: x\ncommand_id: y\n", PlaybookError, "found script, command_id"),
    ("name: t\nhosts: all\nscript_file: missing.sh\n", PlaybookError, "not found"),
    ("name: t\nhosts: all\nscript: '{{ x'\n", TemplateError, "syntax"),
    ("name: t\nhosts: all\nscript: '{{ x.__class__ }}'\nvars: {x: 1}\n", TemplateError, "not allowed"),
    ("name: t\nhosts: nothere\nscript: x\n", SelectionError, "neither a host nor a group"),
    ("hosts: all\nscript: x\n", PlaybookError, "name: is required"),
    ("name: t\nhosts: all\nsteps: [{name: 'bad name', script: x}]\n", PlaybookError, "step name"),
    ("name: t\nhosts: all\nsteps: [{name: a, script: x}, {name: a, script: y}]\n", PlaybookError, "used twice"),
    ("name: t\nhosts: all\nscript: x\nrollout: {verify: nope}\n", PlaybookError, "verify names no step"),
    ("name: t\nhosts: all\nscript: x\nrollout: {on_breach: explode}\n", PlaybookError, "one of halt"),
    ("name: t\nhosts: all\nscript: x\nsuccess: {output_matches: ['(']}\n", PlaybookError, "regular expression"),
    ("name: t\nhosts: all\nsteps: [{name: a, script: x, when: 'foo.bar'}]\n", TemplateError, "when may only use"),
    ("name: t\nhosts: all\nscript: x\nprotected_parameters: {a: '{{ secret(\"vault:x\") }}'}\n", TemplateError, "SCHEME"),
    ("- just a list\n", PlaybookError, "a playbook is a mapping"),
    ("name: t\nhosts: all\nscript: [x\n", PlaybookError, "invalid YAML"),
])
def test_bad_playbook_is_one_line_error(write: Write, playbook: str, error: type[InputError],
                                        needle: str) -> None:
    with pytest.raises(error) as info:
        plan_of(write, playbook)
    message = info.value.one_line()
    assert needle in message
    assert "pb.yaml" in message
    assert "\n" not in message


def test_shipped_playbooks_plan_against_the_example_inventory() -> None:
    inv = load_inventory(ROOT / "inventory.example.yaml")
    # Ours; other playbooks in the folder (e.g. the demo's) target other inventories.
    shipped = [ROOT / "playbooks" / name for name in (
        "seed-pki-endpoint.yaml", "seed-wac-endpoint.yaml", "linux-pki-endpoint.yaml",
        "compliance-sweep.yaml", "canary-rollout.yaml")]
    for path in shipped:
        plan = build_plan(playbook_path=path, inventory=inv, limit=None, extra_vars={},
                          run_id=RUN)
        assert plan.jobs, path

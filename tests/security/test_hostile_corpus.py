"""The hostile corpus (issue #13, classes C, D, E): inputs built to leak, hijack, hang or eat
memory, each run through the real CLI (``python -m fleet``) in its own process under a resource
limit (1 GiB of address space, 20 s of CPU, a wall-clock hang guard), so a regression fails
here instead of eating the machine.

Every case asserts: the documented exit code; for bad input exactly ONE stderr line
``fleet: error: ...`` naming the file (and line or field) and what is wrong; no traceback; no
byte of a secret or of the file's content echoed; no raw control character on the terminal.

Classes: C secrets (error messages quoting files), D targeting and injection (typographic
quotes, terminal escapes, ARM names), E hangs and exhaustion (endless and special files, alias
bombs, deep nesting, Jinja allocation payloads, bad time scales).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fleet.sweep.model import Status
from fleet.sweep.writers import sweep_json
from tests.sweep.test_loader_history_writers import matrix

ROOT = Path(__file__).resolve().parents[2]
SECRET = "root:$6$H7sEcReTsAlT$zQ9pWx:19000:0:99999:7:::"
SECRET_BITS = ("H7sEcReT", "zQ9pWx")
MEMORY_BYTES = 1 << 30
CPU_S = 20
WALL_S = 120  # a hang guard only: a busy machine must not fail a case


def _limits() -> None:  # runs in the child, before exec
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 << 20, 64 << 20))


GOOD_VARS = ("subscription_id: 00000000-0000-0000-0000-000000000001, resource_group: rg, "
             "location: eastus")


def inventory(os_type: str = "linux", hosts: str = "    web-1: {}\n", extra: str = "") -> str:
    return f"all:\n  vars: {{{GOOD_VARS}, os_type: {os_type}{extra}}}\n  hosts:\n{hosts}"


def playbook(script: str = "echo hi", os_name: str | None = None, extra: str = "") -> str:
    head = "name: hostile\nhosts: all\n" + (f"os: {os_name}\n" if os_name else "")
    return head + f"script: {json.dumps(script)}\n" + extra


@dataclass
class Case:
    name: str
    klass: str  # C, D or E
    args: list[str]
    files: dict[str, str | bytes] = field(default_factory=dict)
    setup: Callable[[Path], None] | None = None
    exit: int = 2
    names: str = ""
    message: str = ""
    env: dict[str, str] = field(default_factory=dict)
    one_line: bool = True  # bad input: exactly one stderr line


PLAN = ["plan", "playbook.yaml", "-i", "inventory.yaml"]
BASE = {"inventory.yaml": inventory(), "playbook.yaml": playbook()}


def files(paths: dict[str, str | bytes] | None = None,
          **overrides: str | bytes) -> dict[str, str | bytes]:
    """BASE with files replaced or added (keyword names: ``__`` is ``/``, ``_DOT_`` is ``.``)."""
    out: dict[str, str | bytes] = dict(BASE)
    out.update(paths or {})
    for name, text in overrides.items():
        out[name.replace("__", "/").replace("_DOT_", ".")] = text
    return out


def _fifo(name: str) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(work / name)
    return make


def _link(name: str, target: str) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, work / name)
    return make


def _loop(name: str) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(work / (name + ".b"), work / name)
        os.symlink(work / name, work / (name + ".b"))
    return make


def _sparse(name: str, size: int) -> Callable[[Path], None]:
    def make(work: Path) -> None:
        with open(work / name, "wb") as handle:
            handle.truncate(size)
    return make


def _bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def _bomb_vars(indent: str) -> str:
    return "".join(indent + line + "\n" for line in _bomb().splitlines())


def _matrices(work: Path, machine: str) -> None:
    for run_id, second in (("run-1", Status.PASS), ("run-2", Status.FAIL)):
        m = matrix(run_id, {machine: [Status.PASS, second]})
        (work / f"{run_id}.json").write_text(json.dumps(sweep_json(m, None)))


def _deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


ESC_NAME = "evil\x1b]0;pwned\x07\x1b[2J\u202e"
TPL = "tpl-"  # Jinja payloads: all `fleet plan` with the payload as the script
JINJA = {
    "center": "{{ 'x'|center(10**9) }}",
    "ljust": "{{ 'x'.ljust(10**9) }}",
    "rjust": "{{ 'x'.rjust(10**9) }}",
    "zfill": "{{ 'x'.zfill(10**9) }}",
    "expandtabs": "{{ ('\\t' * 100000).expandtabs(99999) }}",
    "percent-width": "{{ '%0999999999d' % 1 }}",
    "percent-precision": "{{ '%.999999999f' % 1.5 }}",
    "percent-star": "{{ '%*d' % (999999999, 1) }}",
    "format-method": "{{ '{:>999999999}'.format(1) }}",
    "format-filter": "{{ '%0999999999d'|format(1) }}",
    "lipsum": "{{ lipsum(10**6) }}",
    "nested-range": "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}"
                    "{% endfor %}",
    "namespace-doubling": "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
                          "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "namespace-plus": "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
                      "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "macro-fanout": "{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}"
                    "{% endmacro %}{{ f(40) }}",
    "concat-doubling": "{% set a = 'x' * 1000000 %}{% set a = a ~ a %}{% set a = a ~ a %}"
                       "{% set a = a ~ a %}{{ a|length }}",
    "replace-filter": "{{ ('x' * 1000000)|replace('x', 'y' * 1000) }}",
    "replace-method": "{{ ('x' * 1000000).replace('x', 'yy' * 1000) }}",
    "join": "{{ (['x' * 1000000] * 1000)|join }}",
    "indent": "{{ ('a\\n' * 500000)|indent(100000) }}",
    "wordwrap": "{{ 'x'|wordwrap(10**9) }}",
    "output-flood": "{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "repeat": "{{ 'a' * 10**10 }}",
    "power": "{{ 10 ** (10 ** 10) }}",
}

CASES: list[Case] = [
    # -- C: a file that is not what it should be is never quoted --------------------------
    Case("c-password-file-as-inventory", "C", PLAN, files(inventory_DOT_yaml=SECRET + "\n"),
         names="inventory.yaml:1", message="invalid group name <a 45-character key"),
    Case("c-password-file-as-playbook", "C", PLAN, files(playbook_DOT_yaml=SECRET + "\n"),
         names="playbook.yaml:1", message="unknown key <a 45-character key"),
    Case("c-password-file-as-extra-vars", "C", [*PLAN, "-e", "@pw.txt"],
         files(pw_DOT_txt=SECRET + "\n"), names="extra var name", message="not an identifier"),
    Case("c-one-word-password-as-inventory", "C", PLAN,
         files(inventory_DOT_yaml="hunter2-H7sEcReT\n"), names="inventory.yaml:1",
         message="got a string"),
    Case("c-one-word-password-as-playbook", "C", PLAN,
         files(playbook_DOT_yaml="hunter2-H7sEcReT\n"), names="playbook.yaml:1",
         message="got a string"),
    Case("c-password-file-as-limit", "C", [*PLAN, "--limit", "@pw.txt"],
         files(pw_DOT_txt=SECRET + "\n"), names="pw.txt:1", message="not a machine name"),
    Case("c-password-file-as-limit-later-line", "C", [*PLAN, "--limit", "@pw.txt"],
         files(pw_DOT_txt="web-1\n# comment\n" + SECRET + "\n"), names="pw.txt:3",
         message="not a machine name"),
    Case("c-group-vars-linked-to-a-secret", "C", PLAN, BASE,
         setup=lambda w: ((w / "pw.txt").write_text(SECRET) and None) or _link(
             "group_vars/all.yaml", str(w / "pw.txt"))(w),
         names="all.yaml", message="bad variable name <a 45-character key"),
    Case("c-host-vars-is-a-secret", "C", PLAN, files({"host_vars/web-1.yaml": SECRET}),
         names="web-1.yaml", message="bad variable name"),
    Case("c-host-vars-is-one-word", "C", PLAN, files({"host_vars/web-1.yaml": "H7sEcReT-pw"}),
         names="web-1.yaml", message="got a string"),
    Case("c-inventory-top-value-is-a-secret", "C", PLAN,
         files(inventory_DOT_yaml=f"all: {json.dumps(SECRET)}\n"), names="inventory.yaml",
         message="got a string"),
    Case("c-playbook-parameters-is-a-secret", "C", PLAN,
         files(playbook_DOT_yaml=playbook(extra=f"parameters: {json.dumps(SECRET)}\n")),
         names="playbook.yaml:4", message="got a string"),
    Case("c-binary-secret-as-inventory", "C", PLAN,
         files(inventory_DOT_yaml=b"\xff\xfe" + SECRET.encode() + b"\x80"),
         names="inventory.yaml", message="not UTF-8"),
    Case("c-yaml-error-on-a-secret-line", "C", PLAN,
         files(inventory_DOT_yaml=f"all: [unclosed {SECRET}\n"), names="inventory.yaml",
         message="invalid YAML"),
    Case("c-extra-vars-json-with-secret", "C", [*PLAN, "-e", '{"a": ' + SECRET + "}"], BASE,
         names="-e", message="not valid JSON"),
    Case("c-script-file-binary-secret", "C", PLAN,
         files(playbook_DOT_yaml="name: h\nhosts: all\nscript_file: s.sh\n",
               s_DOT_sh=b"\xff" + SECRET.encode()), names="playbook.yaml:3",
         message="not UTF-8"),
    Case("c-limit-file-binary", "C", [*PLAN, "--limit", "@pw.bin"],
         files(pw_DOT_bin=b"\x80\x81" + SECRET.encode()), names="pw.bin",
         message="not UTF-8"),
    Case("c-tab-indented-secret", "C", PLAN,
         files(inventory_DOT_yaml=f"all:\n\tpassword: {SECRET}\n"), names="inventory.yaml:2",
         message="tab"),
    # -- D: targeting and injection -------------------------------------------------------
    Case("d-ps-typographic-double-quotes", "D", PLAN,
         files(inventory_DOT_yaml=inventory("windows"),
               playbook_DOT_yaml=playbook("Write-Host \u201c{{ inventory_hostname }}\u201d")),
         names="playbook.yaml", message="double quotes"),
    Case("d-ps-low-double-quote", "D", PLAN,
         files(inventory_DOT_yaml=inventory("windows"),
               playbook_DOT_yaml=playbook("Write-Host \u201e{{ inventory_hostname }}\u201d")),
         names="playbook.yaml", message="double quotes"),
    Case("d-ps-closing-quote-opens", "D", PLAN,
         files(inventory_DOT_yaml=inventory("windows"),
               playbook_DOT_yaml=playbook("Write-Host \u201d{{ inventory_hostname }}\u201c")),
         names="playbook.yaml", message="double quotes"),
    Case("d-ps-straight-double-quotes", "D", PLAN,
         files(inventory_DOT_yaml=inventory("windows"),
               playbook_DOT_yaml=playbook('Write-Host "x $({{ inventory_hostname }})"')),
         names="playbook.yaml", message="double quotes"),
    Case("d-sh-double-quotes-subshell", "D", PLAN,
         files(playbook_DOT_yaml=playbook('echo "$(echo {{ inventory_hostname }})"')),
         names="playbook.yaml", message="double quotes"),
    Case("d-escape-in-group-name-error", "D", PLAN,
         files(inventory_DOT_yaml=inventory() + f"  children:\n    {json.dumps(ESC_NAME)}:\n"
               "      hosts: [web-1]\n"),
         names="inventory.yaml", message=""),
    Case("d-escape-in-host-name", "D", PLAN,
         files(inventory_DOT_yaml=inventory(hosts=f"    {json.dumps(ESC_NAME)}: {{}}\n")),
         names="inventory.yaml", message=""),
    Case("d-escape-in-limit-pattern", "D", [*PLAN, "--limit", ESC_NAME], BASE,
         names="--limit", message=""),
    Case("d-escape-in-playbook-path", "D", ["plan", f"{ESC_NAME}.yaml", "-i", "inventory.yaml"],
         BASE, names="evil", message=""),
    Case("d-escape-in-tag-value-inventory", "D", ["inventory", "-i", "inventory.yaml"],
         files(inventory_DOT_yaml=inventory(hosts="    web-1:\n      tags: {role: "
                                            + json.dumps(ESC_NAME) + "}\n")),
         exit=0, one_line=False),
    Case("d-escape-in-var-plan-text", "D", PLAN,
         files(inventory_DOT_yaml=inventory(extra=", motd: " + json.dumps(ESC_NAME)),
               playbook_DOT_yaml=playbook("echo {{ motd }}")), exit=0, one_line=False),
    Case("d-escape-in-extra-var-plan-text", "D", [*PLAN, "-e", f"x={ESC_NAME}"],
         files(playbook_DOT_yaml=playbook("echo {{ x }}")), exit=0, one_line=False),
    Case("d-escape-in-playbook-name", "D", PLAN,
         files(playbook_DOT_yaml=f"name: {json.dumps(ESC_NAME)}\nhosts: all\nscript: echo\n"),
         exit=0, one_line=False),
    Case("d-escape-in-sweep-diff-machine", "D", ["sweep", "diff", "run-1.json", "run-2.json"],
         setup=lambda w: _matrices(w, ESC_NAME), exit=6, one_line=False),
    Case("d-subscription-traversal", "D", PLAN,
         files(inventory_DOT_yaml=inventory().replace(
             "00000000-0000-0000-0000-000000000001", "'../..'")),
         names="subscription_id", message="not a subscription id"),
    Case("d-subscription-query", "D", PLAN,
         files(inventory_DOT_yaml=inventory().replace(
             "00000000-0000-0000-0000-000000000001", "'x?api-version=1'")),
         names="subscription_id", message="not a subscription id"),
    Case("d-resource-group-query", "D", PLAN,
         files(inventory_DOT_yaml=inventory().replace("resource_group: rg",
                                                      "resource_group: 'x?y=1'")),
         names="resource_group", message="ARM's rules"),
    Case("d-resource-group-space", "D", PLAN,
         files(inventory_DOT_yaml=inventory().replace("resource_group: rg",
                                                      "resource_group: 'r g'")),
         names="resource_group", message="ARM's rules"),
    Case("d-resource-group-slash", "D", PLAN,
         files(inventory_DOT_yaml=inventory().replace("resource_group: rg",
                                                      "resource_group: 'a/../b'")),
         names="resource_group", message="ARM's rules"),
    Case("d-resource-group-trailing-dot", "D", PLAN,
         files(inventory_DOT_yaml=inventory().replace("resource_group: rg",
                                                      "resource_group: 'rg.'")),
         names="resource_group", message="ARM's rules"),
    Case("d-resource-group-too-long", "D", PLAN,
         files(inventory_DOT_yaml=inventory().replace("resource_group: rg",
                                                      "resource_group: " + "r" * 91)),
         names="resource_group", message="ARM's rules"),
    Case("d-host-keys-one-and-true", "D", PLAN,
         files(inventory_DOT_yaml=inventory(hosts="    1: {}\n    true: {}\n")),
         names="inventory.yaml:5", message="are the same key"),
    # -- E: endless, special and huge files ------------------------------------------------
    Case("e-dev-zero-inventory", "E", ["plan", "playbook.yaml", "-i", "/dev/zero"], BASE,
         names="/dev/zero", message="character device"),
    Case("e-dev-zero-playbook", "E", ["plan", "/dev/zero", "-i", "inventory.yaml"], BASE,
         names="/dev/zero", message="character device"),
    Case("e-dev-zero-extra-vars", "E", [*PLAN, "-e", "@/dev/zero"], BASE,
         names="/dev/zero", message="character device"),
    Case("e-dev-zero-limit", "E", [*PLAN, "--limit", "@/dev/zero"], BASE,
         names="/dev/zero", message="character device"),
    Case("e-dev-urandom-inventory", "E", ["plan", "playbook.yaml", "-i", "/dev/urandom"], BASE,
         names="/dev/urandom", message="character device"),
    Case("e-dev-zero-sweep-diff", "E", ["sweep", "diff", "/dev/zero", "/dev/zero"], BASE,
         names="/dev/zero", message="character device"),
    Case("e-dev-zero-script-file", "E", PLAN,
         files(playbook_DOT_yaml="name: h\nhosts: all\nscript_file: /dev/zero\n"),
         names="playbook.yaml:3", message="character device"),
    Case("e-fifo-inventory", "E", ["plan", "playbook.yaml", "-i", "inv.fifo"], BASE,
         setup=_fifo("inv.fifo"), names="inv.fifo", message="FIFO"),
    Case("e-fifo-playbook", "E", ["plan", "pb.fifo", "-i", "inventory.yaml"], BASE,
         setup=_fifo("pb.fifo"), names="pb.fifo", message="FIFO"),
    Case("e-fifo-group-vars", "E", PLAN, BASE, setup=_fifo("group_vars/all.yaml"),
         names="all.yaml", message="FIFO"),
    Case("e-fifo-group-vars-in-folder", "E", PLAN, BASE, setup=_fifo("group_vars/all/x.yaml"),
         names="x.yaml", message="FIFO"),
    Case("e-fifo-limit", "E", [*PLAN, "--limit", "@l.fifo"], BASE, setup=_fifo("l.fifo"),
         names="l.fifo", message="FIFO"),
    Case("e-fifo-script-file", "E", PLAN,
         files(playbook_DOT_yaml="name: h\nhosts: all\nscript_file: s.fifo\n"),
         setup=_fifo("s.fifo"), names="playbook.yaml:3", message="FIFO"),
    Case("e-broken-link-group-vars", "E", PLAN, BASE,
         setup=_link("group_vars/all.yaml", "/nonexistent/h7"), names="all.yaml",
         message="broken symbolic link"),
    Case("e-link-loop-group-vars", "E", PLAN, BASE, setup=_loop("group_vars/all.yaml"),
         names="all.yaml", message="symbolic link loop"),
    Case("e-broken-link-host-vars", "E", PLAN, BASE,
         setup=_link("host_vars/web-1.yaml", "/nonexistent/h7"), names="web-1.yaml",
         message="broken symbolic link"),
    Case("e-directory-as-inventory", "E", ["plan", "playbook.yaml", "-i", "."], BASE,
         names=".", message="directory"),
    Case("e-huge-sparse-inventory", "E", ["plan", "playbook.yaml", "-i", "big.yaml"], BASE,
         setup=_sparse("big.yaml", 200 << 20), names="big.yaml", message="too large"),
    Case("e-huge-sparse-sweep-diff", "E", ["sweep", "diff", "big.json", "big.json"], BASE,
         setup=_sparse("big.json", 300 << 20), names="big.json", message="too large"),
    Case("e-alias-bomb-inventory-vars", "E", PLAN,
         files(inventory_DOT_yaml=inventory() + "  children:\n    g:\n      vars:\n"
               + _bomb_vars("        ")),
         names="inventory.yaml", message="alias bomb"),
    Case("e-alias-bomb-playbook-vars", "E", PLAN,
         files(playbook_DOT_yaml=playbook(extra="vars:\n" + _bomb_vars("  "))),
         names="playbook.yaml", message="alias bomb"),
    Case("e-alias-bomb-extra-vars", "E", [*PLAN, "-e", "@bomb.yaml"],
         files(bomb_DOT_yaml=_bomb()), names="bomb.yaml", message="alias bomb"),
    Case("e-alias-bomb-group-vars", "E", PLAN, files(group_vars__all_DOT_yaml=_bomb()),
         names="all.yaml", message="alias bomb"),
    Case("e-merge-key-bomb", "E", PLAN,
         files(playbook_DOT_yaml=playbook(extra="vars:\n" + _bomb_vars("  ")
                                          + "  m:\n    <<: *a8\n")),
         names="playbook.yaml", message="alias bomb"),
    Case("e-deep-flow-yaml", "E", PLAN, files(inventory_DOT_yaml="all: " + "[" * 100000),
         names="inventory.yaml", message=""),
    Case("e-deep-block-yaml-vars", "E", PLAN,
         files(playbook_DOT_yaml=playbook(extra="vars:\n  x: " + "{a: " * 200 + "1"
                                          + "}" * 200 + "\n")),
         names="playbook.yaml", message="nested too deeply"),
    Case("e-deep-json-extra-vars", "E", [*PLAN, "-e", '{"a": ' + _deep_json(1000) + "}"], BASE,
         names="-e", message="nested too deeply"),
    Case("e-deep-json-extra-vars-50k", "E", [*PLAN, "-e", '{"a": ' + _deep_json(50000) + "}"],
         BASE, names="-e", message="nested too deeply"),
    Case("e-deep-json-sweep-diff", "E", ["sweep", "diff", "deep.json", "deep.json"],
         files(deep_DOT_json=_deep_json(1000)), names="deep.json", message="nested too deeply"),
    Case("e-time-scale-inf", "E",
         ["run", "playbook.yaml", "-i", "inventory.yaml", "--yes", "--run-dir", "run",
          "--arm-endpoint", "http://127.0.0.1:9", "--credential", "dev"], BASE,
         env={"FLEET_TIME_SCALE": "inf"}, names="FLEET_TIME_SCALE", message="time scale"),
    Case("e-time-scale-nan", "E",
         ["run", "playbook.yaml", "-i", "inventory.yaml", "--yes", "--run-dir", "run",
          "--arm-endpoint", "http://127.0.0.1:9", "--credential", "dev"], BASE,
         env={"FLEET_TIME_SCALE": "nan"}, names="FLEET_TIME_SCALE", message="time scale"),
    Case("e-time-scale-negative", "E",
         ["run", "playbook.yaml", "-i", "inventory.yaml", "--yes", "--run-dir", "run",
          "--arm-endpoint", "http://127.0.0.1:9", "--credential", "dev"], BASE,
         env={"FLEET_TIME_SCALE": "-1"}, names="FLEET_TIME_SCALE", message="time scale"),
    Case("e-alias-bomb-sim-profile", "E", ["sim", "serve", "--profile", "bomb.yaml"],
         files(bomb_DOT_yaml="x:\n" + _bomb_vars("  ")), names="bomb.yaml",
         message="alias bomb"),
    Case("e-dev-zero-sim-profile", "E", ["sim", "serve", "--profile", "/dev/zero"], BASE,
         names="/dev/zero", message="not a regular file"),
    Case("e-fifo-sim-profile", "E", ["sim", "serve", "--profile", "p.fifo"], BASE,
         setup=_fifo("p.fifo"), names="p.fifo", message="not a regular file"),
    # Jinja payloads that allocate or spin: one clear line, within the limits
    *[Case(TPL + key, "E", PLAN, files(playbook_DOT_yaml=playbook(payload)),
           names="playbook.yaml:3", message="script")
      for key, payload in JINJA.items()],
]


def _run(case: Case, work: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLEET_")}
    env.update(case.env)
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "fleet", *case.args], cwd=work, env=env, capture_output=True,
        stdin=subprocess.DEVNULL, timeout=WALL_S, preexec_fn=_limits, check=False,
    )


def test_the_corpus_is_large_and_covers_every_class() -> None:
    by_class = {k: sum(1 for c in CASES if c.klass == k) for k in "CDE"}
    assert len(CASES) >= 60 and min(by_class.values()) >= 10, by_class
    assert len({c.name for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input(case: Case, tmp_path: Path) -> None:
    work = tmp_path / "w"
    work.mkdir()
    for name, content in case.files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    if case.setup is not None:
        case.setup(work)
    result = _run(case, work)
    stdout, stderr = result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")
    report = f"exit {result.returncode}\nstderr: {stderr[-1500:]!r}\nstdout: {stdout[-500:]!r}"
    assert "Traceback" not in stdout + stderr, report
    assert "MemoryError" not in stdout + stderr, report
    assert result.returncode == case.exit, report
    for bit in SECRET_BITS:
        assert bit not in stdout + stderr, report
    # Nothing that a terminal would obey: only newline and tab among the control characters.
    for char in stdout + stderr:
        assert char in "\n\t" or not (ord(char) < 32 or 0x7f <= ord(char) <= 0x9f
                                      or 0x202a <= ord(char) <= 0x202e), (repr(char), report)
    if case.one_line:
        lines = stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("fleet: error: "), report
        assert case.names in lines[0], report
        assert case.message.lower() in lines[0].lower(), report

"""Read and validate a playbook: every key checked (with a did-you-mean), every error one line
``file:line: field: message``. Templates stay templates; the plan renders them per machine."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleet.durations import DurationSyntaxError, parse_duration
from fleet.errors import PlaybookError, SelectionError
from fleet.inventory.loader import RESERVED_VARS, VAR_NAME
from fleet.inventory.patterns import parse_pattern
from fleet.playbook.checklist import read_check_timeout, read_checks
from fleet.playbook.checks import Ctx
from fleet.playbook.model import Param, Playbook, RunAsSpec, StepSpec, SuccessSpec, Tmpl
from fleet.playbook.rollout import read_rollout
from fleet.safeio import read_bytes, read_text
from fleet.sweep.model import Check
from fleet.yamlsrc import YMap, describe, line_of, load_yaml_text

__all__ = ["STEP_NAME", "load_playbook"]

SOURCE_KEYS = ("script", "script_file", "script_uri", "command_id")
STEP_KEYS = (
    "name", *SOURCE_KEYS, "parameters", "protected_parameters", "run_as", "timeout",
    "async_execution", "success", "when", "template",
)
DEFAULT_KEYS = ("run_as", "timeout", "async_execution", "success")  # top level, for all steps
TOP_KEYS = ("name", "description", "hosts", "os", "vars", "steps", "rollout", "rollback",
            *[k for k in STEP_KEYS if k not in ("name", "when")], "checks", "check_timeout")
# A sweep (``checks:``) runs one compiled step; these keys would describe another one.
SWEEP_FORBIDDEN = ("steps", "rollback", *SOURCE_KEYS, "parameters", "protected_parameters",
                   "success", "async_execution", "template")
SWEEP_STEP = "sweep"
SWEEP_TIMEOUT_MARGIN_S = 60
SUCCESS_KEYS = ("exit_codes", "output_matches", "output_not_matches")
RUN_AS_KEYS = ("user", "password")
STEP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
MAX_SCRIPT_FILE_BYTES = 16 * 1024 * 1024
DEFAULT_STEP = "main"


def _params(ctx: Ctx, container: Any, key: str, where: str) -> tuple[Param, ...]:
    mapping = ctx.mapping(container, key, where)
    if mapping is None:
        return ()
    out = []
    for name, value in mapping.items():
        line = mapping.line_of(name)
        field = f"{where}.{name}"
        if not isinstance(name, str) or not PARAM_NAME.match(name):
            raise ctx.error(f"parameter name {name!r} must be letters, digits, '_' or '-', "
                            "starting with a letter", line, field)
        if value is None or isinstance(value, (dict, list)):
            raise ctx.error(f"parameter value must be a string, number or boolean, got "
                            f"{describe(value)}", line, field,
                            hint="the API sends every parameter as a string")
        out.append(Param(name, Tmpl(value, line, field)))
    return tuple(out)


def _success(ctx: Ctx, container: Any, where: str, default: SuccessSpec) -> SuccessSpec:
    mapping = ctx.mapping(container, "success", where)
    if mapping is None:
        return default
    ctx.check_keys(mapping, SUCCESS_KEYS, where)
    codes_raw = mapping.get("exit_codes", list(default.exit_codes))
    codes_list = codes_raw if isinstance(codes_raw, list) else [codes_raw]
    codes = []
    for index, code in enumerate(codes_list):
        if isinstance(code, bool) or not isinstance(code, int) or not -(2**31) <= code < 2**32:
            raise ctx.error(f"exit codes must be integers, got {describe(code)}",
                            line_of(codes_raw, index) or mapping.line_of("exit_codes"),
                            f"{where}.exit_codes")
        codes.append(code)
    if not codes:
        raise ctx.error("needs at least one exit code", mapping.line_of("exit_codes"),
                        f"{where}.exit_codes")

    def patterns(key: str) -> tuple[Tmpl, ...]:
        raw = mapping.get(key)
        if raw is None:
            return ()
        items = raw if isinstance(raw, list) else [raw]
        out = []
        for index, item in enumerate(items):
            line = line_of(raw, index) if isinstance(raw, list) else mapping.line_of(key)
            if not isinstance(item, str) or not item:
                raise ctx.error(f"must be regular expressions (strings), got {describe(item)}",
                                line, f"{where}.{key}")
            if "{{" not in item and "{%" not in item:
                try:
                    re.compile(item)
                except re.error as exc:
                    raise ctx.error(f"bad regular expression {item!r}: {exc}", line,
                                    f"{where}.{key}") from exc
            out.append(Tmpl(item, line, f"{where}.{key}"))
        return tuple(out)

    return SuccessSpec(tuple(codes), patterns("output_matches"), patterns("output_not_matches"))


def _run_as(ctx: Ctx, container: Any, where: str, default: RunAsSpec | None) -> RunAsSpec | None:
    mapping = ctx.mapping(container, "run_as", where)
    if mapping is None:
        return default
    ctx.check_keys(mapping, RUN_AS_KEYS, where)
    user = ctx.string(mapping, "user", f"{where}.user", required=True)
    assert user is not None
    password = ctx.string(mapping, "password", f"{where}.password")
    return RunAsSpec(user, password)


def _timeout(ctx: Ctx, container: Any, where: str, default: int) -> int:
    if container.get("timeout") is None:
        return default
    try:
        seconds = parse_duration(container["timeout"])
    except DurationSyntaxError as exc:
        raise ctx.error(str(exc), line_of(container, "timeout"), where) from exc
    if seconds < 1:
        raise ctx.error("timeout must be at least 1s", line_of(container, "timeout"), where)
    return seconds


def _read_script_file(ctx: Ctx, ref: Tmpl) -> str:
    relative = str(ref.value)
    if "{{" in relative or "{%" in relative:
        raise ctx.error("script_file is a path, not a template", ref.line, ref.field)
    path = ctx.path.parent / relative
    try:
        return read_text(path, max_bytes=MAX_SCRIPT_FILE_BYTES, error=PlaybookError,
                         what=f"script file {relative!r}")
    except PlaybookError as exc:  # name the playbook's line and field, not only the path
        raise ctx.error(exc.message, ref.line, ref.field) from exc


def _step(ctx: Ctx, body: Any, where: str, line: int | None, *, name: str | None,
          defaults: StepSpec, allow_when: bool) -> StepSpec:
    if not isinstance(body, YMap):
        raise ctx.error(f"a step must be a mapping, got {describe(body)}", line, where)
    ctx.check_keys(body, STEP_KEYS if allow_when else [k for k in STEP_KEYS if k != "when"],
                   where)
    if name is None:
        named = ctx.string(body, "name", f"{where}.name", required=True)
        assert named is not None
        name = str(named.value)
        if not STEP_NAME.match(name):
            raise ctx.error(f"step name {name!r} must be 1-32 letters, digits, '_' or '-'",
                            named.line, f"{where}.name")
        where = f"steps.{name}" if where.startswith("steps") else f"rollback.{name}"
    p = f"{where}." if where else ""
    given = [k for k in SOURCE_KEYS if body.get(k) is not None]
    if len(given) != 1:
        raise ctx.error("needs exactly one of script, script_file, script_uri, command_id"
                        + (f" (found {', '.join(given)})" if given else ""), body.line, where)
    source_kind = given[0]
    template = ctx.boolean(body, "template", f"{p}template", True)
    script = script_uri = command_id = None
    script_file = None
    if source_kind == "script":
        script = ctx.string(body, "script", f"{p}script")
    elif source_kind == "script_file":
        ref = ctx.string(body, "script_file", f"{p}script_file")
        assert ref is not None
        script_file = str(ref.value)
        script = Tmpl(_read_script_file(ctx, ref), ref.line, f"{p}script_file")
    elif source_kind == "script_uri":
        script_uri = ctx.string(body, "script_uri", f"{p}script_uri")
    else:
        command_id = ctx.string(body, "command_id", f"{p}command_id")
    when = ctx.string(body, "when", f"{p}when") if allow_when else None
    return StepSpec(
        name=name,
        line=body.line,
        script=script,
        script_file=script_file,
        script_uri=script_uri,
        command_id=command_id,
        parameters=_params(ctx, body, "parameters", f"{p}parameters"),
        protected_parameters=_params(ctx, body, "protected_parameters",
                                     f"{p}protected_parameters"),
        run_as=_run_as(ctx, body, f"{p}run_as", defaults.run_as),
        timeout_s=_timeout(ctx, body, f"{p}timeout", defaults.timeout_s),
        async_execution=ctx.boolean(body, "async_execution", f"{p}async_execution",
                                    defaults.async_execution),
        when=when,
        success=_success(ctx, body, f"{p}success", defaults.success),
        template=template,
    )


def _steps(ctx: Ctx, raw: Any, container: YMap, key: str, defaults: StepSpec,
           *, rollback: bool) -> tuple[StepSpec, ...]:
    if not isinstance(raw, list) or not raw:
        raise ctx.error(f"must be a non-empty list of steps, got {describe(raw)}",
                        line_of(container, key), key)
    steps = [
        _step(ctx, body, f"{key}[{index}]", line_of(raw, index), name=None, defaults=defaults,
              allow_when=not rollback)
        for index, body in enumerate(raw)
    ]
    return tuple(steps)


def _sweep(ctx: Ctx, doc: YMap, defaults: StepSpec) -> tuple[tuple[StepSpec, ...],
                                                             tuple[Check, ...]]:
    """A sweep playbook: its checks, and the one step that will run them (its script is
    compiled per machine by the plan builder)."""
    for key in SWEEP_FORBIDDEN:
        if doc.get(key) is not None:
            raise ctx.error("a sweep (checks:) runs its checks as one step; it has no "
                            f"{key!r}", doc.line_of(key), key)
    rollout = doc.get("rollout")
    if isinstance(rollout, YMap) and rollout.get("rollback") is not None:
        raise ctx.error("a sweep is read-only and has no rollback", rollout.line_of("rollback"),
                        "rollout.rollback")
    checks = read_checks(ctx, doc, read_check_timeout(ctx, doc))
    timeout_s = defaults.timeout_s
    if doc.get("timeout") is None:
        # Checks run one after another, each within its own timeout.
        timeout_s = sum(c.timeout_s for c in checks) + SWEEP_TIMEOUT_MARGIN_S
    step = StepSpec(name=SWEEP_STEP, line=doc.line_of("checks"), run_as=defaults.run_as,
                    timeout_s=timeout_s)
    return (step,), checks


def load_playbook(path: Path, *, rollout_overrides: Mapping[str, Any] | None = None) -> Playbook:
    """Load and validate ``path``. Raises PlaybookError (or TemplateError/SelectionError).
    ``rollout_overrides`` (the command line's --waves, --max-concurrency, --max-failures)
    replace those keys of ``rollout:`` and are validated like them."""
    ctx = Ctx(path)
    data = read_bytes(path, error=PlaybookError, what="playbook")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PlaybookError(f"playbook is not UTF-8 text (byte {exc.start})",
                            file=ctx.file) from exc
    doc = load_yaml_text(text, file=ctx.file, error=PlaybookError)
    if not isinstance(doc, YMap):
        raise ctx.error(f"a playbook is a mapping (name, hosts, steps...), got {describe(doc)}",
                        line_of(doc) or 1, "playbook")
    ctx.check_keys(doc, TOP_KEYS, "")
    name_t = ctx.string(doc, "name", "name", required=True)
    hosts_t = ctx.string(doc, "hosts", "hosts", required=True)
    assert name_t is not None and hosts_t is not None
    hosts = str(hosts_t.value)
    try:
        parse_pattern(hosts, field="hosts")
    except SelectionError as exc:
        raise ctx.error(exc.message, hosts_t.line, "hosts") from exc
    os_t = ctx.string(doc, "os", "os")
    os_name = None
    if os_t is not None:
        os_name = str(os_t.value).lower()
        if os_name not in ("windows", "linux"):
            raise ctx.error(f"os must be windows or linux, got {os_t.value!r}", os_t.line, "os")
    variables = []
    vars_map = ctx.mapping(doc, "vars", "vars")
    for key, value in (vars_map or {}).items():
        line = vars_map.line_of(key) if vars_map is not None else None
        if not isinstance(key, str) or not VAR_NAME.match(key):
            raise ctx.error(f"variable name {key!r} is not an identifier", line, f"vars.{key}")
        if key in RESERVED_VARS:
            raise ctx.error(f"{key!r} is reserved for the template context", line, f"vars.{key}")
        variables.append((key, Tmpl(value, line, f"vars.{key}")))

    top_defaults = StepSpec(name=DEFAULT_STEP, line=None)
    top_defaults = StepSpec(
        name=DEFAULT_STEP, line=None,
        run_as=_run_as(ctx, doc, "run_as", None),
        timeout_s=_timeout(ctx, doc, "timeout", top_defaults.timeout_s),
        async_execution=ctx.boolean(doc, "async_execution", "async_execution", False),
        success=_success(ctx, doc, "success", SuccessSpec()),
    )
    checks: tuple[Check, ...] = ()
    if doc.get("checks") is not None:
        steps, checks = _sweep(ctx, doc, top_defaults)
    elif doc.get("check_timeout") is not None:
        raise ctx.error("check_timeout only applies to a sweep (a playbook with checks:)",
                        doc.line_of("check_timeout"), "check_timeout")
    elif doc.get("steps") is not None:
        misplaced = [k for k in doc if k in STEP_KEYS and k not in DEFAULT_KEYS and k != "name"]
        if misplaced:
            raise ctx.error("with 'steps:', put what to run inside each step",
                            doc.line_of(misplaced[0]), misplaced[0])
        steps = _steps(ctx, doc["steps"], doc, "steps", top_defaults, rollback=False)
    else:
        single = YMap({k: v for k, v in doc.items() if k in STEP_KEYS and k != "name"})
        single.line = doc.line
        single.key_lines = dict(doc.key_lines)
        steps = (_step(ctx, single, "", doc.line, name=DEFAULT_STEP, defaults=top_defaults,
                       allow_when=False),)
    rollout_map = ctx.mapping(doc, "rollout", "rollout")
    rollback_raw = doc.get("rollback")
    rollback_key: tuple[YMap, str] = (doc, "rollback")
    if rollout_map is not None and rollout_map.get("rollback") is not None:
        if rollback_raw is not None:
            raise ctx.error("rollback is given twice (top level and in rollout)",
                            rollout_map.line_of("rollback"), "rollout.rollback")
        rollback_raw = rollout_map["rollback"]
        rollback_key = (rollout_map, "rollback")
    rollback: tuple[StepSpec, ...] = ()
    if rollback_raw is not None:
        rollback = _steps(ctx, rollback_raw, rollback_key[0], rollback_key[1], top_defaults,
                          rollback=True)
    seen: dict[str, int | None] = {}
    for step in (*steps, *rollback):
        if step.name in seen:
            raise ctx.error(f"step name {step.name!r} is used twice (first at line "
                            f"{seen[step.name]})", step.line, f"steps.{step.name}")
        seen[step.name] = step.line
    if rollout_overrides:
        merged = YMap({**(rollout_map or {}), **rollout_overrides})
        merged.line = rollout_map.line if rollout_map is not None else doc.line
        merged.key_lines = dict(rollout_map.key_lines) if rollout_map is not None else {}
        rollout_map = merged
    rollout = read_rollout(ctx, rollout_map, steps, rollback)
    return Playbook(
        path=ctx.file,
        sha256=hashlib.sha256(data).hexdigest(),
        name=str(name_t.value),
        hosts=hosts,
        hosts_line=hosts_t.line,
        os=os_name,
        vars=tuple(variables),
        steps=steps,
        rollback=rollback,
        rollout=rollout,
        warnings=tuple(ctx.warnings),
        checks=checks,
    )


"""Read a sweep playbook's ``checks:`` list into :class:`fleet.sweep.model.Check` values.

Snippets stay Jinja templates (rendered per machine with the OS's shell quoting by the plan);
expectations are literal and validated here, so a bad regex or comparison fails before any
machine is touched.
"""

from __future__ import annotations

import re
from typing import Any

from fleet.durations import DurationSyntaxError, parse_duration
from fleet.playbook.checks import Ctx
from fleet.sweep.model import (
    COMPARE_KINDS,
    COMPARE_OPS,
    OS_NAMES,
    SEVERITIES,
    Check,
    Compare,
    Expectation,
)
from fleet.sweep.protocol import CHECK_ID
from fleet.types import one_of
from fleet.yamlsrc import YMap, describe, line_of

__all__ = ["CHECK_KEYS", "DEFAULT_CHECK_TIMEOUT_S", "read_check_timeout", "read_checks"]

CHECK_KEYS = ("id", "title", "severity", "rationale", *OS_NAMES, "expect", "timeout")
EXPECT_KEYS = ("exit_codes", "output_matches", "output_not_matches", "compare")
COMPARE_KEYS = ("extract", "op", "value", "type")
DEFAULT_CHECK_TIMEOUT_S = 30
MAX_CHECKS = 500


def _duration(ctx: Ctx, container: Any, key: str, where: str, default: int) -> int:
    if container.get(key) is None:
        return default
    try:
        seconds = parse_duration(container[key])
    except DurationSyntaxError as exc:
        raise ctx.error(str(exc), line_of(container, key), where) from exc
    if seconds < 1:
        raise ctx.error("must be at least 1s", line_of(container, key), where)
    return seconds


def read_check_timeout(ctx: Ctx, doc: YMap) -> int:
    """The playbook's ``check_timeout:`` (default per-check timeout)."""
    return _duration(ctx, doc, "check_timeout", "check_timeout", DEFAULT_CHECK_TIMEOUT_S)


def _regexes(ctx: Ctx, mapping: YMap, key: str, where: str) -> tuple[str, ...]:
    raw = mapping.get(key)
    if raw is None:
        return ()
    items = raw if isinstance(raw, list) else [raw]
    out = []
    for index, item in enumerate(items):
        line = line_of(raw, index) if isinstance(raw, list) else mapping.line_of(key)
        if not isinstance(item, str) or not item:
            raise ctx.error(f"must be regular expressions (strings), got {describe(item)}", line,
                            f"{where}.{key}")
        try:
            re.compile(item)
        except re.error as exc:
            raise ctx.error(f"bad regular expression {item!r}: {exc}", line,
                            f"{where}.{key}") from exc
        out.append(item)
    return tuple(out)


def _compare(ctx: Ctx, expect: YMap, where: str) -> Compare | None:
    mapping = ctx.mapping(expect, "compare", f"{where}.compare")
    if mapping is None:
        return None
    where = f"{where}.compare"
    ctx.check_keys(mapping, COMPARE_KEYS, where)
    op = one_of(COMPARE_OPS, mapping.get("op"))
    if op is None:
        raise ctx.error(f"op must be one of {' '.join(COMPARE_OPS)}, "
                        f"got {describe(mapping.get('op'))}",
                        mapping.line_of("op"), f"{where}.op")
    value = mapping.get("value")
    if value is None or isinstance(value, (bool, dict, list)):
        raise ctx.error(f"value must be a string or number, got {describe(value)}",
                        mapping.line_of("value"), f"{where}.value")
    kind_name = one_of(COMPARE_KINDS, str(mapping.get("type", "string")))
    if kind_name is None:
        raise ctx.error(f"type must be one of {', '.join(COMPARE_KINDS)}, "
                        f"got {str(mapping.get('type'))!r}",
                        mapping.line_of("type"), f"{where}.type")
    if kind_name == "number":
        try:
            float(str(value))
        except ValueError as exc:
            raise ctx.error(f"value {value!r} is not a number", mapping.line_of("value"),
                            f"{where}.value") from exc
    if kind_name == "version" and not re.search(r"\d", str(value)):
        raise ctx.error(f"value {value!r} is not a version", mapping.line_of("value"),
                        f"{where}.value")
    if kind_name == "string" and op not in ("==", "!="):
        raise ctx.error("strings compare with == or != only", mapping.line_of("op"),
                        f"{where}.op", hint="use type: number or type: version")
    extract = mapping.get("extract")
    if extract is not None:
        if not isinstance(extract, str) or not extract:
            raise ctx.error(f"extract must be a regular expression, got {describe(extract)}",
                            mapping.line_of("extract"), f"{where}.extract")
        try:
            re.compile(extract)
        except re.error as exc:
            raise ctx.error(f"bad regular expression {extract!r}: {exc}",
                            mapping.line_of("extract"), f"{where}.extract") from exc
    return Compare(op=op, value=str(value), kind=kind_name, extract=extract)


def _expect(ctx: Ctx, body: YMap, where: str) -> Expectation:
    mapping = ctx.mapping(body, "expect", f"{where}.expect")
    if mapping is None:
        return Expectation()
    where = f"{where}.expect"
    ctx.check_keys(mapping, EXPECT_KEYS, where)
    codes_raw = mapping.get("exit_codes", [0])
    codes_list = codes_raw if isinstance(codes_raw, list) else [codes_raw]
    codes = []
    for code in codes_list:
        if isinstance(code, bool) or not isinstance(code, int):
            raise ctx.error(f"exit codes must be integers, got {describe(code)}",
                            mapping.line_of("exit_codes"), f"{where}.exit_codes")
        codes.append(code)
    if not codes:
        raise ctx.error("needs at least one exit code", mapping.line_of("exit_codes"),
                        f"{where}.exit_codes")
    return Expectation(tuple(codes), _regexes(ctx, mapping, "output_matches", where),
                       _regexes(ctx, mapping, "output_not_matches", where),
                       _compare(ctx, mapping, where))


def _check(ctx: Ctx, body: Any, index: int, line: int | None, default_timeout_s: int) -> Check:
    where = f"checks[{index}]"
    if not isinstance(body, YMap):
        raise ctx.error(f"a check must be a mapping, got {describe(body)}", line, where)
    ctx.check_keys(body, CHECK_KEYS, where)
    id_t = ctx.string(body, "id", f"{where}.id", required=True)
    assert id_t is not None
    check_id = str(id_t.value)
    if not CHECK_ID.match(check_id):
        raise ctx.error(f"check id {check_id!r} must be 1-64 letters, digits, '.', '_' or '-', "
                        "starting with a letter or digit", id_t.line, f"{where}.id")
    where = f"checks.{check_id}"
    title = ctx.string(body, "title", f"{where}.title")
    rationale = ctx.string(body, "rationale", f"{where}.rationale")
    written = str(body.get("severity", "medium")).lower()
    severity = one_of(SEVERITIES, written)
    if severity is None:
        raise ctx.error(f"severity must be one of {', '.join(SEVERITIES)}, got {written!r}",
                        body.line_of("severity"), f"{where}.severity")
    snippets = []
    for os_name in OS_NAMES:
        snippet = ctx.string(body, os_name, f"{where}.{os_name}")
        if snippet is not None:
            snippets.append((os_name, str(snippet.value)))
    if not snippets:
        raise ctx.error(f"needs a snippet for at least one OS ({' or '.join(OS_NAMES)})",
                        body.line, where)
    return Check(
        id=check_id,
        title=str(title.value) if title is not None else check_id,
        severity=severity,
        rationale=" ".join(str(rationale.value).split()) if rationale is not None else "",
        snippets=tuple(snippets),
        expect=_expect(ctx, body, where),
        timeout_s=_duration(ctx, body, "timeout", f"{where}.timeout", default_timeout_s),
        line=body.line,
    )


def read_checks(ctx: Ctx, doc: YMap, default_timeout_s: int) -> tuple[Check, ...]:
    """The ``checks:`` list of ``doc``: non-empty, ids unique."""
    raw = doc.get("checks")
    if not isinstance(raw, list) or not raw:
        raise ctx.error(f"must be a non-empty list of checks, got {describe(raw)}",
                        line_of(doc, "checks"), "checks")
    if len(raw) > MAX_CHECKS:
        raise ctx.error(f"at most {MAX_CHECKS} checks per sweep", line_of(doc, "checks"),
                        "checks")
    checks = [_check(ctx, body, index, line_of(raw, index), default_timeout_s)
              for index, body in enumerate(raw)]
    seen: dict[str, int | None] = {}
    for check in checks:
        if check.id in seen:
            raise ctx.error(f"check id {check.id!r} is used twice (first at line "
                            f"{seen[check.id]})", check.line, f"checks.{check.id}")
        seen[check.id] = check.line
    return tuple(checks)

"""The ``rollout:`` section: waves, concurrency, failure budgets, pauses, approval, verify."""

from __future__ import annotations

import re
from typing import Any, cast, get_args

from fleet.durations import DurationSyntaxError, parse_duration
from fleet.errors import SelectionError
from fleet.inventory.patterns import parse_pattern
from fleet.playbook.checks import Ctx
from fleet.playbook.model import RolloutSpec, StepSpec, WaveSpec
from fleet.types import FailuresPer, OnBreach, RollbackOn, RollbackTargets, RolloutPolicy
from fleet.yamlsrc import YMap, describe, line_of

__all__ = ["ROLLOUT_KEYS", "read_rollout"]

ROLLOUT_KEYS = (
    "waves", "max_concurrency", "slow_start", "max_failures", "failures_per",
    "max_unreachable", "count_timeout_as_failure", "on_breach", "pause", "approve", "verify",
    "rollback_on", "rollback_targets", "rollback",
)
# The closed vocabularies, read from the Literal types so the two cannot drift apart.
CHOICES: dict[str, tuple[str, ...]] = {
    "failures_per": get_args(FailuresPer),
    "on_breach": get_args(OnBreach),
    "rollback_on": get_args(RollbackOn),
    "rollback_targets": get_args(RollbackTargets),
}
_PERCENT = re.compile(r"^\s*(\d{1,3})\s*%\s*$")
_COUNT = re.compile(r"^\s*(\d{1,9})\s*$")


def _count_or_percent(ctx: Ctx, container: YMap, key: str, *, minimum: int) -> str | None:
    """Validate ``N`` or ``"N%"``; returned as written-normalised text (``"10%"``, ``"5"``)."""
    value = container.get(key)
    where = f"rollout.{key}"
    line = container.line_of(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < minimum:
            raise ctx.error(f"must be at least {minimum}, got {value}", line, where)
        return str(value)
    if isinstance(value, str):
        percent = _PERCENT.match(value)
        if percent:
            number = int(percent.group(1))
            if not minimum <= number <= 100:
                raise ctx.error(f"percent must be between {minimum}% and 100%, got {value!r}",
                                line, where)
            return f"{number}%"
        count = _COUNT.match(value)
        if count and int(count.group(1)) >= minimum:
            return str(int(count.group(1)))
    raise ctx.error(f"must be a count (>= {minimum}) or a percent like \"10%\", got "
                    f"{describe(value)}", line, where)


def _waves(ctx: Ctx, rollout: YMap) -> tuple[WaveSpec, ...]:
    raw = rollout.get("waves")
    if raw is None:
        return ()
    line = rollout.line_of("waves")
    if not isinstance(raw, list) or not raw:
        raise ctx.error("must be a non-empty list of counts, percents (\"10%\") or host "
                        f"patterns, got {describe(raw)}", line, "rollout.waves")
    waves = []
    for index, item in enumerate(raw):
        where = f"rollout.waves[{index}]"
        item_line = line_of(raw, index)
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise ctx.error(f"a wave is a count, a percent or a host pattern, got {describe(item)}",
                            item_line, where)
        if isinstance(item, int):
            if item < 1:
                raise ctx.error(f"a wave needs at least 1 machine, got {item}", item_line, where)
            waves.append(WaveSpec(str(item), "count", item, item_line))
            continue
        percent = _PERCENT.match(item)
        count = _COUNT.match(item)
        if percent:
            number = int(percent.group(1))
            if not 1 <= number <= 100:
                raise ctx.error(f"a wave percent must be 1%..100%, got {item!r}", item_line,
                                where)
            waves.append(WaveSpec(f"{number}%", "percent", number, item_line))
        elif count:
            number = int(count.group(1))
            if number < 1:
                raise ctx.error("a wave needs at least 1 machine", item_line, where)
            waves.append(WaveSpec(str(number), "count", number, item_line))
        else:
            try:
                parse_pattern(item, field=where)
            except SelectionError as exc:
                raise ctx.error(exc.message, item_line, where) from exc
            waves.append(WaveSpec(item.strip(), "pattern", item.strip(), item_line))
    return tuple(waves)


def _choice(ctx: Ctx, rollout: YMap, key: str, default: str) -> str:
    value = rollout.get(key, default)
    allowed = CHOICES[key]
    if value not in allowed:
        raise ctx.error(f"must be one of {', '.join(allowed)}, got {describe(value)}",
                        rollout.line_of(key), f"rollout.{key}")
    return str(value)


def read_rollout(ctx: Ctx, rollout: YMap | None, steps: tuple[StepSpec, ...],
                 rollback: tuple[StepSpec, ...]) -> RolloutSpec:
    """Validate the ``rollout:`` mapping (None: one wave of everything, default policy)."""
    if rollout is None:
        return RolloutSpec(policy=RolloutPolicy(rollback_on="breach" if rollback else "never"))
    ctx.check_keys(rollout, ROLLOUT_KEYS, "rollout")
    defaults = RolloutPolicy()
    pause_s = 0
    if rollout.get("pause") is not None:
        try:
            pause_s = parse_duration(rollout["pause"])
        except DurationSyntaxError as exc:
            raise ctx.error(str(exc), rollout.line_of("pause"), "rollout.pause") from exc
    verify = rollout.get("verify")
    if verify is not None:
        names = [step.name for step in steps]
        if verify not in names:
            raise ctx.error(f"verify names no step: {verify!r}", rollout.line_of("verify"),
                            "rollout.verify", hint=f"steps: {', '.join(names)}")
    rollback_on = _choice(ctx, rollout, "rollback_on", "breach" if rollback else "never")
    if rollback_on != "never" and not rollback:
        raise ctx.error("rollback_on is set but there are no rollback steps",
                        rollout.line_of("rollback_on"), "rollout.rollback_on")
    policy = RolloutPolicy(
        max_concurrency=_count_or_percent(ctx, rollout, "max_concurrency", minimum=1)
        or defaults.max_concurrency,
        slow_start=_bool(ctx, rollout, "slow_start", defaults.slow_start),
        max_failures=_count_or_percent(ctx, rollout, "max_failures", minimum=0),
        failures_per=cast(FailuresPer, _choice(ctx, rollout, "failures_per", defaults.failures_per)),
        max_unreachable=_count_or_percent(ctx, rollout, "max_unreachable", minimum=0),
        count_timeout_as_failure=_bool(ctx, rollout, "count_timeout_as_failure",
                                       defaults.count_timeout_as_failure),
        on_breach=cast(OnBreach, _choice(ctx, rollout, "on_breach", defaults.on_breach)),
        pause_s=pause_s,
        approve=_bool(ctx, rollout, "approve", defaults.approve),
        verify_step=verify,
        rollback_on=cast(RollbackOn, rollback_on),
        rollback_targets=cast(RollbackTargets,
                              _choice(ctx, rollout, "rollback_targets", defaults.rollback_targets)),
    )
    return RolloutSpec(waves=_waves(ctx, rollout), policy=policy, line=rollout.line)


def _bool(ctx: Ctx, rollout: YMap, key: str, default: bool) -> bool:
    value: Any = rollout.get(key, default)
    if not isinstance(value, bool):
        raise ctx.error(f"must be true or false, got {describe(value)}", rollout.line_of(key),
                        f"rollout.{key}")
    return value

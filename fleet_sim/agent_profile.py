"""How the simulated Connected Machine agent behaves: the ``agent:`` section of a sim profile.

A profile is a default :class:`Behaviour` plus ordered :class:`AgentRule` overrides. Every rule
whose matchers all match an execution applies, in file order, each overriding only the fields it
sets. A :class:`Behaviour` is turned into one concrete :class:`Draw` per execution from a seeded
``random.Random``; every draw consumes a fixed number of random values, so the same seed, machine
and execution number always give the same result whatever the profile's numbers are.

Durations are *simulated* seconds (the agent multiplies them by its ``time_scale``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

from fleet.errors import InputError

__all__ = [
    "EXECUTORS",
    "MAX_APPEND_BLOCK_BYTES",
    "AgentProfile",
    "AgentRule",
    "Behaviour",
    "Distribution",
    "Draw",
    "parse_agent_profile",
]

EXECUTORS = ("modelled", "shell")
# Azure Storage's limit for one Append Block call (service version 2019-12-12 and later).
MAX_APPEND_BLOCK_BYTES = 4 * 1024 * 1024
_STANDARD_NORMAL = NormalDist()


@dataclass(frozen=True, slots=True)
class Distribution:
    """A random duration in simulated seconds: log-normal around ``median_s`` with shape
    ``sigma`` (``sigma == 0`` means always ``median_s``), clamped to ``[min_s, max_s]``."""

    median_s: float
    sigma: float = 0.0
    min_s: float = 0.0
    max_s: float | None = None

    def draw(self, rng: random.Random) -> float:
        # Exactly one random() per draw (inverse CDF, not lognormvariate) keeps later draws of
        # the same execution stable when a profile changes a sigma.
        u = min(max(rng.random(), 1e-12), 1 - 1e-12)
        value = self.median_s
        if self.sigma > 0 and self.median_s > 0:
            value = math.exp(math.log(self.median_s) + self.sigma * _STANDARD_NORMAL.inv_cdf(u))
        value = max(value, self.min_s)
        if self.max_s is not None:
            value = min(value, self.max_s)
        return value


@dataclass(frozen=True, slots=True)
class Draw:
    """What one execution will do, decided before it starts."""

    start_latency_s: float
    duration_s: float
    exit_code: int
    hang: bool
    output_bytes: int
    fail_output_blob: bool
    fail_error_blob: bool


@dataclass(frozen=True, slots=True)
class Behaviour:
    """The resolved behaviour for one execution (defaults overridden by matching rules)."""

    executor: str = "modelled"
    start_latency_s: Distribution = Distribution(1.0, 0.25)
    duration_s: Distribution = Distribution(5.0, 0.5)
    exit_code: int = 0
    failure_rate: float = 0.0
    failure_exit_code: int = 1
    output_bytes: int = 0
    hang_fraction: float = 0.0
    blob_failure_rate: float = 0.0

    def draw(self, rng: random.Random) -> Draw:
        # Fixed order and count of random() calls: see the module docstring.
        latency = self.start_latency_s.draw(rng)
        duration = self.duration_s.draw(rng)
        fails = rng.random() < self.failure_rate
        hang = rng.random() < self.hang_fraction
        fail_out = rng.random() < self.blob_failure_rate
        fail_err = rng.random() < self.blob_failure_rate
        return Draw(
            start_latency_s=latency,
            duration_s=duration,
            exit_code=self.failure_exit_code if fails else self.exit_code,
            hang=hang,
            output_bytes=self.output_bytes,
            fail_output_blob=fail_out,
            fail_error_blob=fail_err,
        )


@dataclass(frozen=True, slots=True)
class AgentRule:
    """Overrides applied when every given matcher matches (an absent matcher matches all).

    ``name``: glob on the machine name (case-insensitive, as ARM names are).
    ``tags``: ``(key, value-glob)`` pairs, all required; keys case-insensitive.
    ``script``: regex searched in the script text (inline or downloaded), else the command id.
    """

    name: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    script: re.Pattern[str] | None = None
    overrides: tuple[tuple[str, Any], ...] = ()

    def matches(self, machine_name: str, tags: Mapping[str, str], script: str) -> bool:
        if self.name is not None and not fnmatch.fnmatchcase(
            machine_name.lower(), self.name.lower()
        ):
            return False
        folded = {k.lower(): v for k, v in tags.items()}
        for key, pattern in self.tags:
            value = folded.get(key.lower())
            if value is None or not fnmatch.fnmatchcase(value, pattern):
                return False
        return self.script is None or self.script.search(script) is not None


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """The agent's whole behaviour model. ``AgentProfile()`` is the documented default."""

    defaults: Behaviour = Behaviour()
    rules: tuple[AgentRule, ...] = ()
    append_block_bytes: int = 64 * 1024
    default_timeout_s: int = 5400  # when a request has no timeoutInSeconds (Azure VM's 90 min)
    blob_latency_s: float = 0.0  # slow storage: added before every blob request (simulated s)
    # Output is appended when a block has gathered or this long after the last append, and at
    # the end (simulated s): fewer, larger appends, as an agent uploading at intervals does.
    flush_every_s: float = 2.0

    def resolve(self, machine_name: str, tags: Mapping[str, str], script: str) -> Behaviour:
        behaviour = self.defaults
        for rule in self.rules:
            if rule.matches(machine_name, tags, script):
                behaviour = dataclasses.replace(behaviour, **dict(rule.overrides))
        return behaviour


# ---- parsing -------------------------------------------------------------------------------

_BEHAVIOUR_KEYS = frozenset(f.name for f in dataclasses.fields(Behaviour))
_TOP_KEYS = _BEHAVIOUR_KEYS | {
    "rules", "append_block_bytes", "default_timeout_s", "blob_latency_s", "flush_every_s",
}
_MATCH_KEYS = frozenset({"name", "tag", "tags", "script"})


@dataclass(slots=True)
class _Reader:
    """Validates one mapping; every error names the source and the dotted field path."""

    source: str
    path: str
    data: Mapping[str, Any] = field(default_factory=dict)

    def fail(self, key: str, message: str, hint: str | None = None) -> InputError:
        where = f"{self.path}.{key}" if key else self.path
        return InputError(message, file=self.source, field=where, hint=hint)

    def check_keys(self, allowed: frozenset[str]) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.fail(
                    str(key), "unknown key", hint="expected one of " + ", ".join(sorted(allowed))
                )

    def number(self, key: str, *, minimum: float = 0.0, maximum: float | None = None) -> float:
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise self.fail(key, f"expected a number, got {type(value).__name__}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = (
                f"between {minimum:g} and {maximum:g}" if maximum is not None else f">= {minimum:g}"
            )
            raise self.fail(key, f"must be {bound}, got {value!r}")
        return float(value)

    def integer(self, key: str, *, minimum: int, maximum: int) -> int:
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(key, f"expected an integer, got {type(value).__name__}")
        if not minimum <= value <= maximum:
            raise self.fail(key, f"must be between {minimum} and {maximum}, got {value}")
        return value

    def distribution(self, key: str) -> Distribution:
        value = self.data[key]
        if isinstance(value, Mapping):
            sub = _Reader(self.source, f"{self.path}.{key}", value)
            sub.check_keys(frozenset({"median_s", "sigma", "min_s", "max_s"}))
            if "median_s" not in value:
                raise sub.fail("median_s", "required in a distribution")
            dist = Distribution(
                median_s=sub.number("median_s"),
                sigma=sub.number("sigma", maximum=10.0) if "sigma" in value else 0.0,
                min_s=sub.number("min_s") if "min_s" in value else 0.0,
                max_s=sub.number("max_s") if "max_s" in value else None,
            )
            if dist.max_s is not None and dist.max_s < dist.min_s:
                raise sub.fail("max_s", "must not be below min_s")
            return dist
        return Distribution(median_s=self.number(key))

    def behaviour_fields(self) -> dict[str, Any]:
        """The behaviour keys present in this mapping, validated, as Behaviour field values."""
        out: dict[str, Any] = {}
        d = self.data
        if "executor" in d:
            if d["executor"] not in EXECUTORS:
                raise self.fail(
                    "executor", f"unknown executor {d['executor']!r}", hint="modelled or shell"
                )
            out["executor"] = d["executor"]
        for key in ("start_latency_s", "duration_s"):
            if key in d:
                out[key] = self.distribution(key)
        for key in ("exit_code", "failure_exit_code"):
            if key in d:
                out[key] = self.integer(key, minimum=-(2**31), maximum=2**31 - 1)
        for key in ("failure_rate", "hang_fraction", "blob_failure_rate"):
            if key in d:
                out[key] = self.number(key, maximum=1.0)
        if "output_bytes" in d:
            out["output_bytes"] = self.integer("output_bytes", minimum=0, maximum=256 * 1024 * 1024)
        return out


def _tag_pairs(reader: _Reader, key: str) -> tuple[tuple[str, str], ...]:
    raw = reader.data[key]
    items: Sequence[Any] = [raw] if isinstance(raw, str) else raw
    if isinstance(raw, Mapping):
        items = [f"{k}={v}" for k, v in raw.items()]
    if not isinstance(items, Sequence):
        raise reader.fail(key, "expected 'key=value', a list of them, or a mapping")
    pairs = []
    for item in items:
        if not isinstance(item, str) or "=" not in item or item.startswith("="):
            raise reader.fail(key, f"bad tag matcher {item!r}", hint="write it as key=value-glob")
        k, _, v = item.partition("=")
        pairs.append((k.strip(), v.strip()))
    return tuple(pairs)


def _parse_rule(source: str, index: int, data: Any) -> AgentRule:
    path = f"agent.rules[{index}]"
    if not isinstance(data, Mapping):
        raise InputError("expected a mapping", file=source, field=path)
    reader = _Reader(source, path, data)
    reader.check_keys(_BEHAVIOUR_KEYS | {"match"})
    match = data.get("match", {})
    if not isinstance(match, Mapping) or not match:
        raise reader.fail("match", "a rule needs a non-empty match: {name, tag, script}")
    m = _Reader(source, f"{path}.match", match)
    m.check_keys(_MATCH_KEYS)
    name = match.get("name")
    if name is not None and not isinstance(name, str):
        raise m.fail("name", "expected a glob string")
    tags: tuple[tuple[str, str], ...] = ()
    for key in ("tag", "tags"):
        if key in match:
            tags += _tag_pairs(m, key)
    script = None
    if "script" in match:
        if not isinstance(match["script"], str):
            raise m.fail("script", "expected a regular expression string")
        try:
            script = re.compile(match["script"], re.MULTILINE)
        except re.error as error:
            raise m.fail("script", f"bad regular expression: {error}") from error
    overrides = reader.behaviour_fields()
    if not overrides:
        raise reader.fail("", "a rule must set at least one behaviour field")
    return AgentRule(name=name, tags=tags, script=script, overrides=tuple(overrides.items()))


def parse_agent_profile(data: Mapping[str, Any], *, source: str) -> AgentProfile:
    """Validate the ``agent:`` section of a simulator profile (already loaded from YAML).

    Raises :class:`fleet.errors.InputError` naming ``source`` and the field path
    (``agent.rules[2].duration_s``) with what would be right.
    """
    if not isinstance(data, Mapping):
        raise InputError("expected a mapping", file=source, field="agent")
    reader = _Reader(source, "agent", data)
    reader.check_keys(_TOP_KEYS)
    defaults = dataclasses.replace(Behaviour(), **reader.behaviour_fields())
    rules_raw = data.get("rules", [])
    if not isinstance(rules_raw, Sequence) or isinstance(rules_raw, str):
        raise reader.fail("rules", "expected a list of rules")
    rules = tuple(_parse_rule(source, i, r) for i, r in enumerate(rules_raw))
    profile = AgentProfile(defaults=defaults, rules=rules)
    if "append_block_bytes" in data:
        block = reader.integer("append_block_bytes", minimum=1, maximum=MAX_APPEND_BLOCK_BYTES)
        profile = dataclasses.replace(profile, append_block_bytes=block)
    if "default_timeout_s" in data:
        timeout = reader.integer("default_timeout_s", minimum=1, maximum=7 * 24 * 3600)
        profile = dataclasses.replace(profile, default_timeout_s=timeout)
    if "blob_latency_s" in data:
        latency = reader.number("blob_latency_s", maximum=3600.0)
        profile = dataclasses.replace(profile, blob_latency_s=latency)
    if "flush_every_s" in data:
        flush = reader.number("flush_every_s", maximum=3600.0)
        profile = dataclasses.replace(profile, flush_every_s=flush)
    return profile

"""What the simulator serves and how it behaves: ``SimConfig`` (the command line) and
``Profile`` (the ``--profile`` YAML file: throttling, faults, machine overrides, behaviour knobs
and the agent's own section, which ``fleet_sim.agent_profile`` parses).

Every value has a default that models ARM as documented (API.md §4, §5); behaviour that is
UNCONFIRMED in Azure is a knob here, so tests can pin either reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from fleet.errors import SimulatorError
from fleet_sim.yamlsrc import KeyPath, Located, load_located

__all__ = [
    "Behaviour",
    "BucketSpec",
    "DisconnectSpec",
    "Faults",
    "LatencySpec",
    "MachineOverride",
    "NullsSpec",
    "Profile",
    "ProfileError",
    "SimConfig",
    "ThrottleSpec",
    "load_profile",
    "parse_profile",
]

UnreachableMode = Literal["fail", "reject", "pending"]


class ProfileError(SimulatorError):
    """A bad profile file: ``FILE:LINE: FIELD: message``."""


@dataclass(frozen=True, slots=True)
class BucketSpec:
    capacity: float
    refill_per_s: float


@dataclass(frozen=True, slots=True)
class ThrottleSpec:
    """ARM's regional token buckets (API.md §5). The global bucket of a subscription is
    ``global_factor`` times the per-principal one."""

    enabled: bool = True
    reads: BucketSpec = BucketSpec(250, 25)
    writes: BucketSpec = BucketSpec(200, 10)
    deletes: BucketSpec = BucketSpec(200, 10)
    global_factor: float = 15.0


@dataclass(frozen=True, slots=True)
class LatencySpec:
    """Added before answering, in simulated milliseconds (scaled by ``time_scale``)."""

    distribution: Literal["none", "fixed", "uniform", "exponential"] = "none"
    min_ms: float = 0.0
    max_ms: float = 0.0
    mean_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class DisconnectSpec:
    """A seeded ``fraction`` of Connected machines turns Disconnected ``after_s`` simulated
    seconds after the server started."""

    fraction: float = 0.0
    after_s: float = 0.0


@dataclass(frozen=True, slots=True)
class Faults:
    latency: LatencySpec = LatencySpec()
    error_rate: float = 0.0  # answer 500/503 with an ARM error body, without acting
    error_statuses: tuple[int, ...] = (500, 503)
    drop_before_rate: float = 0.0  # close the connection before acting
    drop_after_rate: float = 0.0  # act, then close the connection without an answer
    throttle_rate: float = 0.0  # extra 429s on top of the token buckets
    stuck_rate: float = 0.0  # run command never starts: provisioningState stays Creating
    disconnect: DisconnectSpec = DisconnectSpec()
    token_lifetime_s: float | None = None  # 401 for a token first seen longer ago than this
    methods: tuple[str, ...] = ("GET", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True, slots=True)
class MachineOverride:
    """Applies to machines whose name matches the glob and that carry all the tags."""

    name_glob: str = "*"
    tags: Mapping[str, str] = field(default_factory=dict)
    status: str | None = None
    agent_version: str | None = None


@dataclass(frozen=True, slots=True)
class NullsSpec:
    """Render optional machine fields as JSON ``null`` (as the spec's example does) on a seeded
    ``fraction`` of machines; ``level: full`` also nulls status, agentVersion, osType and tags."""

    fraction: float = 0.05
    level: Literal["optional", "full"] = "optional"


@dataclass(frozen=True, slots=True)
class Behaviour:
    rerun_identical_put: bool = False
    # What a PUT on a Disconnected / old-agent machine does (UNCONFIRMED in Azure):
    # fail: 201, then the operation ends Failed; reject: 409 at once; pending: stays Creating.
    unreachable: UnreachableMode = "fail"
    unreachable_after_s: float = 1.0
    lro_retry_after_s: int = 1
    parameter_values: Literal["coerce", "strict"] = "coerce"
    script_failure_fails_provisioning: bool = False
    min_agent_version: str = "1.33"


@dataclass(frozen=True, slots=True)
class Profile:
    throttle: ThrottleSpec = ThrottleSpec()
    faults: Faults = Faults()
    overrides: tuple[MachineOverride, ...] = ()
    nulls: NullsSpec = NullsSpec()
    behaviour: Behaviour = Behaviour()
    agent: Any = None  # fleet_sim.agent_profile.AgentProfile, or None for its defaults
    source: str = "<defaults>"


@dataclass(frozen=True, slots=True)
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 0
    tls: bool = False
    ca_file: Path | None = None  # where --tls writes the CA's PEM (a temp file when None)
    machines: int | None = None
    seed: int = 0
    subscriptions: int = 3
    inventory: Path | None = None
    profile: Profile = Profile()
    storage: str = "none"  # "azurite", "none", or a connection string
    page_size: int = 100
    time_scale: float = 1.0  # wall seconds per simulated second
    rerun_identical_put: bool = False
    allow_remote: bool = False
    token_required: bool = True
    # Azure Resource Graph's per-user quota (fleet_sim.graph): queries per window.
    graph_quota: int = 15
    graph_window_s: float = 5.0
    graph_lag_s: float = 0.0  # Resource Graph reports statuses as of this long ago

    @property
    def effective_rerun_identical_put(self) -> bool:
        return self.rerun_identical_put or self.profile.behaviour.rerun_identical_put


class _Reader:
    """Typed field access with errors that name the file, line and field."""

    def __init__(self, located: Located) -> None:
        self.located = located

    def fail(self, path: KeyPath, message: str) -> ProfileError:
        where = self.located.source
        line = self.located.line(path)
        dotted = ".".join(str(p) for p in path)
        prefix = f"{where}:{line}" if line else where
        return ProfileError(f"{prefix}: {dotted}: {message}" if dotted else f"{prefix}: {message}")

    def section(self, data: Any, path: KeyPath, allowed: set[str]) -> Mapping[str, Any]:
        if data is None:
            return {}
        if not isinstance(data, Mapping):
            raise self.fail(path, "must be a mapping")
        for key in data:
            if key not in allowed:
                raise self.fail((*path, key), f"unknown key (expected one of {sorted(allowed)})")
        return data

    def number(
        self, data: Mapping[str, Any], path: KeyPath, default: float, *, rate: bool = False
    ) -> float:
        value = data.get(str(path[-1]), default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(path, "must be a number >= 0")
        if rate and value > 1:
            raise self.fail(path, "must be a rate between 0 and 1")
        return float(value)

    def boolean(self, data: Mapping[str, Any], path: KeyPath, default: bool) -> bool:
        value = data.get(str(path[-1]), default)
        if not isinstance(value, bool):
            raise self.fail(path, "must be true or false")
        return value

    def choice(
        self, data: Mapping[str, Any], path: KeyPath, default: str, options: tuple[str, ...]
    ) -> str:
        value = data.get(str(path[-1]), default)
        if value not in options:
            raise self.fail(path, f"must be one of {', '.join(options)}")
        return str(value)


def _bucket(r: _Reader, data: Any, path: KeyPath, default: BucketSpec) -> BucketSpec:
    section = r.section(data, path, {"capacity", "refill_per_s"})
    return BucketSpec(
        capacity=r.number(section, (*path, "capacity"), default.capacity),
        refill_per_s=r.number(section, (*path, "refill_per_s"), default.refill_per_s),
    )


def _throttle(r: _Reader, data: Any) -> ThrottleSpec:
    p: KeyPath = ("throttle",)
    s = r.section(data, p, {"enabled", "reads", "writes", "deletes", "global_factor"})
    d = ThrottleSpec()
    return ThrottleSpec(
        enabled=r.boolean(s, (*p, "enabled"), d.enabled),
        reads=_bucket(r, s.get("reads"), (*p, "reads"), d.reads),
        writes=_bucket(r, s.get("writes"), (*p, "writes"), d.writes),
        deletes=_bucket(r, s.get("deletes"), (*p, "deletes"), d.deletes),
        global_factor=r.number(s, (*p, "global_factor"), d.global_factor),
    )


def _faults(r: _Reader, data: Any) -> Faults:
    p: KeyPath = ("faults",)
    keys = {
        "latency", "error_rate", "error_statuses", "drop_before_rate", "drop_after_rate",
        "throttle_rate", "stuck_rate", "disconnect", "token_lifetime_s", "methods",
    }  # fmt: skip
    s = r.section(data, p, keys)
    lp: KeyPath = (*p, "latency")
    ls = r.section(s.get("latency"), lp, {"distribution", "min_ms", "max_ms", "mean_ms"})
    latency = LatencySpec(
        distribution=r.choice(
            ls, (*lp, "distribution"), "none", ("none", "fixed", "uniform", "exponential")
        ),  # type: ignore[arg-type]
        min_ms=r.number(ls, (*lp, "min_ms"), 0.0),
        max_ms=r.number(ls, (*lp, "max_ms"), 0.0),
        mean_ms=r.number(ls, (*lp, "mean_ms"), 0.0),
    )
    if latency.max_ms < latency.min_ms:
        raise r.fail((*lp, "max_ms"), "must be >= min_ms")
    dp: KeyPath = (*p, "disconnect")
    ds = r.section(s.get("disconnect"), dp, {"fraction", "after_s"})
    statuses = s.get("error_statuses", [500, 503])
    if (
        not isinstance(statuses, list)
        or not statuses
        or not all(isinstance(x, int) and 500 <= x <= 599 for x in statuses)
    ):
        raise r.fail((*p, "error_statuses"), "must be a non-empty list of 5xx status codes")
    methods = s.get("methods", ["GET", "PUT", "PATCH", "DELETE"])
    if not isinstance(methods, list) or not all(
        isinstance(m, str) and m.upper() in {"GET", "PUT", "PATCH", "DELETE"} for m in methods
    ):
        raise r.fail((*p, "methods"), "must be a list of GET, PUT, PATCH, DELETE")
    lifetime = s.get("token_lifetime_s")
    if lifetime is not None:
        lifetime = r.number(s, (*p, "token_lifetime_s"), 0.0)
    return Faults(
        latency=latency,
        error_rate=r.number(s, (*p, "error_rate"), 0.0, rate=True),
        error_statuses=tuple(statuses),
        drop_before_rate=r.number(s, (*p, "drop_before_rate"), 0.0, rate=True),
        drop_after_rate=r.number(s, (*p, "drop_after_rate"), 0.0, rate=True),
        throttle_rate=r.number(s, (*p, "throttle_rate"), 0.0, rate=True),
        stuck_rate=r.number(s, (*p, "stuck_rate"), 0.0, rate=True),
        disconnect=DisconnectSpec(
            fraction=r.number(ds, (*dp, "fraction"), 0.0, rate=True),
            after_s=r.number(ds, (*dp, "after_s"), 0.0),
        ),
        token_lifetime_s=lifetime,
        methods=tuple(m.upper() for m in methods),
    )


def _machines(r: _Reader, data: Any) -> tuple[tuple[MachineOverride, ...], NullsSpec]:
    p: KeyPath = ("machines",)
    s = r.section(data, p, {"overrides", "nulls"})
    np_: KeyPath = (*p, "nulls")
    ns = r.section(s.get("nulls"), np_, {"fraction", "level"})
    nulls = NullsSpec(
        fraction=r.number(ns, (*np_, "fraction"), NullsSpec().fraction, rate=True),
        level=r.choice(ns, (*np_, "level"), "optional", ("optional", "full")),  # type: ignore[arg-type]
    )
    raw = s.get("overrides") or []
    if not isinstance(raw, list):
        raise r.fail((*p, "overrides"), "must be a list")
    overrides = []
    for index, item in enumerate(raw):
        ip: KeyPath = (*p, "overrides", index)
        o = r.section(item, ip, {"match", "status", "agent_version"})
        m = r.section(o.get("match"), (*ip, "match"), {"name", "tags"})
        tags = m.get("tags") or {}
        if not isinstance(tags, Mapping):
            raise r.fail((*ip, "match", "tags"), "must be a mapping of tag name to value")
        status = o.get("status")
        if status is not None and status not in ("Connected", "Disconnected", "Error"):
            raise r.fail((*ip, "status"), "must be Connected, Disconnected or Error")
        version = o.get("agent_version")
        overrides.append(
            MachineOverride(
                name_glob=str(m.get("name", "*")),
                tags={str(k): str(v) for k, v in tags.items()},
                status=status,
                agent_version=None if version is None else str(version),
            )
        )
    return tuple(overrides), nulls


def _behaviour(r: _Reader, data: Any) -> Behaviour:
    p: KeyPath = ("behaviour",)
    keys = {
        "rerun_identical_put", "unreachable", "unreachable_after_s", "lro_retry_after_s",
        "parameter_values", "script_failure_fails_provisioning", "min_agent_version",
    }  # fmt: skip
    s = r.section(data, p, keys)
    d = Behaviour()
    return Behaviour(
        rerun_identical_put=r.boolean(s, (*p, "rerun_identical_put"), d.rerun_identical_put),
        unreachable=r.choice(s, (*p, "unreachable"), d.unreachable, ("fail", "reject", "pending")),  # type: ignore[arg-type]
        unreachable_after_s=r.number(s, (*p, "unreachable_after_s"), d.unreachable_after_s),
        lro_retry_after_s=int(r.number(s, (*p, "lro_retry_after_s"), d.lro_retry_after_s)),
        parameter_values=r.choice(
            s, (*p, "parameter_values"), d.parameter_values, ("coerce", "strict")
        ),  # type: ignore[arg-type]
        script_failure_fails_provisioning=r.boolean(
            s, (*p, "script_failure_fails_provisioning"), d.script_failure_fails_provisioning
        ),
        min_agent_version=str(s.get("min_agent_version", d.min_agent_version)),
    )


def parse_profile(located: Located) -> Profile:
    """Build a ``Profile`` from parsed YAML; unknown keys and bad values are errors."""
    r = _Reader(located)
    top = r.section(located.data, (), {"throttle", "faults", "machines", "behaviour", "agent"})
    overrides, nulls = _machines(r, top.get("machines"))
    agent: Any = None
    if top.get("agent") is not None:
        from fleet_sim.agent_profile import parse_agent_profile  # A2's module; parsed up front

        if not isinstance(top["agent"], Mapping):
            raise r.fail(("agent",), "must be a mapping")
        agent = parse_agent_profile(top["agent"], source=f"{located.source}: agent")
    return Profile(
        throttle=_throttle(r, top.get("throttle")),
        faults=_faults(r, top.get("faults")),
        overrides=overrides,
        nulls=nulls,
        behaviour=_behaviour(r, top.get("behaviour")),
        agent=agent,
        source=located.source,
    )


def load_profile(path: Path) -> Profile:
    """Read a profile YAML file; any problem is a ``ProfileError`` naming file, line and field."""
    try:
        located = load_located(path)
    except OSError as error:
        raise ProfileError(f"{path}: cannot read profile: {error.strerror}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ProfileError(
            f"{path}{line}: not valid YAML: {getattr(error, 'problem', error)}"
        ) from error
    return parse_profile(located)

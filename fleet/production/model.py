"""What crosses the workflow boundary: small, JSON-friendly dataclasses. Nothing here carries a
secret, a SAS link or a per-machine output: those stay in the run's storage account."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "ROLLBACK_WAVE",
    "FinalizeInput",
    "RunInput",
    "RunSummary",
    "ShardInput",
    "ShardSpec",
    "ShardSummary",
    "SweepFiring",
    "SweepInput",
    "SweepSummary",
    "WaveSpec",
]

DEFAULT_TASK_QUEUE = "fleet"
ROLLBACK_WAVE = -1  # the rollback's shards: every wave's machines of one subscription


@dataclass(frozen=True)
class ShardSpec:
    """Machines ``start``..``end`` (plan order) of one subscription within one wave."""

    shard_id: str
    subscription_id: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class WaveSpec:
    index: int
    label: str
    machines: int
    shards: list[ShardSpec]


@dataclass(frozen=True)
class RunInput:
    run_id: str
    plan_blob: str
    plan_sha256: str
    total_machines: int
    waves: list[WaveSpec]
    max_failures: str | None
    max_unreachable: str | None
    failures_per: str
    on_breach: str
    pause_s: float
    approve: bool
    time_scale: float = 1.0  # wall seconds per policy second (rehearsals on a scaled simulator)
    heartbeat_timeout_s: float = 30.0  # a shard silent this long: its worker is gone, retry it
    history_limit: int = 2_000  # continue as new at the next wave boundary past this many events
    # Continue-as-new carries these forward (a fresh history starts at the next wave).
    start_wave: int = 0
    carried: dict[str, int] = field(default_factory=dict)
    wave_states: dict[str, str] = field(default_factory=dict)
    breach_reason: str | None = None
    approved_through: int = -1
    arm_requests: int = 0
    # The rollback's shards (wave -1): empty when the plan has no rollback steps, or its policy
    # never rolls back. Run after the waves when the run breached, as the embedded mode does.
    rollback_shards: list[ShardSpec] = field(default_factory=list)
    buckets: dict[str, dict[str, float]] = field(default_factory=dict)  # carried: subscription -> bucket_tokens


@dataclass(frozen=True)
class ShardInput:
    run_id: str
    plan_blob: str
    plan_sha256: str
    wave: int
    shard: ShardSpec
    wave_size: int
    run_size: int
    failed_in_wave: int
    failed_in_run: int
    unreachable_in_wave: int
    unreachable_in_run: int
    time_scale: float = 1.0
    rollback_reason: str | None = None  # a rollback shard (wave -1): why the run breached
    # The subscription's buckets as its previous shard left them (kind -> tokens, and "at":
    # when, server clock): fleet.production.budget. None: its first shard, full buckets.
    bucket_tokens: dict[str, float] | None = None


@dataclass(frozen=True)
class ShardSummary:
    shard_id: str
    machines: int
    states: dict[str, int]
    failed: int  # as the rollout policy counts failures
    unreachable: int
    breached: bool
    breach_reason: str | None
    needed_work: bool
    arm_requests: int
    canceled: bool = False
    tokens_left: dict[str, float] | None = None  # the subscription's buckets at the end (kind -> tokens)


@dataclass(frozen=True)
class FinalizeInput:
    run_id: str
    plan_blob: str
    plan_sha256: str
    wave_states: dict[str, str]
    skip_reasons: dict[str, str]  # wave index -> why its unrun machines were skipped
    breached: bool
    breach_reason: str | None
    on_breach: str
    stopped: str | None
    arm_requests: int
    # The shards the workflow started (per wave): one that left no result may have sent its
    # jobs, so they are never reported "skipped".
    started: list[WaveSpec] = field(default_factory=list)


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    status: str
    exit_code: int
    states: dict[str, int]
    report_blob: str


@dataclass(frozen=True)
class SweepInput:
    """What a schedule's every firing gets: where the sweep's inputs are kept."""

    name: str
    slug: str  # run ids are ``<slug>-<yyyymmdd-hhmmss>``
    playbook_sha256: str
    inventory_sha256: str
    time_scale: float = 1.0
    heartbeat_timeout_s: float = 60.0


@dataclass(frozen=True)
class SweepFiring:
    sweep: SweepInput
    run_id: str


@dataclass(frozen=True)
class SweepSummary:
    run_id: str
    exit_code: int
    machines: int
    counts: dict[str, int]
    newly_failing: int
    drift: str

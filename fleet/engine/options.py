"""Engine policies as values: polling, timeouts, output limits. Tests pass fast ones."""

from __future__ import annotations

from dataclasses import dataclass

from fleet.clock import Clock, MonotonicClock, ScaledClock

__all__ = [
    "Clock",
    "CollectPolicy",
    "EngineOptions",
    "MonotonicClock",
    "PollPolicy",
    "ScaledClock",
]


@dataclass(frozen=True, slots=True)
class CollectPolicy:
    """How hard collection tries before an output counts as unreadable (see engine/collect.py):
    ``attempts`` reads of one blob, ``backoff_s`` doubling up to ``max_backoff_s`` between
    them (about 15 s in all by default: a busy storage account's hiccup, not an outage), each
    read abandoned (and tried again) after ``read_timeout_s`` without its answer."""

    attempts: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 8.0
    read_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How the shared poll schedule spaces GETs.

    The schedule estimates the fleet's run-time distribution as it goes (finished jobs, and
    running jobs as "alive at the age of their last poll") and sends a job's first GET at the
    age where ``first_survival`` of the fleet's jobs still run, so most jobs cost one GET.
    Until the estimate reaches that far, only every ``scout_every``-th job (``scouts`` at most)
    is polled, from ``first_poll_s`` on and then within ``scout_lag_fraction`` of its age; the
    others wait for what the scouts learn, but no longer than ``max_interval_s``. A job found
    running is polled again where ``step_fraction`` of the jobs running at its last poll will
    have finished, but within ``body_lag_fraction`` of its age and ``max_interval_s``. The
    tail (jobs older than all but ``tail_survival`` of the fleet) of the last ``last_jobs`` of
    a draining fleet (no job joined for ``drain_quiet_s``) is polled within ``lag_fraction``
    of its age instead: those jobs set the makespan. Overall the schedule never plans more
    than ``read_budget_per_s`` GETs in any second.
    """

    first_poll_s: float = 3.0
    min_interval_s: float = 1.0
    max_interval_s: float = 30.0
    backoff: float = 1.5  # after a failed GET, the next one waits this much longer
    first_survival: float = 0.25  # first poll where this fraction of jobs still runs
    read_budget_per_s: float = 20.0  # ARM refills 25 reads/s per principal; keep headroom
    lag_fraction: float = 0.05  # the tail of the last few jobs: they set the makespan
    body_lag_fraction: float = 0.5  # every other job: many, reads matter more than lag
    tail_survival: float = 0.1  # a job older than all but this fraction is in the tail
    step_fraction: float = 0.7
    drain_quiet_s: float = 5.0  # no job joined for this long: the fleet is draining
    last_jobs: int = 20  # ... and once this few are left, its tail is within lag_fraction
    scout_every: int = 10
    scouts: int = 20  # at most this many (each spends a few GETs learning)
    scout_lag_fraction: float = 1.0  # a scout's next GET within this fraction of its age
    estimate_every_s: float = 2.0  # rebuild the estimate at most this often (CPU)
    # ... and only once this fraction of its observations are new: a rebuild costs O(n), so
    # rebuilding on a clock alone cost O(n) per machine (n in flight + finished) and grew
    # with the fleet; this way each observation pays for a bounded number of rebuilds.
    estimate_change_fraction: float = 0.05


@dataclass(frozen=True, slots=True)
class EngineOptions:
    max_output_bytes: int = 16 * 1024 * 1024
    keep_run_commands: bool = False
    timeout_margin_s: float = 120.0  # a job with no end by timeout + margin is stopped
    sas_margin_s: float = 900.0  # SAS links expire this long after the job's timeout
    min_agent_version: tuple[int, int] = (1, 33)
    preflight: bool = True
    preflight_list_threshold: int = 5  # list a resource group instead of GETs from this many machines
    poll: PollPolicy = PollPolicy()
    collect: CollectPolicy = CollectPolicy()

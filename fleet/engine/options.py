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
    running jobs as "alive at the age of their last poll") and sends each job's next GET where
    about ``step_fraction`` of the jobs still running at its last poll will have finished; the
    first GET comes at ``median_fraction`` of the estimated median. Until the estimate has a
    median, only every ``scout_every``-th job ("scouts") is polled, from ``first_poll_s`` on and
    then within ``body_lag_fraction`` of its age; the others wait for what the scouts learn, but
    no longer than ``max_interval_s``. Whatever the estimate says,
    once a job has been polled its next GET comes within ``lag_fraction`` of its age (so a
    long-tail job is seen finished at most that much late) and ``max_interval_s``. Overall the
    schedule never plans more than ``read_budget_per_s`` GETs per second. Before the tail of the
    distribution (while more than ``tail_survival`` of jobs run longer), ``body_lag_fraction``
    applies instead: those jobs are many and rarely the last to finish.
    """

    first_poll_s: float = 3.0
    min_interval_s: float = 1.0
    max_interval_s: float = 30.0
    backoff: float = 1.5  # after a failed GET, the next one waits this much longer
    median_fraction: float = 0.9  # first poll at this fraction of the estimated median
    read_budget_per_s: float = 20.0  # ARM refills 25 reads/s per principal; keep headroom
    lag_fraction: float = 0.15  # in the tail (see tail_survival): few jobs, they set the makespan
    body_lag_fraction: float = 0.5  # before the tail: many jobs, reads matter more than lag
    tail_survival: float = 0.1  # a job older than all but this fraction is in the tail
    step_fraction: float = 0.5
    scout_every: int = 10
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

"""ARM's budgets across a subscription's shards. ARM keeps one bucket per subscription,
principal and kind (read, write, delete); every worker's client keeps its own copy of them
(``fleet.arm.throttle``). A subscription's shards run one after another, often on different
workers, so each shard hands its buckets to the next: its result carries the tokens left when
it ended, the workflow stamps them with its own (server) time, and the next shard starts from
them plus what ARM refilled since (its attempt's start time, also the server's clock). A shard
never starts with a full burst its subscription has just spent."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from fleet.arm.throttle import KINDS, ArmLimits

__all__ = ["AT_KEY", "carried_limits", "stamped"]

AT_KEY = "at"  # the stamp's key beside the kinds: epoch seconds, server clock


def stamped(tokens: Mapping[str, float] | None, at_s: float) -> dict[str, float] | None:
    """A shard's leftover tokens as the workflow keeps them: with the time it got them."""
    if not tokens:
        return None
    return {**{k: float(v) for k, v in tokens.items() if k in KINDS}, AT_KEY: at_s}


def carried_limits(limits: ArmLimits | None, subscription_id: str,
                   left: Mapping[str, float] | None, now_s: float,
                   time_scale: float = 1.0) -> ArmLimits | None:
    """``limits`` whose buckets for ``subscription_id`` start where the previous shard left
    them (``left``: tokens per kind and ``AT_KEY``), refilled at each bucket's rate for the
    seconds since; never more than a burst, never negative time (a clock going backwards
    refills nothing). No ``left`` (the subscription's first shard): ``limits`` unchanged.
    ``time_scale``: wall seconds per second of the engine's clock (a rehearsal on a scaled
    simulator), whose seconds the buckets' rates count."""
    if not left or AT_KEY not in left:
        return limits
    base = limits or ArmLimits()
    elapsed_s = max(0.0, now_s - float(left[AT_KEY])) / (time_scale if time_scale > 0 else 1.0)
    start: dict[str, float] = {}
    for kind in KINDS:
        if kind not in left:
            continue
        bucket = base.for_kind(kind)
        start[kind] = min(float(bucket.burst), max(0.0, float(left[kind])) + elapsed_s * bucket.per_s)
    if not start:
        return limits
    return dataclasses.replace(base, start_tokens={**base.start_tokens, subscription_id.lower(): start})

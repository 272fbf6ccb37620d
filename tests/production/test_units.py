"""Pure parts of production mode: the stored plan round-trips exactly and refuses inline
secrets; waves are cut into per-subscription chunks; a wave's window is shared."""

from __future__ import annotations

import dataclasses

import pytest

from fleet.errors import UsageError
from fleet.production.plancodec import decode_plan, encode_plan
from fleet.production.shards import cut_waves, shard_plan, shard_window
from fleet.types import MachineRef, RolloutPolicy, SecretRef
from tests.engine.helpers import make_plan


def fleet_of(subscriptions: int, per_subscription: int) -> list[MachineRef]:
    return [MachineRef(f"sub-{s:08d}", "rg", f"m-{s}-{i:04d}", "eastus", "linux")
            for i in range(per_subscription) for s in range(subscriptions)]


def test_plan_round_trips_and_keeps_secret_references() -> None:
    plan = make_plan(fleet_of(2, 3), waves=[2, 4], protected=[("token", SecretRef("env", "TOKEN"))],
                     rollout=RolloutPolicy(max_failures="10%", approve=True))
    data, sha = encode_plan(plan)
    assert decode_plan(data, sha) == plan
    assert b"env:TOKEN" in data
    with pytest.raises(UsageError, match="sha256"):
        decode_plan(data + b" ", sha)


def test_inline_secrets_and_signed_urls_are_refused() -> None:
    inline = make_plan(fleet_of(1, 1), protected=[("token", SecretRef("literal", "hunter2"))])
    with pytest.raises(UsageError, match="inline secret") as caught:
        encode_plan(inline)
    assert "hunter2" not in str(caught.value)
    signed = make_plan(fleet_of(1, 1))
    job = dataclasses.replace(signed.jobs[0], request={"properties": {"source": {
        "scriptUri": "https://a.blob.core.windows.net/c/s.sh?sv=1&sig=SECRETSIG"}}})
    with pytest.raises(UsageError, match="SAS signature") as caught:
        encode_plan(dataclasses.replace(signed, jobs=(job,)))
    assert "SECRETSIG" not in str(caught.value)


def test_waves_cut_per_subscription_in_sequential_chunks() -> None:
    plan = make_plan(fleet_of(3, 5), waves=[3, 12])
    waves = cut_waves(plan, max_shard=3)
    assert [len(w.shards) for w in waves] == [3, 6]  # wave 2: 4 per subscription -> chunks of 3 + 1
    second = waves[1]
    by_sub: dict[str, list[int]] = {}
    for shard in second.shards:
        by_sub.setdefault(shard.subscription_id, []).append(shard.size)
    assert sorted(sum(v) for v in by_sub.values()) == [4, 4, 4]
    machines = [m.key for s in second.shards for m in shard_plan(plan, 2, s).waves[0].machines]
    assert sorted(machines) == sorted(m.key for m in plan.waves[1].machines)  # each exactly once


def test_the_window_is_shared_by_share_of_the_wave() -> None:
    assert shard_window(30, 10, "6") == 2
    assert shard_window(30, 30, "6") == 6  # one subscription: the embedded window
    assert shard_window(100, 1, "10") == 1  # never below one
    assert shard_window(200, 100, "50%") == 50

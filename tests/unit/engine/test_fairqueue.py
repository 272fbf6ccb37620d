"""FairQueue: machines handed out round-robin across subscriptions, each under its own limit."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from fleet.engine.fairqueue import FairQueue
from fleet.types import MachineRef


def m(sub: str, i: int) -> MachineRef:
    return MachineRef(sub, "rg", f"{sub}-{i}")


def test_round_robin_across_subscriptions_keeps_order_within_each() -> None:
    # Inventory order: all of A, then B, then C (what made subscriptions run one after another).
    machines = [m("A", i) for i in range(3)] + [m("B", i) for i in range(2)] + [m("C", 0)]
    queue = FairQueue(machines)
    order = []
    while queue:
        got = queue.pop(lambda _sub: 100)
        assert got is not None
        order.append(got.name)
    assert order == ["A-0", "B-0", "C-0", "A-1", "B-1", "A-2"]


def test_a_subscription_at_its_limit_is_passed_over_not_waited_for() -> None:
    queue = FairQueue([m("A", i) for i in range(4)] + [m("B", i) for i in range(4)])
    limits = {"a": 1, "b": 3}
    started = []
    while (got := queue.pop(lambda sub: limits[sub])) is not None:
        queue.started(got)
        started.append(got.name)
    assert started == ["A-0", "B-0", "B-1", "B-2"]  # A full after one, B after three
    queue.finished(m("A", 0))
    got = queue.pop(lambda sub: limits[sub])
    assert got is not None and got.name == "A-1"


def test_drain_returns_everything_left() -> None:
    queue = FairQueue([m("A", 0), m("A", 1), m("B", 0)])
    first = queue.pop(lambda _s: 5)
    assert first is not None
    rest = queue.drain()
    assert {x.name for x in rest} == {"A-1", "B-0"} and not queue and len(queue) == 0


@given(st.lists(st.tuples(st.sampled_from("ABCD"), st.integers(0, 50)), max_size=60, unique=True),
       st.integers(1, 5))
def test_property_every_machine_once_and_in_flight_never_over_limit(
    spec: list[tuple[str, int]], limit: int
) -> None:
    machines = [m(sub, i) for sub, i in spec]
    queue = FairQueue(machines)
    in_flight: dict[str, list[MachineRef]] = {}
    seen: list[MachineRef] = []
    while queue or any(in_flight.values()):
        got = queue.pop(lambda _s: limit)
        if got is None:  # all at the limit: finish the oldest of each subscription
            for running in in_flight.values():
                if running:
                    queue.finished(running.pop(0))
            continue
        queue.started(got)
        in_flight.setdefault(got.subscription_id.lower(), []).append(got)
        assert all(len(v) <= limit for v in in_flight.values())
        seen.append(got)
    assert sorted(x.name for x in seen) == sorted(x.name for x in machines)
    for sub in {x.subscription_id for x in machines}:  # inventory order kept per subscription
        assert [x for x in seen if x.subscription_id == sub] == [x for x in machines if x.subscription_id == sub]

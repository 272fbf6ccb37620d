"""The machines of a wave waiting to start, served fairly across subscriptions.

ARM's budgets (write rate, read rate, and so the useful number of machines in flight) are per
subscription. Dispatching in inventory order let one subscription fill the whole window while
the others' budgets sat idle: 4,000 machines over 8 subscriptions went one subscription after
another, at one subscription's write rate. This queue hands out machines round-robin across
subscriptions, skipping a subscription that is at its own in-flight limit, so every
subscription's budget is busy at once within the rollout's ``max_concurrency``.

Within a subscription the inventory's order is kept (canaries, patterns and ``--limit`` files
mean something to the operator).
"""

from __future__ import annotations

from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable

from fleet.types import MachineRef

__all__ = ["FairQueue"]


class FairQueue:
    """Round-robin over subscriptions; ``pop(limit_of)`` returns the next machine whose
    subscription has fewer than ``limit_of(subscription)`` machines in flight, or None."""

    def __init__(self, machines: Iterable[MachineRef]) -> None:
        self._queues: OrderedDict[str, deque[MachineRef]] = OrderedDict()
        for machine in machines:
            self._queues.setdefault(self._sub(machine), deque()).append(machine)
        self._in_flight: Counter[str] = Counter()
        self._size = sum(len(q) for q in self._queues.values())

    @staticmethod
    def _sub(machine: MachineRef) -> str:
        return machine.subscription_id.lower()

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def pop(self, limit_of: Callable[[str], int]) -> MachineRef | None:
        """The next machine, taking subscriptions in turn; the chosen subscription goes to the
        back of the rotation. None when every subscription with work is at its limit."""
        for subscription in list(self._queues):
            if self._in_flight[subscription] >= limit_of(subscription):
                continue
            queue = self._queues.pop(subscription)
            machine = queue.popleft()
            if queue:
                self._queues[subscription] = queue  # to the back: the next one gets a turn
            self._size -= 1
            return machine
        return None

    def started(self, machine: MachineRef) -> None:
        self._in_flight[self._sub(machine)] += 1

    def finished(self, machine: MachineRef) -> None:
        key = self._sub(machine)
        if self._in_flight[key] > 0:
            self._in_flight[key] -= 1

    def drain(self) -> list[MachineRef]:
        """Everything still waiting, in rotation order; the queue is empty afterwards."""
        rest: list[MachineRef] = []
        while self._queues:
            for subscription in list(self._queues):
                queue = self._queues[subscription]
                rest.append(queue.popleft())
                if not queue:
                    del self._queues[subscription]
        self._size = 0
        return rest

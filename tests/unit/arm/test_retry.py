from __future__ import annotations

import pytest

from fleet.arm.retry import RetryBudget, RetryPolicy, backoff_s, parse_retry_after
from tests.unit.arm.fakes import FakeClock

POLICY = RetryPolicy(
    initial_backoff_s=1, multiplier=2, max_backoff_s=5, jitter=0.5, max_attempts=10
)


def test_backoff_is_exponential_and_capped() -> None:
    top = [backoff_s(POLICY, n, lambda: 0.0) for n in range(1, 7)]
    assert top == [1, 2, 4, 5, 5, 5]


@pytest.mark.parametrize("attempt", range(1, 8))
@pytest.mark.parametrize("r", [0.0, 0.3, 0.999999])
def test_jitter_stays_within_bounds(attempt: int, r: float) -> None:
    ceiling = min(5.0, 2.0 ** (attempt - 1))
    delay = backoff_s(POLICY, attempt, lambda: r)
    assert ceiling * 0.5 <= delay <= ceiling
    assert delay == pytest.approx(ceiling * (1 - 0.5 * r))


def test_budget_caps_attempts() -> None:
    budget = RetryBudget(RetryPolicy(max_attempts=3), FakeClock())
    assert budget.next_backoff(lambda: 0.0) is not None
    assert budget.next_backoff(lambda: 0.0) is not None
    assert budget.next_backoff(lambda: 0.0) is None  # third failure was the last attempt


def test_budget_respects_deadline() -> None:
    clock = FakeClock()
    budget = RetryBudget(
        RetryPolicy(max_attempts=100, deadline_s=10, initial_backoff_s=4, multiplier=1), clock
    )
    assert budget.next_backoff(lambda: 0.0) == 4
    clock.t += 7  # 3 s left: a 4 s backoff would overrun
    assert budget.next_backoff(lambda: 0.0) is None
    assert budget.allows_wait(3.0) and not budget.allows_wait(3.1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        (None, None),
        ("-1", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected

"""Specification of CircuitBreaker's counting policies: consecutive, since_reset, sliding windows.

Time is driven as in ``test_breaker.py``: by a clock given to the breaker, or by freezegun through
the plugin's ``frozen_time`` fixture, moved first to a whole second so that the one-second buckets
of a time window fall where the tests expect them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import random
import threading
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from aura.breaker import (
    BreakerPolicy,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    SlidingCountWindow,
    SlidingTimeWindow,
)
from aura.exceptions import CircuitBreakerOpenError, ConfigurationError
from aura.testing.plugin import FrozenClock

FROZEN_AT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class FakeClock:
    """A clock that moves only when told to, and counts how often it is read."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Unavailable(ConnectionError):
    """The failure of the fake dependency."""


class NotFound(LookupError):
    """A business error of the fake dependency."""


def fail() -> str:
    raise Unavailable("users service is down")


def succeed() -> str:
    return "ok"


@dataclass
class Timeline:
    """Builds breakers and moves time, either with an injected clock or with freezegun."""

    build: Callable[..., CircuitBreaker]
    advance: Callable[[float], object]

    def taking(self, seconds: float, outcome: Callable[[], str] = succeed) -> Callable[[], str]:
        """A protected function that takes ``seconds`` (time moves while it runs)."""

        def call() -> str:
            self.advance(seconds)
            return outcome()

        return call


@pytest.fixture(params=["injected-clock", "frozen_time"])
def timeline(request: pytest.FixtureRequest) -> Timeline:
    if request.param == "injected-clock":
        clock = FakeClock()
        return Timeline(functools.partial(CircuitBreaker, clock=clock), clock.advance)
    frozen: FrozenClock = request.getfixturevalue("frozen_time")
    frozen.move_to(FROZEN_AT)
    return Timeline(CircuitBreaker, frozen.tick)


@pytest.fixture
def frozen(frozen_time: FrozenClock) -> FrozenClock:
    frozen_time.move_to(FROZEN_AT)
    return frozen_time


def run(breaker: CircuitBreaker, outcomes: str) -> list[str]:
    """Make one call per letter, ``F`` failing and ``S`` succeeding; return what each did."""
    seen = []
    for letter in outcomes:
        try:
            breaker.call(fail if letter == "F" else succeed)
        except Unavailable:
            seen.append("failed")
        except CircuitBreakerOpenError:
            seen.append("refused")
        else:
            seen.append("ok")
    return seen


def transitions_of(breaker: CircuitBreaker) -> list[BreakerTransition]:
    seen: list[BreakerTransition] = []
    breaker.add_listener(seen.append)
    return seen


class CountingLock:
    """A lock that counts how often it is taken."""

    def __init__(self) -> None:
        self.taken = 0
        self._lock = threading.Lock()

    def __enter__(self) -> bool:
        self.taken += 1
        return self._lock.__enter__()

    def __exit__(self, *exc_info: Any) -> None:
        self._lock.__exit__(*exc_info)


# --- policy arguments ---------------------------------------------------------------------------


def test_the_default_policy_is_consecutive_and_windows_are_settings_only() -> None:
    window = SlidingCountWindow(10)

    assert CircuitBreaker().policy == "consecutive"
    assert CircuitBreaker(policy=window).policy is window
    assert window == SlidingCountWindow(
        10, failure_rate=50.0, minimum_calls=None, slow_call_duration=None, slow_call_rate=None
    )
    assert SlidingTimeWindow(60) == SlidingTimeWindow(60, failure_rate=50.0, minimum_calls=100)
    with pytest.raises(FrozenInstanceError):
        window.size = 5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: SlidingCountWindow(0),
            "size must be at least 1, got 0. Pass the number of most recent calls the window "
            "judges, e.g. size=100.",
        ),
        (
            lambda: SlidingCountWindow(2.5),  # type: ignore[arg-type]
            "size must be an int, got float 2.5. Pass the number of most recent calls the "
            "window judges, e.g. size=100.",
        ),
        (
            lambda: SlidingCountWindow(True),
            "size must be an int, got bool True. Pass the number of most recent calls the "
            "window judges, e.g. size=100.",
        ),
        (
            lambda: SlidingCountWindow(10, minimum_calls=20),
            "minimum_calls must be at most size (10), got 20: a window of 10 calls never holds "
            "20. Pass minimum_calls=10 or less, or a larger size.",
        ),
        (
            lambda: SlidingCountWindow(10, minimum_calls=0),
            "minimum_calls must be at least 1, got 0. Pass the number of calls recorded before "
            "a rate is judged, e.g. minimum_calls=10.",
        ),
        (
            lambda: SlidingCountWindow(10, minimum_calls=2.0),  # type: ignore[arg-type]
            "minimum_calls must be an int, got float 2.0. Pass the number of calls recorded "
            "before a rate is judged, e.g. minimum_calls=10.",
        ),
        (
            lambda: SlidingCountWindow(10, failure_rate=0),
            "failure_rate must be a percentage above 0 and at most 100, got 0. Pass the "
            "percentage of failed calls that opens the breaker, e.g. failure_rate=50.",
        ),
        (
            lambda: SlidingCountWindow(10, failure_rate=100.5),
            "failure_rate must be a percentage above 0 and at most 100, got 100.5. Pass the "
            "percentage of failed calls that opens the breaker, e.g. failure_rate=50.",
        ),
        (
            lambda: SlidingCountWindow(10, failure_rate=math.nan),
            "failure_rate must be a percentage above 0 and at most 100, got nan. Pass the "
            "percentage of failed calls that opens the breaker, e.g. failure_rate=50.",
        ),
        (
            lambda: SlidingCountWindow(10, failure_rate="50%"),  # type: ignore[arg-type]
            "failure_rate must be a percentage, got str '50%'. Pass the percentage of failed "
            "calls that opens the breaker, e.g. failure_rate=50.",
        ),
        (
            lambda: SlidingCountWindow(10, slow_call_duration=0),
            "slow_call_duration must be a finite number > 0, got 0. Pass how many seconds make "
            "a call slow, e.g. slow_call_duration=2.0.",
        ),
        (
            lambda: SlidingCountWindow(10, slow_call_duration=math.inf),
            "slow_call_duration must be a finite number > 0, got inf. Pass how many seconds "
            "make a call slow, e.g. slow_call_duration=2.0.",
        ),
        (
            lambda: SlidingCountWindow(10, slow_call_duration="2s"),  # type: ignore[arg-type]
            "slow_call_duration must be a number of seconds, got str '2s'. Pass how many "
            "seconds make a call slow, e.g. slow_call_duration=2.0.",
        ),
        (
            lambda: SlidingCountWindow(10, slow_call_rate=50),
            "slow_call_rate=50 needs slow_call_duration, the seconds above which a call is "
            "slow. Pass both, e.g. slow_call_duration=2.0, slow_call_rate=50.",
        ),
        (
            lambda: SlidingCountWindow(10, slow_call_duration=2.0, slow_call_rate=0),
            "slow_call_rate must be a percentage above 0 and at most 100, got 0. Pass the "
            "percentage of slow calls that opens the breaker, e.g. slow_call_rate=100.",
        ),
        (
            lambda: SlidingTimeWindow(0),
            "seconds must be at least 1, got 0. Pass the number of seconds the window looks "
            "back, e.g. seconds=60.",
        ),
        (
            lambda: SlidingTimeWindow(0.5),  # type: ignore[arg-type]
            "seconds must be an int, got float 0.5. Pass the number of seconds the window looks "
            "back, e.g. seconds=60.",
        ),
        (
            lambda: SlidingTimeWindow(60, minimum_calls=-1),
            "minimum_calls must be at least 1, got -1. Pass the number of calls recorded before "
            "a rate is judged, e.g. minimum_calls=10.",
        ),
        (
            lambda: SlidingTimeWindow(60, failure_rate=-5),
            "failure_rate must be a percentage above 0 and at most 100, got -5. Pass the "
            "percentage of failed calls that opens the breaker, e.g. failure_rate=50.",
        ),
        (
            lambda: SlidingTimeWindow(60, slow_call_rate=80.0),
            "slow_call_rate=80.0 needs slow_call_duration, the seconds above which a call is "
            "slow. Pass both, e.g. slow_call_duration=2.0, slow_call_rate=50.",
        ),
    ],
)
def test_bad_window_settings_are_rejected_with_a_message_naming_the_fix(
    build: Callable[[], Any], message: str
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        build()

    assert str(raised.value) == message
    assert isinstance(raised.value, ValueError)


def test_one_window_policy_shared_by_two_breakers_keeps_a_window_for_each() -> None:
    policy = SlidingCountWindow(2, failure_rate=50)
    first, second = CircuitBreaker(policy=policy), CircuitBreaker(policy=policy)

    run(first, "FF")

    assert (first.state, second.state) == (OPEN, CLOSED)
    assert second.snapshot().window_calls == 0


# --- since_reset: the seed's breaker, and consecutive beside it ---------------------------------


def test_since_reset_opens_on_fail_fail_ok_fail_with_threshold_3() -> None:
    breaker = CircuitBreaker(failure_threshold=3, policy="since_reset")

    assert run(breaker, "FFSF") == ["failed", "failed", "ok", "failed"]
    assert breaker.state is OPEN
    assert breaker.failure_count == 3
    assert run(breaker, "S") == ["refused"]


def test_consecutive_stays_closed_on_fail_fail_ok_fail_with_threshold_3() -> None:
    breaker = CircuitBreaker(failure_threshold=3, policy="consecutive")

    assert run(breaker, "FFSF") == ["failed", "failed", "ok", "failed"]
    assert breaker.state is CLOSED
    assert breaker.failure_count == 1


def test_since_reset_refuses_at_exactly_the_timeout_and_half_opens_just_after(
    timeline: Timeline,
) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60, name="users", policy="since_reset")
    run(breaker, "F")
    timeline.advance(60)

    assert breaker.state is OPEN
    with pytest.raises(CircuitBreakerOpenError) as raised:
        breaker.call(succeed)
    assert str(raised.value) == "Circuit breaker 'users' is open; retry in 0.1 s."
    assert raised.value.retry_after == 0.0

    timeline.advance(0.001)
    assert breaker.state is HALF_OPEN
    assert breaker.call(succeed) == "ok"
    assert breaker.state is CLOSED


def test_consecutive_half_opens_at_exactly_the_timeout(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60, policy="consecutive")
    run(breaker, "F")
    timeline.advance(59.999)
    assert run(breaker, "S") == ["refused"]
    timeline.advance(0.001)

    assert breaker.state is HALF_OPEN
    assert run(breaker, "S") == ["ok"]
    assert breaker.state is CLOSED


def test_since_reset_rounds_the_retry_delay_past_the_time_it_still_refuses(
    frozen: FrozenClock,
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, name="users", policy="since_reset")
    run(breaker, "F")
    frozen.tick(47.5)

    with pytest.raises(CircuitBreakerOpenError) as raised:
        breaker.call(succeed)

    # 12.5 s are left, and at 12.5 s the strict timeout still refuses: 12.6 is never too early.
    assert str(raised.value) == "Circuit breaker 'users' is open; retry in 12.6 s."
    assert raised.value.retry_after == 12.5
    assert breaker.snapshot().retry_after == 12.5


def test_since_reset_with_a_zero_timeout_waits_for_the_clock_to_move(frozen: FrozenClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=0, policy="since_reset")
    run(breaker, "F")

    assert run(breaker, "S") == ["refused"]
    frozen.tick(0.001)
    assert run(breaker, "S") == ["ok"]


def test_since_reset_half_open_success_closes_and_resets_the_count(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=3, timeout=60, policy="since_reset")
    run(breaker, "FSFSF")
    timeline.advance(61)

    assert run(breaker, "S") == ["ok"]
    assert (breaker.state, breaker.failure_count) == (CLOSED, 0)
    assert run(breaker, "FSF") == ["failed", "ok", "failed"]
    assert (breaker.state, breaker.failure_count) == (CLOSED, 2)


def test_since_reset_trial_failure_reopens_and_keeps_counting(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=2, timeout=60, policy="since_reset")
    run(breaker, "FF")
    timeline.advance(61)

    assert run(breaker, "F") == ["failed"]
    assert (breaker.state, breaker.failure_count) == (OPEN, 3)
    timeline.advance(60)
    assert breaker.state is OPEN  # the timeout restarted with the trial failure
    timeline.advance(1)
    assert breaker.state is HALF_OPEN


def test_reset_restarts_the_since_reset_count() -> None:
    breaker = CircuitBreaker(failure_threshold=3, policy="since_reset")
    run(breaker, "FSF")
    breaker.reset()
    run(breaker, "FS")

    assert (breaker.state, breaker.failure_count) == (CLOSED, 1)


def test_a_disabled_since_reset_breaker_counts_failures_through_successes() -> None:
    breaker = CircuitBreaker(failure_threshold=2, policy="since_reset")
    breaker.disable()

    run(breaker, "FSFSF")

    assert (breaker.state, breaker.failure_count) == (BreakerState.DISABLED, 3)


def test_since_reset_success_takes_no_lock_even_with_failures_counted() -> None:
    breaker = CircuitBreaker(failure_threshold=5, policy="since_reset")
    run(breaker, "FF")
    lock = CountingLock()
    breaker._lock = lock  # type: ignore[assignment]  # the module docstring promises no lock

    assert breaker.call(succeed) == breaker(succeed)() == "ok"
    assert lock.taken == 0
    assert breaker.failure_count == 2


# The seed's own breaker, run from the specification beside since_reset on the same calls, is
# tests/spec/test_seed_examples.py::test_the_seeds_circuit_breaker_and_since_reset_agree.


def test_failure_count_and_last_failure_time_read_as_the_seeds(frozen: FrozenClock) -> None:
    breaker = CircuitBreaker(failure_threshold=3, policy="since_reset")
    assert (breaker.failure_count, breaker.last_failure_time) == (0, None)

    run(breaker, "F")
    frozen.tick(5)
    run(breaker, "S")

    assert (breaker.failure_count, breaker.last_failure_time) == (1, FROZEN_AT.timestamp())


# --- sliding count window -----------------------------------------------------------------------


def test_count_window_waits_for_minimum_calls_then_a_success_may_open_it() -> None:
    breaker = CircuitBreaker(policy=SlidingCountWindow(10, failure_rate=50, minimum_calls=4))
    seen = transitions_of(breaker)

    run(breaker, "FFF")
    assert breaker.state is CLOSED  # 100% failed, but 3 calls are fewer than 4
    assert breaker.snapshot().failure_rate is None

    run(breaker, "S")  # the fourth call: 3 of 4 failed
    assert breaker.state is OPEN
    assert [(t.new, t.last_error) for t in seen] == [(OPEN, None)]


def test_count_window_opens_when_the_failure_rate_reaches_the_threshold() -> None:
    breaker = CircuitBreaker(policy=SlidingCountWindow(4, failure_rate=50))

    run(breaker, "FSSS")
    assert (breaker.state, breaker.snapshot().failure_rate) == (CLOSED, 25.0)
    run(breaker, "F")  # [S S S F]: the first failure left the window
    assert (breaker.state, breaker.snapshot().failure_rate) == (CLOSED, 25.0)
    run(breaker, "F")  # [S S F F]: 50% is the threshold
    assert breaker.state is OPEN
    assert breaker.failure_count == 2


def test_count_window_forgets_the_calls_that_left_it() -> None:
    breaker = CircuitBreaker(policy=SlidingCountWindow(3, failure_rate=50))

    run(breaker, "FSSSSF")  # the window is [S S F]: the first failure left it long ago

    snapshot = breaker.snapshot()
    assert breaker.state is CLOSED
    assert (snapshot.failure_count, snapshot.window_calls) == (1, 3)
    assert snapshot.failure_rate == pytest.approx(100 / 3)


@pytest.mark.parametrize("seed", range(5))
def test_consecutive_is_a_count_window_of_the_threshold_at_a_100_percent_rate(seed: int) -> None:
    clock = FakeClock()
    consecutive = CircuitBreaker(failure_threshold=3, timeout=10, success_threshold=2, clock=clock)
    window = CircuitBreaker(
        timeout=10, success_threshold=2, policy=SlidingCountWindow(3, failure_rate=100), clock=clock
    )
    steps = random.Random(seed).choices(["F", "S", "tick"], weights=[5, 4, 1], k=300)
    states = set()

    for step in steps:
        if step == "tick":
            clock.advance(6)
        else:
            assert run(consecutive, step) == run(window, step)
            assert consecutive.state is window.state
            states.add(window.state)
    assert states == {CLOSED, OPEN, HALF_OPEN}  # the walk went through every state


def test_count_window_does_not_use_the_failure_threshold() -> None:
    breaker = CircuitBreaker(failure_threshold=2, policy=SlidingCountWindow(10, failure_rate=90))

    run(breaker, "FFFFFFFF")

    assert (breaker.state, breaker.failure_count) == (CLOSED, 8)


def test_count_window_counts_calls_slower_than_the_duration_as_slow(timeline: Timeline) -> None:
    policy = SlidingCountWindow(4, slow_call_duration=2.0, slow_call_rate=50)
    breaker = timeline.build(policy=policy)
    seen = transitions_of(breaker)

    breaker.call(timeline.taking(3))  # slow
    breaker.call(timeline.taking(2))  # exactly the duration: not slow
    breaker.call(succeed)
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.slow_calls, snapshot.window_calls) == (CLOSED, 1, 3)
    assert snapshot.slow_call_rate is None  # fewer calls than minimum_calls (the size, 4)

    breaker.call(timeline.taking(2.5))  # slow: 2 of 4, the threshold
    snapshot = breaker.snapshot()
    assert snapshot.state is OPEN
    assert (snapshot.slow_call_rate, snapshot.failure_rate, snapshot.failure_count) == (50, 0, 0)
    assert [(t.new, t.last_error) for t in seen] == [(OPEN, None)]


def test_a_slow_failure_counts_as_failed_and_as_slow(timeline: Timeline) -> None:
    policy = SlidingCountWindow(
        4, failure_rate=100, minimum_calls=2, slow_call_duration=1.0, slow_call_rate=100
    )
    breaker = timeline.build(policy=policy)

    with pytest.raises(Unavailable):
        breaker.call(timeline.taking(1.5, fail))
    run(breaker, "S")

    snapshot = breaker.snapshot()
    assert (snapshot.failure_count, snapshot.slow_calls, snapshot.window_calls) == (1, 1, 2)
    assert (snapshot.failure_rate, snapshot.slow_call_rate) == (50, 50)
    assert snapshot.state is CLOSED


def test_slow_call_rate_defaults_to_100_percent_as_in_resilience4j(timeline: Timeline) -> None:
    breaker = timeline.build(policy=SlidingCountWindow(2, slow_call_duration=1.0))

    breaker.call(timeline.taking(2))
    breaker.call(succeed)
    assert breaker.state is CLOSED  # half the calls were slow
    breaker.call(timeline.taking(2))
    assert breaker.state is CLOSED  # [slow, fast]
    breaker.call(timeline.taking(2))
    assert breaker.state is OPEN  # [slow, slow]


def test_a_window_without_slow_call_duration_never_reads_the_clock_while_closed() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(policy=SlidingCountWindow(10), clock=clock)
    reads = clock.reads

    run(breaker, "SSFS")

    assert clock.reads == reads


def test_a_window_with_slow_call_duration_reads_the_clock_before_and_after_each_call() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(policy=SlidingCountWindow(10, slow_call_duration=1), clock=clock)
    reads = clock.reads

    run(breaker, "SSF")

    assert clock.reads == reads + 6


def test_count_window_failures_count_once_each_under_32_threads() -> None:
    breaker = CircuitBreaker(policy=SlidingCountWindow(100))
    together = threading.Barrier(32)

    def worker() -> None:
        def in_flight() -> str:
            together.wait(5)
            return fail()

        with contextlib.suppress(Unavailable):
            breaker.call(in_flight)

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)

    snapshot = breaker.snapshot()
    assert (snapshot.failure_count, snapshot.window_calls, snapshot.state) == (32, 32, CLOSED)


def test_excluded_and_interrupted_calls_do_not_enter_the_window() -> None:
    breaker = CircuitBreaker(policy=SlidingCountWindow(10), exclude=(NotFound,))

    def not_found() -> None:
        raise NotFound("no user 7")

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(NotFound):
        breaker.call(not_found)
    with pytest.raises(KeyboardInterrupt):
        breaker.call(interrupted)

    assert breaker.snapshot().window_calls == 0


def test_a_disabled_breaker_fills_its_window_but_never_opens() -> None:
    breaker = CircuitBreaker(policy=SlidingCountWindow(4))
    breaker.disable()

    run(breaker, "FFFF")

    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.failure_rate) == (BreakerState.DISABLED, 100)


def test_reset_empties_the_window() -> None:
    breaker = CircuitBreaker(policy=SlidingCountWindow(4))
    run(breaker, "FFFF")
    breaker.reset()

    run(breaker, "FSS")  # a stale window would hold 5 failures of 7 calls, and open
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.failure_count, snapshot.window_calls) == (CLOSED, 1, 3)


def test_the_outcome_of_a_call_admitted_before_the_window_opened_is_ignored() -> None:
    breaker = CircuitBreaker(policy=SlidingCountWindow(2))

    def opens_the_breaker_meanwhile() -> str:
        run(breaker, "FF")
        return "late"

    assert breaker.call(opens_the_breaker_meanwhile) == "late"
    assert breaker.snapshot().window_calls == 2


# --- half-open, for the windows -----------------------------------------------------------------


@pytest.mark.parametrize(
    "policy",
    [SlidingCountWindow(2), SlidingTimeWindow(10, minimum_calls=2)],
    ids=["count-window", "time-window"],
)
def test_a_window_trial_success_closes_the_breaker_and_empties_the_window(
    timeline: Timeline, policy: BreakerPolicy
) -> None:
    breaker = timeline.build(timeout=60, policy=policy)
    run(breaker, "FF")
    timeline.advance(60)

    assert run(breaker, "S") == ["ok"]
    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.failure_count, snapshot.window_calls) == (CLOSED, 0, 0)
    assert run(breaker, "F") == ["failed"]
    assert breaker.state is CLOSED  # one call is fewer than minimum_calls


@pytest.mark.parametrize(
    "policy",
    [SlidingCountWindow(2), SlidingTimeWindow(10, minimum_calls=2)],
    ids=["count-window", "time-window"],
)
def test_a_window_trial_failure_opens_the_breaker_again(
    timeline: Timeline, policy: BreakerPolicy
) -> None:
    breaker = timeline.build(timeout=60, policy=policy)
    run(breaker, "FF")
    timeline.advance(60)

    assert run(breaker, "F") == ["failed"]
    assert breaker.state is OPEN
    timeline.advance(59)
    assert run(breaker, "S") == ["refused"]


def test_a_slow_trial_success_opens_the_breaker_again(timeline: Timeline) -> None:
    policy = SlidingCountWindow(2, slow_call_duration=1.0, slow_call_rate=50)
    breaker = timeline.build(timeout=60, policy=policy)
    run(breaker, "FF")
    timeline.advance(60)
    seen = transitions_of(breaker)

    assert breaker.call(timeline.taking(1.5)) == "ok"

    assert breaker.state is OPEN
    assert [(t.old, t.new) for t in seen] == [(OPEN, HALF_OPEN), (HALF_OPEN, OPEN)]
    assert breaker.snapshot().slow_calls == 1


def test_a_window_needs_success_threshold_trial_successes_to_close(timeline: Timeline) -> None:
    breaker = timeline.build(timeout=60, success_threshold=2, policy=SlidingCountWindow(2))
    run(breaker, "FF")
    timeline.advance(60)

    run(breaker, "S")
    assert breaker.state is HALF_OPEN
    run(breaker, "S")
    assert breaker.state is CLOSED


# --- sliding time window ------------------------------------------------------------------------


def test_time_window_waits_for_minimum_calls(timeline: Timeline) -> None:
    breaker = timeline.build(policy=SlidingTimeWindow(10, failure_rate=50, minimum_calls=3))

    run(breaker, "FF")
    assert breaker.state is CLOSED
    timeline.advance(5)
    run(breaker, "S")  # 2 of 3 failed within 10 s
    assert breaker.state is OPEN


def test_time_window_still_counts_a_call_made_just_under_its_seconds_ago(
    timeline: Timeline,
) -> None:
    breaker = timeline.build(policy=SlidingTimeWindow(10, minimum_calls=2))
    run(breaker, "F")
    timeline.advance(9.9)

    run(breaker, "S")

    assert breaker.state is OPEN  # 1 of 2 failed


def test_time_window_forgets_a_call_made_its_seconds_ago(timeline: Timeline) -> None:
    breaker = timeline.build(policy=SlidingTimeWindow(10, minimum_calls=2))
    run(breaker, "F")
    timeline.advance(10)

    assert breaker.failure_count == 0
    run(breaker, "S")

    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.window_calls, snapshot.failure_rate) == (CLOSED, 1, None)


def test_time_window_failure_rate_rises_as_old_successes_leave(timeline: Timeline) -> None:
    breaker = timeline.build(policy=SlidingTimeWindow(10, minimum_calls=2))
    run(breaker, "SS")
    timeline.advance(5)
    run(breaker, "F")
    assert breaker.state is CLOSED
    assert breaker.snapshot().failure_rate == pytest.approx(100 / 3)
    timeline.advance(5)  # the two successes leave; the failure stays

    run(breaker, "S")

    assert breaker.state is OPEN  # 1 of 2 failed


def test_time_window_forgets_everything_after_a_long_quiet_spell(timeline: Timeline) -> None:
    breaker = timeline.build(policy=SlidingTimeWindow(3, failure_rate=100, minimum_calls=2))
    run(breaker, "F")
    timeline.advance(2)
    run(breaker, "S")
    assert breaker.state is CLOSED
    timeline.advance(3600)

    snapshot = breaker.snapshot()
    assert (snapshot.window_calls, snapshot.failure_count) == (0, 0)
    run(breaker, "FF")  # 2 of 2 failed; a stale window would hold 3 of 4
    assert breaker.state is OPEN


def test_time_window_counts_slow_calls(timeline: Timeline) -> None:
    policy = SlidingTimeWindow(60, minimum_calls=3, slow_call_duration=5, slow_call_rate=60)
    breaker = timeline.build(policy=policy)

    breaker.call(timeline.taking(6))
    breaker.call(succeed)
    assert breaker.state is CLOSED
    breaker.call(timeline.taking(10))

    snapshot = breaker.snapshot()
    assert snapshot.state is OPEN  # 2 of 3 slow: 66.7% >= 60%
    assert snapshot.slow_calls == 2
    assert snapshot.slow_call_rate == pytest.approx(200 / 3)


# --- the snapshot and the drivers ---------------------------------------------------------------


def test_snapshot_shows_the_policy_and_no_rates_for_the_counting_policies() -> None:
    breaker = CircuitBreaker(policy="since_reset")
    run(breaker, "FS")

    snapshot = breaker.snapshot()
    assert snapshot.policy == "since_reset"
    assert (snapshot.window_calls, snapshot.slow_calls) == (0, 0)
    assert (snapshot.failure_rate, snapshot.slow_call_rate) == (None, None)


def test_snapshot_of_a_window_without_slow_call_duration_has_no_slow_call_rate() -> None:
    policy = SlidingCountWindow(4, failure_rate=80, minimum_calls=2)
    breaker = CircuitBreaker(policy=policy)
    run(breaker, "FSS")

    snapshot = breaker.snapshot()
    assert snapshot.policy is policy
    assert snapshot.failure_rate == pytest.approx(100 / 3)
    assert snapshot.slow_call_rate is None


def test_decorated_and_async_calls_are_recorded_in_the_window(timeline: Timeline) -> None:
    breaker = timeline.build(policy=SlidingCountWindow(4, slow_call_duration=1.0))

    @breaker
    def guarded() -> str:
        return "ok"

    @breaker
    async def aguarded() -> str:
        timeline.advance(2)
        return "ok"

    async def slow() -> str:
        timeline.advance(2)
        return "ok"

    async def scenario() -> None:
        await aguarded()
        await breaker.acall(slow)

    guarded()
    asyncio.run(scenario())

    snapshot = breaker.snapshot()
    assert (snapshot.window_calls, snapshot.slow_calls) == (3, 2)

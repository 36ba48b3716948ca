"""Specification of CircuitBreaker: states, timing, concurrency, exclusions, control, listeners."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from aura.breaker import (
    BreakerSnapshot,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    SlidingCountWindow,
    SlidingTimeWindow,
)
from aura.exceptions import AuraError, CircuitBreakerOpenError, ConfigurationError
from aura.testing import FrozenClock

FROZEN_AT = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Unavailable(ConnectionError):
    """The failure of the fake dependency."""


class NotFound(LookupError):
    """A business error of the fake dependency."""


def fail(message: str = "users service is down") -> str:
    raise Unavailable(message)


def succeed(value: str = "ok") -> str:
    return value


def trip(breaker: CircuitBreaker, times: int | None = None) -> None:
    """Make ``times`` failing calls (the breaker's threshold by default)."""
    for _ in range(breaker.failure_threshold if times is None else times):
        with pytest.raises(Unavailable):
            breaker.call(fail)


@dataclass
class Timeline:
    """Builds breakers and moves time, either with an injected clock or with ``frozen_time``."""

    build: Callable[..., CircuitBreaker]
    advance: Callable[[float], object]


@pytest.fixture(params=["injected-clock", "freezegun"])
def timeline(request: pytest.FixtureRequest) -> Iterator[Timeline]:
    if request.param == "injected-clock":
        clock = FakeClock()
        yield Timeline(functools.partial(CircuitBreaker, clock=clock), clock.advance)
    else:
        frozen_time: FrozenClock = request.getfixturevalue("frozen_time")
        frozen_time.move_to(FROZEN_AT)
        yield Timeline(CircuitBreaker, frozen_time.tick)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def transitions_of(breaker: CircuitBreaker) -> list[BreakerTransition]:
    seen: list[BreakerTransition] = []
    breaker.add_listener(seen.append)
    return seen


def in_thread(target: Callable[[], object], timeout: float = 5.0) -> None:
    """Run ``target`` in a thread and fail (instead of hanging) if it deadlocks."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "deadlock: the call did not finish"
    if errors:
        raise errors[0]


# --- construction -------------------------------------------------------------------------------


def test_defaults_are_those_of_the_seed() -> None:
    breaker = CircuitBreaker()

    assert (breaker.failure_threshold, breaker.timeout) == (5, 60)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failure_count == 0
    assert breaker.last_failure_time is None
    assert breaker.policy == "consecutive"


def test_state_compares_equal_to_the_seed_strings() -> None:
    assert CircuitBreaker().state == "CLOSED"
    assert [state.value for state in BreakerState] == [
        "CLOSED",
        "OPEN",
        "HALF_OPEN",
        "FORCED_OPEN",
        "DISABLED",
    ]


def test_unnamed_breakers_get_distinct_names() -> None:
    first, second = CircuitBreaker(), CircuitBreaker()

    assert re.fullmatch(r"breaker-\d+", first.name)
    assert first.name != second.name


def test_repr_shows_name_state_and_failures() -> None:
    breaker = CircuitBreaker(3, name="users.UserService")
    trip(breaker, 1)

    assert repr(breaker) == "<CircuitBreaker 'users.UserService' CLOSED failures=1/3>"


def test_repr_names_the_counting_policy_when_it_is_not_the_default() -> None:
    since_reset = CircuitBreaker(3, name="users", policy="since_reset")
    window = CircuitBreaker(name="billing", policy=SlidingCountWindow(10))
    trip(since_reset, 1)
    trip(window, 2)
    window.call(succeed)

    assert repr(since_reset) == "<CircuitBreaker 'users' CLOSED failures=1/3 since reset>"
    assert repr(window) == "<CircuitBreaker 'billing' CLOSED failures=2 in 3 calls>"


def is_business_error(exc: BaseException) -> bool:
    return False


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"failure_threshold": 0},
            ValueError,
            "failure_threshold must be at least 1, got 0. Pass the number of consecutive "
            "failures that open the breaker, e.g. failure_threshold=5.",
        ),
        (
            {"failure_threshold": 2.5},
            ConfigurationError,
            "failure_threshold must be an int, got float 2.5. Pass the number of consecutive "
            "failures that open the breaker, e.g. failure_threshold=5.",
        ),
        (
            {"failure_threshold": True},
            ConfigurationError,
            "failure_threshold must be an int, got bool True. Pass the number of consecutive "
            "failures that open the breaker, e.g. failure_threshold=5.",
        ),
        (
            {"success_threshold": 0},
            ValueError,
            "success_threshold must be at least 1, got 0. Pass the number of trial successes "
            "that close the breaker, e.g. success_threshold=1.",
        ),
        (
            {"half_open_max_calls": -1},
            ValueError,
            "half_open_max_calls must be at least 1, got -1. Pass the number of trial calls "
            "let through at once, e.g. half_open_max_calls=1.",
        ),
        (
            {"timeout": -1},
            ValueError,
            "timeout must be a finite number >= 0, got -1. Pass how many seconds the breaker "
            "stays open before a trial call, e.g. timeout=60.",
        ),
        (
            {"timeout": math.nan},
            ValueError,
            "timeout must be a finite number >= 0, got nan. Pass how many seconds the breaker "
            "stays open before a trial call, e.g. timeout=60.",
        ),
        (
            {"timeout": math.inf},
            ValueError,
            "timeout must be a finite number >= 0, got inf. Pass how many seconds the breaker "
            "stays open before a trial call, e.g. timeout=60.",
        ),
        (
            {"timeout": "60"},
            ConfigurationError,
            "timeout must be a number of seconds, got str '60'. Pass how many seconds the "
            "breaker stays open before a trial call, e.g. timeout=60.",
        ),
        (
            {"timeout": False},
            ConfigurationError,
            "timeout must be a number of seconds, got bool False. Pass how many seconds the "
            "breaker stays open before a trial call, e.g. timeout=60.",
        ),
        (
            {"name": 42},
            ConfigurationError,
            "name must be a str, got int 42. Pass the name shown in errors and health checks, "
            "e.g. name='users.UserService'.",
        ),
        (
            {"name": ""},
            ValueError,
            "name must not be empty. Pass the name shown in errors and health checks, "
            "e.g. name='users.UserService'.",
        ),
        (
            {"exclude": NotFound},
            ConfigurationError,
            "exclude must be a tuple of exception types or predicates (exc) -> bool, got the "
            "class NotFound. Wrap a single one in a tuple: exclude=(NotFound,).",
        ),
        (
            {"exclude": is_business_error},
            ConfigurationError,
            "exclude must be a tuple of exception types or predicates (exc) -> bool, got the "
            "function is_business_error. Wrap a single one in a tuple: "
            "exclude=(is_business_error,).",
        ),
        (
            {"exclude": "NotFound"},
            ConfigurationError,
            "exclude must be a tuple of exception types or predicates (exc) -> bool, got str "
            "'NotFound'. Pass a tuple, e.g. exclude=(KeyError, is_business_error).",
        ),
        (
            {"exclude": 3},
            ConfigurationError,
            "exclude must be a tuple of exception types or predicates (exc) -> bool, got int 3. "
            "Pass a tuple, e.g. exclude=(KeyError, is_business_error).",
        ),
        (
            {"exclude": (NotFound, 3)},
            ConfigurationError,
            "exclude[1] must be an exception type or a predicate (exc) -> bool, got int 3. "
            "Pass e.g. exclude=(KeyError, is_business_error).",
        ),
        (
            {"exclude": [int]},
            ConfigurationError,
            "exclude[0] must be an exception type or a predicate (exc) -> bool, got the class "
            "int, which is not an exception. Pass e.g. exclude=(KeyError, is_business_error).",
        ),
        (
            {"clock": 5.0},
            ConfigurationError,
            "clock must be a callable returning seconds as a float, like time.monotonic; got "
            "float 5.0. Pass e.g. clock=time.monotonic, or leave it out.",
        ),
        (
            {"policy": "sliding"},
            ConfigurationError,
            "policy must be 'consecutive', 'since_reset', a SlidingCountWindow or a "
            "SlidingTimeWindow, got str 'sliding'. Pass e.g. policy='since_reset' or "
            "policy=SlidingCountWindow(100).",
        ),
        (
            {"policy": None},
            ConfigurationError,
            "policy must be 'consecutive', 'since_reset', a SlidingCountWindow or a "
            "SlidingTimeWindow, got NoneType None. Pass e.g. policy='since_reset' or "
            "policy=SlidingCountWindow(100).",
        ),
        (
            {"policy": SlidingCountWindow},
            ConfigurationError,
            "policy must be 'consecutive', 'since_reset', a SlidingCountWindow or a "
            "SlidingTimeWindow, got the class SlidingCountWindow. Build one: "
            "policy=SlidingCountWindow(100).",
        ),
        (
            {"policy": SlidingTimeWindow},
            ConfigurationError,
            "policy must be 'consecutive', 'since_reset', a SlidingCountWindow or a "
            "SlidingTimeWindow, got the class SlidingTimeWindow. Build one: "
            "policy=SlidingTimeWindow(60).",
        ),
    ],
)
def test_bad_arguments_are_rejected_with_a_message_naming_the_fix(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        CircuitBreaker(**kwargs)

    assert str(raised.value) == message
    assert isinstance(raised.value, ConfigurationError)


def test_a_callable_object_given_as_exclude_is_rejected_with_the_wrapping_fix() -> None:
    class IsBusinessError:
        def __call__(self, exc: BaseException) -> bool:
            return False

    with pytest.raises(ConfigurationError) as raised:
        CircuitBreaker(exclude=IsBusinessError())  # type: ignore[arg-type]

    assert re.fullmatch(
        r"exclude must be a tuple of exception types or predicates \(exc\) -> bool, got "
        r"IsBusinessError <.*IsBusinessError object at 0x[0-9a-f]+>\. "
        r"Wrap a single one in a tuple: exclude=\(predicate,\)\.",
        str(raised.value),
    )


# --- CLOSED -------------------------------------------------------------------------------------


def test_call_passes_arguments_and_returns_the_result() -> None:
    breaker = CircuitBreaker()

    assert breaker.call(lambda a, *, b: a + b, 1, b=2) == 3


def test_call_accepts_a_keyword_argument_named_func() -> None:
    breaker = CircuitBreaker()

    assert breaker.call(lambda func: func, func="passed through") == "passed through"


def _parts(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


async def _aparts(*args: Any, **kwargs: Any) -> tuple[tuple[Any, ...], dict[str, Any]]:
    return args, kwargs


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((), {}), ((1, 2), {}), ((), {"b": 2}), ((1,), {"b": 2, "c": 3})],
    ids=["nothing", "positional", "keyword", "both"],
)
def test_every_form_passes_positional_and_keyword_arguments_exactly(
    args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    breaker = CircuitBreaker()
    expected = (args, kwargs)

    assert breaker.call(_parts, *args, **kwargs) == expected
    assert breaker(_parts)(*args, **kwargs) == expected
    assert asyncio.run(breaker.acall(_aparts, *args, **kwargs)) == expected
    assert asyncio.run(breaker(_aparts)(*args, **kwargs)) == expected


def test_failure_propagates_unchanged_and_is_counted() -> None:
    breaker = CircuitBreaker()
    error = Unavailable("down")

    def raise_it() -> None:
        raise error

    with pytest.raises(Unavailable) as raised:
        breaker.call(raise_it)

    assert raised.value is error
    assert breaker.failure_count == 1


def test_last_failure_time_is_the_wall_clock_time_of_the_last_failure(
    frozen_time: FrozenClock,
) -> None:
    frozen_time.move_to(FROZEN_AT)
    breaker = CircuitBreaker(failure_threshold=3)
    trip(breaker, 1)
    frozen_time.tick(2.5)
    trip(breaker, 1)
    frozen_time.tick(1)
    breaker.call(succeed)

    assert breaker.last_failure_time == FROZEN_AT.timestamp() + 2.5 == time.time() - 1


def test_last_failure_time_ignores_excluded_errors_and_survives_closing(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, exclude=(NotFound,), clock=clock)
    with pytest.raises(NotFound):
        breaker.call(raise_not_found)
    assert breaker.last_failure_time is None

    before = time.time()
    trip(breaker)
    clock.advance(60)
    breaker.call(succeed)

    assert breaker.state is BreakerState.CLOSED
    assert breaker.last_failure_time is not None
    assert before <= breaker.last_failure_time <= time.time()


def test_reset_forgets_the_last_failure_time() -> None:
    breaker = CircuitBreaker(failure_threshold=3)
    trip(breaker, 1)
    breaker.reset()

    assert breaker.last_failure_time is None


def test_failures_below_the_threshold_keep_it_closed() -> None:
    breaker = CircuitBreaker(failure_threshold=3)
    trip(breaker, 2)

    assert breaker.state is BreakerState.CLOSED
    assert breaker.call(succeed) == "ok"


def test_a_success_resets_the_consecutive_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=3)
    trip(breaker, 2)
    breaker.call(succeed)
    trip(breaker, 2)

    assert breaker.failure_count == 2
    assert breaker.state is BreakerState.CLOSED


def test_reaching_the_threshold_opens_the_breaker(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=3)
    trip(breaker, 3)

    assert breaker.state is BreakerState.OPEN
    assert breaker.failure_count == 3


# --- OPEN ---------------------------------------------------------------------------------------


def test_open_breaker_refuses_calls_without_making_them(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60, name="users.UserService")
    trip(breaker)
    timeline.advance(47.5)
    calls: list[str] = []

    with pytest.raises(CircuitBreakerOpenError) as raised:
        breaker.call(calls.append, "made")

    assert calls == []
    assert str(raised.value) == "Circuit breaker 'users.UserService' is open; retry in 12.5 s."
    assert (raised.value.breaker_name, raised.value.retry_after) == ("users.UserService", 12.5)
    assert isinstance(raised.value, AuraError)


def test_open_error_rounds_the_retry_delay_up_to_a_tenth_of_a_second(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, timeout=10, name="billing", clock=clock)
    trip(breaker)
    clock.advance(9.96)

    with pytest.raises(CircuitBreakerOpenError) as raised:
        breaker.call(succeed)

    assert str(raised.value) == "Circuit breaker 'billing' is open; retry in 0.1 s."
    assert raised.value.retry_after == pytest.approx(0.04)


def test_open_error_can_be_raised_bare_as_the_seed_does() -> None:
    with pytest.raises(CircuitBreakerOpenError) as raised:
        raise CircuitBreakerOpenError()

    assert str(raised.value) == "Circuit breaker is open; the call was refused."
    assert raised.value.breaker_name is None
    assert raised.value.retry_after == math.inf
    assert isinstance(raised.value, AuraError)
    assert isinstance(raised.value, RuntimeError)


def test_open_error_keeps_its_keyword_arguments() -> None:
    error = CircuitBreakerOpenError("closed for now", breaker_name="billing", retry_after=2.5)

    assert (str(error), error.breaker_name, error.retry_after) == ("closed for now", "billing", 2.5)


def test_refused_calls_do_not_count_as_failures(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=2)
    trip(breaker)
    for _ in range(3):
        with pytest.raises(CircuitBreakerOpenError):
            breaker.call(succeed)

    assert breaker.failure_count == 2


def test_open_breaker_stays_open_until_the_timeout_has_passed(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60)
    trip(breaker)
    timeline.advance(59.9)

    assert breaker.state is BreakerState.OPEN


def test_state_reports_half_open_once_the_timeout_has_passed_before_any_call(
    timeline: Timeline,
) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60)
    trip(breaker)
    timeline.advance(60)

    assert breaker.state is BreakerState.HALF_OPEN


def test_freezegun_move_to_turns_an_open_breaker_half_open(frozen_time: FrozenClock) -> None:
    frozen_time.move_to(FROZEN_AT)
    breaker = CircuitBreaker(failure_threshold=1, timeout=30)
    trip(breaker)
    frozen_time.move_to("2024-05-01 12:00:29")
    assert breaker.state is BreakerState.OPEN
    frozen_time.move_to("2024-05-01 12:00:30")
    assert breaker.state is BreakerState.HALF_OPEN


def test_default_clock_reads_time_monotonic_at_each_use(monkeypatch: pytest.MonkeyPatch) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60)
    now = time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: now)
    trip(breaker)
    monkeypatch.setattr(time, "monotonic", lambda: now + 60)

    assert breaker.state is BreakerState.HALF_OPEN


def test_zero_timeout_lets_the_next_call_try_at_once(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=0, clock=clock)
    trip(breaker)

    assert breaker.call(succeed) == "ok"
    assert breaker.state is BreakerState.CLOSED


# --- HALF_OPEN ----------------------------------------------------------------------------------


def test_trial_success_closes_the_breaker(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=2, timeout=60)
    trip(breaker)
    timeline.advance(60)

    assert breaker.call(succeed) == "ok"
    assert breaker.state is BreakerState.CLOSED
    assert breaker.failure_count == 0


def test_trial_failure_reopens_the_breaker_and_restarts_the_timeout(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=2, timeout=60)
    trip(breaker)
    timeline.advance(60)
    trip(breaker, 1)
    timeline.advance(59)

    assert breaker.state is BreakerState.OPEN
    assert breaker.failure_count == 3
    timeline.advance(1)
    assert breaker.state is BreakerState.HALF_OPEN


def test_success_threshold_trial_successes_are_needed_to_close(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60, success_threshold=3)
    trip(breaker)
    timeline.advance(60)
    breaker.call(succeed)
    breaker.call(succeed)

    assert breaker.state is BreakerState.HALF_OPEN
    breaker.call(succeed)
    assert breaker.state is BreakerState.CLOSED


def test_half_open_refuses_calls_beyond_its_trial_slots(clock: FakeClock) -> None:
    breaker = CircuitBreaker(1, timeout=60, name="users.UserService", clock=clock)
    trip(breaker)
    clock.advance(60)

    def trial() -> CircuitBreakerOpenError:
        with pytest.raises(CircuitBreakerOpenError) as raised:
            breaker.call(succeed)
        return raised.value

    refused = breaker.call(trial)

    assert str(refused) == (
        "Circuit breaker 'users.UserService' is half-open and its 1 trial call slot(s) are "
        "taken; retry when a trial call finishes, or in 60.0 s, when the oldest one passes its "
        "trial_timeout of 60 s and frees its slot."
    )
    assert refused.retry_after == 60.0
    assert breaker.state is BreakerState.CLOSED


def test_half_open_trial_slots_are_never_exceeded_under_32_threads(clock: FakeClock) -> None:
    slots = 3
    breaker = CircuitBreaker(
        1, timeout=60, half_open_max_calls=slots, success_threshold=slots, clock=clock
    )
    trip(breaker)
    clock.advance(60)
    start = threading.Barrier(32)
    release = threading.Event()
    guard = threading.Lock()
    running = peak = admitted = refused = 0
    settled = threading.Semaphore(0)

    def trial() -> None:
        nonlocal running, peak, admitted
        with guard:
            running += 1
            admitted += 1
            peak = max(peak, running)
        settled.release()
        release.wait(5)
        with guard:
            running -= 1

    def worker() -> None:
        nonlocal refused
        start.wait(5)
        try:
            breaker.call(trial)
        except CircuitBreakerOpenError:
            with guard:
                refused += 1
            settled.release()

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for thread in threads:
        thread.start()
    for _ in range(32):  # every thread has either entered its trial or been refused
        assert settled.acquire(timeout=5)
    snapshot = breaker.snapshot()
    release.set()
    for thread in threads:
        thread.join(5)

    assert (admitted, refused, peak) == (slots, 32 - slots, slots)
    assert (snapshot.state, snapshot.trial_calls) == (BreakerState.HALF_OPEN, slots)
    assert breaker.state is BreakerState.CLOSED


def run_concurrently(breaker: CircuitBreaker, threads: int, func: Callable[[], object]) -> None:
    """Make ``threads`` calls through ``breaker`` that are all in flight at the same time."""
    together = threading.Barrier(threads)

    def in_flight() -> object:
        together.wait(5)
        return func()

    def worker() -> None:
        with contextlib.suppress(Unavailable):
            breaker.call(in_flight)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(5)


def test_concurrent_failures_are_counted_exactly() -> None:
    breaker = CircuitBreaker(failure_threshold=100)

    run_concurrently(breaker, 32, fail)

    assert breaker.failure_count == 32
    assert breaker.state is BreakerState.CLOSED


def test_concurrent_failures_open_the_breaker_exactly_once() -> None:
    breaker = CircuitBreaker(failure_threshold=10)
    seen = transitions_of(breaker)

    run_concurrently(breaker, 32, fail)

    assert [(t.old, t.new) for t in seen] == [(BreakerState.CLOSED, BreakerState.OPEN)]
    assert breaker.failure_count == 10


def test_lock_is_not_held_while_the_protected_function_runs() -> None:
    breaker = CircuitBreaker()

    def inspect_breaker_from_another_thread() -> None:
        in_thread(breaker.snapshot)

    breaker.call(inspect_breaker_from_another_thread)


class CountingLock:
    """A lock that counts how often it is taken."""

    def __init__(self) -> None:
        self.taken = 0
        self._lock = threading.Lock()

    def __enter__(self) -> bool:
        self.taken += 1
        return self._lock.__enter__()

    def __exit__(self, *exc_info: object) -> None:
        self._lock.__exit__(*exc_info)


def _recovered_by_a_success(clock: FakeClock) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=5, clock=clock)
    trip(breaker, 2)
    breaker.call(succeed)
    return breaker


def _recovered_by_reset(clock: FakeClock) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=5, clock=clock)
    trip(breaker, 2)
    breaker.reset()
    return breaker


def _recovered_by_a_trial_call(clock: FakeClock) -> CircuitBreaker:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, clock=clock)
    trip(breaker)
    clock.advance(60)
    breaker.call(succeed)
    return breaker


@pytest.mark.parametrize(
    "build",
    [
        functools.partial(CircuitBreaker, failure_threshold=5),
        _recovered_by_a_success,
        _recovered_by_reset,
        _recovered_by_a_trial_call,
    ],
    ids=["new", "after-a-success", "after-reset", "after-a-trial-call"],
)
def test_success_through_a_closed_breaker_without_failures_takes_no_lock(
    build: Callable[..., CircuitBreaker], clock: FakeClock
) -> None:
    breaker = build(clock=clock)
    assert (breaker.state, breaker.failure_count) == (BreakerState.CLOSED, 0)
    lock = CountingLock()
    breaker._lock = lock  # type: ignore[assignment]  # the module docstring promises no lock

    assert breaker.call(succeed, "fast") == breaker(succeed)("fast") == "fast"
    assert lock.taken == 0


def test_outcome_of_a_call_admitted_before_the_breaker_opened_is_ignored(
    clock: FakeClock,
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, clock=clock)

    def slow_call_that_fails_after_the_breaker_opened() -> None:
        trip(breaker)
        clock.advance(30)
        fail()

    with pytest.raises(Unavailable):
        breaker.call(slow_call_that_fails_after_the_breaker_opened)

    assert breaker.failure_count == 1
    assert breaker.snapshot().retry_after == 30


def test_late_success_of_a_call_admitted_while_closed_does_not_close_a_half_open_breaker(
    clock: FakeClock,
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, clock=clock)

    def slow_call_outlasting_the_open_period() -> str:
        trip(breaker)
        clock.advance(60)
        assert breaker.state is BreakerState.HALF_OPEN
        return "late"

    assert breaker.call(slow_call_outlasting_the_open_period) == "late"

    snapshot = breaker.snapshot()
    assert (snapshot.state, snapshot.success_count) == (BreakerState.HALF_OPEN, 0)


# --- exclusions ---------------------------------------------------------------------------------


def raise_not_found() -> None:
    raise NotFound("no user 7")


def test_excluded_exception_type_propagates_without_counting() -> None:
    breaker = CircuitBreaker(failure_threshold=1, exclude=(LookupError,))

    with pytest.raises(NotFound):
        breaker.call(raise_not_found)

    assert breaker.failure_count == 0
    assert breaker.state is BreakerState.CLOSED


def test_excluded_predicate_match_propagates_without_counting() -> None:
    breaker = CircuitBreaker(failure_threshold=1, exclude=[lambda exc: "no user" in str(exc)])

    with pytest.raises(NotFound):
        breaker.call(raise_not_found)

    assert breaker.failure_count == 0


def test_errors_no_exclusion_matches_are_failures() -> None:
    breaker = CircuitBreaker(
        failure_threshold=1, exclude=(KeyError, lambda exc: isinstance(exc, NotFound))
    )
    trip(breaker)

    assert breaker.state is BreakerState.OPEN


def test_excluded_error_does_not_reset_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=3, exclude=(NotFound,))
    trip(breaker, 2)
    with pytest.raises(NotFound):
        breaker.call(raise_not_found)

    assert breaker.failure_count == 2


def test_excluded_error_in_half_open_frees_the_trial_slot_and_stays_half_open(
    timeline: Timeline,
) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60, exclude=(NotFound,))
    trip(breaker)
    timeline.advance(60)
    with pytest.raises(NotFound):
        breaker.call(raise_not_found)

    assert breaker.snapshot().trial_calls == 0
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.call(succeed) == "ok"
    assert breaker.state is BreakerState.CLOSED


def test_predicate_that_raises_is_logged_and_the_error_counts_as_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken_predicate(exc: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    breaker = CircuitBreaker(failure_threshold=1, name="users", exclude=(broken_predicate,))
    with caplog.at_level(logging.ERROR, logger="aura.breaker"):
        trip(breaker)

    assert breaker.state is BreakerState.OPEN
    [record] = caplog.records
    assert record.getMessage().startswith("Exclusion predicate <function ")
    assert record.getMessage().endswith(
        "of circuit breaker 'users' raised; Unavailable('users service is down') counts as a "
        "failure."
    )


class Interrupted(BaseException):
    """Stands for KeyboardInterrupt or task cancellation."""


def test_base_exception_frees_the_trial_slot_without_counting(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, clock=clock)
    trip(breaker)
    clock.advance(60)

    def interrupted() -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        breaker.call(interrupted)

    assert breaker.state is BreakerState.HALF_OPEN
    assert (breaker.failure_count, breaker.snapshot().trial_calls) == (1, 0)


def test_interrupted_trial_call_that_outlived_its_phase_frees_nothing(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, clock=clock)
    trip(breaker)
    clock.advance(60)

    def reset_then_interrupted() -> None:
        breaker.reset()
        raise Interrupted

    with pytest.raises(Interrupted):
        breaker.call(reset_then_interrupted)

    assert breaker.snapshot().trial_calls == 0


def test_interrupted_decorated_trial_call_frees_its_slot(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, clock=clock)

    @breaker
    def interrupted() -> None:
        raise Interrupted

    trip(breaker)
    clock.advance(60)
    with pytest.raises(Interrupted):
        interrupted()

    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.snapshot().trial_calls == 0


def test_base_exception_while_closed_counts_nothing() -> None:
    breaker = CircuitBreaker(failure_threshold=1)

    def interrupted() -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        breaker.call(interrupted)

    assert breaker.failure_count == 0


# --- decorator and async ------------------------------------------------------------------------


def test_decorated_function_keeps_its_metadata_and_result() -> None:
    breaker = CircuitBreaker()

    @breaker
    def get_user(user_id: int) -> dict[str, int]:
        """Fetch one user."""
        return {"id": user_id}

    assert get_user(7) == {"id": 7}
    assert (get_user.__name__, get_user.__doc__) == ("get_user", "Fetch one user.")
    assert not inspect.iscoroutinefunction(get_user)


def test_decorated_function_opens_the_breaker_and_is_refused(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=2, timeout=60)
    calls: list[int] = []

    @breaker
    def get_user(user_id: int) -> None:
        calls.append(user_id)
        raise Unavailable("down")

    for user_id in (1, 2):
        with pytest.raises(Unavailable):
            get_user(user_id)
    with pytest.raises(CircuitBreakerOpenError):
        get_user(3)

    assert calls == [1, 2]


def test_decorated_function_is_the_trial_call_of_a_half_open_breaker(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60)
    decorated_succeed = breaker(succeed)
    trip(breaker)
    timeline.advance(60)

    assert decorated_succeed("back") == "back"
    assert breaker.state is BreakerState.CLOSED


def test_decorated_method_receives_self() -> None:
    breaker = CircuitBreaker()

    class UserService:
        @breaker
        def get_user(self, user_id: int) -> tuple[UserService, int]:
            return self, user_id

    service = UserService()
    assert service.get_user(7) == (service, 7)


def test_decorated_coroutine_function_stays_a_coroutine_function() -> None:
    breaker = CircuitBreaker()

    @breaker
    async def get_user(user_id: int) -> int:
        """Fetch one user."""
        return user_id

    assert inspect.iscoroutinefunction(get_user)
    assert (get_user.__name__, get_user.__doc__) == ("get_user", "Fetch one user.")
    assert asyncio.run(get_user(7)) == 7


def test_decorated_coroutine_function_opens_the_breaker_and_is_refused(
    timeline: Timeline,
) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60, name="async")

    @breaker
    async def get_user() -> None:
        raise Unavailable("down")

    async def scenario() -> None:
        with pytest.raises(Unavailable):
            await get_user()
        with pytest.raises(CircuitBreakerOpenError, match=re.escape("'async' is open")):
            await get_user()

    asyncio.run(scenario())
    assert breaker.state is BreakerState.OPEN


def test_decorated_coroutine_function_closes_a_half_open_breaker(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60)

    @breaker
    async def get_user() -> str:
        return "ok"

    trip(breaker)
    timeline.advance(60)

    assert asyncio.run(get_user()) == "ok"
    assert breaker.state is BreakerState.CLOSED


def test_cancelled_decorated_coroutine_frees_its_trial_slot(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, clock=clock)

    @breaker
    async def hang() -> None:
        await asyncio.sleep(10)

    async def scenario() -> None:
        task = asyncio.create_task(hang())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    trip(breaker)
    clock.advance(60)
    asyncio.run(scenario())

    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.snapshot().trial_calls == 0


def test_acall_awaits_and_returns_the_result() -> None:
    breaker = CircuitBreaker()

    async def add(a: int, b: int) -> int:
        return a + b

    assert asyncio.run(breaker.acall(add, 1, b=2)) == 3


def test_acall_counts_failures_and_refuses_when_open(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=2, timeout=60)

    async def down() -> None:
        raise Unavailable("down")

    async def scenario() -> None:
        for _ in range(2):
            with pytest.raises(Unavailable):
                await breaker.acall(down)
        with pytest.raises(CircuitBreakerOpenError):
            await breaker.acall(down)

    asyncio.run(scenario())
    assert breaker.failure_count == 2


def test_acall_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=3)
    trip(breaker, 2)

    async def ok() -> str:
        return "ok"

    asyncio.run(breaker.acall(ok))
    assert breaker.failure_count == 0


def test_acall_trial_success_closes_a_half_open_breaker(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60)
    trip(breaker)
    timeline.advance(60)

    async def ok() -> str:
        return "ok"

    assert asyncio.run(breaker.acall(ok)) == "ok"
    assert breaker.state is BreakerState.CLOSED


def test_acall_cancellation_frees_the_trial_slot(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, clock=clock)

    async def scenario() -> None:
        task = asyncio.create_task(breaker.acall(asyncio.sleep, 10))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    trip(breaker)
    clock.advance(60)
    asyncio.run(scenario())

    assert breaker.snapshot().trial_calls == 0


def test_decorating_something_that_is_not_callable_is_rejected() -> None:
    breaker = CircuitBreaker()

    with pytest.raises(ConfigurationError) as raised:
        breaker(42)  # type: ignore[type-var]

    assert str(raised.value) == (
        "A CircuitBreaker decorates a function, got int 42. Write @breaker above a def or "
        "async def, or use breaker.call(func, ...)."
    )


@pytest.mark.parametrize("method", ["call", "acall"])
def test_calling_something_that_is_not_callable_is_rejected_and_counts_no_failure(
    clock: FakeClock, method: str
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=30, clock=clock)

    def attempt() -> object:
        if method == "call":
            return breaker.call(42)  # type: ignore[arg-type]
        return asyncio.run(breaker.acall(42))  # type: ignore[arg-type]

    with pytest.raises(ConfigurationError) as raised:
        attempt()
    assert str(raised.value) == (
        f"breaker.{method}() calls a function, got int 42. Pass the function first, then its "
        f"arguments: breaker.{method}(func, *args, **kwargs)."
    )
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot().failure_count == 0

    # Half-open, the refused call does not keep the trial slot: the next call is the trial.
    with pytest.raises(Unavailable):
        breaker.call(fail)
    clock.advance(30)
    with pytest.raises(ConfigurationError):
        attempt()
    assert breaker.call(succeed) == "ok"
    assert breaker.state is BreakerState.CLOSED


# --- manual control -----------------------------------------------------------------------------


def test_force_open_refuses_calls_whatever_the_timeout(timeline: Timeline) -> None:
    breaker = timeline.build(timeout=60, name="billing")
    breaker.force_open()
    timeline.advance(3600)

    with pytest.raises(CircuitBreakerOpenError) as raised:
        breaker.call(succeed)

    assert breaker.state is BreakerState.FORCED_OPEN
    assert str(raised.value) == (
        "Circuit breaker 'billing' was forced open; call reset() to close it."
    )
    assert raised.value.retry_after == math.inf


def test_reset_closes_a_forced_open_breaker() -> None:
    breaker = CircuitBreaker()
    breaker.force_open()
    breaker.reset()

    assert breaker.call(succeed) == "ok"
    assert breaker.state is BreakerState.CLOSED


def test_disabled_breaker_lets_every_call_through_and_still_counts_failures() -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    breaker.disable()
    trip(breaker, 5)

    assert breaker.state is BreakerState.DISABLED
    assert breaker.failure_count == 5
    assert breaker.call(succeed) == "ok"
    assert breaker.failure_count == 0


def test_disable_lets_calls_through_an_open_breaker(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, clock=clock)
    trip(breaker)
    breaker.disable()

    assert breaker.call(succeed) == "ok"
    assert breaker.snapshot().opened_at is None


def test_reset_closes_an_open_breaker_and_zeroes_its_counts() -> None:
    breaker = CircuitBreaker(failure_threshold=2)
    trip(breaker)
    breaker.reset()

    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot() == BreakerSnapshot(
        name=breaker.name,
        state=BreakerState.CLOSED,
        failure_count=0,
        success_count=0,
        trial_calls=0,
        retry_after=0.0,
        opened_at=None,
        last_failure_type=None,
        last_failure_message=None,
        last_failure_time=None,
        policy="consecutive",
        window_calls=0,
        slow_calls=0,
        failure_rate=None,
        slow_call_rate=None,
    )


def test_reset_of_a_closed_breaker_zeroes_counts_without_a_transition() -> None:
    breaker = CircuitBreaker(failure_threshold=3)
    seen = transitions_of(breaker)
    trip(breaker, 2)
    breaker.reset()

    assert breaker.failure_count == 0
    assert seen == []


def test_repeated_manual_actions_report_one_transition() -> None:
    breaker = CircuitBreaker()
    seen = transitions_of(breaker)
    breaker.force_open()
    breaker.force_open()
    breaker.disable()
    breaker.disable()

    assert [(t.old, t.new) for t in seen] == [
        (BreakerState.CLOSED, BreakerState.FORCED_OPEN),
        (BreakerState.FORCED_OPEN, BreakerState.DISABLED),
    ]


# --- listeners ----------------------------------------------------------------------------------


def test_listeners_receive_each_transition_in_order(frozen_time: FrozenClock) -> None:
    frozen_time.move_to(FROZEN_AT)
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, name="users")
    seen = transitions_of(breaker)
    error = Unavailable("down")

    def raise_it() -> None:
        raise error

    with pytest.raises(Unavailable):
        breaker.call(raise_it)
    frozen_time.tick(60)
    breaker.call(succeed)

    a_minute_later = datetime(2024, 5, 1, 12, 1, tzinfo=UTC)
    assert seen == [
        BreakerTransition("users", BreakerState.CLOSED, BreakerState.OPEN, FROZEN_AT, error),
        BreakerTransition("users", BreakerState.OPEN, BreakerState.HALF_OPEN, a_minute_later, None),
        BreakerTransition(
            "users", BreakerState.HALF_OPEN, BreakerState.CLOSED, a_minute_later, None
        ),
    ]


def test_failed_trial_reports_the_error_that_reopened_the_breaker(clock: FakeClock) -> None:
    breaker = CircuitBreaker(failure_threshold=1, timeout=60, clock=clock)
    trip(breaker)
    clock.advance(60)
    seen = transitions_of(breaker)
    trip(breaker, 1)

    [to_half_open, to_open] = seen
    assert (to_half_open.new, to_half_open.last_error) == (BreakerState.HALF_OPEN, None)
    assert to_open.new is BreakerState.OPEN
    assert isinstance(to_open.last_error, Unavailable)


def test_listener_that_raises_is_logged_and_the_breaker_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, name="users")
    seen: list[BreakerTransition] = []

    def broken_listener(transition: BreakerTransition) -> None:
        raise RuntimeError("listener bug")

    breaker.add_listener(broken_listener)
    breaker.add_listener(seen.append)
    with caplog.at_level(logging.ERROR, logger="aura.breaker"):
        trip(breaker)

    assert breaker.state is BreakerState.OPEN
    assert [t.new for t in seen] == [BreakerState.OPEN]
    [record] = caplog.records
    assert record.name == "aura.breaker"
    assert re.fullmatch(
        r"Listener <function .*broken_listener at 0x[0-9a-f]+> of circuit breaker 'users' "
        r"raised on CLOSED -> OPEN; ignoring it\.",
        record.getMessage(),
    )
    assert record.exc_info is not None


def test_listeners_run_outside_the_lock() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    snapshots: list[BreakerSnapshot] = []
    breaker.add_listener(lambda transition: snapshots.append(breaker.snapshot()))

    in_thread(lambda: trip(breaker))

    assert [s.state for s in snapshots] == [BreakerState.OPEN]


def test_add_listener_returns_the_listener_so_it_can_decorate() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    seen: list[BreakerState] = []

    @breaker.add_listener
    def record(transition: BreakerTransition) -> None:
        seen.append(transition.new)

    trip(breaker)

    assert callable(record)
    assert seen == [BreakerState.OPEN]


def test_removed_listener_is_no_longer_called() -> None:
    breaker = CircuitBreaker(failure_threshold=1)
    seen: list[BreakerTransition] = []
    breaker.add_listener(seen.append)
    breaker.remove_listener(seen.append)
    trip(breaker)

    assert seen == []


def test_removing_an_unknown_listener_is_rejected() -> None:
    breaker = CircuitBreaker(name="users")

    def never_added(transition: BreakerTransition) -> None:
        raise AssertionError("never called")

    message = (
        "Listener the function test_removing_an_unknown_listener_is_rejected.<locals>."
        "never_added is not registered on circuit breaker 'users'. Pass the same object given "
        "to add_listener()."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        breaker.remove_listener(never_added)


def test_adding_a_listener_that_is_not_callable_is_rejected() -> None:
    breaker = CircuitBreaker()

    with pytest.raises(ConfigurationError) as raised:
        breaker.add_listener("print")  # type: ignore[type-var]

    assert str(raised.value) == (
        "A breaker listener must be callable as listener(transition), got str 'print'. "
        "Pass a function taking a BreakerTransition."
    )


# --- snapshot -----------------------------------------------------------------------------------


def test_snapshot_of_an_open_breaker_describes_it_for_health_checks(
    frozen_time: FrozenClock,
) -> None:
    frozen_time.move_to(FROZEN_AT)
    breaker = CircuitBreaker(failure_threshold=2, timeout=60, name="users")
    trip(breaker)
    frozen_time.tick(15)
    snapshot = breaker.snapshot()

    assert snapshot == BreakerSnapshot(
        name="users",
        state=BreakerState.OPEN,
        failure_count=2,
        success_count=0,
        trial_calls=0,
        retry_after=45.0,
        opened_at=FROZEN_AT,
        last_failure_type="tests.unit.test_breaker.Unavailable",
        last_failure_message="users service is down",
        last_failure_time=FROZEN_AT.timestamp(),
        policy="consecutive",
        window_calls=0,
        slow_calls=0,
        failure_rate=None,
        slow_call_rate=None,
    )


def test_snapshot_names_builtin_failure_types_without_module() -> None:
    breaker = CircuitBreaker()
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)

    assert breaker.snapshot().last_failure_type == "ZeroDivisionError"


def test_snapshot_turns_an_expired_open_breaker_half_open(timeline: Timeline) -> None:
    breaker = timeline.build(failure_threshold=1, timeout=60)
    trip(breaker)
    timeline.advance(60)

    snapshot = breaker.snapshot()

    assert (snapshot.state, snapshot.retry_after) == (BreakerState.HALF_OPEN, 0.0)
    assert snapshot.opened_at is not None


def test_snapshot_of_a_forced_open_breaker_never_expects_a_retry() -> None:
    breaker = CircuitBreaker()
    breaker.force_open()

    assert breaker.snapshot().retry_after == math.inf


def test_snapshot_is_frozen() -> None:
    snapshot = CircuitBreaker().snapshot()

    with pytest.raises(dataclasses.FrozenInstanceError):
        snapshot.failure_count = 3  # type: ignore[misc]

"""A HALF_OPEN trial call that hangs cannot block its breaker.

A trial call holds its slot for ``trial_timeout`` seconds at most (the reset ``timeout`` unless
given). Past it the next call is let through as a new trial, and the old one's late result or
error is ignored; meanwhile refusals carry the seconds until that deadline, never 0. Real
threads and real time: what must have expired is waited out (1 s at most), and what must not
has 0.4 s or more to spare when it is looked at, for a loaded machine's pauses.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from aura.breaker import BreakerState, CircuitBreaker
from aura.exceptions import CircuitBreakerOpenError, ConfigurationError


class Down(ConnectionError):
    """The failure of the fake dependency."""


def fail() -> str:
    raise Down("users service is down")


def succeed() -> str:
    return "ok"


class Interrupted(BaseException):
    """Stands for KeyboardInterrupt or a cancellation."""


class HungTrial:
    """A call through the breaker, on its own thread, that runs until the test releases it."""

    def __init__(self, breaker: CircuitBreaker, outcome: Callable[[], str] = lambda: "late"):
        self.breaker = breaker
        self.outcome = outcome
        self.entered = threading.Event()
        self.release = threading.Event()
        self.ended: list[object] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        def body() -> str:
            self.entered.set()
            self.release.wait(5)
            return self.outcome()

        try:
            self.ended.append(self.breaker.call(body))
        except BaseException as exc:
            self.ended.append(exc)

    def start(self) -> HungTrial:
        self.thread.start()
        assert self.entered.wait(10), "the trial call was not let through"
        return self

    def finish(self) -> object:
        self.release.set()
        self.thread.join(10)
        return self.ended[0]


@pytest.fixture
def hung() -> Iterator[Callable[..., HungTrial]]:
    """Start hung trial calls; each is released at the end of the test."""
    started: list[HungTrial] = []

    def start(breaker: CircuitBreaker, outcome: Callable[[], str] = lambda: "late") -> HungTrial:
        trial = HungTrial(breaker, outcome).start()
        started.append(trial)
        return trial

    yield start
    for trial in started:
        trial.release.set()


def half_open(**options: object) -> CircuitBreaker:
    """A breaker tripped by one failure and waited out: its next call is a trial."""
    breaker = CircuitBreaker(1, timeout=0.05, name="users.UserService", **options)  # type: ignore[arg-type]
    with pytest.raises(Down):
        breaker.call(fail)
    time.sleep(0.06)
    assert breaker.state is BreakerState.HALF_OPEN
    return breaker


def refusal(breaker: CircuitBreaker) -> CircuitBreakerOpenError:
    with pytest.raises(CircuitBreakerOpenError) as refused:
        breaker.call(succeed)
    return refused.value


# --- sync ----------------------------------------------------------------------------------------


def test_while_a_trial_runs_refusals_say_when_its_slot_frees(
    hung: Callable[..., HungTrial],
) -> None:
    breaker = half_open(trial_timeout=5.0)  # never waited out: only its remainder is read
    hung(breaker)

    refused = refusal(breaker)

    shown = math.ceil(refused.retry_after * 10) / 10  # rounded up: retrying then is not early
    assert 4.0 < refused.retry_after <= 5.0
    assert str(refused) == (
        "Circuit breaker 'users.UserService' is half-open and its 1 trial call slot(s) are "
        f"taken; retry when a trial call finishes, or in {shown:.1f} s, when the oldest one "
        "passes its trial_timeout of 5 s and frees its slot."
    )


def test_past_its_trial_timeout_a_hung_trial_gives_its_slot_to_the_next_call(
    hung: Callable[..., HungTrial],
) -> None:
    breaker = half_open(trial_timeout=0.2)
    hung(breaker)
    refusal(breaker)

    time.sleep(0.2)

    assert breaker.call(succeed) == "ok"
    assert breaker.state is BreakerState.CLOSED


def test_a_hung_trials_late_failure_does_not_reopen_the_breaker(
    hung: Callable[..., HungTrial],
) -> None:
    breaker = half_open(trial_timeout=0.2)
    late = hung(breaker, fail)
    time.sleep(0.2)
    breaker.call(succeed)

    assert isinstance(late.finish(), Down)  # its caller still gets its error
    assert (breaker.state, breaker.failure_count) == (BreakerState.CLOSED, 0)


def test_a_hung_trials_late_success_does_not_close_the_breaker_for_the_new_trial(
    hung: Callable[..., HungTrial],
) -> None:
    breaker = half_open(trial_timeout=0.5)  # the new trial's slot must outlast what follows
    late = hung(breaker)
    time.sleep(0.5)
    new = hung(breaker, fail)  # the new trial, still running

    assert late.finish() == "late"
    assert (breaker.state, breaker.snapshot().trial_calls) == (BreakerState.HALF_OPEN, 1)
    assert isinstance(new.finish(), Down)
    assert breaker.state is BreakerState.OPEN  # the new trial's verdict is the one that counts


def test_a_hung_trial_interrupted_late_frees_no_one_elses_slot(
    hung: Callable[..., HungTrial],
) -> None:
    def interrupted() -> str:
        raise Interrupted

    breaker = half_open(trial_timeout=0.5)  # the new trial's slot must outlast what follows
    late = hung(breaker, interrupted)
    time.sleep(0.5)
    hung(breaker)  # the new trial holds the only slot

    assert isinstance(late.finish(), Interrupted)
    assert refusal(breaker).retry_after > 0


def test_retry_after_counts_from_the_oldest_trial(hung: Callable[..., HungTrial]) -> None:
    breaker = half_open(trial_timeout=1.0, half_open_max_calls=2, success_threshold=2)
    hung(breaker)
    time.sleep(0.5)
    hung(breaker)

    assert 0 < refusal(breaker).retry_after <= 0.5
    time.sleep(0.55)  # the oldest is past its deadline, the newer not for 0.45 s more
    hung(breaker)
    assert refusal(breaker).retry_after > 0


def test_the_snapshot_shows_the_wait_and_frees_an_expired_slot(
    hung: Callable[..., HungTrial],
) -> None:
    breaker = half_open(trial_timeout=0.5)
    hung(breaker)
    during = breaker.snapshot()
    time.sleep(0.5)
    after = breaker.snapshot()

    assert (during.trial_calls, 0 < during.retry_after <= 0.5) == (1, True)
    assert (after.state, after.trial_calls, after.retry_after) == (BreakerState.HALF_OPEN, 0, 0.0)


def test_an_infinite_trial_timeout_keeps_the_slot_until_the_trial_ends(
    hung: Callable[..., HungTrial],
) -> None:
    breaker = half_open(trial_timeout=math.inf)
    trial = hung(breaker)
    time.sleep(0.1)

    refused = refusal(breaker)
    assert refused.retry_after == math.inf
    assert str(refused) == (
        "Circuit breaker 'users.UserService' is half-open and its 1 trial call slot(s) are "
        "taken; retry when a trial call finishes."
    )
    assert trial.finish() == "late"
    assert breaker.state is BreakerState.CLOSED


# --- async ---------------------------------------------------------------------------------------


def test_a_hung_async_trial_gives_its_slot_to_the_next_call_and_is_ignored_late() -> None:
    breaker = half_open(trial_timeout=0.5)

    async def main() -> tuple[float, str, BreakerState, str, BreakerState]:
        release = asyncio.Event()
        entered = asyncio.Event()

        async def hang() -> str:
            entered.set()
            await release.wait()
            raise Down("too late")

        async def ok() -> str:
            return "ok"

        late = asyncio.create_task(breaker.acall(hang))
        await entered.wait()
        with pytest.raises(CircuitBreakerOpenError) as refused:
            await breaker.acall(ok)
        await asyncio.sleep(0.5)
        answer = await breaker.acall(ok)
        closed = breaker.state
        release.set()
        with pytest.raises(Down) as late_error:
            await late
        return refused.value.retry_after, answer, closed, str(late_error.value), breaker.state

    retry_after, answer, closed, late_error, final = asyncio.run(main())

    assert 0 < retry_after <= 0.5
    assert (answer, closed, late_error, final) == (
        "ok",
        BreakerState.CLOSED,
        "too late",
        BreakerState.CLOSED,
    )


# --- configuration -------------------------------------------------------------------------------


def test_the_trial_timeout_defaults_to_the_reset_timeout() -> None:
    assert CircuitBreaker(timeout=30).trial_timeout == 30
    assert CircuitBreaker(timeout=30, trial_timeout=5).trial_timeout == 5


def test_a_fresh_copy_keeps_the_trial_timeout() -> None:
    assert CircuitBreaker(timeout=30, trial_timeout=5).fresh().trial_timeout == 5


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "10",
            "trial_timeout must be a number of seconds, got str '10'. Pass how many seconds a "
            "half-open trial call may run before the next call replaces it, e.g. "
            "trial_timeout=10, or None for the breaker's timeout.",
        ),
        (
            -1,
            "trial_timeout must be a number >= 0 or math.inf, got -1. Pass how many seconds a "
            "half-open trial call may run before the next call replaces it, e.g. "
            "trial_timeout=10, or None for the breaker's timeout.",
        ),
        (
            math.nan,
            "trial_timeout must be a number >= 0 or math.inf, got nan. Pass how many seconds a "
            "half-open trial call may run before the next call replaces it, e.g. "
            "trial_timeout=10, or None for the breaker's timeout.",
        ),
    ],
)
def test_a_bad_trial_timeout_is_refused(given: object, message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        CircuitBreaker(trial_timeout=given)  # type: ignore[arg-type]
    assert str(caught.value) == message

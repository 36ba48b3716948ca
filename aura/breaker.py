"""CircuitBreaker: fail fast while a dependency is down, then let a few trial calls test it.

Its length (~1280 lines) is the seed's breaker plus its sync, async and decorator drivers, kept
side by side (not shared) for speed, and the four counting policies; the accounting they drive
is written once.

A breaker is CLOSED while calls pass; its ``policy`` decides which failures open it:

* ``"consecutive"`` (the default): ``failure_threshold`` failures in a row; a success starts the
  count again.
* ``"since_reset"``: ``failure_threshold`` failures since the breaker last closed or was reset,
  whatever succeeded in between: the seed's breaker, down to its strict timeout.
* :class:`SlidingCountWindow` and :class:`SlidingTimeWindow`: the failure rate, and the rate of
  slow calls, of the last N calls or of the calls of the last N seconds, as resilience4j's
  sliding windows judge them.

An OPEN breaker refuses calls with :class:`~aura.exceptions.CircuitBreakerOpenError` until
``timeout`` seconds have passed (strictly more than ``timeout`` under ``"since_reset"``, as in the
seed); it is then HALF_OPEN and lets at most ``half_open_max_calls`` trial calls run at once.
``success_threshold`` trial successes close it and clear its counts; one trial failure (or slow
trial call, when the policy counts slow calls) opens it again and restarts the timeout. A trial
call still running ``trial_timeout`` seconds after it was let through (the reset ``timeout`` by
default) gives up its slot: the next call is let through as a new trial, and the late outcome of
the old one is ignored, so a trial that hangs cannot keep the breaker refusing forever.

Transitions are atomic under a :class:`threading.Lock` that is never held while the protected
function runs. A call through a CLOSED breaker is let through without the lock: it reads one
attribute (and the clock, when the policy times calls). A success takes no lock either when the
policy says it changes nothing: under ``"consecutive"`` while no failure is pending, under
``"since_reset"`` always. Two shortcut attributes, kept in step with the phase and the counts by
every change made under the lock, make those two reads. A sliding window records every outcome,
so a success through it takes the lock.

What a call may do and what its outcome changes is written once, in ``_admit``, ``_succeeded``
and ``_failed``; :meth:`~CircuitBreaker.call`, :meth:`~CircuitBreaker.acall` and the two
decorator wrappers only drive them around the protected function. What each policy counts is
written once too, in the ``_Tally`` subclasses.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import count
from typing import Any, Literal, ParamSpec, TypeAlias, TypeVar, cast

from aura.exceptions import CircuitBreakerOpenError, ConfigurationError

__all__ = [
    "BreakerPolicy",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerTransition",
    "CircuitBreaker",
    "Exclusion",
    "Listener",
    "SlidingCountWindow",
    "SlidingTimeWindow",
]

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_logger = logging.getLogger("aura.breaker")
_unnamed = count(1)


class BreakerState(StrEnum):
    """The state of a circuit breaker; each value is its own name, as in the seed."""

    CLOSED = "CLOSED"  # calls pass; the policy counts their outcomes
    OPEN = "OPEN"  # calls are refused until the timeout has passed
    HALF_OPEN = "HALF_OPEN"  # a few trial calls decide between CLOSED and OPEN
    FORCED_OPEN = "FORCED_OPEN"  # force_open(): calls are refused until reset()
    DISABLED = "DISABLED"  # disable(): calls always pass; outcomes are counted, never acted on


_CLOSED = BreakerState.CLOSED
_OPEN = BreakerState.OPEN
_HALF_OPEN = BreakerState.HALF_OPEN
_FORCED_OPEN = BreakerState.FORCED_OPEN
_DISABLED = BreakerState.DISABLED


# --- policies -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlidingCountWindow:
    """Open the breaker on the failure rate of the last ``size`` calls: resilience4j's COUNT_BASED
    sliding window.

    Once the window holds ``minimum_calls`` calls (``None``: ``size``), each outcome recorded
    while CLOSED, success or failure, opens the breaker when the percentage of failed calls in
    the window is ``failure_rate`` or more. With ``slow_call_duration`` (seconds), a call that
    takes longer than that is also *slow*, whether it succeeds or fails, and a slow-call
    percentage of ``slow_call_rate`` or more (``None``: 100) opens the breaker too. Without it
    calls are not timed and the clock is not read.

    A policy holds settings only, so one may be shared by many breakers; each breaker keeps its
    own window, cleared when it closes or is reset.
    """

    size: int
    _: KW_ONLY
    failure_rate: float = 50.0
    minimum_calls: int | None = None
    slow_call_duration: float | None = None
    slow_call_rate: float | None = None

    def __post_init__(self) -> None:
        size = _check_count("size", self.size, "most recent calls the window judges", 100)
        _check_window(self, size if self.minimum_calls is None else self.minimum_calls)
        if self.minimum_calls is not None and self.minimum_calls > size:
            raise ConfigurationError(
                f"minimum_calls must be at most size ({size}), got {self.minimum_calls}: a "
                f"window of {size} calls never holds {self.minimum_calls}. Pass "
                f"minimum_calls={size} or less, or a larger size."
            )


@dataclass(frozen=True, slots=True)
class SlidingTimeWindow:
    """Open the breaker on the failure rate of the calls of the last ``seconds`` seconds:
    resilience4j's TIME_BASED sliding window.

    The window's calls are counted per whole second of the breaker's clock, as resilience4j
    counts them per epoch second: a call leaves the window once the clock's whole second is
    ``seconds`` past the call's. Once the window holds ``minimum_calls`` calls, each outcome
    recorded while CLOSED opens the breaker when the percentage of failed calls is
    ``failure_rate`` or more, or, with ``slow_call_duration``, when the percentage of calls that
    took longer than that is ``slow_call_rate`` or more (``None``: 100), as in
    :class:`SlidingCountWindow`.
    """

    seconds: int
    _: KW_ONLY
    failure_rate: float = 50.0
    minimum_calls: int = 100
    slow_call_duration: float | None = None
    slow_call_rate: float | None = None

    def __post_init__(self) -> None:
        _check_count("seconds", self.seconds, "seconds the window looks back", 60)
        _check_window(self, self.minimum_calls)


BreakerPolicy: TypeAlias = (
    Literal["consecutive", "since_reset"] | SlidingCountWindow | SlidingTimeWindow
)
"""How a breaker counts the failures that open it: ``"consecutive"``, ``"since_reset"`` or a
sliding window (:class:`SlidingCountWindow`, :class:`SlidingTimeWindow`)."""

_Window: TypeAlias = SlidingCountWindow | SlidingTimeWindow


class _Tally(ABC):
    """The counts a policy keeps for one breaker, changed under the breaker's lock.

    ``failures``, ``calls`` and ``slow`` are those of the last outcome recorded; a time window
    also drops the calls that left it when told the time (:meth:`view`).
    """

    __slots__ = ("calls", "failures", "slow")

    success_may_quiet = False
    """Whether a success may make :meth:`quiet` true, so the breaker's shortcuts need refreshing."""

    def __init__(self) -> None:
        self.failures = 0
        self.calls = 0
        self.slow = 0

    @abstractmethod
    def record(self, failed: bool, slow: bool, now: float) -> bool:
        """Count one outcome at clock reading ``now``; return whether a CLOSED breaker opens."""

    def clear(self) -> None:
        """Forget every outcome: the breaker closed or was reset."""
        self.failures = self.calls = self.slow = 0

    def quiet(self) -> bool:
        """Whether a success would change nothing now, so that it may skip the lock."""
        return False

    def view(self, now: float) -> tuple[int, int, int]:
        """Return ``(failures, calls, slow)`` as of clock reading ``now``."""
        return self.failures, self.calls, self.slow

    def rates(self) -> tuple[float | None, float | None]:
        """Return the failure and slow-call percentages; ``None`` where the policy has none."""
        return None, None


class _Consecutive(_Tally):
    __slots__ = ("threshold",)

    success_may_quiet = True

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def record(self, failed: bool, slow: bool, now: float) -> bool:
        self.failures = self.failures + 1 if failed else 0
        return self.failures >= self.threshold

    def quiet(self) -> bool:
        return not self.failures


class _SinceReset(_Tally):
    __slots__ = ("threshold",)

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def record(self, failed: bool, slow: bool, now: float) -> bool:
        if failed:
            self.failures += 1
        return self.failures >= self.threshold

    def quiet(self) -> bool:
        return True


class _Rates(_Tally):
    """A sliding window's verdict: the failure and slow-call rates against their thresholds."""

    __slots__ = ("failure_rate", "minimum_calls", "slow_call_rate")

    def __init__(self, failure_rate: float, minimum_calls: int, slow_call_rate: float) -> None:
        super().__init__()
        self.failure_rate = failure_rate
        self.minimum_calls = minimum_calls
        self.slow_call_rate = slow_call_rate  # math.inf when calls are not timed

    def exceeded(self) -> bool:
        """Whether the window holds enough calls and a rate of them is at its threshold."""
        calls = self.calls
        if calls < self.minimum_calls:
            return False
        return (
            self.failures * 100 / calls >= self.failure_rate
            or self.slow * 100 / calls >= self.slow_call_rate
        )

    def rates(self) -> tuple[float | None, float | None]:
        calls = self.calls
        if calls < self.minimum_calls:
            return None, None
        timed = self.slow_call_rate != math.inf
        return self.failures * 100 / calls, self.slow * 100 / calls if timed else None


class _CountWindow(_Rates):
    """The last ``size`` outcomes in a ring, each ``failed | slow << 1``, and their totals."""

    __slots__ = ("next", "ring", "size")

    def __init__(self, size: int, failure_rate: float, minimum: int, slow_rate: float) -> None:
        super().__init__(failure_rate, minimum, slow_rate)
        self.size = size
        self.ring = [0] * size
        self.next = 0

    def record(self, failed: bool, slow: bool, now: float) -> bool:
        ring, index = self.ring, self.next
        if self.calls == self.size:  # full: the oldest outcome, at index, leaves
            oldest = ring[index]
            if oldest:
                self.failures -= oldest & 1
                self.slow -= oldest >> 1
        else:
            self.calls += 1
        if failed or slow:
            ring[index] = failed | slow << 1
            self.failures += failed
            self.slow += slow
        else:
            ring[index] = 0
        self.next = index + 1 if index + 1 < self.size else 0
        return self.exceeded()

    def clear(self) -> None:
        super().clear()
        self.ring = [0] * self.size
        self.next = 0


class _TimeWindow(_Rates):
    """Per-second buckets of ``(calls, failures, slow)`` in a ring, and their totals.

    ``newest`` is the whole second of the clock of the newest bucket (``None`` while empty);
    second ``s`` is counted in bucket ``s % seconds``.
    """

    __slots__ = ("buckets", "newest", "size")

    def __init__(self, seconds: int, failure_rate: float, minimum: int, slow_rate: float) -> None:
        super().__init__(failure_rate, minimum, slow_rate)
        self.size = seconds
        self.buckets = [[0, 0, 0] for _ in range(seconds)]
        self.newest: int | None = None

    def record(self, failed: bool, slow: bool, now: float) -> bool:
        second = math.floor(now)
        if second != self.newest:
            second = self._advance(second)
        bucket = self.buckets[second % self.size]
        bucket[0] += 1
        self.calls += 1
        if failed or slow:
            bucket[1] += failed
            bucket[2] += slow
            self.failures += failed
            self.slow += slow
        return self.exceeded()

    def view(self, now: float) -> tuple[int, int, int]:
        self._advance(math.floor(now))
        return self.failures, self.calls, self.slow

    def clear(self) -> None:
        super().clear()
        self.buckets = [[0, 0, 0] for _ in range(self.size)]
        self.newest = None

    def _advance(self, second: int) -> int:
        """Empty the buckets of the seconds that left the window by whole second ``second`` of
        the clock; return the second to count an outcome then in (the newest, if the clock went
        back)."""
        newest = self.newest
        if newest is None:
            self.newest = second
            return second
        if second <= newest:
            return newest
        size = self.size
        for passed in range(newest + 1, newest + 1 + min(second - newest, size)):
            bucket = self.buckets[passed % size]
            self.calls -= bucket[0]
            self.failures -= bucket[1]
            self.slow -= bucket[2]
            bucket[0] = bucket[1] = bucket[2] = 0
        self.newest = second
        return second


def _tally_for(policy: BreakerPolicy, failure_threshold: int) -> _Tally:
    if isinstance(policy, str):
        if policy == "since_reset":
            return _SinceReset(failure_threshold)
        return _Consecutive(failure_threshold)
    if policy.slow_call_duration is None:
        slow_rate = math.inf  # calls are not timed: none is slow
    else:
        slow_rate = 100.0 if policy.slow_call_rate is None else policy.slow_call_rate
    if isinstance(policy, SlidingCountWindow):
        minimum = policy.size if policy.minimum_calls is None else policy.minimum_calls
        return _CountWindow(policy.size, policy.failure_rate, minimum, slow_rate)
    return _TimeWindow(policy.seconds, policy.failure_rate, policy.minimum_calls, slow_rate)


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """One change of a breaker's state, as given to its listeners.

    ``at`` is the wall-clock time of the change as an aware UTC datetime, so traces line up with
    logs whatever clock drives the timeout. ``last_error`` is the failure that caused the change
    (CLOSED or HALF_OPEN to OPEN), or ``None`` when none did.
    """

    name: str
    old: BreakerState
    new: BreakerState
    at: datetime
    last_error: BaseException | None


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """A consistent, read-only view of one breaker, for health endpoints and logs.

    ``failure_count`` is the policy's count (:attr:`CircuitBreaker.failure_count`);
    ``success_count`` counts the trial successes of the current HALF_OPEN phase; ``trial_calls``
    is the number of trial calls running now. ``retry_after`` is the number of seconds until
    calls are let through again (once *more* than that has passed, under ``"since_reset"``):
    ``0.0`` unless the breaker is open or every trial slot is held, ``math.inf`` when it was
    forced open. While HALF_OPEN with every slot held, it is the seconds until the oldest trial
    call's ``trial_timeout`` passes (``math.inf`` if that is infinite); ``trial_calls`` counts
    only the trials still within it. ``opened_at`` is when the breaker last opened, kept while it
    is OPEN, HALF_OPEN or FORCED_OPEN.
    ``last_failure_time`` is the wall-clock time (:func:`time.time`) of the last failure counted.

    ``policy`` is the breaker's. Under a sliding window, ``window_calls`` and ``slow_calls`` count
    the calls in the window and the slow ones among them, and ``failure_rate`` and
    ``slow_call_rate`` are their percentages, ``None`` while the window holds fewer than its
    ``minimum_calls`` (``slow_call_rate`` also when the window does not time calls). Under the
    other policies they are ``0`` and ``None``.
    """

    name: str
    state: BreakerState
    failure_count: int
    success_count: int
    trial_calls: int
    retry_after: float
    opened_at: datetime | None
    last_failure_type: str | None
    last_failure_message: str | None
    last_failure_time: float | None = None
    policy: BreakerPolicy = "consecutive"
    window_calls: int = 0
    slow_calls: int = 0
    failure_rate: float | None = None
    slow_call_rate: float | None = None


Exclusion: TypeAlias = type[BaseException] | Callable[[BaseException], bool]
"""An exception type, or a predicate ``(exc) -> bool``, naming errors that are not failures."""

Listener: TypeAlias = Callable[[BreakerTransition], object]
"""A callable told of each state transition of a breaker."""

L = TypeVar("L", bound=Listener)


class _Phase:
    """One stretch of time in one state. A call remembers the phase that admitted it, and its
    outcome counts only if that phase is still current (compared by identity)."""

    __slots__ = ("state",)

    def __init__(self, state: BreakerState) -> None:
        self.state = state


class _Timed:
    """A call admitted by ``phase`` under a policy that times calls, and when it started."""

    __slots__ = ("phase", "started")

    def __init__(self, phase: _Phase, started: float) -> None:
        self.phase = phase
        self.started = started


class _Trial(_Timed):
    """A trial call admitted in HALF_OPEN, and when it started; its outcome counts only while
    it still holds its slot (it loses it once ``trial_timeout`` has passed)."""

    __slots__ = ()


_Admission: TypeAlias = _Phase | _Timed
"""What a driver holds while its call runs: the admitting phase, with its start if timed (a
trial call is always timed, against its deadline)."""


def _monotonic() -> float:
    """Read ``time.monotonic`` afresh on each call, so freezegun and monkeypatch can steer it."""
    return time.monotonic()


class CircuitBreaker:
    """Protects calls to a dependency that may fail: fail fast while it is down, retry carefully.

    Use it with :meth:`call`, :meth:`acall`, or as a decorator on sync or async functions::

        breaker = CircuitBreaker(failure_threshold=5, timeout=60, name="users.UserService")
        user = breaker.call(users.get_user, 7)

        @breaker
        async def fetch_profile(user_id: int) -> Profile: ...

    Every :class:`Exception` raised by the protected function counts as a failure, except those
    matched by ``exclude`` (exception types or predicates ``(exc) -> bool``). An excluded error
    propagates and counts neither as a failure nor as a success: it leaves the failure count as
    it is and, in HALF_OPEN, frees its trial slot without closing the breaker. A
    :class:`BaseException` that is not an :class:`Exception` (cancellation, ``KeyboardInterrupt``)
    is treated the same way.

    ``policy`` decides which failures open the breaker (see :data:`BreakerPolicy`):
    ``"consecutive"`` (the default) counts failures in a row and ``failure_threshold`` of them
    open it; ``"since_reset"`` counts them since the breaker last closed or was reset, as the
    seed's breaker does, and waits strictly more than ``timeout`` seconds before a trial call;
    :class:`SlidingCountWindow` and :class:`SlidingTimeWindow` open it on the failure rate or the
    slow-call rate of a window of recent calls, and do not use ``failure_threshold``. Whatever
    the policy, HALF_OPEN is judged the same way: ``success_threshold`` trial successes close the
    breaker and clear its counts; one failed trial call, or slow one if the policy times calls,
    opens it again.

    ``trial_timeout`` (seconds; ``None``: the reset ``timeout``) is how long a trial call may
    hold its slot. Past it, the trial is presumed hung: its slot goes to the next call, as a new
    trial, and whatever the old one returns or raises later is ignored. While every slot is held,
    calls are refused with a ``retry_after`` of the seconds until the oldest trial's deadline.
    ``math.inf`` keeps a slot until its trial ends, however long that takes.

    ``clock`` returns seconds (``time.monotonic`` by default, read at each use); it drives the
    timeout and the sliding windows. Transitions reached by the passing of time are applied by
    whoever notices first: a call, :attr:`state` or :meth:`snapshot`.
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_closed_phase",
        "_exclude_predicates",
        "_exclude_types",
        "_failure_threshold",
        "_half_open_max_calls",
        "_last_failure",
        "_last_failure_time",
        "_listeners",
        "_lock",
        "_name",
        "_opened_at",
        "_opened_clock",
        "_outcome_time",
        "_phase",
        "_policy",
        "_quiet_phase",
        "_slow_after",
        "_strict_timeout",
        "_success_count",
        "_success_threshold",
        "_tally",
        "_timeout",
        "_times_calls",
        "_trial_timeout",
        "_trials",
    )

    def __init__(
        self,
        failure_threshold: int = 5,
        timeout: float = 60,
        *,
        name: str | None = None,
        success_threshold: int = 1,
        half_open_max_calls: int = 1,
        exclude: Iterable[Exclusion] = (),
        clock: Callable[[], float] | None = None,
        policy: BreakerPolicy = "consecutive",
        trial_timeout: float | None = None,
    ) -> None:
        self._failure_threshold = _check_count(
            "failure_threshold", failure_threshold, "consecutive failures that open the breaker", 5
        )
        self._timeout = _check_timeout(timeout)
        self._trial_timeout = (
            self._timeout if trial_timeout is None else _check_trial_timeout(trial_timeout)
        )
        self._name = f"breaker-{next(_unnamed)}" if name is None else _check_name(name)
        self._success_threshold = _check_count(
            "success_threshold", success_threshold, "trial successes that close the breaker", 1
        )
        self._half_open_max_calls = _check_count(
            "half_open_max_calls", half_open_max_calls, "trial calls let through at once", 1
        )
        self._exclude_types, self._exclude_predicates = _split_exclusions(exclude)
        if clock is not None and not callable(clock):
            raise ConfigurationError(
                f"clock must be a callable returning seconds as a float, like time.monotonic; "
                f"got {_describe(clock)}. Pass e.g. clock=time.monotonic, or leave it out."
            )
        self._clock: Callable[[], float] = _monotonic if clock is None else clock
        self._policy = policy = _check_policy(policy)
        self._tally = _tally_for(policy, self._failure_threshold)
        # What the policy needs of the clock: at the start of each call (slow calls), at its end
        # (slow calls, time windows); and whether waiting exactly `timeout` is enough.
        slow_after = None if isinstance(policy, str) else policy.slow_call_duration
        self._times_calls = slow_after is not None
        self._slow_after = math.inf if slow_after is None else slow_after
        self._outcome_time = self._times_calls or isinstance(policy, SlidingTimeWindow)
        self._strict_timeout = policy == "since_reset"
        self._lock = threading.Lock()
        self._phase = _Phase(_CLOSED)
        self._success_count = 0
        self._trials: list[_Trial] = []  # the trial calls holding a slot, oldest first
        self._opened_clock = 0.0  # clock reading when the breaker last opened
        self._opened_at: datetime | None = None
        self._last_failure: tuple[str, str] | None = None  # (type, message)
        self._last_failure_time: float | None = None
        self._listeners: tuple[Listener, ...] = ()  # replaced, never mutated: read lock-free
        # The lock-free shortcuts, derived from _phase and _tally by _refresh_locked().
        self._closed_phase: _Phase | None = None  # the current phase if CLOSED: no lock to pass
        self._quiet_phase: _Phase | None = None  # ...and a success changes no count: a no-op
        self._refresh_locked()

    # --- configuration and state --------------------------------------------------------------

    # Read-only properties of one shape: each is public API with its own docstring.
    @property
    def name(self) -> str:
        """The name shown in errors, transitions and snapshots."""
        return self._name

    @property
    def failure_threshold(self) -> int:
        """How many failures open the breaker, in a row or since the last reset (the policy's).

        The sliding windows judge rates instead and do not use it.
        """
        return self._failure_threshold

    @property
    def timeout(self) -> float:
        """How many seconds an OPEN breaker waits before letting a trial call through."""
        return self._timeout

    @property
    def trial_timeout(self) -> float:
        """How many seconds a HALF_OPEN trial call holds its slot before the next call may
        replace it (``math.inf``: until it ends)."""
        return self._trial_timeout

    @property
    def policy(self) -> BreakerPolicy:
        """How the breaker counts the failures that open it, as given to the constructor."""
        return self._policy

    @property
    def failure_count(self) -> int:
        """The failures the policy counts now.

        Under ``"consecutive"``, the failures in a row since the last success, close or reset;
        under ``"since_reset"``, every failure since the breaker last closed or was reset, as in
        the seed; under a sliding window, the failed calls in the window. Trial failures in
        HALF_OPEN add to it; closing the breaker sets it to 0.
        """
        if isinstance(self._policy, SlidingTimeWindow):  # calls leave the window as time passes
            with self._lock:
                return self._tally.view(self._clock())[0]
        return self._tally.failures

    @property
    def last_failure_time(self) -> float | None:
        """When the last failure counted happened, as :func:`time.time` (``None``: none yet).

        Wall-clock seconds since the epoch, as the seed's attribute of that name, so that it can
        be shown and compared with logs; the timeout is measured on ``clock`` (monotonic unless
        given), which a change of the wall clock does not move. :meth:`reset` forgets it.
        """
        return self._last_failure_time

    @property
    def state(self) -> BreakerState:
        """The current state; HALF_OPEN as soon as the timeout has passed, even before a call."""
        phase = self._phase
        if phase.state is not _OPEN:
            return phase.state
        with self._lock:
            transition = self._expire_locked(self._clock())
            state = self._phase.state
        self._notify(transition)
        return state

    def snapshot(self) -> BreakerSnapshot:
        """Return a consistent view of the breaker's state and counts."""
        with self._lock:
            now = self._clock()
            transition = self._expire_locked(now)
            state = self._phase.state
            if state is _OPEN:
                retry_after = self._timeout - (now - self._opened_clock)
            elif state is _HALF_OPEN:
                retry_after = self._trial_wait_locked(now)
            else:
                retry_after = math.inf if state is _FORCED_OPEN else 0.0
            failure_type, failure_message = self._last_failure or (None, None)
            failures, calls, slow = self._tally.view(now)
            failure_rate, slow_call_rate = self._tally.rates()
            snapshot = BreakerSnapshot(
                name=self._name,
                state=state,
                failure_count=failures,
                success_count=self._success_count,
                trial_calls=len(self._trials),
                retry_after=retry_after,
                opened_at=self._opened_at,
                last_failure_type=failure_type,
                last_failure_message=failure_message,
                last_failure_time=self._last_failure_time,
                policy=self._policy,
                window_calls=calls,
                slow_calls=slow,
                failure_rate=failure_rate,
                slow_call_rate=slow_call_rate,
            )
        self._notify(transition)
        return snapshot

    def __repr__(self) -> str:
        tally, policy = self._tally, self._policy
        if not isinstance(policy, str):
            counts = f"failures={tally.failures} in {tally.calls} calls"
        else:
            since = " since reset" if policy == "since_reset" else ""
            counts = f"failures={tally.failures}/{self._failure_threshold}{since}"
        return f"<CircuitBreaker {self._name!r} {self._phase.state.value} {counts}>"

    # --- protected calls ----------------------------------------------------------------------

    # call(), acall() and the two wrappers of __call__() are the same six lines, with and
    # without await: the logic they drive is in _admit(), _failed() and _succeeded(). Each
    # calls func(*args) when no keyword was given: an empty **kwargs costs a tenth of a call.

    def call(self, func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``func(*args, **kwargs)`` through the breaker and return its result.

        Raises :class:`~aura.exceptions.CircuitBreakerOpenError` without calling ``func`` when the
        breaker refuses the call; otherwise whatever ``func`` raises propagates unchanged.
        """
        phase = self._closed_phase or self._admit()
        try:
            result = func(*args, **kwargs) if kwargs else func(*args)  # type: ignore[call-arg]
        except BaseException as exc:
            if not callable(func):  # asked only once the call failed: free on the hot path
                self._release(phase)
                raise _not_callable("call", func) from None
            self._failed(phase, exc)
            raise
        return result if phase is self._quiet_phase else self._succeeded(phase, result)

    async def acall(
        self, func: Callable[P, Awaitable[T]], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Await ``func(*args, **kwargs)`` through the breaker and return its result.

        The asynchronous twin of :meth:`call`: the same admission, counting and errors.
        """
        phase = self._closed_phase or self._admit()
        try:
            result = await (func(*args, **kwargs) if kwargs else func(*args))  # type: ignore[call-arg]
        except BaseException as exc:
            if not callable(func):
                self._release(phase)
                raise _not_callable("acall", func) from None
            self._failed(phase, exc)
            raise
        return result if phase is self._quiet_phase else self._succeeded(phase, result)

    def __call__(self, func: F) -> F:
        """Decorate ``func`` so that each call goes through the breaker.

        Whether ``func`` is ``async def`` is decided once, here; the wrapper keeps its metadata.
        """
        if not callable(func):
            raise ConfigurationError(
                f"A CircuitBreaker decorates a function, got {_describe(func)}. "
                f"Write @breaker above a def or async def, or use breaker.call(func, ...)."
            )
        # The wrappers drive the breaker themselves rather than through call() or acall():
        # the extra frame and argument repacking would double the cost of guarding a no-op.
        breaker = self
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                phase = breaker._closed_phase or breaker._admit()
                try:
                    result = await (func(*args, **kwargs) if kwargs else func(*args))
                except BaseException as exc:
                    breaker._failed(phase, exc)
                    raise
                return (
                    result if phase is breaker._quiet_phase else breaker._succeeded(phase, result)
                )

            return cast(F, async_wrapper)

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            phase = breaker._closed_phase or breaker._admit()
            try:
                result = func(*args, **kwargs) if kwargs else func(*args)
            except BaseException as exc:
                breaker._failed(phase, exc)
                raise
            return result if phase is breaker._quiet_phase else breaker._succeeded(phase, result)

        return cast(F, wrapper)

    # --- manual control -----------------------------------------------------------------------

    def force_open(self) -> None:
        """Refuse every call, whatever the timeout, until :meth:`reset` is called."""
        with self._lock:
            transition = self._move_locked(_FORCED_OPEN)
        self._notify(transition)

    def disable(self) -> None:
        """Let every call through until :meth:`reset`; failures are counted, never acted on."""
        with self._lock:
            transition = self._move_locked(_DISABLED)
        self._notify(transition)

    def reset(self) -> None:
        """Close the breaker and forget its counts and last failure, as if newly built."""
        with self._lock:
            transition = self._move_locked(_CLOSED)
            self._tally.clear()
            self._success_count = 0
            self._last_failure = None
            self._last_failure_time = None
            self._refresh_locked()
        self._notify(transition)

    # --- copies -------------------------------------------------------------------------------

    def fresh(self) -> CircuitBreaker:
        """Return a new breaker with this one's configuration and none of its state.

        The copy has the same failure and success thresholds, timeout, trial timeout, name,
        policy, exclusions, clock and half-open limit, and the listeners added so far. It starts
        CLOSED, with no counts, no last failure and no trial call in flight.

        A breaker *instance* given to a module declaration
        (``module.add_service(..., breaker=CircuitBreaker(...))``) is copied with this for
        each platform built from it. The declaration lasts as long as the process and every
        test builds its own platform from it, so a shared breaker would carry one test's
        failures, or its OPEN state, into the next. The listeners come along because they
        were added to the declaration's breaker as configuration (alerting, metrics): they
        hear every copy's transitions. A listener added to a copy stays on that copy. A
        subclass whose ``__init__`` takes other arguments overrides ``fresh()``; otherwise
        its declaration is refused and asks for a factory.
        """
        copy = type(self)(
            self._failure_threshold,
            self._timeout,
            name=self._name,
            success_threshold=self._success_threshold,
            half_open_max_calls=self._half_open_max_calls,
            exclude=(*self._exclude_types, *self._exclude_predicates),
            clock=None if self._clock is _monotonic else self._clock,
            policy=self._policy,
            trial_timeout=self._trial_timeout,
        )
        copy._listeners = self._listeners
        return copy

    # --- listeners ----------------------------------------------------------------------------

    def add_listener(self, listener: L) -> L:
        """Call ``listener(transition)`` after each state transition; return it, for decorating.

        Listeners run outside the lock, in the thread that caused the transition. One that raises
        is logged on the ``aura.breaker`` logger and does not affect the breaker.
        """
        if not callable(listener):
            raise ConfigurationError(
                f"A breaker listener must be callable as listener(transition), "
                f"got {_describe(listener)}. Pass a function taking a BreakerTransition."
            )
        with self._lock:
            self._listeners = (*self._listeners, listener)
        return listener

    def remove_listener(self, listener: Listener) -> None:
        """Stop calling ``listener``; raise ``ValueError`` if it was not added."""
        with self._lock:
            listeners = list(self._listeners)
            try:
                listeners.remove(listener)
            except ValueError:
                raise ConfigurationError(
                    f"Listener {_describe(listener)} is not registered on circuit breaker "
                    f"{self._name!r}. Pass the same object given to add_listener()."
                ) from None
            self._listeners = tuple(listeners)

    # --- internals ----------------------------------------------------------------------------

    def _admit(self) -> _Admission:
        """Let a call through or refuse it; in HALF_OPEN, take a trial slot for it.

        Return the phase that admitted the call (with the clock reading, if the policy times
        calls, or if it is a trial), to give to :meth:`_succeeded` or :meth:`_failed` when it
        ends. Calls through a CLOSED breaker skip it and take ``_closed_phase``, unless the
        policy times them.
        """
        if self._times_calls:
            phase = self._phase
            if phase.state is _CLOSED:  # as the lock-free path, plus the clock
                return _Timed(phase, self._clock())
        transition: BreakerTransition | None = None
        refusal: CircuitBreakerOpenError | None = None
        trial: _Trial | None = None
        with self._lock:
            state = self._phase.state
            if state is _OPEN:
                now = self._clock()
                if self._waited_locked(now):
                    transition = self._move_locked(_HALF_OPEN)
                    state = _HALF_OPEN
                else:
                    left = self._timeout - (now - self._opened_clock)
                    refusal = self._refusal("is open", f"retry in {self._delay(left):.1f} s.", left)
            if state is _HALF_OPEN:
                trial, refusal = self._take_trial_slot_locked()
            elif state is _FORCED_OPEN:
                refusal = self._refusal("was forced open", "call reset() to close it.", math.inf)
            phase = self._phase
        self._notify(transition)
        if refusal is not None:
            raise refusal
        if trial is not None:
            return trial
        return _Timed(phase, self._clock()) if self._times_calls else phase

    def _take_trial_slot_locked(self) -> tuple[_Trial | None, CircuitBreakerOpenError | None]:
        """Give a call a trial slot, once those whose trial timed out are freed; or, when every
        slot is held, the refusal to raise."""
        now = self._clock()
        wait = self._trial_wait_locked(now)
        if not wait:
            trial = _Trial(self._phase, now)
            self._trials.append(trial)
            return trial, None
        why = f"is half-open and its {self._half_open_max_calls} trial call slot(s) are taken"
        if wait == math.inf:
            return None, self._refusal(why, "retry when a trial call finishes.", wait)
        advice = (
            f"retry when a trial call finishes, or in {math.ceil(wait * 10) / 10:.1f} s, when "
            f"the oldest one passes its trial_timeout of {self._trial_timeout:g} s and frees its "
            "slot."
        )
        return None, self._refusal(why, advice, wait)

    def _trial_wait_locked(self, now: float) -> float:
        """Free the slots of trials past their deadline; return the seconds until the oldest
        remaining trial's deadline when every slot is held, else 0."""
        deadline = self._trial_timeout
        trials = self._trials
        if trials:
            self._trials = trials = [t for t in trials if now - t.started < deadline]
        if len(trials) < self._half_open_max_calls:
            return 0.0
        return deadline - (now - min(t.started for t in trials))

    def _end_trial_locked(self, admitted: _Admission) -> bool:
        """Free the trial slot ``admitted`` holds; return whether it still held one (it lost it
        if its trial timed out, and then its outcome says nothing)."""
        trials = self._trials
        for index, trial in enumerate(trials):
            if trial is admitted:
                del trials[index]
                return True
        return False

    def _delay(self, left: float) -> float:
        """The wait shown for ``left`` seconds: rounded up to a tenth, so that retrying at the
        time shown is never too early (past it, under the strict timeout of "since_reset")."""
        tenths = left * 10
        return (math.floor(tenths) + 1 if self._strict_timeout else math.ceil(tenths)) / 10

    def _refusal(self, why: str, advice: str, retry_after: float) -> CircuitBreakerOpenError:
        return CircuitBreakerOpenError(
            f"Circuit breaker {self._name!r} {why}; {advice}",
            breaker_name=self._name,
            retry_after=retry_after,
        )

    def _succeeded(self, admitted: _Admission, result: T) -> T:
        """Count the success of a call admitted by ``admitted``; return its ``result``."""
        # The clock is read outside the lock: when the call ended, and how long it took. (Written
        # out here and in _failed: a helper's call would cost a window ~10% of its success.)
        if isinstance(admitted, _Timed):
            phase = admitted.phase
            now = self._clock()
            slow = now - admitted.started > self._slow_after
        else:
            phase = admitted
            now = self._clock() if self._outcome_time else 0.0
            slow = False
        tally = self._tally
        with self._lock:
            if self._phase is not phase:
                return result  # admitted by an earlier phase: its outcome no longer says anything
            state = phase.state
            if state is _HALF_OPEN:
                if not self._end_trial_locked(admitted):
                    return result  # it ran past its trial_timeout: another trial took its slot
                transition = self._trial_succeeded_locked(slow, now)
            elif tally.record(False, slow, now) and state is _CLOSED:
                transition = self._move_locked(_OPEN)  # a window's rate reached its threshold
            else:
                if tally.success_may_quiet:
                    self._refresh_locked()
                return result
        self._notify(transition)
        return result

    def _trial_succeeded_locked(self, slow: bool, now: float) -> BreakerTransition | None:
        if slow:  # the dependency answers, but still too slowly
            self._tally.record(False, True, now)
            return self._move_locked(_OPEN)
        self._success_count += 1
        if self._success_count >= self._success_threshold:
            return self._move_locked(_CLOSED)
        return None

    def _failed(self, admitted: _Admission, exc: BaseException) -> None:
        """Count a call admitted by ``admitted`` that raised ``exc``, unless it is no failure."""
        if not isinstance(exc, Exception) or self._is_excluded(exc):
            self._release(admitted)
            return
        if isinstance(admitted, _Timed):
            phase = admitted.phase
            now = self._clock()
            slow = now - admitted.started > self._slow_after
        else:
            phase = admitted
            now = self._clock() if self._outcome_time else 0.0
            slow = False
        failure = (_qualified_name(type(exc)), str(exc))  # user __str__ runs outside the lock
        failed_at = time.time()
        transition = None
        with self._lock:
            if self._phase is not phase:
                return
            if phase.state is _HALF_OPEN and not self._end_trial_locked(admitted):
                return  # it ran past its trial_timeout: another trial took its slot
            opens = self._tally.record(True, slow, now)
            self._last_failure = failure
            self._last_failure_time = failed_at
            if phase.state is _HALF_OPEN or (phase.state is _CLOSED and opens):
                transition = self._move_locked(_OPEN, exc)
            else:
                self._refresh_locked()
        self._notify(transition)

    def _is_excluded(self, exc: Exception) -> bool:
        if isinstance(exc, self._exclude_types):
            return True
        for predicate in self._exclude_predicates:
            try:
                if predicate(exc):
                    return True
            except Exception:
                _logger.exception(
                    "Exclusion predicate %r of circuit breaker %r raised; %r counts as a failure.",
                    predicate,
                    self._name,
                    exc,
                )
        return False

    def _release(self, admitted: _Admission) -> None:
        """Free the trial slot of a call that ended without a verdict (excluded, interrupted)."""
        phase = admitted.phase if isinstance(admitted, _Timed) else admitted
        if phase.state is not _HALF_OPEN:
            return
        with self._lock:
            if self._phase is phase:
                self._end_trial_locked(admitted)

    def _waited_locked(self, now: float) -> bool:
        """Whether an OPEN breaker has waited its timeout at clock reading ``now``: ``timeout``
        seconds, or strictly more under "since_reset" (the seed's ``elapsed > timeout``)."""
        waited = now - self._opened_clock
        return waited > self._timeout if self._strict_timeout else waited >= self._timeout

    def _expire_locked(self, now: float) -> BreakerTransition | None:
        if self._phase.state is _OPEN and self._waited_locked(now):
            return self._move_locked(_HALF_OPEN)
        return None

    def _move_locked(
        self, new: BreakerState, error: BaseException | None = None
    ) -> BreakerTransition | None:
        """Enter a new phase in state ``new``; the caller holds the lock and notifies after."""
        old = self._phase.state
        if new is old:
            return None
        self._phase = _Phase(new)
        self._trials = []
        self._success_count = 0
        at = datetime.now(UTC)
        if new is _OPEN:
            self._opened_clock = self._clock()
        if new is _OPEN or new is _FORCED_OPEN:
            self._opened_at = at
        elif new is not _HALF_OPEN:
            self._opened_at = None
            if new is _CLOSED:
                self._tally.clear()
        self._refresh_locked()
        return BreakerTransition(self._name, old, new, at, error)

    def _refresh_locked(self) -> None:
        """Derive the lock-free shortcuts from the phase and counts just changed.

        Called under the lock (or before the breaker is shared) after each change of either, so
        that a call reading one shortcut sees the state of a moment, as reading both would. A
        policy that times calls has no CLOSED shortcut: its calls read the clock in ``_admit``.
        """
        phase = self._phase
        closed = phase if phase.state is _CLOSED and not self._times_calls else None
        self._closed_phase = closed
        self._quiet_phase = closed if closed is not None and self._tally.quiet() else None

    def _notify(self, transition: BreakerTransition | None) -> None:
        if transition is None:
            return
        for listener in self._listeners:
            try:
                listener(transition)
            except Exception:
                _logger.exception(
                    "Listener %r of circuit breaker %r raised on %s -> %s; ignoring it.",
                    listener,
                    self._name,
                    transition.old.value,
                    transition.new.value,
                )


# --- argument checks ----------------------------------------------------------------------------


def _not_callable(method: str, func: object) -> ConfigurationError:
    """The refusal of ``breaker.call(func)`` when ``func`` is no function: no failure is counted."""
    return ConfigurationError(
        f"breaker.{method}() calls a function, got {_describe(func)}. Pass the function first, "
        f"then its arguments: breaker.{method}(func, *args, **kwargs)."
    )


def _describe(value: object) -> str:
    if isinstance(value, type):
        return f"the class {value.__qualname__}"
    qualname = getattr(value, "__qualname__", None)
    if callable(value) and isinstance(qualname, str):
        return f"the function {qualname}"
    return f"{type(value).__name__} {value!r}"


def _qualified_name(cls: type) -> str:
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _check_count(param: str, value: object, meaning: str, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(
            f"{param} must be an int, got {_describe(value)}. "
            f"Pass the number of {meaning}, e.g. {param}={example}."
        )
    if value < 1:
        raise ConfigurationError(
            f"{param} must be at least 1, got {value}. "
            f"Pass the number of {meaning}, e.g. {param}={example}."
        )
    return value


def _check_policy(policy: object) -> BreakerPolicy:
    if isinstance(policy, SlidingCountWindow | SlidingTimeWindow):
        return policy
    if isinstance(policy, str) and policy in ("consecutive", "since_reset"):
        return cast(BreakerPolicy, policy)
    if policy is SlidingCountWindow or policy is SlidingTimeWindow:
        fix = f"Build one: policy={policy.__name__}({100 if policy is SlidingCountWindow else 60})."
    else:
        fix = "Pass e.g. policy='since_reset' or policy=SlidingCountWindow(100)."
    raise ConfigurationError(
        f"policy must be 'consecutive', 'since_reset', a SlidingCountWindow or a "
        f"SlidingTimeWindow, got {_describe(policy)}. {fix}"
    )


def _check_window(window: _Window, minimum_calls: object) -> None:
    """Check the settings a count and a time window share (the window's size is checked)."""
    _check_count("minimum_calls", minimum_calls, "calls recorded before a rate is judged", 10)
    _check_rate("failure_rate", window.failure_rate, "failed calls", 50)
    duration = window.slow_call_duration
    if duration is not None:
        advice = "Pass how many seconds make a call slow, e.g. slow_call_duration=2.0."
        if isinstance(duration, bool) or not isinstance(duration, int | float):
            raise ConfigurationError(
                f"slow_call_duration must be a number of seconds, got {_describe(duration)}. "
                f"{advice}"
            )
        if not (math.isfinite(duration) and duration > 0):
            raise ConfigurationError(
                f"slow_call_duration must be a finite number > 0, got {duration!r}. {advice}"
            )
    if window.slow_call_rate is not None:
        if duration is None:
            raise ConfigurationError(
                f"slow_call_rate={window.slow_call_rate!r} needs slow_call_duration, the seconds "
                f"above which a call is slow. Pass both, e.g. slow_call_duration=2.0, "
                f"slow_call_rate=50."
            )
        _check_rate("slow_call_rate", window.slow_call_rate, "slow calls", 100)


def _check_rate(param: str, value: object, calls: str, example: int) -> None:
    advice = f"Pass the percentage of {calls} that opens the breaker, e.g. {param}={example}."
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(f"{param} must be a percentage, got {_describe(value)}. {advice}")
    if not 0 < value <= 100:
        raise ConfigurationError(
            f"{param} must be a percentage above 0 and at most 100, got {value!r}. {advice}"
        )


def _check_timeout(value: object) -> float:
    advice = "Pass how many seconds the breaker stays open before a trial call, e.g. timeout=60."
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(
            f"timeout must be a number of seconds, got {_describe(value)}. {advice}"
        )
    if not (math.isfinite(value) and value >= 0):
        raise ConfigurationError(f"timeout must be a finite number >= 0, got {value!r}. {advice}")
    return value


def _check_trial_timeout(value: object) -> float:
    advice = (
        "Pass how many seconds a half-open trial call may run before the next call replaces it, "
        "e.g. trial_timeout=10, or None for the breaker's timeout."
    )
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(
            f"trial_timeout must be a number of seconds, got {_describe(value)}. {advice}"
        )
    if math.isnan(value) or value < 0:
        raise ConfigurationError(
            f"trial_timeout must be a number >= 0 or math.inf, got {value!r}. {advice}"
        )
    return value


def _check_name(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(
            f"name must be a str, got {_describe(value)}. "
            f"Pass the name shown in errors and health checks, e.g. name='users.UserService'."
        )
    if not value:
        raise ConfigurationError(
            "name must not be empty. "
            "Pass the name shown in errors and health checks, e.g. name='users.UserService'."
        )
    return value


def _split_exclusions(
    exclude: object,
) -> tuple[tuple[type[BaseException], ...], tuple[Callable[[BaseException], bool], ...]]:
    example = "e.g. exclude=(KeyError, is_business_error)"
    single = isinstance(exclude, type) or callable(exclude)
    if single or isinstance(exclude, str | bytes) or not isinstance(exclude, Iterable):
        if single:
            name = getattr(exclude, "__qualname__", "predicate")
            hint = f"Wrap a single one in a tuple: exclude=({name},)."
        else:
            hint = f"Pass a tuple, {example}."
        raise ConfigurationError(
            f"exclude must be a tuple of exception types or predicates (exc) -> bool, "
            f"got {_describe(exclude)}. {hint}"
        )
    types: list[type[BaseException]] = []
    predicates: list[Callable[[BaseException], bool]] = []
    for index, item in enumerate(exclude):
        if isinstance(item, type) and issubclass(item, BaseException):
            types.append(item)
        elif callable(item) and not isinstance(item, type):
            predicates.append(item)
        else:
            what = _describe(item) + (
                ", which is not an exception" if isinstance(item, type) else ""
            )
            raise ConfigurationError(
                f"exclude[{index}] must be an exception type or a predicate (exc) -> bool, "
                f"got {what}. Pass {example}."
            )
    return tuple(types), tuple(predicates)

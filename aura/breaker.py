"""CircuitBreaker: fail fast while a dependency is down, then let a few trial calls test it.

Its length (~670 lines) is the seed's breaker plus its sync, async and decorator drivers, kept
side by side (not shared) for speed; the accounting they drive is written once.

A breaker is CLOSED while calls succeed and counts consecutive failures; ``failure_threshold`` of
them open it. An OPEN breaker refuses calls with :class:`~aura.exceptions.CircuitBreakerOpenError`
until ``timeout`` seconds have passed; it is then HALF_OPEN and lets at most
``half_open_max_calls`` trial calls run at once. ``success_threshold`` trial successes close it;
one trial failure opens it again and restarts the timeout.

Transitions are atomic under a :class:`threading.Lock` that is never held while the protected
function runs. A successful call through a CLOSED breaker with no failures pending takes no lock
at all: it reads one attribute before the call and one after it, two shortcuts that every change
made under the lock keeps in step with the phase and the failure count.

What a call may do and what its outcome changes is written once, in ``_admit``, ``_succeeded``
and ``_failed``; :meth:`~CircuitBreaker.call`, :meth:`~CircuitBreaker.acall` and the two
decorator wrappers only drive them around the protected function.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from itertools import count
from typing import Any, ParamSpec, TypeAlias, TypeVar, cast

from aura.exceptions import CircuitBreakerOpenError, ConfigurationError

__all__ = [
    "BreakerSnapshot",
    "BreakerState",
    "BreakerTransition",
    "CircuitBreaker",
    "Exclusion",
    "Listener",
]

P = ParamSpec("P")
T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_logger = logging.getLogger("aura.breaker")
_unnamed = count(1)


class BreakerState(StrEnum):
    """The state of a circuit breaker; each value is its own name, as in the seed."""

    CLOSED = "CLOSED"  # calls pass; consecutive failures are counted
    OPEN = "OPEN"  # calls are refused until the timeout has passed
    HALF_OPEN = "HALF_OPEN"  # a few trial calls decide between CLOSED and OPEN
    FORCED_OPEN = "FORCED_OPEN"  # force_open(): calls are refused until reset()
    DISABLED = "DISABLED"  # disable(): calls always pass; failures are counted, never acted on


_CLOSED = BreakerState.CLOSED
_OPEN = BreakerState.OPEN
_HALF_OPEN = BreakerState.HALF_OPEN
_FORCED_OPEN = BreakerState.FORCED_OPEN
_DISABLED = BreakerState.DISABLED


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

    ``failure_count`` counts consecutive failures; ``success_count`` counts the trial successes of
    the current HALF_OPEN phase; ``trial_calls`` is the number of trial calls running now.
    ``retry_after`` is the number of seconds until calls are let through again: ``0.0`` unless
    the breaker is open, ``math.inf`` when it was forced open. ``opened_at`` is when the breaker
    last opened, kept while it is OPEN, HALF_OPEN or FORCED_OPEN.
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

    ``clock`` returns seconds (``time.monotonic`` by default, read at each use); it drives the
    timeout only. Transitions reached by the passing of time are applied by whoever notices first:
    a call, :attr:`state` or :meth:`snapshot`.
    """

    __slots__ = (
        "__weakref__",
        "_clock",
        "_closed_phase",
        "_exclude_predicates",
        "_exclude_types",
        "_failure_count",
        "_failure_threshold",
        "_half_open_max_calls",
        "_last_failure",
        "_listeners",
        "_lock",
        "_name",
        "_opened_at",
        "_phase",
        "_quiet_phase",
        "_retry_at",
        "_success_count",
        "_success_threshold",
        "_timeout",
        "_trial_calls",
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
    ) -> None:
        self._failure_threshold = _check_count(
            "failure_threshold", failure_threshold, "consecutive failures that open the breaker", 5
        )
        self._timeout = _check_timeout(timeout)
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
        self._lock = threading.Lock()
        self._phase = _Phase(_CLOSED)
        self._failure_count = 0
        self._success_count = 0
        self._trial_calls = 0
        self._retry_at = 0.0  # clock reading from which an OPEN breaker turns HALF_OPEN
        self._opened_at: datetime | None = None
        self._last_failure: tuple[str, str] | None = None  # (type, message)
        self._listeners: tuple[Listener, ...] = ()  # replaced, never mutated: read lock-free
        # The lock-free shortcuts, derived from _phase and _failure_count by _refresh_locked().
        self._closed_phase: _Phase | None = None  # the current phase if CLOSED: no lock to pass
        self._quiet_phase: _Phase | None = None  # ...and no failures counted: a success is a no-op
        self._refresh_locked()

    # --- configuration and state --------------------------------------------------------------

    # Four read-only properties of one shape: each is public API with its own docstring.
    @property
    def name(self) -> str:
        """The name shown in errors, transitions and snapshots."""
        return self._name

    @property
    def failure_threshold(self) -> int:
        """How many consecutive failures open the breaker."""
        return self._failure_threshold

    @property
    def timeout(self) -> float:
        """How many seconds an OPEN breaker waits before letting a trial call through."""
        return self._timeout

    @property
    def failure_count(self) -> int:
        """The number of consecutive failures since the last success or reset."""
        return self._failure_count

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
                retry_after = self._retry_at - now
            else:
                retry_after = math.inf if state is _FORCED_OPEN else 0.0
            failure_type, failure_message = self._last_failure or (None, None)
            snapshot = BreakerSnapshot(
                name=self._name,
                state=state,
                failure_count=self._failure_count,
                success_count=self._success_count,
                trial_calls=self._trial_calls,
                retry_after=retry_after,
                opened_at=self._opened_at,
                last_failure_type=failure_type,
                last_failure_message=failure_message,
            )
        self._notify(transition)
        return snapshot

    def __repr__(self) -> str:
        return (
            f"<CircuitBreaker {self._name!r} {self._phase.state.value} "
            f"failures={self._failure_count}/{self._failure_threshold}>"
        )

    # --- protected calls ----------------------------------------------------------------------

    # call(), acall() and the two wrappers of __call__() are the same six lines, with and
    # without await: the logic they drive is in _admit(), _failed() and _succeeded().

    def call(self, func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Call ``func(*args, **kwargs)`` through the breaker and return its result.

        Raises :class:`~aura.exceptions.CircuitBreakerOpenError` without calling ``func`` when the
        breaker refuses the call; otherwise whatever ``func`` raises propagates unchanged.
        """
        phase = self._closed_phase or self._admit()
        try:
            result = func(*args, **kwargs)
        except BaseException as exc:
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
            result = await func(*args, **kwargs)
        except BaseException as exc:
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
                    result = await func(*args, **kwargs)
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
                result = func(*args, **kwargs)
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
            self._failure_count = 0
            self._success_count = 0
            self._last_failure = None
            self._refresh_locked()
        self._notify(transition)

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

    def _admit(self) -> _Phase:
        """Let a call through or refuse it; in HALF_OPEN, take a trial slot for it.

        Return the phase that admitted the call, to give to :meth:`_succeeded` or :meth:`_failed`
        when it ends. Calls through a CLOSED breaker skip it and take ``_closed_phase``.
        """
        transition: BreakerTransition | None = None
        refusal: CircuitBreakerOpenError | None = None
        with self._lock:
            state = self._phase.state
            if state is _OPEN:
                now = self._clock()
                if now < self._retry_at:
                    refusal = self._refusal("is open", self._retry_at - now)
                else:
                    transition = self._move_locked(_HALF_OPEN)
                    state = _HALF_OPEN
            if state is _HALF_OPEN:
                if self._trial_calls < self._half_open_max_calls:
                    self._trial_calls += 1
                else:
                    refusal = self._refusal(
                        f"is half-open and its {self._half_open_max_calls} trial call slot(s) "
                        f"are taken",
                        0.0,
                    )
            elif state is _FORCED_OPEN:
                refusal = self._refusal("was forced open", math.inf)
            phase = self._phase
        self._notify(transition)
        if refusal is not None:
            raise refusal
        return phase

    def _refusal(self, why: str, retry_after: float) -> CircuitBreakerOpenError:
        if retry_after == math.inf:
            advice = "call reset() to close it."
        elif retry_after:
            # Rounded up, so that retrying at the time shown is never too early.
            advice = f"retry in {math.ceil(retry_after * 10) / 10:.1f} s."
        else:
            advice = "retry when a trial call finishes."
        return CircuitBreakerOpenError(
            f"Circuit breaker {self._name!r} {why}; {advice}",
            breaker_name=self._name,
            retry_after=retry_after,
        )

    def _succeeded(self, phase: _Phase, result: T) -> T:
        """Count the success of a call admitted by ``phase``; return its ``result``."""
        transition = None
        with self._lock:
            if self._phase is not phase:
                return result  # admitted by an earlier phase: its outcome no longer says anything
            if phase.state is _HALF_OPEN:
                self._trial_calls -= 1
                self._success_count += 1
                if self._success_count >= self._success_threshold:
                    transition = self._move_locked(_CLOSED)
            else:
                self._failure_count = 0
                self._refresh_locked()
        self._notify(transition)
        return result

    def _failed(self, phase: _Phase, exc: BaseException) -> None:
        """Count a call admitted by ``phase`` that raised ``exc``, unless it is no failure."""
        if not isinstance(exc, Exception) or self._is_excluded(exc):
            self._release(phase)
            return
        failure = (_qualified_name(type(exc)), str(exc))  # user __str__ runs outside the lock
        transition = None
        with self._lock:
            if self._phase is not phase:
                return
            self._failure_count += 1
            self._last_failure = failure
            self._refresh_locked()
            if phase.state is _HALF_OPEN or (
                phase.state is _CLOSED and self._failure_count >= self._failure_threshold
            ):
                transition = self._move_locked(_OPEN, exc)
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

    def _release(self, phase: _Phase) -> None:
        """Free the trial slot of a call that ended without a verdict (excluded, interrupted)."""
        if phase.state is not _HALF_OPEN:
            return
        with self._lock:
            if self._phase is phase:
                self._trial_calls -= 1

    def _expire_locked(self, now: float) -> BreakerTransition | None:
        if self._phase.state is _OPEN and now >= self._retry_at:
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
        self._trial_calls = 0
        self._success_count = 0
        at = datetime.now(UTC)
        if new is _OPEN:
            self._retry_at = self._clock() + self._timeout
        if new is _OPEN or new is _FORCED_OPEN:
            self._opened_at = at
        elif new is not _HALF_OPEN:
            self._opened_at = None
            if new is _CLOSED:
                self._failure_count = 0
        self._refresh_locked()
        return BreakerTransition(self._name, old, new, at, error)

    def _refresh_locked(self) -> None:
        """Derive the lock-free shortcuts from the phase and failure count just changed.

        Called under the lock (or before the breaker is shared) after each change of either, so
        that a call reading one shortcut sees the state of a moment, as reading both would.
        """
        phase = self._phase
        closed = phase if phase.state is _CLOSED else None
        self._closed_phase = closed
        self._quiet_phase = None if self._failure_count else closed

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


def _check_timeout(value: object) -> float:
    advice = "Pass how many seconds the breaker stays open before a trial call, e.g. timeout=60."
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigurationError(
            f"timeout must be a number of seconds, got {_describe(value)}. {advice}"
        )
    if not (math.isfinite(value) and value >= 0):
        raise ConfigurationError(f"timeout must be a finite number >= 0, got {value!r}. {advice}")
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

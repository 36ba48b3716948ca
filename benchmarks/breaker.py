"""A call through a CLOSED circuit breaker, sync and async: aura against the breaker libraries.

The protected function does nothing, so what is measured is the breaker's own cost per call:
aura's under each of its counting policies, the default (``"consecutive"``) first.
"""

from __future__ import annotations

from collections.abc import Callable

import circuitbreaker
import purgatory
import pybreaker

from aura.breaker import BreakerPolicy, CircuitBreaker, SlidingCountWindow, SlidingTimeWindow
from benchmarks.core import Area, Case, Namespace, Target, noop

__all__ = ["AREA"]

_SYNC = "breaker, sync"
_ASYNC = "breaker, async"
_POLICIES = "breaker policies, sync"
_PEER = "circuitbreaker with"
_FASTEST = f"{_SYNC} / {_PEER}"  # the fastest peer, sync

# Each policy as a user would write it; the slow-call variants time every call.
_POLICY_FORMS: tuple[tuple[str, BreakerPolicy], ...] = (
    ('policy="since_reset"', "since_reset"),
    ("SlidingCountWindow(100)", SlidingCountWindow(100)),
    (
        "SlidingCountWindow(100, slow_call_duration=1)",
        SlidingCountWindow(100, slow_call_duration=1),
    ),
    ("SlidingTimeWindow(60)", SlidingTimeWindow(60)),
    ("SlidingTimeWindow(60, slow_call_duration=1)", SlidingTimeWindow(60, slow_call_duration=1)),
)


async def anoop() -> None:
    """Do nothing, asynchronously: the protected coroutine function."""


def _aura() -> Namespace:
    breaker = CircuitBreaker(failure_threshold=5, timeout=60)
    return {
        "breaker": breaker,
        "work": noop,
        "awork": anoop,
        "guarded": breaker(noop),
        "aguarded": breaker(anoop),
    }


def _aura_with(policy: BreakerPolicy) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        breaker = CircuitBreaker(failure_threshold=5, timeout=60, policy=policy)
        return {"breaker": breaker, "work": noop, "awork": anoop}

    return setup


def _pybreaker() -> Namespace:
    return {"breaker": pybreaker.CircuitBreaker(fail_max=5, reset_timeout=60), "work": noop}


def _circuitbreaker() -> Namespace:
    breaker = circuitbreaker.CircuitBreaker(failure_threshold=5, recovery_timeout=60)
    return {"breaker": breaker, "work": noop, "awork": anoop}


def _purgatory_sync() -> Namespace:
    factory = purgatory.SyncCircuitBreakerFactory(default_threshold=5, default_ttl=60)
    return {"factory": factory, "work": noop}


def _purgatory_async() -> Namespace:
    factory = purgatory.AsyncCircuitBreakerFactory(default_threshold=5, default_ttl=60)
    return {"factory": factory, "awork": anoop}


def _references() -> Namespace:
    return {"awork": anoop}


AREA = Area(
    name="breaker",
    title="Circuit breaker: a call through a CLOSED breaker, sync and async, by counting policy",
    cases=(
        Case(_SYNC, "aura breaker.call", "breaker.call(work)", _aura),
        Case(_SYNC, "aura @breaker", "guarded()", _aura),
        Case(_SYNC, "pybreaker breaker.call", "breaker.call(work)", _pybreaker),
        Case(_SYNC, "circuitbreaker with", "with breaker:\n    work()", _circuitbreaker),
        Case(
            _SYNC,
            "purgatory with get_breaker",
            'with factory.get_breaker("bench"):\n    work()',
            _purgatory_sync,
        ),
        Case(_ASYNC, "await of the coroutine alone", "await awork()", _references, is_async=True),
        Case(
            _ASYNC,
            "aura breaker.acall",
            "await breaker.acall(awork)",
            _aura,
            is_async=True,
        ),
        Case(_ASYNC, "aura @breaker", "await aguarded()", _aura, is_async=True),
        Case(
            _ASYNC,
            "circuitbreaker with",
            "with breaker:\n    await awork()",
            _circuitbreaker,
            is_async=True,
        ),
        Case(
            _ASYNC,
            "purgatory async with get_breaker",
            'async with await factory.get_breaker("bench"):\n    await awork()',
            _purgatory_async,
            is_async=True,
        ),
        *(
            Case(_POLICIES, f"aura breaker.call, {form}", "breaker.call(work)", _aura_with(policy))
            for form, policy in _POLICY_FORMS
        ),
    ),
    targets=(
        *(
            Target(f"{_SYNC} / {form}", "≤ 0.6x circuitbreaker's with form", 0.6, _FASTEST)
            for form in ("aura breaker.call", "aura @breaker")
        ),
        *(
            Target(
                f"{_ASYNC} / {form}",
                "≤ 0.75x circuitbreaker's with form",
                0.75,
                f"{_ASYNC} / {_PEER}",
            )
            for form in ("aura breaker.acall", "aura @breaker")
        ),
        Target(
            f"{_POLICIES} / aura breaker.call, {_POLICY_FORMS[0][0]}",
            "≤ 0.6x circuitbreaker's with form, as the default",
            0.6,
            _FASTEST,
        ),
        *(
            Target(
                f"{_POLICIES} / aura breaker.call, {form}",
                "≤ 1x pybreaker's breaker.call, which locks on each call too",
                1.0,
                f"{_SYNC} / pybreaker breaker.call",
            )
            for form, _ in _POLICY_FORMS[1:]
        ),
    ),
    notes=(
        "The protected function is a no-op (sync) or a no-op coroutine function (async).",
        "The policy rows guard the same no-op with each of aura's other counting policies, "
        'the default being "consecutive": "since_reset" keeps its lock-free path, so it is held '
        "to the same target; a sliding window records every outcome under its lock (and, with "
        "slow_call_duration, reads the clock before and after each call), so it is held to "
        "pybreaker's, the peer that also locks on each call.",
        "pybreaker has no asyncio form (its `call_async` needs Tornado), so it is measured sync "
        "only; purgatory is measured as its documentation writes it, looking the breaker up by "
        "name on each call.",
    ),
    packages=("aura", "pybreaker", "circuitbreaker", "purgatory"),
)

"""A call through a CLOSED circuit breaker, sync and async: aura against the breaker libraries.

The protected function does nothing, so what is measured is the breaker's own cost per call.
"""

from __future__ import annotations

import circuitbreaker
import purgatory
import pybreaker

from aura.breaker import CircuitBreaker
from benchmarks.core import Area, Case, Namespace, Target, noop

__all__ = ["AREA"]

_SYNC = "breaker, sync"
_ASYNC = "breaker, async"


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
    title="Circuit breaker: a call through a CLOSED breaker, sync and async",
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
    ),
    targets=tuple(
        Target(
            f"{group} / {form}",
            "≤ 0.75x circuitbreaker's with form",
            0.75,
            f"{group} / circuitbreaker with",
        )
        for group in (_SYNC, _ASYNC)
        for form in ("aura breaker." + ("acall" if group == _ASYNC else "call"), "aura @breaker")
    ),
    notes=(
        "The protected function is a no-op (sync) or a no-op coroutine function (async).",
        "pybreaker has no asyncio form (its `call_async` needs Tornado), so it is measured sync "
        "only; purgatory is measured as its documentation writes it, looking the breaker up by "
        "name on each call.",
    ),
    packages=("aura", "pybreaker", "circuitbreaker", "purgatory"),
)

"""The clock that times calls and deliveries: the real performance counter, always.

freezegun replaces ``time.perf_counter`` (and every module attribute bound to it) while time is
frozen, so durations read 0.00 ms under ``frozen_time``. Kept in a dict, the real function is
out of its reach: :func:`real_perf_counter` returns it, for callers to bind once (in a closure or
a local) and call per operation at no extra cost; :class:`RealClock` holds it as a class
attribute, which freezegun does not scan either. Never bind it to a module attribute: that is
exactly what freezegun patches.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RealClock", "real_perf_counter"]

_REAL = {"perf_counter": time.perf_counter}


def real_perf_counter() -> Callable[[], float]:
    """The real ``time.perf_counter``, even while freezegun runs."""
    return _REAL["perf_counter"]


class RealClock:
    """``RealClock.now()``: the real performance counter, through one attribute lookup."""

    now = staticmethod(time.perf_counter)
    monotonic = staticmethod(time.monotonic)
    """The real ``time.monotonic``: deadlines and quiet periods that pass while time is frozen."""

"""Durations are real under frozen time: calls and deliveries (issue 18)."""

from __future__ import annotations

import time
from typing import Any

from aura.bus import EventBus
from aura.clock import RealClock, real_perf_counter
from aura.delivery import Delivery
from aura.testing import FrozenClock


def test_the_real_clock_advances_while_time_is_frozen(frozen_time: FrozenClock) -> None:
    assert time.perf_counter() == time.perf_counter()  # freezegun's, standing still
    started = RealClock.now()
    time.sleep(0.01)
    assert RealClock.now() - started >= 0.009
    assert real_perf_counter()() > started


def test_a_delivery_is_timed_for_real_under_frozen_time(frozen_time: FrozenClock) -> None:
    deliveries: list[Delivery] = []

    class Observer:
        def on_published(self, event: Any) -> None:
            pass

        def on_delivered(self, delivery: Delivery) -> None:
            deliveries.append(delivery)

    bus = EventBus()
    bus.add_observer(Observer())
    bus.subscribe("clock.ticked", lambda data: time.sleep(0.02), "clocks")
    bus.publish("clock.ticked", {}, "clocks")
    assert deliveries[0].duration >= 0.015

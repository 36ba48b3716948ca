"""Concurrency: many threads and tasks at once lose, duplicate and break nothing."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from typing import Any

import pytest

from aura.breaker import BreakerState, CircuitBreaker
from aura.bus import EventBus
from aura.container import Container
from aura.events import EventCatalog
from aura.exceptions import CircuitBreakerOpenError
from aura.testing import PublishedEvents, Trace


def run_threads(count: int, target: Any) -> None:
    start = threading.Barrier(count)

    def worker(index: int) -> None:
        start.wait()
        target(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_8_threads_x_5000_publishes_reach_3_subscribers_exactly_once() -> None:
    bus = EventBus(catalog=EventCatalog())
    seen: list[Counter[int]] = [Counter(), Counter(), Counter()]
    locks = [threading.Lock() for _ in seen]

    def subscriber(index: int) -> Any:
        def handle(data: Any) -> None:
            with locks[index]:
                seen[index][data["n"]] += 1

        return handle

    for index in range(3):
        bus.subscribe("counter.incremented", subscriber(index), f"reader{index}")
    recorded = PublishedEvents(Trace().attach(bus))
    run_threads(
        8,
        lambda t: [
            bus.publish("counter.incremented", {"n": t * 5000 + i}, "counter") for i in range(5000)
        ],
    )
    for counts in seen:
        assert len(counts) == 40_000
        assert set(counts.values()) == {1}
    assert len(recorded) == 40_000
    assert bus.dead_letters() == []


def test_subscribe_and_cancel_churn_while_8_threads_publish() -> None:
    bus = EventBus(catalog=EventCatalog())
    stable: Counter[int] = Counter()
    lock = threading.Lock()

    def count(data: Any) -> None:
        with lock:
            stable[data["n"]] += 1

    bus.subscribe("counter.incremented", count, "reader")
    stop = threading.Event()

    def churn(name: str) -> None:
        while not stop.is_set():
            bus.subscribe("counter.*", lambda d: None, "churner", name=name).cancel()

    churners = [threading.Thread(target=churn, args=(f"churn{i}",)) for i in range(2)]
    for thread in churners:
        thread.start()
    try:
        run_threads(
            8,
            lambda t: [
                bus.publish("counter.incremented", {"n": t * 1000 + i}, "counter")
                for i in range(1000)
            ],
        )
    finally:
        stop.set()
        for thread in churners:
            thread.join()
    assert len(stable) == 8000
    assert set(stable.values()) == {1}
    assert [s.subscriber_module for s in bus.subscriptions()] == ["reader"]


def test_16_threads_racing_build_one_singleton() -> None:
    built: list[int] = []

    class Expensive:
        def __init__(self) -> None:
            built.append(1)

    container = Container()
    container.register(Expensive)
    results: list[object] = []
    run_threads(16, lambda t: results.append(container.resolve(Expensive)))
    assert built == [1]
    assert len({id(r) for r in results}) == 1


def test_32_threads_hammering_a_half_open_breaker_never_exceed_the_trial_cap() -> None:
    clock = [0.0]
    breaker = CircuitBreaker(
        failure_threshold=1,
        timeout=10,
        half_open_max_calls=3,
        success_threshold=50,
        clock=lambda: clock[0],
    )

    def fail() -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        breaker.call(fail)
    clock[0] = 11.0
    assert breaker.state is BreakerState.HALF_OPEN
    inside = 0
    most = 0
    lock = threading.Lock()
    release = threading.Event()

    def trial() -> None:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        release.wait(0.2)
        with lock:
            inside -= 1

    refused = 0

    def worker(index: int) -> None:
        nonlocal refused
        try:
            breaker.call(trial)
        except CircuitBreakerOpenError:
            with lock:
                refused += 1

    run_threads(32, worker)
    assert most == 3
    assert refused == 29
    assert breaker.state is BreakerState.HALF_OPEN


def test_1000_concurrent_apublish_tasks_deliver_each_event_once() -> None:
    bus = EventBus(catalog=EventCatalog())
    seen: Counter[int] = Counter()

    async def handle(data: Any) -> None:
        await asyncio.sleep(0)
        seen[data["n"]] += 1

    bus.subscribe("counter.incremented", handle, "reader")

    async def main() -> None:
        await asyncio.gather(
            *(bus.apublish("counter.incremented", {"n": n}, "counter") for n in range(1000))
        )

    asyncio.run(main())
    assert len(seen) == 1000
    assert set(seen.values()) == {1}
    assert bus.dead_letters() == []

"""Faults end in the documented state: every event delivered, a dead letter, or pending."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aura.breaker import BreakerState, CircuitBreaker
from aura.bus import EventBus
from aura.database import Database
from aura.events import EventCatalog
from aura.exceptions import CircuitBreakerOpenError, EventDeliveryError
from aura.module import Module
from aura.platform import Platform
from aura.registry import ServiceRegistry


def accounted(platform: Platform) -> dict[str, int]:
    """Each (event, subscriber) pair by its state in the publication registry."""
    assert platform.journal is not None
    counts: dict[str, int] = {}
    for row in platform.journal.publications():
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    return counts


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[Platform]:
    module = Module("faulty")
    module.publishes("job.looped")

    @module.subscribe("job.submitted")
    def raises(data: dict[str, Any]) -> None:
        if data["n"] % 3 == 0:
            raise RuntimeError(f"job {data['n']} failed")

    @module.subscribe("job.submitted")
    def works(data: dict[str, Any]) -> None:
        pass

    @module.subscribe("job.looped")
    def loops(data: dict[str, Any], bus: EventBus) -> None:
        bus.publish("job.looped", data, "faulty")

    with Platform(
        [module], database=tmp_path / "aura.db", durable=True, max_chain_depth=8
    ) as platform:
        yield platform


def test_a_raising_handler_leaves_a_dead_letter_and_the_rest_is_delivered(
    faulty: Platform,
) -> None:
    for n in range(30):
        faulty.bus.publish("job.submitted", {"n": n}, "jobs")
    assert accounted(faulty) == {"COMPLETED": 50, "FAILED": 10}
    assert len(faulty.bus.dead_letters()) == 10


def test_a_recursive_publisher_is_stopped_at_the_chain_limit(faulty: Platform) -> None:
    faulty.bus.publish("job.looped", {"n": 1}, "jobs")
    [letter] = faulty.bus.dead_letters()
    assert letter.error_type == "EventDeliveryError"
    assert letter.error_message.startswith(
        "Event chain too deep: publishing 'job.looped' would make a chain of 9 events (limit 8)"
    )
    assert faulty.event_store is not None
    assert len(faulty.event_store.read(event_type="job.looped")) == 8
    assert accounted(faulty) == {"COMPLETED": 7, "FAILED": 1}


def test_a_hanging_async_handler_times_out_into_a_dead_letter() -> None:
    bus = EventBus(catalog=EventCatalog(), handler_timeout=0.05)
    done: list[int] = []

    async def hangs(data: Any) -> None:
        if data["n"] == 1:
            await asyncio.sleep(5)
        done.append(data["n"])

    bus.subscribe("job.submitted", hangs, "jobs")

    async def main() -> None:
        for n in range(3):
            await bus.apublish("job.submitted", {"n": n}, "jobs")

    asyncio.run(main())
    assert done == [0, 2]
    assert [letter.event.data["n"] for letter in bus.dead_letters()] == [1]


def test_an_intermittent_service_behind_a_breaker_opens_fails_fast_and_recovers() -> None:
    clock = [0.0]

    class Flaky:
        healthy = False
        calls = 0

        def ping(self) -> str:
            Flaky.calls += 1
            if not Flaky.healthy:
                raise ConnectionError("timeout")
            return "pong"

    registry = ServiceRegistry()
    breaker = CircuitBreaker(failure_threshold=3, timeout=30, clock=lambda: clock[0])
    registry.register_service("remote", "Flaky", Flaky(), breaker=breaker)
    remote = registry.get_service("remote", "Flaky")
    outcomes = []
    for _ in range(6):
        try:
            outcomes.append(remote.ping())
        except ConnectionError:
            outcomes.append("error")
        except CircuitBreakerOpenError:
            outcomes.append("fast")
    assert outcomes == ["error"] * 3 + ["fast"] * 3
    assert Flaky.calls == 3  # failing fast reached nothing
    Flaky.healthy = True
    clock[0] = 31.0
    assert remote.ping() == "pong"
    assert breaker.state is BreakerState.CLOSED


def test_a_locked_database_keeps_nothing_half_written_and_every_event_accounted(
    tmp_path: Path,
) -> None:
    module = Module("ledger")

    @module.subscribe("job.submitted")
    def record(data: dict[str, Any]) -> None:
        pass

    path = tmp_path / "aura.db"
    with Platform([module], database=Database(path, timeout=0.05), durable=True) as platform:
        refused = 0
        for n in range(10):
            if n == 5:
                other = sqlite3.connect(path, isolation_level=None)
                other.execute("BEGIN IMMEDIATE")
            try:
                platform.bus.publish("job.submitted", {"n": n}, "jobs")
            except EventDeliveryError:
                refused += 1
            if n == 7:
                other.execute("ROLLBACK")
                other.close()
        assert refused == 3
        assert platform.event_store is not None
        assert [e.data["n"] for e in platform.event_store.read()] == [0, 1, 2, 3, 4, 8, 9]
        assert accounted(platform) == {"COMPLETED": 7}


def test_a_full_disk_refuses_the_event_and_the_writes_with_it(tmp_path: Path) -> None:
    module = Module("ledger")
    module.publishes("ledger.*")

    @module.on_start
    def create(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS ledger_rows (body TEXT)")

    with Platform([module], database=tmp_path / "aura.db", durable=True) as platform:
        pages = platform.database.query_one("PRAGMA page_count")[0]  # type: ignore[index]
        platform.database.execute(f"PRAGMA max_page_count = {pages + 2}")

        def write_and_publish() -> None:
            with platform.transaction():
                platform.database.execute("INSERT INTO ledger_rows VALUES ('small')")
                platform.bus.publish("ledger.written", {"body": "y" * 200_000}, "ledger")

        with pytest.raises(EventDeliveryError, match="database or disk is full"):
            write_and_publish()
        assert platform.database.query("SELECT * FROM ledger_rows") == []
        assert platform.event_store is not None
        assert platform.event_store.read() == []
        assert accounted(platform) == {}

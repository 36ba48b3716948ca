"""One contract suite for both event stores, and the SQLite-specific guarantees."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aura.bus import EventBus
from aura.database import Database
from aura.events import Event, EventCatalog
from aura.exceptions import ConfigurationError, EventDeliveryError
from aura.store import EventStore, InMemoryEventStore, SqliteDeadLetterStore, SqliteEventStore

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def event(n: int, event_type: str = "order.placed", module: str = "orders", **meta: Any) -> Event:
    return Event.create(
        event_type,
        {"n": n, "items": [n, {"sku": f"s{n}"}]},
        module,
        metadata={"correlation_id": meta.get("cid", f"c{n % 2}"), "user_id": n},
        timestamp=T0 + timedelta(seconds=n),
    )


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    if request.param == "memory":
        yield InMemoryEventStore()
        return
    database = Database(tmp_path / "events.db")
    yield SqliteEventStore(database)
    database.close()


# --- the contract both stores keep ---------------------------------------------------------------


def test_appended_events_read_back_equal_and_in_order(store: EventStore) -> None:
    events = [event(n) for n in range(5)]
    store.append(events[0])
    store.append_many(events[1:])
    assert store.read() == events
    assert store.get(events[3].event_id) == events[3]
    assert store.get("00000000-0000-0000-0000-000000000000") is None


def test_read_filters_by_type_module_correlation_and_time(store: EventStore) -> None:
    store.append_many(
        [event(1), event(2, "order.shipped", "shipping"), event(3), event(4, "order.shipped")]
    )
    assert [e.data["n"] for e in store.read(event_type="order.shipped")] == [2, 4]
    assert [e.data["n"] for e in store.read(source_module="shipping")] == [2]
    assert [e.data["n"] for e in store.read(correlation_id="c1")] == [1, 3]
    window = store.read(since=T0 + timedelta(seconds=2), until=T0 + timedelta(seconds=4))
    assert [e.data["n"] for e in window] == [2, 3]
    assert [e.data["n"] for e in store.read(limit=2)] == [1, 2]
    assert store.read(limit=0) == []


def test_stream_reads_in_batches_without_loading_everything(store: EventStore) -> None:
    store.append_many(event(n) for n in range(25))
    streamed = store.stream(batch_size=4)
    assert next(streamed).data["n"] == 0
    assert [e.data["n"] for e in streamed] == list(range(1, 25))
    assert [e.data["n"] for e in store.stream(batch_size=4, limit=10)] == list(range(10))


def test_an_event_is_stored_once_and_a_batch_is_all_or_nothing(store: EventStore) -> None:
    first = event(1)
    store.append(first)
    with pytest.raises(EventDeliveryError, match="already in the event store"):
        store.append_many([event(2), first])
    assert store.read() == [first]


def test_replay_feeds_a_handler_in_order(store: EventStore) -> None:
    store.append_many(event(n) for n in range(3))
    seen: list[int] = []
    assert store.replay(lambda e: seen.append(e.data["n"])) == 3
    assert seen == [0, 1, 2]


def test_replay_to_a_bus_rebuilds_a_read_model(store: EventStore) -> None:
    store.append_many([event(1), event(2, "order.shipped"), event(3)])
    bus = EventBus(catalog=EventCatalog())
    totals: dict[str, int] = {}
    bus.subscribe("order.*", lambda d: totals.update(n=totals.get("n", 0) + d["n"]), "reports")
    assert store.replay(bus, event_type="order.placed") == 2
    assert totals == {"n": 4}


def test_store_event_is_the_seeds_call(store: EventStore) -> None:
    stored = store.store_event("order.placed", {"n": 9}, "orders")
    assert store.read() == [stored]
    bus = EventBus(catalog=EventCatalog())
    seen: list[Any] = []
    bus.subscribe("order.placed", seen.append, "reports")
    store.bus = bus
    published = store.store_event("order.placed", {"n": 10}, "orders")
    assert seen == [{"n": 10}]
    assert store.read()[-1] == published


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"limit": -1}, "limit must be a whole number of events (0 or more) or None, got -1."),
        ({"batch_size": 0}, "batch_size must be an int of at least 1, got 0."),
        (
            {"since": datetime(2030, 1, 1)},
            "Event store times must be timezone-aware, got datetime.datetime(2030, 1, 1, 0, 0). "
            "Pass e.g. datetime(2030, 1, 7, tzinfo=UTC).",
        ),
    ],
)
def test_bad_read_arguments_are_refused(
    store: EventStore, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        list(store.stream(**arguments))
    assert str(caught.value) == message


# --- SQLite specifics ----------------------------------------------------------------------------


def test_the_sqlite_store_survives_reopening_and_is_indexed(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with Database(path) as database:
        SqliteEventStore(database).append_many(event(n) for n in range(3))
    with Database(path) as database:
        store = SqliteEventStore(database)
        assert [e.data["n"] for e in store.read()] == [0, 1, 2]
        assert store.count() == 3
        indexes = {row["name"] for row in database.query("PRAGMA index_list(aura_events)")}
        assert {"aura_events_type", "aura_events_module", "aura_events_correlation"} <= indexes
        plan = database.query(
            "EXPLAIN QUERY PLAN SELECT * FROM aura_events WHERE event_type = ? AND seq > 0 "
            "ORDER BY seq",
            ("x",),
        )
        assert "aura_events_type" in " ".join(row["detail"] for row in plan)


def test_a_full_disk_is_an_event_delivery_error_and_writes_nothing(tmp_path: Path) -> None:
    with Database(tmp_path / "full.db") as database:
        store = SqliteEventStore(database)
        store.append(event(0))
        pages = database.query_one("PRAGMA page_count")[0]  # type: ignore[index]
        database.execute(f"PRAGMA max_page_count = {pages}")
        big = Event.create("order.placed", {"blob": "x" * 200_000}, "orders")
        with pytest.raises(EventDeliveryError) as caught:
            store.append_many([event(1), big])
        assert str(caught.value) == (
            "The event store could not write 2 event(s): database or disk is full. Nothing of "
            "this batch was stored; check the database file (disk space, locks) and retry."
        )
        assert store.count() == 1


def test_a_locked_database_is_an_event_delivery_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with Database(path, timeout=0.05) as database:
        store = SqliteEventStore(database)
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(EventDeliveryError, match="database is locked"):
                store.append(event(1))
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert store.count() == 0


def test_dead_letters_persist(tmp_path: Path) -> None:
    path = tmp_path / "letters.db"

    def boom(data: Any) -> None:
        raise RuntimeError("smtp down")

    with Database(path) as database:
        bus = EventBus(catalog=EventCatalog(), dead_letters=SqliteDeadLetterStore(database))
        bus.subscribe("order.placed", boom, "notifications")
        published = bus.publish("order.placed", {"n": 1}, "orders")
        bus.retry_dead_letters()
    with Database(path) as database:
        [letter] = SqliteDeadLetterStore(database).list()
        assert letter.event == published
        assert (letter.subscriber_module, letter.error_type, letter.attempts) == (
            "notifications",
            "RuntimeError",
            2,
        )
        assert letter.handler_name.endswith("boom")
        assert "RuntimeError: smtp down" in letter.traceback
        assert letter.last_failed_at >= letter.first_failed_at
        SqliteDeadLetterStore(database).remove(letter.id)
        assert SqliteDeadLetterStore(database).list() == []

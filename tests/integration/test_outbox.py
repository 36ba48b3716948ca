"""The durable platform: transactional outbox, publication registry, idempotent consumers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aura.bus import EventBus
from aura.database import Database
from aura.events import Event
from aura.exceptions import ConfigurationError, EventDeliveryError
from aura.module import Module
from aura.platform import Platform
from aura.publications import DurableJournal
from aura.store import SqliteEventStore


class Ledger:
    """A module that writes a row per handled event; its handler can be told to fail."""

    def __init__(self) -> None:
        self.fail_on: set[int] = set()
        self.calls: list[int] = []


def ledger_module(ledger: Ledger, *, idempotent: bool = False) -> Module:
    module = Module("ledger")
    module.publishes("ledger.*")
    module.provide(Ledger, lambda: ledger)

    @module.on_start
    def create_tables(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS ledger_entries (n INTEGER)")

    @module.subscribe("order.placed", idempotent=idempotent)
    def record(data: dict[str, Any], database: Database, book: Ledger, bus: EventBus) -> None:
        book.calls.append(data["n"])
        database.execute("INSERT INTO ledger_entries VALUES (?)", (data["n"],))
        bus.publish("ledger.recorded", {"n": data["n"]}, "ledger")
        if data["n"] in book.fail_on:
            raise RuntimeError(f"ledger refuses {data['n']}")

    return module


def orders_module() -> Module:
    module = Module("orders")
    module.publishes("order.*")

    @module.on_start
    def create_tables(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS orders_orders (n INTEGER)")

    return module


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def platform(tmp_path: Path, ledger: Ledger) -> Iterator[Platform]:
    with Platform(
        [orders_module(), ledger_module(ledger)], database=tmp_path / "aura.db", durable=True
    ) as running:
        yield running


def place(platform: Platform, n: int) -> None:
    with platform.transaction():
        platform.database.execute("INSERT INTO orders_orders VALUES (?)", (n,))
        platform.bus.publish("order.placed", {"n": n}, "orders")


def count(platform: Platform, table: str) -> int:
    row = platform.database.query_one(f"SELECT COUNT(*) AS n FROM {table}")
    return int(row["n"]) if row is not None else 0


def statuses(platform: Platform) -> list[str]:
    assert platform.journal is not None
    return [row["status"] for row in platform.journal.publications()]


def test_a_publish_records_the_event_and_completes_its_publication(
    platform: Platform, ledger: Ledger
) -> None:
    place(platform, 1)
    assert ledger.calls == [1]
    assert platform.event_store is not None
    stored = platform.event_store.read()
    assert [(e.event_type, e.data) for e in stored] == [
        ("order.placed", {"n": 1}),
        ("ledger.recorded", {"n": 1}),
    ]
    assert platform.journal is not None
    [row] = platform.journal.publications()
    assert (row["subscriber_module"], row["status"], row["attempts"]) == ("ledger", "COMPLETED", 1)
    assert row["handler"].endswith("record")


def test_delivery_waits_for_the_commit(platform: Platform, ledger: Ledger) -> None:
    with platform.transaction():
        platform.bus.publish("order.placed", {"n": 1}, "orders")
        assert ledger.calls == []
        assert statuses(platform) == ["PROCESSING"]  # owned by this platform, which delivers it
    assert ledger.calls == [1]


def test_a_rollback_discards_writes_and_events_and_delivers_nothing(
    platform: Platform, ledger: Ledger
) -> None:
    def failing_order() -> None:
        with platform.transaction():
            platform.database.execute("INSERT INTO orders_orders VALUES (1)")
            platform.bus.publish("order.placed", {"n": 1}, "orders")
            raise ValueError("payment declined")

    with pytest.raises(ValueError, match="payment declined"):
        failing_order()
    assert ledger.calls == []
    assert count(platform, "orders_orders") == 0
    assert count(platform, "aura_events") == 0
    assert count(platform, "aura_publications") == 0


def test_a_failing_handler_rolls_back_its_own_writes_and_keeps_a_durable_dead_letter(
    platform: Platform, ledger: Ledger
) -> None:
    ledger.fail_on = {2}
    recorded: list[Any] = []
    platform.bus.subscribe("ledger.recorded", recorded.append, "audit")
    place(platform, 1)
    place(platform, 2)
    assert [row["n"] for row in platform.database.query("SELECT n FROM ledger_entries")] == [1]
    assert recorded == [{"n": 1}]  # what the failing handler published rolled back with it
    assert platform.event_store is not None
    assert [e.event_type for e in platform.event_store.read()] == [
        "order.placed",
        "ledger.recorded",
        "order.placed",
    ]
    assert statuses(platform) == ["COMPLETED", "COMPLETED", "FAILED"]  # order 1, audit, order 2
    [letter] = platform.bus.dead_letters()
    assert letter.error_message == "ledger refuses 2"
    ledger.fail_on = set()
    report = platform.bus.retry_dead_letters()
    assert len(report.succeeded) == 1
    assert statuses(platform) == ["COMPLETED"] * 4
    assert [r["n"] for r in platform.database.query("SELECT n FROM ledger_entries")] == [1, 2]
    assert platform.bus.dead_letters() == []
    assert recorded == [{"n": 1}, {"n": 2}]


def test_unfinished_publications_are_resubmitted_on_start(tmp_path: Path, ledger: Ledger) -> None:
    path = tmp_path / "aura.db"
    with Platform([orders_module(), ledger_module(ledger)], database=path, durable=True) as first:
        # A crash between the commit and the delivery: recorded, never delivered.
        subscription = first.bus.subscriptions("order.placed")[0]
        assert first.journal is not None
        orphan = Event.create("order.placed", {"n": 7}, "orders")
        first.journal.accepted(orphan, (subscription,))
    assert ledger.calls == []
    with Platform([orders_module(), ledger_module(ledger)], database=path, durable=True) as second:
        assert ledger.calls == [7]
        assert statuses(second) == ["COMPLETED"]


def test_an_idempotent_consumer_handles_a_resubmitted_event_once(
    tmp_path: Path, ledger: Ledger
) -> None:
    path = tmp_path / "aura.db"
    modules = [orders_module(), ledger_module(ledger, idempotent=True)]
    # No delivery worker: the first platform's would take the row made due below before it
    # closes, and the second's start() would have nothing left to resubmit.
    with Platform(modules, database=path, durable=True, poll_interval=None) as first:
        place(first, 1)
        # Pretend the process died after the handler's commit but before anyone knew: the row
        # is still another (dead) owner's, under a lease that has run out.
        first.database.execute(
            "UPDATE aura_publications SET status = 'PROCESSING', owner = 'dead', due_at = 0"
        )
    with Platform(modules, database=path, durable=True, poll_interval=None) as second:
        assert ledger.calls == [1]  # not handled again: the inbox knew
        assert statuses(second) == ["COMPLETED"]
        assert count(second, "ledger_entries") == 1


@pytest.mark.parametrize(("mode", "left", "archived"), [("delete", 0, 0), ("archive", 0, 1)])
def test_completed_publications_can_be_deleted_or_archived(
    tmp_path: Path, ledger: Ledger, mode: Any, left: int, archived: int
) -> None:
    with Platform(
        [orders_module(), ledger_module(ledger)],
        database=tmp_path / "aura.db",
        durable=True,
        completed_publications=mode,
    ) as platform:
        place(platform, 1)
        assert count(platform, "aura_publications") == left
        assert count(platform, "aura_publications_archive") == archived


def test_an_unknown_completion_mode_is_refused(tmp_path: Path) -> None:
    with Database(tmp_path / "x.db") as database:
        store = SqliteEventStore(database)
        with pytest.raises(ConfigurationError) as caught:
            DurableJournal(database, store, completed="shred")  # type: ignore[arg-type]
    assert str(caught.value) == "completed must be 'keep', 'delete' or 'archive', got 'shred'."


def test_a_locked_database_refuses_the_publish_and_leaves_nothing_half_written(
    tmp_path: Path, ledger: Ledger
) -> None:
    path = tmp_path / "aura.db"
    database = Database(path, timeout=0.05)
    with Platform([orders_module(), ledger_module(ledger)], database=database, durable=True) as p:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            with pytest.raises(EventDeliveryError) as caught:
                p.bus.publish("order.placed", {"n": 1}, "orders")
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert str(caught.value) == (
            "Event 'order.placed' could not be recorded durably: database is locked. Nothing was "
            "published or written for it; check the database (disk space, locks) and publish "
            "again."
        )
        assert ledger.calls == []
        assert count(p, "aura_events") == 0
        assert count(p, "aura_publications") == 0


def test_the_seed_store_event_stores_then_publishes(platform: Platform, ledger: Ledger) -> None:
    assert platform.event_store is not None
    stored = platform.event_store.store_event("order.placed", {"n": 5}, "orders")
    assert ledger.calls == [5]
    assert platform.event_store.read(event_type="order.placed") == [stored]
    assert platform.container.resolve("event_store") is platform.event_store

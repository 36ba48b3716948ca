"""The event store: appending events one by one and in batches, against raw sqlite3.

Both sides write the same rows into a fresh SQLite file each (WAL, ``synchronous=NORMAL``, as
the platform's database). aura's side includes turning each event into its row (JSON of data
and metadata); the raw side inserts rows prepared beforehand, so the ratio is what the store's
API costs over the driver. Rows are deleted after each round, untimed.
"""

from __future__ import annotations

import itertools
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aura.database import Database
from aura.events import Event
from aura.store import _EVENTS_SCHEMA, _INSERT_EVENT, SqliteEventStore, _event_row
from benchmarks.core import Area, Case, Namespace, Target

__all__ = ["AREA"]

_ONE = "append one event"
_BATCH = "append a batch of 100 events"
_DURABLE = "durable publish + delivery to 1 subscriber"
_POOL = 40_000  # more than a round appends, so no id repeats within a round
_T0 = datetime(2030, 1, 7, tzinfo=UTC)


def _events() -> list[Event]:
    return [
        Event.create(
            "order.placed",
            {"order_id": n, "sku": f"sku-{n % 50}", "quantity": n % 7 + 1},
            "orders",
            metadata={"correlation_id": f"c-{n}"},
            timestamp=_T0 + timedelta(milliseconds=n),
        )
        for n in range(_POOL)
    ]


_shared: dict[str, list[Event]] = {}


def _pool() -> list[Event]:
    if "events" not in _shared:
        _shared["events"] = _events()
    return _shared["events"]


def _aura() -> Namespace:
    folder = Path(tempfile.mkdtemp(prefix="aura-bench-"))
    store = SqliteEventStore(Database(folder / "store.db"))
    events = _pool()
    return {
        "store": store,
        "database": store.database,
        "events": events,
        "batches": [events[i : i + 100] for i in range(0, _POOL, 100)],
        "next_one": itertools.count().__next__,
        "next_batch": itertools.count().__next__,
    }


def _raw() -> Namespace:
    folder = Path(tempfile.mkdtemp(prefix="aura-bench-"))
    connection = sqlite3.connect(folder / "raw.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.executescript(_EVENTS_SCHEMA)
    rows = [_event_row(event) for event in _pool()]
    return {
        "connection": connection,
        "insert": _INSERT_EVENT,
        "rows": rows,
        "row_batches": [rows[i : i + 100] for i in range(0, _POOL, 100)],
        "next_one": itertools.count().__next__,
        "next_batch": itertools.count().__next__,
    }


def _durable() -> Namespace:
    """A durable platform on a file: publish records the event and its publication, then the
    delivery marks it COMPLETED in the handler's transaction (two transactions per event)."""
    from aura.module import Module
    from aura.platform import Platform

    folder = Path(tempfile.mkdtemp(prefix="aura-bench-"))
    books = Module("ledger")

    @books.subscribe("order.placed")
    def record(data: dict[str, object]) -> None:
        pass

    platform = Platform([books], database=folder / "durable.db", durable=True, poll_interval=None)
    platform.start()
    return {
        "bus": platform.bus,
        "database": platform.database,
        "platform": platform,
        "data": {"order_id": 1, "sku": "sku-1", "quantity": 2},
    }


def _reset_durable(names: Namespace) -> None:
    names["database"].execute("DELETE FROM aura_publications")
    names["database"].execute("DELETE FROM aura_events")


def _raw_outbox() -> Namespace:
    """The same rows by hand: the event and one publication, in one transaction."""
    from aura.publications import DurableJournal

    folder = Path(tempfile.mkdtemp(prefix="aura-bench-"))
    database = Database(folder / "raw-outbox.db")
    DurableJournal(database, SqliteEventStore(database))  # the same tables and indexes
    database.close()
    connection = sqlite3.connect(folder / "raw-outbox.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    rows = [_event_row(event) for event in _pool()]
    return {
        "connection": connection,
        "insert": _INSERT_EVENT,
        "publication": (
            "INSERT INTO aura_publications (event_id, event_type, subscriber_module, handler, "
            "status, attempts, published_at, updated_at) VALUES (?, ?, ?, ?, 'COMPLETED', 1, "
            "?, ?)"
        ),
        "rows": rows,
        "next_one": itertools.count().__next__,
    }


def _raw_two_transactions() -> Namespace:
    """aura's own statements by hand: the event and its publication committed, then the
    publication marked COMPLETED in a second transaction, the design's floor."""
    from aura.publications import DurableJournal

    folder = Path(tempfile.mkdtemp(prefix="aura-bench-"))
    database = Database(folder / "raw-two.db")
    statements = DurableJournal(database, SqliteEventStore(database))._sql
    database.close()
    connection = sqlite3.connect(folder / "raw-two.db", isolation_level=None)
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    return {
        "connection": connection,
        "insert": _INSERT_EVENT,
        "publication": statements.insert,
        "complete": statements.complete,
        "rows": [_event_row(event) for event in _pool()],
        "next_one": itertools.count().__next__,
    }


_RAW_TWO_TRANSACTIONS = """
row = rows[next_one()]
connection.execute("BEGIN IMMEDIATE")
connection.execute(insert, row)
connection.execute(publication, (*row[:2], "ledger", "record", "bench", 30.0, 30.0, *row[5:6] * 2))
connection.execute("COMMIT")
connection.execute("BEGIN IMMEDIATE")
connection.execute(complete, (row[5], row[0], "ledger", "record", "bench"))
connection.execute("COMMIT")
"""


def _reset_raw_outbox(names: Namespace) -> None:
    names["connection"].execute("DELETE FROM aura_publications")
    names["connection"].execute("DELETE FROM aura_events")
    names["next_one"] = itertools.count().__next__


_RAW_OUTBOX = """
row = rows[next_one()]
connection.execute("BEGIN")
connection.execute(insert, row)
connection.execute(publication, (row[0], row[1], "ledger", "record", row[5], row[5]))
connection.execute("COMMIT")
"""


def _reset_aura(names: Namespace) -> None:
    names["database"].execute("DELETE FROM aura_events")
    names["next_one"] = itertools.count().__next__
    names["next_batch"] = itertools.count().__next__


def _reset_raw(names: Namespace) -> None:
    names["connection"].execute("DELETE FROM aura_events")
    names["next_one"] = itertools.count().__next__
    names["next_batch"] = itertools.count().__next__


_RAW_BATCH = """
connection.execute("BEGIN")
connection.executemany(insert, row_batches[next_batch()])
connection.execute("COMMIT")
"""

AREA = Area(
    name="store",
    title="Event store: appending events one by one and in batches, against raw sqlite3",
    cases=(
        Case(
            _ONE,
            "aura SqliteEventStore.append",
            "store.append(events[next_one()])",
            _aura,
            reset=_reset_aura,
        ),
        Case(
            _ONE,
            "raw sqlite3 INSERT (autocommit)",
            "connection.execute(insert, rows[next_one()])",
            _raw,
            reset=_reset_raw,
        ),
        Case(
            _BATCH,
            "aura SqliteEventStore.append_many",
            "store.append_many(batches[next_batch()])",
            _aura,
            reset=_reset_aura,
        ),
        Case(
            _BATCH, "raw sqlite3 executemany in a transaction", _RAW_BATCH, _raw, reset=_reset_raw
        ),
        Case(
            _DURABLE,
            "aura Platform(durable=True) publish",
            "bus.publish('order.placed', data, 'orders')",
            _durable,
            reset=_reset_durable,
        ),
        Case(
            _DURABLE,
            "raw sqlite3: the event and its publication in one transaction",
            _RAW_OUTBOX,
            _raw_outbox,
            reset=_reset_raw_outbox,
        ),
        Case(
            _DURABLE,
            "raw sqlite3: aura's statements, in its two transactions",
            _RAW_TWO_TRANSACTIONS,
            _raw_two_transactions,
            reset=_reset_raw_outbox,
        ),
    ),
    targets=(
        # "throughput >= 0.7x raw" is "time per operation <= 1/0.7 of raw".
        Target(
            f"{_ONE} / aura SqliteEventStore.append",
            "≥ 0.7x raw throughput",
            1 / 0.7,
            f"{_ONE} / raw sqlite3 INSERT (autocommit)",
        ),
        Target(
            f"{_BATCH} / aura SqliteEventStore.append_many",
            "≥ 0.7x raw throughput",
            1 / 0.7,
            f"{_BATCH} / raw sqlite3 executemany in a transaction",
        ),
        Target(
            f"{_DURABLE} / aura Platform(durable=True) publish",
            "≤ 1.5x the raw inserts of the same rows in one transaction",
            1.5,
            f"{_DURABLE} / raw sqlite3: the event and its publication in one transaction",
        ),
    ),
    notes=(
        "Each side writes to its own SQLite file in WAL mode with synchronous=NORMAL, the "
        "platform's settings; rows are deleted between rounds, untimed.",
        "aura's time includes building each row from the event (JSON of data and metadata, "
        "the timestamp as fixed-width text) inside a transaction; raw sqlite3 inserts the same "
        "rows, prepared beforehand.",
        "The durable publish commits twice: the event with its publication, then the delivery "
        "with the handler's writes, so that a crash mid-handler loses nothing. 'aura's "
        "statements, in its two transactions' is that design in raw sqlite3, its floor; the "
        "rest of aura's time is Python (the bus, the rows, the JSON).",
    ),
    packages=("aura",),
)

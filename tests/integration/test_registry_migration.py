"""A registry written by the previous release of Aura (no owners, no leases, dead letters in a
table of their own) is migrated once when a platform opens it: what was unfinished is delivered
once, and its dead letters keep their details and can be retried."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any

from aura.database import Database
from aura.events import Event
from aura.module import Module
from aura.platform import Platform
from aura.store import _INSERT_EVENT, SqliteEventStore, _event_row

# The schema of aura.store as the previous release wrote it (commit 2d8b319), verbatim.
_OLD_PUBLICATIONS = """
CREATE TABLE IF NOT EXISTS aura_publications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    subscriber_module TEXT NOT NULL,
    handler TEXT NOT NULL,
    status TEXT NOT NULL
        CHECK (status IN ('PUBLISHED', 'PROCESSING', 'COMPLETED', 'FAILED')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    published_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (event_id, subscriber_module, handler)
);
CREATE INDEX IF NOT EXISTS aura_publications_status ON aura_publications (status, updated_at);
CREATE TABLE IF NOT EXISTS aura_publications_archive (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL,
    subscriber_module TEXT NOT NULL,
    handler TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT,
    published_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS aura_inbox (
    event_id TEXT NOT NULL,
    subscriber_module TEXT NOT NULL,
    handler TEXT NOT NULL,
    handled_at TEXT NOT NULL,
    PRIMARY KEY (event_id, subscriber_module, handler)
) WITHOUT ROWID;
"""

_OLD_DEAD_LETTERS = """
CREATE TABLE IF NOT EXISTS aura_dead_letters (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    subscriber_module TEXT NOT NULL,
    handler TEXT NOT NULL,
    error_type TEXT NOT NULL,
    error_message TEXT NOT NULL,
    traceback TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    first_failed_at TEXT NOT NULL,
    last_failed_at TEXT NOT NULL
);
"""


def old_registry(path: Path) -> tuple[Event, Event]:
    """A file as the previous release left it after a crash: one delivery in flight, one
    failed with its dead letter."""
    database = Database(path)
    SqliteEventStore(database)
    database.executescript(_OLD_PUBLICATIONS)
    database.executescript(_OLD_DEAD_LETTERS)
    database.execute("CREATE TABLE ledger_entries (n INTEGER, handler TEXT)")
    in_flight = Event.create("order.placed", {"n": 1}, "orders")
    failed = Event.create("order.placed", {"n": 2}, "orders")
    stamp = "2026-11-30T10:00:00.000000+00:00"
    for event, handler, status in ((in_flight, "book", "PROCESSING"), (failed, "mail", "FAILED")):
        database.execute(_INSERT_EVENT, _event_row(event))
        database.execute(
            "INSERT INTO aura_publications (event_id, subscriber_module, handler, status, "
            "attempts, published_at, updated_at) VALUES (?, 'ledger', ?, ?, 1, ?, ?)",
            (event.event_id, handler, status, stamp, stamp),
        )
    # The in-flight event's other subscriber had finished.
    database.execute(
        "INSERT INTO aura_publications (event_id, subscriber_module, handler, status, attempts, "
        "published_at, updated_at) VALUES (?, 'ledger', 'mail', 'COMPLETED', 1, ?, ?)",
        (in_flight.event_id, stamp, stamp),
    )
    database.execute(
        "INSERT INTO aura_dead_letters VALUES (?, ?, 'ledger', 'mail', 'ConnectionError', "
        "'smtp down', 'Traceback ...', 1, ?, ?)",
        ("3f2c-old", failed.to_json(), stamp, stamp),
    )
    database.close()
    return in_flight, failed


def modules(calls: list[tuple[str, int]]) -> list[Module]:
    orders = Module("orders")
    orders.publishes("order.*")
    books = Module("ledger")

    @books.subscribe("order.placed", name="book")
    def book(data: dict[str, Any], database: Database) -> None:
        calls.append(("book", data["n"]))
        database.execute("INSERT INTO ledger_entries VALUES (?, 'book')", (data["n"],))

    @books.subscribe("order.placed", name="mail")
    def mail(data: dict[str, Any], database: Database) -> None:
        calls.append(("mail", data["n"]))
        database.execute("INSERT INTO ledger_entries VALUES (?, 'mail')", (data["n"],))

    return [orders, books]


def test_an_old_registry_is_migrated_and_its_unfinished_work_done_once(tmp_path: Path) -> None:
    path = tmp_path / "aura.db"
    _, failed = old_registry(path)
    calls: list[tuple[str, int]] = []
    with Platform(modules(calls), database=path, durable=True, poll_interval=None) as platform:
        platform.start()  # the in-flight delivery had no owner: due at once
        assert calls == [("book", 1)]
        [letter] = platform.bus.dead_letters()
        assert (letter.event.event_id, letter.handler_name, letter.error_type) == (
            failed.event_id,
            "mail",
            "ConnectionError",
        )
        assert (letter.error_message, letter.attempts) == ("smtp down", 1)
        report = platform.bus.retry_dead_letters()
        assert len(report.succeeded) == 1
        assert calls == [("book", 1), ("mail", 2)]
        rows = platform.database.query("SELECT n, handler FROM ledger_entries ORDER BY n")
        assert [(row["n"], row["handler"]) for row in rows] == [(1, "book"), (2, "mail")]
        statuses = platform.database.query("SELECT status FROM aura_publications")
        assert {row["status"] for row in statuses} == {"COMPLETED"}
    with closing(sqlite3.connect(path)) as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert "aura_dead_letters" not in tables  # moved into the registry, kept as migrated
    assert "aura_dead_letters_migrated" in tables


def test_two_processes_opening_an_old_registry_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "aura.db"
    old_registry(path)
    errors: list[BaseException] = []
    gate = threading.Barrier(2)

    def open_it() -> None:
        try:
            gate.wait()
            Platform(modules([]), database=path, durable=True, poll_interval=None).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with closing(sqlite3.connect(path)) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(aura_publications)")]
    assert columns.count("owner") == 1

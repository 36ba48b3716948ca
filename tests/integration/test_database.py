"""The embedded database on real SQLite files: transactions, savepoints, threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from aura.database import Database
from aura.exceptions import ConfigurationError


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = Database(tmp_path / "aura.db")
    db.execute("CREATE TABLE items (name TEXT)")
    yield db
    db.close()


def names(database: Database) -> list[str]:
    return [row["name"] for row in database.query("SELECT name FROM items ORDER BY rowid")]


def test_a_file_database_runs_in_wal_mode(database: Database) -> None:
    assert database.query_one("PRAGMA journal_mode")[0] == "wal"  # type: ignore[index]
    assert repr(database) == f"Database({database.path!r})"


def test_statements_outside_a_transaction_commit_at_once(
    database: Database, tmp_path: Path
) -> None:
    database.execute("INSERT INTO items VALUES (?)", ("a",))
    with Database(tmp_path / "aura.db") as other:
        assert [row["name"] for row in other.query("SELECT name FROM items")] == ["a"]


def test_a_transaction_commits_together(database: Database) -> None:
    with database.transaction():
        assert database.in_transaction
        database.executemany("INSERT INTO items VALUES (?)", [("a",), ("b",)])
    assert not database.in_transaction
    assert names(database) == ["a", "b"]


def insert_then_fail(database: Database, name: str) -> None:
    with database.transaction():
        database.execute("INSERT INTO items VALUES (?)", (name,))
        raise RuntimeError(f"abort {name}")


def insert_then_fail_after(database: Database, callback: Callable[[], None]) -> None:
    with database.transaction():
        database.on_commit(callback)
        insert_then_fail(database, "x")


def test_a_failing_transaction_writes_nothing(database: Database) -> None:
    with pytest.raises(RuntimeError, match="abort a"):
        insert_then_fail(database, "a")
    assert names(database) == []


def test_a_nested_transaction_is_a_savepoint(database: Database) -> None:
    with database.transaction():
        database.execute("INSERT INTO items VALUES ('outer')")
        with pytest.raises(RuntimeError, match="abort inner"):
            insert_then_fail(database, "inner")
        with database.transaction():
            database.execute("INSERT INTO items VALUES ('second inner')")
    assert names(database) == ["outer", "second inner"]


def test_another_threads_reader_sees_the_committed_rows_without_waiting(
    database: Database,
) -> None:
    seen: list[list[str]] = []

    with database.transaction():
        database.execute("INSERT INTO items VALUES ('a')")
        reader = threading.Thread(target=lambda: seen.append(names(database)))
        reader.start()
        reader.join(5)
        assert not reader.is_alive()  # WAL: it read while the transaction was open
    assert seen == [[]]  # and saw nothing uncommitted
    assert names(database) == ["a"]


def test_another_threads_transaction_waits_for_the_write_lock(database: Database) -> None:
    started = threading.Event()

    def writer() -> None:
        started.set()
        with database.transaction():
            database.execute("INSERT INTO items VALUES ('b')")

    with database.transaction():
        database.execute("INSERT INTO items VALUES ('a')")
        thread = threading.Thread(target=writer)
        thread.start()
        started.wait()
        thread.join(0.05)
        assert thread.is_alive()  # waiting for SQLite's write lock
    thread.join()
    assert names(database) == ["a", "b"]


def test_in_memory_other_threads_wait_for_a_transaction() -> None:
    database = Database()
    database.execute("CREATE TABLE items (name TEXT)")
    started = threading.Event()
    seen: list[list[str]] = []

    def reader() -> None:
        started.set()
        seen.append(names(database))

    with database.transaction():
        database.execute("INSERT INTO items VALUES ('a')")
        thread = threading.Thread(target=reader)
        thread.start()
        started.wait()
        thread.join(0.05)
        assert thread.is_alive()  # one shared connection: blocked until the transaction ends
        database.execute("INSERT INTO items VALUES ('b')")
    thread.join()
    assert seen == [["a", "b"]]
    database.close()


def test_executescript_and_query_one(database: Database) -> None:
    database.executescript("INSERT INTO items VALUES ('x'); INSERT INTO items VALUES ('y');")
    row = database.query_one("SELECT COUNT(*) AS n FROM items")
    assert row is not None
    assert row["n"] == 2
    assert database.query_one("SELECT name FROM items WHERE name = 'zzz'") is None


def test_a_closed_database_refuses_work(tmp_path: Path) -> None:
    database = Database(tmp_path / "closed.db")
    database.close()
    database.close()
    with pytest.raises(ConfigurationError) as caught:
        database.query("SELECT 1")
    assert str(caught.value) == (
        f"The database {str(tmp_path / 'closed.db')!r} is closed. Use the platform while it is "
        "open, or build a new one."
    )


def test_on_commit_runs_after_the_outermost_commit(database: Database) -> None:
    ran: list[str] = []
    with database.transaction():
        database.on_commit(lambda: ran.append("outer"))
        with database.transaction():
            database.on_commit(lambda: ran.append("inner"))
        assert ran == []
    assert ran == ["outer", "inner"]


def test_on_commit_callbacks_of_a_rolled_back_part_are_dropped(database: Database) -> None:
    ran: list[str] = []

    def failing_part() -> None:
        with database.transaction():
            database.on_commit(lambda: ran.append("dropped"))
            raise RuntimeError("abort inner")

    with database.transaction():
        database.on_commit(lambda: ran.append("kept"))
        with pytest.raises(RuntimeError):
            failing_part()
    assert ran == ["kept"]
    with pytest.raises(RuntimeError, match="abort x"):
        insert_then_fail_after(database, lambda: ran.append("never"))
    assert ran == ["kept"]


def test_on_commit_outside_a_transaction_runs_at_once(database: Database) -> None:
    ran: list[int] = []
    database.on_commit(lambda: ran.append(1))
    assert ran == [1]

"""The embedded database under real threads and real asyncio tasks, on real SQLite files.

A file database gives each thread its own connection (WAL: readers never wait for a writer); a
transaction belongs to the thread or asyncio task that opened it; another task of the same thread
is refused at once rather than joining it or blocking the event loop.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest

from aura.database import Database
from aura.exceptions import ConfigurationError, DatabaseBusyError
from aura.module import Module
from aura.platform import Platform

ANOTHER_TASK = "Another asyncio task on this thread holds a transaction of the database {path!r}"

FILE_TRANSACTION_REFUSED = (
    ANOTHER_TASK + "; a second one here would wait for SQLite's write lock with the event loop "
    "blocked, so the holder could never finish. Await the other task's transaction first (an "
    "asyncio.Lock around both), or run this one in another thread (asyncio.to_thread)."
)
FILE_WRITE_REFUSED = (
    ANOTHER_TASK + ", so this write would wait for SQLite's write lock with the event loop "
    "blocked, and the holder could never finish. Await the other task's transaction first (an "
    "asyncio.Lock around both), or run the write in another thread (asyncio.to_thread)."
)
MEMORY_TRANSACTION_REFUSED = (
    ANOTHER_TASK + ", whose one connection every task shares: a second transaction here would "
    "become part of it, and commit or roll back with it. Await the other task's transaction first "
    "(an asyncio.Lock around both), or run this one in another thread (asyncio.to_thread), which "
    "waits for it."
)
MEMORY_STATEMENT_REFUSED = (
    ANOTHER_TASK + ", whose one connection every task shares: this statement would run inside "
    "that transaction (reading its uncommitted rows, or writing into it). Await the other task's "
    "transaction first, run this in another thread (asyncio.to_thread), or use a file database, "
    "where each task reads on a connection of its own."
)


def make(path: str | Path) -> Database:
    database = Database(path)
    database.execute("CREATE TABLE items (name TEXT)")
    return database


@pytest.fixture
def file_database(tmp_path: Path) -> Iterator[Database]:
    database = make(tmp_path / "aura.db")
    yield database
    database.close()


@pytest.fixture(params=["file", "memory"])
def any_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    database = make(tmp_path / "aura.db" if request.param == "file" else ":memory:")
    yield database
    database.close()


def names(database: Database) -> list[str]:
    return [row["name"] for row in database.query("SELECT name FROM items ORDER BY rowid")]


def insert(database: Database, name: str) -> None:
    database.execute("INSERT INTO items VALUES (?)", (name,))


def refused_transaction(database: Database) -> str:
    return (
        MEMORY_TRANSACTION_REFUSED if database.path == ":memory:" else FILE_TRANSACTION_REFUSED
    ).format(path=database.path)


async def wait_for(event: threading.Event) -> None:
    """Let the event loop run until another thread sets ``event``."""
    while not event.is_set():
        await asyncio.sleep(0.005)


# --- threads --------------------------------------------------------------------------------------


def test_a_reader_thread_does_not_wait_for_a_writer_thread_sleeping_in_its_transaction(
    file_database: Database,
) -> None:
    inside, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with file_database.transaction():
            insert(file_database, "uncommitted")
            inside.set()
            release.wait(10)  # a slow email backend, say, inside a durable handler

    writer = threading.Thread(target=slow_writer)
    writer.start()
    inside.wait()
    started = time.perf_counter()
    seen = names(file_database)
    elapsed = time.perf_counter() - started
    release.set()  # the writer holds its transaction until the read is done, however slow
    writer.join()

    assert elapsed < 2.0  # a read waiting for the writer would take its 10 s (or a 5 s timeout)
    assert seen == []  # nothing of the open transaction is visible
    assert names(file_database) == ["uncommitted"]


def test_a_slow_durable_handler_does_not_hold_up_another_threads_reads(tmp_path: Path) -> None:
    orders, mailer = Module("orders"), Module("mailer")
    orders.publishes("order.*")
    inside, release = threading.Event(), threading.Event()

    @mailer.subscribe("order.placed")
    def send_email(data: dict[str, Any]) -> None:  # runs inside its delivery's transaction
        inside.set()
        release.wait(10)  # a slow email backend, until the test has read

    with Platform(
        [orders, mailer], database=tmp_path / "aura.db", durable=True, poll_interval=None
    ) as platform:
        publisher = threading.Thread(
            target=platform.bus.publish, args=("order.placed", {"n": 1}, "orders")
        )
        publisher.start()
        inside.wait()
        started = time.perf_counter()
        row = platform.database.query_one("SELECT COUNT(*) AS n FROM aura_events")
        elapsed = time.perf_counter() - started
        handler_was_running = publisher.is_alive()
        release.set()
        publisher.join()

    assert elapsed < 2.0  # a read waiting for the handler would take its 10 s
    assert handler_was_running
    assert row is not None
    assert row["n"] == 1  # the event was committed before its delivery began


def test_threads_writing_in_transactions_at_once_lose_nothing(file_database: Database) -> None:
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def writer(thread: int) -> None:
        try:
            start.wait()
            for n in range(50):
                with file_database.transaction():
                    insert(file_database, f"{thread}-{n}")
                    with file_database.transaction():
                        insert(file_database, f"{thread}-{n}-nested")
        except BaseException as error:  # collected, to fail the test in its own thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(names(file_database)) == 400
    assert len(set(names(file_database))) == 400


def test_statements_outside_a_transaction_commit_at_once_in_any_thread(
    file_database: Database, tmp_path: Path
) -> None:
    thread = threading.Thread(target=insert, args=(file_database, "from a thread"))
    thread.start()
    thread.join()

    with Database(tmp_path / "aura.db") as other:
        assert names(other) == ["from a thread"]


# --- asyncio tasks on one thread ------------------------------------------------------------------


def test_another_task_is_refused_a_transaction_at_once_and_keeps_its_rows_from_a_thread(
    any_database: Database,
) -> None:
    database = any_database
    a_open = asyncio.Event()
    b_waiting = threading.Event()
    order: list[str] = []
    seen: dict[str, Any] = {}

    async def a_then_fail() -> None:
        with database.transaction():
            insert(database, "a")
            a_open.set()
            await wait_for(b_waiting)
            await asyncio.sleep(0.1)  # B's thread is now waiting for A's transaction
            order.append("A rolls back")
            raise RuntimeError("A fails")

    async def task_a() -> None:
        with pytest.raises(RuntimeError, match="A fails"):
            await a_then_fail()

    def b_in_a_thread() -> None:
        seen["b in transaction (thread)"] = database.in_transaction
        b_waiting.set()
        with database.transaction():
            insert(database, "b")
        order.append("B committed")

    async def task_b() -> None:
        await a_open.wait()
        seen["b in transaction"] = database.in_transaction
        started = time.perf_counter()
        with pytest.raises(DatabaseBusyError) as caught, database.transaction():
            insert(database, "never")
        seen["refused after"] = time.perf_counter() - started
        seen["message"] = str(caught.value)
        await asyncio.to_thread(b_in_a_thread)  # the fix the message names

    async def main() -> None:
        await asyncio.gather(task_a(), task_b())

    asyncio.run(main())

    assert seen["message"] == refused_transaction(database)
    assert seen["refused after"] < 1.0  # at once: not after the 5 s busy timeout
    assert seen["b in transaction"] is False
    assert seen["b in transaction (thread)"] is False
    assert order == ["A rolls back", "B committed"]
    assert names(database) == ["b"]  # A's rollback took nothing of B's


def test_on_a_file_another_task_reads_the_committed_rows_while_a_transaction_is_open(
    file_database: Database,
) -> None:
    insert(file_database, "committed")
    a_open, b_done = asyncio.Event(), asyncio.Event()
    seen: dict[str, Any] = {}

    async def task_a() -> None:
        with file_database.transaction():
            insert(file_database, "a")
            a_open.set()
            await b_done.wait()
        seen["a in transaction after"] = file_database.in_transaction

    async def task_b() -> None:
        await a_open.wait()
        seen["b reads"] = names(file_database)
        started = time.perf_counter()
        with pytest.raises(DatabaseBusyError) as caught:
            insert(file_database, "b")
        seen["write refused after"] = time.perf_counter() - started
        seen["write message"] = str(caught.value)
        seen["b reads again"] = names(file_database)
        b_done.set()

    async def main() -> None:
        await asyncio.gather(task_a(), task_b())

    asyncio.run(main())

    assert seen["b reads"] == seen["b reads again"] == ["committed"]
    assert seen["write message"] == FILE_WRITE_REFUSED.format(path=file_database.path)
    assert seen["write refused after"] < 2.0  # not the 5 s busy timeout
    assert seen["a in transaction after"] is False
    assert names(file_database) == ["committed", "a"]


def test_in_memory_another_task_is_refused_any_statement_while_a_transaction_is_open() -> None:
    database = make(":memory:")
    a_open, b_done = asyncio.Event(), asyncio.Event()
    messages: list[str] = []

    async def task_a() -> None:
        with database.transaction():
            insert(database, "a")
            a_open.set()
            await b_done.wait()

    async def task_b() -> None:
        await a_open.wait()
        for statement in (lambda: names(database), lambda: insert(database, "b")):
            with pytest.raises(DatabaseBusyError) as caught:
                statement()
            messages.append(str(caught.value))
        b_done.set()

    async def main() -> None:
        await asyncio.gather(task_a(), task_b())

    asyncio.run(main())

    assert messages == [MEMORY_STATEMENT_REFUSED.format(path=":memory:")] * 2
    assert names(database) == ["a"]
    database.close()


def test_tasks_that_take_turns_each_commit_their_own_transaction(any_database: Database) -> None:
    database = any_database
    turn = asyncio.Lock()

    async def task(name: str, fails: bool) -> None:
        async with turn:
            try:
                with database.transaction():
                    insert(database, name)
                    await asyncio.sleep(0.01)
                    if fails:
                        raise RuntimeError(name)
            except RuntimeError:
                pass

    async def main() -> None:
        await asyncio.gather(task("a", True), task("b", False), task("c", True), task("d", False))

    asyncio.run(main())

    assert names(database) == ["b", "d"]


def test_a_nested_transaction_in_the_same_task_is_a_savepoint(any_database: Database) -> None:
    database = any_database
    seen: list[bool] = []

    async def inner_then_fail() -> None:
        with database.transaction():
            insert(database, "inner")
            await asyncio.sleep(0)
            raise RuntimeError("inner fails")

    async def use_case() -> None:
        with database.transaction():
            insert(database, "outer")
            await asyncio.sleep(0)
            with pytest.raises(RuntimeError, match="inner fails"):
                await inner_then_fail()
            with database.transaction():
                seen.append(database.in_transaction)
                insert(database, "second inner")
            seen.append(database.in_transaction)
        seen.append(database.in_transaction)

    asyncio.run(use_case())

    assert seen == [True, True, False]
    assert names(database) == ["outer", "second inner"]


def test_a_task_or_thread_started_inside_a_transaction_does_not_own_it(
    any_database: Database,
) -> None:
    database = any_database
    seen: dict[str, bool] = {}

    async def child() -> None:
        seen["child task"] = database.in_transaction

    async def use_case() -> None:
        with database.transaction():
            seen["opener"] = database.in_transaction
            await asyncio.create_task(child())  # copies the context, transaction included
            seen["thread"] = await asyncio.to_thread(lambda: database.in_transaction)

    asyncio.run(use_case())

    assert seen == {"opener": True, "child task": False, "thread": False}


# --- on_commit ------------------------------------------------------------------------------------


def test_on_commit_runs_in_order_after_its_own_tasks_commit_and_not_after_a_rollback(
    any_database: Database,
) -> None:
    database = any_database
    ran: list[str] = []
    turn = asyncio.Lock()

    async def task(name: str, fails: bool) -> None:
        async with turn:
            with pytest.raises(RuntimeError) if fails else nullcontext(), database.transaction():
                database.on_commit(lambda: ran.append(f"{name} 1"))
                await asyncio.sleep(0)
                with database.transaction():
                    database.on_commit(lambda: ran.append(f"{name} 2"))
                database.on_commit(lambda: ran.append(f"{name} 3"))
                if fails:
                    raise RuntimeError(name)
            ran.append(f"{name} done")

    async def main() -> None:
        await asyncio.gather(task("a", False), task("b", True), task("c", False))

    asyncio.run(main())

    assert ran == ["a 1", "a 2", "a 3", "a done", "b done", "c 1", "c 2", "c 3", "c done"]


def test_on_commit_callbacks_run_outside_the_transaction_and_any_lock(
    any_database: Database,
) -> None:
    database = any_database
    outcome: dict[str, Any] = {}

    def after_commit() -> None:
        outcome["in transaction"] = database.in_transaction
        thread = threading.Thread(target=lambda: database_transaction(database, "from a thread"))
        thread.start()
        thread.join(2)
        outcome["thread finished"] = not thread.is_alive()
        database_transaction(database, "from the callback")

    with database.transaction():
        insert(database, "first")
        database.on_commit(after_commit)

    assert outcome == {"in transaction": False, "thread finished": True}
    assert names(database) == ["first", "from a thread", "from the callback"]


def database_transaction(database: Database, name: str) -> None:
    with database.transaction():
        insert(database, name)


# --- closing --------------------------------------------------------------------------------------


def open_descriptors(path: Path) -> int:
    """How many file descriptors of this process are open on ``path`` (Linux only)."""
    target, count = str(path.resolve()), 0
    for descriptor in Path("/proc/self/fd").iterdir():
        try:
            count += os.readlink(descriptor) == target
        except OSError:  # closed meanwhile (the iterator's own descriptor, say)
            continue
    return count


needs_proc = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="counts open files in /proc/self/fd"
)


class Worker(threading.Thread):
    """A thread that runs what it is given, one call at a time, and stays alive in between."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self._calls: list[tuple[Callable[[], Any], threading.Event, list[Any]]] = []
        self._ready = threading.Condition()
        self._stopped = False

    def call(self, function: Callable[[], Any]) -> Any:
        done, result = threading.Event(), []
        with self._ready:
            self._calls.append((function, done, result))
            self._ready.notify()
        assert done.wait(5)
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]

    def stop(self) -> None:
        with self._ready:
            self._stopped = True
            self._ready.notify()
        self.join()

    def run(self) -> None:
        while True:
            with self._ready:
                self._ready.wait_for(lambda: self._calls or self._stopped)
                if not self._calls:
                    return
                function, done, result = self._calls.pop(0)
            try:
                result.append(function())
            except BaseException as error:  # handed to the caller
                result.append(error)
            done.set()


@needs_proc
def test_close_from_another_thread_closes_every_threads_connection(tmp_path: Path) -> None:
    path = tmp_path / "aura.db"
    database = make(path)
    workers = [Worker() for _ in range(3)]
    for worker in workers:
        worker.start()
        worker.call(lambda: insert(database, "x"))
    opened = open_descriptors(path)

    closer = threading.Thread(target=database.close)
    closer.start()
    closer.join()

    assert opened == 4  # the constructing thread's connection and one per worker
    assert open_descriptors(path) == 0
    assert database.closed
    expected = (
        f"The database {str(path)!r} is closed. Use the platform while it is open, or build a "
        "new one."
    )
    for worker in workers:
        with pytest.raises(ConfigurationError) as caught:
            worker.call(lambda: names(database))
        assert str(caught.value) == expected
        worker.stop()
    with pytest.raises(ConfigurationError) as caught:
        database.transaction().__enter__()
    assert str(caught.value) == expected
    database.close()  # harmless the second time


@needs_proc
def test_a_threads_connection_closes_when_the_thread_ends(file_database: Database) -> None:
    path = Path(file_database.path)
    before = open_descriptors(path)

    for n in range(20):  # a server that starts a thread per request
        thread = threading.Thread(target=insert, args=(file_database, str(n)))
        thread.start()
        thread.join()
    gc.collect()

    assert before == 1
    # SQLite keeps at most one closed connection's descriptor for reuse while another
    # connection of the process holds the file: 20 threads do not leave 20 open.
    assert open_descriptors(path) <= 2
    assert len(names(file_database)) == 20


def test_closing_during_another_threads_transaction_rolls_it_back(tmp_path: Path) -> None:
    path = tmp_path / "aura.db"
    database = make(path)
    inside, closed = threading.Event(), threading.Event()
    raised: list[BaseException] = []

    def writer() -> None:
        try:
            with database.transaction():
                insert(database, "lost")
                inside.set()
                closed.wait()
                insert(database, "never")
        except BaseException as error:  # collected, to fail the test in its own thread
            raised.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    inside.wait()
    database.close()
    closed.set()
    thread.join()

    assert [type(error) for error in raised] == [ConfigurationError]
    with Database(path) as reopened:
        assert names(reopened) == []


# --- read only ------------------------------------------------------------------------------------


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def rollback_journal_file(tmp_path: Path) -> Path:
    """A database file in SQLite's default journal mode (delete), as another tool made it."""
    path = tmp_path / "existing.db"
    connection = sqlite3.connect(path)
    connection.executescript("CREATE TABLE items (name TEXT); INSERT INTO items VALUES ('kept');")
    connection.commit()
    connection.close()
    return path


def test_a_read_only_database_reads_and_never_writes(rollback_journal_file: Path) -> None:
    path = rollback_journal_file
    before = digest(path)

    with Database(path, read_only=True) as database:
        assert names(database) == ["kept"]
        with database.transaction():  # a consistent snapshot of several reads
            assert names(database) == ["kept"]
        with pytest.raises(sqlite3.OperationalError, match="attempt to write a readonly database"):
            insert(database, "x")
        with pytest.raises(sqlite3.OperationalError, match="attempt to write a readonly database"):
            database.executescript("INSERT INTO items VALUES ('y');")
        assert database.query_one("PRAGMA journal_mode")[0] == "delete"  # type: ignore[index]
        assert repr(database) == f"Database({str(path)!r}, read_only=True)"

    assert digest(path) == before
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    assert sorted(p.name for p in path.parent.iterdir()) == ["existing.db"]


def test_opening_a_read_only_transaction_takes_no_lock(rollback_journal_file: Path) -> None:
    with Database(rollback_journal_file, read_only=True) as reader, reader.transaction():
        # BEGIN IMMEDIATE would hold the write lock of a rollback-journal file until the end.
        writer = sqlite3.connect(rollback_journal_file, timeout=0, isolation_level=None)
        writer.execute("INSERT INTO items VALUES ('written meanwhile')")
        writer.close()
        assert names(reader) == ["kept", "written meanwhile"]


def test_a_read_only_database_reads_from_another_thread(rollback_journal_file: Path) -> None:
    seen: list[list[str]] = []
    with Database(rollback_journal_file, read_only=True) as database:
        thread = threading.Thread(target=lambda: seen.append(names(database)))
        thread.start()
        thread.join()
    assert seen == [["kept"]]


def test_a_read_only_database_needs_an_existing_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.db"
    with pytest.raises(ConfigurationError) as caught:
        Database(missing, read_only=True)
    assert str(caught.value) == (
        f"No database file at {str(missing)!r}: read_only=True opens an existing database and "
        "never creates one. Check the path, or open it without read_only to create it."
    )
    assert not missing.exists()


def test_a_read_only_database_cannot_be_in_memory() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Database(":memory:", read_only=True)
    assert str(caught.value) == (
        "read_only=True needs a database file, got ':memory:' (an in-memory database starts "
        "empty). Pass the path of an existing database file."
    )


def test_the_dialect_is_sqlite(any_database: Database) -> None:
    assert any_database.dialect == Database.dialect == "sqlite"

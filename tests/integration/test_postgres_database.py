"""The PostgreSQL unit of work on a real server: placeholders, transactions, savepoints,
threads and asyncio tasks, LISTEN/NOTIFY, reconnection after faults, closing.

The server is the session's private cluster (aura.testing.postgres), or AURA_TEST_DSN's.
"""

from __future__ import annotations

import asyncio
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from aura.exceptions import ConfigurationError
from aura.postgres import PostgresDatabase, mask_password, translate
from aura.testing.postgres import (
    UNAVAILABLE,
    ExternalServer,
    PostgresCluster,
    find_binaries,
    locate_server,
)

WAIT = 10.0  # seconds to wait for something that should happen (a notification, a reconnect)


@pytest.fixture
def database(postgres_database: PostgresDatabase) -> PostgresDatabase:
    postgres_database.executescript(
        "CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);"
        "CREATE TABLE counters (id int PRIMARY KEY, value int NOT NULL);"
        "INSERT INTO counters VALUES (1, 0), (2, 0);"
    )
    return postgres_database


@pytest.fixture
def other(fresh_postgres_dsn: str, database: PostgresDatabase) -> Iterator[PostgresDatabase]:
    """A second database object on the same database: what another process would see."""
    with PostgresDatabase(fresh_postgres_dsn, pool_size=2) as other:
        yield other


def names(database: PostgresDatabase) -> list[str]:
    return [row["name"] for row in database.query("SELECT name FROM items ORDER BY id")]


class Inbox:
    """A listener's callback that keeps what it is given, in order."""

    def __init__(self) -> None:
        self.received: queue.Queue[str | None] = queue.Queue()

    def __call__(self, payload: str | None) -> None:
        self.received.put(payload)

    def next(self, timeout: float = WAIT) -> str | None:
        return self.received.get(timeout=timeout)

    def until(self, marker: str) -> list[str | None]:
        """Everything received up to and including ``marker``."""
        seen: list[str | None] = []
        while not seen or seen[-1] != marker:
            seen.append(self.next())
        return seen

    def assert_nothing_for(self, seconds: float) -> None:
        with pytest.raises(queue.Empty):
            self.received.get(timeout=seconds)


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()


@pytest.fixture
def listening(database: PostgresDatabase, inbox: Inbox) -> Iterator[Callable[[], None]]:
    stop = database.listen("aura_test", inbox)
    yield stop
    stop()


def listener_pids(database: PostgresDatabase) -> list[int]:
    rows = database.query(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
        "AND query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
    )
    return [row["pid"] for row in rows]


def roll_back(database: PostgresDatabase, *steps: Callable[[], object]) -> None:
    """Run ``steps`` in a transaction (a savepoint, inside one) that then fails on purpose."""
    with pytest.raises(RuntimeError, match="on purpose"):
        fail_after(database, steps)


def fail_after(database: PostgresDatabase, steps: tuple[Callable[[], object], ...]) -> None:
    with database.transaction():
        for step in steps:
            step()
        raise RuntimeError("rolled back on purpose")


def insert(database: PostgresDatabase, name: str) -> Callable[[], object]:
    return lambda: database.execute("INSERT INTO items (name) VALUES (?)", (name,))


def eventually(condition: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.02)


# --- statements --------------------------------------------------------------------------------


def test_statements_take_question_mark_placeholders(database: PostgresDatabase) -> None:
    inserted = database.execute("INSERT INTO items (name) VALUES (?) RETURNING id", ("a",))
    database.executemany("INSERT INTO items (name) VALUES (?)", [("b",), ("c",)])
    updated = database.execute("UPDATE items SET name = upper(name) WHERE name <> ?", ("a",))
    deleted = database.execute("DELETE FROM items WHERE name = ?", ("C",))

    assert inserted.fetchone() == {"id": 1}
    assert inserted.fetchall() == [{"id": 1}]
    assert (updated.rowcount, deleted.rowcount) == (2, 1)
    assert names(database) == ["a", "B"]
    assert database.query_one("SELECT id, name FROM items WHERE name = ?", ("B",)) == {
        "id": 2,
        "name": "B",
    }
    assert database.query_one("SELECT name FROM items WHERE name = ?", ("zzz",)) is None


def test_percent_signs_and_quoted_question_marks_are_left_alone(
    database: PostgresDatabase,
) -> None:
    database.execute("INSERT INTO items (name) VALUES (?), ('50%?')", ("it's ?",))
    row = database.query_one(
        "SELECT count(*) AS n, 7 % 4 AS modulo, '?' AS mark, $$ ? % $$ AS dollar "
        "FROM items WHERE name LIKE '%?' OR name = ? -- a comment with ? and %",
        ("it's ?",),
    )
    assert row == {"n": 2, "modulo": 3, "mark": "?", "dollar": " ? % "}
    assert database.query("SELECT 100 % 7 AS m") == [{"m": 2}]


def test_the_translation_is_made_once_per_statement_text() -> None:
    statement = "SELECT ?, '?', \"?\", E'\\'?', ? % 2 -- ?"
    assert translate(statement) == "SELECT %s, '?', \"?\", E'\\'?', %s %% 2 -- ?"
    assert translate(statement) is translate(statement)
    assert translate("a = :a AND b::int = :b", named=True) == "a = %(a)s AND b::int = %(b)s"
    assert translate("a = :a AND b::int = ?") == "a = :a AND b::int = %s"


def test_a_mapping_of_parameters_takes_named_placeholders(database: PostgresDatabase) -> None:
    database.executemany("INSERT INTO items (name) VALUES (:name)", [{"name": "a"}, {"name": "b"}])
    assert database.query("SELECT name FROM items WHERE name = :n::text", {"n": "b"}) == [
        {"name": "b"}
    ]


def test_statements_outside_a_transaction_commit_at_once(
    database: PostgresDatabase, other: PostgresDatabase
) -> None:
    database.execute("INSERT INTO items (name) VALUES (?)", ("a",))
    assert names(other) == ["a"]


def test_a_schema_script_runs_whole_or_not_at_all(database: PostgresDatabase) -> None:
    with pytest.raises(psycopg.errors.UndefinedTable):
        database.executescript("CREATE TABLE first (x int); INSERT INTO missing VALUES (1);")
    database.executescript("CREATE TABLE first (x int); INSERT INTO first VALUES (1), (2);")
    assert database.query("SELECT x FROM first ORDER BY x") == [{"x": 1}, {"x": 2}]


# --- transactions ------------------------------------------------------------------------------


def test_a_transaction_commits_together_and_is_unseen_until_then(
    database: PostgresDatabase, other: PostgresDatabase
) -> None:
    with database.transaction():
        assert database.in_transaction
        database.executemany("INSERT INTO items (name) VALUES (?)", [("a",), ("b",)])
        assert names(database) == ["a", "b"]
        assert names(other) == []
    assert not database.in_transaction
    assert names(other) == ["a", "b"]


def test_a_failing_transaction_writes_nothing(database: PostgresDatabase) -> None:
    roll_back(database, insert(database, "a"))
    assert names(database) == []
    assert not database.in_transaction


def test_a_nested_transaction_is_a_savepoint(database: PostgresDatabase) -> None:
    with database.transaction():
        database.execute("INSERT INTO items (name) VALUES (?)", ("outer",))
        roll_back(database, insert(database, "inner"))
        with database.transaction():
            database.execute("INSERT INTO items (name) VALUES (?)", ("kept",))
    assert names(database) == ["outer", "kept"]


def test_on_commit_runs_after_the_outermost_commit(
    database: PostgresDatabase, other: PostgresDatabase
) -> None:
    seen: list[tuple[str, list[str], bool]] = []

    def record(label: str) -> Callable[[], None]:
        return lambda: seen.append((label, names(other), database.in_transaction))

    with database.transaction():
        database.execute("INSERT INTO items (name) VALUES (?)", ("a",))
        database.on_commit(record("outer"))
        with database.transaction():
            database.on_commit(record("inner"))
        assert seen == []
    assert seen == [("outer", ["a"], False), ("inner", ["a"], False)]


def test_on_commit_callbacks_are_dropped_with_their_rollback(database: PostgresDatabase) -> None:
    seen: list[str] = []
    with database.transaction():
        database.on_commit(lambda: seen.append("outer"))
        roll_back(database, lambda: database.on_commit(lambda: seen.append("savepoint")))
    roll_back(database, lambda: database.on_commit(lambda: seen.append("transaction")))
    database.on_commit(lambda: seen.append("outside"))
    assert seen == ["outer", "outside"]


def test_transactions_in_two_threads_do_not_wait_for_each_other(
    database: PostgresDatabase,
) -> None:
    both_inside = threading.Barrier(2, timeout=WAIT)
    pids: dict[int, int] = {}
    errors: list[BaseException] = []

    def increment(counter: int) -> None:
        try:
            with database.transaction():
                database.execute("UPDATE counters SET value = value + 1 WHERE id = ?", (counter,))
                pids[counter] = database.query_one("SELECT pg_backend_pid() AS pid")["pid"]  # type: ignore[index]
                both_inside.wait()  # each holds its row lock and its connection meanwhile
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=increment, args=(counter,)) for counter in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT * 2)

    assert errors == []
    assert pids[1] != pids[2]
    assert database.query("SELECT value FROM counters ORDER BY id") == [{"value": 1}] * 2


def test_two_asyncio_tasks_on_one_thread_do_not_share_a_transaction(
    database: PostgresDatabase,
) -> None:
    pids: dict[str, int] = {}

    async def write(name: str, inside: asyncio.Event, other_inside: asyncio.Event) -> None:
        with database.transaction():
            database.execute("INSERT INTO items (name) VALUES (?)", (name,))
            pids[name] = database.query_one("SELECT pg_backend_pid() AS pid")["pid"]  # type: ignore[index]
            inside.set()
            await other_inside.wait()  # both transactions are open on the one thread here
            if name == "b":
                raise RuntimeError("b rolls back")

    async def main() -> list[BaseException | None]:
        a_inside, b_inside = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(
            write("a", a_inside, b_inside), write("b", b_inside, a_inside), return_exceptions=True
        )

    results = asyncio.run(main())

    assert results[0] is None
    assert str(results[1]) == "b rolls back"
    assert pids["a"] != pids["b"]
    assert names(database) == ["a"]


def test_a_task_or_thread_started_inside_a_transaction_does_not_join_it(
    database: PostgresDatabase,
) -> None:
    seen: dict[str, bool] = {}

    def write(name: str) -> None:
        seen[name] = database.in_transaction
        database.execute("INSERT INTO items (name) VALUES (?)", (name,))

    async def child_task() -> None:
        write("task")

    async def main() -> None:
        with database.transaction():
            write("outer")
            await asyncio.create_task(child_task())  # inherits the context, not the transaction
            await asyncio.to_thread(write, "thread")
            raise RuntimeError("the outer transaction rolls back")

    with pytest.raises(RuntimeError, match="rolls back"):
        asyncio.run(main())

    assert seen == {"outer": True, "task": False, "thread": False}
    assert names(database) == ["task", "thread"]  # each committed on a connection of its own


# --- notify and listen -------------------------------------------------------------------------


@pytest.mark.usefixtures("listening")
def test_a_notify_is_delivered_only_after_the_commit(
    database: PostgresDatabase, inbox: Inbox
) -> None:
    with database.transaction():
        database.notify("aura_test", "committed")
        inbox.assert_nothing_for(0.3)
    assert inbox.next() == "committed"


@pytest.mark.usefixtures("listening")
def test_a_notify_is_not_delivered_when_its_transaction_rolls_back(
    database: PostgresDatabase, inbox: Inbox
) -> None:
    roll_back(database, lambda: database.notify("aura_test", "rolled back"))
    with database.transaction():
        roll_back(database, lambda: database.notify("aura_test", "in a rolled back savepoint"))
        database.notify("aura_test", "outer")  # pending again: the savepoint's was dropped
    database.notify("aura_test", "marker")  # outside a transaction: at once
    assert inbox.until("marker") == ["outer", "marker"]


@pytest.mark.usefixtures("listening")
def test_notifies_of_a_channel_coalesce_within_a_transaction(
    database: PostgresDatabase, inbox: Inbox
) -> None:
    with database.transaction():
        for number in range(5):
            database.notify("aura_test", f"p{number}")
    database.notify("aura_test", "marker")
    assert inbox.until("marker") == ["p0", "marker"]


@pytest.mark.usefixtures("listening")
def test_a_notify_in_a_released_savepoint_goes_with_the_outer_commit(
    database: PostgresDatabase, inbox: Inbox
) -> None:
    with database.transaction():
        with database.transaction():
            database.notify("aura_test", "savepoint")
            database.notify("aura_other", "savepoint")
        database.notify("aura_test", "outer")  # coalesced with the savepoint's
        inbox.assert_nothing_for(0.2)
    database.notify("aura_test", "marker")
    assert inbox.until("marker") == ["savepoint", "marker"]


def test_a_listener_survives_the_termination_of_its_backend(
    database: PostgresDatabase, inbox: Inbox, listening: Callable[[], None]
) -> None:
    (pid,) = listener_pids(database)
    assert database.query_one("SELECT pg_terminate_backend(?) AS done", (pid,)) == {"done": True}

    assert inbox.next() is None  # reconnected: look again for what was missed
    database.notify("aura_test", "after")
    assert inbox.next() == "after"
    assert listener_pids(database) not in ([], [pid])


def test_stop_ends_a_listener_promptly(database: PostgresDatabase, inbox: Inbox) -> None:
    stop = database.listen("aura_test", inbox)
    eventually(lambda: len(listener_pids(database)) == 1)

    started = time.perf_counter()
    stop()
    elapsed = time.perf_counter() - started

    assert elapsed < 1.0
    database.notify("aura_test", "too late")
    inbox.assert_nothing_for(0.3)
    eventually(lambda: listener_pids(database) == [])
    stop()  # twice is harmless


def test_a_failing_callback_does_not_end_the_listener(
    database: PostgresDatabase, inbox: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    def fail_once(payload: str | None) -> None:
        if payload == "boom":
            raise RuntimeError("callback failed")
        inbox(payload)

    stop = database.listen("aura_test", fail_once)
    try:
        database.notify("aura_test", "boom")
        database.notify("aura_test", "next")
        assert inbox.next() == "next"
    finally:
        stop()
    assert [r.getMessage() for r in caplog.records if r.name == "aura.postgres"] == [
        "A listener of channel 'aura_test' failed"
    ]


def test_a_channel_name_is_checked(database: PostgresDatabase) -> None:
    with pytest.raises(ConfigurationError) as raised:
        database.notify("", "x")
    assert str(raised.value) == (
        "A notification channel must be a non-empty str of at most 63 bytes, got ''. Pass a "
        "short name such as 'aura_publications'."
    )


# --- faults ------------------------------------------------------------------------------------


def test_the_pool_recovers_after_a_server_restart(
    database: PostgresDatabase,
    inbox: Inbox,
    listening: Callable[[], None],
    postgres_cluster: PostgresCluster | ExternalServer,
) -> None:
    database.execute("INSERT INTO items (name) VALUES (?)", ("before",))

    postgres_cluster.restart()

    with database.transaction():
        database.execute("INSERT INTO items (name) VALUES (?)", ("after",))
    assert names(database) == ["before", "after"]
    assert inbox.next() is None  # the listener reconnected too
    database.notify("aura_test", "after restart")
    assert inbox.next() == "after restart"


def test_a_pooled_connection_that_died_while_idle_is_replaced(
    database: PostgresDatabase, other: PostgresDatabase
) -> None:
    pid = database.query_one("SELECT pg_backend_pid() AS pid")["pid"]  # type: ignore[index]
    assert other.query_one("SELECT pg_terminate_backend(?) AS done", (pid,)) == {"done": True}
    eventually(lambda: other.query("SELECT 1 FROM pg_stat_activity WHERE pid = ?", (pid,)) == [])

    database.execute("INSERT INTO items (name) VALUES (?)", ("after",))

    assert names(database) == ["after"]
    assert database.query_one("SELECT pg_backend_pid() AS pid") != {"pid": pid}


def test_a_listener_keeps_trying_while_the_server_is_down(
    database: PostgresDatabase,
    inbox: Inbox,
    listening: Callable[[], None],
    postgres_cluster: PostgresCluster | ExternalServer,
) -> None:
    postgres_cluster.stop()
    try:
        inbox.assert_nothing_for(0.5)  # no callback(None) before it has reconnected
    finally:
        postgres_cluster.start()

    assert inbox.next() is None
    database.notify("aura_test", "back")
    assert inbox.next() == "back"  # one callback(None) however many attempts failed


def test_a_server_that_is_not_there_is_named_with_the_reason() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    dsn = f"postgresql://aura:secret@127.0.0.1:{port}/aura"
    with pytest.raises(psycopg.OperationalError) as direct:
        psycopg.connect(dsn, connect_timeout=2)

    with pytest.raises(ConfigurationError) as raised:
        PostgresDatabase(dsn, connect_timeout=2)

    assert "\n\tIs the server running" in str(direct.value)  # libpq's hint, on a line of its own
    assert str(raised.value) == (  # one line, as a CLI prints it
        f"Cannot connect to PostgreSQL at 'postgresql://aura:***@127.0.0.1:{port}/aura': "
        f'connection failed: connection to server at "127.0.0.1", port {port} failed: '
        "Connection refused (Is the server running on that host and accepting TCP/IP "
        "connections?). Check the DSN (postgresql://user:password@host:5432/dbname) and that "
        "the server is running."
    )


# --- closing -----------------------------------------------------------------------------------


def test_close_is_idempotent_and_use_after_close_is_refused(
    database: PostgresDatabase, inbox: Inbox, fresh_postgres_dsn: str
) -> None:
    database.listen("aura_test", inbox)
    with PostgresDatabase(fresh_postgres_dsn) as observer:
        eventually(lambda: len(listener_pids(observer)) == 1)
        database.close()
        database.close()
        eventually(lambda: listener_pids(observer) == [])  # close() stopped the listener

    message = (
        f"The database {database.path!r} is closed. Use the platform while it is open, or "
        "build a new one."
    )
    for use in (
        lambda: database.query("SELECT 1"),
        lambda: database.execute("SELECT 1"),
        lambda: database.transaction().__enter__(),
        lambda: database.listen("aura_test", inbox),
    ):
        with pytest.raises(ConfigurationError) as raised:
            use()
        assert str(raised.value) == message
    assert database.closed


def test_the_path_masks_the_password() -> None:
    assert mask_password("postgresql://aura:s3cret@db:5432/aura?sslmode=require") == (
        "postgresql://aura:***@db:5432/aura?sslmode=require"
    )
    assert mask_password("host=db user=aura password='s3 cret' dbname=aura") == (
        "host=db user=aura password=*** dbname=aura"
    )
    assert mask_password("postgresql://aura@db/aura?password=s3cret") == (
        "postgresql://aura@db/aura?password=***"
    )


def test_an_empty_dsn_is_refused() -> None:
    with pytest.raises(ConfigurationError) as raised:
        PostgresDatabase(" ")
    assert str(raised.value) == (
        "A PostgreSQL DSN must be a non-empty connection string, got ' '. Pass "
        "dsn='postgresql://user:password@host:5432/dbname'."
    )


def test_a_notification_payload_must_fit(database: PostgresDatabase) -> None:
    with pytest.raises(ConfigurationError) as raised:
        database.notify("aura_test", "x" * 8000)
    assert str(raised.value) == (
        "A notification payload must be a str of at most 7999 bytes, got str "
        f"{'x' * 40!r}. Send a key and read the rest from a table."
    )


def test_a_bad_pool_size_is_refused() -> None:
    with pytest.raises(ConfigurationError) as raised:
        PostgresDatabase("postgresql://localhost/aura", pool_size=0)
    assert str(raised.value) == (
        "pool_size must be a positive int, got 0. Pass pool_size=10, or as many connections "
        "as transactions may be open at once."
    )


def test_the_dialect_and_repr_name_the_database(postgres_database: PostgresDatabase) -> None:
    assert postgres_database.dialect == "postgresql"
    assert repr(postgres_database) == f"PostgresDatabase({postgres_database.path!r})"


# --- the extra and the fixture's switch --------------------------------------------------------


def test_without_psycopg_the_import_names_the_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys\nsys.modules['psycopg'] = None\nimport aura.postgres"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "aura.exceptions.MissingExtraError: aura.postgres needs psycopg and psycopg-pool, which "
        "are not installed. Install Aura's postgres extra: pip install 'aura-modulith[postgres]'"
    )


def test_without_binaries_or_a_dsn_the_tests_skip_or_fail_when_required(tmp_path: Path) -> None:
    nowhere = str(tmp_path / "*" / "bin")
    assert find_binaries("", nowhere) is None

    with pytest.raises(pytest.skip.Exception) as skipped:
        locate_server({"PATH": ""}, nowhere)
    with pytest.raises(pytest.fail.Exception) as failed:
        locate_server({"PATH": "", "AURA_REQUIRE_POSTGRES": "1"}, nowhere)

    assert str(skipped.value) == UNAVAILABLE
    assert str(failed.value) == UNAVAILABLE
    assert UNAVAILABLE == (
        "PostgreSQL tests need initdb/pg_ctl on PATH or AURA_TEST_DSN=postgresql://..."
    )
    assert locate_server({"PATH": "", "AURA_TEST_DSN": "postgresql://h/db"}, nowhere) == (
        "postgresql://h/db"
    )


def test_binaries_are_found_on_path_or_in_a_versioned_directory(tmp_path: Path) -> None:
    for version in ("9.6", "15", "16"):
        directory = tmp_path / version / "bin"
        directory.mkdir(parents=True)
        for name in ("initdb", "pg_ctl", "postgres"):
            (directory / name).touch(mode=0o755)
    assert find_binaries("", str(tmp_path / "*" / "bin")) == tmp_path / "16" / "bin"
    assert find_binaries(str(tmp_path / "15" / "bin"), str(tmp_path / "*" / "bin")) == (
        tmp_path / "15" / "bin"
    )

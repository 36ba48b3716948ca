"""A dead-letter retry the database stops part way: a typed error that carries what was done,
the letters not reached left as they were, and nothing applied twice when the retry runs again.

The database refuses writes for real: SQLite's authorizer on the connection the retry uses,
installed by the handler once its own delivery has committed (as a disk that fails, or a
connection that drops, between two letters).
"""

from __future__ import annotations

import io
import logging
import sqlite3
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aura.cli import main
from aura.database import Database
from aura.exceptions import DeadLetterRetryError
from aura.module import Module
from aura.platform import Platform
from aura.store import CompletionMode


def connection_of(database: Database) -> sqlite3.Connection:
    """This thread's connection to ``database``."""
    connection: sqlite3.Connection = database._connections.slot().connection  # type: ignore[union-attr]
    return connection


def refuse(database: Database, action: int = sqlite3.SQLITE_UPDATE) -> None:
    """From now on, this thread's connection to ``database`` refuses every statement of the
    authorizer's ``action`` (UPDATE unless told)."""
    connection_of(database).set_authorizer(
        lambda code, *_: sqlite3.SQLITE_DENY if code == action else sqlite3.SQLITE_OK
    )


def allow_all(database: Database) -> None:
    """The database is back: this thread's connection refuses nothing again."""
    connection_of(database).set_authorizer(None)


def shipping(
    effects: list[int],
    broken: set[int],
    refuse_after: set[int] | None = None,
    refusal: int = sqlite3.SQLITE_UPDATE,
) -> Module:
    """A deliberately non-idempotent handler: each run that commits appends to ``effects``. It
    fails for the orders in ``broken``; once it has delivered one in ``refuse_after`` (any,
    when ``None``), the database refuses ``refusal`` statements."""
    module = Module("shipping")

    @module.subscribe("order.placed")
    def ship(data: dict[str, Any], database: Database) -> None:
        n = data["n"]
        if n in broken:
            raise ConnectionError(f"carrier down for order {n}")
        database.on_commit(lambda: effects.append(n))
        if refuse_after is None or n in refuse_after:
            database.on_commit(lambda: refuse(database, refusal))

    return module


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[tuple[Platform, list[int], set[int], set[int]]]:
    effects: list[int] = []
    broken = {1, 2, 3}
    stop_after: set[int] = set()
    module = shipping(effects, broken, stop_after)
    with Platform(
        [module], database=tmp_path / "aura.db", durable=True, poll_interval=None
    ) as built:
        for n in (1, 2, 3):
            built.bus.publish("order.placed", {"n": n}, "orders")
        yield built, effects, broken, stop_after


def own_store_platform(
    database: Database | Path, module: Module, *, completed: CompletionMode = "keep"
) -> Platform:
    """A durable platform, no delivery worker, whose dead letters are in a store of their own
    (a SqliteDeadLetterStore on the same database)."""
    from aura.store import SqliteDeadLetterStore

    if isinstance(database, Path):
        database = Database(database / "aura.db")
    return Platform(
        [module],
        database=database,
        durable=True,
        poll_interval=None,
        dead_letters=SqliteDeadLetterStore(database),
        completed_publications=completed,
    )


def test_a_retry_the_database_stops_raises_a_typed_error_with_what_it_did(
    platform: tuple[Platform, list[int], set[int], set[int]],
) -> None:
    built, effects, broken, stop_after = platform
    letters = built.bus.dead_letters()
    assert [letter.event.data["n"] for letter in letters] == [1, 2, 3]
    broken.clear()
    stop_after.add(1)

    with pytest.raises(DeadLetterRetryError) as raised:
        built.bus.retry_dead_letters()

    assert str(raised.value) == (
        "Retrying dead letters stopped: the database failed (DatabaseError: not authorized). "
        "Before it, 1 of the 3 due were retried: 1 delivered, 0 failed again, 0 handed back to "
        "delivery. The letters not retried yet are still dead letters. Retry again when the "
        "database is back."
    )
    assert isinstance(raised.value.__cause__, sqlite3.DatabaseError)
    report = raised.value.report
    assert [letter.id for letter in report.succeeded] == [letters[0].id]
    assert (report.failed, report.requeued) == ((), ())
    assert effects == [1]

    # The database is back: the letters not reached are as they were, and a second retry
    # applies each of them once.
    allow_all(built.database)
    remaining = built.bus.dead_letters()
    assert [(letter.id, letter.attempts) for letter in remaining] == [
        (letters[1].id, 1),
        (letters[2].id, 1),
    ]
    again = built.bus.retry_dead_letters()
    assert [letter.id for letter in again.succeeded] == [letters[1].id, letters[2].id]
    assert effects == [1, 2, 3]
    assert built.bus.dead_letters() == []


def test_a_retry_whose_dead_letters_cannot_be_read_says_none_was_read(
    platform: tuple[Platform, list[int], set[int], set[int]],
) -> None:
    built, effects, broken, _ = platform
    broken.clear()
    refuse(built.database, sqlite3.SQLITE_SELECT)
    try:
        with pytest.raises(DeadLetterRetryError) as raised:
            built.bus.retry_dead_letters()
    finally:
        allow_all(built.database)
    assert str(raised.value).startswith(
        "Retrying dead letters stopped: the database failed (DatabaseError: not authorized). "
        "No dead letter was read. The letters not retried yet are still dead letters. Retry"
    )
    assert raised.value.report.succeeded == ()
    assert effects == []
    assert len(built.bus.dead_letters()) == 3


def test_a_handler_error_during_a_retry_is_still_the_letters_failure_not_a_stop(
    platform: tuple[Platform, list[int], set[int], set[int]],
) -> None:
    """Only the database stops a retry: a handler that fails again is reported, as before."""
    built, effects, broken, _ = platform
    broken.discard(2)
    report = built.bus.retry_dead_letters()
    assert [letter.event.data["n"] for letter in report.succeeded] == [2]
    assert [letter.event.data["n"] for letter in report.failed] == [1, 3]
    assert effects == [2]


def test_a_transient_failure_whose_retry_cannot_be_recorded_is_left_to_its_lease(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The database fails the delivery for a moment and then refuses to record when to try
    again: the log says the lease brings it back (not a wait it never wrote), and it does."""
    runs: list[int] = []
    module = Module("ledger")

    @module.subscribe("job.submitted")
    def record(data: dict[str, Any], database: Database) -> None:
        runs.append(data["n"])
        if len(runs) == 1:
            refuse(database)
            raise sqlite3.OperationalError("database is locked")

    with Platform(
        [module], database=tmp_path / "aura.db", durable=True, poll_interval=None, lease=0.5
    ) as built:
        assert built.journal is not None
        with caplog.at_level(logging.WARNING, logger="aura.publications"):
            built.bus.publish("job.submitted", {"n": 4}, "jobs")
        allow_all(built.database)
        [row] = built.journal.publications()
        handler = f"ledger:{row['handler']}"
        assert [r.getMessage() for r in caplog.records if r.name == "aura.publications"] == [
            f"Delivery of {row['event_id']} to {handler} failed on the database "
            "(OperationalError: database is locked), which cannot record its retry either; it "
            "is delivered again when its lease expires"
        ]
        assert (row["status"], row["attempts"]) == ("PROCESSING", 1)
        assert built.bus.dead_letters() == []
        deadline = time.monotonic() + 20
        while built.bus.resubmit_incomplete().delivered == 0:
            assert time.monotonic() < deadline, "the lease never ran out"
            time.sleep(0.05)
        assert runs == [4, 4]
        assert [r["status"] for r in built.journal.publications()] == ["COMPLETED"]


SHOP = """
from aura.database import Database
from aura.module import Module
import sqlite3

module = Module("shipping")
BROKEN = {1, 2}


@module.subscribe("order.placed")
def ship(data: dict, database: Database) -> None:
    if data["n"] in BROKEN:
        raise ConnectionError(f"carrier down for order {data['n']}")

    def refuse() -> None:
        connection = database._connections.slot().connection
        connection.set_authorizer(
            lambda action, *_: sqlite3.SQLITE_DENY if action == sqlite3.SQLITE_UPDATE else 0
        )

    database.on_commit(refuse)
"""


def test_the_cli_prints_what_was_retried_then_the_typed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "stores"
    (package / "shipping").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "shipping" / "__init__.py").write_text(textwrap.dedent(SHOP))
    monkeypatch.syspath_prepend(str(tmp_path))
    database = tmp_path / "aura.db"
    try:
        with Platform(Platform.discover("stores"), database=database, durable=True) as built:
            for n in (1, 2):
                built.bus.publish("order.placed", {"n": n}, "orders")
        sys.modules["stores.shipping"].BROKEN.clear()  # type: ignore[attr-defined]
        out = io.StringIO()
        status = main(
            ["dead-letters", "retry", "--database", str(database), "--modules", "stores"],
            out=out,
            err=out,
        )
    finally:
        for name in [n for n in sys.modules if n == "stores" or n.startswith("stores.")]:
            del sys.modules[name]
    assert (status, out.getvalue()) == (
        2,
        "Retried: 1 delivered, 0 failed again, 0 held back by the policy, 0 with no "
        "subscriber.\n"
        f"aura dead-letters: error: Cannot retry dead letters in {database}: not authorized. "
        "The dead letters not retried yet are kept; check the database (disk space, "
        "permissions) and try again.\n",
    )
    listing = io.StringIO()
    assert main(["dead-letters", "list", "--database", str(database)], out=listing) == 0
    listed = listing.getvalue()
    assert listed.endswith("1 dead letter.\n")
    assert "failed on 'order.placed'" in listed


def test_with_a_dead_letter_store_of_its_own_a_letter_delivered_but_not_removed_is_named(
    tmp_path: Path,
) -> None:
    """Not durable: the letters are in a SqliteDeadLetterStore, apart from the handlers' writes,
    so a handler that ran is not undone when the database then fails to remove its letter; the
    message says so, and that the next retry runs it again."""
    from aura.store import SqliteDeadLetterStore

    effects: list[int] = []
    broken = {1}
    module = Module("shipping")

    @module.on_start
    def create(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS shipped (n INTEGER)")

    @module.subscribe("order.placed")
    def ship(data: dict[str, Any], database: Database) -> None:
        if data["n"] in broken:
            raise ConnectionError("carrier down")
        database.execute("INSERT INTO shipped VALUES (?)", (data["n"],))
        effects.append(data["n"])
        refuse(database, sqlite3.SQLITE_DELETE)  # the letter's removal comes next

    database = Database(tmp_path / "aura.db")
    with Platform(
        [module], database=database, dead_letters=SqliteDeadLetterStore(database)
    ) as built:
        built.bus.publish("order.placed", {"n": 1}, "orders")
        broken.clear()
        with pytest.raises(DeadLetterRetryError) as raised:
            built.bus.retry_dead_letters()
        allow_all(built.database)
        [letter] = built.bus.dead_letters()
        assert str(raised.value) == (
            "Retrying dead letters stopped: the database failed (DatabaseError: not "
            "authorized). Before it, 0 of the 1 due were retried: 0 delivered, 0 failed again, "
            "0 handed back to delivery. The letters not retried yet are still dead letters. "
            f"The one in progress ({letter.id}) was delivered, but its dead letter could not be "
            "removed: the next retry runs its handler again. Retry again when the database is "
            "back."
        )
        assert effects == [1]
        assert built.database.query_one("SELECT COUNT(*) AS n FROM shipped")["n"] == 1  # type: ignore[index]


def test_is_database_error_tells_the_database_failing_from_the_code_using_it() -> None:
    import psycopg
    import sqlalchemy.exc
    from django.db import utils as django_errors

    from aura.exceptions import DatabaseBusyError
    from aura.sql import is_database_error

    failing = [
        sqlite3.OperationalError("database is locked"),
        sqlite3.DatabaseError("not authorized"),
        sqlite3.InterfaceError("bad parameter"),
        psycopg.OperationalError("server closed the connection"),
        psycopg.errors.AdminShutdown("terminating connection"),
        sqlalchemy.exc.OperationalError("SELECT 1", {}, sqlite3.OperationalError("locked")),
        sqlalchemy.exc.TimeoutError("QueuePool limit reached"),
        sqlalchemy.exc.PendingRollbackError("rolled back"),
        django_errors.OperationalError("database is locked"),
        django_errors.InterfaceError("connection already closed"),
        DatabaseBusyError("another task holds a transaction"),
    ]
    not_failing = [
        sqlite3.ProgrammingError("Incorrect number of bindings"),
        sqlite3.IntegrityError("UNIQUE constraint failed"),
        psycopg.errors.UniqueViolation("duplicate key"),
        sqlalchemy.exc.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE")),
        django_errors.ProgrammingError("no such table"),
        django_errors.NotSupportedError("not supported"),
        ValueError("a handler's own error"),
        TimeoutError("not the pool's"),
    ]
    assert [type(e).__name__ for e in failing if not is_database_error(e)] == []
    assert [type(e).__name__ for e in not_failing if is_database_error(e)] == []


@pytest.mark.parametrize("completed", ["keep", "archive", "delete"])
def test_a_letter_delivered_whose_removal_failed_is_removed_by_the_next_retry_not_run_again(
    tmp_path: Path, completed: CompletionMode
) -> None:
    """Durable, with a dead-letter store of its own: the handler's effect and the journal's
    COMPLETED mark commit together; the letter's removal then fails. The next retry finds the
    delivery completed and removes the letter without running the handler again (and without
    reporting a delivery it did not make). Whatever ``completed_publications`` says: a row it
    deletes on completion is kept COMPLETED until the letter is gone, then deleted."""

    effects: list[int] = []
    broken = {1}
    module = shipping(effects, broken, None, sqlite3.SQLITE_DELETE)

    with own_store_platform(tmp_path, module, completed=completed) as built:
        assert built.journal is not None
        built.bus.publish("order.placed", {"n": 1}, "orders")
        broken.clear()
        with pytest.raises(DeadLetterRetryError) as raised:
            built.bus.retry_dead_letters()
        allow_all(built.database)
        [letter] = built.bus.dead_letters()
        assert (
            f"The one in progress ({letter.id}) was delivered, but its dead letter could not be "
            "removed: the next retry removes it without running its handler again."
        ) in str(raised.value)
        rows = [r["status"] for r in built.journal.publications()]
        assert rows == ([] if completed == "archive" else ["COMPLETED"])  # archived: moved

        again = built.bus.retry_dead_letters()
        assert again.succeeded == again.failed == ()  # nothing delivered by this retry
        assert effects == [1]  # not run again
        assert built.bus.dead_letters() == []  # settled: removed
        rows = [r["status"] for r in built.journal.publications()]
        assert rows == (["COMPLETED"] if completed == "keep" else [])


def test_with_completed_deleted_a_letter_retried_and_removed_leaves_no_row(
    tmp_path: Path,
) -> None:
    """The row a retry keeps for its letter's sake goes with the letter: delivered and removed
    at once, or failed again (the row FAILED, the letter kept, then delivered next time)."""

    effects: list[int] = []
    broken = {1, 2}
    with own_store_platform(
        tmp_path, shipping(effects, broken, set()), completed="delete"
    ) as built:
        assert built.journal is not None
        for n in (1, 2):
            built.bus.publish("order.placed", {"n": n}, "orders")
        broken.discard(1)
        first = built.bus.retry_dead_letters()
        assert [letter.event.data["n"] for letter in first.succeeded] == [1]
        assert [letter.event.data["n"] for letter in first.failed] == [2]
        assert [r["status"] for r in built.journal.publications()] == ["FAILED"]
        broken.clear()
        second = built.bus.retry_dead_letters()
        assert [letter.event.data["n"] for letter in second.succeeded] == [2]
        assert effects == [1, 2]
        assert built.journal.publications() == []
        assert built.bus.dead_letters() == []


def in_memory_letters(tmp_path: Path) -> tuple[Platform, list[int], set[int]]:
    """A durable platform whose dead letters are kept in memory (a store of its own)."""
    from aura.dead_letters import InMemoryDeadLetterStore

    effects: list[int] = []
    broken = {1}
    built = Platform(
        [shipping(effects, broken, set())],
        database=tmp_path / "aura.db",
        durable=True,
        poll_interval=None,
        dead_letters=InMemoryDeadLetterStore(),
    )
    built.start()
    built.bus.publish("order.placed", {"n": 1}, "orders")
    broken.clear()
    return built, effects, broken


def test_a_letter_in_memory_whose_retry_the_database_stopped_is_claimable_again(
    tmp_path: Path,
) -> None:
    built, effects, _ = in_memory_letters(tmp_path)
    with built:
        refuse(built.database, sqlite3.SQLITE_UPDATE)  # the journal's claim of its row fails
        with pytest.raises(DeadLetterRetryError) as raised:
            built.bus.retry_dead_letters()
        allow_all(built.database)
        [letter] = built.bus.dead_letters()
        assert str(raised.value).endswith(
            f"The one in progress ({letter.id}) is still a dead letter. Retry again when the "
            "database is back."
        )
        assert effects == []
        again = built.bus.retry_dead_letters()  # was skipped: the letter stayed claimed
        assert [done.id for done in again.succeeded] == [letter.id]
        assert effects == [1]
        assert built.bus.dead_letters() == []


def test_a_letter_in_memory_whose_row_another_process_holds_is_left_claimable(
    tmp_path: Path,
) -> None:
    built, effects, _ = in_memory_letters(tmp_path)
    with built:
        database = built.database
        database.execute("UPDATE aura_publications SET status = 'PROCESSING', owner = 'other'")
        report = built.bus.retry_dead_letters()
        assert report.succeeded == report.failed == ()  # another process has the row
        database.execute("UPDATE aura_publications SET status = 'FAILED', owner = NULL")
        [letter] = built.bus.dead_letters()
        again = built.bus.retry_dead_letters()
        assert [done.id for done in again.succeeded] == [letter.id]
        assert effects == [1]


def test_with_completed_deleted_a_letter_its_automatic_retry_delivered_is_removed_by_the_next(
    tmp_path: Path,
) -> None:
    """A store of its own and completed_publications="delete": the subscriber's own policy
    retries the delivery, which succeeds; its row is kept COMPLETED (it failed before), so the
    next operator retry finds it delivered and removes the letter, then the row."""
    from aura.dead_letters import RetryPolicy

    runs: list[int] = []
    module = Module("shipping")

    @module.subscribe("order.placed", retry=RetryPolicy(max_attempts=3, backoff=0.0))
    def ship(data: dict[str, Any]) -> None:
        runs.append(data["n"])
        if len(runs) == 1:
            raise ConnectionError("carrier down")

    with own_store_platform(tmp_path, module, completed="delete") as built:
        assert built.journal is not None
        built.bus.publish("order.placed", {"n": 1}, "orders")
        assert built.bus.resubmit_incomplete().delivered == 1  # the automatic retry
        assert [r["status"] for r in built.journal.publications()] == ["COMPLETED"]
        assert len(built.bus.dead_letters()) == 1

        report = built.bus.retry_dead_letters()

        assert report.succeeded == report.failed == ()
        assert runs == [1, 1]
        assert built.bus.dead_letters() == []
        assert built.journal.publications() == []


def test_a_completed_row_the_database_will_not_delete_after_the_letter_went_stays_quietly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """completed_publications="delete": the letter is removed, then deleting its kept row
    fails. The retry still succeeds (the letter is gone, the handler ran once); the row stays
    COMPLETED, which no retry delivers again, and the log says so."""

    effects: list[int] = []
    broken = {1}
    database = Database(tmp_path / "aura.db")

    def refuse_deleting_publications() -> None:
        connection_of(database).set_authorizer(
            lambda code, table, *_: (
                sqlite3.SQLITE_DENY
                if code == sqlite3.SQLITE_DELETE and table == "aura_publications"
                else sqlite3.SQLITE_OK
            )
        )

    module = Module("shipping")

    @module.subscribe("order.placed")
    def ship(data: dict[str, Any], database: Database) -> None:
        if data["n"] in broken:
            raise ConnectionError("carrier down")
        database.on_commit(lambda: effects.append(data["n"]))
        database.on_commit(refuse_deleting_publications)  # once its delivery committed

    with own_store_platform(database, module, completed="delete") as built:
        assert built.journal is not None
        built.bus.publish("order.placed", {"n": 1}, "orders")
        broken.clear()
        try:
            report = built.bus.retry_dead_letters()
        finally:
            allow_all(database)
        assert len(report.succeeded) == 1
        assert effects == [1]
        assert built.bus.dead_letters() == []
        assert [r["status"] for r in built.journal.publications()] == ["COMPLETED"]
        assert any(
            r.getMessage().startswith("Could not delete the completed publication")
            for r in caplog.records
        )
        assert built.bus.retry_dead_letters().succeeded == ()
        assert effects == [1]


def test_a_store_of_its_own_keeps_one_letter_per_delivery_and_none_for_the_databases_moment(
    tmp_path: Path,
) -> None:
    """Durable, a store of its own: a delivery the database fails for a moment (handed back,
    due again) leaves no letter; each later failure of the same delivery updates its one
    letter; the operator's retry that fails in the handler is reported failed again, not
    requeued by the earlier hand-back."""
    from aura.dead_letters import RetryPolicy

    runs: list[int] = []
    module = Module("shipping")

    @module.subscribe("order.placed", retry=RetryPolicy(max_attempts=3, backoff=0.0))
    def ship(data: dict[str, Any]) -> None:
        runs.append(data["n"])
        if len(runs) == 1:
            raise sqlite3.OperationalError("database is locked")  # the database's moment
        raise ValueError("bad order")  # the handler's own failure, every time after

    with own_store_platform(tmp_path, module) as built:
        built.bus.publish("order.placed", {"n": 1}, "orders")
        assert built.bus.dead_letters() == []  # handed back: due again, no letter
        built.bus.resubmit_incomplete()  # fails in the handler: a letter
        built.bus.resubmit_incomplete()  # the policy's retry fails again: the same letter
        [letter] = built.bus.dead_letters()
        assert (letter.error_type, letter.attempts) == ("ValueError", 2)

        report = built.bus.retry_dead_letters()

        assert runs == [1, 1, 1, 1]
        assert (len(report.failed), report.requeued) == (1, ())
        [again] = built.bus.dead_letters()
        assert (again.id, again.error_type, again.attempts) == (letter.id, "ValueError", 3)


def failing_shipping() -> Module:
    module = Module("shipping")

    @module.subscribe("order.placed", name="ship")
    def ship(data: dict[str, Any]) -> None:
        raise ValueError("bad order")

    return module


def test_a_first_failure_keeps_its_letter_without_reading_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a delivery tried before can have a letter already: the first failure of one (the
    usual) does not read every stored letter to look for it."""
    from aura.store import SqliteDeadLetterStore

    with own_store_platform(tmp_path, failing_shipping()) as built:
        reads: list[int] = []
        listing = SqliteDeadLetterStore.list
        monkeypatch.setattr(
            SqliteDeadLetterStore, "list", lambda self: reads.append(1) or listing(self)
        )
        for n in range(3):
            built.bus.publish("order.placed", {"n": n}, "orders")
        assert reads == []
        monkeypatch.undo()
        assert len(built.bus.dead_letters()) == 3


def test_a_hand_back_no_one_asked_about_does_not_hide_the_next_failure(tmp_path: Path) -> None:
    """A delivery begins with no hand-back of an earlier one: a flag left by a delivery that
    failed before its handler ran (and was never asked about) cannot make the next, real
    failure look handed back, which would keep no letter for a FAILED row."""
    with own_store_platform(tmp_path, failing_shipping()) as built:
        journal: Any = built.journal
        event = built.bus.publish("order.placed", {"n": 1}, "orders")
        [letter] = built.bus.dead_letters()
        built.bus.purge_dead_letters(letter_ids=[letter.id])
        assert built.bus.dead_letters() == []
        journal.database.execute(  # its row due again, as a retry policy would make it
            "UPDATE aura_publications SET due_at = 0 WHERE event_id = ?", (event.event_id,)
        )
        journal._handed_back((event.event_id, "shipping", "ship"))  # what such a one leaves
        built.bus.resubmit_incomplete()  # fails for real
        assert [r["status"] for r in journal.publications()] == ["FAILED"]
        [kept] = built.bus.dead_letters()
        assert kept.error_message == "bad order"

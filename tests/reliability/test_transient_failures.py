"""A delivery the database fails for a moment (a full disk, a connection the server dropped) is
tried again after a wait, its handler's writes rolled back with the failed attempt: exactly one
effect in the end, and no dead letter unless the attempts run out."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from aura.database import Database, sqlite_transient
from aura.dead_letters import RetryPolicy
from aura.module import Module
from aura.platform import Platform
from aura.publications import TRANSIENT_RETRY
from aura.store import CompletionMode


def ledger(
    runs: list[int], *, full_runs: int, retry: RetryPolicy | None = None, failing_runs: int = 0
) -> Module:
    """A module whose handler is deliberately not idempotent: each run appends to ``runs``, and
    each committed run is a row of about 200 KB. Its first ``failing_runs`` runs fail on their
    own (a dead letter); for the ``full_runs`` runs after those the disk is full while it writes
    (SQLite's own page limit, as a full disk refuses a write), and has room again right after:
    what the journal then writes of the failure fits."""
    module = Module("ledger")

    @module.on_start
    def create(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS ledger_rows (n INTEGER, body TEXT)")

    @module.subscribe("job.submitted", retry=retry)
    def record(data: dict[str, Any], database: Database) -> None:
        runs.append(data["n"])
        if len(runs) <= failing_runs:
            raise RuntimeError("the checker is down")
        full = len(runs) <= failing_runs + full_runs
        if full:
            pages = database.query_one("PRAGMA page_count")[0]  # type: ignore[index]
            database.execute(f"PRAGMA max_page_count = {pages + 4}")
        try:
            database.execute("INSERT INTO ledger_rows VALUES (?, ?)", (data["n"], "y" * 200_000))
        finally:
            if full:
                database.execute("PRAGMA max_page_count = 1073741823")

    return module


def durable(tmp_path: Path, module: Module) -> Platform:
    """A durable platform with no delivery worker: what is due again is delivered only when the
    test says so (``resubmit_incomplete``), never by a worker's poll racing the test's asserts."""
    return Platform([module], database=tmp_path / "aura.db", durable=True, poll_interval=None)


def rows(platform: Platform) -> list[int]:
    return [row["n"] for row in platform.database.query("SELECT n FROM ledger_rows")]


def test_a_delivery_that_met_a_full_disk_is_delivered_again_with_one_effect(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runs: list[int] = []
    module = ledger(runs, full_runs=1)
    with durable(tmp_path, module) as platform:
        assert platform.journal is not None
        platform.bus.publish("job.submitted", {"n": 1}, "jobs")
        assert runs == [1]
        assert rows(platform) == []  # the failed attempt's write was rolled back
        [row] = platform.journal.publications()
        assert (row["status"], row["attempts"], row["owner"]) == ("PUBLISHED", 1, None)
        assert platform.bus.dead_letters() == []
        [handler] = [s.handler_name for s in platform.bus.subscriptions()]
        warnings = [r.getMessage() for r in caplog.records if r.name == "aura.publications"]
        assert warnings == [
            f"Delivery of {row['event_id']} to ledger:{handler} failed on the database "
            "(OperationalError: database or disk is full): delivered again in 0.5 s "
            "(attempt 1 of 10)"
        ]

        assert platform.bus.resubmit_incomplete().delivered == 0  # not due before its wait
        time.sleep(TRANSIENT_RETRY.wait(1) + 0.1)
        assert platform.bus.resubmit_incomplete().delivered == 1
        assert runs == [1, 1]
        assert rows(platform) == [1]
        assert [r["status"] for r in platform.journal.publications()] == ["COMPLETED"]
        assert platform.bus.dead_letters() == []


def test_a_delivery_the_database_keeps_failing_is_a_dead_letter_once_its_attempts_are_spent(
    tmp_path: Path,
) -> None:
    runs: list[int] = []
    module = ledger(runs, full_runs=99, retry=RetryPolicy(max_attempts=2, backoff=0.0))
    with durable(tmp_path, module) as platform:
        assert platform.journal is not None
        platform.bus.publish("job.submitted", {"n": 7}, "jobs")
        assert platform.bus.dead_letters() == []
        platform.bus.resubmit_incomplete()
        assert runs == [7, 7]
        assert rows(platform) == []
        [letter] = platform.bus.dead_letters()
        assert letter.attempts == 2
        assert letter.error_type == "OperationalError"
        assert letter.error_message == "database or disk is full"


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (sqlite3.OperationalError("database is locked"), True),
        (sqlite3.OperationalError("database table is locked"), True),
        (sqlite3.OperationalError("database or disk is full"), True),
        (sqlite3.OperationalError("disk I/O error"), True),
        (sqlite3.OperationalError("no such table: ledger_rows"), False),
        (sqlite3.IntegrityError("UNIQUE constraint failed: ledger_rows.n"), False),
        (RuntimeError("database is locked"), False),
    ],
)
def test_sqlite_tells_its_momentary_failures_from_the_codes(
    error: Exception, transient: bool
) -> None:
    assert sqlite_transient(error) is transient
    assert Database(":memory:").is_transient(error) is transient


def test_a_dead_letter_whose_retry_meets_a_full_disk_is_handed_back_not_failed_again(
    tmp_path: Path,
) -> None:
    """The operator's retry runs the handler and the disk is full as it writes: the letter did
    not fail again, its row is due again after a wait, and is then delivered, one effect."""
    runs: list[int] = []
    module = ledger(runs, full_runs=1, failing_runs=1)
    with durable(tmp_path, module) as platform:
        assert platform.journal is not None
        platform.bus.publish("job.submitted", {"n": 5}, "jobs")
        [letter] = platform.bus.dead_letters()
        report = platform.bus.retry_dead_letters()
        assert runs == [5, 5]
        assert (report.succeeded, report.failed) == ((), ())
        assert [handed.id for handed in report.requeued] == [letter.id]
        assert report.summary() == (
            "Retried: 0 delivered, 0 failed again, 0 held back by the policy, 0 with no "
            "subscriber, 1 handed back to delivery (the database failed; the platform delivers "
            "them again after a wait)."
        )
        assert report.problem() == (
            "The database failed while some dead letters were retried; the platform delivers "
            "them again after a wait."
        )
        assert platform.bus.dead_letters() == []
        [row] = platform.journal.publications()
        assert (row["status"], row["owner"]) == ("PUBLISHED", None)
        assert rows(platform) == []  # the retry's write was rolled back
        deadline = time.monotonic() + 10
        while rows(platform) != [5]:  # delivered by this call, or by the platform's own worker
            assert time.monotonic() < deadline, "not delivered again within 10 s"
            platform.bus.resubmit_incomplete()
            time.sleep(0.05)
        assert runs == [5, 5, 5]
        assert rows(platform) == [5]
        assert [r["status"] for r in platform.journal.publications()] == ["COMPLETED"]
        assert platform.bus.dead_letters() == []


def test_a_dead_letters_retry_on_its_last_attempt_the_database_fails_twice_is_a_dead_letter(
    tmp_path: Path,
) -> None:
    """The subscriber allows 2 attempts and the operator's retry takes the last: the database
    failing it requeues it all the same (the retry was asked for, and never ran to the end),
    and the platform's next delivery, which the database fails too, is not
    an operator's, so it is a dead letter of the database's error, reported as such."""
    runs: list[int] = []
    module = ledger(
        runs, full_runs=2, failing_runs=1, retry=RetryPolicy(max_attempts=2, backoff=0.0)
    )
    with durable(tmp_path, module) as platform:
        assert platform.journal is not None
        platform.bus.publish("job.submitted", {"n": 6}, "jobs")
        [letter] = platform.bus.dead_letters()
        report = platform.bus.retry_dead_letters()
        assert runs == [6, 6]
        assert [r.id for r in report.requeued] == [letter.id]
        assert report.failed == ()
        assert report.problem() == (
            "The database failed while some dead letters were retried; the platform "
            "delivers them again after a wait."
        )
        assert platform.bus.dead_letters() == []

        assert platform.bus.resubmit_incomplete().delivered == 0  # the database failed it
        assert runs == [6, 6, 6]
        [again] = platform.bus.dead_letters()
        assert (again.attempts, again.error_message) == (3, "database or disk is full")
        assert rows(platform) == []


@pytest.mark.parametrize("adapter", ["aura", "sqlalchemy"])
def test_an_event_store_write_the_disk_refuses_is_retried_not_a_dead_letter(
    tmp_path: Path, adapter: str
) -> None:
    """The event store's own write meets a full disk: it wraps the driver's error in
    EventDeliveryError, and the journal looks through it (on Aura's database and on
    SQLAlchemy's), so the delivery is tried again, not kept as the handler's dead letter."""
    from aura.events import Event
    from aura.store import EventStore

    path = tmp_path / "aura.db"
    database: Any
    if adapter == "aura":
        database = Database(path, timeout=0.2)
    else:
        from sqlalchemy import create_engine

        from aura.integrations.sqlalchemy import SqlAlchemyDatabase

        database = SqlAlchemyDatabase(
            create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.2})
        )
    module = Module("audit")
    runs: list[int] = []

    @module.subscribe("job.submitted")
    def record(data: dict[str, Any], event_store: EventStore) -> None:
        runs.append(data["n"])
        store: Any = event_store
        full = len(runs) == 1  # the disk is full while the store writes, the first time
        if full:
            pages = store.database.query_one("SELECT page_count AS n FROM pragma_page_count()")
            store.database.execute(f"PRAGMA max_page_count = {pages['n']}")
        try:
            event_store.append(Event.create("job.audited", {"blob": "y" * 200_000}, "audit"))
        finally:
            if full:
                store.database.execute("PRAGMA max_page_count = 1073741823")

    with Platform([module], database=database, durable=True, poll_interval=None) as platform:
        assert platform.journal is not None
        platform.bus.publish("job.submitted", {"n": 1}, "jobs")
        assert platform.bus.dead_letters() == []
        [row] = platform.journal.publications()
        assert (row["status"], row["attempts"]) == ("PUBLISHED", 1)
        time.sleep(TRANSIENT_RETRY.wait(1) + 0.1)
        assert platform.bus.resubmit_incomplete().delivered == 1
        assert runs == [1, 1]
        assert [e.event_type for e in platform.event_store.stream()] == [  # type: ignore[union-attr]
            "job.submitted",
            "job.audited",
        ]


def test_an_operators_retry_the_database_fails_is_requeued_though_the_policy_is_spent(
    tmp_path: Path,
) -> None:
    runs: list[int] = []
    policy = RetryPolicy(max_attempts=2, backoff=0.0)
    module = ledger(runs, failing_runs=2, full_runs=1, retry=policy)
    with durable(tmp_path, module) as platform:
        assert platform.journal is not None
        platform.bus.publish("job.submitted", {"n": 3}, "jobs")
        platform.bus.resubmit_incomplete()  # its automatic retry fails on its own too
        [letter] = platform.bus.dead_letters()
        assert (letter.attempts, letter.error_message) == (2, "the checker is down")

        report = platform.bus.retry_dead_letters()  # the operator's: the disk is full meanwhile

        assert [r.id for r in report.requeued] == [letter.id]
        assert (report.failed, report.succeeded) == ((), ())
        assert runs == [3, 3, 3]
        assert rows(platform) == []
        assert platform.bus.dead_letters() == []  # not a dead letter of the database's error
        [row] = platform.journal.publications()
        assert (row["status"], row["attempts"]) == ("PUBLISHED", 3)

        assert platform.bus.resubmit_incomplete().delivered == 1
        assert runs == [3, 3, 3, 3]
        assert rows(platform) == [3]
        assert [r["status"] for r in platform.journal.publications()] == ["COMPLETED"]
        assert platform.bus.dead_letters() == []


@pytest.mark.parametrize("store", ["sqlite", "memory"])
@pytest.mark.parametrize("completed", ["keep", "delete"])
def test_with_a_store_of_its_own_a_retry_the_database_fails_is_requeued_and_settled_later(
    tmp_path: Path, store: str, completed: CompletionMode
) -> None:
    """A dead-letter store of its own: the operator's retry meets a full disk, so the letter is
    reported requeued (not failed again, its handler's error kept); the platform then delivers
    it once, and the next retry removes the letter without running the handler again."""
    from aura.dead_letters import InMemoryDeadLetterStore
    from aura.store import SqliteDeadLetterStore

    runs: list[int] = []
    module = ledger(runs, failing_runs=1, full_runs=1, retry=RetryPolicy(max_attempts=1))
    database = Database(tmp_path / "aura.db")
    letters = SqliteDeadLetterStore(database) if store == "sqlite" else InMemoryDeadLetterStore()
    with Platform(
        [module],
        database=database,
        durable=True,
        poll_interval=None,
        dead_letters=letters,
        completed_publications=completed,
    ) as platform:
        assert platform.journal is not None
        platform.bus.publish("job.submitted", {"n": 4}, "jobs")
        [letter] = platform.bus.dead_letters()

        report = platform.bus.retry_dead_letters()  # the disk is full meanwhile

        assert [r.id for r in report.requeued] == [letter.id]
        assert report.failed == ()
        [kept] = platform.bus.dead_letters()
        assert kept.error_message == "the checker is down"  # not the database's error
        assert platform.bus.resubmit_incomplete().delivered == 1
        assert runs == [4, 4, 4]
        assert rows(platform) == [4]

        again = platform.bus.retry_dead_letters()
        assert again.succeeded == again.failed == again.requeued == ()
        assert runs == [4, 4, 4]  # not run again
        assert platform.bus.dead_letters() == []
        statuses = [r["status"] for r in platform.journal.publications()]
        assert statuses == (["COMPLETED"] if completed == "keep" else [])

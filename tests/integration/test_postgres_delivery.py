"""Durable delivery on a real PostgreSQL server (the session's private cluster): the outbox,
leases and owners, dead letters, delivery workers woken by NOTIFY, and the faults — a LISTEN
connection killed, the server restarted — counted as published vs delivered vs effects. The
handler is deliberately not idempotent: it inserts a row per call."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import psycopg.errors
import pytest

from aura.database import Database
from aura.module import Module
from aura.platform import Platform
from aura.postgres import PostgresDatabase


def ledger(body: Callable[[dict[str, Any]], None] | None = None) -> list[Module]:
    orders = Module("orders")
    orders.publishes("order.*")
    books = Module("ledger")

    @books.on_start
    def create(database: Database) -> None:
        database.execute(
            "CREATE TABLE IF NOT EXISTS ledger_entries (n INTEGER, at DOUBLE PRECISION)"
        )

    @books.subscribe("order.placed")
    def apply(data: dict[str, Any], database: Database) -> None:
        database.execute("INSERT INTO ledger_entries VALUES (?, ?)", (data["n"], time.monotonic()))
        if body is not None:
            body(data)

    return [orders, books]


def effects(database: PostgresDatabase) -> list[int]:
    return [row["n"] for row in database.query("SELECT n FROM ledger_entries ORDER BY n")]


def accounted(database: PostgresDatabase) -> dict[str, int]:
    rows = database.query("SELECT status, COUNT(*) AS n FROM aura_publications GROUP BY status")
    return {row["status"]: row["n"] for row in rows}


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def dsn(fresh_postgres_dsn: str) -> str:
    return fresh_postgres_dsn


def platform_on(dsn: str, modules: list[Module], **options: Any) -> Platform:
    options.setdefault("poll_interval", None)
    return Platform(modules, database=PostgresDatabase(dsn), durable=True, **options)


# --- the outbox on PostgreSQL ------------------------------------------------------------------


def test_a_publish_commits_with_the_writes_and_is_delivered_once(dsn: str) -> None:
    with platform_on(dsn, ledger()) as platform:
        platform.start()
        platform.bus.publish("order.placed", {"n": 1}, "orders")
        with platform.transaction():
            platform.bus.publish("order.placed", {"n": 2}, "orders")

        def cancelled() -> None:
            with platform.transaction():
                platform.bus.publish("order.placed", {"n": 3}, "orders")
                raise RuntimeError("the order is cancelled")

        with pytest.raises(RuntimeError):
            cancelled()
        assert effects(platform.database) == [1, 2]  # type: ignore[arg-type]
        assert accounted(platform.database) == {"COMPLETED": 2}  # type: ignore[arg-type]
        assert platform.event_store is not None
        assert [e.data["n"] for e in platform.event_store.read()] == [1, 2]


def test_a_failure_is_a_dead_letter_a_retry_applies_once(dsn: str) -> None:
    broken = [True]

    def flaky(data: dict[str, Any]) -> None:
        if broken[0]:
            raise ConnectionError("smtp down")

    with platform_on(dsn, ledger(flaky)) as platform:
        platform.start()
        platform.bus.publish("order.placed", {"n": 1}, "orders")
        [letter] = platform.bus.dead_letters()
        assert (letter.error_type, letter.error_message, letter.attempts) == (
            "ConnectionError",
            "smtp down",
            1,
        )
        assert effects(platform.database) == []  # type: ignore[arg-type]  # rolled back
        broken[0] = False
        assert len(platform.bus.retry_dead_letters().succeeded) == 1
        assert effects(platform.database) == [1]  # type: ignore[arg-type]
        assert accounted(platform.database) == {"COMPLETED": 1}  # type: ignore[arg-type]


def test_a_connection_the_server_drops_under_a_delivery_is_retried_not_dead_lettered(
    dsn: str,
) -> None:
    killed: list[int] = []
    holder: list[Platform] = []

    def drop_my_connection(data: dict[str, Any]) -> None:
        if not killed:  # the server ends this backend mid-delivery (an admin, a failover)
            killed.append(data["n"])
            holder[0].database.execute("SELECT pg_terminate_backend(pg_backend_pid())")

    with platform_on(dsn, ledger(drop_my_connection)) as platform:
        holder.append(platform)
        platform.start()
        platform.bus.publish("order.placed", {"n": 1}, "orders")
        database: Any = platform.database
        assert killed == [1]
        assert effects(database) == []  # the dropped attempt's insert never committed
        assert platform.bus.dead_letters() == []
        [row] = database.query("SELECT status, attempts FROM aura_publications")
        assert (row["status"], row["attempts"]) == ("PUBLISHED", 1)
        # Due again after the transient retry's 0.5 s wait: generous for a loaded machine.
        assert wait_until(lambda: platform.bus.resubmit_incomplete().delivered == 1, 20.0)
        assert effects(database) == [1]
        assert accounted(database) == {"COMPLETED": 1}


def test_what_a_dead_process_owned_is_taken_over_once_its_lease_expires(dsn: str) -> None:
    with platform_on(dsn, ledger()) as first:
        first.start()
        first.bus.publish("order.placed", {"n": 1}, "orders")
        # What SIGKILL leaves: the row PROCESSING, owned by the dead process, lease running:
        # for 20 s, not a moment the second platform's start could outlast on a loaded machine
        # (its start() would then deliver it before the assert that it does not).
        first.database.execute(
            "UPDATE aura_publications SET status = 'PROCESSING', owner = 'dead', "
            "due_at = date_part('epoch', clock_timestamp()) + 20"
        )
        first.database.execute("DELETE FROM ledger_entries")
    with platform_on(dsn, ledger(), lease=5.0, poll_interval=0.05) as second:
        second.start()
        time.sleep(0.2)  # four of the worker's polls: none takes a row under a live lease
        assert effects(second.database) == []  # type: ignore[arg-type]  # not while leased
        # The dead process's lease runs out, by the database's clock: the worker takes it over.
        second.database.execute(
            "UPDATE aura_publications SET due_at = date_part('epoch', clock_timestamp())"
        )
        assert wait_until(lambda: effects(second.database) == [1], 20.0)  # type: ignore[arg-type]
        assert accounted(second.database) == {"COMPLETED": 1}  # type: ignore[arg-type]


# --- workers, NOTIFY and the faults --------------------------------------------------------


def test_replicas_share_the_work_and_each_event_takes_effect_once(dsn: str) -> None:
    replicas = [platform_on(dsn, ledger(), workers=2, poll_interval=5.0) for _ in range(2)]
    publisher = platform_on(dsn, ledger(), workers=0, poll_interval=5.0)
    try:
        for platform in (*replicas, publisher):
            platform.start()
        for n in range(200):
            publisher.bus.publish("order.placed", {"n": n}, "orders")
        database: Any = publisher.database
        assert wait_until(lambda: len(effects(database)) >= 200, 30)
        time.sleep(0.2)  # and nothing more comes
        assert effects(database) == list(range(200))  # 0 lost, 0 applied twice
        assert accounted(database) == {"COMPLETED": 200}
        owners = database.query(
            "SELECT COUNT(DISTINCT owner) AS n FROM aura_publications"  # NULL once COMPLETED
        )
        assert owners[0]["n"] == 0
    finally:
        for platform in (*replicas, publisher):
            platform.close()


def test_a_commit_wakes_another_process_s_workers_without_waiting_for_a_poll(dsn: str) -> None:
    replica = platform_on(dsn, ledger(), workers=1, poll_interval=30.0)
    publisher = platform_on(dsn, ledger(), workers=0, poll_interval=30.0)
    try:
        replica.start()
        publisher.start()
        time.sleep(0.2)  # the replica's worker has looked once and sleeps for 30 s
        database: Any = publisher.database
        for n in range(5):
            publisher.bus.publish("order.placed", {"n": n}, "orders")
            # NOTIFY: well before the next poll, 30 s away, even on a loaded machine.
            assert wait_until(lambda n=n: len(effects(database)) == n + 1, 20.0)
    finally:
        replica.close()
        publisher.close()


def test_with_its_listen_connection_killed_polling_still_delivers(dsn: str) -> None:
    replica = platform_on(dsn, ledger(), workers=1, poll_interval=0.2)
    publisher = platform_on(dsn, ledger(), workers=0, poll_interval=30.0)
    try:
        replica.start()
        publisher.start()
        database: Any = publisher.database
        killed = database.query(
            "SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
        )
        assert killed
        assert all(row["done"] for row in killed)
        for n in range(20):
            publisher.bus.publish("order.placed", {"n": n}, "orders")
        assert wait_until(lambda: len(effects(database)) == 20, 30.0)
        assert effects(database) == list(range(20))
    finally:
        replica.close()
        publisher.close()


def test_a_server_restart_mid_run_loses_nothing_and_applies_nothing_twice(
    dsn: str, postgres_cluster: Any
) -> None:
    replica = platform_on(dsn, ledger(), workers=2, poll_interval=0.2, lease=2.0)
    publisher = platform_on(dsn, ledger(), workers=0, poll_interval=30.0)
    published = 0
    try:
        replica.start()
        publisher.start()
        for n in range(30):
            if n == 15:
                postgres_cluster.restart()
            # A publish refused while the server is down is retried (for up to 30 s: on a loaded
            # machine the restart and the pool's reconnection take their time).
            for _attempt in range(150):
                try:
                    publisher.bus.publish("order.placed", {"n": n}, "orders")
                    published += 1
                    break
                except Exception:  # the refusal is typed; this is the client retrying
                    time.sleep(0.2)
        database: Any = publisher.database
        assert published == 30
        # A delivery the restart killed (its connection dropped, its writes rolled back) is
        # the database's failure, not the handler's: delivered again after a wait, not kept as
        # a dead letter. Each event applied once, none twice, none left to an operator.
        assert wait_until(lambda: len(effects(database)) >= 30, 90.0)
        time.sleep(0.3)
        assert effects(database) == list(range(30))
        assert replica.bus.dead_letters() == []
        assert accounted(database) == {"COMPLETED": 30}
    finally:
        replica.close()
        publisher.close()


# --- three processes ------------------------------------------------------------------------

REPLICA = textwrap.dedent(
    """
    import sys, time
    from aura.database import Database
    from aura.module import Module
    from aura.platform import Platform
    from aura.postgres import PostgresDatabase

    dsn, role, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    orders = Module("orders")
    orders.publishes("order.*")
    books = Module("ledger")

    @books.on_start
    def create(database: Database) -> None:
        database.execute(
            "CREATE TABLE IF NOT EXISTS ledger_entries (n INTEGER, at DOUBLE PRECISION, who TEXT)"
        )

    @books.subscribe("order.placed")
    def apply(data: dict, database: Database) -> None:
        time.sleep(0.005)  # a handler waiting on I/O
        database.execute(
            "INSERT INTO ledger_entries VALUES (?, ?, ?)", (data["n"], time.time(), sys.argv[4])
        )

    with Platform(
        [orders, books], database=PostgresDatabase(dsn), durable=True,
        workers=4 if role == "replica" else 0,  # the publisher only publishes
        poll_interval=0.5, lease=5.0,
    ) as platform:
        platform.start()
        print("ready", flush=True)
        if role == "publisher":
            for n in range(count):
                platform.bus.publish("order.placed", {"n": n}, "orders")
            print("published", flush=True)
        else:
            sys.stdin.readline()  # until the test says stop
    """
)


def test_three_replica_processes_deliver_3000_events_once_each(dsn: str, tmp_path: Path) -> None:
    script = tmp_path / "replica.py"
    script.write_text(REPLICA)
    count = 3000
    with PostgresDatabase(dsn) as database:  # the tables, before three processes start
        database.execute("CREATE TABLE ledger_entries (n INTEGER, at DOUBLE PRECISION, who TEXT)")
    Platform([], database=PostgresDatabase(dsn), durable=True, poll_interval=None).close()
    replicas = [
        subprocess.Popen(
            [sys.executable, str(script), dsn, "replica", "0", f"r{n}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(3)
    ]
    try:
        for replica in replicas:
            assert replica.stdout is not None
            assert replica.stdout.readline() == "ready\n"
        started = time.monotonic()
        publisher = subprocess.run(
            [sys.executable, str(script), dsn, "publisher", str(count), "p"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert publisher.returncode == 0, publisher.stderr
        with PostgresDatabase(dsn) as database:
            assert wait_until(
                lambda: (
                    database.query_one("SELECT COUNT(*) AS n FROM ledger_entries")["n"]  # type: ignore[index]
                    >= count
                ),
                120,
            )
            elapsed = time.monotonic() - started
            time.sleep(0.5)
            rows = database.query(
                "SELECT n, COUNT(*) AS c FROM ledger_entries GROUP BY n HAVING COUNT(*) > 1"
            )
            applied = database.query_one("SELECT COUNT(DISTINCT n) AS n FROM ledger_entries")
            per_replica = {
                row["who"]: row["c"]
                for row in database.query(
                    "SELECT who, COUNT(*) AS c FROM ledger_entries GROUP BY who"
                )
            }
            statuses = accounted(database)
        assert rows == [], f"applied twice: {rows[:5]}"
        assert applied is not None
        assert applied["n"] == count, f"lost: {count - applied['n']}"
        assert statuses == {"COMPLETED": count}
        assert sorted(per_replica) == ["r0", "r1", "r2"], per_replica  # none starved
        assert min(per_replica.values()) > count / 10, (per_replica, elapsed)
        print(f"3 replicas: {count} events in {elapsed:.2f} s, {per_replica}")
    finally:
        for replica in replicas:
            if replica.stdin is not None:
                replica.stdin.close()
        for replica in replicas:
            try:
                replica.wait(15)
            except subprocess.TimeoutExpired:
                replica.kill()
                replica.wait()
            if replica.stdout is not None:
                replica.stdout.close()


def test_a_poison_event_does_not_block_the_queue(dsn: str) -> None:
    from aura.dead_letters import RetryPolicy

    orders, books = ledger()
    books.handlers.clear()

    @books.subscribe("order.placed", retry=RetryPolicy(max_attempts=3, backoff=0.05))
    def apply(data: dict[str, Any], database: Database) -> None:
        if data["n"] == 0:
            raise ValueError("this order can never be booked")
        database.execute("INSERT INTO ledger_entries VALUES (?, ?)", (data["n"], time.monotonic()))

    replica = platform_on(dsn, [orders, books], workers=2, poll_interval=0.05)
    publisher = platform_on(dsn, [orders, books], workers=0, poll_interval=30.0)
    try:
        replica.start()
        publisher.start()
        for n in range(50):  # the poison first: everything after it must still go through
            publisher.bus.publish("order.placed", {"n": n}, "orders")
        database: Any = publisher.database
        assert wait_until(lambda: len(effects(database)) == 49, 30.0)
        assert wait_until(lambda: [d.attempts for d in replica.bus.dead_letters()] == [3], 30.0)
        assert effects(database) == list(range(1, 50))
        assert accounted(database) == {"COMPLETED": 49, "FAILED": 1}
    finally:
        replica.close()
        publisher.close()


def test_a_platform_on_postgres_opens_and_closes_at_once_while_time_is_frozen(
    dsn: str, frozen_time: Any
) -> None:
    from aura.clock import RealClock  # time.perf_counter is frozen too

    started = RealClock.now()
    platform = platform_on(dsn, ledger(), poll_interval=0.05)
    platform.start()
    platform.bus.publish("order.placed", {"n": 1}, "orders")
    frozen_time.tick(3600)
    platform.close()
    # The pool's waits run on real time: with frozen ones this took 5 s more (their timeout).
    assert RealClock.now() - started < 4.0


def test_more_workers_than_the_pool_can_serve_are_refused(dsn: str) -> None:
    from aura.exceptions import ConfigurationError

    database = PostgresDatabase(dsn, pool_size=4)
    try:
        with pytest.raises(ConfigurationError) as refused:
            Platform(ledger(), database=database, durable=True, workers=3)
        assert str(refused.value) == (
            "workers=3 needs a pool of at least 5 connections, and the database has "
            "pool_size=4: each running delivery holds one, and lease renewal and publishing "
            "need theirs. Pass PostgresDatabase(dsn, pool_size=5) or fewer workers."
        )
    finally:
        database.close()


def test_what_waits_in_a_live_process_s_queue_is_renewed_and_runs_once(dsn: str) -> None:
    calls: list[int] = []

    def slow_first(data: dict[str, Any]) -> None:
        calls.append(data["n"])
        if data["n"] == 1:
            time.sleep(1.0)  # longer than the lease: the queued events' leases must be renewed

    with platform_on(dsn, ledger(slow_first), lease=0.4, poll_interval=0.05) as platform:
        platform.start()
        with platform.transaction():
            for n in (1, 2, 3):
                platform.bus.publish("order.placed", {"n": n}, "orders")
        time.sleep(0.3)  # and the process's own worker had every chance to claim them again
        assert calls == [1, 2, 3]
        assert effects(platform.database) == [1, 2, 3]  # type: ignore[arg-type]


def test_a_row_locked_by_a_stalled_transaction_is_skipped_not_waited_for(dsn: str) -> None:
    import psycopg

    with platform_on(dsn, ledger()) as platform:
        platform.start()
        platform.bus.publish("order.placed", {"n": 1}, "orders")
        platform.database.execute(  # as a crash leaves it: due to anyone, its effect undone
            "UPDATE aura_publications SET status = 'PUBLISHED', owner = NULL, due_at = 0"
        )
        platform.database.execute("DELETE FROM ledger_entries")
        with psycopg.connect(dsn) as stalled:  # a process stopped between its UPDATE and COMMIT
            stalled.execute("SELECT id FROM aura_publications FOR UPDATE")
            started = time.monotonic()
            report = platform.bus.resubmit_incomplete()
            assert time.monotonic() - started < 10.0  # a wait for the lock would never end
            assert report.delivered == 0
            stalled.rollback()
        assert platform.bus.resubmit_incomplete().delivered == 1
        assert effects(platform.database) == [1]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (psycopg.OperationalError("server closed the connection unexpectedly"), True),
        (psycopg.InterfaceError("the connection is closed"), True),
        (psycopg.errors.AdminShutdown("terminating connection"), True),
        (psycopg.errors.SerializationFailure("could not serialize access"), True),
        (psycopg.errors.DeadlockDetected("deadlock detected"), True),
        (psycopg.errors.LockNotAvailable("could not obtain lock"), True),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"), True),
        (psycopg.errors.DiskFull("could not extend file"), True),
        (psycopg.errors.ProgramLimitExceeded("index row size exceeds maximum"), False),
        (psycopg.errors.UndefinedFile("could not open file"), False),
        (psycopg.errors.ObjectNotInPrerequisiteState("not in prerequisite state"), False),
        (psycopg.errors.UniqueViolation("duplicate key value"), False),
        (RuntimeError("server closed the connection unexpectedly"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_postgres_tells_the_server_s_momentary_failures_from_the_code_s(
    dsn: str, error: Exception, transient: bool
) -> None:
    database = PostgresDatabase(dsn)
    try:
        assert database.is_transient(error) is transient
    finally:
        database.close()


# --- what start() delivers ----------------------------------------------------------------------


def backlog(dsn: str, count: int) -> None:
    """``count`` events published by a process that only publishes (workers=0): due to anyone."""
    with platform_on(dsn, ledger(), workers=0) as publisher:
        publisher.start()
        for n in range(count):
            publisher.bus.publish("order.placed", {"n": n}, "orders")


@pytest.mark.parametrize("poll_interval", [5.0, None], ids=["polling", "no-worker"])
def test_a_backlog_delivered_by_start_runs_under_a_renewed_lease(
    dsn: str, poll_interval: float | None
) -> None:
    """start() delivers what was left due (inline mode): a handler that outlasts its lease
    keeps it, renewed, so another replica never takes the delivery over and runs it twice;
    also on a platform with no delivery worker (poll_interval=None), whose caller delivers."""
    import threading

    backlog(dsn, 1)
    running, release = threading.Event(), threading.Event()

    def hold(data: dict[str, Any]) -> None:
        running.set()
        assert release.wait(20)

    first = platform_on(dsn, ledger(hold), lease=1.0, poll_interval=poll_interval)
    database: Any = first.database
    starting = threading.Thread(target=first.start)  # not `with`: that starts it here
    starting.start()
    try:
        assert running.wait(10)
        time.sleep(2.5)  # two and a half leases
        [row] = database.query(
            "SELECT owner, due_at - date_part('epoch', clock_timestamp()) AS left "
            "FROM aura_publications"
        )
        assert row["owner"] == first.journal.owner  # type: ignore[union-attr]
        assert row["left"] > 0  # renewed: no other process may claim it
        with platform_on(dsn, ledger(), poll_interval=None):
            pass  # started: it finds nothing due, the row is still leased
        assert effects(database) == []
    finally:
        release.set()
        starting.join(20)
    try:
        assert effects(database) == [0]  # once
        assert accounted(database) == {"COMPLETED": 1}
    finally:
        first.close()


def test_with_workers_start_leaves_the_backlog_to_the_delivery_threads(dsn: str) -> None:
    """workers=N: start() returns at once, and the delivery threads deliver the backlog, each
    event once, under renewed leases (each handler outlasts its lease)."""
    backlog(dsn, 4)
    platform = platform_on(dsn, ledger(lambda data: time.sleep(0.6)), workers=2, lease=0.5)
    try:
        began = time.monotonic()
        platform.start()  # not `with`: the time of start() itself
        assert time.monotonic() - began < 0.5  # four deliveries of 0.6 s were not waited for
        database: Any = platform.database
        assert wait_until(lambda: accounted(database) == {"COMPLETED": 4}, 20)
        assert effects(database) == [0, 1, 2, 3]
        rows = database.query("SELECT attempts FROM aura_publications")
        assert [row["attempts"] for row in rows] == [1, 1, 1, 1]  # none taken over, run again
    finally:
        platform.close()


def test_health_says_down_within_seconds_while_the_server_is_down(
    dsn: str, postgres_cluster: Any
) -> None:
    """GET /health's check of the database is bounded (HEALTH_TIMEOUT), not the pool's 30 s
    wait for a connection: a load balancer's probe sees a 503, not a timeout."""
    from aura.web.discovery import HEALTH_TIMEOUT, check_health

    with platform_on(dsn, ledger()) as platform:
        assert check_health(platform).database == "up"
        postgres_cluster.stop()
        try:
            began = time.monotonic()
            health = check_health(platform)
            took = time.monotonic() - began
        finally:
            postgres_cluster.start()
        assert (health.status, health.database) == ("down", "down")
        assert took < HEALTH_TIMEOUT + 3  # was 30 s
        assert wait_until(lambda: check_health(platform).database == "up", 30)


def test_health_says_up_while_every_pooled_connection_is_busy(dsn: str) -> None:
    """A pool whose connections are all held by long transactions is a busy replica, not a
    database down: a load balancer must not take it out for that."""
    import threading

    from aura.web.discovery import check_health

    database = PostgresDatabase(dsn, pool_size=2)
    holding, release = threading.Barrier(3), threading.Event()

    def hold() -> None:
        with database.transaction():
            database.query_one("SELECT 1")
            holding.wait(10)
            release.wait(20)

    holders = [threading.Thread(target=hold) for _ in range(2)]
    with Platform(ledger(), database=database, durable=True, poll_interval=None) as platform:
        for holder in holders:
            holder.start()
        try:
            holding.wait(10)
            began = time.monotonic()
            assert check_health(platform).database == "up"
            assert time.monotonic() - began < 5
        finally:
            release.set()
            for holder in holders:
                holder.join(20)


def test_a_ping_on_a_connection_of_its_own_keeps_the_dsns_options(dsn: str) -> None:
    """With the pool busy, ping connects with the DSN as given: its options= (a search_path
    here; a provider's routing option elsewhere) are kept, not replaced by the time limit."""
    import threading

    import psycopg.conninfo

    parts = psycopg.conninfo.conninfo_to_dict(dsn)
    parts["options"] = "-c search_path=nowhere_schema"
    database = PostgresDatabase(psycopg.conninfo.make_conninfo(**parts), pool_size=1)
    seen: list[str] = []
    real = psycopg.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        connection = real(*args, **kwargs)
        seen.append(connection.execute("SHOW search_path").fetchone()[0])
        return connection

    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with database.transaction():
            holding.set()
            release.wait(20)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        psycopg.connect = connect  # type: ignore[assignment]
        try:
            assert database.ping(2.0)
        finally:
            psycopg.connect = real  # type: ignore[assignment]
    finally:
        release.set()
        holder.join(20)
        database.close()
    assert seen == ["nowhere_schema"]

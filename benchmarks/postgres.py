"""Durable delivery on PostgreSQL: 1 replica against 3, and how soon another process claims.

Each replica is a process of its own running a durable platform with delivery workers
(``Platform(..., durable=True, workers=2)``) on one PostgreSQL database, subscribed with a
handler that waits 5 ms (an I/O call) and then inserts its row. The benchmark's process only
publishes (``workers=0``): one operation is a batch of events committed in one transaction and
then waited for until every row is in. What is timed is the replicas' delivery: from the
batch's commit (the server's clock read just before it: nothing can be delivered earlier) to
the last handler's row as the server stamped it at its insert (``clock_timestamp()``); the
publisher's own time building the batch, and how often it looks for the rows, are not. The
server is ``AURA_TEST_DSN`` when set, else a private cluster started for the run
(``initdb``/``pg_ctl``, as the test suite's).
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from benchmarks.core import Area, Case, Namespace, Target

__all__ = ["AREA"]

_BATCH = 100
_THROUGHPUT = f"deliver {_BATCH} events (5 ms handler)"
_LATENCY = "commit to delivery by another process (NOTIFY)"

REPLICA = textwrap.dedent(
    """
    import sys, time
    from aura.database import Database
    from aura.module import Module
    from aura.platform import Platform
    from aura.postgres import PostgresDatabase

    dsn, wait = sys.argv[1], float(sys.argv[2])
    books = Module("ledger")

    @books.subscribe("order.placed", name="apply")
    def apply(data: dict, database: Database) -> None:
        if wait:
            time.sleep(wait)  # a handler waiting on I/O
        database.execute("INSERT INTO bench_ledger (n) VALUES (?)", (data["n"],))

    with Platform(
        [books], database=PostgresDatabase(dsn), durable=True, workers=2, poll_interval=1.0,
        log_traffic=False,
    ) as platform:
        platform.start()
        print("ready", flush=True)
        sys.stdin.readline()  # until the benchmark's process ends
    """
)

_state: dict[str, Any] = {}
_delivering_ns: dict[str, int] = {}
"""Per case (its database's name): the nanoseconds its batches took from commit to last row."""


def _server_dsn() -> str:
    """The server: AURA_TEST_DSN, else a private cluster for this process (stopped at exit)."""
    if "dsn" in _state:
        return str(_state["dsn"])
    given = os.environ.get("AURA_TEST_DSN")
    if given:
        _state["dsn"] = given
        return given
    from aura.testing.postgres import PostgresCluster, find_binaries

    binaries = find_binaries()
    if binaries is None:
        raise RuntimeError("The postgres benchmarks need initdb/pg_ctl or AURA_TEST_DSN.")
    cluster = PostgresCluster.create(binaries, label="bench")
    _state["cluster"] = cluster
    _state["dsn"] = cluster.dsn
    return cluster.dsn


def _database(name: str) -> str:
    """A new database on the server, for one case: its DSN."""
    import psycopg
    from psycopg import conninfo, sql

    base = _server_dsn()
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return conninfo.make_conninfo(base, dbname=name)


def _setup(replicas: int, wait: float, name: str) -> Namespace:
    from aura.module import Module
    from aura.platform import Platform
    from aura.postgres import PostgresDatabase

    dsn = _database(name)
    database = PostgresDatabase(dsn)
    database.execute(
        "CREATE TABLE bench_ledger (n INTEGER, at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp())"
    )
    database.execute("CREATE INDEX bench_ledger_n ON bench_ledger (n)")
    books = Module("ledger")

    # The same subscriber (module and name) as the replicas': the rows it writes are theirs.
    @books.subscribe("order.placed", name="apply")
    def apply(data: dict[str, Any]) -> None:  # never runs here: this process only publishes
        pass

    publisher = Platform(
        [books], database=database, durable=True, workers=0, log_traffic=False
    ).start()
    script = Path(tempfile.mkdtemp(prefix="aura-bench-")) / "replica.py"
    script.write_text(REPLICA)
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), dsn, str(wait)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(replicas)
    ]
    for process in processes:
        assert process.stdout is not None
        process.stdout.readline()
    _state.setdefault("processes", []).extend(processes)
    counter = iter(range(10**9))

    _delivering_ns[name] = 0

    # Waiting must not take the CPU the replicas need: a batch is looked for every 5 ms, one
    # event (the latency case) every 0.5 ms. Neither pause is timed: the rows' stamps are.
    def publish_and_wait(count: int) -> None:
        first = None
        with publisher.transaction():
            for _ in range(count):
                n = next(counter)
                first = n if first is None else first
                publisher.bus.publish("order.placed", {"n": n}, "orders")
            # The server's clock, as the rows' stamps (a server on another host has its own),
            # read just before the commit: nothing can be delivered earlier.
            committed = _server_now(database)
        pause = 0.0005 if count == 1 else 0.005
        deadline = time.monotonic() + 60
        while _delivered(database, first) < count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{count} events were not delivered within 60 s")
            time.sleep(pause)
        _delivering_ns[name] += round((_last_row_at(database, first) - committed) * 1e9)

    return {"run": publish_and_wait, "batch": _BATCH}


def _delivered(database: Any, first: int | None) -> int:
    row = database.query_one("SELECT COUNT(*) AS n FROM bench_ledger WHERE n >= ?", (first,))
    return int(row["n"])


def _server_now(database: Any) -> float:
    """The server's clock_timestamp(), in seconds since the epoch."""
    return float(database.query_one("SELECT EXTRACT(EPOCH FROM clock_timestamp()) AS now")["now"])


def _last_row_at(database: Any, first: int | None) -> float:
    """When the last of the rows from ``first`` on was inserted (seconds since the epoch)."""
    row = database.query_one(
        "SELECT EXTRACT(EPOCH FROM MAX(at)) AS at FROM bench_ledger WHERE n >= ?", (first,)
    )
    return float(row["at"])


def _delivery_meter(name: str) -> Any:
    """The meter of a case: the delivery time its batches took so far (see the module doc)."""
    return lambda: _delivering_ns[name]


def shutdown() -> None:
    """Stop the replica processes and the private cluster (also run at exit). A caller that
    measures in a process of its own, such as a pytest worker, calls it when done: work left
    to exit handlers may be cut short there."""
    processes = _state.pop("processes", [])
    for process in processes:
        if process.stdin is not None:
            process.stdin.close()
    for process in processes:
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
    cluster = _state.pop("cluster", None)
    if cluster is not None:
        cluster.remove()
    _state.pop("dsn", None)


atexit.register(shutdown)

AREA = Area(
    name="postgres",
    title="Durable delivery on PostgreSQL: 1 replica against 3, and the NOTIFY wake-up",
    cases=(
        Case(
            _THROUGHPUT,
            "1 replica",
            "run(batch)",
            lambda: _setup(1, 0.005, "bench_one"),
            meter=_delivery_meter("bench_one"),
        ),
        Case(
            _THROUGHPUT,
            "3 replicas",
            "run(batch)",
            lambda: _setup(3, 0.005, "bench_three"),
            meter=_delivery_meter("bench_three"),
        ),
        Case(
            _LATENCY,
            "1 event, 1 replica",
            "run(1)",
            lambda: _setup(1, 0.0, "bench_wake"),
            meter=_delivery_meter("bench_wake"),
        ),
    ),
    targets=(
        # "3 replicas deliver >= 2.5x the events per second of 1" is "<= 1/2.5 of its time".
        Target(
            f"{_THROUGHPUT} / 3 replicas",
            "≥ 2.5x the events per second of 1 replica",
            1 / 2.5,
            f"{_THROUGHPUT} / 1 replica",
            profile="",  # the work is in the replicas' processes: this one only waits
        ),
        Target(f"{_LATENCY} / 1 event, 1 replica", "median ≤ 20 ms", 20e6, profile=""),
    ),
    notes=(
        "Each replica: a process with Platform(durable=True, workers=2) on the same database, "
        "claiming with FOR UPDATE SKIP LOCKED, woken by the NOTIFY the publisher's commit sends.",
        "One operation: a batch committed in one transaction by a process that only publishes "
        "(workers=0), then waited for until every handler's row is in. Timed: from the commit "
        "to the last row's insert, as the server stamped it (clock_timestamp()); not the "
        "publisher building the batch, nor how often it looks for the rows.",
        "The latency case times one event from its commit to its handler's row, "
        "with a handler that does nothing else.",
    ),
    packages=("aura", "psycopg", "psycopg-pool"),
)

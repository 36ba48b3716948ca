"""Replicas: several processes of the platform on ONE SQLite file share the deliveries.

A publisher commits ``M`` events in one transaction and dies (SIGKILL) before delivering any:
every publication is left PROCESSING under its short lease. Three replicas then start at once
(lease 0.5 s, polling every 20 ms) and run until every publication is COMPLETED; the handler is
slow-ish (2 ms, then an INSERT) and not idempotent, so a second application shows as a second
row. On SQLite one process writes at a time, so a replica may deliver few of them: the counts
per replica are in the assertion messages, not asserted.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aura.database import Database
from aura.module import Module
from aura.platform import Platform
from tests.reliability.durable_worker import (
    Child,
    event_number,
    finished,
    killed,
    spawn,
    tally,
    until,
)

M = 3_000  # 7.5 to 9.5 s here for the three replicas (measured), 11 s with the publisher
REPLICA = ("--lease", 0.5, "--poll", 0.02, "--sleep", 0.002, "--deadline", 90)


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """The children a test starts: killed at the end if a failure left them running."""
    started: list[Child] = []
    yield started
    for child in started:
        child.end()


def orphaned(tmp_path: Path, database: Path, events: int) -> None:
    """A publisher commits ``events`` events in one transaction, then dies before delivering."""
    publisher = spawn(
        tmp_path,
        "publisher",
        *("publish", database, "--events", events, "--batch"),
        *("--kill", "before-delivery", "--at", 0, "--lease", 0.5),
    )
    killed(publisher, timeout=60)
    left = tally(database)
    assert left.statuses == {"PROCESSING": events}, left.render()


def replicas(
    tmp_path: Path, database: Path, children: list[Child], *options: object
) -> list[Child]:
    """Start three replicas at once, each with ``options``."""
    started = [
        spawn(tmp_path, f"replica-{i}", "replica", database, *REPLICA, *options) for i in range(3)
    ]
    children.extend(started)
    return started


def assert_each_event_applied_once(database: Path, events: int) -> None:
    counts = tally(database)
    assert counts.events == counts.orders == set(range(events)), counts.render()
    assert (len(counts.lost), len(counts.twice)) == (0, 0), counts.render()
    assert counts.statuses == {"COMPLETED": events}, counts.render()


def test_three_replicas_deliver_a_dead_publishers_events_each_exactly_once(
    tmp_path: Path, children: list[Child]
) -> None:
    database = tmp_path / "aura.db"
    orphaned(tmp_path, database, M)

    for replica in replicas(tmp_path, database, children):
        finished(replica, timeout=120)

    assert_each_event_applied_once(database, M)


def test_a_replica_stopped_holding_a_lease_commits_nothing_when_it_resumes(
    tmp_path: Path, children: list[Child]
) -> None:
    database = tmp_path / "aura.db"
    events = 300
    orphaned(tmp_path, database, events)
    marker = tmp_path / "stopped"

    # replica-0 starts alone and SIGSTOPs itself at its 20th delivery: the journal has checked
    # its lease, the handler's transaction has not begun (a process stopped inside it would
    # hold SQLite's write lock: nobody could take anything over). Alone, because on SQLite one
    # of three replicas started together may deliver none at all.
    stopped = spawn(
        tmp_path,
        "replica-0",
        "replica",
        database,
        *REPLICA,
        *("--stop-after", 20, "--marker", marker),
    )
    children.append(stopped)
    until(lambda: marker.exists() and stopped.stopped(), 30, "replica-0 to stop itself")
    n = event_number(database, marker.read_text())
    others = [spawn(tmp_path, f"replica-{i}", "replica", database, *REPLICA) for i in (1, 2)]
    children.extend(others)
    until(lambda: tally(database).rows[n][0] == "COMPLETED", 30, f"a take-over of event {n}")
    os.kill(stopped.process.pid, signal.SIGCONT)

    for replica in (stopped, *others):
        finished(replica, timeout=60)
    counts = tally(database)
    assert counts.applied_by[n] in (["replica-1"], ["replica-2"]), counts.render()
    assert stopped.report()["lease_lost"] >= 1, stopped.output()  # its completion was refused
    assert_each_event_applied_once(database, events)


def test_the_canary_a_naive_claim_applies_events_twice(
    tmp_path: Path, children: list[Child]
) -> None:
    """The same replicas with a check-then-act claim and a completion that ignores ownership
    apply events twice: the counting above sees what the conditional claim guards against.

    Without a pause between the read and the mark this happened to 2 to 9 events in 300 here
    (7 runs); 1 ms between them makes it 29 to 80 in 300, so the canary does not need luck.
    """
    database = tmp_path / "aura.db"
    events = 300
    orphaned(tmp_path, database, events)

    for replica in replicas(tmp_path, database, children, "--naive", "--naive-gap", 0.001):
        finished(replica, timeout=60)

    counts = tally(database)
    assert counts.lost == [], counts.render()
    assert len(counts.twice) > 0, counts.render()


# --- replicas configured with different leases ---------------------------------------------------


def ledger(calls: list[int]) -> list[Module]:
    """``orders`` publishes ``order.placed``; ``ledger`` applies it (a row) and notes each call
    in ``calls`` (what a side effect outside the database, an e-mail, would see)."""
    orders = Module("orders")
    orders.publishes("order.*")
    books = Module("ledger")

    @books.on_start
    def create(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS ledger_entries (n INTEGER)")

    @books.subscribe("order.placed")
    def apply(data: dict[str, Any], database: Database) -> None:
        calls.append(data["n"])
        database.execute("INSERT INTO ledger_entries VALUES (?)", (data["n"],))

    return [orders, books]


def test_a_replica_with_a_shorter_lease_leaves_a_live_replicas_publication_alone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "aura.db"
    calls: list[int] = []
    reports: list[Any] = []
    with (
        Platform(ledger(calls), database=path, durable=True, lease=30, poll_interval=None) as slow,
        Platform(ledger(calls), database=path, durable=True, lease=1, poll_interval=None) as quick,
    ):
        with slow.transaction():
            # Runs after the commit, before the publisher's own delivery: the publication is
            # then the live publisher's, under a lease that has 30 s to go.
            slow.database.on_commit(lambda: reports.append(quick.bus.resubmit_incomplete()))
            slow.bus.publish("order.placed", {"n": 1}, "orders")
        rows = slow.database.query("SELECT n FROM ledger_entries")
        assert len(rows) == 1  # exactly once in the database either way
        assert (reports[0].delivered, calls) == (0, [1]), (
            f"the replica with the 1 s lease delivered {reports[0].delivered} publication(s) "
            f"the live publisher owned for 30 s; the handler ran {len(calls)} times"
        )


# --- a replica starting while another process holds SQLite's write lock ------------------------


def test_a_replica_starts_while_another_process_holds_the_write_lock(tmp_path: Path) -> None:
    database = tmp_path / "aura.db"
    orphaned(tmp_path, database, 1)  # one publication, due once its 0.5 s lease has passed
    orders = Module("orders")
    orders.publishes("order.*")
    books = Module("ledger")  # the publisher made the tables: no start hook writes here

    @books.subscribe("order.placed", name="book")  # the subscriber the publisher recorded
    def apply(data: dict[str, Any], database: Database) -> None:
        database.execute("INSERT INTO ledger_effects VALUES (?, 'replica')", (data["n"],))

    replica = Platform(
        [orders, books],
        database=Database(database, timeout=0.1),
        durable=True,
        lease=0.5,
        poll_interval=0.02,
    )
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        time.sleep(0.6)  # its lease has expired: the replica's start claims it
        holder.execute("BEGIN IMMEDIATE")  # another process writes for longer than 0.1 s
        try:
            replica.start()
        finally:
            holder.execute("ROLLBACK")
        until(lambda: tally(database).statuses == {"COMPLETED": 1}, 30, "the worker's delivery")
    finally:
        replica.close()
        holder.close()
    assert tally(database).effects == {0: 1}

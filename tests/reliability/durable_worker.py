"""A child process for the durable-delivery fault suites, and the parent's tools to run it.

Run by path, ``python durable_worker.py ROLE DATABASE [options]``: a durable platform on a
SQLite file whose one subscriber is deliberately not idempotent (each call INSERTs a row into
``ledger_effects``, in the delivery's transaction), with a fault at a chosen step:

* ``--kill STEP --at N``: SIGKILL itself at ``STEP`` of the delivery of event ``n == N``
  (``before-delivery``, ``before-write``, ``after-write``, ``after-completed``,
  ``after-claim``);
* ``--fail-at N``: the handler raises on its first call for event ``N`` (a dead letter);
* ``--stop-after K``: SIGSTOP itself at its K-th delivery, after the journal checked its lease
  and before the handler's transaction begins (it writes the event id to ``--marker`` first);
* ``--naive``: claim with a check-then-act journal whose completion ignores ownership (the
  canary: what the conditional claim guards against).

Roles: ``publish`` (``--events`` events, each in its own transaction with an ``orders_placed``
row, or all in one with ``--batch``), ``retry`` (``bus.retry_dead_letters()``), ``claim``
(let the worker claim until killed), ``recover`` (until nothing is left to deliver;
``--retry`` retries dead letters before and after), ``replica`` (until every publication is
COMPLETED, or for ``--for`` seconds). ``--busy-timeout`` (30 s) is how long a writer waits
for SQLite's lock. A child prints one JSON line of what it saw; the parent reads the database
itself.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
STEPS = ("before-delivery", "before-write", "after-write", "after-completed", "after-claim")


# --- the parent's side ------------------------------------------------------------------------


def spawn(workdir: Path, name: str, role: str, database: Path, *options: object) -> Child:
    """Start a child running ``role`` on ``database``; its output goes to files in ``workdir``."""
    out = (workdir / f"{name}.out").open("w")
    err = (workdir / f"{name}.err").open("w")
    command = [sys.executable, str(HERE), role, str(database), "--name", name]
    process = subprocess.Popen(
        [*command, *map(str, options)], stdout=out, stderr=err, cwd=workdir, text=True
    )
    out.close()
    err.close()
    return Child(name, process, workdir)


@dataclass
class Child:
    """A running child and where its output goes."""

    name: str
    process: subprocess.Popen[str]
    workdir: Path

    def wait(self, timeout: float = 30.0) -> int:
        """Wait for the child to end; return its exit code (negative: the signal)."""
        return self.process.wait(timeout)

    def output(self) -> str:
        """What the child printed, and what it logged, for an assertion message."""
        out = (self.workdir / f"{self.name}.out").read_text()
        err = (self.workdir / f"{self.name}.err").read_text()
        return f"[{self.name} stdout] {out.strip()}\n[{self.name} stderr] {err.strip()[-3000:]}"

    def report(self) -> dict[str, Any]:
        """The JSON line the child printed last."""
        lines = (self.workdir / f"{self.name}.out").read_text().splitlines()
        return dict(json.loads(lines[-1])) if lines else {}

    def stopped(self) -> bool:
        """Whether the child is stopped (SIGSTOP): state T in /proc."""
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] == "T"

    def end(self) -> None:
        """Kill the child if it still runs (a test that failed midway)."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def finished(child: Child, timeout: float = 30.0) -> None:
    """Wait for ``child`` and insist that it exited normally."""
    code = child.wait(timeout)
    assert code == 0, f"{child.name} exited with {code}\n{child.output()}"


def killed(child: Child, timeout: float = 30.0) -> None:
    """Wait for ``child`` and insist that it died of its own SIGKILL."""
    code = child.wait(timeout)
    assert code == -signal.SIGKILL, f"{child.name} exited with {code}, not SIGKILL\n" + (
        child.output()
    )


@dataclass
class Tally:
    """Everything counted in the database after a run."""

    orders: set[int]
    events: set[int]
    effects: Counter[int]
    by_replica: Counter[str]
    statuses: dict[str, int]
    dead_letters: int
    rows: dict[int, tuple[str, str | None]] = field(repr=False)
    """Event number -> (status, owner) of its publication."""
    applied_by: dict[int, list[str]] = field(repr=False)
    """Event number -> the children whose effect of it committed."""

    @property
    def lost(self) -> list[int]:
        """Published events without an effect."""
        return sorted(self.events - set(self.effects))

    @property
    def twice(self) -> dict[int, int]:
        """Events applied more than once, and how often."""
        return {n: count for n, count in sorted(self.effects.items()) if count > 1}

    def render(self) -> str:
        """The counts, for an assertion message."""
        return (
            f"committed by the publisher {len(self.orders)}, events stored {len(self.events)}, "
            f"effects {sum(self.effects.values())} rows for {len(self.effects)} events, "
            f"lost {len(self.lost)} {self.lost[:10]}, applied twice or more {len(self.twice)} "
            f"{dict(list(self.twice.items())[:10])}, publications {self.statuses}, "
            f"dead letters {self.dead_letters}, "
            f"delivered by {dict(sorted(self.by_replica.items()))}"
        )


def tally(database: Path) -> Tally:
    """Count what the run left in ``database``."""
    with closing(sqlite3.connect(database)) as db:
        orders = {n for (n,) in db.execute("SELECT n FROM orders_placed")}
        events = {
            int(n)
            for (n,) in db.execute(
                "SELECT json_extract(data, '$.n') FROM aura_events "
                "WHERE event_type = 'order.placed'"
            )
        }
        applied = db.execute("SELECT n, replica FROM ledger_effects ORDER BY rowid").fetchall()
        statuses = dict(
            db.execute("SELECT status, COUNT(*) FROM aura_publications GROUP BY status").fetchall()
        )
        rows = {
            int(n): (status, owner)
            for n, status, owner in db.execute(
                "SELECT json_extract(e.data, '$.n'), p.status, p.owner FROM aura_publications p "
                "JOIN aura_events e ON e.event_id = p.event_id"
            )
        }
    applied_by: dict[int, list[str]] = {}
    for n, replica in applied:
        applied_by.setdefault(n, []).append(replica)
    return Tally(
        orders=orders,
        events=events,
        effects=Counter(n for n, _ in applied),
        by_replica=Counter(replica for _, replica in applied),
        statuses=statuses,
        dead_letters=statuses.get("FAILED", 0),
        rows=rows,
        applied_by=applied_by,
    )


def event_number(database: Path, event_id: str) -> int:
    """The ``n`` of the stored event ``event_id``."""
    with closing(sqlite3.connect(database)) as db:
        (n,) = db.execute(
            "SELECT json_extract(data, '$.n') FROM aura_events WHERE event_id = ?", (event_id,)
        ).fetchone()
    return int(n)


def until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` every 10 ms until it holds; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.01)


# --- the child's side -------------------------------------------------------------------------


def die() -> None:
    """SIGKILL this process: no finally block, no atexit, no close runs."""
    os.kill(os.getpid(), signal.SIGKILL)


def arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=("publish", "retry", "claim", "recover", "replica"))
    parser.add_argument("database")
    parser.add_argument("--name", default="child")
    parser.add_argument("--events", type=int, default=30)
    parser.add_argument("--batch", action="store_true")
    parser.add_argument("--kill", choices=STEPS)
    parser.add_argument("--at", type=int, default=-1)
    parser.add_argument("--fail-at", type=int, default=-1)
    parser.add_argument("--stop-after", type=int, default=0)
    parser.add_argument("--marker", default="")
    parser.add_argument("--naive", action="store_true")
    parser.add_argument("--naive-gap", type=float, default=0.0)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--lease", type=float, default=0.5)
    parser.add_argument("--poll", type=float, default=0.05)
    parser.add_argument("--retry", action="store_true")
    parser.add_argument("--for", dest="run_for", type=float, default=0.0)
    parser.add_argument("--deadline", type=float, default=30.0)
    parser.add_argument("--busy-timeout", type=float, default=30.0)
    return parser.parse_args(argv)


def modules(args: argparse.Namespace) -> list[Any]:
    """``orders`` publishes ``order.placed``; ``ledger`` applies it once per call (a row)."""
    from aura.database import Database
    from aura.module import Module

    orders = Module("orders")
    orders.publishes("order.*")
    ledger = Module("ledger")
    failed: set[int] = set()

    @orders.on_start
    def create_orders(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS orders_placed (n INTEGER PRIMARY KEY)")

    @ledger.on_start
    def create_ledger(database: Database) -> None:
        database.execute(
            "CREATE TABLE IF NOT EXISTS ledger_effects (n INTEGER NOT NULL, replica TEXT NOT NULL)"
        )

    @ledger.subscribe("order.placed", name="book")  # one identity in every process
    def apply(data: dict[str, Any], database: Database) -> None:
        n = data["n"]
        if n == args.fail_at and n not in failed:
            failed.add(n)
            raise RuntimeError(f"order {n} cannot be booked yet")
        if args.kill == "before-write" and n == args.at:
            die()
        if args.sleep:
            time.sleep(args.sleep)
        database.execute("INSERT INTO ledger_effects VALUES (?, ?)", (n, args.name))
        if args.kill == "after-write" and n == args.at:
            die()

    return [orders, ledger]


def install_faults(args: argparse.Namespace, lost: list[str]) -> None:
    """Wrap the journal's steps with the requested fault; count completions that lost their
    lease into ``lost``."""
    from aura.publications import DurableJournal, _LeaseLost

    delivering = DurableJournal.delivering
    claim = DurableJournal.claim
    begin = DurableJournal._begin
    complete = DurableJournal._complete
    began = [0]

    @contextmanager
    def faulty_delivering(self: Any, event: Any, subscription: Any) -> Iterator[bool]:
        n = event.data["n"]
        if args.kill == "before-delivery" and n == args.at:
            die()
        with delivering(self, event, subscription) as run:
            yield run
        if args.kill == "after-completed" and n == args.at:
            die()  # the handler's transaction and its COMPLETED mark have committed

    def faulty_claim(self: Any, publication_id: int, *, failed: bool = False) -> Any:
        event = claim(self, publication_id, failed=failed)
        if event is not None and args.kill == "after-claim" and event.data["n"] == args.at:
            die()
        return event

    def stopping_begin(self: Any, key: tuple[str, str, str]) -> bool:
        ok: bool = begin(self, key)
        if ok:
            began[0] += 1
            if began[0] == args.stop_after:
                Path(args.marker).write_text(key[0])
                # At this thread, not the process: a process-directed SIGSTOP is taken by the
                # main thread, and this one would run on for a moment, into the transaction
                # (SQLite's write lock) it must not hold while stopped.
                signal.pthread_kill(threading.get_ident(), signal.SIGSTOP)
        return ok

    def counted_complete(
        self: Any, key: tuple[str, str, str], subscription: Any, **kw: Any
    ) -> None:
        try:
            complete(self, key, subscription, **kw)
        except _LeaseLost:
            lost.append(key[0])
            raise

    DurableJournal.delivering = faulty_delivering  # type: ignore[method-assign]
    DurableJournal.claim = faulty_claim  # type: ignore[method-assign]
    DurableJournal._begin = stopping_begin  # type: ignore[method-assign]
    DurableJournal._complete = counted_complete  # type: ignore[method-assign]


def naive_journal(args: argparse.Namespace, database: Any, store: Any) -> Any:
    """A journal that claims by reading, then marking (check-then-act), and completes a row
    whoever owns it: what the conditional claim and the ownership check guard against."""
    from datetime import UTC, datetime

    from aura.clock import RealClock
    from aura.publications import DurableJournal
    from aura.store import _event_from, _stamp

    class NaiveJournal(DurableJournal):
        def claim(self, publication_id: int, *, failed: bool = False) -> Any:
            now = self.dialect.now
            row = self.database.query_one(
                f"SELECT status, due_at <= {now} AS due FROM aura_publications WHERE id = ?",
                (publication_id,),
            )
            if row is None or row["status"] == "COMPLETED" or not (row["due"] or failed):
                return None
            if args.naive_gap:
                time.sleep(args.naive_gap)
            self.database.execute(
                "UPDATE aura_publications SET status = 'PROCESSING', owner = ?, "
                f"due_at = {now} + ?, attempts = attempts + 1 WHERE id = ?",
                (self.owner, self.lease, publication_id),
            )
            event = self.database.query_one(
                "SELECT p.subscriber_module AS p_module, p.handler AS p_handler, e.* "
                "FROM aura_publications p JOIN aura_events e ON e.event_id = p.event_id "
                "WHERE p.id = ?",
                (publication_id,),
            )
            with self._lock:
                key = (event["event_id"], event["p_module"], event["p_handler"])
                self._accepted[key] = RealClock.monotonic()
            return _event_from(event)

        def _complete(self, key: Any, subscription: Any, *, handled: bool) -> None:
            self.database.execute(
                "UPDATE aura_publications SET status = 'COMPLETED', owner = NULL, due_at = NULL, "
                "error = NULL, updated_at = ? WHERE event_id = ? AND subscriber_module = ? "
                "AND handler = ?",
                (_stamp(datetime.now(UTC)), *key),
            )

    return NaiveJournal(database, store, lease=args.lease)


def platform_for(args: argparse.Namespace) -> Any:
    from aura.database import Database
    from aura.platform import Platform
    from aura.store import SqliteEventStore

    options: dict[str, Any] = {}
    # Not the default 5 s: on SQLite a writer may wait longer than that for the lock while
    # three replicas contend (its busy handler is not fair), and Platform.start() does not
    # survive the timeout (see test_replicas.py).
    database = Database(args.database, timeout=args.busy_timeout)
    if args.naive:
        store = SqliteEventStore(database)
        options = {"event_store": store, "journal": naive_journal(args, database, store)}
    return Platform(
        modules(args),
        database=database,
        durable=True,
        lease=args.lease,
        poll_interval=args.poll,
        log_traffic=False,
        **options,
    )


def count(platform: Any, where: str) -> int:
    row = platform.database.query_one(f"SELECT COUNT(*) AS n FROM aura_publications WHERE {where}")
    return int(row["n"])


def wait_for(platform: Any, where: str, deadline: float) -> bool:
    """Wait until no publication matches ``where``; False at the deadline."""
    end = time.monotonic() + deadline
    while count(platform, where):
        if time.monotonic() >= end:
            return False
        time.sleep(0.02)
    return True


LEFT = (
    "status IN ('PROCESSING', 'PUBLISHED') OR (status = 'FAILED' AND "
    "due_at <= ((julianday('now') - 2440587.5) * 86400.0))"
)


def main(argv: Sequence[str]) -> int:
    args = arguments(argv)
    lost: list[str] = []
    install_faults(args, lost)
    started = time.monotonic()
    with platform_for(args) as platform:  # entering starts it: due work is resubmitted
        if args.role == "publish":
            publish(platform, args)
        elif args.role == "retry":
            report = platform.bus.retry_dead_letters()
            print(json.dumps({"retried": len(report.succeeded)}), flush=True)
        elif args.role == "claim":
            time.sleep(args.deadline)  # the worker claims; the kill ends it before this does
            print(json.dumps({"error": "never reached the kill"}), flush=True)
            return 3
        elif args.role == "recover":
            if args.retry:
                platform.bus.retry_dead_letters()
            if not wait_for(platform, LEFT, args.deadline):
                print(json.dumps({"error": f"work left after {args.deadline} s"}), flush=True)
                return 4
            if args.retry:
                platform.bus.retry_dead_letters()
        elif args.run_for:
            time.sleep(args.run_for)
        elif not wait_for(platform, "status <> 'COMPLETED'", args.deadline):
            print(json.dumps({"error": f"not all COMPLETED after {args.deadline} s"}), flush=True)
            return 4
    took = round(time.monotonic() - started, 3)
    print(json.dumps({"name": args.name, "lease_lost": len(lost), "seconds": took}), flush=True)
    return 0


def publish(platform: Any, args: argparse.Namespace) -> None:
    def one(n: int) -> None:
        platform.database.execute("INSERT INTO orders_placed VALUES (?)", (n,))
        platform.bus.publish("order.placed", {"n": n}, "orders")

    if args.batch:
        with platform.transaction():
            for n in range(args.events):
                one(n)
    else:
        for n in range(args.events):
            with platform.transaction():
                one(n)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

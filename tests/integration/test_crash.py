"""Crash safety, proved: a publisher killed with SIGKILL mid-delivery loses no event."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

WORKER = textwrap.dedent(
    """
    import sys
    import time
    from pathlib import Path

    from aura.database import Database
    from aura.module import Module
    from aura.platform import Platform

    path, phase, marker = sys.argv[1], sys.argv[2], Path(sys.argv[3])

    orders = Module("orders")
    orders.publishes("order.*")
    ledger = Module("ledger")


    @orders.on_start
    def create_orders(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS orders_orders (n INTEGER PRIMARY KEY)")


    @ledger.on_start
    def create_ledger(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS ledger_entries (n INTEGER, handler TEXT)")


    @ledger.subscribe("order.placed", idempotent=True)
    def idempotent_entry(data: dict, database: Database) -> None:
        database.execute("INSERT INTO ledger_entries VALUES (?, 'idempotent')", (data["n"],))


    @ledger.subscribe("order.placed")
    def plain_entry(data: dict, database: Database) -> None:
        database.execute("INSERT INTO ledger_entries VALUES (?, 'plain')", (data["n"],))
        if phase == "publish" and data["n"] == 300:
            marker.write_text("mid-delivery")  # the parent kills us now, inside this handler
            time.sleep(30)


    # A short lease: the killed publisher's deliveries are taken over a second after it died.
    with Platform(
        [orders, ledger], database=path, durable=True, lease=1.0, poll_interval=0.05
    ) as platform:
        if phase == "publish":
            for n in range(1000):
                with platform.transaction():
                    platform.database.execute("INSERT INTO orders_orders VALUES (?)", (n,))
                    platform.bus.publish("order.placed", {"n": n}, "orders")
        else:  # the worker delivers what the dead process owned once its lease expires
            deadline = time.monotonic() + 30
            while platform.journal.publications("PROCESSING") and time.monotonic() < deadline:
                time.sleep(0.05)
        print("done", flush=True)
    """
)


def run_worker(script: Path, database: Path, phase: str, marker: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(script), str(database), phase, str(marker)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_killed_publisher_loses_nothing_and_handles_each_event_once(tmp_path: Path) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    database = tmp_path / "aura.db"
    marker = tmp_path / "marker"

    publisher = run_worker(script, database, "publish", marker)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert publisher.poll() is None, publisher.communicate()
        assert time.monotonic() < deadline, "the worker never reached event 300"
        time.sleep(0.01)
    os.kill(publisher.pid, signal.SIGKILL)
    publisher.communicate()
    assert publisher.returncode == -signal.SIGKILL

    with closing(sqlite3.connect(database)) as db:
        unfinished = db.execute(
            "SELECT COUNT(*) FROM aura_publications WHERE status != 'COMPLETED'"
        ).fetchone()[0]
    assert unfinished >= 1  # the kill really left a delivery half done

    restart = run_worker(script, database, "restart", marker)
    out, err = restart.communicate(timeout=60)
    assert restart.returncode == 0, err
    assert out.strip() == "done"

    with closing(sqlite3.connect(database)) as db:
        orders = {row[0] for row in db.execute("SELECT n FROM orders_orders")}
        events = {
            int(row[0])
            for row in db.execute(
                "SELECT json_extract(data, '$.n') FROM aura_events "
                "WHERE event_type = 'order.placed'"
            )
        }
        entries = db.execute(
            "SELECT handler, n, COUNT(*) FROM ledger_entries GROUP BY handler, n"
        ).fetchall()
        statuses = dict(
            db.execute("SELECT status, COUNT(*) FROM aura_publications GROUP BY status").fetchall()
        )
    assert events == orders  # every committed order has its event, and no event lacks its order
    assert len(events) >= 301
    handled = {(handler, n): count for handler, n, count in entries}
    lost = [
        (handler, n)
        for n in events
        for handler in ("idempotent", "plain")
        if (handler, n) not in handled
    ]
    assert lost == []
    assert set(handled.values()) == {1}  # each effect exactly once
    assert statuses == {"COMPLETED": 2 * len(events)}

"""A child process for the Django outbox's crash and concurrency tests.

Run by path, ``python django_child.py ROLE DATABASE_JSON [options]``: Django configured with
``DATABASES["default"] = DATABASE_JSON``; an ``orders`` module publishes ``dj.order.placed`` in
the same ``transaction.atomic()`` as its ``dj_orders`` row; the ``shipping`` subscriber is
deliberately not idempotent (each run INSERTs a ``dj_effects`` row, in the delivery's atomic
block). Roles as in ``sqlalchemy_child.py``: ``publish --events N [--kill before-write|
after-write]``, ``publish-only --events N``, ``deliver --expect N [--workers W]``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import django
from django.conf import settings

from aura.events import Event

EVENT = "dj.order.placed"


def configure(database: dict[str, Any]) -> None:
    settings.configure(DATABASES={"default": database}, USE_TZ=True, INSTALLED_APPS=[])
    django.setup()


def tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS dj_orders (n INTEGER NOT NULL)")
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS dj_effects (event_id TEXT NOT NULL, pid INTEGER NOT NULL)"
        )


def build(kill: str | None, **options: Any) -> Any:
    from django.db import connection

    from aura import EventCatalog, Module, Platform
    from aura.integrations.django import DjangoDatabase

    tables()
    orders = Module("orders")
    orders.publishes(EVENT)
    shipping = Module("shipping")
    runs: list[int] = []

    @shipping.subscribe(EVENT, name="ship")
    def ship(event: Event) -> None:
        if kill == "before-write":
            os.kill(os.getpid(), signal.SIGKILL)
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO dj_effects VALUES (%s, %s)", [event.event_id, os.getpid()])
        if kill == "after-write":
            os.kill(os.getpid(), signal.SIGKILL)
        runs.append(event.data["n"])

    platform = Platform(
        [orders, shipping],
        database=DjangoDatabase(),
        durable=True,
        catalog=EventCatalog(),
        **options,
    )
    platform.runs = runs
    return platform


def publish(platform: Any, events: int) -> None:
    from django.db import connection, transaction

    for n in range(events):
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("INSERT INTO dj_orders VALUES (%s)", [n])
            platform.bus.publish(EVENT, {"n": n}, "orders")


def settled(expect: int) -> bool:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM dj_orders")
        orders = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM aura_publications WHERE status <> 'COMPLETED'")
        open_ = cursor.fetchone()[0]
    return bool(orders >= expect and open_ == 0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["publish", "publish-only", "deliver"])
    parser.add_argument("database")
    parser.add_argument("--events", type=int, default=1)
    parser.add_argument("--expect", type=int, default=1)
    parser.add_argument("--kill", choices=["before-write", "after-write"])
    parser.add_argument("--workers", type=int)
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args()
    configure(json.loads(args.database))
    if args.role == "publish":
        platform = build(args.kill, lease=1.0, poll_interval=None)
        publish(platform, args.events)
    elif args.role == "publish-only":
        platform = build(None, workers=0, poll_interval=None)
        publish(platform, args.events)
    else:
        platform = build(None, lease=1.0, poll_interval=0.05, workers=args.workers)
        platform.start()
        deadline = time.monotonic() + args.timeout
        while not settled(args.expect) and time.monotonic() < deadline:
            time.sleep(0.05)
    platform.close()
    print(json.dumps({"delivered": len(platform.runs)}))


if __name__ == "__main__":
    main()

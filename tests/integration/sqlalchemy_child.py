"""A child process for the SQLAlchemy outbox's crash and concurrency tests.

Run by path, ``python sqlalchemy_child.py ROLE URL [options]``: an application with its own
SQLAlchemy models (``shop_orders``, ``shop_effects``) on ``URL``, whose ``orders`` module
publishes ``sa.order.placed`` in the same Session transaction as its order row, and whose
``shipping`` subscriber is deliberately not idempotent: each run INSERTs a ``shop_effects``
row through the delivery's own Session (``outbox.session()``).

Roles:

* ``publish --events N [--kill before-write|after-write]``: publish N orders, one Session
  transaction each, delivered in this process; with ``--kill``, SIGKILL itself in the first
  delivery, after the publisher's commit (before or after the handler's INSERT, which commits
  only with the COMPLETED mark).
* ``publish-only --events N``: publish N orders with ``workers=0`` (other processes deliver).
* ``deliver --expect N [--workers W]``: deliver until every publication is COMPLETED and
  ``--expect`` orders exist, then print ``{"delivered": k}`` (its own handler runs).

With ``--async-session`` the publishing roles use an ``AsyncSession`` on the asyncio driver of
the same database (aiosqlite, psycopg's async mode): Aura's platform is on that async engine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from aura import Module
from aura.events import Event
from aura.integrations.sqlalchemy import SqlAlchemyDatabase
from aura.platform import Platform

EVENT = "sa.order.placed"


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "shop_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str]


class Effect(Base):
    __tablename__ = "shop_effects"
    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str]
    order_id: Mapped[int]
    pid: Mapped[int]


ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql+psycopg": "postgresql+psycopg_async"}


def build(
    url: str, kill: str | None, asynchronous: bool = False, **options: object
) -> tuple[Platform, SqlAlchemyDatabase]:
    engine = sa.create_engine(url, connect_args={"timeout": 30} if "sqlite" in url else {})
    Base.metadata.create_all(engine)
    if asynchronous:
        parsed = sa.make_url(url)
        async_url = parsed.set(drivername=ASYNC_DRIVERS[parsed.drivername])
        outbox = SqlAlchemyDatabase(create_async_engine(async_url))
    else:
        outbox = SqlAlchemyDatabase(engine)
    orders = Module("orders")
    orders.publishes(EVENT)
    shipping = Module("shipping")
    runs: list[int] = []

    @shipping.subscribe(EVENT, name="ship")
    def ship(event: Event) -> None:
        data = event.data
        if kill == "before-write":
            os.kill(os.getpid(), signal.SIGKILL)
        outbox.session().add(
            Effect(event_id=event.event_id, order_id=data["order_id"], pid=os.getpid())
        )
        outbox.session().flush()
        if kill == "after-write":
            os.kill(os.getpid(), signal.SIGKILL)
        runs.append(data["order_id"])

    platform = Platform([orders, shipping], database=outbox, durable=True, **options)  # type: ignore[arg-type]
    platform.runs = runs  # type: ignore[attr-defined]
    return platform, outbox


def publish(platform: Platform, outbox: SqlAlchemyDatabase, events: int) -> None:
    for n in range(events):
        with Session(outbox.engine) as session, session.begin():
            order = Order(item=f"item-{n}")
            session.add(order)
            session.flush()
            platform.bus.publish(EVENT, {"order_id": order.id}, "orders")


async def apublish(platform: Platform, outbox: SqlAlchemyDatabase, events: int) -> None:
    assert outbox.async_engine is not None
    for n in range(events):
        async with AsyncSession(outbox.async_engine) as session, session.begin():
            order = Order(item=f"item-{n}")
            session.add(order)
            await session.flush()
            platform.bus.publish(EVENT, {"order_id": order.id}, "orders")


def settled(outbox: SqlAlchemyDatabase, expect: int) -> bool:
    with outbox.engine.connect() as connection:
        orders = connection.exec_driver_sql("SELECT COUNT(*) FROM shop_orders").scalar_one()
        open_ = connection.exec_driver_sql(
            "SELECT COUNT(*) FROM aura_publications WHERE status <> 'COMPLETED'"
        ).scalar_one()
    return orders >= expect and open_ == 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["publish", "publish-only", "deliver"])
    parser.add_argument("url")
    parser.add_argument("--events", type=int, default=1)
    parser.add_argument("--expect", type=int, default=1)
    parser.add_argument("--kill", choices=["before-write", "after-write"])
    parser.add_argument("--workers", type=int)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--async-session", action="store_true")
    args = parser.parse_args()
    if args.role in ("publish", "publish-only"):
        options: dict[str, object] = (
            {"lease": 1.0, "poll_interval": None}
            if args.role == "publish"
            else {"workers": 0, "poll_interval": None}
        )
        platform, outbox = build(
            args.url, args.kill if args.role == "publish" else None, args.async_session, **options
        )
        if args.async_session:
            asyncio.run(apublish(platform, outbox, args.events))
        else:
            publish(platform, outbox, args.events)
    else:
        options = {"lease": 1.0, "poll_interval": 0.05, "workers": args.workers}
        platform, outbox = build(args.url, None, False, **options)
        platform.start()
        deadline = time.monotonic() + args.timeout
        while not settled(outbox, args.expect) and time.monotonic() < deadline:
            time.sleep(0.05)
    platform.close()
    print(json.dumps({"delivered": len(platform.runs)}))  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()

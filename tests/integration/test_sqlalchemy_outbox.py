"""The outbox inside the application's own SQLAlchemy transactions (aura.integrations.sqlalchemy).

Every test runs on a SQLite file and on a private PostgreSQL database; the application has its
own models and sessions, and Aura joins them: an event commits with the session's writes and
is delivered after the commit, or is discarded with its rollback.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg.conninfo
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import StaticPool

from aura import Module
from aura.exceptions import (
    ConfigurationError,
    EventDeliveryError,
    TransactionMismatchError,
    TransactionRequiredError,
)
from aura.integrations.sqlalchemy import SqlAlchemyDatabase
from aura.platform import Platform

CHILD = Path(__file__).with_name("sqlalchemy_child.py")
EVENT = "sa_test.order.placed"


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "t_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str]


class Shipment(Base):
    __tablename__ = "t_shipments"
    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int]


def postgres_url(dsn: str, driver: str = "psycopg") -> sa.URL:
    parts = psycopg.conninfo.conninfo_to_dict(dsn)
    return sa.URL.create(
        f"postgresql+{driver}",
        username=parts.get("user"),
        password=parts.get("password"),
        host=parts.get("host"),
        port=int(parts["port"]) if parts.get("port") else None,
        database=parts.get("dbname"),
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> sa.URL:
    if request.param == "sqlite":
        return sa.make_url(f"sqlite:///{tmp_path / 'app.db'}")
    return postgres_url(request.getfixturevalue("fresh_postgres_dsn"))


@pytest.fixture
def engine(url: sa.URL) -> Iterator[sa.Engine]:
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


class Shop:
    """Two modules on the application's engine: orders publishes, shipping ships (and counts)."""

    def __init__(self, engine: sa.Engine | Any, **options: Any) -> None:
        self.outbox = SqlAlchemyDatabase(engine, **options.pop("database", {}))
        self.runs: list[dict[str, Any]] = []
        self.fail_on: set[int] = set()
        orders = Module("orders")
        orders.publishes(EVENT)
        shipping = Module("shipping")

        @shipping.subscribe(EVENT, name="ship")
        def ship(data: dict[str, Any]) -> None:
            self.runs.append(data)
            self.outbox.session().add(Shipment(order_id=data["order_id"]))
            self.outbox.session().flush()
            if data["order_id"] in self.fail_on:
                raise RuntimeError(f"no stock for order {data['order_id']}")

        self.platform = Platform(
            [orders, shipping],
            database=self.outbox,
            durable=True,
            poll_interval=None,
            **options,
        )

    def count(self, sql: str) -> int:
        with self.outbox.engine.connect() as connection:
            return int(connection.exec_driver_sql(sql).scalar_one())

    def statuses(self) -> list[str]:
        with self.outbox.engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT status FROM aura_publications ORDER BY id")
            return [row[0] for row in rows]


@pytest.fixture
def shop(engine: sa.Engine) -> Iterator[Shop]:
    shop = Shop(engine)
    yield shop
    shop.platform.close()


def place(shop: Shop, session: Session, order_id: int) -> None:
    session.add(Order(id=order_id, item="book"))
    shop.platform.bus.publish(EVENT, {"order_id": order_id}, "orders")


# --- a session's transaction is the event's --------------------------------------------------


def test_an_event_published_in_a_session_commits_with_it_and_is_delivered_after_it(
    shop: Shop, engine: sa.Engine
) -> None:
    with Session(engine) as session, session.begin():
        place(shop, session, 1)
        assert shop.runs == []  # not before the commit
        assert shop.outbox.in_transaction
    assert shop.runs == [{"order_id": 1}]
    assert shop.count("SELECT COUNT(*) FROM t_orders") == 1
    assert shop.count("SELECT COUNT(*) FROM t_shipments") == 1
    assert shop.statuses() == ["COMPLETED"]
    assert not shop.outbox.in_transaction


def test_a_rollback_discards_the_event_its_publications_and_its_delivery(
    shop: Shop, engine: sa.Engine
) -> None:
    def declined() -> None:
        with Session(engine) as session, session.begin():
            place(shop, session, 1)
            raise RuntimeError("payment declined")

    with pytest.raises(RuntimeError, match="payment declined"):
        declined()
    assert shop.runs == []
    assert shop.count("SELECT COUNT(*) FROM aura_events") == 0
    assert shop.count("SELECT COUNT(*) FROM aura_publications") == 0
    assert shop.count("SELECT COUNT(*) FROM t_orders") == 0


def test_a_session_left_in_autobegin_publishes_when_it_commits(
    shop: Shop, engine: sa.Engine
) -> None:
    session = Session(engine)
    place(shop, session, 1)  # session.add began its transaction
    assert shop.runs == []
    session.commit()
    assert shop.runs == [{"order_id": 1}]
    place(shop, session, 2)
    session.rollback()
    session.close()
    assert shop.runs == [{"order_id": 1}]
    assert shop.count("SELECT COUNT(*) FROM aura_events") == 1


def test_a_rolled_back_savepoint_discards_only_what_was_published_inside_it(
    shop: Shop, engine: sa.Engine
) -> None:
    with Session(engine) as session, session.begin():
        place(shop, session, 1)
        savepoint = session.begin_nested()
        place(shop, session, 2)
        savepoint.rollback()
        place(shop, session, 3)
    assert [run["order_id"] for run in shop.runs] == [1, 3]
    assert shop.count("SELECT COUNT(*) FROM aura_events") == 2
    assert shop.statuses() == ["COMPLETED", "COMPLETED"]


def test_a_handler_s_writes_commit_with_its_completed_mark_or_roll_back_with_its_failure(
    shop: Shop, engine: sa.Engine
) -> None:
    shop.fail_on.add(2)
    for order_id in (1, 2):
        with Session(engine) as session, session.begin():
            place(shop, session, order_id)
    assert [run["order_id"] for run in shop.runs] == [1, 2]
    with Session(engine) as session:
        shipped = session.scalars(sa.select(Shipment.order_id)).all()
    assert shipped == [1]  # the failed delivery's INSERT rolled back with it
    assert shop.statuses() == ["COMPLETED", "FAILED"]
    [letter] = shop.platform.bus.dead_letters()
    assert (letter.error_type, letter.error_message) == ("RuntimeError", "no stock for order 2")


def test_a_core_connection_from_begin_joins_events_to_its_transaction(
    shop: Shop,
) -> None:
    def undone() -> None:
        with shop.outbox.begin() as connection:
            connection.execute(sa.insert(Order).values(id=1, item="pen"))
            shop.platform.bus.publish(EVENT, {"order_id": 1}, "orders")
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError, match="undo"):
        undone()
    assert shop.count("SELECT COUNT(*) FROM aura_events") == 0
    with shop.outbox.begin() as connection:
        connection.execute(sa.insert(Order).values(id=2, item="pen"))
        shop.platform.bus.publish(EVENT, {"order_id": 2}, "orders")
        assert shop.runs == []
    assert shop.runs == [{"order_id": 2}]
    assert shop.count("SELECT COUNT(*) FROM t_orders") == 1


def test_a_session_s_transaction_belongs_to_the_task_that_began_it(
    shop: Shop, engine: sa.Engine
) -> None:
    async def other_task() -> bool:
        return shop.outbox.in_transaction

    async def main() -> tuple[bool, bool]:
        with Session(engine) as session, session.begin():
            session.add(Order(id=1, item="pen"))
            mine = shop.outbox.in_transaction
            theirs = await asyncio.create_task(other_task())
        return mine, theirs

    assert asyncio.run(main()) == (True, False)


# --- AsyncSession -------------------------------------------------------------------------------


@pytest.fixture
def async_url(url: sa.URL) -> sa.URL:
    if url.get_backend_name() == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    return url.set(drivername="postgresql+psycopg_async")


def test_an_async_session_writes_its_events_at_its_commit_and_its_rollback_discards_them(
    async_url: sa.URL, engine: sa.Engine
) -> None:
    async def main() -> Shop:
        async_engine = create_async_engine(async_url)
        shop = Shop(async_engine)
        try:
            async with AsyncSession(async_engine) as session:
                async with session.begin():
                    session.add(Order(id=1, item="lamp"))
                    shop.platform.bus.publish(EVENT, {"order_id": 1}, "orders")
                    assert shop.outbox.in_transaction
                    assert shop.count("SELECT COUNT(*) FROM aura_events") == 0  # at the commit
                assert shop.runs == [{"order_id": 1}]
                try:
                    async with session.begin():
                        session.add(Order(id=2, item="lamp"))
                        shop.platform.bus.publish(EVENT, {"order_id": 2}, "orders")
                        raise LookupError("declined")
                except LookupError:
                    pass
        finally:
            shop.platform.close()
            await async_engine.dispose()
        return shop

    shop = asyncio.run(main())
    try:
        assert shop.runs == [{"order_id": 1}]
        assert shop.count("SELECT COUNT(*) FROM aura_events") == 1
        assert shop.count("SELECT COUNT(*) FROM t_orders") == 1
        assert shop.count("SELECT COUNT(*) FROM t_shipments") == 1
        assert shop.statuses() == ["COMPLETED"]
    finally:
        shop.outbox.engine.dispose()  # counting after close() opened connections again


def test_an_async_engine_s_sync_engine_must_be_on_the_same_database(tmp_path: Path) -> None:
    async_engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    other = sa.create_engine(f"sqlite:///{tmp_path / 'b.db'}")
    with pytest.raises(ConfigurationError) as raised:
        SqlAlchemyDatabase(async_engine, sync_engine=other)
    assert str(raised.value) == (
        f"sync_engine is on sqlite:///{tmp_path / 'b.db'} and the async engine on "
        f"sqlite+aiosqlite:///{tmp_path / 'a.db'}: Aura's deliveries must see the rows the "
        "application's sessions write. Pass a sync_engine on the same database."
    )


# --- bad input: a typed error, and nothing written -------------------------------------------


def test_a_session_bound_to_another_engine_is_refused_and_nothing_is_written(
    shop: Shop, tmp_path: Path
) -> None:
    other = sa.create_engine(f"sqlite:///{tmp_path / 'analytics.db'}")
    Base.metadata.create_all(other)
    with Session(other) as session, session.begin():
        session.add(Order(id=1, item="pen"))
        with pytest.raises(TransactionMismatchError) as raised:
            shop.platform.bus.publish(EVENT, {"order_id": 1}, "orders")
    assert str(raised.value) == (
        f"An Aura statement ran inside a transaction of a session bound to sqlite:///"
        f"{tmp_path / 'analytics.db'}, and the platform's database is {shop.outbox.path}: "
        "events published there would not commit with it. Bind the session to the platform's "
        "engine, or publish outside that session's transaction."
    )
    assert shop.count("SELECT COUNT(*) FROM aura_events") == 0
    assert shop.runs == []


@pytest.mark.parametrize("required", [False, True])
def test_a_session_bound_per_mapper_is_refused_and_nothing_is_written(
    engine: sa.Engine, required: bool
) -> None:
    shop = Shop(engine, database={"require_transaction": required})
    try:
        with Session(binds={Base: engine}) as session, session.begin():
            session.add(Order(id=1, item="pen"))
            with pytest.raises(TransactionMismatchError) as raised:
                shop.platform.bus.publish(EVENT, {"order_id": 1}, "orders")
            session.rollback()
        assert str(raised.value) == (
            "An Aura statement ran inside a transaction of a session bound per mapper or table "
            "(Session(binds=...)): Aura cannot tell which database that transaction writes, "
            f"so events published there would not commit with it ({shop.outbox.path}). Bind "
            "the session to the platform's engine: Session(engine) or sessionmaker(engine). "
            "Nothing was written."
        )
        assert shop.count("SELECT COUNT(*) FROM aura_events") == 0
        assert shop.runs == []
    finally:
        shop.platform.close()


def test_a_session_joining_an_outer_transaction_is_refused_and_nothing_is_written(
    shop: Shop, engine: sa.Engine
) -> None:
    # SQLAlchemy's recipe for tests that roll everything back: the session's commit() ends a
    # savepoint only, so delivering then would run handlers before the real commit.
    with engine.connect() as connection:
        outer = connection.begin()
        with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
            session.add(Order(id=1, item="pen"))
            with pytest.raises(TransactionMismatchError) as raised:
                shop.platform.bus.publish(EVENT, {"order_id": 1}, "orders")
        outer.rollback()
    assert str(raised.value).startswith(
        "An Aura statement ran inside a session that joined a transaction its Connection had "
        "begun outside it (Session(bind=connection) after connection.begin()): the session's "
        "commit() does not commit that transaction"
    )
    assert shop.count("SELECT COUNT(*) FROM aura_events") == 0
    assert shop.runs == []


def test_a_publish_outside_a_transaction_is_refused_when_one_is_required(
    engine: sa.Engine,
) -> None:
    shop = Shop(engine, database={"require_transaction": True})
    try:
        with pytest.raises(TransactionRequiredError) as raised:
            shop.platform.bus.publish(EVENT, {"order_id": 1}, "orders")
        assert isinstance(raised.value, EventDeliveryError)
        assert str(raised.value) == (
            f"Event {EVENT!r} was published outside any transaction of {shop.outbox.path}, "
            "and that database requires one (require_transaction=True): it would commit "
            "alone, apart from the writes it announces. Publish inside the unit of work "
            "(`with session.begin():`), or pass SqlAlchemyDatabase(engine, "
            "require_transaction=False). Nothing was written."
        )
        assert shop.count("SELECT COUNT(*) FROM aura_events") == 0
        with Session(engine) as session, session.begin():
            place(shop, session, 1)
        assert shop.runs == [{"order_id": 1}]
    finally:
        shop.platform.close()


def test_an_unsupported_backend_is_refused_before_anything_is_written(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.setattr(engine.dialect, "name", "mysql")  # a third-party edge: no MySQL here
    with pytest.raises(ConfigurationError) as raised:
        SqlAlchemyDatabase(engine)
    assert str(raised.value) == (
        f"SqlAlchemyDatabase supports SQLite and PostgreSQL, and the engine is on mysql "
        f"(sqlite:///{tmp_path / 'x.db'}). Keep Aura's registry on a supported database: pass "
        "an engine on sqlite:// or postgresql+psycopg://."
    )
    assert not (tmp_path / "x.db").exists()


def test_an_in_memory_database_with_a_connection_per_thread_is_refused() -> None:
    with pytest.raises(ConfigurationError) as raised:
        SqlAlchemyDatabase(sa.create_engine("sqlite://"))
    assert str(raised.value) == (
        "The engine is on an in-memory SQLite database with a connection per thread: Aura's "
        "deliveries would each see an empty database of their own. Use a file "
        "(sqlite:///app.db), or one shared connection: create_engine('sqlite://', "
        "poolclass=StaticPool, connect_args={'check_same_thread': False})."
    )
    shared = sa.create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    assert SqlAlchemyDatabase(shared).dialect == "sqlite"


def test_something_else_than_an_engine_is_refused() -> None:
    with pytest.raises(ConfigurationError) as raised:
        SqlAlchemyDatabase("sqlite:///app.db")  # type: ignore[arg-type]
    assert str(raised.value) == (
        "SqlAlchemyDatabase needs a SQLAlchemy Engine or AsyncEngine, got str. Pass "
        "create_engine(url) or create_async_engine(url)."
    )


def test_session_outside_any_transaction_says_where_to_call_it(shop: Shop) -> None:
    with pytest.raises(ConfigurationError) as raised:
        shop.outbox.session()
    assert str(raised.value) == (
        f"SqlAlchemyDatabase.session() was called outside any transaction of "
        f"{shop.outbox.path}: call it inside a durable event handler, or inside "
        "`with database.transaction():`."
    )


# --- crashes and concurrent processes -----------------------------------------------------------


def run_child(role: str, url: sa.URL, *options: object, timeout: float = 120) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(CHILD), role, url.render_as_string(hide_password=False)]
        + [str(option) for option in options],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if role == "publish" and "--kill" in options:
        assert done.returncode == -9, done.stderr
        return {}
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


def effects(url: sa.URL) -> list[tuple[str, int]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT event_id, COUNT(*) FROM shop_effects GROUP BY event_id"
            )
            return [(row[0], row[1]) for row in rows]
    finally:
        engine.dispose()


PUBLISHERS = {"session": (), "async-session": ("--async-session",)}


@pytest.mark.parametrize("publisher", list(PUBLISHERS))
@pytest.mark.parametrize("kill", ["before-write", "after-write"])
def test_a_process_killed_after_the_commit_and_before_delivery_delivers_once_after_restart(
    url: sa.URL, kill: str, publisher: str
) -> None:
    run_child("publish", url, "--events", 3, "--kill", kill, *PUBLISHERS[publisher])
    assert effects(url) == []  # the handler's INSERT never committed
    report = run_child("deliver", url, "--expect", 1)
    assert report == {"delivered": 1}
    [(_, count)] = effects(url)
    assert count == 1  # exactly once in effect, with a handler that is not idempotent


@pytest.mark.parametrize("publisher", list(PUBLISHERS))
def test_two_processes_delivering_together_apply_each_event_once(
    fresh_postgres_dsn: str, publisher: str
) -> None:
    url = postgres_url(fresh_postgres_dsn)
    run_child("publish-only", url, "--events", 200, *PUBLISHERS[publisher])
    command = [sys.executable, str(CHILD), "deliver", url.render_as_string(hide_password=False)]
    children = [
        subprocess.Popen(
            [*command, "--expect", "200", "--workers", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    delivered = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        delivered.append(json.loads(out.splitlines()[-1])["delivered"])
    counts = effects(url)
    assert len(counts) == 200
    assert {count for _, count in counts} == {1}
    assert sum(delivered) == 200  # no handler ran twice, even one rolled back


def test_the_database_s_momentary_failures_are_told_from_the_code_s(engine: sa.Engine) -> None:
    import sqlite3

    import psycopg
    from sqlalchemy import exc as sa_exc

    database = SqlAlchemyDatabase(engine)
    sqlite = engine.dialect.name == "sqlite"
    driver_error = (
        sqlite3.OperationalError("database or disk is full")
        if sqlite
        else psycopg.OperationalError("terminating connection due to administrator command")
    )
    assert database.is_transient(sa_exc.OperationalError("INSERT ...", {}, driver_error))
    invalidated = sa_exc.DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    assert database.is_transient(invalidated)
    assert database.is_transient(sa_exc.TimeoutError("QueuePool limit reached"))
    constraint = sa_exc.IntegrityError("INSERT ...", {}, Exception("UNIQUE constraint failed"))
    assert not database.is_transient(constraint)
    assert not database.is_transient(RuntimeError("database or disk is full"))
    if sqlite:  # SQLite's operational errors are the code's unless they say otherwise
        missing = sa_exc.OperationalError("SELECT", {}, sqlite3.OperationalError("no such table"))
        assert not database.is_transient(missing)

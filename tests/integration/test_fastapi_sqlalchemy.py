"""A FastAPI app on its own SQLAlchemy sessions: a request's events commit with its writes.

The transaction an event joins is the one the publishing thread or task began. FastAPI runs a
synchronous generator dependency in a thread-pool thread and the endpoint in another, so a
session whose transaction is begun in such a dependency is not the endpoint's: the pattern that
works begins the transaction in the route. Both are shown here, over real HTTP (ASGI).
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import Depends, FastAPI, HTTPException
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from aura import EventCatalog, Module, Platform
from aura.integrations.fastapi import lifespan
from aura.integrations.sqlalchemy import SqlAlchemyDatabase

EVENT = "fa_sa.order.placed"


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "fa_orders"
    id: Mapped[int] = mapped_column(primary_key=True)
    item: Mapped[str]


class App:
    def __init__(self, path: Path, *, require_transaction: bool = False) -> None:
        self.engine = sa.create_engine(f"sqlite:///{path}")
        Base.metadata.create_all(self.engine)
        self.outbox = SqlAlchemyDatabase(self.engine, require_transaction=require_transaction)
        self.runs: list[dict[str, Any]] = []
        orders = Module("orders")
        orders.publishes(EVENT)
        shipping = Module("shipping")
        shipping.subscribe(EVENT)(self.runs.append)
        self.platform = Platform(
            [orders, shipping],
            database=self.outbox,
            durable=True,
            poll_interval=None,
            catalog=EventCatalog(),
        )
        self.app = FastAPI(lifespan=lifespan(self.platform))
        engine = self.engine

        def session() -> Iterator[Session]:
            with Session(engine) as opened:
                yield opened

        def session_in_transaction() -> Iterator[Session]:
            with Session(engine) as opened, opened.begin():
                yield opened

        @self.app.post("/orders/{order_id}")
        def place(order_id: int, db: Annotated[Session, Depends(session)]) -> dict[str, int]:
            with db.begin():
                db.add(Order(id=order_id, item="lamp"))
                self.platform.bus.publish(EVENT, {"order_id": order_id}, "orders")
                if order_id == 13:
                    raise HTTPException(status_code=409, detail="unlucky order")
            return {"order_id": order_id}

        @self.app.post("/begun-in-dependency/{order_id}")
        def place_in_dependency(
            order_id: int, db: Annotated[Session, Depends(session_in_transaction)]
        ) -> dict[str, int]:
            db.add(Order(id=order_id, item="lamp"))
            self.platform.bus.publish(EVENT, {"order_id": order_id}, "orders")
            return {"order_id": order_id}

    def count(self, table: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar_one())

    def post(self, *paths: str) -> list[httpx.Response]:
        async def run() -> list[httpx.Response]:
            async with self.app.router.lifespan_context(self.app):
                transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                    return [await client.post(path) for path in paths]

        return asyncio.run(run())


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[App]:
    app = App(tmp_path / "shop.db")
    yield app
    app.engine.dispose()


def test_a_request_s_event_commits_with_its_writes_and_is_delivered_after(shop: App) -> None:
    [response] = shop.post("/orders/1")
    assert response.status_code == 200
    assert shop.runs == [{"order_id": 1}]
    assert shop.count("fa_orders") == 1
    assert shop.count("aura_events") == 1


def test_a_request_that_fails_writes_neither_its_rows_nor_its_events(shop: App) -> None:
    [failed, placed] = shop.post("/orders/13", "/orders/2")
    assert failed.status_code == 409
    assert placed.status_code == 200
    assert shop.runs == [{"order_id": 2}]
    assert shop.count("fa_orders") == 1
    assert shop.count("aura_events") == 1


def test_a_transaction_begun_in_a_sync_dependency_is_not_the_endpoint_s(tmp_path: Path) -> None:
    app = App(tmp_path / "strict.db", require_transaction=True)
    try:
        [response] = app.post("/begun-in-dependency/1")
        # The dependency's thread began the session's transaction, the endpoint's thread
        # published: with require_transaction=True that is refused instead of committing apart.
        assert response.status_code == 500
        assert app.runs == []
        assert app.count("aura_events") == 0
    finally:
        app.engine.dispose()

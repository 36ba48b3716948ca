"""The shop's FastAPI application, with Aura adopted: ``uvicorn shop.app:app``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from aura import Platform
from aura.integrations.fastapi import CorrelationMiddleware, lifespan, session_dependency
from aura.integrations.sqlalchemy import SqlAlchemyDatabase
from shop.db import Base, get_session, make_engine
from shop.modules import catalog, orders, shipping
from shop.modules.catalog.routes import router as catalog_routes
from shop.modules.orders.routes import router as order_routes
from shop.modules.shipping.routes import router as shipping_routes

__all__ = ["create_app", "make_platform"]


def make_platform(engine: Engine, **options: Any) -> Platform:
    """The shop's platform: its three modules, events kept in the shop's own database."""
    outbox = SqlAlchemyDatabase(engine, require_transaction=True)
    return Platform(
        [catalog.module, orders.module, shipping.module],
        database=outbox,
        durable=True,
        **options,
    )


def create_app(engine: Engine | None = None, *, platform: Platform | None = None) -> FastAPI:
    """The shop's app on ``engine`` (default: :func:`shop.db.make_engine`); ``platform``, when
    given, is served instead of a new one (the tests give theirs, recorded by the harness)."""
    engine = engine or make_engine()

    @asynccontextmanager
    async def create_tables(app: FastAPI) -> AsyncIterator[None]:
        Base.metadata.create_all(engine)
        yield

    app = FastAPI(
        title="shop",
        lifespan=lifespan(platform or (lambda: make_platform(engine)), app_lifespan=create_tables),
    )
    app.add_middleware(CorrelationMiddleware)
    # Every route's Session: its transaction is the one the route's events join.
    app.dependency_overrides[get_session] = session_dependency(sessionmaker(engine))
    for router in (catalog_routes, order_routes, shipping_routes):
        app.include_router(router)
    return app

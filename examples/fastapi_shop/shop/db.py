"""The shop's SQLAlchemy setup: one Declarative Base, the engine, the request's session."""

from __future__ import annotations

import os

from sqlalchemy import URL, Engine, create_engine
from sqlalchemy.orm import DeclarativeBase, Session

from aura import Platform
from aura.integrations.sqlalchemy import SqlAlchemyDatabase

DATABASE_URL = "SHOP_DATABASE_URL"
"""The environment variable naming the database (e.g. ``postgresql+psycopg://...``)."""


class Base(DeclarativeBase):
    """The base of every module's ORM models (each module owns its own tables)."""


def make_engine(url: str | URL | None = None) -> Engine:
    """The shop's engine: ``url``, else ``$SHOP_DATABASE_URL``, else ``sqlite:///shop.db``."""
    return create_engine(url or os.environ.get(DATABASE_URL) or "sqlite:///shop.db")


def get_session() -> Session:
    """The request's Session; :func:`shop.app.create_app` overrides it with the app's own."""
    raise RuntimeError("get_session is replaced by create_app(): serve shop.app:create_app")


def outbox_of(platform: Platform) -> SqlAlchemyDatabase:
    """The platform's outbox: Aura's tables on the shop's engine."""
    database = platform.database
    assert isinstance(database, SqlAlchemyDatabase), database
    return database


def handler_session(platform: Platform) -> Session:
    """Inside a durable handler: the delivery's Session (commits with the COMPLETED mark)."""
    return outbox_of(platform).session()

"""The shop's test fixtures: its own app and platform, recorded by Aura's harness.

Every test and scenario runs twice, on SQLite and on PostgreSQL (``[sqlite]`` and
``[postgresql]`` in its id), or on one of them with ``EXAMPLE_DATABASE=sqlite`` or
``EXAMPLE_DATABASE=postgresql`` (``make test`` runs each example once per database).
``engine`` is a fresh SQLite file, or a fresh database on the private PostgreSQL cluster of
Aura's opt-in plugin ``aura.testing.postgres`` (or on ``AURA_TEST_DSN``'s server). Without
PostgreSQL the ``[postgresql]`` runs are skipped, or fail with ``AURA_REQUIRE_POSTGRES=1``
(as on CI).

``aura_platform`` is the harness's fixture, replaced here by the shop's own platform (on that
engine) run through ``aura.testing.plugin.under_test``, which keeps the harness's checks at
teardown; ``published_events`` and the Gherkin steps of ``aura.testing.bdd`` see what the
app's requests publish. ``shop`` drives the app over HTTP through httpx's ASGI transport, from
plain (sync) tests and steps.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from anyio.from_thread import start_blocking_portal
from pytest_bdd import given, parsers, then, when
from shop.app import create_app, make_platform
from shop.db import make_engine
from shop_client import Shop
from sqlalchemy import URL, Engine

from aura import Platform
from aura.testing import Trace
from aura.testing.plugin import under_test

pytest_plugins = ["aura.testing.postgres"]  # fresh_postgres_dsn: a new database per test


def postgres_url(dsn: str) -> URL:
    """The SQLAlchemy URL (driver psycopg) of a libpq DSN, ``key=value`` or ``postgresql://``."""
    from psycopg.conninfo import conninfo_to_dict

    parts = {key: str(value) for key, value in conninfo_to_dict(dsn).items()}
    port = parts.pop("port", None)
    return URL.create(
        "postgresql+psycopg",
        username=parts.pop("user", None),
        password=parts.pop("password", None),
        host=parts.pop("host", None),
        port=int(port) if port else None,
        database=parts.pop("dbname", None),
        query=parts,  # the rest (sslmode, ...) is passed on to psycopg.connect
    )


def chosen_databases(given: str | None) -> list[str]:
    """The databases to run on: both, or the one ``EXAMPLE_DATABASE`` names."""
    if given is None or given == "":
        return ["sqlite", "postgresql"]
    if given not in ("sqlite", "postgresql"):
        raise pytest.UsageError(
            f"EXAMPLE_DATABASE={given!r}: expected sqlite or postgresql (or unset for both)."
        )
    return [given]


DATABASES = chosen_databases(os.environ.get("EXAMPLE_DATABASE"))


@pytest.fixture(params=DATABASES, ids=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """The shop's database for one test: a new SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    else:
        engine = make_engine(postgres_url(request.getfixturevalue("fresh_postgres_dsn")))
    yield engine
    engine.dispose()  # before the database is dropped: no connection of the pool stays open


@pytest.fixture
def aura_platform(
    request: pytest.FixtureRequest, engine: Engine, aura_trace: Trace
) -> Iterator[Platform]:
    """The shop's platform, run by the harness as its own: recorded by this test's trace, and
    at teardown a handler failure or an undeclared cross-module call fails the test."""
    platform = make_platform(engine, poll_interval=None)  # deliveries run after each commit
    with under_test(request, aura_trace, platform):
        yield platform


@pytest.fixture
def shop(engine: Engine, aura_platform: Platform) -> Iterator[Shop]:
    """The shop's app, started (its lifespan ran) and served over ASGI."""
    app = create_app(engine, platform=aura_platform)
    with start_blocking_portal() as portal:
        lifespan = portal.wrap_async_context_manager(app.router.lifespan_context(app))
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        client = httpx.AsyncClient(transport=transport, base_url="http://shop")
        with lifespan, portal.wrap_async_context_manager(client):
            yield Shop(portal, client)


# --- the shop's own Gherkin steps (the generic ones come from aura.testing.bdd) ---------------


@given(parsers.parse('the catalog has {stock:d} units of "{sku}" at {price:d} cents'))
def catalog_has(shop: Shop, stock: int, sku: str, price: int) -> None:
    """Given the catalog has N units of "SKU" at P cents."""
    shop.add_product(sku, stock, price)


@when(parsers.parse('customer {user:d} orders {quantity:d} units of "{sku}"'))
def customer_orders(
    shop: Shop, aura_bdd_values: dict[str, Any], user: int, quantity: int, sku: str
) -> None:
    """When customer U orders N units of "SKU"; the order is ``{order}``."""
    response = shop.order(user, sku, quantity)
    if response.status_code == 201:
        aura_bdd_values["order"] = response.json()


@then(parsers.parse("the shop answers {status:d}"))
def shop_answers(shop: Shop, status: int) -> None:
    """Then the shop answers STATUS (the last response's status code)."""
    assert shop.last is not None
    assert shop.last.status_code == status, shop.last.text


@then(parsers.parse('the order is "{status}"'))
def order_is(shop: Shop, aura_bdd_values: dict[str, Any], status: str) -> None:
    """Then the order is "STATUS" (read over HTTP)."""
    order_id = aura_bdd_values["order"]["order_id"]
    assert shop.request("GET", f"/orders/{order_id}").json()["status"] == status


@then(parsers.parse('the catalog has {stock:d} units of "{sku}" left'))
def stock_left(shop: Shop, stock: int, sku: str) -> None:
    """Then the catalog has N units of "SKU" left (read over HTTP)."""
    assert shop.request("GET", f"/catalog/products/{sku}").json()["stock"] == stock


@then(parsers.parse("{count:d} shipment is created"))
@then(parsers.parse("{count:d} shipments are created"))
def shipments_created(shop: Shop, count: int) -> None:
    """Then N shipments are created (read over HTTP)."""
    assert len(shop.request("GET", "/shipping/shipments").json()) == count

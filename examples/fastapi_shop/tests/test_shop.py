"""The shop over HTTP: each request's writes and events commit together, and the flow
order placed -> stock reserved -> shipment created crosses the three modules."""

from __future__ import annotations

from shop.modules.orders.models import Order
from shop.modules.shipping.models import Shipment
from shop_client import Shop
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from aura import Platform
from aura.testing import PublishedEvents


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_an_order_flows_through_the_modules_as_its_user_and_correlation_id(
    shop: Shop, published_events: PublishedEvents
) -> None:
    shop.add_product("mug", stock=5, price_cents=1200)

    response = shop.order(42, "mug", 2, **{"X-Correlation-ID": "checkout-1"})

    assert response.status_code == 201, response.text
    assert response.headers["x-correlation-id"] == "checkout-1"
    assert response.json() == {
        "order_id": 1,
        "sku": "mug",
        "quantity": 2,
        "total_cents": 2400,
        "status": "placed",  # as committed: the catalog reserves it after the commit
    }
    published_events.assert_correlated()
    events = published_events.events
    assert [(e.event_type, e.source_module) for e in events] == [
        ("order.placed", "orders"),
        ("stock.reserved", "catalog"),
        ("shipment.created", "shipping"),
    ]
    assert {(e.metadata["user_id"], e.metadata["correlation_id"]) for e in events} == {
        (42, "checkout-1")
    }
    published_events.assert_published("stock.reserved", times=1, order_id=1, sku="mug", quantity=2)
    assert shop.request("GET", "/orders/1").json()["status"] == "reserved"
    assert shop.request("GET", "/catalog/products/mug").json()["stock"] == 3
    assert shop.request("GET", "/shipping/shipments").json() == [
        {"shipment_id": 1, "order_id": 1, "sku": "mug", "quantity": 2}
    ]


def test_the_events_are_kept_in_the_shops_own_database(
    shop: Shop, aura_platform: Platform, engine: Engine
) -> None:
    shop.add_product("mug", stock=5)
    shop.order(7, "mug", 1)

    assert aura_platform.event_store is not None
    stored = [(e.event_type, e.metadata["user_id"]) for e in aura_platform.event_store.read()]
    assert stored == [("order.placed", 7), ("stock.reserved", 7), ("shipment.created", 7)]
    assert (count(engine, Order), count(engine, Shipment)) == (1, 1)


def test_an_order_beyond_the_stock_is_rejected_and_not_shipped(
    shop: Shop, published_events: PublishedEvents, engine: Engine
) -> None:
    shop.add_product("mug", stock=1)

    response = shop.order(42, "mug", 3)

    assert response.status_code == 201, response.text
    published_events.assert_published("stock.rejected", times=1, order_id=1, sku="mug", available=1)
    published_events.assert_not_published("shipment.created")
    assert shop.request("GET", "/orders/1").json()["status"] == "rejected"
    assert count(engine, Shipment) == 0


def test_a_refused_request_writes_no_order_and_publishes_nothing(
    shop: Shop, published_events: PublishedEvents, engine: Engine
) -> None:
    shop.add_product("mug", stock=5)

    unknown = shop.order(42, "teapot", 1)
    anonymous = shop.request("POST", "/orders", json={"sku": "mug", "quantity": 1})

    assert unknown.status_code == 404
    assert unknown.json() == {"detail": "The catalog has no product 'teapot'."}
    assert anonymous.status_code == 401
    assert published_events.events == []
    assert count(engine, Order) == 0

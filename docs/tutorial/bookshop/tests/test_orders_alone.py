"""The orders module tested alone: its dependency, the catalog, replaced or faked."""

from __future__ import annotations

from typing import Any

import pytest
from aura import Platform
from aura.testing import Overrides, PublishedEvents, RecordingFake

from bookshop.contracts import CatalogContract


@pytest.mark.aura_platform("orders", mode="standalone")  # catalog is a RecordingFake
def test_orders_asks_the_catalog_for_the_price(
    aura_platform: Platform, published_events: PublishedEvents
) -> None:
    catalog: Any = aura_platform.container.resolve("catalog.Catalog")
    catalog.returns("price_of", 1000)
    orders = aura_platform.registry.get_service("orders", "Orders")

    orders.place("978-0201633610", 3)

    assert [call.args for call in catalog.calls_to("price_of")] == [("978-0201633610",)]
    published_events.assert_published("order.placed", quantity=3, total_cents=3000)


@pytest.mark.aura_platform("orders", mode="standalone")
def test_a_refused_price_places_no_order(
    aura_platform: Platform, published_events: PublishedEvents
) -> None:
    catalog: Any = aura_platform.container.resolve("catalog.Catalog")
    catalog.raises("price_of", LookupError("No book with ISBN '1' in the catalog."))
    orders = aura_platform.registry.get_service("orders", "Orders")

    with pytest.raises(LookupError):
        orders.place("1", 1)

    published_events.assert_not_published("order.placed")


@pytest.mark.aura_platform("orders", mode="direct")  # catalog real; notifications not running
def test_without_notifications_nobody_is_told(
    aura_platform: Platform, override: Overrides, published_events: PublishedEvents
) -> None:
    prices = RecordingFake.for_contract(CatalogContract).returns("price_of", 250)
    override("catalog", "Catalog", prices)
    orders = aura_platform.registry.get_service("orders", "Orders")

    orders.place("978-0201633610", 4)

    assert list(aura_platform.modules) == ["catalog", "orders"]
    published_events.assert_published("order.placed", total_cents=1000)
    published_events.assert_not_published("confirmation.sent")

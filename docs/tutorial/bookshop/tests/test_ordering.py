"""The bookshop's flows, each test on a fresh platform of every module (``aura_platform``)."""

from __future__ import annotations

from typing import Any

import pytest
from aura import Platform
from aura.testing import PublishedEvents, ServiceCalls

from bookshop.modules.notifications import Outbox

ISBN = "978-0135957059"


@pytest.fixture
def orders(aura_platform: Platform) -> Any:
    """The orders service, with one book in the catalog."""
    catalog = aura_platform.registry.get_service("catalog", "Catalog")
    catalog.add_book(ISBN, "The Pragmatic Programmer", 4200)
    return aura_platform.registry.get_service("orders", "Orders")


def test_an_order_is_priced_by_the_catalog_and_confirmed(
    aura_platform: Platform,
    orders: Any,
    published_events: PublishedEvents,
    service_calls: ServiceCalls,
) -> None:
    order = orders.place(ISBN, 2)

    published_events.assert_published("order.placed", isbn=ISBN, quantity=2, total_cents=8400)
    published_events.assert_published("confirmation.sent", times=1, order_id=order["order_id"])
    flow = published_events.flow_of(published_events.of_type("order.placed").one())
    flow.assert_correlated()  # one correlation id, an unbroken causation chain
    flow.assert_sequence(["order.placed", "confirmation.sent"])
    service_calls.assert_called("catalog", "Catalog", "price_of", caller="orders")
    outbox = aura_platform.container.resolve(Outbox)
    assert outbox.messages == [f"Order 1: 2 x {ISBN}, 8400 cents"]


def test_a_book_the_catalog_does_not_have_cannot_be_ordered(
    orders: Any, published_events: PublishedEvents
) -> None:
    with pytest.raises(LookupError, match=r"No book with ISBN '000-0000000000' in the catalog\."):
        orders.place("000-0000000000", 1)

    published_events.assert_not_published("order.placed")

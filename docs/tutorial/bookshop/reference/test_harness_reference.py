"""One example for each fixture, marker and assertion of the harness (the reference shows them).

Each test is named for what it shows; ``docs/reference/pytest-plugin.rst`` includes them, and
Aura's own suite runs this file with the rest of the bookshop's tests.
"""

from __future__ import annotations

from typing import Any

import pytest
from aura import EventBus, Platform, ServiceRegistry
from aura.container import Container
from aura.testing import (
    FrozenClock,
    Overrides,
    PublishedEvents,
    RecordingFake,
    ServiceCalls,
    Trace,
    where,
)
from aura.testing.bridge import Bridge
from aura.testing.scenario import Scenario

from bookshop.contracts import CatalogContract
from bookshop.modules.notifications import Outbox

ISBN = "978-0201633610"


def add_book(platform: Platform, price_cents: int = 4500) -> None:
    catalog = platform.registry.get_service("catalog", "Catalog")
    catalog.add_book(ISBN, "Design Patterns", price_cents)


# --- fixtures ------------------------------------------------------------------------------------


def test_aura_platform(aura_platform: Platform) -> None:
    add_book(aura_platform)
    orders = aura_platform.registry.get_service("orders", "Orders")
    assert orders.place(ISBN, 1)["total_cents"] == 4500
    assert sorted(aura_platform.modules) == ["catalog", "notifications", "orders"]


def test_event_bus_service_registry_and_container(
    event_bus: EventBus, service_registry: ServiceRegistry, container: Container
) -> None:
    received: list[Any] = []
    event_bus.subscribe("book.added", received.append, "notifications")
    service_registry.get_service("catalog", "Catalog").add_book(ISBN, "Design Patterns", 4500)
    assert received == [{"isbn": ISBN, "title": "Design Patterns", "price_cents": 4500}]
    assert container.resolve(Outbox).messages == []


def test_published_events(aura_platform: Platform, published_events: PublishedEvents) -> None:
    add_book(aura_platform)
    aura_platform.registry.get_service("orders", "Orders").place(ISBN, 2)
    published_events.assert_published("order.placed", isbn=ISBN, quantity=where(lambda q: q > 1))
    published_events.assert_published("confirmation.sent", times=1)
    published_events.assert_not_published("order.cancelled")
    published_events.assert_sequence(["book.added", "order.placed", "confirmation.sent"])
    published_events.flow_of(published_events.of_type("order.placed").one()).assert_correlated()


def test_service_calls(aura_platform: Platform, service_calls: ServiceCalls) -> None:
    add_book(aura_platform)
    aura_platform.registry.get_service("orders", "Orders").place(ISBN, 1)
    service_calls.assert_called("catalog", "Catalog", "price_of", caller="orders")
    service_calls.by("orders").assert_not_called("catalog", "Catalog", "add_book")


def test_override(aura_platform: Platform, override: Overrides) -> None:
    cheap = RecordingFake.for_contract(CatalogContract).returns("price_of", 100)
    orders = aura_platform.registry.get_service("orders", "Orders")
    override("catalog", "Catalog", cheap)  # at once, and restored at teardown
    assert orders.place(ISBN, 3)["total_cents"] == 300
    with override(Outbox, Outbox()) as outbox:  # a container key, for a block
        orders.place(ISBN, 1)
        assert len(outbox.messages) == 1


def test_frozen_time(aura_platform: Platform, frozen_time: FrozenClock) -> None:
    frozen_time.move_to("2030-01-07T10:00:00+00:00")
    add_book(aura_platform)
    frozen_time.tick(90)
    assert frozen_time.now().isoformat() == "2030-01-07T10:01:30+00:00"


def test_aura_gateway(aura_platform: Platform, aura_gateway: Any) -> None:
    add_book(aura_platform)
    response = aura_gateway.as_user({"id": 1, "role": "customer"}).get(f"/api/catalog/books/{ISBN}")
    assert response.json() == {"isbn": ISBN, "price_cents": 4500}
    assert aura_gateway.anonymous().get(f"/api/catalog/books/{ISBN}").status_code == 401


def test_aura_scenario(aura_platform: Platform, aura_scenario: Scenario) -> None:
    add_book(aura_platform)
    placed = aura_scenario.stimulate("orders.Orders.place", ISBN, 1)
    sent = placed.and_wait_for_event("confirmation.sent", timeout=2.0)
    assert sent.data["message"].startswith("Order 1:")
    placed.and_expect_no_event("order.cancelled", within=2.0)  # ends once the bus is idle
    aura_scenario.consumed.assert_consumed("order.placed", by="notifications")
    outbox = aura_platform.container.resolve(Outbox)
    assert placed.and_wait_for_state(lambda: len(outbox.messages) == 1, timeout=2.0)


def test_aura_bridge_and_aura_trace(
    aura_bridge: Bridge, aura_trace: Trace, published_events: PublishedEvents
) -> None:
    # Code not on Aura yet (its own bus, a signal) reports what it publishes:
    aura_bridge.record_event("invoice.sent", {"invoice": 7}, "legacy_billing")
    published_events.assert_published("invoice.sent", invoice=7)
    assert aura_trace.events()[0].source_module == "legacy_billing"


# --- markers -------------------------------------------------------------------------------------


@pytest.mark.aura_platform("orders", mode="standalone")  # catalog: a strict RecordingFake
def test_aura_platform_marker(aura_platform: Platform, published_events: PublishedEvents) -> None:
    catalog: Any = aura_platform.container.resolve("catalog.Catalog")
    catalog.returns("price_of", 1000)
    aura_platform.registry.get_service("orders", "Orders").place(ISBN, 2)
    published_events.assert_published("order.placed", total_cents=2000)
    assert "notifications" not in aura_platform.modules


@pytest.mark.aura_allow_handler_errors
def test_aura_allow_handler_errors_marker(aura_platform: Platform) -> None:
    def broken(data: Any) -> None:
        raise RuntimeError("expected in this test")

    aura_platform.bus.subscribe("book.added", broken, "notifications")
    add_book(aura_platform)  # the handler fails; the test does not
    assert len(aura_platform.bus.dead_letters()) == 1


def test_expect_failures(aura_platform: Platform, published_events: PublishedEvents) -> None:
    published_events.expect_failures("notifications", "book.added")

    def broken(data: Any) -> None:
        raise RuntimeError("expected in this test")

    aura_platform.bus.subscribe("book.added", broken, "notifications")
    add_book(aura_platform)
    [failure] = published_events.failed_deliveries()
    assert str(failure.error) == "expected in this test"

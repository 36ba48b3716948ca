"""The ``aura_scenario`` fixture, end to end with pytester, in a fresh two-module project."""

from __future__ import annotations

import pytest

PROJECT = {
    "shop/__init__.py": "",
    "shop/catalog/__init__.py": """
from aura.bus import EventBus
from aura.module import Module

module = Module("catalog")
module.publishes("product.*")


class Catalog:
    def price_of(self, sku: str) -> int:
        return {"apple": 3, "pear": 5}[sku]


module.add_service("Catalog", Catalog)


@module.subscribe("order.placed")
def reserve(data: dict, bus: EventBus) -> None:
    bus.publish("product.reserved", {"sku": data["sku"]}, "catalog")
""",
    "shop/orders/__init__.py": """
import threading
import time

from aura.access import PUBLIC
from aura.bus import EventBus
from aura.module import Module
from aura.registry import ServiceRegistry

module = Module("orders", depends_on=["catalog"])
module.publishes("order.*")


class Orders:
    def __init__(self, bus: EventBus, registry: ServiceRegistry) -> None:
        self.bus = bus
        self.registry = registry

    def place(self, sku: str, quantity: int) -> dict:
        price = self.registry.get_service("catalog", "Catalog").price_of(sku)
        order = {"sku": sku, "quantity": quantity, "total": price * quantity}
        self.bus.publish("order.placed", order, "orders")
        return order

    def place_later(self, sku: str, quantity: int) -> None:
        def later() -> None:
            time.sleep(0.1)
            self.bus.publish("order.placed", {"sku": sku, "quantity": quantity}, "orders")

        threading.Thread(target=later).start()


module.add_service("Orders", Orders)


@module.subscribe("product.added")
def announce(data: dict, bus: EventBus) -> None:
    bus.publish("order.catalog_changed", {"sku": data["sku"]}, "orders")


@module.route("POST", "/orders", allow=PUBLIC)
def place(order: dict, registry: ServiceRegistry) -> dict:
    return registry.get_service("orders", "Orders").place(order["sku"], order["quantity"])
""",
    "pytest.ini": """
[pytest]
aura_modules = shop
""",
}


@pytest.fixture
def shop(pytester: pytest.Pytester) -> pytest.Pytester:
    for name, text in PROJECT.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pytester.syspathinsert()
    return pytester


def run(pytester: pytest.Pytester, test: str) -> pytest.RunResult:
    pytester.makepyfile(test_flow=test)
    return pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")


def test_the_fixture_stimulates_the_tests_platform_and_waits_for_the_flow(
    shop: pytest.Pytester,
) -> None:
    result = run(
        shop,
        """
def test_flow(aura_scenario, published_events):
    stimulus = aura_scenario.stimulate("orders.Orders.place", "apple", 2)
    reserved = stimulus.and_wait_for_event("product.reserved", sku="apple")

    assert stimulus.result == {"sku": "apple", "quantity": 2, "total": 6}
    assert reserved.source_module == "catalog"
    aura_scenario.consumed.assert_consumed("order.placed", by="catalog", outcome="ok")
    assert list(aura_scenario.events) == list(published_events)  # the test's own recording
    stimulus.and_expect_no_event("order.cancelled", within=5.0)


def test_a_thread_publishing_later_is_waited_for(aura_scenario):
    aura_scenario.stimulate("orders.Orders.place_later", "pear", 1).and_wait_for_event(
        "product.reserved", sku="pear", timeout=5.0
    )
""",
    )
    result.assert_outcomes(passed=2)


def test_a_wait_that_times_out_fails_the_test_with_the_trace_numbers(
    shop: pytest.Pytester,
) -> None:
    result = run(
        shop,
        """
def test_flow(aura_scenario):
    aura_scenario.stimulate("orders.Orders.place", "apple", 1)
    aura_scenario.stimulate("orders.Orders.place", "pear", 1).and_wait_for_event(
        "product.reserved", sku="apple", timeout=0.05
    )
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       aura.exceptions.ExpectationTimeoutError: No event 'product.reserved' with "
            "sku='apple' arrived within 0.05 s of the stimulus.",
            "E       Of that type, 1 did not match:",
            "E         #4 sku='pear' (≠ 'apple')",
            "E       Published since the stimulus (2):",
            'E         #3 order.placed from orders {"sku": "pear", "quantity": 1, "total": 5} '
            "correlation=*",
            'E         #4 product.reserved from catalog {"sku": "pear"} correlation=* caused_by=#3',
            "E       Raise timeout= if the flow takes longer than 0.05 s.",
        ]
    )
    assert "ERROR" not in result.stdout.str()  # a failed expectation, not an error


def test_a_dependency_held_as_a_stand_in_can_still_publish(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
import pytest


@pytest.mark.aura_platform("orders", mode="standalone")
def test_flow(aura_platform, aura_scenario):
    assert aura_platform.bus.subscriptions("order.placed") == []  # catalog is a stand-in
    aura_scenario.publish(
        "product.added", {"sku": "kiwi"}, source="catalog"
    ).and_wait_for_event("order.catalog_changed", sku="kiwi")
    aura_scenario.consumed.assert_consumed("product.added", by="orders")
""",
    )
    result.assert_outcomes(passed=1)


def test_a_module_outside_the_platform_publishes_only_what_it_declares(
    shop: pytest.Pytester,
) -> None:
    result = run(
        shop,
        """
import pytest

from aura.exceptions import ModuleDefinitionError, UndeclaredEventError


@pytest.mark.aura_platform("catalog")
def test_flow(aura_platform, aura_scenario):
    assert list(aura_platform.modules) == ["catalog"]
    aura_scenario.publish(
        "order.placed", {"sku": "fig"}, source="orders"
    ).and_wait_for_event("product.reserved", sku="fig")
    with pytest.raises(UndeclaredEventError):
        aura_scenario.publish("product.added", {"sku": "fig"}, source="orders")
    with pytest.raises(ModuleDefinitionError) as refused:
        aura_scenario.publish("order.placed", {"sku": "fig"}, source="ordrs")
    assert str(refused.value) == (
        "Cannot publish 'order.placed' as 'ordrs': no module of that name is in this platform "
        "(catalog) or among the project's other modules (orders). Did you mean 'orders'? "
        "Publish as one of them, or add the module to the platform."
    )
""",
    )
    result.assert_outcomes(passed=1)


def test_an_http_request_goes_through_the_tests_gateway(shop: pytest.Pytester) -> None:
    pytest.importorskip("fastapi")
    result = run(
        shop,
        """
def test_flow(aura_scenario, aura_gateway):
    stimulus = aura_scenario.request(
        "POST", "/api/orders/orders", json={"sku": "pear", "quantity": 2}
    )
    stimulus.and_wait_for_event("product.reserved", sku="pear")

    assert stimulus.result.json() == {"sku": "pear", "quantity": 2, "total": 10}
    assert aura_scenario.gateway is aura_gateway
""",
    )
    result.assert_outcomes(passed=1)


def test_async_code_awaits_the_scenario(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
import asyncio


def test_flow(aura_scenario):
    async def main():
        return await aura_scenario.apublish(
            "order.placed", {"sku": "fig"}, source="orders"
        ).and_wait_for_event("product.reserved")

    assert asyncio.run(main()).data["sku"] == "fig"
""",
    )
    result.assert_outcomes(passed=1)

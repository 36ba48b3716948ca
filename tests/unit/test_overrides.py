"""One override verb that always works: container keys and registry services (issue 18)."""

from __future__ import annotations

from aura import context
from aura.container import Container
from aura.registry import ServiceRegistry


class Gateway:
    def charge(self, cents: int) -> str:
        return f"charged {cents}"


class FakeGateway(Gateway):
    def __init__(self) -> None:
        self.charged: list[int] = []

    def charge(self, cents: int) -> str:
        self.charged.append(cents)
        return "fake"


class Billing:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def bill(self, cents: int) -> str:
        return self.gateway.charge(cents)


def registry_with_billing() -> ServiceRegistry:
    registry = ServiceRegistry(container=Container())
    registry.container.register(Gateway)
    registry.register_service("billing", "Billing", Billing)
    return registry


def test_overriding_a_port_reaches_a_service_already_built_and_looked_up() -> None:
    registry = registry_with_billing()
    billing = registry.get_service("billing", "Billing")
    assert billing.bill(5) == "charged 5"
    fake = FakeGateway()

    with registry.container.override(Gateway, fake):
        assert registry.get_service("billing", "Billing").bill(7) == "fake"
    assert fake.charged == [7]
    assert registry.get_service("billing", "Billing").bill(9) == "charged 9"


def test_overriding_a_service_takes_effect_without_with_and_restores() -> None:
    registry = registry_with_billing()
    assert registry.get_service("billing", "Billing").bill(1) == "charged 1"

    class FakeBilling:
        def bill(self, cents: int) -> str:
            return "no charge"

    override = registry.override("billing", "Billing", FakeBilling())
    assert registry.get_service("billing", "Billing").bill(2) == "no charge"
    override.restore()
    assert registry.get_service("billing", "Billing").bill(3) == "charged 3"


class Pricing:
    def price_of(self, sku: str) -> int:
        return 10


class CheapPricing:
    def price_of(self, sku: str) -> int:
        return 3


class Orders:
    def __init__(self, registry: ServiceRegistry) -> None:
        self.pricing = registry.get_service("pricing", "Pricing")  # a handle kept

    def place(self, sku: str) -> int:
        return int(self.pricing.price_of(sku))


def shop() -> ServiceRegistry:
    registry = ServiceRegistry(container=Container())
    registry.container.register_instance(ServiceRegistry, registry)
    registry.register_service("pricing", "Pricing", Pricing)
    registry.register_service("orders", "Orders", Orders)
    return registry


def test_an_override_reaches_handles_already_held_by_services_and_tests() -> None:
    registry = shop()
    with context.module_scope("orders"):
        orders = registry.get_service("orders", "Orders")
    held = registry.get_service("pricing", "Pricing")
    assert (orders.place("a"), held.price_of("a")) == (10, 10)

    with registry.override("pricing", "Pricing", CheapPricing()):
        assert (orders.place("a"), held.price_of("a")) == (3, 3)
    assert (orders.place("a"), held.price_of("a")) == (10, 10)


def test_registry_overrides_restored_out_of_order_leave_the_newest_in_force() -> None:
    registry = shop()
    first, second = CheapPricing(), CheapPricing()
    one = registry.override("pricing", "Pricing", first)
    two = registry.override("pricing", "Pricing", second)
    one.restore()
    assert registry.services("pricing")[0].provider is second
    two.restore()
    assert registry.services("pricing")[0].provider is Pricing
    assert registry.get_service("pricing", "Pricing").price_of("a") == 10


def test_overriding_any_name_of_a_service_replaces_it_under_every_name() -> None:
    for name in ("pricing", "pricing.Pricing"):
        registry = shop()
        registry.container.register_alias("pricing", "pricing.Pricing")  # a second name
        held = registry.get_service("pricing", "Pricing")
        with registry.container.override(name, CheapPricing()):
            resolved = [registry.container.resolve(key) for key in ("pricing", "pricing.Pricing")]
            assert [type(found).__name__ for found in resolved] == ["CheapPricing"] * 2, name
            assert held.price_of("a") == 3, name
        assert held.price_of("a") == 10

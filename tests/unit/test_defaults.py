"""The process-wide defaults of the seed's global style."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import aura
from aura import EventBus, use_defaults
from aura.defaults import default_bus


def test_the_default_bus_works_in_the_seed_style() -> None:
    received: list[Any] = []
    subscription = aura.event_bus.subscribe("account.opened", received.append, "notifications")
    try:
        aura.event_bus.publish("account.opened", {"user_id": 1}, "accounts")
    finally:
        subscription.cancel()
    assert received == [{"user_id": 1}]
    assert repr(aura.event_bus).startswith("<aura default event_bus: <aura.bus.EventBus")


def test_use_defaults_points_the_default_at_another_bus_and_restores_it() -> None:
    from aura import event_bus  # captured the way seed code captures it

    original = default_bus()
    mine = EventBus()
    received: list[Any] = []
    mine.subscribe("account.opened", received.append, "notifications")
    with use_defaults(bus=mine):
        assert default_bus() is mine
        event_bus.publish("account.opened", {"user_id": 2}, "accounts")
    assert received == [{"user_id": 2}]
    assert default_bus() is original
    event_bus.publish("account.opened", {"user_id": 3}, "accounts")
    assert received == [{"user_id": 2}]


def test_the_seed_registry_and_container_are_process_wide_and_swappable() -> None:
    from aura import get_container, service_registry
    from aura.container import Container
    from aura.defaults import default_registry
    from aura.registry import ServiceRegistry

    class EmailService:
        def send(self) -> str:
            return "sent"

    registry = ServiceRegistry()
    container = Container()
    container.register("notification_service", EmailService)
    with use_defaults(registry=registry, container=container):
        service_registry.register_service(
            module_name="notifications", service_name="EmailService", service_class=EmailService
        )
        assert default_registry() is registry
        assert service_registry.get_service("notifications", "EmailService").send() == "sent"
        assert isinstance(get_container().resolve("notification_service"), EmailService)
    assert default_registry() is not registry
    assert get_container() is not container
    assert not service_registry.is_registered("notifications", "EmailService")


def test_the_default_bus_is_an_event_bus_so_a_store_replays_to_it() -> None:
    bus = EventBus()
    seen: list[int] = []
    bus.subscribe("ledger.opened", lambda data: seen.append(data["n"]), "ledger")
    store = aura.InMemoryEventStore()
    store.append(aura.Event.create("ledger.opened", {"n": 1}, "ledger"))
    with use_defaults(bus=bus):
        assert isinstance(aura.event_bus, EventBus)
        assert store.replay(aura.event_bus) == 1
    assert seen == [1]


def test_fresh_defaults_gives_new_ones_closes_what_it_built_and_restores() -> None:
    from aura import get_container
    from aura.defaults import fresh_defaults

    disposed: list[str] = []
    outer_bus = default_bus()
    outer_container = get_container()
    with fresh_defaults():
        assert default_bus() is not outer_bus
        inner = get_container()
        assert inner is not outer_container

        def mailer() -> Iterator[str]:
            yield "mailer"
            disposed.append("mailer")  # a generator factory's code after yield disposes it

        inner.register("mailer", mailer)
        assert inner.resolve("mailer") == "mailer"
    assert disposed == ["mailer"]
    assert default_bus() is outer_bus
    assert get_container() is outer_container

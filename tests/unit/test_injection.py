"""The one injection rule (aura.injection): decided once, used by handlers, hooks and routes."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

from aura import Container, Event, EventBus, EventCatalog
from aura.exceptions import ModuleDefinitionError
from aura.injection import AsyncBound, Bound, plan, plan_route


class Clock:
    def now(self) -> str:
        return "09:00"


def test_a_parameter_is_filled_by_its_type_then_by_its_name() -> None:
    container = Container()
    container.register(Clock, Clock)
    container.register_instance("greeting", "hello")

    def hook(clock: Clock, greeting: str, unused: int = 3) -> str:
        return f"{greeting} at {clock.now()} ({unused})"

    injection = plan(hook, container)
    assert injection.injected == (("clock", Clock), ("greeting", "greeting"))
    assert injection.passed == ()
    assert container.bind(hook)() == "hello at 09:00 (3)"


def test_nothing_to_inject_gives_the_function_itself() -> None:
    def handler(data: dict[str, Any]) -> None: ...

    assert Container().bind(handler, passed=1) is handler


def test_a_missing_dependency_is_named_with_the_fix() -> None:
    def hook(clock: Clock) -> None: ...

    with pytest.raises(ModuleDefinitionError) as caught:
        Container().bind(hook, owner="reports")
    assert str(caught.value) == (
        "test_a_missing_dependency_is_named_with_the_fix.<locals>.hook of module 'reports' needs "
        "'clock' (Clock), which nothing provides. Provide it with reports.provide(...), or give "
        "the parameter a default."
    )


def test_the_bus_delivers_to_the_passed_parameter_of_a_bound_handler() -> None:
    container = Container()
    container.register(Clock, Clock)
    bus = EventBus(catalog=EventCatalog())
    seen: list[tuple[str, str]] = []

    def on_event(event: Event, clock: Clock) -> None:
        seen.append((event.event_type, clock.now()))

    bound = container.bind(on_event, passed=1, owner="audit")
    assert isinstance(bound, Bound)
    assert [p.name for p in bound.injection.passed] == ["event"]
    subscription = bus.subscribe("order.placed", bound, "audit")
    bus.publish("order.placed", {"n": 1}, "orders")
    assert seen == [("order.placed", "09:00")]
    assert subscription.receives == "event"
    assert subscription.handler_name.endswith("on_event")
    assert inspect.signature(on_event).parameters.keys() == {"event", "clock"}  # untouched


def test_an_async_handler_stays_async_when_bound() -> None:
    container = Container()
    container.register(Clock, Clock)
    bus = EventBus(catalog=EventCatalog())
    seen: list[str] = []

    async def on_event(data: dict[str, Any], clock: Clock) -> None:
        seen.append(f"{data['n']} {clock.now()}")

    bound = container.bind(on_event, passed=1)
    assert isinstance(bound, AsyncBound)
    bus.subscribe("order.placed", bound, "audit")
    asyncio.run(bus.apublish("order.placed", {"n": 2}, "orders"))
    assert seen == ["2 09:00"]


def test_a_route_keeps_every_parameter_the_container_does_not_fill() -> None:
    container = Container()
    container.register(Clock, Clock)

    def get_item(item_id: int, clock: Clock, verbose: bool = False) -> None: ...

    injection = plan_route(get_item, container)
    assert [p.name for p in injection.passed] == ["item_id", "verbose"]
    assert injection.injected == (("clock", Clock),)


def test_a_route_never_injects_its_path_parameters_and_keeps_annotated_ones() -> None:
    from typing import Annotated

    container = Container()
    container.register(Clock, Clock)
    container.register_instance("platform", "the platform")

    def get_item(
        clock: Annotated[Clock, "FastAPI's"], platform: str = "", item: int = 0, **rest: Any
    ) -> None: ...

    injection = plan_route(get_item, container, reserved=frozenset({"item"}))
    assert injection.injected == (("platform", "platform"),)
    assert [p.name for p in injection.passed] == ["clock", "item", "rest"]


def test_an_async_callable_object_stays_async_when_bound() -> None:
    container = Container()
    container.register(Clock, Clock)
    seen: list[str] = []

    class Handler:
        async def __call__(self, data: dict[str, Any], clock: Clock) -> None:
            seen.append(clock.now())

    bus = EventBus(catalog=EventCatalog())
    bound = container.bind(Handler(), passed=1)
    assert isinstance(bound, AsyncBound)
    bus.subscribe("order.placed", bound, "audit")
    asyncio.run(bus.apublish("order.placed", {"n": 1}, "orders"))
    assert seen == ["09:00"]

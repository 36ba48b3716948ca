"""Around-the-call hooks: what each sees, in which context, in which order, and that a broken
interceptor never breaks the work it watches."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import MutableMapping
from typing import Any

import pytest

from aura.bus import EventBus
from aura.events import Event
from aura.exceptions import ConfigurationError, EventValidationError
from aura.hooks import Interceptor
from aura.module import Module
from aura.platform import Platform

seen: contextvars.ContextVar[str | None] = contextvars.ContextVar("seen", default=None)


class Recording(Interceptor):
    """Records each start and finish, and sets a context variable while the work runs."""

    def __init__(self, name: str = "r") -> None:
        self.name = name
        self.log: list[tuple[Any, ...]] = []

    def publishing(
        self, event_id: str, event_type: str, source_module: str, metadata: MutableMapping[str, Any]
    ) -> Any:
        metadata[f"stamp_{self.name}"] = "by interceptor"
        self.log.append(("publish", self.name, event_type, source_module))

        def finish(event: Event | None, error: BaseException | None) -> None:
            self.log.append(("published", self.name, event.event_id if event else None, error))

        return finish

    def delivering(self, event: Event, subscriber_module: str, handler_name: str) -> Any:
        token = seen.set(f"{self.name}:{handler_name}")
        self.log.append(("deliver", self.name, event.event_type, subscriber_module))

        def finish(error: BaseException | None) -> None:
            seen.reset(token)
            self.log.append(("delivered", self.name, type(error).__name__ if error else None))

        return finish

    def calling(
        self, caller_module: str | None, provider_module: str, service_name: str, method: str
    ) -> Any:
        token = seen.set(f"{self.name}:{method}")
        self.log.append(("call", self.name, caller_module, provider_module, service_name, method))

        def finish(error: BaseException | None) -> None:
            seen.reset(token)
            self.log.append(("called", self.name, type(error).__name__ if error else None))

        return finish


def shop(observed: list[Any]) -> list[Module]:
    stock = Module("stock")

    @stock.service("Stock")
    class Stock:
        def reserve(self, sku: str) -> str:
            observed.append(("in service", seen.get()))
            if sku == "none":
                raise LookupError("no such sku")
            return sku

        async def areserve(self, sku: str) -> str:
            observed.append(("in async service", seen.get()))
            return sku

    orders = Module("orders", depends_on=["stock"])
    orders.publishes("order.placed")

    @orders.subscribe("order.placed")
    def ship(event: Event) -> None:
        observed.append(("in handler", seen.get()))
        if event.data.get("fail"):
            raise RuntimeError("carrier down")

    return [stock, orders]


def test_a_delivery_is_surrounded_in_the_handlers_context() -> None:
    observed: list[Any] = []
    recording = Recording()
    with Platform(shop(observed)) as platform:
        platform.add_interceptor(recording)
        event = platform.bus.publish("order.placed", {}, "orders")
    handler = "tests.unit.test_hooks.shop.<locals>.ship"
    assert observed == [("in handler", f"r:{handler}")]
    assert recording.log == [
        ("publish", "r", "order.placed", "orders"),
        ("published", "r", event.event_id, None),  # accepted before any handler runs
        ("deliver", "r", "order.placed", "orders"),
        ("delivered", "r", None),
    ]
    assert event.metadata["stamp_r"] == "by interceptor"


def test_a_failed_delivery_finishes_with_its_error_and_is_still_kept() -> None:
    recording = Recording()
    with Platform(shop([])) as platform:
        platform.add_interceptor(recording)
        platform.bus.publish("order.placed", {"fail": True}, "orders")
        assert len(platform.bus.dead_letter_store.list()) == 1
    assert recording.log[-1] == ("delivered", "r", "RuntimeError")


def test_a_call_is_surrounded_and_sees_its_error() -> None:
    observed: list[Any] = []
    recording = Recording()
    with Platform(shop(observed)) as platform:
        platform.add_interceptor(recording)
        stock = platform.registry.get_service("stock", "Stock")
        assert stock.reserve("sku-1") == "sku-1"
        with pytest.raises(LookupError):
            stock.reserve("none")
    assert observed == [("in service", "r:reserve"), ("in service", "r:reserve")]
    assert recording.log == [
        ("call", "r", None, "stock", "Stock", "reserve"),
        ("called", "r", None),
        ("call", "r", None, "stock", "Stock", "reserve"),
        ("called", "r", "LookupError"),
    ]


def test_async_calls_and_deliveries_are_surrounded_too() -> None:
    observed: list[Any] = []
    recording = Recording()
    module = Module("audit")
    module.publishes("audit.logged")

    @module.subscribe("audit.logged")
    async def keep(event: Event) -> None:
        await asyncio.sleep(0)
        observed.append(("in async handler", seen.get()))

    with Platform([*shop(observed), module]) as platform:
        platform.add_interceptor(recording)
        stock = platform.registry.get_service("stock", "Stock")

        async def flow() -> None:
            await stock.areserve("sku-2")
            await platform.bus.apublish("audit.logged", {}, "audit")

        asyncio.run(flow())
    assert observed == [
        ("in async service", "r:areserve"),
        (
            "in async handler",
            "r:tests.unit.test_hooks.test_async_calls_and_deliveries_are_surrounded_too.<locals>.keep",
        ),
    ]


def test_interceptors_nest_first_attached_outermost() -> None:
    outer, inner = Recording("outer"), Recording("inner")
    order: list[str] = []
    for recording in (outer, inner):
        recording.log = _Tap(order, recording.name)  # type: ignore[assignment]
    with Platform(shop([])) as platform:
        platform.add_interceptor(outer)
        platform.add_interceptor(inner)
        platform.bus.publish("order.placed", {}, "orders")
    assert order == [
        "publish outer",
        "publish inner",
        "published inner",
        "published outer",
        "deliver outer",
        "deliver inner",
        "delivered inner",
        "delivered outer",
    ]


class _Tap(list[Any]):
    def __init__(self, order: list[str], name: str) -> None:
        super().__init__()
        self.order = order
        self.name = name

    def append(self, entry: Any) -> None:
        self.order.append(f"{entry[0]} {self.name}")


def test_a_refused_publish_finishes_with_the_error() -> None:
    class Refusing:
        def accepted(self, event: Event, route: Any) -> None:
            raise OSError("disk full")

    recording = Recording()
    bus = EventBus()
    bus.journal = Refusing()  # type: ignore[assignment]
    bus.add_interceptor(recording)
    with pytest.raises(OSError, match="disk full"):
        bus.publish("order.placed", {}, "orders")
    assert recording.log[-1][:3] == ("published", "r", None)
    assert isinstance(recording.log[-1][3], OSError)


def test_invalid_data_is_refused_before_any_interceptor_starts() -> None:
    recording = Recording()
    bus = EventBus()
    bus.add_interceptor(recording)
    with pytest.raises(EventValidationError):
        bus.publish("order.placed", "not a dict", "orders")  # type: ignore[arg-type]
    assert recording.log == []


def test_a_broken_interceptor_is_logged_and_the_work_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Broken(Interceptor):
        def delivering(self, event: Event, subscriber_module: str, handler_name: str) -> Any:
            raise ValueError("tracing backend gone")

        def calling(self, *args: Any) -> Any:
            def finish(error: BaseException | None) -> None:
                raise ValueError("exporter gone")

            return finish

    observed: list[Any] = []
    with Platform(shop(observed)) as platform, caplog.at_level(logging.ERROR, "aura.hooks"):
        platform.add_interceptor(Broken())
        platform.bus.publish("order.placed", {}, "orders")
        assert platform.registry.get_service("stock", "Stock").reserve("x") == "x"
        assert platform.bus.dead_letter_store.list() == []
    assert observed == [("in handler", None), ("in service", None)]
    messages = [record.getMessage() for record in caplog.records if record.name == "aura.hooks"]
    assert len(messages) == 2
    assert messages[0].endswith("failed at the start; the work goes on.")
    assert "failed; the work goes on." in messages[1]


def test_detaching_stops_every_hook_of_the_interceptor() -> None:
    recording = Recording()
    with Platform(shop([])) as platform:
        detach = platform.add_interceptor(recording)
        detach()
        event = platform.bus.publish("order.placed", {}, "orders")
        platform.registry.get_service("stock", "Stock").reserve("x")
    assert recording.log == []
    assert "stamp_r" not in event.metadata


def test_not_an_interceptor_is_refused_with_the_fix() -> None:
    with pytest.raises(ConfigurationError) as caught:
        EventBus().add_interceptor(object())  # type: ignore[arg-type]
    assert str(caught.value).startswith("An interceptor must be an aura.hooks.Interceptor, got ")
    assert str(caught.value).endswith(
        ". Subclass Interceptor and override publishing(), delivering() or calling()."
    )

    class Idle(Interceptor):
        pass

    with pytest.raises(ConfigurationError) as idle:
        EventBus().add_interceptor(Idle())
    assert str(idle.value) == (
        "test_not_an_interceptor_is_refused_with_the_fix.<locals>.Idle overrides none of "
        "publishing(), delivering() and calling(), so attaching it would do nothing. Override "
        "at least one."
    )


def test_a_retried_dead_letter_is_surrounded_like_a_first_delivery() -> None:
    recording = Recording()
    with Platform(shop([])) as platform:
        platform.bus.publish("order.placed", {"fail": True}, "orders")
        platform.add_interceptor(recording)
        platform.bus.retry_dead_letters()
    assert [entry[0] for entry in recording.log] == ["deliver", "delivered"]
    assert recording.log[-1] == ("delivered", "r", "RuntimeError")


class _Raising(Interceptor):
    """Raises where it is told: at the start of a publish, or in a delivery's finish."""

    def publishing(
        self, event_id: str, event_type: str, source_module: str, metadata: MutableMapping[str, Any]
    ) -> Any:
        raise ValueError("no trace id today")

    def delivering(self, event: Event, subscriber_module: str, handler_name: str) -> Any:
        def finish(error: BaseException | None) -> None:
            raise ValueError("span exporter gone")

        return finish


def test_among_several_interceptors_a_broken_one_is_left_out_and_the_others_nest(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outer, inner = Recording("outer"), Recording("inner")
    observed: list[Any] = []
    with Platform(shop(observed)) as platform, caplog.at_level(logging.ERROR, "aura.hooks"):
        platform.add_interceptor(outer)
        platform.add_interceptor(_Raising())
        platform.add_interceptor(inner)
        event = platform.bus.publish("order.placed", {}, "orders")
        assert platform.bus.dead_letter_store.list() == []
    assert [entry[:2] for entry in outer.log + inner.log] == [
        ("publish", "outer"),
        ("published", "outer"),
        ("deliver", "outer"),
        ("delivered", "outer"),
        ("publish", "inner"),
        ("published", "inner"),
        ("deliver", "inner"),
        ("delivered", "inner"),
    ]
    assert event.metadata["stamp_outer"] == event.metadata["stamp_inner"] == "by interceptor"
    # The innermost start runs last: the handler sees what it set.
    assert observed == [("in handler", "inner:tests.unit.test_hooks.shop.<locals>.ship")]
    messages = [record.getMessage() for record in caplog.records if record.name == "aura.hooks"]
    assert len(messages) == 2
    assert messages[0].endswith("failed at the start; the work goes on.")
    assert "_Raising.publishing" in messages[0]
    assert messages[1].endswith("failed; the work goes on.")
    assert "_Raising.delivering.<locals>.finish" in messages[1]


def test_a_lone_interceptor_whose_delivery_finish_raises_is_logged_and_delivery_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    observed: list[Any] = []
    with Platform(shop(observed)) as platform, caplog.at_level(logging.ERROR, "aura.hooks"):
        platform.add_interceptor(_Raising())
        first = platform.bus.publish("order.placed", {}, "orders")
        second = platform.bus.publish("order.placed", {}, "orders")
        assert platform.bus.dead_letter_store.list() == []
    assert "stamp_r" not in first.metadata
    assert first.event_id != second.event_id
    assert observed == [("in handler", None), ("in handler", None)]
    messages = [record.getMessage() for record in caplog.records if record.name == "aura.hooks"]
    assert [m.endswith("failed at the start; the work goes on.") for m in messages] == [
        True,
        False,
        True,
        False,
    ]


def test_an_interrupted_delivery_finishes_with_the_interruption() -> None:
    recording = Recording()
    stock = Module("stock")
    orders = Module("orders")
    orders.publishes("order.placed")

    @orders.subscribe("order.placed")
    def stop(event: Event) -> None:
        raise KeyboardInterrupt

    with Platform([stock, orders]) as platform:
        platform.add_interceptor(recording)
        with pytest.raises(KeyboardInterrupt):
            platform.bus.publish("order.placed", {}, "orders")
        assert seen.get() is None  # its finish ran: the context it set is reset
    assert recording.log[-1] == ("delivered", "r", "KeyboardInterrupt")


class _Quiet(Interceptor):
    """Hooks every kind of work and wants to hear of no end."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def publishing(
        self, event_id: str, event_type: str, source_module: str, metadata: MutableMapping[str, Any]
    ) -> None:
        self.started.append("publish")

    def delivering(self, event: Event, subscriber_module: str, handler_name: str) -> None:
        self.started.append("deliver")

    def calling(
        self, caller_module: str | None, provider_module: str, service_name: str, method: str
    ) -> Any:
        if method == "reserve":
            raise ValueError("no tracer for calls")
        self.started.append("call")


@pytest.mark.parametrize("recorded", [False, True], ids=["none hears the end", "one does"])
def test_several_interceptors_of_which_none_or_one_hears_the_end(recorded: bool) -> None:
    first, second, recording = _Quiet(), _Quiet(), Recording()
    observed: list[Any] = []
    with Platform(shop(observed)) as platform:
        for interceptor in (first, second, recording) if recorded else (first, second):
            platform.add_interceptor(interceptor)
        platform.bus.publish("order.placed", {}, "orders")
        assert platform.registry.get_service("stock", "Stock").reserve("x") == "x"
    assert first.started == second.started == ["publish", "deliver"]
    assert [entry[0] for entry in recording.log] == (
        ["publish", "published", "deliver", "delivered", "call", "called"] if recorded else []
    )
    assert observed == [
        ("in handler", "r:tests.unit.test_hooks.shop.<locals>.ship" if recorded else None),
        ("in service", "r:reserve" if recorded else None),
    ]


def test_a_lone_call_hook_that_raises_is_logged_and_the_call_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Platform(shop([])) as platform, caplog.at_level(logging.ERROR, "aura.hooks"):
        platform.registry.add_interceptor(_Quiet())
        assert platform.registry.get_service("stock", "Stock").reserve("x") == "x"
    [message] = [r.getMessage() for r in caplog.records if r.name == "aura.hooks"]
    assert "_Quiet.calling" in message
    assert message.endswith("failed at the start; the work goes on.")

"""The platform's traffic in the standard logging module: one record per published event, per
delivery and per cross-module call, each with its fields; and the filter that gives any record
the flow's context."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from aura import delivery as delivery_module
from aura.context import correlation_scope, module_scope
from aura.delivery import Delivery
from aura.events import Event
from aura.logs import ContextFilter
from aura.module import Module
from aura.platform import Platform


def shop() -> list[Module]:
    stock = Module("stock")

    @stock.service("Stock")
    class Stock:
        def reserve(self, sku: str) -> str:
            if sku == "none":
                raise LookupError("no such sku")
            return sku

    orders = Module("orders", depends_on=["stock"])
    orders.publishes("order.placed")

    @orders.subscribe("order.placed")
    def ship(event: Event) -> None:
        if event.data.get("fail"):
            raise RuntimeError("carrier down")

    return [stock, orders]


def records(caplog: pytest.LogCaptureFixture, name: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == name]


def test_a_published_event_and_its_delivery_are_logged_with_their_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Platform(shop()) as platform, caplog.at_level(logging.INFO, "aura"):
        event = platform.bus.publish("order.placed", {"order_id": 7}, "orders")
    (published,) = records(caplog, "aura.events")
    assert published.getMessage() == f"orders published order.placed ({event.event_id})"
    assert (published.event_type, published.correlation_id) == (  # type: ignore[attr-defined]
        "order.placed",
        event.correlation_id,
    )
    (delivered,) = records(caplog, "aura.deliveries")
    handler = "tests.unit.test_logs.shop.<locals>.ship"
    assert delivered.levelno == logging.INFO
    assert delivered.getMessage().startswith(
        f"orders:{handler} handled order.placed ({event.event_id}): ok in "
    )
    assert delivered.getMessage().endswith(" ms")
    fields: dict[str, Any] = delivered.__dict__
    assert (fields["subscriber_module"], fields["handler"], fields["outcome"]) == (
        "orders",
        handler,
        "ok",
    )
    assert fields["duration_ms"] >= 0


def test_a_failed_delivery_is_a_warning_naming_its_error(caplog: pytest.LogCaptureFixture) -> None:
    with Platform(shop()) as platform, caplog.at_level(logging.INFO, "aura"):
        platform.bus.publish("order.placed", {"fail": True}, "orders")
    (delivered,) = records(caplog, "aura.deliveries")
    assert delivered.levelno == logging.WARNING
    assert delivered.outcome == "RuntimeError"  # type: ignore[attr-defined]
    assert ": RuntimeError in " in delivered.getMessage()


def test_each_cross_module_call_is_logged_with_its_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Platform(shop()) as platform, caplog.at_level(logging.INFO, "aura.calls"):
        stock = platform.registry.get_service("stock", "Stock")
        stock.reserve("sku-1")
        with pytest.raises(LookupError), module_scope("orders"):
            platform.registry.get_service("stock", "Stock").reserve("none")
    ok, failed = records(caplog, "aura.calls")
    assert ok.levelno == logging.INFO
    assert ok.getMessage().startswith("code outside any module called stock.Stock.reserve: ok in ")
    assert failed.levelno == logging.WARNING
    assert failed.getMessage().startswith("orders called stock.Stock.reserve: LookupError in ")
    assert (failed.caller_module, failed.service, failed.method) == (  # type: ignore[attr-defined]
        "orders",
        "Stock",
        "reserve",
    )


def test_below_its_level_nothing_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with Platform(shop()) as platform, caplog.at_level(logging.WARNING, "aura"):
        platform.bus.publish("order.placed", {}, "orders")
        platform.registry.get_service("stock", "Stock").reserve("sku")
    assert [r.name for r in caplog.records if r.name.startswith("aura.")] == []


def test_a_platform_can_leave_its_traffic_unlogged(caplog: pytest.LogCaptureFixture) -> None:
    with Platform(shop(), log_traffic=False) as platform, caplog.at_level(logging.INFO, "aura"):
        platform.bus.publish("order.placed", {}, "orders")
    assert records(caplog, "aura.events") == []
    assert records(caplog, "aura.deliveries") == []


def two_handlers() -> list[Module]:
    orders = Module("orders")
    orders.publishes("order.placed")

    @orders.subscribe("order.placed", name="slow")
    def slow(event: Event) -> None:
        time.sleep(0.02)

    @orders.subscribe("order.placed", name="quick")
    def quick(event: Event) -> None:
        pass

    return [orders]


class Outcomes:
    """An observer that takes only the full form: each delivery as a Delivery."""

    def __init__(self) -> None:
        self.deliveries: list[object] = []

    def on_published(self, event: Event) -> None:
        pass

    def on_delivered(self, delivery: object) -> None:
        self.deliveries.append(delivery)


def test_a_platform_logging_its_traffic_builds_nothing_for_a_delivery_that_succeeded(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    full_form = delivery_module._observe

    def observe(event: Event, subscription: Any, *rest: Any) -> None:
        built.append(subscription.handler_name)
        full_form(event, subscription, *rest)

    monkeypatch.setattr(delivery_module, "_observe", observe)
    with Platform(two_handlers()) as platform, caplog.at_level(logging.INFO, "aura"):
        platform.bus.publish("order.placed", {}, "orders")
    assert built == []
    slow, quick = records(caplog, "aura.deliveries")
    assert (slow.handler, quick.handler) == ("slow", "quick")  # type: ignore[attr-defined]
    assert slow.outcome == quick.outcome == "ok"  # type: ignore[attr-defined]
    assert 20 <= slow.duration_ms < quick.duration_ms + 1000  # type: ignore[attr-defined]
    assert quick.duration_ms < 20  # type: ignore[attr-defined]  # from the end of slow's


def test_beside_an_observer_of_the_full_form_each_delivery_is_logged_from_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes = Outcomes()
    with Platform(two_handlers()) as platform, caplog.at_level(logging.INFO, "aura"):
        platform.bus.add_observer(outcomes)
        platform.bus.publish("order.placed", {}, "orders")
    assert [type(d) for d in outcomes.deliveries] == [Delivery, Delivery]
    slow, quick = records(caplog, "aura.deliveries")
    assert (slow.handler, quick.handler) == ("slow", "quick")  # type: ignore[attr-defined]
    assert slow.duration_ms >= 20  # type: ignore[attr-defined]


def three_quick() -> list[Module]:
    orders = Module("orders")
    orders.publishes("order.placed")
    for name in ("a", "b", "c"):
        orders.subscribe("order.placed", name=name)(lambda event: None)
    return [orders]


def test_a_slow_log_handler_is_not_counted_in_the_next_deliverys_duration() -> None:
    durations: list[float] = []

    class Slow(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            durations.append(record.duration_ms)  # type: ignore[attr-defined]
            time.sleep(0.05)

    deliveries = logging.getLogger("aura.deliveries")
    slow = Slow()
    deliveries.addHandler(slow)
    level = deliveries.level
    deliveries.setLevel(logging.INFO)
    try:
        with Platform(three_quick()) as platform:
            platform.bus.publish("order.placed", {}, "orders")
    finally:
        deliveries.removeHandler(slow)
        deliveries.setLevel(level)
    assert len(durations) == 3
    assert max(durations) < 25  # each handler does nothing; the log's 50 ms are not theirs


def test_an_observer_failing_beside_the_traffic_log_keeps_no_other_from_the_delivery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from aura.testing.recorders import Trace

    class Picky(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            if getattr(record, "handler", None) == "a":
                raise KeyError("bad record")
            return True

    picky = Picky()
    deliveries = logging.getLogger("aura.deliveries")
    deliveries.addFilter(picky)
    try:
        with Platform(three_quick()) as platform, caplog.at_level(logging.INFO, "aura"):
            trace = Trace().attach(platform.bus, platform.registry)
            platform.bus.publish("order.placed", {}, "orders")
    finally:
        deliveries.removeFilter(picky)
    recorded = [e.item.handler_name for e in trace.entries if e.kind == "delivery"]
    assert recorded == ["a", "b", "c"]
    [failure] = [r for r in caplog.records if r.name == "aura.bus" and r.exc_info]
    assert failure.getMessage().startswith("Observer <aura.logs.TrafficLog object at ")
    assert failure.getMessage().endswith(" failed on a delivery; delivery goes on")


def test_the_context_filter_gives_any_record_the_flows_context() -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    handler.addFilter(ContextFilter())
    app = logging.getLogger("tests.app")
    app.addHandler(handler)
    app.setLevel(logging.INFO)
    try:
        app.info("outside any flow")
        with correlation_scope("flow-1"), module_scope("orders"):
            app.info("inside one")
            app.info("with its own", extra={"correlation_id": "given"})
    finally:
        app.removeHandler(handler)
    fields = [
        (r.correlation_id, r.aura_module, r.event_id, r.user_id)  # type: ignore[attr-defined]
        for r in seen
    ]
    assert fields == [
        ("-", "-", "-", "-"),
        ("flow-1", "orders", "-", "-"),
        ("given", "orders", "-", "-"),
    ]

"""Traces in causal order: a call where it starts, what ran inside a call or a delivery nested
under it, in the text rendering, the JSON trace and the Mermaid diagram alike."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from typing import Any

import pytest

from aura import context
from aura.bus import EventBus
from aura.events import EventCatalog
from aura.registry import ServiceCall, ServiceRegistry
from aura.testing import FrozenClock, RecordingFake, ServiceCalls, Trace
from aura.testing.export import trace_to_json, trace_to_mermaid
from aura.testing.recorders import CallInProgress, DeliveryInProgress

STARTED = datetime(2030, 1, 1, tzinfo=UTC)


class PricingContract(ABC):
    @abstractmethod
    def price_of(self, sku: str) -> int: ...

    @abstractmethod
    async def reprice(self, sku: str, price: int) -> None: ...


class Pricing(PricingContract):
    def __init__(self) -> None:
        self.during: list[Any] = []  # what a test wants done while price_of runs

    def price_of(self, sku: str) -> int:
        for action in self.during:
            action()
        return 3

    async def reprice(self, sku: str, price: int) -> None:
        await asyncio.sleep(0)


class Platformish:
    """A bus and a registry wired like a small platform: orders -> pricing, billing, mail."""

    def __init__(self) -> None:
        self.bus = EventBus(catalog=EventCatalog())
        self.registry = ServiceRegistry()
        self.pricing = Pricing()
        self.registry.register_service("pricing", "Pricing", self.pricing, contract=PricingContract)
        bus, registry = self.bus, self.registry

        class Orders:
            def place(self, sku: str) -> None:
                registry.get_service("pricing", "Pricing").price_of(sku)
                bus.publish("order.placed", {"sku": sku}, "orders")

        self.registry.register_service("orders", "Orders", Orders())

        def bill(data: Any) -> None:
            registry.get_service("pricing", "Pricing").price_of(data["sku"])
            bus.publish("invoice.created", {"sku": data["sku"]}, "billing")

        def notify(data: Any) -> None:
            """Nests nothing: recorded on the trace's fast path."""

        bus.subscribe("order.placed", bill, "billing")
        bus.subscribe("invoice.created", notify, "mail")

    def place(self, sku: str = "a") -> None:
        self.registry.get_service("orders", "Orders").place(sku)


@pytest.fixture
def shop() -> Platformish:
    return Platformish()


@pytest.fixture
def trace(shop: Platformish) -> Trace:
    return Trace().attach(shop.bus, shop.registry)


def normalised(text: str) -> list[str]:
    """The rendering with what changes from run to run (durations, ids) replaced."""
    text = re.sub(r"\d+\.\d\d ms", "N ms", text)
    return re.sub(r"correlation=[0-9a-f-]{8}", "correlation=C", text).splitlines()


# --- the order of entries ------------------------------------------------------------------------


def test_a_call_is_entered_where_it_starts_with_what_it_did_nested_under_it(
    shop: Platformish, trace: Trace
) -> None:
    shop.place()
    assert normalised(trace.render()) == [
        "   call (outside any module) -> orders.Orders.place() ok (N ms)",
        "     call orders -> pricing.Pricing.price_of() ok (N ms)",
        '     #1 order.placed from orders {"sku": "a"} correlation=C',
        "     -> #1 to billing:bill ok",
        "       call billing -> pricing.Pricing.price_of() ok (N ms)",
        '       #2 invoice.created from billing {"sku": "a"} correlation=C caused_by=#1',
        "     -> #2 to mail:notify ok",
    ]


def test_the_json_trace_has_the_same_causal_order_with_parents_and_depths(
    shop: Platformish, trace: Trace
) -> None:
    shop.place()
    entries = trace_to_json(trace)
    assert [(e["kind"], e["parent"], e["depth"]) for e in entries] == [
        ("call", None, 0),  # 0: orders.Orders.place
        ("call", 0, 1),  # 1: pricing.Pricing.price_of, made by place
        ("event", 0, 1),  # 2: #1 order.placed, published by place
        ("delivery", 0, 1),  # 3: #1 to billing, delivered while place runs
        ("call", 3, 2),  # 4: price_of, made by billing's handler
        ("event", 3, 2),  # 5: #2 invoice.created, published by billing's handler
        ("delivery", 0, 1),  # 6: #2 to mail, after #1's deliveries (breadth-first)
    ]
    assert [entries[i]["method"] for i in (0, 1, 4)] == ["place", "price_of", "price_of"]
    assert entries[3]["handler"].endswith("bill")
    assert entries[3]["outcome"] == "ok"
    assert entries[0]["duration_ms"] >= entries[1]["duration_ms"]


def test_the_mermaid_diagram_answers_a_call_after_everything_nested_under_it(
    shop: Platformish, trace: Trace
) -> None:
    shop.place()
    assert trace_to_mermaid(trace).splitlines() == [
        "sequenceDiagram",
        "    participant test",
        "    participant orders",
        "    participant pricing",
        "    participant billing",
        "    participant mail",
        "    test->>+orders: Orders.place()",
        "    orders->>+pricing: Pricing.price_of()",
        "    pricing-->>-orders: ok",
        "    Note over orders: #35;1 publishes order.placed",
        "    orders-)billing: #35;1 order.placed",
        "    billing->>+pricing: Pricing.price_of()",
        "    pricing-->>-billing: ok",
        "    Note over billing: #35;2 publishes invoice.created",
        "    billing-)mail: #35;2 invoice.created",
        "    orders-->>-test: ok",
    ]


def test_a_publish_outside_any_call_keeps_the_flat_lines(shop: Platformish, trace: Trace) -> None:
    shop.bus.publish("invoice.created", {"sku": "b"}, "billing")
    assert normalised(trace.render()) == [
        '#1 invoice.created from billing {"sku": "b"} correlation=C',
        "     -> #1 to mail:notify ok",
    ]
    assert [(e.kind, e.parent, e.depth) for e in trace.entries] == [
        ("event", None, 0),
        ("delivery", None, 0),
    ]


def test_a_handler_that_publishes_is_entered_before_what_it_published(trace: Trace) -> None:
    bus = EventBus(catalog=EventCatalog())
    trace.attach(bus)
    bus.subscribe("order.placed", lambda d: bus.publish("order.paid", d, "billing"), "billing")
    bus.publish("order.placed", {"n": 1}, "orders")
    assert [(e.kind, e.parent, e.depth) for e in trace.entries] == [
        ("event", None, 0),
        ("delivery", None, 0),
        ("event", 1, 1),  # published by the handler the delivery ran
    ]
    assert [type(item).__name__ for item in (e.item for e in trace.entries)] == [
        "Event",
        "Delivery",  # completed in place once the handler returned
        "Event",
    ]


def test_calls_are_service_calls_in_the_order_they_started(shop: Platformish, trace: Trace) -> None:
    shop.place()
    calls = trace.calls()
    assert all(type(call) is ServiceCall for call in calls)
    assert [(c.caller_module, c.provider_module, c.method) for c in calls] == [
        (None, "orders", "place"),
        ("orders", "pricing", "price_of"),
        ("billing", "pricing", "price_of"),
    ]
    ServiceCalls(trace).assert_called("pricing", "Pricing", "price_of", times=2)


# --- work still running --------------------------------------------------------------------------


def test_a_call_and_a_delivery_still_running_read_as_running(
    shop: Platformish, trace: Trace
) -> None:
    seen: dict[str, Any] = {}

    def look() -> None:
        if context.current_event() is not None:
            seen["text"] = trace.render()
            seen["json"] = trace_to_json(trace)
            seen["mermaid"] = trace_to_mermaid(trace)
            seen["calls"] = trace.calls()

    shop.pricing.during.append(look)
    shop.place()
    text = normalised(seen["text"])
    assert text[3:] == [
        "     -> #1 to billing running",
        "       call billing -> pricing.Pricing.price_of() running",
    ]
    assert [(e["kind"], e.get("outcome")) for e in seen["json"]] == [
        ("call", "running"),
        ("call", "ok"),
        ("event", None),
        ("delivery", "running"),
        ("call", "running"),
    ]
    assert seen["json"][3]["handler"] is None
    assert seen["json"][4]["duration_ms"] is None
    assert [c.method for c in seen["calls"]] == ["price_of"]  # only the call that ended
    assert "    billing->>pricing: Pricing.price_of() (running)" in seen["mermaid"].splitlines()
    assert "    orders-)billing: #35;1 order.placed (running)" in seen["mermaid"].splitlines()
    # once they ended, the same entries hold the outcomes
    assert isinstance(trace.entries[3].item, type(trace.deliveries()[0]))
    assert not any(isinstance(e.item, CallInProgress | DeliveryInProgress) for e in trace.entries)


def test_start_call_records_a_call_a_bridge_times_itself(trace: Trace) -> None:
    bus = EventBus(catalog=EventCatalog())
    trace.attach(bus)
    finish = trace.start_call(None, "legacy", "Billing", "charge")
    bus.publish("order.paid", {"n": 1}, "legacy")
    assert isinstance(trace.entries[0].item, CallInProgress)
    finish(None)
    [call] = trace.calls()
    assert (call.provider_module, call.method, call.error) == ("legacy", "charge", None)
    assert [(e.kind, e.parent, e.depth) for e in trace.entries] == [
        ("call", None, 0),
        ("event", 0, 1),
    ]


def test_a_reported_call_nests_under_the_call_running(shop: Platformish, trace: Trace) -> None:
    def report() -> None:
        trace.on_service_call(
            ServiceCall("pricing", "tax", "Tax", "rate", STARTED, 0.001, None, None)
        )

    shop.pricing.during.append(report)
    with context.module_scope("orders"):
        shop.registry.get_service("pricing", "Pricing").price_of("a")
    assert [(e.kind, e.parent, e.depth) for e in trace.entries] == [
        ("call", None, 0),
        ("call", 0, 1),
    ]


# --- fakes and clocks ----------------------------------------------------------------------------


def test_a_call_served_by_a_fake_is_marked_in_text_json_and_mermaid(trace: Trace) -> None:
    registry = ServiceRegistry()
    fake = RecordingFake.for_contract(PricingContract)
    fake.returns("price_of", 7)
    registry.register_service("pricing", "Pricing", fake, contract=PricingContract)
    trace.attach(EventBus(catalog=EventCatalog()), registry)
    assert registry.get_service("pricing", "Pricing").price_of("a") == 7
    assert normalised(trace.render()) == [
        "   call (outside any module) -> pricing.Pricing.price_of() ok (fake, N ms)"
    ]
    assert trace_to_json(trace)[0]["fake"] is True
    assert "    test->>+pricing: Pricing.price_of() (fake)" in trace_to_mermaid(trace)
    listing = ServiceCalls(trace).assert_called
    with pytest.raises(AssertionError) as caught:
        listing("pricing", "Pricing", "reprice")
    assert normalised(str(caught.value))[1:] == [
        "Recorded calls (1):",
        "  (outside any module) -> pricing.Pricing.price_of() ok (fake, N ms)",
    ]


def test_a_real_service_is_not_marked_as_a_fake(shop: Platformish, trace: Trace) -> None:
    shop.place()
    assert {e["fake"] for e in trace_to_json(trace) if e["kind"] == "call"} == {False}
    assert "fake" not in trace.render()


def test_call_durations_are_real_under_frozen_time(
    shop: Platformish, trace: Trace, frozen_time: FrozenClock
) -> None:
    shop.pricing.during.append(lambda: time.sleep(0.02))
    frozen_time.move_to("2030-01-07T09:00:00+00:00")
    assert time.perf_counter() == time.perf_counter()  # frozen, as a test sees it
    with context.module_scope("orders"):
        shop.registry.get_service("pricing", "Pricing").price_of("a")
    [call] = trace.calls()
    assert call.duration >= 0.015
    assert call.started_at.isoformat() == "2030-01-07T09:00:00+00:00"


# --- other delivery paths ------------------------------------------------------------------------


def test_a_retried_delivery_is_entered_before_what_its_handler_published(trace: Trace) -> None:
    bus = EventBus(catalog=EventCatalog())
    trace.attach(bus)
    attempts: list[int] = []

    def flaky(data: Any) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("down")
        bus.publish("order.paid", dict(data), "billing")

    bus.subscribe("order.placed", flaky, "billing")
    bus.subscribe("order.paid", lambda data: None, "mail")
    bus.publish("order.placed", {"n": 1}, "orders")
    mark = len(trace.entries)
    bus.retry_dead_letters()
    retried = trace.entries[mark:]
    assert [(e.kind, e.parent, e.depth) for e in retried] == [
        ("delivery", None, 0),  # the retry, entered when its handler published
        ("event", mark, 1),
        ("delivery", None, 0),  # order.paid to mail, after the retry
    ]
    assert retried[0].item.error is None  # type: ignore[union-attr]
    assert retried[2].item.subscriber_module == "mail"  # type: ignore[union-attr]


def test_a_replayed_handler_leaves_no_delivery_running(shop: Platformish, trace: Trace) -> None:
    event = shop.bus.publish("invoice.created", {"sku": "a"}, "billing")
    before = len(trace.entries)
    shop.bus.subscribe(
        "invoice.created",
        lambda data: shop.registry.get_service("pricing", "Pricing").price_of("a"),
        "reports",
    )
    shop.bus.replay(event)
    replayed = trace.entries[before:]
    assert [(e.kind, e.parent, e.depth) for e in replayed] == [("call", None, 0)]
    assert not any(isinstance(e.item, DeliveryInProgress) for e in trace.entries)


def test_async_handlers_and_async_calls_nest_the_same_way(shop: Platformish, trace: Trace) -> None:
    async def rebill(data: Any) -> None:
        await shop.registry.get_service("pricing", "Pricing").reprice(data["sku"], 4)

    shop.bus.subscribe("price.changed", rebill, "billing")
    asyncio.run(shop.bus.apublish("price.changed", {"sku": "a"}, "catalog"))
    assert normalised(trace.render()) == [
        '#1 price.changed from catalog {"sku": "a"} correlation=C',
        "     -> #1 to billing:rebill ok",
        "       call billing -> pricing.Pricing.reprice() ok (N ms)",
    ]


def test_deliveries_in_other_threads_are_not_nested_under_a_running_call(
    shop: Platformish, trace: Trace
) -> None:
    started, release = threading.Event(), threading.Event()

    def hold() -> None:
        started.set()
        release.wait(5)

    shop.pricing.during.append(hold)

    def call() -> None:
        with context.module_scope("orders"):
            shop.registry.get_service("pricing", "Pricing").price_of("a")

    caller = threading.Thread(target=call)
    caller.start()
    assert started.wait(5)

    def publish() -> None:
        for n in range(50):
            shop.bus.publish("invoice.created", {"sku": str(n)}, "billing")

    publishers = [threading.Thread(target=publish) for _ in range(3)]
    for thread in publishers:
        thread.start()
    for thread in publishers:
        thread.join()
    release.set()
    caller.join()
    entries = trace.entries
    assert len(trace.events()) == 150
    assert len(trace.deliveries()) == 150
    assert [e.depth for e in entries if e.kind != "call"] == [0] * 300
    assert len(trace.calls()) == 1


# --- the trace itself ----------------------------------------------------------------------------


def test_clear_forgets_everything_and_keeps_recording(shop: Platformish, trace: Trace) -> None:
    shop.place()
    trace.clear()
    assert trace.entries == []
    assert trace.numbers == {}
    shop.bus.publish("invoice.created", {"sku": "b"}, "billing")
    assert normalised(trace.render())[0] == (
        '#1 invoice.created from billing {"sku": "b"} correlation=C'
    )


def test_a_detached_trace_records_no_more_calls_or_deliveries(
    shop: Platformish, trace: Trace
) -> None:
    trace.detach()
    shop.place()
    assert trace.render() == "(nothing was published or called)"


# --- end to end ----------------------------------------------------------------------------------

APP = {
    "shop/__init__.py": "",
    "shop/catalog/__init__.py": """
from aura.module import Module

module = Module("catalog")


class Catalog:
    def price_of(self, sku: str) -> int:
        return 3


module.add_service("Catalog", Catalog)
""",
    "shop/orders/__init__.py": """
from aura import event_bus, service_registry
from aura.module import Module

module = Module("orders", depends_on=["catalog"])
module.publishes("order.*")


class Orders:
    def place(self, sku: str) -> None:
        price = service_registry.get_service("catalog", "Catalog").price_of(sku)
        event_bus.publish("order.placed", {"sku": sku, "total": price}, "orders")


module.add_service("Orders", Orders)


@module.subscribe("order.placed")
def confirm(data: dict) -> None:
    event_bus.publish("order.confirmed", {"sku": data["sku"]}, "orders")
""",
    "pytest.ini": "[pytest]\naura_modules = shop\n",
}


def test_a_failing_tests_aura_trace_reads_in_causal_order(pytester: pytest.Pytester) -> None:
    for name, text in APP.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pytester.syspathinsert()
    pytester.makepyfile(
        test_flow="""
def test_flow(aura_platform):
    aura_platform.registry.get_service("orders", "Orders").place("apple")
    assert False, "boom"
"""
    )
    result = pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- aura trace -*",
            "   call (outside any module) -> orders.Orders.place() ok (*ms)",
            "     call orders -> catalog.Catalog.price_of() ok (*ms)",
            '     #1 order.placed from orders {"sku": "apple", "total": 3} correlation=*',
            "     -> #1 to orders:confirm ok",
            '       #2 order.confirmed from orders {"sku": "apple"} correlation=* caused_by=#1',
        ]
    )


def test_events_are_numbered_in_the_order_they_were_published_nested_or_not() -> None:
    bus = EventBus(catalog=EventCatalog())
    trace = Trace().attach(bus)
    bus.subscribe("order.placed", lambda data: bus.publish("stock.reserved", {}, "stock"), "stock")
    placed = bus.publish("order.placed", {}, "orders")
    numbers = trace.numbers
    shipped = bus.publish("order.shipped", {}, "orders")
    [reserved] = [e for e in trace.events() if e.event_type == "stock.reserved"]
    assert trace.numbers is numbers  # read again: the same dict, completed
    assert numbers == {placed.event_id: 1, reserved.event_id: 2, shipped.event_id: 3}
    trace.clear()
    again = bus.publish("order.placed", {}, "orders")
    assert list(trace.numbers.values()) == [1, 2]
    assert next(iter(trace.numbers)) == again.event_id

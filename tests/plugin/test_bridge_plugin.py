"""The bridge end to end with pytester: projects not on Aura (blinker signals, a lato
application) assert on their flows with ``published_events`` and ``service_calls``, with no
platform; a project on Aura mixes bridged events with its platform's own.

docs/howto/bridge-existing-code.rst includes the projects' code from this file.
"""

from __future__ import annotations

import json

import pytest

LEGACY = {
    "legacy/__init__.py": "",
    "legacy/signals.py": """
from blinker import Namespace

shop = Namespace()
order_placed = shop.signal("order-placed")
""",
    "legacy/bus.py": """
listeners = []  # the shop's own little bus: functions of (name, payload)


def emit(name: str, payload: dict) -> None:
    for listener in listeners:
        listener(name, payload)
""",
    "legacy/billing.py": """
from legacy import bus


def charge(amount: int) -> None:
    if amount <= 0:
        raise ValueError(f"cannot charge {amount}")
    bus.emit("payment.taken", {"amount": amount})
""",
    "legacy/orders.py": """
from legacy import billing
from legacy.signals import order_placed


def place_order(sku: str, quantity: int, price: int) -> int:
    total = quantity * price
    billing.charge(total)
    order_placed.send("web", sku=sku, quantity=quantity, total=total)
    return total
""",
    "conftest.py": """
import pytest

from aura.integrations.blinker import bridge_signal
from aura.testing.bridge import record_event
from legacy import billing, bus
from legacy.signals import order_placed

# Installed once: what the shop's bus emits is recorded by the bridge of the running test
# (outside a test, with no bridge in force, record_event keeps nothing).
bus.listeners.append(lambda name, payload: record_event(name, payload, "billing"))


@pytest.fixture(autouse=True)
def legacy_shop(aura_bridge, monkeypatch):
    # Each send of order_placed is an "order.placed" event from the orders module ...
    bridge_signal(order_placed, "order.placed", "orders")
    # ... and each billing.charge() a call from orders to billing's Billing service.
    timed = aura_bridge.recorded_call("orders", "billing", "Billing", "charge")
    monkeypatch.setattr(billing, "charge", timed(billing.charge))
""",
}

LEGACY_TESTS = """
import pytest

from legacy.orders import place_order


def test_an_order_is_placed_and_charged(published_events, service_calls):
    place_order("apple", 2, price=3)

    published_events.assert_published("order.placed", sku="apple", total=6)
    published_events.assert_sequence(["payment.taken", "order.placed"])
    service_calls.assert_called("billing", "Billing", "charge", times=1, caller="orders")


def test_a_refused_charge_places_no_order(published_events, service_calls):
    with pytest.raises(ValueError):
        place_order("apple", 0, price=3)

    assert len(published_events) == 0
    assert [call.outcome for call in service_calls.failed()] == ["ValueError"]
"""


def project(pytester: pytest.Pytester, files: dict[str, str]) -> pytest.Pytester:
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pytester.syspathinsert()
    return pytester


def run(pytester: pytest.Pytester, tests: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_flow=tests)
    return pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", *args)


@pytest.fixture
def legacy(pytester: pytest.Pytester) -> pytest.Pytester:
    pytest.importorskip("blinker", reason="the blinker adapter needs blinker")
    return project(pytester, LEGACY)


def test_a_project_not_on_aura_asserts_on_its_blinker_flow(legacy: pytest.Pytester) -> None:
    # No [tool.aura] modules: were a platform built, every test would fail with its error.
    result = run(legacy, LEGACY_TESTS)

    result.assert_outcomes(passed=2)


def test_a_wrong_expectation_fails_with_the_recorders_text_and_the_trace(
    legacy: pytest.Pytester,
) -> None:
    result = run(
        legacy,
        """
from legacy.orders import place_order


def test_flow(published_events):
    place_order("apple", 2, price=3)
    published_events.assert_published("order.placed", sku="pear")
""",
    )

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected an event 'order.placed' with sku='pear'; 0 matched "
            "among 1 of that type:",
            "E *#2 sku='apple' (≠ 'pear')",
            'E *Closest: #2 order.placed from orders {"sku": "apple", "quantity": 2, "total": 6} '
            "correlation=*",
            "E *Recorded events (2):",
            'E *#1 payment.taken from billing {"amount": 6} correlation=*',
            'E *#2 order.placed from orders {"sku": "apple", "quantity": 2, "total": 6} '
            "correlation=*",
            "*- aura trace -*",
            '#2 order.placed from orders {"sku": "apple", "quantity": 2, "total": 6} correlation=*',
        ]
    )
    result.stdout.fnmatch_lines(
        ["*- aura trace -*", "   call orders -> billing.Billing.charge() ok (*ms)"]
    )


def test_a_missing_call_fails_with_the_recorded_calls(legacy: pytest.Pytester) -> None:
    result = run(
        legacy,
        """
from legacy.orders import place_order


def test_flow(service_calls):
    place_order("apple", 1, price=3)
    service_calls.assert_called("billing", "Billing", "refund")
""",
    )

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected billing.Billing.refund() to be called at least once; "
            "it was called 0 times.",
            "E *Recorded calls (1):",
            "E *orders -> billing.Billing.charge() ok (*ms)",
        ]
    )


def test_after_a_test_the_signal_is_disconnected_and_records_nothing(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("blinker", reason="the blinker adapter needs blinker")
    project(pytester, {k: v for k, v in LEGACY.items() if k != "conftest.py"})
    result = run(
        pytester,
        """
from aura.integrations.blinker import bridge_signal
from legacy.signals import order_placed


def test_1_bridges_the_signal(aura_bridge, published_events):
    bridge_signal(order_placed, "order.placed", "orders")
    order_placed.send("web", sku="apple")
    assert len(published_events) == 1


def test_2_a_later_test_finds_no_receiver_left():
    assert not order_placed.receivers


def test_3_a_later_bridge_records_nothing_of_it(aura_bridge, published_events):
    order_placed.send("web", sku="pear")
    assert len(published_events) == 0
""",
    )

    result.assert_outcomes(passed=3)


def test_a_bridge_only_trace_is_written_to_the_trace_directory(legacy: pytest.Pytester) -> None:
    result = run(
        legacy,
        """
from legacy.orders import place_order


def test_flow(published_events):
    place_order("apple", 2, price=3)
""",
        "--aura-trace-dir=traces",
    )

    result.assert_outcomes(passed=1)
    (json_file,) = (legacy.path / "traces").glob("*.json")
    entries = json.loads(json_file.read_text())
    events = [e for e in entries if e["kind"] == "event"]
    calls = [e for e in entries if e["kind"] == "call"]
    assert [(e["event_type"], e["source_module"], e["data"]) for e in events] == [
        ("payment.taken", "billing", {"amount": 6}),
        ("order.placed", "orders", {"sku": "apple", "quantity": 2, "total": 6}),
    ]
    assert {(c["caller_module"], c["provider_module"], c["method"]) for c in calls} == {
        ("orders", "billing", "charge")
    }
    (mermaid_file,) = (legacy.path / "traces").glob("*.mmd")
    diagram = mermaid_file.read_text()
    assert "order.placed" in diagram
    assert "Billing.charge()" in diagram


# --- a project on Aura, with legacy code still sending signals -----------------------------------

# The modules package is not called `app`: pytester's in-process run shares sys.modules with
# this session, where the checkout's own `app` (the reference platform's) may already be imported.
MIGRATING = {
    "legacy/__init__.py": "",
    "legacy/signals.py": LEGACY["legacy/signals.py"],
    "storefront/__init__.py": "",
    "storefront/orders/__init__.py": """
from aura import event_bus
from aura.module import Module
from legacy.signals import order_placed

module = Module("orders")
module.publishes("order.*")


class Orders:
    def place(self, sku: str) -> None:
        event_bus.publish("order.placed", {"sku": sku}, "orders")


module.add_service("Orders", Orders)


@module.subscribe("order.placed")
def tell_the_legacy_code(data: dict) -> None:
    order_placed.send("orders", sku=data["sku"])
""",
    "pytest.ini": """
[pytest]
aura_modules = storefront
""",
}


def test_bridged_events_join_the_platforms_flow_in_order(pytester: pytest.Pytester) -> None:
    pytest.importorskip("blinker", reason="the blinker adapter needs blinker")
    project(pytester, MIGRATING)
    result = run(
        pytester,
        """
from aura.integrations.blinker import bridge_signal
from legacy.signals import order_placed


def test_flow(aura_platform, aura_bridge, published_events):
    bridge_signal(order_placed, "legacy.order_noted", "legacy")
    aura_platform.registry.get_service("orders", "Orders").place("apple")

    assert published_events.types() == ["order.placed", "legacy.order_noted"]
    published_events.assert_published("legacy.order_noted", sku="apple")
    published_events.assert_correlated()  # the legacy event was caused by the handled one


def test_without_the_platform_fixture_the_bridge_alone_records(aura_bridge, published_events):
    bridge_signal(order_placed, "legacy.order_noted", "legacy")
    order_placed.send("web", sku="pear")
    assert published_events.types() == ["legacy.order_noted"]
""",
    )

    result.assert_outcomes(passed=2)


def test_bridged_calls_and_deliveries_are_judged_with_the_platforms(
    pytester: pytest.Pytester,
) -> None:
    pytest.importorskip("blinker", reason="the blinker adapter needs blinker")
    project(pytester, MIGRATING)
    result = run(
        pytester,
        """
def test_an_undeclared_call(aura_platform, aura_bridge):
    aura_bridge.record_call("orders", "billing", "Billing", "charge", duration=0.001)


def test_a_failed_delivery(aura_platform, aura_bridge):
    event = aura_bridge.record_event("legacy.order_noted", {"sku": "apple"}, "legacy")
    aura_bridge.record_delivery(
        event, "mailer", "send_mail", duration=0.001, error=OSError("smtp down")
    )


def test_an_expected_failed_delivery(aura_platform, aura_bridge, published_events):
    published_events.expect_failures("mailer")
    event = aura_bridge.record_event("legacy.order_noted", {"sku": "apple"}, "legacy")
    aura_bridge.record_delivery(
        event, "mailer", "send_mail", duration=0.001, error=OSError("smtp down")
    )
""",
    )

    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_an_undeclared_call*",
            "- [undeclared-call] orders called billing.Billing.charge() (1 time), but does not "
            "declare 'billing' in depends_on.",
            "  Fix: Add 'billing' to depends_on of module 'orders', or react to billing's events "
            "instead of calling it.",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "1 event handler failed during this test (mark it "
            "@pytest.mark.aura_allow_handler_errors or call published_events.expect_failures(...) "
            "if that is expected):",
            "  mailer:send_mail on 'legacy.order_noted' (*): OSError: smtp down",
        ]
    )


# --- a lato application --------------------------------------------------------------------------

LATO = {
    "shop/__init__.py": """
from lato import Application, ApplicationModule, Command, Event, TransactionContext


class PlaceOrder(Command):
    sku: str
    quantity: int


class OrderPlaced(Event):
    sku: str
    quantity: int


class ShipmentPrepared(Event):
    sku: str


sales = ApplicationModule("sales")
shipping = ApplicationModule("shipping")


@sales.handler(PlaceOrder)
def place_order(command: PlaceOrder, ctx: TransactionContext) -> None:
    ctx.publish(OrderPlaced(sku=command.sku, quantity=command.quantity))


@shipping.handler(OrderPlaced)
def prepare_shipment(event: OrderPlaced, ctx: TransactionContext) -> None:
    if event.quantity > 10:
        raise ValueError("too many to ship at once")
    ctx.publish(ShipmentPrepared(sku=event.sku))


def create_app() -> Application:
    app = Application("shop")
    app.include_submodule(sales)
    app.include_submodule(shipping)
    return app
""",
    "conftest.py": '''
import time
from typing import Any

import pytest
from lato import Application, Event, TransactionContext

from aura.context import correlation_scope, event_scope, get_correlation_id
from aura.naming import snake_case
from aura.testing.bridge import Bridge
from shop import create_app


def event_type_of(event: Event) -> str:
    """OrderPlaced -> "order.placed": the first word names what the event is about."""
    return snake_case(type(event).__name__).replace("_", ".", 1)


class RecordingContext(TransactionContext):
    """lato's transaction context, telling an Aura bridge what the application does.

    Each published event is recorded (its data the message's fields, its source the module
    whose handler published it); each handler that receives one, a delivery; each command or
    query a handler executes, a call to the handler's module.
    """

    def __init__(self, bridge: Bridge, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bridge = bridge
        self.recorded = {}  # lato message id -> Aura event
        self.publishers = []  # the handler running when each publish began

    def publish(self, message: Any, *args: Any, **kwargs: Any) -> Any:
        publisher = self.current_handler
        if isinstance(message, Event):
            self.recorded[message.id] = self.bridge.record_event(
                event_type_of(message),
                message.model_dump(mode="json", exclude={"id"}),
                publisher.source if publisher else "app",
                event_id=str(message.id),
            )
        self.publishers.append(publisher)
        try:
            return super().publish(message, *args, **kwargs)
        finally:
            self.publishers.pop()
            self.current_handler = publisher  # lato leaves the last handler set

    def call(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        handler = self.current_handler
        if not self.publishers or handler is None or handler.fn is not func:
            return super().call(func, *args, **kwargs)  # a plain app.call(), not a handler
        message, publisher = self["message"], self.publishers[-1]
        event = self.recorded.get(message.id)
        if event is None:  # a command or a query: a call to the handler's module, in one flow
            caller = publisher.source if publisher else None
            name = type(message).__name__
            call = self.bridge.recorded_call(caller, handler.source, name, func.__name__)
            with correlation_scope(get_correlation_id()), call:
                return super().call(func, *args, **kwargs)
        started, error = time.perf_counter(), None
        try:
            with event_scope(event):  # what the handler publishes is caused by the event
                return super().call(func, *args, **kwargs)
        except Exception as raised:
            error = raised
            raise
        finally:
            took = time.perf_counter() - started
            self.bridge.record_delivery(
                event, handler.source, func.__name__, duration=took, error=error
            )


def record_lato(app: Application, bridge: Bridge) -> None:
    """Make every transaction context of ``app`` a RecordingContext feeding ``bridge``."""

    @app.on_create_transaction_context
    def create(**dependencies: Any) -> RecordingContext:
        provider = app.dependency_provider.copy(**dependencies)
        return RecordingContext(bridge, dependency_provider=provider)

    bridge.on_close(lambda: app.on_create_transaction_context(None))


@pytest.fixture
def app(aura_bridge: Bridge) -> Application:
    app = create_app()
    record_lato(app, aura_bridge)
    return app
''',
}


@pytest.fixture
def lato_shop(pytester: pytest.Pytester) -> pytest.Pytester:
    pytest.importorskip("lato", reason="the lato example needs lato (the bench extra)")
    return project(pytester, LATO)


LATO_TESTS = """
from shop import PlaceOrder


def test_an_order_is_placed_and_shipped(app, published_events, service_calls):
    app.execute(PlaceOrder(sku="apple", quantity=2))

    published_events.assert_sequence(["order.placed", "shipment.prepared"])
    published_events.assert_published("order.placed", sku="apple", quantity=2)
    published_events.from_module("shipping").one()
    published_events.assert_correlated()
    service_calls.assert_called("sales", "PlaceOrder", "place_order", caller=None)
"""


def test_a_lato_application_is_asserted_on_like_a_platform(lato_shop: pytest.Pytester) -> None:
    result = run(lato_shop, LATO_TESTS)

    result.assert_outcomes(passed=1)


def test_a_failing_lato_handler_shows_in_the_trace(lato_shop: pytest.Pytester) -> None:
    result = run(
        lato_shop,
        """
import pytest
from shop import PlaceOrder


def test_flow(app, published_events):
    with pytest.raises(ValueError):
        app.execute(PlaceOrder(sku="apple", quantity=11))
    published_events.assert_published("shipment.prepared")
""",
    )

    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected an event 'shipment.prepared'; 0 matched among 0 of "
            "that type.",
            "*- aura trace -*",
            "   call (outside any module) -> sales.PlaceOrder.place_order() raised ValueError: "
            "too many to ship at once (*ms)",
            '     #1 order.placed from sales {"sku": "apple", "quantity": 11} correlation=*',
            "     -> #1 to shipping:prepare_shipment FAILED ValueError: too many to ship at once",
        ]
    )

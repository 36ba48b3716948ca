"""The bridge for code not on Aura yet, and its blinker and Django signal adapters, on a bare
Trace (the fixtures and ``published_events`` end to end: tests/plugin/test_bridge_plugin.py)."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from aura import context
from aura.bus import EventBus
from aura.events import Event, EventCatalog, FrozenDict
from aura.exceptions import (
    ConfigurationError,
    DisposalError,
    EventValidationError,
    InvalidEventTypeError,
    InvalidNameError,
)
from aura.testing import PublishedEvents, ServiceCalls, Trace
from aura.testing import bridge as bridging
from aura.testing.bridge import Bridge, current_bridge, record_call, record_event, recorded_call
from aura.testing.export import trace_to_json, trace_to_mermaid


@pytest.fixture
def trace() -> Trace:
    return Trace()


@pytest.fixture
def bridge(trace: Trace) -> Iterator[Bridge]:
    with Bridge(trace) as bridge:
        yield bridge


# --- events ---------------------------------------------------------------------------------


def test_a_recorded_event_is_a_real_envelope_in_the_trace(bridge: Bridge, trace: Trace) -> None:
    event = bridge.record_event("order.placed", {"sku": "apple", "lines": [1, 2]}, "orders")

    assert isinstance(event, Event)
    assert (event.event_type, event.source_module) == ("order.placed", "orders")
    assert isinstance(event.data, FrozenDict)
    assert event.data == {"sku": "apple", "lines": (1, 2)}
    assert event.correlation_id == event.event_id  # it starts a flow, as a publish does
    assert (event.causation_id, event.user_id) == (None, None)
    assert trace.events() == [event]
    assert trace.numbers[event.event_id] == 1


def test_a_recorded_event_takes_correlation_cause_and_user_from_the_context(
    bridge: Bridge,
) -> None:
    bus = EventBus(catalog=EventCatalog())
    recorded: list[Event] = []
    bus.subscribe(
        "user.signed_up",
        lambda data: recorded.append(bridge.record_event("crm.contact_added", {}, "crm")),
        "crm",
    )
    with context.correlation_scope("flow-1"):
        cause = bus.publish("user.signed_up", {"id": 7}, "users", metadata={"user_id": 7})

    (event,) = recorded
    assert (event.correlation_id, event.causation_id, event.user_id) == (
        "flow-1",
        cause.event_id,
        7,
    )


def test_given_metadata_wins_over_the_context(bridge: Bridge) -> None:
    moment = datetime(2024, 5, 1, 12, tzinfo=UTC)
    with context.correlation_scope("ignored"):
        event = bridge.record_event(
            "order.placed",
            {},
            "orders",
            correlation_id="given",
            causation_id="cause",
            user_id="u-1",
            metadata={"channel": "web"},
            event_id="0b5e9a3c-1d2e-4f00-8a00-000000000001",
            timestamp=moment,
        )

    assert dict(event.metadata) == {
        "channel": "web",
        "correlation_id": "given",
        "causation_id": "cause",
        "user_id": "u-1",
    }
    assert (event.event_id, event.timestamp) == ("0b5e9a3c-1d2e-4f00-8a00-000000000001", moment)


def test_bridged_events_take_their_place_among_the_platforms_own(
    bridge: Bridge, trace: Trace
) -> None:
    bus = EventBus(catalog=EventCatalog())
    trace.attach(bus)
    bus.publish("order.placed", {"sku": "apple"}, "orders")
    bridge.record_event("legacy.invoice_sent", {"invoice": 12}, "billing")
    bus.publish("order.shipped", {"sku": "apple"}, "orders")
    published = PublishedEvents(trace)

    assert published.types() == ["order.placed", "legacy.invoice_sent", "order.shipped"]
    published.assert_published("legacy.invoice_sent", invoice=12)
    published.assert_sequence(["order.placed", "legacy.invoice_sent"])


def test_bridged_events_show_in_the_text_json_and_mermaid_traces(
    bridge: Bridge, trace: Trace
) -> None:
    with context.correlation_scope("abcdef0123"):
        bridge.record_event("legacy.invoice_sent", {"invoice": 12}, "billing")

    assert trace.render() == (
        '#1 legacy.invoice_sent from billing {"invoice": 12} correlation=abcdef01'
    )
    (entry,) = trace_to_json(trace)
    assert (entry["kind"], entry["number"], entry["event_type"], entry["data"]) == (
        "event",
        1,
        "legacy.invoice_sent",
        {"invoice": 12},
    )
    mermaid = trace_to_mermaid(trace)
    assert "participant billing" in mermaid
    assert "legacy.invoice_sent" in mermaid


def test_an_invalid_event_type_is_refused(bridge: Bridge) -> None:
    with pytest.raises(InvalidEventTypeError) as raised:
        bridge.record_event("OrderPlaced", {}, "orders")

    assert str(raised.value) == (
        "Invalid event type 'OrderPlaced': expected dotted lowercase words such as "
        "'therapy_session.scheduled' (letters, digits and underscores, each word starting with a "
        "letter, at least two words). Rename the event type."
    )


def test_an_invalid_source_module_is_refused(bridge: Bridge) -> None:
    with pytest.raises(InvalidNameError) as raised:
        bridge.record_event("order.placed", {}, "Legacy Orders")

    assert str(raised.value) == (
        "Invalid source module name 'Legacy Orders': expected a lowercase identifier such as "
        "'notifications' or 'mental_health'. Use the module's package name."
    )


def test_data_that_is_not_json_is_refused_and_nothing_is_recorded(
    bridge: Bridge, trace: Trace
) -> None:
    with pytest.raises(EventValidationError) as raised:
        bridge.record_event("order.placed", {"at": datetime(2024, 1, 1)}, "orders")

    assert str(raised.value) == (
        "Event data is not JSON: data['at'] is a datetime (datetime.datetime(2024, 1, 1, 0, 0)). "
        "Send only str, int, float, bool, None, lists and dicts (for a datetime, send "
        "value.isoformat())."
    )
    assert trace.entries == []


def test_a_recorded_delivery_shows_who_received_an_event_and_how_it_ended(
    bridge: Bridge, trace: Trace
) -> None:
    event = bridge.record_event("order.placed", {"sku": "apple"}, "sales")
    bridge.record_delivery(event, "shipping", "ship", duration=0.002)
    bridge.record_delivery(event, "billing", "bill", duration=0.001, error=KeyError("card"))

    assert [(d.subscriber_module, d.succeeded) for d in trace.deliveries()] == [
        ("shipping", True),
        ("billing", False),
    ]
    assert [d.handler_name for d in PublishedEvents(trace).failed_deliveries()] == ["bill"]
    assert trace.render().splitlines()[1:] == [
        "     -> #1 to shipping:ship ok",
        "     -> #1 to billing:bill FAILED KeyError: 'card'",
    ]
    mermaid = trace_to_mermaid(trace)
    assert "sales-)shipping" in mermaid
    assert "sales-xbilling" in mermaid


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (
            ({"event_type": "order.placed"}, "shipping", "ship"),
            ConfigurationError,
            "record_delivery needs the recorded aura.events.Event, got dict ({'event_type': "
            "'order.placed'}). Pass what record_event returned.",
        ),
        (
            (None, "Shipping", "ship"),
            InvalidNameError,
            "Invalid subscriber module name 'Shipping': expected a lowercase identifier such as "
            "'notifications' or 'mental_health'. Use the module's package name.",
        ),
        (
            (None, "shipping", ""),
            ConfigurationError,
            "A recorded delivery's handler_name must be the handler's name, got ''. Pass e.g. "
            "handler.__qualname__.",
        ),
    ],
)
def test_a_delivery_that_cannot_be_recorded_is_refused(
    bridge: Bridge, arguments: tuple[Any, ...], error: type[Exception], message: str
) -> None:
    event = bridge.record_event("order.placed", {}, "sales")
    given = (arguments[0] if arguments[0] is not None else event, *arguments[1:])
    with pytest.raises(error) as raised:
        bridge.record_delivery(*given, duration=0)

    assert str(raised.value) == message


def test_a_delivery_with_a_bad_duration_is_refused(bridge: Bridge) -> None:
    event = bridge.record_event("order.placed", {}, "sales")
    with pytest.raises(ConfigurationError) as raised:
        bridge.record_delivery(event, "shipping", "ship", duration=-0.5)

    assert str(raised.value) == (
        "A recorded delivery's duration must be a number of seconds, 0 or more, got -0.5. Pass "
        "the time it took."
    )


# --- calls ----------------------------------------------------------------------------------


def test_a_recorded_call_is_a_service_call_in_the_trace(bridge: Bridge, trace: Trace) -> None:
    failure = LookupError("no card")
    with context.correlation_scope("flow-2"):
        call = bridge.record_call("orders", "billing", "Billing", "charge", duration=0.25)
        failed = bridge.record_call(None, "billing", "Billing", "refund", duration=0, error=failure)
    calls = ServiceCalls(trace)

    assert trace.calls() == [call, failed]
    assert (call.caller_module, call.duration, call.error, call.correlation_id) == (
        "orders",
        0.25,
        None,
        "flow-2",
    )
    calls.assert_called("billing", "Billing", "charge", times=1, caller="orders")
    assert [c.outcome for c in calls.failed()] == ["LookupError"]
    assert trace.render().splitlines() == [
        "   call orders -> billing.Billing.charge() ok (250.00 ms)",
        "   call (outside any module) -> billing.Billing.refund() raised LookupError: no card "
        "(0.00 ms)",
    ]


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        (
            ("Orders", "billing", "Billing", "charge"),
            InvalidNameError,
            "Invalid caller module name 'Orders': expected a lowercase identifier such as "
            "'notifications' or 'mental_health'. Use the module's package name.",
        ),
        (
            ("orders", "billing-api", "Billing", "charge"),
            InvalidNameError,
            "Invalid provider module name 'billing-api': expected a lowercase identifier such as "
            "'notifications' or 'mental_health'. Use the module's package name.",
        ),
        (
            ("orders", "billing", "Billing Service", "charge"),
            InvalidNameError,
            "Invalid service name 'Billing Service': expected an identifier such as "
            "'BillingService'. Name it after the service's class.",
        ),
        (
            ("orders", "billing", "Billing", "charge()"),
            InvalidNameError,
            "Invalid method name 'charge()': expected an identifier such as 'charge'. Name it "
            "after the method called.",
        ),
    ],
)
def test_a_call_with_a_bad_name_is_refused(
    bridge: Bridge, arguments: tuple[str, ...], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as raised:
        bridge.record_call(*arguments, duration=0.1)

    assert str(raised.value) == message


@pytest.mark.parametrize("duration", [-1, float("nan"), "1s", True])
def test_a_call_with_a_bad_duration_is_refused(bridge: Bridge, duration: Any) -> None:
    with pytest.raises(ConfigurationError) as raised:
        bridge.record_call("orders", "billing", "Billing", "charge", duration=duration)

    assert str(raised.value) == (
        f"A recorded call's duration must be a number of seconds, 0 or more, got {duration!r}. "
        "Pass the time it took, or time it with recorded_call(...)."
    )


def test_a_call_whose_error_is_not_an_exception_is_refused(bridge: Bridge) -> None:
    with pytest.raises(ConfigurationError) as raised:
        bridge.record_call("orders", "billing", "Billing", "charge", duration=0, error="boom")  # type: ignore[arg-type]

    assert str(raised.value) == (
        "A recorded call's error must be the exception it raised, or None, got str ('boom'). "
        "Pass the exception object itself."
    )


def test_recorded_call_times_a_block_and_keeps_what_it_raised(bridge: Bridge, trace: Trace) -> None:
    with bridge.recorded_call("orders", "billing", "Billing", "charge"):
        pass
    with (
        pytest.raises(ValueError, match="declined"),
        bridge.recorded_call("orders", "billing", "Billing", "charge"),
    ):
        raise ValueError("declined")

    ok, failed = trace.calls()
    assert (ok.error, ok.duration >= 0) == (None, True)
    assert isinstance(failed.error, ValueError)
    assert str(failed.error) == "declined"


def test_recorded_call_decorates_plain_and_async_functions(bridge: Bridge, trace: Trace) -> None:
    @bridge.recorded_call(None, "billing", "Billing", "charge")
    def charge(amount: int) -> str:
        return f"charged {amount}"

    @bridge.recorded_call(None, "billing", "Billing", "refund")
    async def refund(amount: int) -> str:
        if amount < 0:
            raise ValueError("negative")
        return f"refunded {amount}"

    assert charge(3) == "charged 3"
    assert asyncio.run(refund(2)) == "refunded 2"
    with pytest.raises(ValueError, match="negative"):
        asyncio.run(refund(-1))

    assert [(c.method, c.outcome) for c in trace.calls()] == [
        ("charge", "ok"),
        ("refund", "ok"),
        ("refund", "ValueError"),
    ]
    assert charge.__name__ == "charge"


def test_recorded_call_takes_its_place_when_it_starts_and_nests_what_it_causes(
    bridge: Bridge, trace: Trace
) -> None:
    with bridge.recorded_call("orders", "billing", "Billing", "charge"):
        bridge.record_event("payment.taken", {"amount": 6}, "billing")
    bridge.record_event("order.placed", {}, "orders")

    assert [(e.kind, e.parent, e.depth) for e in trace.entries] == [
        ("call", None, 0),
        ("event", 0, 1),
        ("event", None, 0),
    ]
    assert trace.render().splitlines()[1] == (
        '     #1 payment.taken from billing {"amount": 6} correlation='
        + trace.events()[0].event_id[:8]
    )


def test_a_trace_that_records_calls_only_when_they_end_gets_them_at_their_end() -> None:
    class EndsOnly(Trace):
        start_call = None  # a trace without the start of calls (an observer of one's own)

    trace = EndsOnly()
    with Bridge(trace) as bridge, bridge.recorded_call(None, "billing", "Billing", "charge"):
        bridge.record_event("payment.taken", {}, "billing")

    assert [e.kind for e in trace.entries] == ["event", "call"]
    assert trace.calls()[0].duration >= 0


def test_recorded_call_checks_its_names_where_it_is_written() -> None:
    with pytest.raises(InvalidNameError) as raised:
        recorded_call(None, "Billing", "Billing", "charge")

    assert str(raised.value) == (
        "Invalid provider module name 'Billing': expected a lowercase identifier such as "
        "'notifications' or 'mental_health'. Use the module's package name."
    )


def test_recorded_call_measures_real_time_under_frozen_time(bridge: Bridge, trace: Trace) -> None:
    freezegun = pytest.importorskip("freezegun")
    with freezegun.freeze_time("2024-01-01"), bridge.recorded_call(None, "billing", "B", "slow"):
        threading.Event().wait(0.02)

    assert trace.calls()[0].duration >= 0.015


# --- the bridge in force --------------------------------------------------------------------


def test_the_module_functions_feed_the_bridge_in_force(bridge: Bridge, trace: Trace) -> None:
    event = record_event("order.placed", {"sku": "apple"}, "orders")
    call = record_call("orders", "billing", "Billing", "charge", duration=0.1)

    assert current_bridge() is bridge
    assert trace.events() == [event]
    assert trace.calls() == [call]


def test_without_a_bridge_in_force_the_module_functions_check_and_keep_nothing() -> None:
    assert current_bridge() is None
    event = record_event("order.placed", {"sku": "apple"}, "orders")
    call = record_call("orders", "billing", "Billing", "charge", duration=0.1)

    assert (event.event_type, call.method) == ("order.placed", "charge")
    with pytest.raises(InvalidEventTypeError):
        record_event("Order", {}, "orders")


def test_a_decorator_applied_at_import_time_records_into_the_bridge_of_each_call() -> None:
    @recorded_call("orders", "billing", "Billing", "charge")
    def charge() -> str:
        return "done"

    assert charge() == "done"  # no bridge in force: nothing recorded, the call still works
    first, second = Trace(), Trace()
    with Bridge(first):
        charge()
    with Bridge(second):
        charge()
        charge()

    assert (len(first.calls()), len(second.calls())) == (1, 2)


def test_the_innermost_bridge_is_in_force_until_it_closes(trace: Trace) -> None:
    outer, inner = Bridge(trace), Bridge(Trace())
    with outer:
        with inner:
            assert current_bridge() is inner
        assert current_bridge() is outer
    assert current_bridge() is None


def test_events_from_another_thread_reach_the_bridge_in_force(bridge: Bridge, trace: Trace) -> None:
    worker = threading.Thread(target=record_event, args=("order.placed", {}, "orders"))
    worker.start()
    worker.join()

    assert [e.event_type for e in trace.events()] == ["order.placed"]


def test_closing_runs_each_callback_once_newest_first(trace: Trace) -> None:
    ran: list[str] = []
    bridge = Bridge(trace)
    bridge.on_close(lambda: ran.append("first"))
    bridge.on_close(lambda: ran.append("second"))
    bridge.close()
    bridge.close()

    assert ran == ["second", "first"]


def test_a_failing_close_callback_does_not_stop_the_others(trace: Trace) -> None:
    ran: list[str] = []

    def fail() -> None:
        raise RuntimeError("signal gone")

    bridge = Bridge(trace)
    bridge.on_close(lambda: ran.append("kept"))
    bridge.on_close(fail)
    with pytest.raises(DisposalError) as raised:
        bridge.close()

    assert str(raised.value) == (
        "1 of the bridge's close callbacks failed: RuntimeError: signal gone"
    )
    assert ran == ["kept"]


def test_a_bridge_needs_a_trace() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Bridge({})  # type: ignore[arg-type]

    assert str(raised.value) == (
        "Bridge(trace) needs an aura.testing.Trace to record into, got dict. Use the aura_bridge "
        "fixture, or pass Trace()."
    )


def test_bridge_for_names_the_caller_when_there_is_no_bridge() -> None:
    with pytest.raises(ConfigurationError) as raised:
        bridging.bridge_for(None, "bridge_signal")

    assert str(raised.value) == (
        "bridge_signal found no bridge in force, and none was given. Call it in a test that uses "
        "the aura_bridge fixture, or pass bridge=Bridge(trace)."
    )


def test_bridge_for_refuses_what_is_not_a_bridge() -> None:
    with pytest.raises(ConfigurationError) as raised:
        bridging.bridge_for("mine", "bridge_signal")  # type: ignore[arg-type]

    assert str(raised.value) == (
        "bridge_signal was given bridge='mine', which is not an aura.testing.bridge.Bridge. "
        "Pass the aura_bridge fixture, or leave bridge out to use the bridge in force."
    )


# --- the adapters -------------------------------------------------------------------------


def test_the_adapters_load_and_explain_without_their_libraries() -> None:
    script = (
        "import sys\n"
        "sys.modules['blinker'] = sys.modules['django'] = sys.modules['django.dispatch'] = None\n"
        "from aura.integrations import blinker, django_signals\n"
        "for adapter in (blinker, django_signals):\n"
        "    try:\n"
        "        adapter.bridge_signal(object(), 'order.placed', 'orders')\n"
        "    except Exception as error:\n"
        "        print(type(error).__name__, str(error).split(', got')[0])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        "ConfigurationError bridge_signal needs a blinker signal (blinker.Signal)",
        "ConfigurationError bridge_signal needs a Django signal (django.dispatch.Signal)",
    ]


# --- blinker --------------------------------------------------------------------------------


@pytest.fixture
def blinker() -> Any:
    return pytest.importorskip("blinker", reason="the blinker adapter needs blinker")


def test_each_blinker_send_is_recorded_as_an_event(
    blinker: Any, bridge: Bridge, trace: Trace
) -> None:
    from aura.integrations.blinker import bridge_signal

    placed = blinker.Signal()
    bridge_signal(placed, "order.placed", "orders")
    placed.send("shop", sku="apple", quantity=2)
    placed.send("shop", sku="pear", quantity=1)

    published = PublishedEvents(trace)
    assert [dict(e.data) for e in published] == [
        {"sku": "apple", "quantity": 2},
        {"sku": "pear", "quantity": 1},
    ]
    published.assert_published("order.placed", times=2)
    assert {e.source_module for e in published} == {"orders"}


def test_a_blinker_sender_and_send_can_be_mapped(
    blinker: Any, bridge: Bridge, trace: Trace
) -> None:
    from aura.integrations.blinker import bridge_signal

    class Shop:
        module = "checkout"

    saved = blinker.signal("aura-test-saved")
    bridge_signal(
        saved,
        "order.saved",
        lambda sender: sender.module,
        data=lambda sender, order: {"id": order["id"]},
    )
    saved.send(Shop(), order={"id": 9, "internal": object()})

    (event,) = trace.events()
    assert (event.source_module, dict(event.data)) == ("checkout", {"id": 9})


def test_a_blinker_bridge_can_listen_to_one_sender(
    blinker: Any, bridge: Bridge, trace: Trace
) -> None:
    from aura.integrations.blinker import bridge_signal

    placed = blinker.Signal()
    web, batch = object(), object()
    bridge_signal(placed, "order.placed", "orders", sender=web)
    placed.send(batch, n=1)
    placed.send(web, n=2)

    assert [e.data["n"] for e in trace.events()] == [2]


def test_the_blinker_receiver_lives_as_long_as_the_bridge(
    blinker: Any, bridge: Bridge, trace: Trace
) -> None:
    from aura.integrations.blinker import bridge_signal

    placed = blinker.Signal()
    bridge_signal(placed, "order.placed", "orders")
    gc.collect()  # blinker holds receivers weakly unless told otherwise
    placed.send(None, n=1)

    assert len(trace.events()) == 1


def test_after_the_bridge_closes_a_blinker_send_records_nothing(blinker: Any, trace: Trace) -> None:
    from aura.integrations.blinker import bridge_signal

    placed = blinker.Signal()
    with Bridge(trace):
        bridge_signal(placed, "order.placed", "orders")
        placed.send(None, n=1)
    placed.send(None, n=2)

    assert [e.data["n"] for e in trace.events()] == [1]
    assert not placed.receivers


def test_the_blinker_disconnect_stops_recording_and_may_be_called_twice(
    blinker: Any, bridge: Bridge, trace: Trace
) -> None:
    from aura.integrations.blinker import bridge_signal

    placed = blinker.Signal()
    disconnect = bridge_signal(placed, "order.placed", "orders")
    disconnect()
    disconnect()
    placed.send(None, n=1)

    assert trace.events() == []


def test_bridge_signal_refuses_what_is_not_a_blinker_signal(blinker: Any, bridge: Bridge) -> None:
    from aura.integrations.blinker import bridge_signal

    with pytest.raises(ConfigurationError) as raised:
        bridge_signal("order-placed", "order.placed", "orders")

    assert str(raised.value) == (
        "bridge_signal needs a blinker signal (blinker.Signal), got str ('order-placed'). Pass "
        "the signal itself, e.g. blinker.signal('order-placed')."
    )


def test_bridge_signal_refuses_a_data_mapper_that_is_not_callable(
    blinker: Any, bridge: Bridge
) -> None:
    from aura.integrations.blinker import bridge_signal

    with pytest.raises(ConfigurationError) as raised:
        bridge_signal(blinker.Signal(), "order.placed", "orders", data={"sku": "apple"})  # type: ignore[arg-type]

    assert str(raised.value) == (
        "data must be a function of (sender, **kwargs) returning the event's data, got dict "
        "({'sku': 'apple'}). Pass e.g. data=lambda sender, **kw: {'id': kw['id']}."
    )


def test_bridge_signal_refuses_an_invalid_event_type_at_once(blinker: Any, bridge: Bridge) -> None:
    from aura.integrations.blinker import bridge_signal

    placed = blinker.Signal()
    with pytest.raises(InvalidEventTypeError) as raised:
        bridge_signal(placed, "order-placed", "orders")

    assert str(raised.value).startswith("Invalid event type 'order-placed': expected dotted ")
    assert not placed.receivers


def test_bridge_signal_refuses_an_invalid_source_module_at_once(
    blinker: Any, bridge: Bridge
) -> None:
    from aura.integrations.blinker import bridge_signal

    with pytest.raises(InvalidNameError) as raised:
        bridge_signal(blinker.Signal(), "order.placed", "Orders")

    assert str(raised.value) == (
        "Invalid source module name 'Orders': expected a lowercase identifier such as "
        "'notifications' or 'mental_health'. Use the module's package name."
    )


def test_bridge_signal_refuses_a_source_module_that_is_neither_a_name_nor_a_function(
    blinker: Any, bridge: Bridge
) -> None:
    from aura.integrations.blinker import bridge_signal

    with pytest.raises(ConfigurationError) as raised:
        bridge_signal(blinker.Signal(), "order.placed", 7)  # type: ignore[arg-type]

    assert str(raised.value) == (
        "source_module must be a module name or a function of the sender returning one, got "
        "int (7). Pass e.g. 'orders'."
    )


def test_bridge_signal_needs_a_bridge(blinker: Any) -> None:
    from aura.integrations.blinker import bridge_signal

    with pytest.raises(ConfigurationError, match=r"^bridge_signal found no bridge in force"):
        bridge_signal(blinker.Signal(), "order.placed", "orders")


def test_a_blinker_send_whose_data_is_not_json_fails_the_send_with_the_fix(
    blinker: Any, bridge: Bridge, trace: Trace
) -> None:
    from aura.integrations.blinker import bridge_signal

    placed = blinker.signal("aura-test-placed")
    bridge_signal(placed, "order.placed", "orders")
    with pytest.raises(EventValidationError) as raised:
        placed.send(None, order=object)

    assert str(raised.value) == (
        "Cannot record a send of the blinker signal 'aura-test-placed' as 'order.placed': Event "
        "data is not JSON: data['order'] is a type (<class 'object'>). Send only str, int, "
        "float, bool, None, lists and dicts. Pass data=...: a function of (sender, **kwargs) "
        "returning the event's JSON data."
    )
    assert trace.events() == []


def test_a_blinker_sender_mapped_to_an_invalid_module_fails_the_send_with_the_fix(
    blinker: Any, bridge: Bridge
) -> None:
    from aura.integrations.blinker import bridge_signal

    placed = blinker.Signal()
    bridge_signal(placed, "order.placed", lambda sender: sender)
    with pytest.raises(InvalidNameError) as raised:
        placed.send("Web Shop")

    assert str(raised.value) == (
        "Cannot record a send of a blinker signal as 'order.placed': Invalid source module name "
        "'Web Shop': expected a lowercase identifier such as 'notifications' or "
        "'mental_health'. Use the module's package name. Pass source_module=...: a module name, "
        "or a function of the sender returning one."
    )


# --- Django signals -------------------------------------------------------------------------


@pytest.fixture
def needs_django() -> None:
    pytest.importorskip("django", reason="the Django adapter needs Django (the django extra)")


class _Meta:
    label = "shop.Order"
    app_label = "shop"


class Order:
    """Stands for a Django model: what post_save's receivers read of one."""

    _meta = _Meta()

    def __init__(self, pk: object) -> None:
        self.pk = pk


def test_each_django_send_is_recorded_as_an_event(
    needs_django: None, bridge: Bridge, trace: Trace
) -> None:
    from django.dispatch import Signal

    from aura.integrations.django_signals import bridge_signal

    paid = Signal()
    bridge_signal(paid, "invoice.paid", "billing")
    paid.send(sender=None, invoice=12, amount=30)

    (event,) = trace.events()
    assert (event.event_type, event.source_module, dict(event.data)) == (
        "invoice.paid",
        "billing",
        {"invoice": 12, "amount": 30},
    )


def test_post_save_is_recorded_with_the_model_label_pk_and_created(
    needs_django: None, bridge: Bridge, trace: Trace
) -> None:
    from django.db.models.signals import post_save

    from aura.integrations.django_signals import bridge_signal

    bridge_signal(post_save, "order.saved", sender=Order)
    post_save.send(sender=Order, instance=Order(7), created=True, raw=False, using="default")
    post_save.send(sender=Order, instance=Order(uuid.UUID(int=5)), created=False)
    post_save.send(sender=_Meta, instance=Order(8), created=True)  # another sender: not bridged

    assert [(e.source_module, dict(e.data)) for e in trace.events()] == [
        ("shop", {"model": "shop.Order", "pk": 7, "created": True}),
        (
            "shop",
            {"model": "shop.Order", "pk": "00000000-0000-0000-0000-000000000005", "created": False},
        ),
    ]


def test_a_django_send_can_be_mapped_with_model_data_and_more(
    needs_django: None, bridge: Bridge, trace: Trace
) -> None:
    from django.db.models.signals import post_save

    from aura.integrations.django_signals import bridge_signal, model_data

    def with_total(sender: Any, **kwargs: Any) -> dict[str, Any]:
        return {**model_data(sender, **kwargs), "total": kwargs["instance"].pk * 10}

    bridge_signal(post_save, "order.saved", "orders", data=with_total, sender=Order)
    post_save.send(sender=Order, instance=Order(3), created=True)

    assert dict(trace.events()[0].data) == {
        "model": "shop.Order",
        "pk": 3,
        "created": True,
        "total": 30,
    }


def test_the_django_receiver_lives_as_long_as_the_bridge_and_accepts_kwargs(
    needs_django: None, bridge: Bridge, trace: Trace
) -> None:
    from django.dispatch import Signal
    from django.utils.inspect import func_accepts_kwargs

    from aura.integrations.django_signals import bridge_signal

    paid = Signal()
    bridge_signal(paid, "invoice.paid", "billing")
    gc.collect()  # Django holds receivers weakly unless told otherwise
    paid.send(sender=None, invoice=1)

    assert len(trace.events()) == 1
    ((_, receiver, _),) = paid.receivers
    assert func_accepts_kwargs(receiver)  # what Django checks of receivers with DEBUG on


def test_after_the_bridge_closes_a_django_send_records_nothing(
    needs_django: None, trace: Trace
) -> None:
    from django.db.models.signals import post_save

    from aura.integrations.django_signals import bridge_signal

    with Bridge(trace):
        bridge_signal(post_save, "order.saved", sender=Order)
    post_save.send(sender=Order, instance=Order(1), created=True)

    assert trace.events() == []
    assert not post_save.has_listeners(Order)


def test_django_bridge_signal_refuses_what_is_not_a_django_signal(
    needs_django: None, bridge: Bridge
) -> None:
    import django.dispatch  # noqa: F401  # loaded, as it is wherever a Django signal exists

    from aura.integrations.django_signals import bridge_signal

    with pytest.raises(ConfigurationError) as raised:
        bridge_signal("post_save", "order.saved")

    assert str(raised.value) == (
        "bridge_signal needs a Django signal (django.dispatch.Signal), got str ('post_save'). "
        "Pass the signal itself, e.g. django.db.models.signals.post_save."
    )


def test_a_django_send_from_a_sender_that_is_not_a_model_needs_a_source_module(
    needs_django: None, bridge: Bridge, trace: Trace
) -> None:
    from django.dispatch import Signal

    from aura.integrations.django_signals import bridge_signal

    shipped = Signal()
    bridge_signal(shipped, "order.shipped")
    with pytest.raises(ConfigurationError) as raised:
        shipped.send(sender="orders", order=1)

    assert str(raised.value) == (
        "Cannot record a send of a Django signal as 'order.shipped': its sender 'orders' "
        "is not a model, so no app label names the source module. Pass source_module=...: a "
        "module name, or a function of the sender returning one."
    )
    assert trace.events() == []


def test_a_django_send_whose_data_is_not_a_dict_fails_the_send_naming_the_signal(
    needs_django: None, bridge: Bridge, trace: Trace
) -> None:
    from django.db.models.signals import post_save

    from aura.integrations.django_signals import bridge_signal

    bridge_signal(post_save, "order.saved", data=lambda sender, **kwargs: [kwargs["created"]])
    with pytest.raises(EventValidationError) as raised:
        post_save.send(sender=Order, instance=Order(1), created=True)

    assert str(raised.value) == (
        "Cannot record a send of Django's post_save signal as 'order.saved': Event data for "
        "'order.saved' must be a dict, got list ([True]). Wrap the value in a dict such as "
        "{'value': ...}. Pass data=...: a function of (sender, **kwargs) returning the event's "
        "JSON data."
    )

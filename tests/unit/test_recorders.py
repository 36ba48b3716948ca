"""The harness's recorders, matchers, fakes and trace export, on a bare bus and registry."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aura import context
from aura.breaker import CircuitBreaker
from aura.bus import EventBus
from aura.events import EventCatalog
from aura.exceptions import CircuitBreakerOpenError, FakeNotConfiguredError
from aura.module import Module
from aura.registry import ServiceRegistry
from aura.testing import ANY, PublishedEvents, RecordingFake, ServiceCalls, Trace, where
from aura.testing.export import trace_to_json, trace_to_mermaid, write_trace
from aura.testing.fakes import stand_in_module
from aura.testing.matching import matches, mismatches


class PricingContract(ABC):
    @abstractmethod
    def price_of(self, sku: str) -> int: ...

    @abstractmethod
    async def reprice(self, sku: str, price: int) -> None: ...


class Pricing(PricingContract):
    def price_of(self, sku: str) -> int:
        if sku == "bad":
            raise LookupError("no such sku")
        return 3

    async def reprice(self, sku: str, price: int) -> None:
        return None


@pytest.fixture
def bus() -> EventBus:
    return EventBus(catalog=EventCatalog())


@pytest.fixture
def registry() -> ServiceRegistry:
    registry = ServiceRegistry()
    registry.register_service(
        "pricing",
        "Pricing",
        Pricing,
        contract=PricingContract,
        breaker=CircuitBreaker(failure_threshold=1, name="pricing.Pricing"),
    )
    return registry


@pytest.fixture
def trace(bus: EventBus, registry: ServiceRegistry) -> Trace:
    return Trace().attach(bus, registry)


def failure(call: Any) -> str:
    with pytest.raises(AssertionError) as caught:
        call()
    return str(caught.value)


# --- matching ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "expected", "rendered"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1, "b": 2}, {"a": ANY}, []),
        ({"a": {"b": [1, 2]}}, {"a": {"b": [1, 3]}}, ["a.b[1]=2 (≠ 3)"]),
        ({"a": [1]}, {"a": [1, 2]}, ["a=[1] (≠ [1, 2])"]),
        ({"a": "xy"}, {"a": ["x", "y"]}, ["a='xy' (≠ ['x', 'y'])"]),
        ({}, {"a": 1}, ["a missing (expected 1)"]),
        ({"a": 5}, {"a": where(lambda v: v > 9, "big")}, ["a=5 (≠ <big>)"]),
        ({"a": "x"}, {"a": where(lambda v: v > 9)}, ["a='x' (≠ <<lambda>>)"]),
        ({"a": 1}, {"a": {"b": 1}}, ["a=1 (≠ {'b': 1})"]),
        (
            {"at": "2030-01-07T10:00:00+00:00"},
            {"at": datetime(2030, 1, 7, 10, tzinfo=UTC)},
            [],
        ),
        ({"at": "soon"}, {"at": datetime(2030, 1, 7, tzinfo=UTC)}, ["at='soon' (≠ datetime"]),
        (
            {"at": "2030-01-08T10:00:00+00:00"},
            {"at": datetime(2030, 1, 7, 10, tzinfo=UTC)},
            ["at='2030-01-08T10:00:00+00:00' (≠ datetime"],
        ),
        ({"text": "x" * 100}, {"text": "y"}, [f"text='{'x' * 76}... (≠ 'y')"]),
    ],
)
def test_mismatches_name_each_differing_field(
    actual: dict[str, Any], expected: dict[str, Any], rendered: list[str]
) -> None:
    found = [m.render() for m in mismatches(actual, expected)]
    assert len(found) == len(rendered)
    for line, start in zip(found, rendered, strict=True):
        assert line.startswith(start)
    assert matches(actual, expected) is (not rendered)


def test_any_equals_everything() -> None:
    assert ANY == 3
    assert repr(ANY) == "ANY"
    assert hash(ANY) == hash(ANY)


# --- published events ----------------------------------------------------------------------------


def test_published_events_is_a_sequence_with_queries(bus: EventBus, trace: Trace) -> None:
    events = PublishedEvents(trace)
    first = bus.publish("order.placed", {"sku": "a"}, "orders")
    bus.publish("order.shipped", {"sku": "a"}, "shipping")
    assert len(events) == 2
    assert events[0] is first
    assert list(events[1:]) == [events.last()]
    assert first in events
    assert "order.shipped" in events
    assert "order.lost" not in events
    assert repr(events) == "<PublishedEvents ['order.placed', 'order.shipped']>"
    assert events.from_module("shipping").types() == ["order.shipped"]


def test_first_last_and_one_fail_clearly_on_an_empty_recording(trace: Trace) -> None:
    events = PublishedEvents(trace)
    assert (
        failure(events.first)
        == "Expected at least one event; none was recorded.\nRecorded events: none."
    )
    assert failure(events.last).startswith("Expected at least one event")
    assert failure(events.one) == "Expected exactly one event; found 0.\nFound events: none."


def test_one_lists_what_was_found(bus: EventBus, trace: Trace) -> None:
    bus.publish("order.placed", {"n": 1}, "orders")
    bus.publish("order.placed", {"n": 2}, "orders")
    lines = failure(PublishedEvents(trace).one).splitlines()
    assert lines[:2] == ["Expected exactly one event; found 2.", "Found events (2):"]
    assert lines[2].startswith('  #1 order.placed from orders {"n": 1} correlation=')


def test_assert_published_counts_times(bus: EventBus, trace: Trace) -> None:
    events = PublishedEvents(trace)
    bus.publish("order.placed", {"n": 1}, "orders")
    bus.publish("order.placed", {"n": 2}, "orders")
    assert len(events.assert_published("order.placed", times=2)) == 2
    lines = failure(lambda: events.assert_published("order.placed", times=1)).splitlines()
    assert lines[0] == "Expected 1 event 'order.placed'; 2 matched among 2 of that type:"
    assert lines[1].startswith('  #1 order.placed from orders {"n": 1}')  # the matches, listed
    assert lines[2].startswith('  #2 order.placed from orders {"n": 2}')
    assert lines[3] == "Recorded events (2):"
    message = failure(lambda: events.assert_published("order.lost", times=3, n=1))
    assert message.splitlines()[0] == (
        "Expected 3 events 'order.lost' with n=1; 0 matched among 0 of that type."
    )


def test_assert_not_published_shows_the_offenders(bus: EventBus, trace: Trace) -> None:
    events = PublishedEvents(trace)
    bus.publish("order.placed", {"n": 1}, "orders")
    events.assert_not_published("order.placed", n=2)
    lines = failure(lambda: events.assert_not_published("order.placed", n=1)).splitlines()
    assert lines[0] == "Expected no event 'order.placed' with n=1; 1 was published:"
    assert lines[1].startswith('  #1 order.placed from orders {"n": 1}')


def test_assert_sequence_matches_an_ordered_subsequence(bus: EventBus, trace: Trace) -> None:
    events = PublishedEvents(trace)
    for event_type in ("a.one", "b.two", "a.three", "c.four"):
        bus.publish(event_type, {}, "mod")
    events.assert_sequence(["a.one", "a.three", "c.four"])
    message = failure(lambda: events.assert_sequence(["a.one", "c.four", "b.two"]))
    assert message.splitlines()[0] == (
        "Expected the events in order: a.one -> c.four -> b.two; matched a.one -> c.four, then "
        "no 'b.two' followed."
    )
    message = failure(lambda: events.assert_sequence(["z.zero"]))
    assert "matched nothing, then no 'z.zero' followed." in message


def test_assert_correlated_checks_one_correlation_and_the_causation_chain(
    bus: EventBus, trace: Trace
) -> None:
    events = PublishedEvents(trace)
    bus.subscribe("order.placed", lambda d: bus.publish("order.billed", {}, "billing"), "billing")
    bus.publish("order.placed", {}, "orders")
    events.assert_correlated()
    bus.publish("order.placed", {}, "orders")
    assert failure(events.assert_correlated).startswith(
        "Expected one correlation id across the flow; found 2."
    )


def test_assert_correlated_refuses_a_broken_chain(bus: EventBus, trace: Trace) -> None:
    events = PublishedEvents(trace)
    with context.correlation_scope("flow"):
        bus.publish("order.placed", {}, "orders")
        bus.publish("order.billed", {}, "billing")
    assert failure(events.assert_correlated).startswith(
        "Expected an unbroken causation chain; #2 order.billed was not caused by a recorded "
        "event (causation_id=None)."
    )


def test_expected_failures_filter_by_module_and_type(bus: EventBus, trace: Trace) -> None:
    def boom(data: Any) -> None:
        raise RuntimeError("x")

    bus.subscribe("order.placed", boom, "billing")
    bus.subscribe("order.placed", boom, "shipping")
    bus.publish("order.placed", {}, "orders")
    events = PublishedEvents(trace)
    assert len(events.unexpected_failures()) == 2
    events.expect_failures("billing")
    assert [d.subscriber_module for d in events.unexpected_failures()] == ["shipping"]
    events.expect_failures(event_type="order.placed")
    assert events.unexpected_failures() == []


# --- service calls and breakers ------------------------------------------------------------------


def test_service_calls_and_breaker_transitions_are_traced(
    registry: ServiceRegistry, trace: Trace
) -> None:
    calls = ServiceCalls(trace)
    with context.module_scope("orders"):
        pricing = registry.get_service("pricing", "Pricing")
        assert pricing.price_of("a") == 3
        with pytest.raises(LookupError):
            pricing.price_of("bad")
        with pytest.raises(CircuitBreakerOpenError):
            pricing.price_of("a")
    assert len(calls) == 3
    assert calls[0].method == "price_of"
    assert [c.outcome for c in calls.failed()] == ["LookupError", "CircuitBreakerOpenError"]
    assert repr(calls).startswith("<ServiceCalls ['pricing.Pricing.price_of'")
    rendered = trace.render().splitlines()
    assert rendered[1].startswith(
        "   call orders -> pricing.Pricing.price_of() raised LookupError: no such sku ("
    )
    assert rendered[2] == (  # nested under the call that opened it
        "     breaker pricing.Pricing: CLOSED -> OPEN after LookupError: no such sku"
    )
    message = failure(lambda: calls.assert_called("pricing", "Pricing", "price_of", times=1))
    assert message.splitlines()[0] == (
        "Expected pricing.Pricing.price_of() to be called 1 time; it was called 3 times."
    )
    message = failure(lambda: calls.assert_called("pricing", "Pricing", "reprice", caller=None))
    assert message.splitlines()[0] == (
        "Expected pricing.Pricing.reprice() to be called at least once by (outside any module); "
        "it was called 0 times."
    )
    assert failure(lambda: calls.assert_not_called("pricing", "Pricing")).splitlines()[0] == (
        "Expected no call to pricing.Pricing; 3 made."
    )
    trace.detach()
    with context.module_scope("orders"), pytest.raises(CircuitBreakerOpenError):
        pricing.price_of("a")
    assert len(calls) == 3


def test_an_empty_trace_says_so() -> None:
    assert Trace().render() == "(nothing was published or called)"


# --- fakes ---------------------------------------------------------------------------------------


def test_a_recording_fake_implements_its_contract_and_records() -> None:
    fake = RecordingFake.for_contract(PricingContract)
    assert isinstance(fake, RecordingFake)
    assert type(fake).__name__ == "FakePricingContract"
    with pytest.raises(FakeNotConfiguredError):  # strict: an unconfigured method refuses
        fake.price_of("a")  # type: ignore[attr-defined]
    fake.returns("price_of", 7)
    assert fake.price_of(sku="b") == 7  # type: ignore[attr-defined]
    fake.answers("price_of", lambda sku: len(sku))
    assert fake.price_of("abc") == 3  # type: ignore[attr-defined]
    fake.raises("price_of", LookupError("gone"))
    with pytest.raises(LookupError):
        fake.price_of("x")  # type: ignore[attr-defined]
    assert [(c.args, c.kwargs) for c in fake.calls_to("price_of")][:2] == [
        (("a",), {}),
        (("b",), {}),  # recorded the same way, however it was passed
    ]
    with pytest.raises(TypeError):
        fake.price_of("a", "unexpected")  # type: ignore[attr-defined]  # not the contract's call


def test_a_fake_refuses_to_configure_a_method_outside_its_contract() -> None:
    fake = RecordingFake.for_contract(PricingContract)
    with pytest.raises(AttributeError) as caught:
        fake.returns("discount", 1)
    assert str(caught.value) == (
        "FakePricingContract has no method 'discount'; its contract has: price_of, reprice."
    )


def test_fakes_pass_the_registrys_contract_check_including_async() -> None:
    import asyncio

    fake = RecordingFake.for_contract(PricingContract)
    registry = ServiceRegistry()
    registry.register_service("pricing", "Pricing", fake, contract=PricingContract)
    with context.module_scope("orders"):
        proxy = registry.get_service("pricing", "Pricing")
        asyncio.run(proxy.reprice("a", 5))
    assert fake.calls_to("reprice")[0].args == ("a", 5)


def test_a_stand_in_module_fakes_every_service() -> None:
    real = Module("pricing", depends_on=[])
    real.add_service("Pricing", Pricing, contract=PricingContract)
    real.add_service("Plain", Pricing)
    real.subscribe("order.placed")(print)
    stand_in = stand_in_module(real)
    assert [s.name for s in stand_in.services] == ["Pricing", "Plain"]
    assert stand_in.handlers == []
    plain = stand_in.services[1].provider
    assert isinstance(plain, RecordingFake)
    with pytest.raises(FakeNotConfiguredError):
        plain.price_of("x")  # type: ignore[attr-defined]


# --- export --------------------------------------------------------------------------------------


def test_the_trace_exports_as_json_and_mermaid(
    bus: EventBus, registry: ServiceRegistry, trace: Trace, tmp_path: Path
) -> None:
    def fail(data: Any) -> None:
        raise ValueError("bad")

    bus.subscribe("order.placed", fail, "billing")
    bus.publish("order.placed", {"sku": "a"}, "orders")
    pricing = registry.get_service("pricing", "Pricing")
    pricing.price_of("a")
    with pytest.raises(LookupError):
        pricing.price_of("bad")
    entries = trace_to_json(trace)
    assert [(e["kind"], e["depth"], e["parent"]) for e in entries] == [
        ("event", 0, None),
        ("delivery", 0, None),
        ("call", 0, None),
        ("call", 0, None),
        ("breaker", 1, 3),  # opened by the failing call, so nested under it
    ]
    assert entries[1]["outcome"] == "failed"
    assert entries[1]["error"] == "ValueError: bad"
    assert entries[3]["error"] == "no such sku"
    assert entries[3]["fake"] is False
    assert entries[4]["new"] == "OPEN"
    assert trace_to_mermaid(trace).splitlines() == [
        "sequenceDiagram",
        "    participant orders",
        "    participant billing",
        "    participant test",
        "    participant pricing",
        "    Note over orders: #35;1 publishes order.placed",
        "    orders-xbilling: #35;1 order.placed FAILED ValueError",
        "    test->>+pricing: Pricing.price_of()",
        "    pricing-->>-test: ok",
        "    test->>+pricing: Pricing.price_of()",
        "    Note right of test: breaker pricing.Pricing CLOSED to OPEN",
        "    pricing-->>-test: raised LookupError",
    ]
    json_path, mermaid_path = write_trace(trace, tmp_path / "traces", "t")
    assert json.loads(json_path.read_text()) == entries
    assert mermaid_path.read_text().startswith("sequenceDiagram\n")


def test_too_many_matches_list_the_matches_not_a_near_miss(bus: EventBus, trace: Trace) -> None:
    events = PublishedEvents(trace)
    for sku in ("a", "a", "b"):
        bus.publish("order.placed", {"sku": sku}, "orders")
    lines = failure(lambda: events.assert_published("order.placed", times=1, sku="a")).splitlines()
    assert lines[0] == (
        "Expected 1 event 'order.placed' with sku='a'; 2 matched among 3 of that type:"
    )
    assert "Closest" not in "\n".join(lines)
    assert [line.split()[0] for line in lines[1:3]] == ["#1", "#2"]


def test_expect_failures_on_a_view_counts_for_the_test(bus: EventBus, trace: Trace) -> None:
    def boom(data: Any) -> None:
        raise RuntimeError("x")

    bus.subscribe("order.placed", boom, "billing")
    bus.publish("order.placed", {}, "orders")
    events = PublishedEvents(trace)
    events.from_module("orders").expect_failures("billing")
    assert events.unexpected_failures() == []


def test_a_rolled_back_publish_is_not_recorded(tmp_path: Path) -> None:
    from aura.database import Database

    with Database(tmp_path / "x.db") as database:
        bus = EventBus(catalog=EventCatalog(), transactions=database)
        events = PublishedEvents(Trace().attach(bus))

        def publish_then_fail() -> None:
            with database.transaction():
                bus.publish("order.placed", {"n": 1}, "orders")
                raise ValueError("refused")

        with pytest.raises(ValueError, match="refused"):
            publish_then_fail()
        events.assert_not_published("order.placed")
        with database.transaction():
            bus.publish("order.placed", {"n": 2}, "orders")
        events.assert_published("order.placed", times=1, n=2)


def test_a_retried_dead_letter_is_traced_as_a_delivery(bus: EventBus, trace: Trace) -> None:
    def boom(data: Any) -> None:
        raise RuntimeError("still down")

    bus.subscribe("order.placed", boom, "billing")
    bus.publish("order.placed", {}, "orders")
    mark = PublishedEvents(trace).mark()
    bus.retry_dead_letters()
    [again] = PublishedEvents(trace).failed_deliveries(since=mark)
    assert (again.subscriber_module, str(again.error)) == ("billing", "still down")


def test_a_bool_matches_only_a_bool() -> None:
    assert mismatches({"active": True}, {"active": 1}) != []
    assert mismatches({"n": 1}, {"n": True}) != []
    assert mismatches({"active": True, "ratio": 1.0}, {"active": True, "ratio": 1}) == []


def test_an_assertion_inside_an_open_transaction_says_events_wait_for_its_commit(
    tmp_path: Path,
) -> None:
    from aura.platform import Platform

    orders = Module("orders")
    orders.publishes("order.placed")
    with Platform([orders], database=tmp_path / "aura.db") as platform:
        trace = Trace().attach(platform.bus)
        events = PublishedEvents(trace)
        with platform.database.transaction():
            platform.bus.publish("order.placed", {"id": 1}, "orders")
            with pytest.raises(AssertionError) as caught:
                events.assert_published("order.placed")
        assert str(caught.value) == (
            "Expected an event 'order.placed'; 0 matched among 0 of that type.\n"
            "Recorded events: none.\n"
            "A transaction of the platform's database is open: events published in it are "
            "recorded when it commits. In a Django test, use transactional_db, or publish inside "
            "django_capture_on_commit_callbacks(execute=True)."
        )
        events.assert_published("order.placed")  # committed: recorded

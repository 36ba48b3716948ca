"""The event bus: subscribing, publishing, delivery order, isolation, dead letters, observers."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from aura import context
from aura.bus import Delivery, EventBus
from aura.context import module_scope
from aura.events import Event, EventCatalog, event_contract
from aura.exceptions import (
    ConfigurationError,
    EventDeliveryError,
    EventValidationError,
    HandlerSignatureError,
    InvalidEventTypeError,
    InvalidNameError,
    UndeclaredEventError,
)
from aura.testing import FrozenClock

catalog = EventCatalog()


@event_contract("therapy_session.scheduled", catalog=catalog)
@dataclass
class SessionScheduled:
    session_id: int
    patient_id: int
    scheduled_at: datetime
    correlation_id: str | None = None


SCHEDULED: dict[str, Any] = {
    "session_id": 1,
    "patient_id": 7,
    "scheduled_at": "2030-01-07T10:00:00+00:00",
}


@pytest.fixture
def bus() -> EventBus:
    return EventBus(catalog=catalog)


class Recorder:
    """A bus observer that keeps what it sees."""

    def __init__(self) -> None:
        self.published: list[Event] = []
        self.deliveries: list[Delivery] = []

    def on_published(self, event: Event) -> None:
        self.published.append(event)

    def on_delivered(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)


# --- handler forms -------------------------------------------------------------------------------


def test_a_one_argument_handler_receives_the_data(bus: EventBus) -> None:
    received: list[Any] = []
    bus.subscribe("therapy_session.scheduled", received.append, "notifications")
    bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert received == [SCHEDULED]


def test_the_seed_handler_reads_data_with_get(bus: EventBus) -> None:
    seen: list[tuple[Any, Any]] = []

    def handle_session_scheduled(data):  # type: ignore[no-untyped-def]  # the seed's exact form
        seen.append((data.get("session_id"), data.get("patient_id")))

    bus.subscribe("therapy_session.scheduled", handle_session_scheduled, "notifications")
    bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert seen == [(1, 7)]


def test_a_handler_annotated_event_receives_the_envelope(bus: EventBus) -> None:
    received: list[Event] = []

    def handler(event: Event) -> None:
        received.append(event)

    bus.subscribe("therapy_session.scheduled", handler, "notifications")
    published = bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert received == [published]


def test_a_handler_annotated_with_a_contract_receives_an_instance(bus: EventBus) -> None:
    received: list[SessionScheduled] = []

    def handler(event: SessionScheduled) -> None:
        received.append(event)

    bus.subscribe("therapy_session.scheduled", handler, "billing")
    bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert received == [SessionScheduled(1, 7, datetime(2030, 1, 7, 10, tzinfo=UTC))]


def test_bound_methods_and_callable_objects_are_handlers(bus: EventBus) -> None:
    class Inbox:
        def __init__(self) -> None:
            self.items: list[Any] = []

        def handle(self, event: Event) -> None:
            self.items.append(event.event_type)

        def __call__(self, data: dict[str, Any]) -> None:
            self.items.append(data["session_id"])

    inbox = Inbox()
    bus.subscribe("therapy_session.scheduled", inbox.handle, "notifications")
    bus.subscribe("therapy_session.scheduled", inbox, "notifications")
    bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert inbox.items == ["therapy_session.scheduled", 1]


def test_a_handler_with_extra_defaulted_parameters_is_accepted(bus: EventBus) -> None:
    received: list[Any] = []

    def handler(data: dict[str, Any], retries: int = 3, *, verbose: bool = False) -> None:
        received.append((data["session_id"], retries, verbose))

    bus.subscribe("therapy_session.scheduled", handler, "notifications")
    bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert received == [(1, 3, False)]


def test_a_varargs_handler_and_a_builtin_receive_the_data(bus: EventBus) -> None:
    received: list[Any] = []

    def handler(*args: Any) -> None:
        received.append(args)

    bus.subscribe("user.registered", handler, "notifications")
    bus.subscribe("user.registered", print, "notifications")
    bus.publish("user.registered", {"user_id": 1}, "users")
    assert received == [({"user_id": 1},)]


def test_an_unresolvable_annotation_falls_back_to_the_data(bus: EventBus) -> None:
    received: list[Any] = []

    def handler(data: NotDefinedAnywhere) -> None:  # type: ignore[name-defined]  # noqa: F821
        received.append(data)

    bus.subscribe("user.registered", handler, "notifications")
    bus.publish("user.registered", {"user_id": 1}, "users")
    assert received == [{"user_id": 1}]


@pytest.mark.parametrize(
    ("handler", "signature"),
    [
        (lambda: None, "()"),
        (lambda a, b: None, "(a, b)"),
        (lambda *, data: None, "(*, data)"),
        (lambda **kw: None, "(**kw)"),
    ],
)
def test_a_handler_must_take_one_positional_argument(
    bus: EventBus, handler: Any, signature: str
) -> None:
    with pytest.raises(HandlerSignatureError) as caught:
        bus.subscribe("user.registered", handler, "notifications")
    assert str(caught.value) == (
        f"Handler tests.unit.test_bus.<lambda> for 'user.registered' has the signature "
        f"{signature}; a handler takes exactly one positional argument (the event data, the "
        "Event, or a contract instance). Give the other parameters defaults."
    )
    assert bus.subscriptions() == []


def test_a_handler_must_be_callable(bus: EventBus) -> None:
    with pytest.raises(HandlerSignatureError) as caught:
        bus.subscribe("user.registered", "send_email", "notifications")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "Handler for 'user.registered' must be callable, got str ('send_email'). Pass a "
        "function that takes the event data."
    )


@dataclass
class Loose:
    x: int


def test_a_handler_annotated_with_an_unregistered_dataclass_is_refused(bus: EventBus) -> None:
    def handler(event: Loose) -> None:
        pass

    with pytest.raises(HandlerSignatureError) as caught:
        bus.subscribe("user.registered", handler, "notifications")
    assert str(caught.value) == (
        "Handler tests.unit.test_bus.test_a_handler_annotated_with_an_unregistered_dataclass_"
        "is_refused.<locals>.handler for 'user.registered' is annotated with Loose, which is not a "
        "registered event contract. Decorate it with @event_contract(...), or annotate the "
        "parameter as dict."
    )


def test_a_handler_annotated_with_another_types_contract_is_refused(bus: EventBus) -> None:
    def handler(event: SessionScheduled) -> None:
        pass

    with pytest.raises(HandlerSignatureError) as caught:
        bus.subscribe("therapy_session.cancelled", handler, "billing")
    assert str(caught.value).endswith(
        "subscribes to 'therapy_session.cancelled' but is annotated with SessionScheduled, the "
        "contract of 'therapy_session.scheduled'. Annotate it with the contract of "
        "'therapy_session.cancelled'."
    )


@pytest.mark.parametrize("pattern", ["", "Users.*", "users", "**", "users.", 3])
def test_subscribing_to_an_invalid_pattern_is_refused(bus: EventBus, pattern: Any) -> None:
    with pytest.raises(InvalidEventTypeError) as caught:
        bus.subscribe(pattern, print, "notifications")
    assert str(caught.value) == (
        f"Invalid subscription pattern {pattern!r}: expected an event type such as "
        "'therapy_session.scheduled', a pattern such as 'therapy_session.*', or '*' for every "
        "event."
    )


def test_subscribing_with_an_invalid_module_name_is_refused(bus: EventBus) -> None:
    with pytest.raises(InvalidNameError) as caught:
        bus.subscribe("user.registered", print, "Notifications")
    assert str(caught.value) == (
        "Invalid subscriber module name 'Notifications': expected a lowercase identifier such "
        "as 'notifications' or 'mental_health'. Use the module's package name."
    )


# --- patterns, order, cancel ---------------------------------------------------------------------


def test_patterns_select_by_word_and_star_selects_everything(bus: EventBus) -> None:
    seen: dict[str, list[str]] = {"sessions": [], "all": [], "any_scheduled": []}
    bus.subscribe("therapy_session.*", lambda e: seen["sessions"].append("x"), "billing")
    bus.subscribe("*", lambda e: seen["all"].append("x"), "audit", name="all")
    bus.subscribe("*.scheduled", lambda e: seen["any_scheduled"].append("x"), "audit", name="any")
    bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    bus.publish("therapy_session.started", {"session_id": 1}, "mentalhealth")
    bus.publish("user.registered", {"user_id": 1}, "users")
    bus.publish("therapy_session.note.added", {}, "mentalhealth")
    assert {k: len(v) for k, v in seen.items()} == {"sessions": 2, "all": 4, "any_scheduled": 1}


def test_subscribers_are_called_in_subscription_order(bus: EventBus) -> None:
    calls: list[str] = []
    bus.subscribe("user.registered", lambda d: calls.append("first"), "notifications")
    bus.subscribe("*", lambda d: calls.append("wildcard"), "audit")
    bus.subscribe("user.registered", lambda d: calls.append("third"), "billing")
    bus.publish("user.registered", {"user_id": 1}, "users")
    assert calls == ["first", "wildcard", "third"]


def test_a_cancelled_subscription_receives_nothing_more(bus: EventBus) -> None:
    calls: list[Any] = []
    subscription = bus.subscribe("user.registered", calls.append, "notifications")
    bus.publish("user.registered", {"user_id": 1}, "users")
    subscription.cancel()
    subscription.cancel()
    bus.publish("user.registered", {"user_id": 2}, "users")
    assert calls == [{"user_id": 1}]
    assert bus.subscriptions() == []
    assert repr(subscription).endswith("cancelled)")


def test_cancelling_a_later_handler_during_a_publish_skips_it(bus: EventBus) -> None:
    calls: list[str] = []
    later = None

    def first(data: Any) -> None:
        calls.append("first")
        assert later is not None
        later.cancel()

    bus.subscribe("user.registered", first, "notifications")
    later = bus.subscribe("user.registered", lambda d: calls.append("later"), "billing")
    bus.publish("user.registered", {"user_id": 1}, "users")
    assert calls == ["first"]


def test_subscribing_during_a_publish_takes_effect_from_the_next_event(bus: EventBus) -> None:
    calls: list[str] = []

    def first(data: Any) -> None:
        calls.append("first")
        bus.subscribe("user.registered", lambda d: calls.append("new"), "billing")

    bus.subscribe("user.registered", first, "notifications")
    bus.publish("user.registered", {"user_id": 1}, "users")
    assert calls == ["first"]
    bus.publish("user.registered", {"user_id": 2}, "users")
    assert calls == ["first", "first", "new"]


def test_subscriptions_lists_those_receiving_a_type(bus: EventBus) -> None:
    a = bus.subscribe("user.*", print, "notifications")
    bus.subscribe("therapy_session.scheduled", print, "billing")
    assert bus.subscriptions("user.registered") == [a]
    assert repr(a) == "Subscription('user.*' -> notifications:builtins.print)"


# --- publishing and validation -------------------------------------------------------------------


def test_publish_returns_the_envelope(bus: EventBus, frozen_time: FrozenClock) -> None:
    frozen_time.move_to("2030-01-01T09:00:00+00:00")
    event = bus.publish(
        "therapy_session.scheduled", SCHEDULED, "mentalhealth", metadata={"user_id": 7}
    )
    assert event.event_type == "therapy_session.scheduled"
    assert event.source_module == "mentalhealth"
    assert event.data == SCHEDULED
    assert event.timestamp == datetime(2030, 1, 1, 9, tzinfo=UTC)
    assert event.user_id == 7
    assert event.causation_id is None


def test_a_contract_instance_can_be_published(bus: EventBus) -> None:
    received: list[Any] = []
    bus.subscribe("therapy_session.scheduled", received.append, "notifications")
    event = bus.publish(
        SessionScheduled(1, 7, datetime(2030, 1, 7, 10, tzinfo=UTC)), source_module="mentalhealth"
    )
    assert event.event_type == "therapy_session.scheduled"
    assert received == [
        {
            "session_id": 1,
            "patient_id": 7,
            "scheduled_at": "2030-01-07T10:00:00Z",
            "correlation_id": None,
        }
    ]


def test_publishing_an_unregistered_object_is_refused(bus: EventBus) -> None:
    with pytest.raises(EventValidationError) as caught:
        bus.publish(object(), source_module="mentalhealth")
    assert str(caught.value) == (
        "Cannot publish object: it is neither an event type string nor an instance of a "
        "registered event contract. Decorate its class with @event_contract(...) or call "
        "publish(event_type, data, source_module)."
    )


def test_a_contract_instance_takes_no_separate_data(bus: EventBus) -> None:
    instance = SessionScheduled(1, 7, datetime(2030, 1, 7, 10, tzinfo=UTC))
    with pytest.raises(EventValidationError) as caught:
        bus.publish(instance, {"x": 1}, "mentalhealth")
    assert str(caught.value) == (
        "Publishing a SessionScheduled instance takes no separate data; call "
        "publish(instance, source_module=...)."
    )


def test_invalid_data_is_refused_and_nothing_is_delivered_or_observed(bus: EventBus) -> None:
    received: list[Any] = []
    recorder = Recorder()
    bus.add_observer(recorder)
    bus.subscribe("therapy_session.scheduled", received.append, "notifications")
    with pytest.raises(EventValidationError) as caught:
        bus.publish("therapy_session.scheduled", {**SCHEDULED, "patient_id": "7"}, "mentalhealth")
    assert "  - field 'patient_id': expected a valid integer, got '7' (str)" in str(caught.value)
    assert received == []
    assert recorder.published == []
    assert bus.dead_letters() == []


def test_non_json_data_is_refused_before_delivery(bus: EventBus) -> None:
    received: list[Any] = []
    bus.subscribe("user.registered", received.append, "notifications")
    with pytest.raises(EventValidationError, match=re.escape("data['at'] is a datetime")):
        bus.publish("user.registered", {"at": datetime(2030, 1, 1)}, "users")
    assert received == []


def test_data_must_be_a_mapping(bus: EventBus) -> None:
    with pytest.raises(EventValidationError) as caught:
        bus.publish("user.registered", None, "users")
    assert str(caught.value) == (
        "Event data for 'user.registered' must be a dict, got NoneType. Pass the data as a "
        "dict: publish('user.registered', {...})."
    )


def test_a_contract_instance_given_as_data_is_told_to_be_published_alone(bus: EventBus) -> None:
    instance = SessionScheduled(1, 7, datetime(2030, 1, 7, 10, tzinfo=UTC))
    with pytest.raises(EventValidationError) as caught:
        bus.publish("therapy_session.scheduled", instance, "mentalhealth")  # type: ignore[arg-type]
    assert str(caught.value) == (
        "Event data for 'therapy_session.scheduled' must be a dict, got SessionScheduled. It is "
        "an instance of an event contract: publish it alone, publish(SessionScheduled(...), "
        "source_module=...)."
    )


def test_a_wildcard_event_type_cannot_be_published(bus: EventBus) -> None:
    with pytest.raises(InvalidEventTypeError):
        bus.publish("user.*", {}, "users")


def test_outside_any_module_the_source_module_must_be_named(bus: EventBus) -> None:
    seen: list[str] = []
    bus.subscribe("user.registered", lambda event: seen.append(event.source_module), "audit")
    with pytest.raises(InvalidNameError) as caught:
        bus.publish("user.registered", {}, None)
    assert str(caught.value) == (
        "publish was called outside any module without source_module: name the publishing "
        "module, publish(event, source_module='orders'), or publish from a module's code (a "
        "handler, a service, a route), where it is the default."
    )
    assert seen == []


def test_the_source_module_defaults_to_the_module_whose_code_runs(bus: EventBus) -> None:
    sources: list[str] = []

    def audit(event: Event) -> None:
        sources.append(event.source_module)

    def greet(data: dict[str, Any]) -> None:
        bus.publish("user.greeted", {"user_id": data["user_id"]})  # from the users module

    bus.subscribe("user.registered", greet, "users")
    bus.subscribe("user.*", audit, "audit")
    with module_scope("signup"):
        bus.publish("user.registered", {"user_id": 1})
    assert sources == ["signup", "users"]


def test_an_invalid_source_module_is_refused(bus: EventBus) -> None:
    with pytest.raises(InvalidNameError) as caught:
        bus.publish("user.registered", {}, "Users")
    assert str(caught.value) == (
        "Invalid source module name 'Users': expected a lowercase identifier such as "
        "'notifications' or 'mental_health'. Use the module's package name."
    )


def test_a_strict_catalog_refuses_events_without_a_contract() -> None:
    strict = EventCatalog(strict=True)
    bus = EventBus(catalog=strict)
    with pytest.raises(EventValidationError) as caught:
        bus.publish("user.registered", {"user_id": 1}, "users")
    assert str(caught.value) == (
        "Event 'user.registered' has no contract, and this bus's catalog is strict. Register "
        "one with @event_contract('user.registered') or use an open catalog. Known types: none."
    )


def test_max_chain_depth_must_be_positive() -> None:
    with pytest.raises(ConfigurationError) as caught:
        EventBus(max_chain_depth=0)
    assert str(caught.value) == (
        "max_chain_depth must be an int of at least 1, got 0. Use the default of 64 unless "
        "handlers legitimately chain deeper."
    )


# --- breadth-first delivery, correlation, causation ----------------------------------------------


def test_events_published_by_handlers_are_delivered_after_the_current_event(
    bus: EventBus,
) -> None:
    log: list[str] = []

    def notify(data: Any) -> None:
        log.append("notify:start")
        bus.publish("notification.sent", {"session_id": data["session_id"]}, "notifications")
        log.append("notify:end")

    bus.subscribe("therapy_session.scheduled", notify, "notifications")
    bus.subscribe("therapy_session.scheduled", lambda d: log.append("bill"), "billing")
    bus.subscribe("notification.sent", lambda d: log.append("sent"), "audit")
    bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert log == ["notify:start", "notify:end", "bill", "sent"]


def test_a_flow_shares_one_correlation_id_and_a_causation_chain(bus: EventBus) -> None:
    recorder = Recorder()
    bus.add_observer(recorder)
    bus.subscribe(
        "therapy_session.scheduled",
        lambda d: bus.publish("notification.sent", {}, "notifications"),
        "notifications",
    )
    bus.subscribe("notification.sent", lambda d: bus.publish("audit.logged", {}, "audit"), "audit")
    first = bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    second, third = recorder.published[1:]
    assert {e.correlation_id for e in recorder.published} == {first.correlation_id}
    assert second.causation_id == first.event_id
    assert third.causation_id == second.event_id


def test_separate_publishes_start_separate_correlations(bus: EventBus) -> None:
    one = bus.publish("user.registered", {}, "users")
    two = bus.publish("user.registered", {}, "users")
    assert one.correlation_id != two.correlation_id


def test_the_correlation_in_context_is_used(bus: EventBus) -> None:
    with context.correlation_scope("request-42"):
        event = bus.publish("user.registered", {}, "users")
    assert event.correlation_id == "request-42"


def test_explicit_metadata_wins_and_extra_keys_are_kept(bus: EventBus) -> None:
    with context.correlation_scope("request-42"):
        event = bus.publish(
            "user.registered", {}, "users", metadata={"correlation_id": "mine", "tenant": "eu"}
        )
    assert dict(event.metadata) == {
        "correlation_id": "mine",
        "causation_id": None,
        "user_id": None,
        "tenant": "eu",
    }


def test_metadata_without_correlation_takes_it_from_context(bus: EventBus) -> None:
    with context.correlation_scope("request-42"):
        event = bus.publish("user.registered", {}, "users", metadata={"user_id": "u1"})
    assert event.correlation_id == "request-42"
    assert event.user_id == "u1"


def test_the_current_module_is_the_subscriber_while_its_handler_runs(bus: EventBus) -> None:
    seen: list[str | None] = []
    bus.subscribe("user.registered", lambda d: seen.append(context.current_module()), "billing")
    bus.subscribe("user.registered", lambda d: seen.append(context.current_module()), "audit")
    with context.module_scope("users"):
        bus.publish("user.registered", {}, "users")
        assert context.current_module() == "users"
    assert seen == ["billing", "audit"]
    assert context.current_module() is None


def test_a_chain_deeper_than_the_limit_is_stopped_and_named() -> None:
    bus = EventBus(max_chain_depth=3)
    bus.subscribe("ping.sent", lambda d: bus.publish("pong.sent", {}, "pong"), "pong")
    bus.subscribe("pong.sent", lambda d: bus.publish("ping.sent", {}, "ping"), "ping")
    bus.publish("ping.sent", {}, "ping")
    [letter] = bus.dead_letters()
    assert letter.error_type == "EventDeliveryError"
    assert letter.error_message == (
        "Event chain too deep: publishing 'pong.sent' would make a chain of 4 events (limit 3): "
        "ping.sent -> pong.sent -> ping.sent -> pong.sent. A handler probably republishes what "
        "it handles; break the cycle, or raise max_chain_depth if the chain is intended."
    )


def test_a_deep_chain_does_not_recurse_on_the_stack() -> None:
    bus = EventBus(max_chain_depth=2000)
    count = 0

    def again(data: Any) -> None:
        nonlocal count
        count += 1
        if count < 1500:
            bus.publish("tick.happened", {}, "clock")

    bus.subscribe("tick.happened", again, "clock")
    bus.publish("tick.happened", {}, "clock")
    assert count == 1500
    assert bus.dead_letters() == []


def test_publishing_to_another_bus_inside_a_handler_delivers_there_at_once(
    bus: EventBus,
) -> None:
    other = EventBus()
    log: list[str] = []
    other.subscribe("audit.logged", lambda d: log.append("other"), "audit")

    def handler(data: Any) -> None:
        other.publish("audit.logged", {}, "notifications")
        log.append("after")

    bus.subscribe("user.registered", handler, "notifications")
    bus.publish("user.registered", {}, "users")
    assert log == ["other", "after"]


# --- isolation and dead letters ------------------------------------------------------------------


def failing(data: Any) -> None:
    raise RuntimeError(f"smtp down for {data['user_id']}")


def test_a_failing_handler_does_not_stop_the_others(
    bus: EventBus, caplog: pytest.LogCaptureFixture, frozen_time: FrozenClock
) -> None:
    received: list[Any] = []
    bus.subscribe("user.registered", failing, "notifications")
    bus.subscribe("user.registered", received.append, "billing")
    frozen_time.move_to("2030-01-01T09:00:00+00:00")
    event = bus.publish("user.registered", {"user_id": 1}, "users")
    assert received == [{"user_id": 1}]
    [letter] = bus.dead_letters()
    assert letter.event == event
    assert (letter.subscriber_module, letter.handler_name) == (
        "notifications",
        "tests.unit.test_bus.failing",
    )
    assert (letter.error_type, letter.error_message, letter.attempts) == (
        "RuntimeError",
        "smtp down for 1",
        1,
    )
    assert letter.first_failed_at == letter.last_failed_at == datetime(2030, 1, 1, 9, tzinfo=UTC)
    assert "RuntimeError: smtp down for 1" in letter.traceback
    assert letter.describe() == (
        f"notifications:tests.unit.test_bus.failing failed on 'user.registered' (event "
        f"{event.event_id}, 1 attempt): RuntimeError: smtp down for 1"
    )
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        f"Handler notifications:tests.unit.test_bus.failing failed on event user.registered "
        f"({event.event_id}): RuntimeError: smtp down for 1"
    )
    assert record.event_id == event.event_id  # type: ignore[attr-defined]
    assert record.subscriber_module == "notifications"  # type: ignore[attr-defined]


def test_retry_redelivers_to_the_failed_subscriber_only_and_drops_on_success(
    bus: EventBus, frozen_time: FrozenClock
) -> None:
    attempts: list[Any] = []
    others: list[Any] = []
    broken = True

    def flaky(data: Any) -> None:
        attempts.append(data["user_id"])
        if broken:
            raise RuntimeError("still down")

    bus.subscribe("user.registered", flaky, "notifications")
    bus.subscribe("user.registered", others.append, "billing")
    bus.publish("user.registered", {"user_id": 1}, "users")

    frozen_time.move_to("2030-01-02T00:00:00+00:00")
    report = bus.retry_dead_letters()
    [again] = report.failed
    assert again.attempts == 2
    assert again.last_failed_at == datetime(2030, 1, 2, tzinfo=UTC)
    assert bus.dead_letters() == [again]

    broken = False
    report = bus.retry_dead_letters()
    assert [letter.id for letter in report.succeeded] == [again.id]
    assert bus.dead_letters() == []
    assert attempts == [1, 1, 1]
    assert others == [{"user_id": 1}]


def test_retry_keeps_the_context_of_the_original_event(bus: EventBus) -> None:
    seen: list[Any] = []
    broken = True

    def handler(data: Any) -> None:
        if broken:
            raise RuntimeError("down")
        seen.append((context.current_module(), context.get_correlation_id()))
        bus.publish("notification.sent", {}, "notifications")

    bus.subscribe("user.registered", handler, "notifications")
    follow_ups: list[Event] = []

    def keep(event: Event) -> None:
        follow_ups.append(event)

    bus.subscribe("notification.sent", keep, "audit")
    event = bus.publish("user.registered", {}, "users")
    broken = False
    bus.retry_dead_letters()
    assert seen == [("notifications", event.correlation_id)]
    [follow_up] = follow_ups
    assert follow_up.causation_id == event.event_id


def test_a_dead_letter_whose_subscriber_is_gone_is_kept_as_unroutable(bus: EventBus) -> None:
    subscription = bus.subscribe("user.registered", failing, "notifications")
    bus.publish("user.registered", {"user_id": 1}, "users")
    subscription.cancel()
    report = bus.retry_dead_letters()
    assert len(report.unroutable) == 1
    assert len(bus.dead_letters()) == 1


def test_a_synchronous_retry_leaves_async_dead_letters_for_aretry(
    bus: EventBus, caplog: pytest.LogCaptureFixture
) -> None:
    broken = True

    async def handler(data: Any) -> None:
        if broken:
            raise RuntimeError("down")

    bus.subscribe("user.registered", handler, "notifications")
    asyncio.run(bus.apublish("user.registered", {}, "users"))
    [letter] = bus.dead_letters()
    broken = False
    report = bus.retry_dead_letters()
    assert (report.succeeded, report.failed, report.needs_async) == ((), (), (letter,))
    assert bus.dead_letters() == [letter]  # kept, untouched
    assert caplog.messages[-1] == (
        "1 dead letter(s) of async handlers were not retried; await bus.aretry_dead_letters() "
        "for those."
    )
    assert asyncio.run(bus.aretry_dead_letters()).succeeded == (letter,)
    assert bus.dead_letters() == []


def test_aretry_redelivers_async_and_sync_dead_letters(bus: EventBus) -> None:
    broken = True
    handled: list[str] = []

    async def async_handler(data: Any) -> None:
        if broken:
            raise RuntimeError("down")
        bus.publish("notification.sent", {}, "notifications")
        handled.append("async")

    def sync_handler(data: Any) -> None:
        if broken:
            raise RuntimeError("down")
        handled.append("sync")

    bus.subscribe("user.registered", async_handler, "notifications")
    bus.subscribe("user.registered", sync_handler, "billing")
    bus.subscribe("notification.sent", lambda d: handled.append("follow-up"), "audit")
    asyncio.run(bus.apublish("user.registered", {}, "users"))
    assert len(bus.dead_letters()) == 2
    failed_again = asyncio.run(bus.aretry_dead_letters())
    assert [letter.attempts for letter in failed_again.failed] == [2, 2]
    broken = False
    report = asyncio.run(bus.aretry_dead_letters())
    assert len(report.succeeded) == 2
    assert handled == ["async", "follow-up", "sync"]
    assert bus.dead_letters() == []


# --- async ---------------------------------------------------------------------------------------


def test_apublish_awaits_async_handlers_in_order(bus: EventBus) -> None:
    log: list[str] = []

    async def first(data: Any) -> None:
        await asyncio.sleep(0)
        log.append("async")

    bus.subscribe("user.registered", first, "notifications")
    bus.subscribe("user.registered", lambda d: log.append("sync"), "billing")
    asyncio.run(bus.apublish("user.registered", {}, "users"))
    assert log == ["async", "sync"]


def test_async_handlers_publishing_are_delivered_breadth_first(bus: EventBus) -> None:
    log: list[str] = []
    causes: list[str | None] = []

    async def notify(data: Any) -> None:
        await bus.apublish("notification.sent", {}, "notifications")
        log.append("notify")

    async def record(event: Event) -> None:
        causes.append(event.causation_id)
        log.append("sent")

    bus.subscribe("user.registered", notify, "notifications")
    bus.subscribe("notification.sent", record, "audit")
    first = asyncio.run(bus.apublish("user.registered", {}, "users"))
    assert log == ["notify", "sent"]
    assert causes == [first.event_id]


def test_an_object_with_async_call_is_an_async_handler(bus: EventBus) -> None:
    class Handler:
        def __init__(self) -> None:
            self.seen: list[Any] = []

        async def __call__(self, data: dict[str, Any]) -> None:
            self.seen.append(data)

    handler = Handler()
    bus.subscribe("user.registered", handler, "notifications")
    asyncio.run(bus.apublish("user.registered", {"user_id": 1}, "users"))
    assert handler.seen == [{"user_id": 1}]


def test_sync_publish_to_an_async_handler_is_refused_with_the_fix(bus: EventBus) -> None:
    async def send(data: Any) -> None:
        pass

    received: list[Any] = []
    bus.subscribe("user.registered", received.append, "billing")
    bus.subscribe("user.registered", send, "notifications")
    with pytest.raises(EventDeliveryError) as caught:
        bus.publish("user.registered", {}, "users")
    assert str(caught.value) == (
        "Event 'user.registered' has async subscribers (notifications:tests.unit.test_bus."
        "test_sync_publish_to_an_async_handler_is_refused_with_the_fix.<locals>.send); publish "
        "it with 'await bus.apublish(...)' instead of 'bus.publish(...)'."
    )
    assert received == []


def test_a_sync_handler_may_publish_to_async_handlers_during_apublish(bus: EventBus) -> None:
    log: list[str] = []

    async def send(data: Any) -> None:
        log.append("sent")

    bus.subscribe("user.registered", lambda d: bus.publish("mail.queued", {}, "users"), "users")
    bus.subscribe("mail.queued", send, "notifications")
    asyncio.run(bus.apublish("user.registered", {}, "users"))
    assert log == ["sent"]
    assert bus.dead_letters() == []


def test_a_failing_async_handler_becomes_a_dead_letter(bus: EventBus) -> None:
    async def send(data: Any) -> None:
        raise ValueError("bad address")

    recorder = Recorder()
    bus.add_observer(recorder)
    bus.subscribe("user.registered", send, "notifications")
    asyncio.run(bus.apublish("user.registered", {}, "users"))
    [letter] = bus.dead_letters()
    assert letter.error_type == "ValueError"
    [delivery] = recorder.deliveries
    assert not delivery.succeeded
    assert isinstance(delivery.error, ValueError)


# --- observers -----------------------------------------------------------------------------------


def test_observers_see_each_event_and_each_delivery_outcome(bus: EventBus) -> None:
    recorder = Recorder()
    remove = bus.add_observer(recorder)
    bus.subscribe("user.registered", failing, "notifications")
    bus.subscribe("user.registered", print, "billing")
    event = bus.publish("user.registered", {"user_id": 1}, "users")
    assert recorder.published == [event]
    assert [(d.subscriber_module, d.succeeded) for d in recorder.deliveries] == [
        ("notifications", False),
        ("billing", True),
    ]
    assert all(d.duration >= 0 for d in recorder.deliveries)
    remove()
    bus.publish("user.registered", {"user_id": 2}, "users")
    assert len(recorder.published) == 1


# --- threads -------------------------------------------------------------------------------------


def test_publishing_from_many_threads_loses_and_duplicates_nothing(bus: EventBus) -> None:
    seen: list[int] = []
    lock = threading.Lock()

    def handler(data: Any) -> None:
        with lock:
            seen.append(data["n"])

    bus.subscribe("counter.incremented", handler, "audit")
    start = threading.Barrier(8)

    def worker(offset: int) -> None:
        start.wait()
        for n in range(offset, offset + 500):
            bus.publish("counter.incremented", {"n": n}, "counter")

    threads = [threading.Thread(target=worker, args=(i * 500,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(4000))


def test_subscribing_and_cancelling_while_other_threads_publish_is_safe(bus: EventBus) -> None:
    stable: list[int] = []
    bus.subscribe("counter.incremented", lambda d: stable.append(d["n"]), "audit")
    stop = threading.Event()

    def churn() -> None:
        while not stop.is_set():
            bus.subscribe("counter.incremented", lambda d: None, "billing").cancel()

    churner = threading.Thread(target=churn)
    churner.start()
    try:
        for n in range(2000):
            bus.publish("counter.incremented", {"n": n}, "counter")
    finally:
        stop.set()
        churner.join()
    assert stable == list(range(2000))
    assert len(bus.subscriptions()) == 1


# --- declared publishers -------------------------------------------------------------------------


def test_a_declared_module_may_publish_only_what_it_declares(bus: EventBus) -> None:
    received: list[Any] = []
    bus.subscribe("*", received.append, "audit")
    bus.declare_publisher("users", ("user.registered",))
    bus.declare_publisher("users", ("user.profile.*",))
    bus.publish("user.registered", {}, "users")
    bus.publish("user.profile.updated", {}, "users")
    bus.publish("user.registered", {}, "users")
    with pytest.raises(UndeclaredEventError) as caught:
        bus.publish("payment.completed", {}, "users")
    assert str(caught.value) == (
        "Module 'users' published 'payment.completed', which it does not declare. It declares: "
        "user.registered, user.profile.*. Add users.publishes('payment.completed') to the "
        "module's declaration."
    )
    assert len(received) == 3


def test_undeclared_modules_are_not_restricted(bus: EventBus) -> None:
    bus.declare_publisher("users", ())
    bus.publish("payment.completed", {}, "billing")
    with pytest.raises(UndeclaredEventError, match="It declares: nothing"):
        bus.publish("user.registered", {}, "users")


# --- retry policy and purge ----------------------------------------------------------------------


def test_a_retry_policy_holds_back_letters_not_due_or_out_of_attempts(
    bus: EventBus, frozen_time: FrozenClock
) -> None:
    from datetime import timedelta

    from aura.bus import RetryPolicy

    bus.subscribe("user.registered", failing, "notifications")
    frozen_time.move_to("2030-01-01T09:00:00+00:00")
    bus.publish("user.registered", {"user_id": 1}, "users")
    policy = RetryPolicy(max_attempts=3, backoff=10, multiplier=2)
    report = bus.retry_dead_letters(policy)
    assert (len(report.failed), len(report.waiting)) == (0, 1)  # 10 s not yet passed
    frozen_time.tick(timedelta(seconds=10))
    assert len(bus.retry_dead_letters(policy).failed) == 1  # attempt 2
    frozen_time.tick(timedelta(seconds=19))
    assert len(bus.retry_dead_letters(policy).waiting) == 1  # the next waits 20 s
    frozen_time.tick(timedelta(seconds=1))
    assert len(bus.retry_dead_letters(policy).failed) == 1  # attempt 3
    frozen_time.tick(timedelta(days=1))
    report = bus.retry_dead_letters(policy)
    assert [letter.attempts for letter in report.waiting] == [3]  # out of attempts
    assert len(bus.dead_letters()) == 1


def test_a_backoff_doubled_past_a_year_waits_a_year_and_a_letter_stays_judgeable() -> None:
    from datetime import UTC, datetime

    from aura.bus import RetryPolicy
    from aura.dead_letters import LONGEST_WAIT

    policy = RetryPolicy(max_attempts=1000, backoff=30)
    assert policy.wait(1) == 30.0
    assert policy.wait(500) == LONGEST_WAIT  # 30 * 2**64 would overflow a timedelta
    letter = type("Letter", (), {"attempts": 500, "last_failed_at": datetime.now(UTC)})()
    assert policy.due(letter, datetime.now(UTC)) is False  # judged, not an OverflowError
    # A huge multiplier, int or float, stops at the cap too: its power would overflow a float.
    for multiplier in (100_000, 1e5, 1e300):
        steep = RetryPolicy(backoff=1, multiplier=multiplier)
        assert [steep.wait(n) for n in (1, 2, 65, 10**9)] == [
            1.0,
            min(multiplier, LONGEST_WAIT),
            LONGEST_WAIT,
            LONGEST_WAIT,
        ]
    assert RetryPolicy(backoff=30, multiplier=0.5).wait(10**9) == 0.0  # shrinking: no cap
    assert RetryPolicy(backoff=30, multiplier=1.01).wait(2000) == LONGEST_WAIT


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"max_attempts": 0},
            "max_attempts must be an int of at least 1, got 0. Pass e.g. max_attempts=5 (the "
            "first delivery included).",
        ),
        (
            {"backoff": -1},
            "backoff must be a number of seconds from 0 to 31536000 (a year), got -1. Pass "
            "e.g. backoff=30.",
        ),
        *(
            (
                {"multiplier": multiplier},
                f"multiplier must be a finite number of at least 0, got {multiplier!r}. Pass "
                "e.g. multiplier=2 (each wait twice the one before) or 1 (all alike).",
            )
            for multiplier in ("2", -1, float("inf"), float("nan"), True)
        ),
        (
            {"backoff": float("nan")},
            "backoff must be a number of seconds from 0 to 31536000 (a year), got nan. Pass "
            "e.g. backoff=30.",
        ),
        (
            {"maximum": 1e12},
            "maximum must be a number of seconds from 0 to 31536000 (a year), got "
            "1000000000000.0. Pass e.g. maximum=3600.",
        ),
    ],
)
def test_a_bad_retry_policy_is_refused(arguments: dict[str, Any], message: str) -> None:
    from aura.bus import RetryPolicy

    with pytest.raises(ConfigurationError) as caught:
        RetryPolicy(**arguments)
    assert str(caught.value) == message


def test_purge_drops_chosen_old_or_all_dead_letters(
    bus: EventBus, frozen_time: FrozenClock
) -> None:
    from datetime import timedelta

    bus.subscribe("user.registered", failing, "notifications")
    frozen_time.move_to("2030-01-01T00:00:00+00:00")
    bus.publish("user.registered", {"user_id": 1}, "users")
    frozen_time.move_to("2030-01-10T00:00:00+00:00")
    bus.publish("user.registered", {"user_id": 2}, "users")
    bus.publish("user.registered", {"user_id": 3}, "users")
    _first, second, third = bus.dead_letters()
    assert bus.purge_dead_letters(older_than=timedelta(days=5)) == 1
    assert bus.purge_dead_letters(letter_ids=[third.id]) == 1
    assert [letter.id for letter in bus.dead_letters()] == [second.id]
    assert bus.purge_dead_letters() == 1
    assert bus.dead_letters() == []


# --- limits: size and time -----------------------------------------------------------------------


def test_data_beyond_the_size_limit_is_refused_before_delivery() -> None:
    bus = EventBus(catalog=EventCatalog(), max_event_size=100)
    received: list[Any] = []
    bus.subscribe("file.uploaded", received.append, "storage")
    with pytest.raises(EventValidationError, match="more than 100 characters of text"):
        bus.publish("file.uploaded", {"content": "x" * 101}, "files")
    assert received == []
    unlimited = EventBus(catalog=EventCatalog(), max_event_size=None)
    assert len(unlimited.publish("file.uploaded", {"c": "x" * 2_000_000}, "files").data["c"]) == (
        2_000_000
    )


def test_a_hanging_async_handler_is_cancelled_and_kept_as_a_dead_letter() -> None:
    bus = EventBus(catalog=EventCatalog(), handler_timeout=0.05)
    ran: list[str] = []

    async def hangs(data: Any) -> None:
        await asyncio.sleep(10)

    async def quick(data: Any) -> None:
        ran.append("quick")

    bus.subscribe("user.registered", hangs, "notifications")
    bus.subscribe("user.registered", quick, "billing")
    event = asyncio.run(bus.apublish("user.registered", {}, "users"))
    assert ran == ["quick"]
    [letter] = bus.dead_letters()
    assert letter.error_type == "HandlerTimeoutError"
    assert letter.error_message == (
        "Handler tests.unit.test_bus.test_a_hanging_async_handler_is_cancelled_and_kept_as_a_"
        f"dead_letter.<locals>.hangs took longer than 0.05 s on 'user.registered' (event "
        f"{event.event_id}) and was cancelled. Make it faster, or raise the bus's "
        "handler_timeout."
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"max_event_size": 0},
            "max_event_size must be a positive number of characters or None, got 0.",
        ),
        (
            {"handler_timeout": -1},
            "handler_timeout must be a positive number of seconds or None, got -1.",
        ),
        (
            {"handler_timeout": True},
            "handler_timeout must be a positive number of seconds or None, got True.",
        ),
    ],
)
def test_bad_limits_are_refused(arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        EventBus(**arguments)
    assert str(caught.value) == message


def test_a_journal_without_transactions_is_refused() -> None:
    class Journal:
        pass

    with pytest.raises(ConfigurationError) as caught:
        EventBus(journal=Journal())  # type: ignore[arg-type]
    assert str(caught.value) == (
        "A bus with a journal needs transactions= (the journal's database): events a handler "
        "publishes must wait for its delivery to commit. Pass EventBus(journal=..., "
        "transactions=database)."
    )

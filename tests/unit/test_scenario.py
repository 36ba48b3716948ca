"""Scenarios on a plain Platform: stimulate, then wait for events, state, consumption or quiet."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aura.bus import EventBus
from aura.clock import RealClock
from aura.events import EventCatalog
from aura.exceptions import (
    ConfigurationError,
    ExpectationTimeoutError,
    MissingExtraError,
    ModuleDefinitionError,
    UndeclaredEventError,
)
from aura.module import Module
from aura.platform import Platform
from aura.testing import ANY, FrozenClock, where
from aura.testing.scenario import Scenario


class Ledger:
    """What the notifications module sent, and a state a test waits for."""

    def __init__(self) -> None:
        self.sent: list[str] = []


class Orders:
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    def place(self, sku: str, amount: int) -> dict[str, Any]:
        self.bus.publish("order.placed", {"sku": sku, "amount": amount}, "orders")
        return {"sku": sku, "amount": amount}

    def place_later(self, sku: str, amount: int, delay: float = 0.1) -> None:
        """Publish from another thread, after ``delay`` seconds."""

        def later() -> None:
            time.sleep(delay)
            self.bus.publish("order.placed", {"sku": sku, "amount": amount}, "orders")

        threading.Thread(target=later).start()


def own_platform(modules: Any) -> Platform:
    """A platform with a catalog of its own: the reference platform's contracts, which other
    test files import into the default catalog, use some of these event types too."""
    return Platform(modules, catalog=EventCatalog())


def orders_module() -> Module:
    orders = Module("orders")
    orders.publishes("order.*")
    orders.add_service("Orders", Orders)
    return orders


def billing_module() -> Module:
    billing = Module("billing")
    billing.publishes("payment.*")

    @billing.subscribe("order.placed")
    def charge(data: dict[str, Any], bus: EventBus) -> None:
        if data["amount"] < 0:
            raise ValueError(f"negative amount {data['amount']}")
        bus.publish("payment.completed", {"sku": data["sku"], "amount": data["amount"]}, "billing")

    return billing


def notifications_module(ledger: Ledger) -> Module:
    notifications = Module("notifications")
    notifications.provide(Ledger, lambda: ledger)

    @notifications.subscribe("payment.completed")
    def send_receipt(data: dict[str, Any], sent: Ledger) -> None:
        sent.sent.append(data["sku"])

    return notifications


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def platform(ledger: Ledger) -> Iterator[Platform]:
    with own_platform([orders_module(), billing_module(), notifications_module(ledger)]) as built:
        yield built


@pytest.fixture
def scenario(platform: Platform) -> Iterator[Scenario]:
    with Scenario(platform) as made:
        yield made


def line(event: Any, number: int, caused_by: int | None = None) -> str:
    """An event as the recorders render it (only its correlation id varies)."""
    import json

    cause = f" caused_by=#{caused_by}" if caused_by else ""
    return (
        f"  #{number} {event.event_type} from {event.source_module} "
        f"{json.dumps(dict(event.data))} correlation={event.correlation_id[:8]}{cause}"
    )


# --- stimuli --------------------------------------------------------------------------------------


def test_a_call_stimulates_and_the_wait_returns_the_event_that_follows(scenario: Scenario) -> None:
    orders = scenario.platform.registry.get_service("orders", "Orders")

    stimulus = scenario.stimulate(lambda: orders.place("apple", 6))
    payment = stimulus.and_wait_for_event("payment.completed", amount=6)

    assert stimulus.result == {"sku": "apple", "amount": 6}
    assert (payment.source_module, dict(payment.data)) == ("billing", {"sku": "apple", "amount": 6})
    assert [event.event_type for event in stimulus.events] == ["order.placed", "payment.completed"]


def test_a_service_path_calls_that_service_through_the_registry(scenario: Scenario) -> None:
    stimulus = scenario.stimulate("orders.Orders.place", "pear", amount=3)

    assert stimulus.result == {"sku": "pear", "amount": 3}
    assert stimulus.and_wait_for_event("order.placed", sku="pear").source_module == "orders"
    assert [call.method for call in scenario.trace.calls()] == ["place"]


def test_something_that_is_neither_a_function_nor_a_service_path_is_refused(
    scenario: Scenario,
) -> None:
    with pytest.raises(ConfigurationError) as refused:
        scenario.stimulate("orders.place")

    assert str(refused.value) == (
        "stimulate() takes a function or a service path 'module.Service.method', got "
        "'orders.place'. Write stimulate(lambda: ...) or "
        "stimulate('users.UserService.register_user', ...)."
    )


def test_a_sync_stimulus_refuses_a_coroutine_and_points_to_astimulate(scenario: Scenario) -> None:
    ran = []

    async def place() -> None:
        ran.append(True)

    with pytest.raises(ConfigurationError) as refused:
        scenario.stimulate(place)

    assert str(refused.value) == (
        "stimulate() called place, which returned an awaitable; nothing of it ran. In an async "
        "test, await it: await scenario.astimulate(...)."
    )
    assert ran == []


def test_publishing_as_a_module_of_the_platform_is_a_stimulus(scenario: Scenario) -> None:
    stimulus = scenario.publish("order.placed", {"sku": "fig", "amount": 2}, source="orders")

    assert stimulus.result.event_type == "order.placed"
    assert stimulus.and_wait_for_event("payment.completed").data["sku"] == "fig"


def test_a_module_the_platform_holds_as_a_stand_in_publishes_what_its_declaration_allows(
    ledger: Ledger,
) -> None:
    real_billing = billing_module()
    hand_made = Module("billing", description="a stand-in that declares nothing")
    modules = [hand_made, notifications_module(ledger)]
    with own_platform(modules) as platform, Scenario(platform, modules=[real_billing]) as scenario:
        scenario.publish(
            "payment.completed", {"sku": "kiwi", "amount": 1}, source="billing"
        ).and_wait_for_state(lambda: ledger.sent)

    assert ledger.sent == ["kiwi"]


def test_a_module_outside_the_platform_publishes_what_its_declaration_allows(
    ledger: Ledger,
) -> None:
    real_billing = billing_module()
    with (
        own_platform([notifications_module(ledger)]) as platform,
        Scenario(platform, modules=[real_billing]) as scenario,
    ):
        scenario.publish("payment.completed", {"sku": "lime", "amount": 1}, source="billing")
        with pytest.raises(UndeclaredEventError) as refused:
            scenario.publish("order.placed", {"sku": "lime", "amount": 1}, source="billing")

    assert ledger.sent == ["lime"]
    assert str(refused.value) == (
        "Module 'billing' published 'order.placed', which it does not declare. It declares: "
        "payment.*. Add billing.publishes('order.placed') to the module's declaration."
    )


def test_a_module_known_nowhere_is_refused_with_the_closest_name(ledger: Ledger) -> None:
    with (
        own_platform([notifications_module(ledger)]) as platform,
        Scenario(platform, modules=[billing_module()]) as scenario,
        pytest.raises(ModuleDefinitionError) as refused,
    ):
        scenario.publish("payment.completed", {"sku": "x", "amount": 1}, source="biling")

    assert str(refused.value) == (
        "Cannot publish 'payment.completed' as 'biling': no module of that name is in this "
        "platform (notifications) or among the project's other modules (billing). Did you mean "
        "'billing'? Publish as one of them, or add the module to the platform."
    )


def test_a_receipt_follows_each_payment() -> None:
    """The example of docs/howto/scenarios.rst, "Without the plugin"."""
    sent = []
    notifications = Module("notifications")

    @notifications.subscribe("payment.completed")
    def send_receipt(data: dict) -> None:
        sent.append(data["sku"])

    billing = Module("billing")  # the real declaration, not on this platform
    billing.publishes("payment.*")
    with (
        own_platform([notifications]) as platform,
        Scenario(platform, modules=[billing]) as scenario,
    ):
        scenario.publish("payment.completed", {"sku": "lime"}, source="billing").and_wait_for_state(
            lambda: sent
        )

    assert sent == ["lime"]


# --- waiting for an event -------------------------------------------------------------------------


def test_an_event_wait_matches_a_where_mapping_a_predicate_and_field_matchers(
    scenario: Scenario,
) -> None:
    orders = scenario.platform.registry.get_service("orders", "Orders")
    stimulus = scenario.stimulate(lambda: [orders.place("plum", amount) for amount in (1, 5, 9)])

    by_mapping = stimulus.and_wait_for_event("payment.completed", where={"amount": 5})
    by_predicate = stimulus.and_wait_for_event(
        "payment.completed", where=lambda event: event.data["amount"] > 5, sku="plum"
    )
    by_matcher = stimulus.and_wait_for_event(
        "payment.completed", amount=where(lambda amount: amount % 2 == 1), sku=ANY
    )

    assert [by_mapping.data["amount"], by_predicate.data["amount"]] == [5, 9]
    assert by_matcher.data["amount"] == 1


def test_an_event_wait_sees_an_event_published_later_from_another_thread_at_once(
    scenario: Scenario,
) -> None:
    started = time.monotonic()

    payment = scenario.stimulate("orders.Orders.place_later", "pear", 3).and_wait_for_event(
        "payment.completed", sku="pear", timeout=5.0
    )

    assert payment.data["amount"] == 3
    assert time.monotonic() - started < 2.5  # woken by the publish, not by the 5 s timeout


def test_a_wait_that_times_out_names_what_was_awaited_near_misses_and_failures(
    scenario: Scenario,
) -> None:
    stimulus = scenario.stimulate("orders.Orders.place", "fig", 4)
    scenario.stimulate("orders.Orders.place", "fig", -1)

    with pytest.raises(ExpectationTimeoutError) as timed_out:
        stimulus.and_wait_for_event("payment.completed", amount=5, sku="fig", timeout=0.05)

    placed, paid, refused = stimulus.events
    assert str(timed_out.value) == "\n".join(
        [
            "No event 'payment.completed' with amount=5, sku='fig' arrived within 0.05 s of the "
            "stimulus.",
            "Of that type, 1 did not match:",
            "  #2 amount=4 (≠ 5)",
            "Published since the stimulus (3):",
            line(placed, 1),
            line(paid, 2, caused_by=1),
            line(refused, 3),
            "Handlers that failed since the stimulus (1):",
            "  #3 order.placed -> billing:charge FAILED ValueError: negative amount -1",
            "Raise timeout= if the flow takes longer than 0.05 s.",
        ]
    )
    assert isinstance(timed_out.value, AssertionError)  # pytest reports a failure, not an error


def test_a_wait_with_nothing_published_says_so(scenario: Scenario) -> None:
    with pytest.raises(ExpectationTimeoutError) as timed_out:
        scenario.stimulate(lambda: None).and_wait_for_event(
            "payment.completed", where=lambda event: False, timeout=0
        )

    assert str(timed_out.value) == (
        "No event 'payment.completed' matching <lambda> arrived within 0 s of the stimulus.\n"
        "Published since the stimulus: none.\n"
        "Raise timeout= if the flow takes longer than 0 s."
    )


def test_a_timeout_that_is_not_a_number_of_seconds_is_refused(scenario: Scenario) -> None:
    with pytest.raises(ConfigurationError) as refused:
        scenario.stimulate(lambda: None).and_wait_for_event("order.placed", timeout=True)

    assert str(refused.value) == (
        "timeout must be a number of seconds of at least 0, got True. Write timeout=2.0."
    )


def test_a_where_that_is_neither_fields_nor_a_predicate_is_refused(scenario: Scenario) -> None:
    with pytest.raises(ConfigurationError) as refused:
        scenario.stimulate(lambda: None).and_wait_for_event("order.placed", where=5)  # type: ignore[arg-type]

    assert str(refused.value) == (
        "where= takes a dict of data fields or a function of the event, got int (5). Write "
        "where={'amount': 10} or where=lambda event: event.data['amount'] > 10."
    )


# --- waiting for a state --------------------------------------------------------------------------


def test_a_state_wait_returns_the_value_once_it_holds(scenario: Scenario, ledger: Ledger) -> None:
    started = time.monotonic()

    sent = scenario.stimulate("orders.Orders.place_later", "pear", 3).and_wait_for_state(
        lambda: list(ledger.sent), timeout=5.0
    )

    assert sent == ["pear"]
    assert time.monotonic() - started < 2.5  # not the 5 s timeout


def test_a_state_wait_with_until_returns_the_value_it_accepted(
    scenario: Scenario, ledger: Ledger
) -> None:
    scenario.stimulate("orders.Orders.place_later", "a", 1, delay=0.0)
    stimulus = scenario.stimulate("orders.Orders.place_later", "b", 1, delay=0.05)

    count = stimulus.and_wait_for_state(lambda: len(ledger.sent), until=lambda n: n == 2)

    assert count == 2


def test_a_state_that_never_holds_fails_with_its_last_value(scenario: Scenario) -> None:
    def payment_recorded() -> None:
        return None

    stimulus = scenario.stimulate("orders.Orders.place", "fig", 4)
    with pytest.raises(ExpectationTimeoutError) as timed_out:
        stimulus.and_wait_for_state(payment_recorded, timeout=0.05)

    placed, paid = stimulus.events
    assert str(timed_out.value) == "\n".join(
        [
            "The state check payment_recorded did not hold within 0.05 s of the stimulus; its "
            "last value was None.",
            "Published since the stimulus (2):",
            line(placed, 1),
            line(paid, 2, caused_by=1),
            "Raise timeout= if the flow takes longer than 0.05 s.",
        ]
    )


# --- expecting no event ---------------------------------------------------------------------------


def test_expecting_no_event_ends_as_soon_as_the_bus_is_idle(scenario: Scenario) -> None:
    started = time.monotonic()

    scenario.stimulate("orders.Orders.place", "fig", 4).and_expect_no_event(
        "payment.refunded", within=5.0
    )

    assert time.monotonic() - started < 2.5  # not the 5 s it may wait


def test_waits_end_under_frozen_time_too(scenario: Scenario, frozen_time: FrozenClock) -> None:
    started = RealClock.monotonic()
    stimulus = scenario.stimulate("orders.Orders.place", "fig", 4)
    stimulus.and_expect_no_event("payment.refunded", within=5.0)
    with pytest.raises(ExpectationTimeoutError):
        stimulus.and_wait_for_event("payment.refunded", timeout=0.2)
    assert RealClock.monotonic() - started < 2.0  # frozen time.monotonic() never moves


def test_expecting_no_event_waits_while_a_delivery_is_in_flight(ledger: Ledger) -> None:
    slow = Module("slow")
    busy = threading.Event()

    @slow.subscribe("order.placed")
    def ponder(data: dict[str, Any]) -> None:
        busy.set()
        time.sleep(0.3)  # longer than the quiet period: only the in-flight count waits for it

    with own_platform([orders_module(), slow]) as platform, Scenario(platform) as scenario:
        orders = platform.registry.get_service("orders", "Orders")

        def place_in_a_thread() -> None:
            threading.Thread(target=orders.place, args=("fig", 1)).start()
            busy.wait(10)

        started = time.monotonic()
        scenario.stimulate(place_in_a_thread).and_expect_no_event("order.cancelled", within=5.0)
        waited = time.monotonic() - started

    assert 0.25 < waited < 2.5  # the delivery's 0.3 s, not the 5 s it may wait


def test_an_unexpected_event_fails_at_once_with_what_was_published(scenario: Scenario) -> None:
    stimulus = scenario.stimulate("orders.Orders.place", "fig", 4)

    with pytest.raises(AssertionError) as failed:
        stimulus.and_expect_no_event("payment.completed", sku="fig", within=5.0)

    placed, paid = stimulus.events
    assert str(failed.value) == "\n".join(
        [
            "Expected no event 'payment.completed' with sku='fig' within 5 s of the stimulus; one "
            "was published:",
            line(paid, 2, caused_by=1),
            "Published since the stimulus (2):",
            line(placed, 1),
            line(paid, 2, caused_by=1),
        ]
    )


def test_an_event_published_later_by_a_delivery_in_flight_fails_the_expectation() -> None:
    late = Module("late")
    late.publishes("order.cancelled")
    busy = threading.Event()

    @late.subscribe("order.placed")
    def cancel_after_a_while(data: dict[str, Any], bus: EventBus) -> None:
        busy.set()
        time.sleep(0.2)
        bus.publish("order.cancelled", {"sku": data["sku"]}, "late")

    with own_platform([orders_module(), late]) as platform, Scenario(platform) as scenario:
        orders = platform.registry.get_service("orders", "Orders")

        def place_in_a_thread() -> None:
            threading.Thread(target=orders.place, args=("fig", 1)).start()
            busy.wait(10)

        stimulus = scenario.stimulate(place_in_a_thread)
        with pytest.raises(AssertionError) as failed:
            stimulus.and_expect_no_event("order.cancelled", within=5.0)

    assert str(failed.value).splitlines()[0] == (
        "Expected no event 'order.cancelled' within 5 s of the stimulus; one was published:"
    )


# --- async ----------------------------------------------------------------------------------------


def async_modules(ledger: Ledger) -> list[Module]:
    shop = Module("shop")
    shop.publishes("order.*", "receipt.*")
    tasks: list[asyncio.Task[None]] = []  # kept: the loop holds only weak references to tasks

    @shop.subscribe("order.placed")
    async def confirm(data: dict[str, Any], bus: EventBus) -> None:
        await asyncio.sleep(0)
        await bus.apublish("order.confirmed", {"sku": data["sku"]}, "shop")

    @shop.subscribe("order.confirmed")
    async def mail_later(data: dict[str, Any], bus: EventBus) -> None:
        async def later() -> None:
            await asyncio.sleep(0.1)
            ledger.sent.append(data["sku"])
            await bus.apublish("receipt.sent", {"sku": data["sku"]}, "shop")

        tasks.append(asyncio.get_running_loop().create_task(later()))

    return [shop]


def test_async_handlers_are_awaited_and_their_events_waited_for(ledger: Ledger) -> None:
    async def main(scenario: Scenario) -> tuple[str, str, float]:
        started = time.monotonic()
        confirmed = await scenario.apublish(
            "order.placed", {"sku": "fig"}, source="shop"
        ).and_wait_for_event("order.confirmed")
        receipt = await scenario.astimulate(lambda: None).and_wait_for_event(
            "receipt.sent", timeout=5.0
        )
        return confirmed.data["sku"], receipt.data["sku"], time.monotonic() - started

    with own_platform(async_modules(ledger)) as platform, Scenario(platform) as scenario:
        confirmed, receipt, waited = asyncio.run(main(scenario))

    assert (confirmed, receipt) == ("fig", "fig")
    assert waited < 2.5  # the task published while the wait left the loop free (not 5 s)


def test_an_async_state_wait_runs_async_checks_on_the_loop(ledger: Ledger) -> None:
    async def main(scenario: Scenario) -> Any:
        async def sent() -> list[str]:
            return list(ledger.sent)

        stimulus = await scenario.apublish("order.placed", {"sku": "yam"}, source="shop")
        return stimulus.result.event_type, await stimulus.and_wait_for_state(sent, timeout=5.0)

    with own_platform(async_modules(ledger)) as platform, Scenario(platform) as scenario:
        assert asyncio.run(main(scenario)) == ("order.placed", ["yam"])


def test_an_async_negative_expectation_ends_when_the_bus_is_idle(ledger: Ledger) -> None:
    async def main(scenario: Scenario) -> float:
        started = time.monotonic()
        await scenario.apublish(
            "order.confirmed", {"sku": "fig"}, source="shop"
        ).and_expect_no_event("order.cancelled", within=5.0)
        return time.monotonic() - started

    with own_platform(async_modules(ledger)) as platform, Scenario(platform) as scenario:
        assert asyncio.run(main(scenario)) < 2.5  # not the 5 s it may wait


def test_an_async_stimulus_must_be_awaited_before_its_result_is_read(ledger: Ledger) -> None:
    with own_platform(async_modules(ledger)) as platform, Scenario(platform) as scenario:
        stimulus = scenario.astimulate(lambda: 5)
        with pytest.raises(ConfigurationError) as refused:
            stimulus.result  # noqa: B018
        assert asyncio.run(_awaited(stimulus)) == 5

    assert str(refused.value) == (
        "The stimulus has not run yet: await it first (stimulus = await "
        "scenario.apublish(...)), then read stimulus.result."
    )


async def _awaited(stimulus: Any) -> Any:
    return (await stimulus).result


# --- the consumed view ----------------------------------------------------------------------------


def test_consumed_says_which_module_received_which_event_and_how_it_ended(
    scenario: Scenario,
) -> None:
    scenario.stimulate("orders.Orders.place", "fig", 4)
    scenario.stimulate("orders.Orders.place", "fig", -1)

    consumed = scenario.consumed
    assert [(d.event.event_type, d.subscriber_module, d.succeeded) for d in consumed] == [
        ("order.placed", "billing", True),
        ("payment.completed", "notifications", True),
        ("order.placed", "billing", False),
    ]
    (failure,) = consumed.assert_consumed("order.placed", by="billing", outcome="failed")
    assert str(failure.error) == "negative amount -1"
    assert len(consumed.select("order.placed", outcome="ok")) == 1
    assert consumed.render() == "\n".join(
        [
            "  #1 order.placed -> billing:charge ok",
            "  #2 payment.completed -> notifications:send_receipt ok",
            "  #3 order.placed -> billing:charge FAILED ValueError: negative amount -1",
        ]
    )


def test_a_consumption_that_does_not_come_lists_the_subscribers_and_what_was_consumed(
    scenario: Scenario,
) -> None:
    scenario.stimulate("orders.Orders.place", "fig", -1)

    with pytest.raises(ExpectationTimeoutError) as timed_out:
        scenario.consumed.assert_consumed("order.placed", by="billing", outcome="ok", timeout=0.05)
    with pytest.raises(ExpectationTimeoutError) as nobody:
        scenario.consumed.assert_consumed("order.cancelled", timeout=0)

    assert str(timed_out.value) == (
        "Expected 'order.placed' to be consumed by billing (ok) within 0.05 s; it was not.\n"
        "Subscribed to it: billing:charge.\n"
        "Consumed (1):\n"
        "  #1 order.placed -> billing:charge FAILED ValueError: negative amount -1"
    )
    assert str(nobody.value) == (
        "Expected 'order.cancelled' to be consumed within 0 s; it was not.\n"
        "Nothing on this platform is subscribed to it.\n"
        "Consumed (1):\n"
        "  #1 order.placed -> billing:charge FAILED ValueError: negative amount -1"
    )


def test_a_consumption_no_handler_could_make_fails_at_once(scenario: Scenario) -> None:
    started = RealClock.monotonic()
    with pytest.raises(ExpectationTimeoutError) as nobody:
        scenario.consumed.assert_consumed("order.placed", by="shipping", timeout=5.0)
    assert RealClock.monotonic() - started < 2.5  # not its 5 s timeout
    assert str(nobody.value).splitlines()[:2] == [
        "Expected 'order.placed' to be consumed by shipping within 5 s; it was not.",
        "Subscribed to it: billing:charge.",
    ]


def test_a_consumption_assertion_waits_for_a_delivery_from_another_thread(
    scenario: Scenario,
) -> None:
    started = time.monotonic()
    scenario.stimulate("orders.Orders.place_later", "fig", 2)

    (receipt,) = scenario.consumed.assert_consumed(
        "payment.completed", by="notifications", timeout=5.0
    )

    assert receipt.event.data["sku"] == "fig"
    assert time.monotonic() - started < 2.5  # woken by the delivery, not the 5 s timeout


def test_a_consumption_assertion_can_be_awaited(ledger: Ledger) -> None:
    async def main(scenario: Scenario) -> list[Any]:
        await scenario.apublish("order.confirmed", {"sku": "fig"}, source="shop")
        found = await scenario.consumed.aassert_consumed("order.confirmed", by="shop")
        return [d.handler_name.rsplit(".", 1)[-1] for d in found]

    with own_platform(async_modules(ledger)) as platform, Scenario(platform) as scenario:
        assert asyncio.run(main(scenario)) == ["mail_later"]


def test_an_unknown_outcome_is_refused(scenario: Scenario) -> None:
    with pytest.raises(ConfigurationError) as refused:
        scenario.consumed.select("order.placed", outcome="done")  # type: ignore[arg-type]

    assert str(refused.value) == "outcome must be 'ok', 'failed' or None (either), got 'done'."


# --- HTTP -----------------------------------------------------------------------------------------


def web_modules() -> list[Module]:
    from aura.access import PUBLIC

    shop = Module("shop")
    shop.publishes("order.*")

    @shop.route("POST", "/orders", allow=PUBLIC)
    def place(order: dict[str, Any], bus: EventBus) -> dict[str, Any]:
        bus.publish("order.placed", {"sku": order["sku"]}, "shop")
        return {"placed": order["sku"]}

    return [shop]


def test_an_http_request_through_the_gateway_is_a_stimulus() -> None:
    pytest.importorskip("fastapi")
    with own_platform(web_modules()) as platform, Scenario(platform) as scenario:
        stimulus = scenario.request("POST", "/api/shop/orders", json={"sku": "fig"})
        placed = stimulus.and_wait_for_event("order.placed", sku="fig")
        as_operator = scenario.request(
            "POST", "/api/shop/orders", caller=scenario.gateway.as_operator(), json={"sku": "yam"}
        )

    assert (stimulus.result.status_code, stimulus.result.json()) == (200, {"placed": "fig"})
    assert placed.source_module == "shop"
    assert as_operator.and_wait_for_event("order.placed").data["sku"] == "yam"


def test_an_http_request_without_the_web_extra_names_the_extra(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delitem(sys.modules, "aura.testing.http", raising=False)
    monkeypatch.setitem(sys.modules, "httpx", None)

    with pytest.raises(MissingExtraError) as missing:
        scenario.request("GET", "/api/orders")

    assert str(missing.value) == (
        "scenario.request() needs the gateway, which is not installed. Install Aura's web "
        "extra: pip install 'aura-modulith[web]'"
    )


# --- the bus's activity ---------------------------------------------------------------------------


def test_a_tracked_bus_counts_a_publish_in_flight_until_its_last_handler_returns() -> None:
    bus = EventBus()
    activity = bus.track_activity()
    seen: list[int] = []
    bus.subscribe("order.placed", lambda data: seen.append(activity.in_flight), "billing")
    bus.subscribe(
        "order.placed", lambda data: bus.publish("order.noted", {}, "billing"), "billing", name="re"
    )
    bus.subscribe("order.noted", lambda data: seen.append(activity.in_flight), "billing")

    bus.publish("order.placed", {}, "orders")

    assert seen == [1, 1]  # the event a handler published is part of the same job
    assert activity.in_flight == 0
    assert bus.track_activity() is activity


def test_an_async_publish_is_in_flight_while_its_handlers_are_awaited() -> None:
    bus = EventBus()
    activity = bus.track_activity()
    seen: list[int] = []

    async def handle(data: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        seen.append(activity.in_flight)

    bus.subscribe("order.placed", handle, "billing")
    asyncio.run(bus.apublish("order.placed", {}, "orders"))

    assert (seen, activity.in_flight) == ([1], 0)


def test_retrying_dead_letters_is_in_flight_too() -> None:
    bus = EventBus()
    activity = bus.track_activity()
    seen: list[int] = []

    def flaky(data: dict[str, Any]) -> None:
        seen.append(activity.in_flight)
        if len(seen) == 1:
            raise ValueError("first time")

    bus.subscribe("order.placed", flaky, "billing")
    bus.publish("order.placed", {}, "orders")
    report = bus.retry_dead_letters()

    assert (seen, len(report.succeeded), activity.in_flight) == ([1, 1], 1, 0)


def test_wait_idle_returns_once_quiet_and_false_while_a_job_stays_in_flight() -> None:
    bus = EventBus()
    activity = bus.track_activity()
    release = threading.Event()
    bus.subscribe("order.placed", lambda data: release.wait(10), "billing")
    worker = threading.Thread(target=bus.publish, args=("order.placed", {}, "orders"))

    worker.start()
    while activity.in_flight == 0:
        time.sleep(0.001)
    busy = activity.wait_idle(timeout=0.1)
    release.set()
    worker.join()
    started = time.monotonic()
    idle = activity.wait_idle(timeout=5.0, quiet=0.05)

    assert (busy, idle) == (False, True)
    assert time.monotonic() - started < 2.5  # not its 5 s timeout
    assert activity.idle_for() >= 0.05

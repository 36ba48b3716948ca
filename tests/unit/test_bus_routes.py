"""The bus's cached routes: after any sequence of subscribes, cancels and publishes, an event
reaches exactly the active subscriptions that select it, in subscription order."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aura.bus import EventBus
from aura.events import EventCatalog
from aura.naming import pattern_matches

TYPES = ["a.x", "a.y", "b.x", "b.y.z", "a.y.z"]
PATTERNS = [*TYPES, "a.*", "*.x", "*", "*.y.*", "b.*.z", "a.y.*"]

steps = st.lists(
    st.one_of(
        st.tuples(st.just("subscribe"), st.sampled_from(PATTERNS)),
        st.tuples(st.just("cancel"), st.integers(min_value=0, max_value=40)),
        st.tuples(st.just("publish"), st.sampled_from(TYPES)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(steps)
def test_every_publish_reaches_exactly_the_matching_subscriptions_in_order(
    plan: list[tuple[str, Any]],
) -> None:
    bus = EventBus(catalog=EventCatalog())
    received: list[tuple[str, int]] = []
    live: list[tuple[int, str, Any]] = []  # (number, pattern, subscription), in order
    for number, (action, argument) in enumerate(plan):
        if action == "subscribe":

            def handler(data: Any, number: int = number) -> None:
                received.append((data["type"], number))

            subscription = bus.subscribe(argument, handler, "sub", name=f"h{number}")
            live.append((number, argument, subscription))
        elif action == "cancel" and live:
            _, _, subscription = live.pop(argument % len(live))
            subscription.cancel()
        elif action == "publish":
            received.clear()
            bus.publish(argument, {"type": argument}, "pub")
            expected = [
                (argument, n) for n, pattern, _ in live if pattern_matches(pattern, argument)
            ]
            assert received == expected
            assert [s.handler_name for s in bus.subscriptions(argument)] == [
                f"h{n}" for _, n in expected
            ]
    assert bus.subscriptions() == [subscription for _, _, subscription in live]


def test_cancelling_a_pattern_keeps_the_routes_it_never_selected() -> None:
    bus = EventBus(catalog=EventCatalog())
    bus.subscribe("a.x", lambda data: None, "sub", name="ax")
    bus.subscribe("b.x", lambda data: None, "sub", name="bx")
    bus.publish("a.x", {}, "pub")
    bus.publish("b.x", {}, "pub")
    pattern = bus.subscribe("a.*", lambda data: None, "sub", name="a_any")
    assert set(bus._routes) == {"b.x"}  # only what 'a.*' selects was dropped
    bus.publish("a.x", {}, "pub")
    pattern.cancel()
    assert set(bus._routes) == {"b.x"}
    assert [s.handler_name for s in bus.subscriptions("a.x")] == ["ax"]

"""Observers that take the raw delivery form (the recorder's fast path) and those that do not."""

from __future__ import annotations

from typing import Any

from aura.bus import EventBus
from aura.delivery import Delivery, delivery_of
from aura.testing import Trace


class Raw:
    raw_deliveries = True

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def on_published(self, event: Any) -> None:
        pass

    def on_delivered(self, delivery: Any) -> None:
        self.seen.append(delivery)


class Plain(Raw):
    raw_deliveries = False


def bus_with(*observers: Raw) -> EventBus:
    bus = EventBus()
    bus.subscribe("parcel.sent", lambda data: None, "post")
    for observer in observers:
        bus.add_observer(observer)
    return bus


def test_when_every_observer_takes_the_raw_form_no_delivery_is_built() -> None:
    raw = Raw()
    event = bus_with(raw).publish("parcel.sent", {}, "shop")
    [seen] = raw.seen
    assert type(seen) is tuple
    delivery = delivery_of(seen)
    assert (delivery.event, delivery.subscriber_module, delivery.error) == (event, "post", None)
    assert delivery.duration >= 0


def test_with_one_observer_that_does_not_every_observer_gets_a_delivery() -> None:
    raw, plain = Raw(), Plain()
    bus_with(raw, plain).publish("parcel.sent", {}, "shop")
    assert [type(seen) for seen in raw.seen + plain.seen] == [Delivery, Delivery]


def test_a_trace_reads_raw_deliveries_as_deliveries() -> None:
    bus = bus_with()
    trace = Trace().attach(bus)
    bus.publish("parcel.sent", {}, "shop")
    [delivery] = trace.deliveries()
    assert isinstance(delivery, Delivery)
    assert [entry.kind for entry in trace.entries] == ["event", "delivery"]
    assert trace.render().splitlines()[1].startswith("     -> #1 to post:")


def test_each_raw_delivery_is_timed_from_the_end_of_the_one_before() -> None:
    import time

    bus = EventBus()
    # 0.2 s: the others' bounds, half that, hold on a loaded machine and still tell a
    # duration that took the sleep in from one that did not.
    bus.subscribe("parcel.sent", lambda data: time.sleep(0.2), "post", name="slow")
    bus.subscribe("parcel.sent", lambda data: None, "post", name="fast")
    bus.subscribe("parcel.sent", lambda data: 1 / 0, "post", name="failing")
    bus.subscribe("parcel.sent", lambda data: None, "post", name="after")
    raw, second = Raw(), Raw()
    bus.add_observer(raw)
    bus.publish("parcel.sent", {}, "shop")
    bus.add_observer(second)  # two raw observers: the loop over them
    bus.publish("parcel.sent", {}, "shop")
    deliveries = [delivery_of(seen) if type(seen) is tuple else seen for seen in raw.seen]
    assert [d.handler_name for d in deliveries] == ["slow", "fast", "failing", "after"] * 2
    durations = [delivery.duration for delivery in deliveries]
    for start in (0, 4):
        slow, fast, failing, after = durations[start : start + 4]
        assert slow >= 0.2
        # The sleep is counted once: in the slow handler's delivery, not in the next ones'.
        assert fast < 0.1
        assert failing < 0.1
        assert after < 0.1
    assert [type(seen).__name__ for seen in raw.seen] == ["tuple", "tuple", "Delivery", "tuple"] * 2
    assert len(second.seen) == 4

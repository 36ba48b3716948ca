"""A trace attached alone keeps an event's deliveries that succeeded one after another as one
record (aura.delivery.RouteObserver); read back, they are the same deliveries, entries and
parents, in the order the deliveries ended, whatever interrupts a run."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aura.bus import EventBus
from aura.delivery import Delivery, deliveries_of
from aura.events import Event, EventCatalog
from aura.testing import PublishedEvents, Trace


def bus_with(*handlers: tuple[str, Any]) -> EventBus:
    bus = EventBus(catalog=EventCatalog())
    for name, handler in handlers:
        bus.subscribe("parcel.sent", handler, "post", name=name)
    return bus


def nothing(data: Any) -> None:
    pass


def kinds(trace: Trace) -> list[str]:
    """The log as stored: what the recorder kept, one name per item."""
    names = {tuple: "raw", Event: "event", Delivery: "delivery"}
    return [
        "run"
        if type(stored) is tuple and len(stored) > 3
        else names.get(type(stored), type(stored).__name__)
        for stored in trace._log
    ]


def delivered(trace: Trace) -> list[tuple[str, str]]:
    return [
        (d.handler_name, "ok" if d.error is None else type(d.error).__name__)
        for d in trace.deliveries()
    ]


def test_an_events_deliveries_are_one_record_read_as_one_delivery_each() -> None:
    bus = bus_with(("a", nothing), ("b", nothing), ("c", nothing))
    trace = Trace().attach(bus)
    event = bus.publish("parcel.sent", {"n": 1}, "shop")

    assert kinds(trace) == ["event", "run"]
    [run] = [stored for stored in trace._log if type(stored) is tuple]
    assert run[0] is event
    assert run[2] == 0
    assert [type(took) for took in run[3:]] == [float, float, float]
    assert [d.handler_name for d in deliveries_of(run)] == ["a", "b", "c"]
    assert delivered(trace) == [("a", "ok"), ("b", "ok"), ("c", "ok")]
    assert all(d.duration >= 0 and d.event is event for d in trace.deliveries())
    assert [(e.kind, e.parent, e.depth) for e in trace.entries] == [
        ("event", None, 0),
        ("delivery", None, 0),
        ("delivery", None, 0),
        ("delivery", None, 0),
    ]
    assert trace.render().splitlines()[1:] == [f"     -> #1 to post:{name} ok" for name in "abc"]


def test_a_failure_ends_a_run_and_keeps_its_place() -> None:
    def broken(data: Any) -> None:
        raise ValueError("no stamp")

    bus = bus_with(("a", nothing), ("b", broken), ("c", nothing), ("d", nothing))
    trace = Trace().attach(bus)
    recorder = PublishedEvents(trace)
    mark = recorder.mark()
    bus.publish("parcel.sent", {"n": 1}, "shop")

    assert kinds(trace) == ["event", "run", "delivery", "run"]  # the failure, built in full
    assert delivered(trace) == [("a", "ok"), ("b", "ValueError"), ("c", "ok"), ("d", "ok")]
    assert [d.handler_name for d in recorder.failed_deliveries(mark)] == ["b"]
    assert [e.item.handler_name for e in trace.entries[1:]] == ["a", "b", "c", "d"]  # type: ignore[union-attr]


def test_a_subscription_cancelled_meanwhile_is_skipped_and_the_others_keep_their_names() -> None:
    bus = bus_with()
    later: list[Any] = []
    bus.subscribe("parcel.sent", lambda data: later[0].cancel(), "post", name="a")
    later.append(bus.subscribe("parcel.sent", nothing, "post", name="b"))
    bus.subscribe("parcel.sent", nothing, "post", name="c")
    trace = Trace().attach(bus)
    bus.publish("parcel.sent", {"n": 1}, "shop")
    assert delivered(trace) == [("a", "ok"), ("c", "ok")]


def test_what_a_handler_publishes_nests_under_it_and_the_run_before_it_comes_first() -> None:
    bus = bus_with()
    bus.subscribe("parcel.sent", nothing, "post", name="a")
    bus.subscribe(
        "parcel.sent", lambda data: bus.publish("parcel.stamped", data, "post"), "post", name="b"
    )
    bus.subscribe("parcel.sent", nothing, "post", name="c")
    bus.subscribe("parcel.stamped", nothing, "mail", name="d")
    trace = Trace().attach(bus)
    bus.publish("parcel.sent", {"n": 1}, "shop")

    entries = trace.entries
    assert [
        (e.kind, getattr(e.item, "handler_name", getattr(e.item, "event_type", None)), e.parent)
        for e in entries
    ] == [
        ("event", "parcel.sent", None),
        ("delivery", "a", None),
        ("delivery", "b", None),
        ("event", "parcel.stamped", 2),  # under b's delivery, entry 2
        ("delivery", "c", None),
        ("delivery", "d", None),  # delivered after parcel.sent's route: breadth first
    ]
    assert [e.depth for e in entries] == [0, 0, 0, 1, 0, 0]
    # a's run handed over before b's delivery was entered; b completed in place
    assert kinds(trace) == ["event", "run", "TraceEntry", "TraceEntry", "run", "raw"]
    lines = trace.render().splitlines()
    assert [line.split(" ok")[0] for line in lines] == [
        lines[0].split(" ok")[0],
        "     -> #1 to post:a",
        "     -> #1 to post:b",
        lines[3].split(" ok")[0],
        "     -> #1 to post:c",
        "     -> #2 to mail:d",
    ]
    assert lines[3].startswith("       #2 parcel.stamped from post")  # nested two columns in


def test_a_call_opened_elsewhere_mid_route_comes_before_the_run_still_open() -> None:
    """Another thread opens a call while a route runs: from then on each delivery of the route
    is told alone, after the run before it, which is entered then: what another thread
    records comes before the deliveries of a run still open (each thread's own order holds)."""
    opened, release = threading.Event(), threading.Event()
    trace = Trace()

    def caller() -> None:
        finish = trace.start_call(None, "stock", "Stock", "reserve")
        opened.set()
        release.wait(10)
        finish(None)

    def second(data: Any) -> None:
        threading.Thread(target=caller).start()
        assert opened.wait(10)

    bus = bus_with(("a", nothing), ("b", second), ("c", nothing), ("d", nothing))
    trace.attach(bus)
    bus.publish("parcel.sent", {"n": 1}, "shop")
    release.set()

    assert delivered(trace) == [("a", "ok"), ("b", "ok"), ("c", "ok"), ("d", "ok")]
    assert [(e.kind, getattr(e.item, "handler_name", None)) for e in trace.entries] == [
        ("event", None),
        ("call", None),  # opened while b ran, a's run still open
        ("delivery", "a"),  # the run so far, entered when b was told alone
        ("delivery", "b"),
        ("delivery", "c"),
        ("delivery", "d"),
    ]
    assert kinds(trace) == ["event", "TraceEntry", "run", "delivery", "delivery", "delivery"]


def test_two_traces_each_record_every_delivery() -> None:
    bus = bus_with(("a", nothing), ("b", nothing))
    first, second = Trace().attach(bus), Trace().attach(bus)
    bus.publish("parcel.sent", {"n": 1}, "shop")
    assert delivered(first) == delivered(second) == [("a", "ok"), ("b", "ok")]
    assert "run" not in kinds(first)  # not alone: one raw record per delivery


def test_async_handlers_are_recorded_as_runs_too() -> None:
    async def handler(data: Any) -> None:
        await asyncio.sleep(0)

    bus = bus_with(("a", handler), ("b", handler), ("c", handler))
    trace = Trace().attach(bus)

    async def main() -> None:
        await asyncio.gather(*(bus.apublish("parcel.sent", {"n": n}, "shop") for n in range(3)))

    asyncio.run(main())
    assert len(trace.deliveries()) == 9
    for event in trace.events():  # each event's own deliveries, in subscription order
        assert [d.handler_name for d in trace.deliveries() if d.event is event] == ["a", "b", "c"]
    assert kinds(trace).count("run") == 3


def test_a_route_of_one_subscriber_is_one_raw_delivery() -> None:
    bus = bus_with(("a", nothing))
    trace = Trace().attach(bus)
    bus.publish("parcel.sent", {"n": 1}, "shop")
    assert kinds(trace) == ["event", "raw"]
    assert delivered(trace) == [("a", "ok")]


def test_what_a_handler_does_through_an_untraced_bus_comes_after_the_run_before_it() -> None:
    """The handler publishes on a bus the trace does not watch, whose handler calls a traced
    service: the open run of the outer route is entered first (its dispatch is the outer one
    of the untraced bus's)."""
    from aura.registry import ServiceRegistry

    class Stock:
        def reserve(self) -> int:
            return 1

    registry = ServiceRegistry()
    registry.register_service("stock", "Stock", Stock())
    outer, untraced = bus_with(), EventBus(catalog=EventCatalog())
    outer.subscribe("parcel.sent", nothing, "post", name="a")
    outer.subscribe(
        "parcel.sent", lambda data: untraced.publish("parcel.weighed", {}, "post"), "post", name="b"
    )
    outer.subscribe("parcel.sent", nothing, "post", name="c")
    untraced.subscribe(
        "parcel.weighed",
        lambda data: registry.get_service("stock", "Stock").reserve(),
        "scale",
        name="w",
    )
    trace = Trace().attach(outer, registry)
    outer.publish("parcel.sent", {"n": 1}, "shop")
    assert [(e.kind, getattr(e.item, "handler_name", None)) for e in trace.entries] == [
        ("event", None),
        ("delivery", "a"),
        ("call", None),
        ("delivery", "b"),
        ("delivery", "c"),
    ]


def test_a_trace_attached_mid_route_takes_nothing_of_the_run_of_the_one_before() -> None:
    traces: list[Trace] = []

    def swap(data: Any) -> None:
        traces[0].detach()
        traces.append(Trace().attach(bus))

    bus = bus_with(("a", nothing), ("b", swap), ("c", nothing))
    bus.subscribe(
        "parcel.sent", lambda data: bus.publish("parcel.kept", {}, "post"), "post", name="d"
    )
    bus.subscribe("parcel.kept", nothing, "shelf", name="k1")
    bus.subscribe("parcel.kept", nothing, "shelf", name="k2")
    traces.append(Trace().attach(bus))
    bus.publish("parcel.sent", {"n": 1}, "shop")
    first, second = traces
    assert [d.handler_name for d in first.deliveries()] == ["a", "b", "c", "d"]
    assert [d.handler_name for d in second.deliveries()] == ["k1", "k2"]  # after it attached


def test_a_trace_cleared_by_a_handler_keeps_nothing_of_the_run_before() -> None:
    traces: list[Trace] = []
    bus = bus_with(("a", nothing), ("b", lambda data: traces[0].clear()), ("c", nothing))
    traces.append(Trace().attach(bus))
    bus.publish("parcel.sent", {"n": 1}, "shop")
    assert [d.handler_name for d in traces[0].deliveries()] == ["b", "c"]

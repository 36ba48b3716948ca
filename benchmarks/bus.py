"""Publishing one event to 1 and to 10 no-op subscribers: aura against the event libraries.

aura builds the full envelope (id, UTC timestamp, correlation and causation ids), isolates each
handler and sets the current module around it, with no observer attached, and once more with the
harness's recorder attached (what ``published_events`` uses). The peers are called in their own
idiomatic form with the same data.
"""

from __future__ import annotations

import dataclasses
import itertools
import types
from collections.abc import Callable

import blinker
import lato
import pydantic
import pyee
from pubsub import pub

from aura.bus import EventBus
from aura.events import Event, EventCatalog, event_contract
from aura.testing.recorders import Trace
from benchmarks.core import BASELINE_LOOP, Area, Case, Namespace, Target, memory_case

__all__ = ["AREA"]

DATA = {"session_id": 1, "patient_id": 7}
_topics = itertools.count(1)


def _on_data(data: object) -> None:
    """A subscriber that does nothing (aura, pyee, pypubsub)."""


def _on_signal(sender: object, **kwargs: object) -> None:
    """A blinker receiver that does nothing."""


def _copies(function: Callable[..., None], count: int) -> list[Callable[..., None]]:
    """``count`` distinct functions running ``function``'s code, with its name and annotations.

    Distinct, because pyee and blinker keep one entry per function: ten subscriptions of one
    function would be one subscriber.
    """
    copies: list[Callable[..., None]] = []
    for _ in range(count):
        copy = types.FunctionType(function.__code__, function.__globals__, function.__name__)
        copy.__qualname__ = function.__qualname__
        copy.__annotations__ = dict(function.__annotations__)
        copies.append(copy)
    return copies


def _aura(subscribers: int, *, recorded: bool = False) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        # A catalog of its own: no contract, so no validation, and nothing shared with others.
        bus = EventBus(catalog=EventCatalog())
        for n, handler in enumerate(_copies(_on_data, subscribers)):
            bus.subscribe("session.scheduled", handler, "sub", name=f"handler{n}")
        trace = Trace().attach(bus) if recorded else None
        return {"bus": bus, "data": DATA, "trace": trace}

    return setup


def _clear_trace(namespace: Namespace) -> None:
    # A test records a handful of events; a benchmark round records thousands.
    namespace["trace"].clear()


def _blinker(subscribers: int) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        signal = blinker.Signal()
        for handler in _copies(_on_signal, subscribers):
            signal.connect(handler, weak=False)  # strong references: blinker's fastest form
        return {"signal": signal, "data": DATA}

    return setup


def _pyee(subscribers: int) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        emitter = pyee.EventEmitter()
        for handler in _copies(_on_data, subscribers):
            emitter.on("session.scheduled", handler)
        return {"emitter": emitter, "data": DATA}

    return setup


def _pypubsub(subscribers: int) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        # pypubsub's publisher is process-wide: a topic per setup keeps setups apart.
        topic = f"bench{next(_topics)}"
        handlers = _copies(_on_data, subscribers)
        for handler in handlers:
            pub.subscribe(handler, topic)
        # pypubsub holds listeners weakly: the namespace keeps them alive.
        return {"pub": pub, "topic": topic, "data": DATA, "handlers": handlers}

    return setup


class SessionScheduled(lato.Event):
    """The event lato publishes: lato events are pydantic models with an id."""

    session_id: int
    patient_id: int


def _lato(subscribers: int) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        app = lato.Application("bench")
        for handler in _copies(_on_lato_event, subscribers):
            app.handler(SessionScheduled)(handler)
        return {"app": app, "SessionScheduled": SessionScheduled}

    return setup


def _on_lato_event(event: SessionScheduled) -> None:
    """A lato event handler that does nothing."""


def _cases(subscribers: int) -> tuple[Case, ...]:
    group = f"publish to {subscribers}"
    return (
        Case(group, "aura", 'bus.publish("session.scheduled", data, "pub")', _aura(subscribers)),
        Case(
            group,
            "aura + recorder",
            'bus.publish("session.scheduled", data, "pub")',
            _aura(subscribers, recorded=True),
            reset=_clear_trace,
        ),
        Case(group, "blinker Signal.send", 'signal.send("pub", data=data)', _blinker(subscribers)),
        Case(
            group,
            "pyee EventEmitter.emit",
            'emitter.emit("session.scheduled", data)',
            _pyee(subscribers),
        ),
        Case(
            group,
            "pypubsub pub.sendMessage",
            "pub.sendMessage(topic, data=data)",
            _pypubsub(subscribers),
        ),
        Case(
            group,
            "lato Application.publish",
            "app.publish(SessionScheduled(session_id=1, patient_id=7))",
            _lato(subscribers),
        ),
    )


# --- with a contract ------------------------------------------------------------------------

_CONTRACT = "publish to 1, the type with a contract"
_TYPED = "publish to 10, the type with a contract"


@dataclasses.dataclass(frozen=True)
class ScheduledRecord:
    """The contract as a dataclass."""

    session_id: int
    patient_id: int


class ScheduledModel(pydantic.BaseModel):
    """The contract as a pydantic model."""

    session_id: int
    patient_id: int


@dataclasses.dataclass
class ScheduledDraft:
    """The contract as a mutable dataclass: each typed handler gets an instance of its own."""

    session_id: int
    patient_id: int


def _on_draft(event: ScheduledDraft) -> None:
    """A handler typed with the mutable contract class."""


def _on_record(event: ScheduledRecord) -> None:
    """A handler typed with the contract class: it gets an instance."""


def _on_envelope(event: Event) -> None:
    """A handler typed with the envelope."""


def _contracted(
    contract: type, subscribers: int, handler: Callable[..., None]
) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        catalog = EventCatalog()
        event_contract("session.scheduled", catalog=catalog)(contract)
        bus = EventBus(catalog=catalog)
        for n, copy in enumerate(_copies(handler, subscribers)):
            bus.subscribe("session.scheduled", copy, "sub", name=f"handler{n}")
        return {"bus": bus, "data": DATA}

    return setup


_PUBLISH = 'bus.publish("session.scheduled", data, "pub")'
_CONTRACT_CASES = (
    Case(
        _CONTRACT, "aura, dataclass contract", _PUBLISH, _contracted(ScheduledRecord, 1, _on_data)
    ),
    Case(_CONTRACT, "aura, pydantic contract", _PUBLISH, _contracted(ScheduledModel, 1, _on_data)),
    Case(
        _TYPED,
        "aura, 10 handlers typed with the dataclass",
        _PUBLISH,
        _contracted(ScheduledRecord, 10, _on_record),
    ),
    Case(
        _TYPED,
        "aura, 10 handlers typed with a mutable dataclass (an instance each)",
        _PUBLISH,
        _contracted(ScheduledDraft, 10, _on_draft),
    ),
    Case(
        _TYPED,
        "aura, 10 handlers taking the Event",
        _PUBLISH,
        _contracted(ScheduledRecord, 10, _on_envelope),
    ),
)

# --- a large bus: cold routes and flat cost ---------------------------------------------------

_LARGE = "publish to 1, 10,000 other types and 100 patterns subscribed"
_FLAT = "publish to 1, 10,000 other types subscribed"
_WARM = "warm (its route used before)"
_AFTER_TYPE = "first publish after subscribing and cancelling another type"
_AFTER_PATTERN = "first publish after subscribing and cancelling a pattern"


def _large(types_: int, patterns: int) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        bus = EventBus(catalog=EventCatalog())
        handlers = _copies(_on_data, types_ + patterns + 2)
        for n in range(types_):
            bus.subscribe(f"other{n}.placed", handlers[n], "sub")
        for n in range(patterns):  # patterns that never match session.scheduled
            bus.subscribe(f"other{n}.*", handlers[types_ + n], "patterns")
        bus.subscribe("session.scheduled", handlers[-2], "sub")
        for n in range(types_):  # every route used once: the caches a live bus has
            bus.publish(f"other{n}.placed", DATA, "pub")
        bus.publish("session.scheduled", DATA, "pub")
        return {"bus": bus, "data": DATA, "late": handlers[-1]}

    return setup


# The subscribe and cancel are taken off the clock (_t0: see benchmarks.core's loop), so the
# time is the publish's alone; the warm case reads the clock as often, so the two compare.
_UNTIMED = """
_s = _timer()
{before}
_t0 += _timer() - _s
bus.publish("session.scheduled", data, "pub")
_s = _timer()
{after}
_t0 += _timer() - _s
"""

_LARGE_CASES = (
    Case(_LARGE, _WARM, _UNTIMED.format(before="pass", after="pass"), _large(10_000, 100)),
    Case(
        _LARGE,
        _AFTER_TYPE,
        _UNTIMED.format(
            before='late_sub = bus.subscribe("another.placed", late, "late")',
            after="late_sub.cancel()",
        ),
        _large(10_000, 100),
    ),
    Case(
        _LARGE,
        _AFTER_PATTERN,
        _UNTIMED.format(
            before='late_sub = bus.subscribe("another.*", late, "late")\nlate_sub.cancel()',
            after="pass",
        ),
        _large(10_000, 100),
    ),
    Case(_FLAT, "aura", _PUBLISH, _large(10_000, 0)),
)

# --- the recorder's memory ------------------------------------------------------------------

_MEMORY = "memory the recorder holds per recorded event"


_MEMORY_CASES = tuple(
    memory_case(
        _MEMORY,
        f"aura + recorder, {subscribers} subscriber{'s' if subscribers > 1 else ''}",
        _PUBLISH,
        _aura(subscribers, recorded=True),
        reset=_clear_trace,
    )
    for subscribers in (1, 10)
)

# --- async ----------------------------------------------------------------------------------

_ASYNC = "apublish to 10 async handlers"


async def _on_data_async(data: object) -> None:
    """An async subscriber that does nothing."""


def _async_bus() -> Namespace:
    bus = EventBus(catalog=EventCatalog())
    for n, handler in enumerate(_copies_async(10)):
        bus.subscribe("session.scheduled", handler, "sub", name=f"handler{n}")
    return {"bus": bus, "data": DATA}


def _copies_async(count: int) -> list[Callable[..., object]]:
    return [
        types.FunctionType(_on_data_async.__code__, _on_data_async.__globals__, f"h{n}")
        for n in range(count)
    ]


def _await_loop() -> Namespace:
    return {"handlers": _copies_async(10), "data": DATA}


_ASYNC_CASES = (
    Case(
        _ASYNC,
        "aura await bus.apublish",
        'await bus.apublish("session.scheduled", data, "pub")',
        _async_bus,
        is_async=True,
    ),
    Case(
        _ASYNC,
        "plain loop awaiting 10 no-op coroutines",
        "for handler in handlers:\n    await handler(data)",
        _await_loop,
        is_async=True,
    ),
)

_SUBSCRIBE = "subscribe 20,000 handlers"


def _handlers() -> Namespace:
    """20,000 distinct handlers (one closure each), 20,000 types and 100 patterns among them."""
    names = [f"bench{n}.placed" if n % 200 else f"bench{n}.*" for n in range(20_000)]
    return {"EventBus": EventBus, "plan": list(zip(names, _copies(_on_data, 20_000), strict=True))}


_SUBSCRIBE_STMT = """
bus = EventBus()
for event_type, handler in plan:
    bus.subscribe(event_type, handler, "sub")
"""


def _blinker_many() -> Namespace:
    return {"Signal": blinker.Signal, "handlers": _copies(_on_signal, 20_000)}


_BLINKER_STMT = """
signal = Signal()
for handler in handlers:
    signal.connect(handler, weak=False)
"""


AREA = Area(
    name="bus",
    title="Event bus: publish one event to 1 and to 10 no-op subscribers",
    cases=(
        *_cases(1),
        *_cases(10),
        *_CONTRACT_CASES,
        *_LARGE_CASES,
        *_MEMORY_CASES,
        *_ASYNC_CASES,
        Case(_SUBSCRIBE, "aura EventBus.subscribe", _SUBSCRIBE_STMT, _handlers),
        Case(_SUBSCRIBE, "blinker Signal.connect", _BLINKER_STMT, _blinker_many),
    ),
    targets=(
        Target(f"{_SUBSCRIBE} / aura EventBus.subscribe", "≤ 0.5 s", 0.5e9),
        Target(
            "publish to 10 / aura", "≤ 0.6x pyee", 0.6, "publish to 10 / pyee EventEmitter.emit"
        ),
        Target("publish to 10 / aura", "≤ 3x the 10-call loop", 3.0, BASELINE_LOOP),
        Target("publish to 1 / aura", "≤ 1.0x pyee", 1.0, "publish to 1 / pyee EventEmitter.emit"),
        Target(
            "publish to 1 / aura + recorder",
            "≤ 1.2x publish without it",
            1.2,
            "publish to 1 / aura",
        ),
        Target(
            "publish to 10 / aura + recorder",
            "≤ 1.2x publish without it",
            1.2,
            "publish to 10 / aura",
        ),
        *(
            Target(
                f"{_CONTRACT} / {name}",
                "≤ 1.3x the publish without one",
                1.3,
                "publish to 1 / aura",
            )
            for name in ("aura, dataclass contract", "aura, pydantic contract")
        ),
        Target(
            f"{_TYPED} / aura, 10 handlers typed with the dataclass",
            "≤ 1.3x the publish without one",
            1.3,
            "publish to 10 / aura",
        ),
        *(
            Target(f"{_LARGE} / {name}", "≤ 2x a warm publish", 2.0, f"{_LARGE} / {_WARM}")
            for name in (_AFTER_TYPE, _AFTER_PATTERN)
        ),
        Target(f"{_FLAT} / aura", "≤ 1.1x the bus with one type", 1.1, "publish to 1 / aura"),
        Target(f"{_MEMORY} / aura + recorder, 10 subscribers", "≤ 1 KB (1,000 B)", 1000),
        Target(
            f"{_ASYNC} / aura await bus.apublish",
            "≤ 5x the plain await loop",
            5.0,
            f"{_ASYNC} / plain loop awaiting 10 no-op coroutines",
        ),
    ),
    notes=(
        "aura: full envelope (uuid4 id, UTC timestamp, correlation and causation ids), each "
        "handler isolated (an exception becomes a dead letter) and run as its module; no "
        "contract registered for the type, so no validation.",
        "aura + recorder: `aura.testing.recorders.Trace().attach(bus)`, as `published_events` "
        "records; emptied between rounds.",
        "With a contract: the same publish, the type's contract a frozen dataclass or a "
        "pydantic model of the two ints, validated strictly as JSON; handlers typed with a "
        "frozen contract share the instance validation built, a mutable one's get one each.",
        "10,000 other types: each subscribed and published once before the rounds (a live bus's "
        "caches); the subscribe and cancel of the first-publish cases are off the clock, which "
        "the warm case reads as often.",
        "Memory: tracemalloc's count of the bytes held after 1,000 publishes with the trace "
        "attached (the event, its metadata and data, the trace's entries), per publish; the "
        "issue measured faststream's TestBroker at 23.7 KB (not installed here).",
        "apublish: 10 `async def` no-op handlers, awaited in order, each isolated and run as "
        "its module; the reference awaits the 10 coroutine functions in a loop.",
        "blinker: receivers connected with `weak=False`; pypubsub: the process-wide `pub`; lato: "
        "the event is built in the statement, as a caller must (a pydantic model with a uuid4 id).",
    ),
    packages=("aura", "blinker", "pyee", "pypubsub", "lato"),
)

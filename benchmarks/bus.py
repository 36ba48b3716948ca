"""Publishing one event to 1 and to 10 no-op subscribers: aura against the event libraries.

aura builds the full envelope (id, UTC timestamp, correlation and causation ids), isolates each
handler and sets the current module around it, with no observer attached, and once more with the
harness's recorder attached (what ``published_events`` uses). The peers are called in their own
idiomatic form with the same data.
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Callable

import blinker
import lato
import pyee
from pubsub import pub

from aura.bus import EventBus
from aura.events import EventCatalog
from aura.testing.recorders import Trace
from benchmarks.core import BASELINE_LOOP, Area, Case, Namespace, Target

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
    ),
    notes=(
        "aura: full envelope (uuid4 id, UTC timestamp, correlation and causation ids), each "
        "handler isolated (an exception becomes a dead letter) and run as its module; no "
        "contract registered for the type, so no validation.",
        "aura + recorder: `aura.testing.recorders.Trace().attach(bus)`, as `published_events` "
        "records; emptied between rounds.",
        "blinker: receivers connected with `weak=False`; pypubsub: the process-wide `pub`; lato: "
        "the event is built in the statement, as a caller must (a pydantic model with a uuid4 id).",
    ),
    packages=("aura", "blinker", "pyee", "pypubsub", "lato"),
)

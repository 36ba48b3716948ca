"""Recorders that see a platform at work: events, deliveries, service calls, breaker transitions.

:class:`Trace` attaches to a bus and a registry and keeps everything in causal order: a service
call takes its place when it starts, and so does a delivery whose handler published or called
anything; what runs inside a call or a delivery is nested under it (``TraceEntry.parent`` and
``depth``). :class:`PublishedEvents` and :class:`ServiceCalls` are the views tests assert on.
Assertion failures render the whole recording, so a failing test says what did happen.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple, overload

from aura import context as _context
from aura.breaker import BreakerTransition
from aura.bus import Delivery, EventBus
from aura.clock import real_perf_counter
from aura.delivery import current_dispatch, deliveries_of, delivery_of
from aura.events import Event, thaw_json
from aura.exceptions import ServiceNotAvailableError
from aura.hooks import Finish, Interceptor
from aura.registry import ServiceCall, ServiceRegistry
from aura.testing.matching import describe_value, mismatches

__all__ = [
    "CallInProgress",
    "DeliveryInProgress",
    "PublishedEvents",
    "ServiceCalls",
    "Trace",
    "TraceEntry",
]

EntryKind = Literal["event", "delivery", "call", "breaker"]
_new_tuple: Any = tuple.__new__
_current_event = _context._current_event.get
_current_module = _context._current_module.get
_correlation_id = _context._correlation_id.get


class CallInProgress(NamedTuple):
    """A service call that started and has not ended yet: its entry's item until it ends."""

    caller_module: str | None
    provider_module: str
    service_name: str
    method: str
    started_at: datetime
    correlation_id: str | None


class DeliveryInProgress(NamedTuple):
    """A delivery whose handler is still running: its entry's item until the handler returns."""

    event: Event
    subscriber_module: str | None


TraceItem = Event | Delivery | ServiceCall | BreakerTransition | CallInProgress | DeliveryInProgress


class TraceEntry(NamedTuple):
    """One thing that happened, in causal order: an event, a delivery, a call, a transition.

    ``parent`` is the index in :attr:`Trace.entries` of the call or delivery that was running
    when this started (``None`` at the top level) and ``depth`` how many such are around it;
    ``fake`` marks a call served by a :class:`~aura.testing.fakes.RecordingFake`.
    """

    kind: EntryKind
    item: TraceItem
    parent: int | None = None
    depth: int = 0
    fake: bool = False


_Frame = tuple[int, Event | None, int]
"""A call running in this context: its entry's index, the event being handled when it started
(``None`` outside any handler) and its depth."""


class _BusTap:
    """What a trace attaches to a bus as its observer: the attributes the bus calls and reads.

    While no call and no delivery with nested entries is running, ``routing`` is true: the
    bus hands over an event's deliveries that succeeded as runs, one ``on_route`` record each
    (the trace log's own ``list.append``: recording runs no Python frame; it is the recorder's
    hot path), and a failed one to ``on_delivered``, the log's ``append`` too. Otherwise
    ``on_delivered`` is :meth:`Trace.on_delivered`, which puts each outcome in the place the
    delivery started (see :class:`aura.delivery.RouteObserver`).
    """

    __slots__ = ("on_delivered", "on_published", "on_route", "routing")
    raw_deliveries = True
    """The bus may hand it raw delivery tuples (converted when the trace is read)."""
    raw_routes = True
    """Attached alone, the bus hands it runs of deliveries (expanded when the trace is read)."""

    def __init__(
        self, on_published: Callable[[Event], None], append: Callable[[Any], None]
    ) -> None:
        self.on_published = on_published
        self.on_delivered: Callable[[Any], None] = append
        self.on_route = append
        self.routing = True


class _CallHook(Interceptor):
    """Puts each cross-module call of one registry in a trace when it starts."""

    def __init__(self, trace: Trace, registry: ServiceRegistry) -> None:
        from aura.testing.fakes import is_fake  # the fakes import the registry, not the trace

        self._trace = trace
        self._registry = registry
        self._is_fake = is_fake

    def calling(
        self, caller_module: str | None, provider_module: str, service_name: str, method: str
    ) -> Finish | None:
        try:
            served_by = self._registry.get_service(provider_module, service_name)
        except ServiceNotAvailableError:  # withdrawn while the call was on its way
            served_by = None
        return self._trace.start_call(
            caller_module,
            provider_module,
            service_name,
            method,
            fake=self._is_fake(served_by),
        )


class Trace:
    """Everything a bus and a registry did while attached, in causal order.

    Within a thread (or an asyncio task) entries come in the order things happened. Attached
    alone to a bus, a trace keeps an event's deliveries that succeeded one after another as one
    record, entered when the run ends (at the end of the event's route, or when a failure or
    something nested in a delivery interrupts it): what another thread or task records
    meanwhile comes before that run's deliveries.
    """

    def __init__(self) -> None:
        # The entries, some stored bare (an Event or a Delivery at the top level, as the bus
        # hands them over): ``entries`` wraps those. Never rebound: the tap holds its append.
        self._log: list[Any] = []
        # The event numbers, read from the log when asked (recording writes none): the
        # numbers found so far, and how far into the log they were looked for.
        self._numbers: dict[str, int] = {}
        self._numbered = 0
        self._detach: list[Callable[[], None]] = []
        self._lock = threading.Lock()
        self._open_calls = 0
        # event id -> (index, entry) of the delivery in progress that has nested entries
        self._running: dict[str, tuple[int, TraceEntry]] = {}
        self._frame: ContextVar[_Frame | None] = ContextVar("aura_trace_frame", default=None)
        self._buses: tuple[EventBus, ...] = ()
        self._tap = _BusTap(self.on_published, self._log.append)

    def uncommitted(self) -> str:
        """A hint, when an attached bus's database is inside a transaction right now: events
        published in it are recorded when it commits (a Django ``db`` test never commits)."""
        for bus in self._buses:
            transactions = bus.transactions
            if transactions is not None and transactions.in_transaction:
                return (
                    "\nA transaction of the platform's database is open: events published in it "
                    "are recorded when it commits. In a Django test, use transactional_db, or "
                    "publish inside django_capture_on_commit_callbacks(execute=True)."
                )
        return ""

    def attach(self, bus: EventBus, registry: ServiceRegistry | None = None) -> Trace:
        """Start recording ``bus`` (and ``registry``, with its services' breakers)."""
        self._detach.append(bus.add_observer(self._tap))
        with self._lock:
            self._buses = (*self._buses, bus)
        self._detach.append(lambda: self._forget_bus(bus))
        if registry is not None:
            self._detach.append(registry.add_interceptor(_CallHook(self, registry)))
            for info in registry.services():
                breaker = getattr(info.policy, "breaker", None)
                if breaker is not None and hasattr(breaker, "add_listener"):
                    self.watch_breaker(breaker)
        return self

    def _forget_bus(self, bus: EventBus) -> None:
        with self._lock:
            self._buses = tuple(b for b in self._buses if b is not bus)

    def watch_breaker(self, breaker: Any) -> None:
        """Record the transitions of a circuit breaker."""
        breaker.add_listener(self.on_transition)
        self._detach.append(lambda: breaker.remove_listener(self.on_transition))

    def detach(self) -> None:
        """Stop recording."""
        while self._detach:
            self._detach.pop()()

    def clear(self) -> None:
        """Forget everything recorded so far (the event numbers too); keep recording."""
        with self._lock:
            self._take_runs(keep=False)  # a run open here (cleared from a handler) goes too
            self._log.clear()
            self._numbers.clear()
            self._numbered = 0
            self._running.clear()
            self._relax()

    @property
    def entries(self) -> list[TraceEntry]:
        """Everything recorded, in causal order (a new list on each access)."""
        entries: list[TraceEntry] = []
        # Where each stored item's first entry is: a run of deliveries stored as one record
        # is an entry per delivery, and the parents of what follows move with it.
        position: list[int] = []
        for stored in list(self._log):
            position.append(len(entries))
            if type(stored) is tuple and len(stored) > 3:  # a run (aura.delivery.RouteObserver)
                entries.extend(
                    _new_tuple(TraceEntry, ("delivery", delivery, None, 0, False))
                    for delivery in deliveries_of(stored)
                )
                continue
            entry = _as_entry(stored)
            parent = entry.parent
            if parent is not None and parent < len(position) and position[parent] != parent:
                entry = entry._replace(parent=position[parent])
            entries.append(entry)
        return entries

    # observer protocol of the bus, registry and breakers

    @property
    def numbers(self) -> dict[str, int]:
        """Each recorded event's number (by event id): 1 for the first published, and so on.

        Read from the log on access, the new part only; the same dict every time (emptied by
        :meth:`clear`)."""
        with self._lock:  # two readers at once would number the new events twice
            log, numbers = self._log, self._numbers
            end = len(log)
            for stored in log[self._numbered : end]:
                if isinstance(stored, Event):
                    numbers[stored.event_id] = len(numbers) + 1
                elif type(stored) is TraceEntry and stored.kind == "event":
                    numbers[stored.item.event_id] = len(numbers) + 1  # type: ignore[union-attr]
            self._numbered = end
        return numbers

    def on_published(self, event: Event) -> None:
        """Record a published event, nested under the call or delivery that published it."""
        if self._open_calls or self._running or _current_event() is not None:
            parent, depth = self._enclosing(_current_module())
            if parent is not None:
                self._append(_new_tuple(TraceEntry, ("event", event, parent, depth, False)))
                return
        self._log.append(event)

    def on_delivered(self, delivery: Delivery) -> None:
        """Record one delivery outcome, in the place it started when its handler nested any."""
        if type(delivery) is tuple:  # the bus's raw form (see aura.delivery.BusObserver)
            delivery = delivery_of(delivery)
        held = self._running.pop(delivery.event.event_id, None) if self._running else None
        if held is not None:
            index, running = held
            done = ("delivery", delivery, running.parent, running.depth, False)
            self._replace(index, running, _new_tuple(TraceEntry, done))
            with self._lock:
                self._relax()
            return
        frame = self._frame.get()
        if frame is None:
            self._log.append(delivery)
        else:
            entry = ("delivery", delivery, frame[0], frame[2] + 1, False)
            self._log.append(_new_tuple(TraceEntry, entry))

    def on_service_call(self, call: ServiceCall) -> None:
        """Record a service call that has ended (one that a bridge reports, say)."""
        parent, depth = self._enclosing(call.caller_module)
        self._append(TraceEntry("call", call, parent, depth))

    def on_transition(self, transition: BreakerTransition) -> None:
        """Record a circuit breaker transition."""
        parent, depth = self._enclosing(_current_module())
        self._append(TraceEntry("breaker", transition, parent, depth))

    def start_call(
        self,
        caller_module: str | None,
        provider_module: str,
        service_name: str,
        method: str,
        *,
        fake: bool = False,
    ) -> Finish:
        """Record that a call starts, in its place; return the function that records its end.

        Call the returned function once, in the same context, with what the call raised (or
        ``None``): the entry then holds the finished :class:`~aura.registry.ServiceCall`.
        Whatever is recorded in between is nested under the call.
        """
        parent, depth = self._enclosing(caller_module)
        running = CallInProgress(
            caller_module,
            provider_module,
            service_name,
            method,
            datetime.now(UTC),
            _correlation_id(),
        )
        entry = TraceEntry("call", running, parent, depth, fake)
        with self._lock:
            self._open_calls += 1
            self._slow()
            index = self._append(entry)
        token = self._frame.set((index, _current_event(), depth))
        clock = real_perf_counter()  # real under frozen_time (aura.clock)
        started = clock()

        def finish(error: BaseException | None) -> None:
            duration = clock() - started
            call = ServiceCall(
                caller_module=caller_module,
                provider_module=provider_module,
                service_name=service_name,
                method=method,
                started_at=running.started_at,
                duration=duration,
                error=error,
                correlation_id=running.correlation_id,
            )
            self._replace(index, entry, TraceEntry("call", call, parent, depth, fake))
            with self._lock:
                self._open_calls -= 1
                self._relax()
            self._frame.reset(token)

        return finish

    # nesting

    def _enclosing(self, module: str | None) -> tuple[int | None, int]:
        """The index and depth-to-be of what a new entry nests under, here and now.

        The innermost of: the call running in this context, and the delivery being handled
        (``module`` is the module handling it, for a delivery first seen here).
        """
        frame = self._frame.get()
        event = _current_event()
        if event is not None and (frame is None or frame[1] is not event):
            slot = self._delivery_of(event, module, frame)
            if slot is not None:
                return slot
        if frame is not None:
            return frame[0], frame[2] + 1
        return None, 0

    def _delivery_of(
        self, event: Event, module: str | None, frame: _Frame | None
    ) -> tuple[int, int] | None:
        """The delivery of ``event`` in progress here, entered in the trace on first need.

        ``None`` when no delivery of one of the traced buses runs (a replay, which records
        nothing, or code in ``event_scope`` of its own).
        """
        with self._lock:  # what ended before this nested entry, first
            self._take_runs(keep=True)
        held = self._running.get(event.event_id)
        if held is not None:
            return held[0], held[1].depth + 1
        dispatch = current_dispatch.get()
        if dispatch is None or dispatch.replaying:
            return None
        if not any(dispatch.bus is bus for bus in self._buses):
            return None
        parent, depth = (frame[0], frame[2] + 1) if frame is not None else (None, 0)
        entry = TraceEntry("delivery", DeliveryInProgress(event, module), parent, depth)
        with self._lock:
            index = self._append(entry)
            self._running[event.event_id] = (index, entry)
            self._slow()
        return index, depth + 1

    def _take_runs(self, *, keep: bool) -> None:
        """Take the runs of deliveries open for this trace in this context (the dispatch's,
        then those of the jobs it runs inside: the outermost first): entered in the log
        (``keep``) or dropped; each run goes on after them. Call it holding the lock."""
        runs = []
        dispatch = current_dispatch.get()
        while dispatch is not None:
            run = dispatch.run
            if run is not None and len(run) > 3 and dispatch.router is self._tap:
                runs.append(run)
            dispatch = dispatch.outer
        for run in reversed(runs):
            if keep:
                self._log.append(tuple(run))
            run[2] += len(run) - 3
            del run[3:]

    def _slow(self) -> None:
        """Each delivery told alone, to be put in its place (call it holding the lock)."""
        self._tap.routing = False
        self._tap.on_delivered = self.on_delivered

    def _relax(self) -> None:
        """Back to the fast path once nothing is running (call it holding the lock)."""
        if not self._open_calls and not self._running:
            self._tap.on_delivered = self._log.append
            self._tap.routing = True

    def _append(self, entry: TraceEntry) -> int:
        log = self._log
        log.append(entry)
        index = len(log) - 1
        while log[index] is not entry:  # another thread appended meanwhile
            index -= 1
        return index

    def _replace(self, index: int, old: TraceEntry, new: TraceEntry) -> None:
        log = self._log
        if index < len(log) and log[index] is old:
            log[index] = new
        else:  # the trace was cleared while it ran
            log.append(new)

    # views

    def _items(self) -> Iterator[Any]:
        for stored in self._log:
            if type(stored) is tuple:  # raw, as the bus handed it: a delivery, or a run of them
                yield from deliveries_of(stored) if len(stored) > 3 else (delivery_of(stored),)
            else:
                yield stored.item if isinstance(stored, TraceEntry) else stored

    def events(self) -> list[Event]:
        """The published events, in order."""
        return [item for item in self._items() if isinstance(item, Event)]

    def deliveries(self) -> list[Delivery]:
        """The delivery outcomes, in order (deliveries still running are left out)."""
        return [item for item in self._items() if isinstance(item, Delivery)]

    def calls(self) -> list[ServiceCall]:
        """The service calls that ended, in the order they started."""
        return [item for item in self._items() if isinstance(item, ServiceCall)]

    def failed_deliveries(self, since: int = 0) -> list[Delivery]:
        """The deliveries whose handler raised, after the first ``since`` items of the trace's
        log (``len`` of it, as :meth:`PublishedEvents.mark` takes it; a run of deliveries is one
        item, several entries)."""
        failed = []
        for stored in self._log[since:]:
            item = stored.item if isinstance(stored, TraceEntry) else stored
            if isinstance(item, Delivery) and item.error is not None:
                failed.append(item)
        return failed

    def render(self) -> str:
        """Render the trace as text, one line per entry (the "aura trace" report section).

        What ran inside a call or a delivery is indented two columns past that line's text.
        """
        if not self._log:
            return "(nothing was published or called)"
        lines: list[str] = []
        columns: list[int] = []  # where each line's text starts
        for entry in self.entries:
            own = _COLUMN[entry.kind]
            parent = entry.parent
            if parent is not None and 0 <= parent < len(columns):
                column = columns[parent] + 2
            else:  # top level, or a parent cleared away
                column = own + 2 * entry.depth
            columns.append(column)
            lines.append(" " * (column - own) + self.render_entry(entry))
        return "\n".join(lines)

    def render_entry(self, entry: TraceEntry) -> str:
        """Render one entry as a line (without the indentation of its depth)."""
        item = entry.item
        if isinstance(item, Event):
            return self.render_event(item)
        if isinstance(item, Delivery):
            number = self.numbers.get(item.event.event_id, "?")
            outcome = (
                "ok" if item.error is None else f"FAILED {type(item.error).__name__}: {item.error}"
            )
            handler = _short_name(item.handler_name)
            return f"     -> #{number} to {item.subscriber_module}:{handler} {outcome}"
        if isinstance(item, DeliveryInProgress):
            number = self.numbers.get(item.event.event_id, "?")
            return f"     -> #{number} to {item.subscriber_module or '?'} running"
        if isinstance(item, ServiceCall | CallInProgress):
            caller = item.caller_module or "(outside any module)"
            head = f"   call {caller} -> {item.provider_module}.{item.service_name}.{item.method}()"
            fake = "fake, " if entry.fake else ""
            if isinstance(item, CallInProgress):
                return f"{head} running" + (" (fake)" if entry.fake else "")
            outcome = (
                "ok" if item.error is None else f"raised {type(item.error).__name__}: {item.error}"
            )
            return f"{head} {outcome} ({fake}{item.duration * 1000:.2f} ms)"
        return f"   breaker {item.name}: {item.old.value} -> {item.new.value}" + (
            f" after {type(item.last_error).__name__}: {item.last_error}" if item.last_error else ""
        )

    def render_event(self, event: Event) -> str:
        """Render one event with its number, source, data and correlation."""
        number = self.numbers.get(event.event_id, "?")
        cause = self.numbers.get(event.causation_id or "", None)
        caused = f" caused_by=#{cause}" if cause else ""
        data = json.dumps(thaw_json(event.data), sort_keys=False, default=str)
        return (
            f"#{number} {event.event_type} from {event.source_module} {data} "
            f"correlation={(event.correlation_id or '-')[:8]}{caused}"
        )


_COLUMN = {"event": 0, "delivery": 5, "call": 3, "breaker": 3}
"""Where the text of each kind of line starts at the top level (see :meth:`Trace.render`)."""


def _as_entry(stored: Any) -> TraceEntry:
    """The entry a stored item stands for (a bare Event or Delivery is a top-level one)."""
    if isinstance(stored, TraceEntry):
        return stored
    if type(stored) is tuple:  # a raw delivery (see aura.delivery.BusObserver)
        stored = delivery_of(stored)
    kind = "event" if isinstance(stored, Event) else "delivery"
    entry: TraceEntry = _new_tuple(TraceEntry, (kind, stored, None, 0, False))
    return entry


def _short_name(handler_name: str) -> str:
    return handler_name.rsplit(".", 1)[-1]


class PublishedEvents(Sequence[Event]):
    """The events published during a test, in order, with assertions whose failures explain."""

    def __init__(self, trace: Trace, events: Iterable[Event] | None = None) -> None:
        self._trace = trace
        self._events = list(events) if events is not None else None
        self.expected_failures: list[tuple[str | None, str | None]] = []

    # --- sequence -------------------------------------------------------------------------------

    @property
    def events(self) -> list[Event]:
        """The recorded events (live for the whole recording, fixed for a filtered view)."""
        return self._trace.events() if self._events is None else list(self._events)

    def __len__(self) -> int:
        return len(self.events)

    @overload
    def __getitem__(self, index: int) -> Event: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Event]: ...
    def __getitem__(self, index: int | slice) -> Event | Sequence[Event]:
        return self.events[index]

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __contains__(self, event_type: object) -> bool:
        if isinstance(event_type, Event):
            return event_type in self.events
        return any(event.event_type == event_type for event in self.events)

    def __repr__(self) -> str:
        return f"<PublishedEvents {self.types()}>"

    # --- queries --------------------------------------------------------------------------------

    def _view(self, events: Iterable[Event]) -> PublishedEvents:
        view = PublishedEvents(self._trace, events)
        view.expected_failures = self.expected_failures  # expect_failures on a view counts too
        return view

    def of_type(self, event_type: str) -> PublishedEvents:
        """The events of one type."""
        return self._view(e for e in self.events if e.event_type == event_type)

    def from_module(self, module_name: str) -> PublishedEvents:
        """The events one module published."""
        return self._view(e for e in self.events if e.source_module == module_name)

    def matching(self, **data_subset: Any) -> PublishedEvents:
        """The events whose data contains ``data_subset`` (nested dicts, ``ANY``, predicates)."""
        return self._view(e for e in self.events if not mismatches(e.data, data_subset))

    def since(self, index: int) -> PublishedEvents:
        """The events published after the first ``index`` ones (a later step's outcome)."""
        return self._view(self.events[index:])

    def render(self, events: Sequence[Event] | None = None) -> str:
        """Render events (all of this view's by default) as the failure messages show them."""
        shown = self.events if events is None else events
        return "\n".join(f"  {self._trace.render_event(event)}" for event in shown)

    def flow_of(self, event: Event) -> PublishedEvents:
        """The events of ``event``'s flow: those sharing its correlation id."""
        return self._view(e for e in self.events if e.correlation_id == event.correlation_id)

    def types(self) -> list[str]:
        """The event types, in publish order."""
        return [event.event_type for event in self.events]

    def first(self) -> Event:
        """The first event; fails the test when there is none."""
        __tracebackhide__ = True
        if not self.events:
            raise AssertionError(
                f"Expected at least one event; none was recorded.\n{self._listing()}"
            )
        return self.events[0]

    def last(self) -> Event:
        """The last event; fails the test when there is none."""
        __tracebackhide__ = True
        if not self.events:
            raise AssertionError(
                f"Expected at least one event; none was recorded.\n{self._listing()}"
            )
        return self.events[-1]

    def one(self) -> Event:
        """The only event; fails the test listing what was found when there are 0 or several."""
        __tracebackhide__ = True
        if len(self.events) != 1:
            raise AssertionError(
                f"Expected exactly one event; found {len(self.events)}.\n"
                + self._listing(self.events, "Found")
            )
        return self.events[0]

    # --- assertions -----------------------------------------------------------------------------

    def assert_published(
        self, event_type: str, *, times: int | None = None, **data_subset: Any
    ) -> list[Event]:
        """Assert ``event_type`` was published (``times`` times, if given) with ``data_subset``.

        Returns the matching events.
        """
        __tracebackhide__ = True
        candidates = [e for e in self.events if e.event_type == event_type]
        matched = [e for e in candidates if not mismatches(e.data, data_subset)]
        if (times is None and matched) or (times is not None and len(matched) == times):
            return matched
        raise AssertionError(self._explain(event_type, times, data_subset, candidates, matched))

    def assert_not_published(self, event_type: str, **data_subset: Any) -> None:
        """Assert no ``event_type`` event (with ``data_subset``, if given) was published."""
        __tracebackhide__ = True
        matched = [
            e
            for e in self.events
            if e.event_type == event_type and not mismatches(e.data, data_subset)
        ]
        if matched:
            raise AssertionError(
                f"Expected no event {event_type!r}{_with(data_subset)}; {len(matched)} "
                f"{'was' if len(matched) == 1 else 'were'} published:\n"
                + "\n".join(f"  {self._trace.render_event(e)}" for e in matched)
                + "\n"
                + self._listing()
            )

    def assert_sequence(self, event_types: Sequence[str]) -> None:
        """Assert the types were published in this order (other events may come between)."""
        __tracebackhide__ = True
        position = 0
        recorded = self.types()
        for index, wanted in enumerate(event_types):
            while position < len(recorded) and recorded[position] != wanted:
                position += 1
            if position == len(recorded):
                found = " -> ".join(event_types[:index]) or "nothing"
                raise AssertionError(
                    f"Expected the events in order: {' -> '.join(event_types)}; matched "
                    f"{found}, then no {wanted!r} followed.\n{self._listing()}"
                )
            position += 1

    def assert_correlated(self) -> None:
        """Assert one correlation id across the events and an unbroken causation chain."""
        __tracebackhide__ = True
        events = self.events
        correlations = {e.correlation_id for e in events}
        if len(correlations) > 1:
            raise AssertionError(
                f"Expected one correlation id across the flow; found {len(correlations)}.\n"
                + self._listing()
            )
        ids = {e.event_id for e in events}
        for event in events[1:]:
            if event.causation_id not in ids:
                number = self._trace.numbers.get(event.event_id, "?")
                raise AssertionError(
                    f"Expected an unbroken causation chain; #{number} {event.event_type} was not "
                    f"caused by a recorded event (causation_id={event.causation_id}).\n"
                    + self._listing()
                )

    def expect_failures(self, module: str | None = None, event_type: str | None = None) -> None:
        """Declare that handlers may fail (of ``module``, on ``event_type``) in this test."""
        self.expected_failures.append((module, event_type))

    def failed_deliveries(self, since: int = 0) -> list[Delivery]:
        """The deliveries whose handler raised, retries included (after the point ``since``
        of the trace that :meth:`mark` gave)."""
        return self._trace.failed_deliveries(since)

    def mark(self) -> int:
        """How much the trace holds now; pass it as ``since`` to look only at what follows."""
        return len(self._trace._log)

    def unexpected_failures(self) -> list[Delivery]:
        """The handler failures not covered by :meth:`expect_failures`."""
        return [
            d
            for d in self._trace.failed_deliveries()
            if not any(
                (module in (None, d.subscriber_module))
                and (event_type in (None, d.event.event_type))
                for module, event_type in self.expected_failures
            )
        ]

    # --- rendering ------------------------------------------------------------------------------

    def _listing(self, events: Sequence[Event] | None = None, title: str = "Recorded") -> str:
        shown = self._trace.events() if events is None else list(events)
        if not shown:
            return f"{title} events: none.{self._trace.uncommitted()}"
        lines = [f"{title} events ({len(shown)}):"]
        lines.extend(f"  {self._trace.render_event(event)}" for event in shown)
        return "\n".join(lines)

    def _explain(
        self,
        event_type: str,
        times: int | None,
        data_subset: dict[str, Any],
        candidates: list[Event],
        matched: list[Event],
    ) -> str:
        count = "an" if times is None else str(times)
        plural = "s" if times not in (None, 1) else ""
        head = (
            f"Expected {count} event{plural} {event_type!r}{_with(data_subset)}; "
            f"{len(matched)} matched among {len(candidates)} of that type"
        )
        lines = [head + (":" if candidates and data_subset else ".")]
        if matched and times is not None and len(matched) > times:
            lines = [head + ":"]
            lines.extend(f"  {self._trace.render_event(event)}" for event in matched)
            lines.append(self._listing())
            return "\n".join(lines)
        if data_subset:
            ranked = sorted(
                ((mismatches(e.data, data_subset), e) for e in candidates if e not in matched),
                key=lambda pair: len(pair[0]),
            )
            for found, event in ranked:
                number = self._trace.numbers.get(event.event_id, "?")
                lines.append(f"  #{number} " + ", ".join(m.render() for m in found))
            if ranked:
                closest = ranked[0][1]
                lines.append(f"Closest: {self._trace.render_event(closest)}")
        lines.append(self._listing())
        return "\n".join(lines)


def _with(data_subset: dict[str, Any]) -> str:
    if not data_subset:
        return ""
    return " with " + ", ".join(f"{k}={describe_value(v)}" for k, v in data_subset.items())


class ServiceCalls(Sequence[ServiceCall]):
    """The cross-module service calls made during a test, in order."""

    def __init__(self, trace: Trace, calls: Iterable[ServiceCall] | None = None) -> None:
        self._trace = trace
        self._calls = list(calls) if calls is not None else None

    @property
    def calls(self) -> list[ServiceCall]:
        """The recorded calls."""
        return self._trace.calls() if self._calls is None else list(self._calls)

    def __len__(self) -> int:
        return len(self.calls)

    @overload
    def __getitem__(self, index: int) -> ServiceCall: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[ServiceCall]: ...
    def __getitem__(self, index: int | slice) -> ServiceCall | Sequence[ServiceCall]:
        return self.calls[index]

    def __iter__(self) -> Iterator[ServiceCall]:
        return iter(self.calls)

    def __repr__(self) -> str:
        return f"<ServiceCalls {[self._label(c) for c in self.calls]}>"

    @staticmethod
    def _label(call: ServiceCall) -> str:
        return f"{call.provider_module}.{call.service_name}.{call.method}"

    def to(
        self, module: str, service: str | None = None, method: str | None = None
    ) -> ServiceCalls:
        """The calls to one module (one service, one method)."""
        return ServiceCalls(
            self._trace,
            (
                c
                for c in self.calls
                if c.provider_module == module
                and service in (None, c.service_name)
                and method in (None, c.method)
            ),
        )

    def by(self, caller: str | None) -> ServiceCalls:
        """The calls made by one module (``None``: from outside any module)."""
        return ServiceCalls(self._trace, (c for c in self.calls if c.caller_module == caller))

    def failed(self) -> ServiceCalls:
        """The calls that raised."""
        return ServiceCalls(self._trace, (c for c in self.calls if c.error is not None))

    def assert_called(
        self,
        module: str,
        service: str,
        method: str,
        *,
        times: int | None = None,
        caller: str | Literal["any"] | None = "any",
    ) -> list[ServiceCall]:
        """Assert ``module.service.method`` was called (``times`` times; by ``caller``)."""
        __tracebackhide__ = True
        found = [
            c
            for c in self.to(module, service, method)
            if caller == "any" or c.caller_module == caller
        ]
        if (times is None and found) or (times is not None and len(found) == times):
            return found
        expected = "at least once" if times is None else f"{times} time{'s' if times != 1 else ''}"
        by = "" if caller == "any" else f" by {caller or '(outside any module)'}"
        raise AssertionError(
            f"Expected {module}.{service}.{method}() to be called {expected}{by}; it was called "
            f"{len(found)} time{'s' if len(found) != 1 else ''}.\n{self._listing()}"
        )

    def assert_not_called(
        self, module: str, service: str | None = None, method: str | None = None
    ) -> None:
        """Assert no call reached ``module`` (its ``service``, its ``method``)."""
        __tracebackhide__ = True
        found = self.to(module, service, method)
        if found:
            target = ".".join(part for part in (module, service, method) if part)
            raise AssertionError(
                f"Expected no call to {target}; {len(found)} made.\n{self._listing()}"
            )

    def _listing(self) -> str:
        calls = [entry for entry in self._trace.entries if isinstance(entry.item, ServiceCall)]
        if not calls:
            return "Recorded calls: none."
        lines = [f"Recorded calls ({len(calls)}):"]
        lines.extend(self._trace.render_entry(entry).replace("   call", " ", 1) for entry in calls)
        return "\n".join(lines)

"""Recorders that see a platform at work: events, deliveries, service calls, breaker transitions.

:class:`Trace` attaches to a bus and a registry and keeps everything in order;
:class:`PublishedEvents` and :class:`ServiceCalls` are the views tests assert on. Assertion
failures render the whole recording, so a failing test says what did happen.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, NamedTuple, overload

from aura.breaker import BreakerTransition
from aura.bus import Delivery, EventBus
from aura.events import Event, thaw_json
from aura.registry import ServiceCall, ServiceRegistry
from aura.testing.matching import describe_value, mismatches

__all__ = ["PublishedEvents", "ServiceCalls", "Trace", "TraceEntry"]

EntryKind = Literal["event", "delivery", "call", "breaker"]
_new_tuple: Any = tuple.__new__


class TraceEntry(NamedTuple):
    """One thing that happened, in order: an event, a delivery, a service call, a transition."""

    kind: EntryKind
    item: Event | Delivery | ServiceCall | BreakerTransition


class Trace:
    """Everything a bus and a registry did while attached, in order."""

    def __init__(self) -> None:
        self.entries: list[TraceEntry] = []
        self._detach: list[Callable[[], None]] = []
        self.numbers: dict[str, int] = {}

    def attach(self, bus: EventBus, registry: ServiceRegistry | None = None) -> Trace:
        """Start recording ``bus`` (and ``registry``, with its services' breakers)."""
        self._detach.append(bus.add_observer(self))
        if registry is not None:
            self._detach.append(registry.add_observer(self.on_service_call))
            for info in registry.services():
                breaker = getattr(info.policy, "breaker", None)
                if breaker is not None and hasattr(breaker, "add_listener"):
                    self.watch_breaker(breaker)
        return self

    def watch_breaker(self, breaker: Any) -> None:
        """Record the transitions of a circuit breaker."""
        breaker.add_listener(self.on_transition)
        self._detach.append(lambda: breaker.remove_listener(self.on_transition))

    def detach(self) -> None:
        """Stop recording."""
        while self._detach:
            self._detach.pop()()

    # observer protocol of the bus, registry and breakers

    def on_published(self, event: Event) -> None:
        """Record a published event."""
        self.numbers[event.event_id] = len(self.numbers) + 1
        self.entries.append(_new_tuple(TraceEntry, ("event", event)))

    def on_delivered(self, delivery: Delivery) -> None:
        """Record one delivery outcome."""
        # tuple.__new__ skips the named tuple's Python-level __new__: this runs per delivery.
        self.entries.append(_new_tuple(TraceEntry, ("delivery", delivery)))

    def on_service_call(self, call: ServiceCall) -> None:
        """Record a cross-module service call."""
        self.entries.append(TraceEntry("call", call))

    def on_transition(self, transition: BreakerTransition) -> None:
        """Record a circuit breaker transition."""
        self.entries.append(TraceEntry("breaker", transition))

    # views

    def events(self) -> list[Event]:
        """The published events, in order."""
        return [e.item for e in self.entries if isinstance(e.item, Event)]

    def deliveries(self) -> list[Delivery]:
        """The delivery outcomes, in order."""
        return [e.item for e in self.entries if isinstance(e.item, Delivery)]

    def calls(self) -> list[ServiceCall]:
        """The cross-module service calls, in order."""
        return [e.item for e in self.entries if isinstance(e.item, ServiceCall)]

    def failed_deliveries(self, since: int = 0) -> list[Delivery]:
        """The deliveries whose handler raised (after the first ``since`` entries)."""
        return [
            e.item
            for e in self.entries[since:]
            if isinstance(e.item, Delivery) and e.item.error is not None
        ]

    def render(self) -> str:
        """Render the trace as text, one line per entry (the "aura trace" report section)."""
        if not self.entries:
            return "(nothing was published or called)"
        return "\n".join(self.render_entry(entry) for entry in self.entries)

    def render_entry(self, entry: TraceEntry) -> str:
        """Render one entry as a line."""
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
        if isinstance(item, ServiceCall):
            outcome = (
                "ok" if item.error is None else f"raised {type(item.error).__name__}: {item.error}"
            )
            caller = item.caller_module or "(outside any module)"
            return (
                f"   call {caller} -> {item.provider_module}.{item.service_name}."
                f"{item.method}() {outcome} ({item.duration * 1000:.2f} ms)"
            )
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
        """The deliveries whose handler raised, retries included (after ``since`` entries of
        the trace: see :meth:`mark`)."""
        return self._trace.failed_deliveries(since)

    def mark(self) -> int:
        """How much the trace holds now; pass it as ``since`` to look only at what follows."""
        return len(self._trace.entries)

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
            return f"{title} events: none."
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
        calls = self._trace.calls()
        if not calls:
            return "Recorded calls: none."
        lines = [f"Recorded calls ({len(calls)}):"]
        lines.extend(
            self._trace.render_entry(TraceEntry("call", call)).replace("   call", " ", 1)
            for call in calls
        )
        return "\n".join(lines)

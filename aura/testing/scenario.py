"""Scenarios: stimulate a platform, then wait for what must follow, or must not.

Spring Modulith's ``Scenario`` and MassTransit's test harness, for Aura. A :class:`Scenario`
stimulates its platform by a call (:meth:`Scenario.stimulate`), by an event published as any
module (:meth:`Scenario.publish`) or by an HTTP request through the gateway
(:meth:`Scenario.request`); the :class:`Stimulus` it returns then waits::

    def test_an_order_reserves_its_stock(aura_scenario):
        stimulus = aura_scenario.stimulate("orders.Orders.place", "apple", 2)
        reserved = stimulus.and_wait_for_event("product.reserved", sku="apple")
        assert reserved.source_module == "catalog"

``and_wait_for_event`` returns the first matching event published since the stimulus,
``and_wait_for_state`` the value of a check once it holds; both fail with
:class:`~aura.exceptions.ExpectationTimeoutError` after ``timeout`` seconds, listing what was
published meanwhile. ``and_expect_no_event`` ends as soon as the bus is idle (nothing in flight,
and nothing published or finished for ``quiet`` seconds), not after the whole window. Waits
wake on the bus's own notifications (a :class:`threading.Condition`), so events published from
other threads are seen at once. In ``async`` code, :meth:`Scenario.astimulate` and
:meth:`Scenario.apublish` return an :class:`AsyncStimulus` whose waits are awaited and leave
the event loop free for the handlers' tasks.

:attr:`Scenario.consumed` is the *consumed* view: which module's handler received which event,
and how it ended (``consumed.assert_consumed("order.placed", by="billing")``).

Idleness is what the bus can see: a thread or task that a handler starts and that publishes
after the quiet period is not waited for; wait for its event instead.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
from collections.abc import Callable, Coroutine, Generator, Iterable, Iterator, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

from aura.bus import BusActivity, Delivery
from aura.clock import RealClock
from aura.events import Event
from aura.exceptions import (
    ConfigurationError,
    ExpectationTimeoutError,
    MissingExtraError,
    ModuleDefinitionError,
)
from aura.module import Module
from aura.naming import check_event_type, check_module_name
from aura.platform import Platform
from aura.testing.matching import describe_value, mismatches
from aura.testing.recorders import PublishedEvents, Trace

if TYPE_CHECKING:
    from aura.testing.http import Caller, GatewayClient

__all__ = ["AsyncStimulus", "Consumed", "Scenario", "Stimulus"]

DEFAULT_TIMEOUT = 2.0
"""Seconds a wait lasts by default (a negative expectation's window, too)."""
QUIET = 0.05
"""Seconds without anything published or in flight after which the bus counts as idle."""
_POLL = 0.01  # a state check is re-run this often, and at once whenever the bus has news

T = TypeVar("T")
Outcome = Literal["ok", "failed"]
EventFilter = Mapping[str, Any] | Callable[[Event], object] | None


class _Recorder:
    """The scenario's bus observer: keeps events and deliveries, and wakes the waiters."""

    def __init__(self, activity: BusActivity) -> None:
        self.activity = activity
        self.condition = activity.condition
        self.events: list[Event] = []
        self.deliveries: list[Delivery] = []
        self.seen_at = RealClock.monotonic()

    def on_published(self, event: Event) -> None:
        """Keep the event and wake every wait."""
        with self.condition:
            self.events.append(event)
            self.seen_at = RealClock.monotonic()
            self.activity.notify()

    def on_delivered(self, delivery: Delivery) -> None:
        """Keep the delivery and wake every wait."""
        with self.condition:
            self.deliveries.append(delivery)
            self.seen_at = RealClock.monotonic()
            self.activity.notify()

    def quiet_for(self) -> float:
        """Seconds since anything was published, delivered or in flight (held condition)."""
        return min(self.activity.idle_for(), RealClock.monotonic() - self.seen_at)


class _Expectation:
    """The events a wait looks for: a type, a data subset and a predicate on the envelope."""

    def __init__(self, event_type: str, where: EventFilter, fields: dict[str, Any]) -> None:
        self.event_type = check_event_type(event_type)
        self.predicate: Callable[[Event], object] | None = None
        if where is None:
            self.subset = fields
        elif isinstance(where, Mapping):
            self.subset = {**where, **fields}
        elif callable(where):
            self.predicate, self.subset = where, fields
        else:
            raise ConfigurationError(
                f"where= takes a dict of data fields or a function of the event, got "
                f"{type(where).__name__} ({where!r}). Write where={{'amount': 10}} or "
                "where=lambda event: event.data['amount'] > 10."
            )

    def matches(self, event: Event) -> bool:
        """Whether ``event`` is one of those awaited."""
        if event.event_type != self.event_type or mismatches(event.data, self.subset):
            return False
        return self._satisfies(event)

    def _satisfies(self, event: Event) -> bool:
        if self.predicate is None:
            return True
        try:
            return bool(self.predicate(event))
        except Exception:  # a predicate that cannot judge the event does not match it
            return False

    def describe(self) -> str:
        """The awaited events in words: ``'payment.completed' with amount=10``."""
        text = repr(self.event_type)
        if self.subset:
            text += " with " + ", ".join(f"{k}={describe_value(v)}" for k, v in self.subset.items())
        if self.predicate is not None:
            text += f" matching {_name_of(self.predicate)}"
        return text

    def near_misses(self, events: Sequence[Event], numbers: Mapping[str, int]) -> list[str]:
        """One line per event of the awaited type that did not match, saying why."""
        lines = []
        for event in events:
            if event.event_type != self.event_type or self.matches(event):
                continue
            found = mismatches(event.data, self.subset)
            why = (
                ", ".join(m.render() for m in found)
                if found
                else f"does not satisfy {_name_of(self.predicate)}"
            )
            lines.append(f"  #{numbers.get(event.event_id, '?')} {why}")
        return lines


class Scenario:
    """Stimulates a platform and waits for what follows; see the module docs.

    ``trace`` is the recording the failure messages number events by (the plugin passes the
    test's; by default the scenario attaches its own). ``modules`` are the project's module
    declarations, of which the platform may hold only stand-ins or nothing: the scenario may
    publish as those, with the events their real declarations allow. ``gateway`` returns the
    :class:`~aura.testing.http.GatewayClient` that :meth:`request` sends through (by default
    one over the platform, built on first use). Detach it with :meth:`close` or a ``with``
    block; the bus keeps counting its activity (about 0.6 µs a publish: one lock, twice).
    """

    def __init__(
        self,
        platform: Platform,
        *,
        trace: Trace | None = None,
        modules: Iterable[Module | ModuleType] = (),
        gateway: Callable[[], GatewayClient] | None = None,
    ) -> None:
        self.platform = platform
        self.activity = platform.bus.track_activity()
        self._owns_trace = trace is None
        self.trace = trace if trace is not None else Trace().attach(platform.bus, platform.registry)
        self._recorder = _Recorder(self.activity)
        self._detach: Callable[[], None] | None = platform.bus.add_observer(self._recorder)
        self._declared = {_module_name(module): module for module in modules}
        self._declared_on_bus: set[str] = set()
        self._gateway_factory = gateway
        self._gateway: GatewayClient | None = None
        self._owns_gateway = False
        self.consumed = Consumed(self)
        """Which module's handler received which event since the scenario began."""

    def __repr__(self) -> str:
        return f"<Scenario on {self.platform!r}: {len(self.events)} event(s) published>"

    def __enter__(self) -> Scenario:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop recording (and close the gateway client the scenario built)."""
        if self._detach is not None:
            self._detach()
            self._detach = None
        if self._owns_trace:
            self.trace.detach()
        if self._owns_gateway and self._gateway is not None:
            self._gateway.close()
            self._gateway = None

    @property
    def events(self) -> list[Event]:
        """The events published since the scenario began, in order."""
        with self._recorder.condition:
            return list(self._recorder.events)

    # --- stimuli ----------------------------------------------------------------------------------

    def stimulate(self, target: Callable[..., Any] | str, /, *args: Any, **kwargs: Any) -> Stimulus:
        """Call ``target(*args, **kwargs)`` now and return what follows it.

        ``target`` is a function, or a service path ``"module.Service.method"`` looked up in
        the platform's registry (as code outside any module). Its return value is the
        stimulus's ``result``; what it raises propagates.
        """
        call = self._callable(target, "stimulate")
        marks = self._mark()
        result = call(*args, **kwargs)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # nothing of it ran: no "never awaited" warning on top
            raise ConfigurationError(
                f"stimulate() called {_name_of(call)}, which returned an awaitable; nothing of it "
                "ran. In an async test, await it: await scenario.astimulate(...)."
            )
        return Stimulus(self, marks, result)

    def publish(
        self,
        event_type: str | object,
        data: Mapping[str, Any] | None = None,
        *,
        source: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> Stimulus:
        """Publish an event as module ``source`` and return what follows it.

        ``source`` may be a module the platform holds for real, as a stand-in, or not at all
        (a module of the project outside this test's platform): the events its real
        declaration allows are accepted. A module known nowhere is refused with
        :class:`~aura.exceptions.ModuleDefinitionError`.
        """
        self._as_publisher(event_type, source)
        marks = self._mark()
        event = self.platform.bus.publish(event_type, data, source, metadata=metadata)
        return Stimulus(self, marks, event)

    def request(
        self, method: str, path: str, *, caller: Caller | None = None, **options: Any
    ) -> Stimulus:
        """Send an HTTP request through the gateway and return what follows it.

        ``caller`` is one of :attr:`gateway`'s callers (``scenario.gateway.as_user(user)``);
        anonymous by default. ``options`` as for :meth:`~aura.testing.http.Caller.request`
        (``json``, ``params``, ``headers``). The response is the stimulus's ``result``. Needs the
        web extra.
        """
        sender = caller if caller is not None else self.gateway.anonymous()
        marks = self._mark()
        response = sender.request(method, path, **options)
        return Stimulus(self, marks, response)

    @property
    def gateway(self) -> GatewayClient:
        """The gateway client :meth:`request` sends through (built on first use)."""
        if self._gateway is None:
            if self._gateway_factory is not None:
                self._gateway = self._gateway_factory()
            else:
                try:
                    from aura.testing.http import GatewayClient
                except ImportError as missing:
                    if (missing.name or "aura").startswith("aura"):
                        raise  # Aura's own code failed to import: not a missing extra
                    raise MissingExtraError(
                        "scenario.request() needs the gateway, which is not installed. Install "
                        "Aura's web extra: pip install 'aura-modulith[web]'"
                    ) from None
                self._gateway = GatewayClient(self.platform)
                self._owns_gateway = True
        return self._gateway

    def astimulate(
        self, target: Callable[..., Any] | str, /, *args: Any, **kwargs: Any
    ) -> AsyncStimulus:
        """Like :meth:`stimulate` for async code: the call runs (and is awaited, if it returns
        an awaitable) when the returned :class:`AsyncStimulus` is first awaited."""
        call = self._callable(target, "astimulate")
        return AsyncStimulus(self, lambda: call(*args, **kwargs))

    def apublish(
        self,
        event_type: str | object,
        data: Mapping[str, Any] | None = None,
        *,
        source: str,
        metadata: Mapping[str, Any] | None = None,
    ) -> AsyncStimulus:
        """Like :meth:`publish` with ``await bus.apublish(...)``, for async handlers."""
        self._as_publisher(event_type, source)
        bus = self.platform.bus
        return AsyncStimulus(
            self, lambda: bus.apublish(event_type, data, source, metadata=metadata)
        )

    # --- internals --------------------------------------------------------------------------------

    def _mark(self) -> tuple[int, int]:
        with self._recorder.condition:
            return len(self._recorder.events), len(self._recorder.deliveries)

    def _callable(self, target: Callable[..., Any] | str, verb: str) -> Callable[..., Any]:
        if callable(target):
            return target
        if isinstance(target, str) and target.count(".") == 2:
            module, service, method = target.split(".")
            found: Callable[..., Any] = getattr(
                self.platform.registry.get_service(module, service), method
            )
            return found
        raise ConfigurationError(
            f"{verb}() takes a function or a service path 'module.Service.method', got "
            f"{target!r}. Write {verb}(lambda: ...) or {verb}('users.UserService.register_user', "
            "...)."
        )

    def _as_publisher(self, event_type: str | object, source: str) -> None:
        """Check that ``source`` is a known module; give a stand-in (or an absent module) the
        publications of its real declaration, once."""
        check_module_name(source, role="source module")
        held = self.platform.modules.get(source)
        real = self._declared.get(source)
        if isinstance(real, Module) and source not in self._declared_on_bus:
            if held is None or (held is not real and held.published != real.published):
                self.platform.bus.declare_publisher(source, tuple(real.published))
            self._declared_on_bus.add(source)
        if held is not None or real is not None or source in self._mapped_modules():
            return
        known = sorted({*self.platform.modules, *self._declared, *self._mapped_modules()})
        guess = difflib.get_close_matches(source, known, n=1)
        others = sorted(set(known) - set(self.platform.modules))
        raise ModuleDefinitionError(
            f"Cannot publish {self._type_name(event_type)!r} as {source!r}: no module of that "
            f"name is in this platform ({', '.join(self.platform.modules) or 'no modules'})"
            + (f" or among the project's other modules ({', '.join(others)})" if others else "")
            + ". "
            + (f"Did you mean {guess[0]!r}? " if guess else "")
            + "Publish as one of them, or add the module to the platform."
        )

    def _mapped_modules(self) -> set[str]:
        boundaries = self.platform.boundaries
        return {module.name for module in boundaries.modules} if boundaries is not None else set()

    def _type_name(self, event_type: str | object) -> str:
        if isinstance(event_type, str):
            return event_type
        contract = self.platform.bus.catalog.for_class(type(event_type))
        return contract.event_type if contract is not None else type(event_type).__name__

    def _numbers(self) -> dict[str, int]:
        """Each event's number, as the trace (and the "aura trace" report section) shows it."""
        return {event.event_id: index for index, event in enumerate(self.trace.events(), 1)}

    def _listing(self, events: Sequence[Event], title: str) -> str:
        if not events:
            return f"{title}: none."
        return f"{title} ({len(events)}):\n" + PublishedEvents(self.trace).render(events)

    def _render_delivery(self, delivery: Delivery, numbers: Mapping[str, int]) -> str:
        outcome = (
            "ok"
            if delivery.error is None
            else f"FAILED {type(delivery.error).__name__}: {delivery.error}"
        )
        handler = delivery.handler_name.rsplit(".", 1)[-1]
        number = numbers.get(delivery.event.event_id, "?")
        return (
            f"  #{number} {delivery.event.event_type} -> {delivery.subscriber_module}:{handler} "
            f"{outcome}"
        )


class Stimulus:
    """What a scenario just did (its ``result``), and the waits for what must follow it."""

    def __init__(self, scenario: Scenario, marks: tuple[int, int], result: Any) -> None:
        self.scenario = scenario
        self.result = result
        """What the stimulus returned: the call's value, the published Event, the response."""
        self._events_at, self._deliveries_at = marks

    def __repr__(self) -> str:
        return f"<Stimulus result={self.result!r}>"

    @property
    def events(self) -> list[Event]:
        """The events published since the stimulus began, in order."""
        with self.scenario._recorder.condition:
            return self.scenario._recorder.events[self._events_at :]

    def and_wait_for_event(
        self,
        event_type: str,
        where: EventFilter = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        **fields: Any,
    ) -> Event:
        """Wait for an ``event_type`` event published since the stimulus; return the first.

        It must contain ``fields`` (and ``where``, a dict of data fields, or satisfy it, a
        function of the :class:`~aura.events.Event`); values may be ``ANY`` or ``where(...)``
        predicates, as in ``published_events.assert_published``. After ``timeout`` seconds,
        fails with :class:`~aura.exceptions.ExpectationTimeoutError` listing what was published.
        """
        __tracebackhide__ = True
        expectation = _Expectation(event_type, where, fields)
        seconds = _seconds("timeout", timeout)
        recorder = self.scenario._recorder
        deadline = RealClock.monotonic() + seconds
        checked = self._events_at
        while True:
            with recorder.condition:
                fresh = recorder.events[checked:]
            checked += len(fresh)
            for event in fresh:
                if expectation.matches(event):
                    return event
            with recorder.condition:
                if len(recorder.events) != checked:
                    continue
                remaining = deadline - RealClock.monotonic()
                if remaining <= 0:
                    break
                recorder.activity.wait(remaining)
        raise ExpectationTimeoutError(self._timed_out(expectation, seconds))

    def and_wait_for_state(
        self,
        check: Callable[[], T],
        until: Callable[[T], object] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> T:
        """Wait until ``check()`` returns a value that holds; return that value.

        A value holds when ``until(value)`` is true, or, without ``until``, when it is truthy:
        ``and_wait_for_state(lambda: repository.get(7))`` returns the row once it is there.
        The check runs now, whenever the bus has news and every 10 ms; what it raises
        propagates. After ``timeout`` seconds, fails with
        :class:`~aura.exceptions.ExpectationTimeoutError` showing its last value.
        """
        __tracebackhide__ = True
        seconds = _seconds("timeout", timeout)
        condition = self.scenario._recorder.condition
        deadline = RealClock.monotonic() + seconds
        while True:
            value = check()
            if until(value) if until is not None else value:
                return value
            remaining = deadline - RealClock.monotonic()
            if remaining <= 0:
                break
            with condition:
                self.scenario.activity.wait(min(_POLL, remaining))
        raise ExpectationTimeoutError(self._state_timed_out(check, until, value, seconds))

    def and_expect_no_event(
        self,
        event_type: str,
        where: EventFilter = None,
        *,
        within: float = DEFAULT_TIMEOUT,
        quiet: float = QUIET,
        **fields: Any,
    ) -> Stimulus:
        """Fail if an ``event_type`` event (with ``fields``, ``where``) comes since the stimulus.

        The wait ends as soon as the bus is idle (nothing in flight, and nothing published or
        delivered for ``quiet`` seconds), or after ``within`` seconds if it never is. A matching
        event fails the test at once, listing what was published. Returns this stimulus, so
        expectations chain.
        """
        __tracebackhide__ = True
        expectation = _Expectation(event_type, where, fields)
        window = _seconds("within", within)
        pause_after = _seconds("quiet", quiet)
        recorder = self.scenario._recorder
        deadline = RealClock.monotonic() + window
        checked = self._events_at
        while True:
            with recorder.condition:
                fresh = recorder.events[checked:]
            checked += len(fresh)
            found = [event for event in fresh if expectation.matches(event)]
            if found:
                raise AssertionError(self._unexpected(expectation, window, found))
            with recorder.condition:
                if len(recorder.events) != checked:
                    continue
                now = RealClock.monotonic()
                quiet_for = recorder.quiet_for()
                if now >= deadline or quiet_for >= pause_after:
                    return self
                pause = deadline - now
                if not recorder.activity.in_flight:
                    pause = min(pause, pause_after - quiet_for)
                recorder.activity.wait(pause)

    # --- failure messages -------------------------------------------------------------------------

    def _window(self) -> tuple[list[Event], list[Delivery]]:
        recorder = self.scenario._recorder
        with recorder.condition:
            return (
                recorder.events[self._events_at :],
                recorder.deliveries[self._deliveries_at :],
            )

    def _context(self, events: list[Event], deliveries: list[Delivery]) -> list[str]:
        """What happened since the stimulus: its events, and the handlers that failed."""
        scenario = self.scenario
        lines = [scenario._listing(events, "Published since the stimulus")]
        failed = [delivery for delivery in deliveries if delivery.error is not None]
        if failed:
            numbers = scenario._numbers()
            lines.append(f"Handlers that failed since the stimulus ({len(failed)}):")
            lines.extend(scenario._render_delivery(delivery, numbers) for delivery in failed)
        return lines

    def _timed_out(self, expectation: _Expectation, seconds: float) -> str:
        events, deliveries = self._window()
        lines = [f"No event {expectation.describe()} arrived within {seconds:g} s of the stimulus."]
        misses = expectation.near_misses(events, self.scenario._numbers())
        if misses:
            lines.append(f"Of that type, {len(misses)} did not match:")
            lines.extend(misses)
        lines.extend(self._context(events, deliveries))
        lines.append(f"Raise timeout= if the flow takes longer than {seconds:g} s.")
        return "\n".join(lines)

    def _state_timed_out(
        self,
        check: Callable[[], Any],
        until: Callable[[Any], object] | None,
        value: Any,
        seconds: float,
    ) -> str:
        events, deliveries = self._window()
        held = f" (until {_name_of(until)})" if until is not None else ""
        lines = [
            f"The state check {_name_of(check)}{held} did not hold within {seconds:g} s of the "
            f"stimulus; its last value was {describe_value(value)}.",
            *self._context(events, deliveries),
            f"Raise timeout= if the flow takes longer than {seconds:g} s.",
        ]
        return "\n".join(lines)

    def _unexpected(self, expectation: _Expectation, window: float, found: list[Event]) -> str:
        events, deliveries = self._window()
        count = "one was" if len(found) == 1 else f"{len(found)} were"
        lines = [
            f"Expected no event {expectation.describe()} within {window:g} s of the stimulus; "
            f"{count} published:",
            PublishedEvents(self.scenario.trace).render(found),
            *self._context(events, deliveries),
        ]
        return "\n".join(lines)


class AsyncStimulus:
    """A stimulus for async code: it runs when first awaited, and its waits are awaited.

    ``await scenario.apublish(...)`` runs it and returns it (its ``result`` is then set);
    ``await scenario.apublish(...).and_wait_for_event(...)`` runs it and waits, in one
    ``await``. While a wait is pending the event loop is free, so the handlers' tasks run.
    """

    def __init__(self, scenario: Scenario, action: Callable[[], Any]) -> None:
        self.scenario = scenario
        # Made now, so that a stimulus never awaited warns ("coroutine ... was never awaited").
        self._pending: Coroutine[Any, Any, None] | None = self._perform(action)
        self._done: Stimulus | None = None

    def __repr__(self) -> str:
        state = "not run yet" if self._done is None else f"result={self._done.result!r}"
        return f"<AsyncStimulus {state}>"

    def __await__(self) -> Generator[Any, None, AsyncStimulus]:
        yield from self._ran().__await__()
        return self

    async def _perform(self, action: Callable[[], Any]) -> None:
        marks = self.scenario._mark()
        result = action()
        if inspect.isawaitable(result):
            result = await result
        self._done = Stimulus(self.scenario, marks, result)

    async def _ran(self) -> Stimulus:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending
        if self._done is None:
            raise ConfigurationError(
                "This stimulus raised when it ran, so there is nothing to wait after. Start a "
                "new one: await scenario.apublish(...) or await scenario.astimulate(...)."
            )
        return self._done

    @property
    def result(self) -> Any:
        """What the stimulus returned, once it has been awaited."""
        if self._done is None:
            raise ConfigurationError(
                "The stimulus has not run yet: await it first (stimulus = await "
                "scenario.apublish(...)), then read stimulus.result."
            )
        return self._done.result

    @property
    def events(self) -> list[Event]:
        """The events published since the stimulus began (empty before it ran)."""
        return self._done.events if self._done is not None else []

    async def and_wait_for_event(
        self,
        event_type: str,
        where: EventFilter = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        **fields: Any,
    ) -> Event:
        """Await :meth:`Stimulus.and_wait_for_event`, leaving the event loop free."""
        __tracebackhide__ = True
        stimulus = await self._ran()
        _Expectation(event_type, where, fields)  # a malformed expectation fails here, at once
        return await asyncio.to_thread(
            stimulus.and_wait_for_event, event_type, where, timeout=timeout, **fields
        )

    async def and_wait_for_state(
        self,
        check: Callable[[], Any],
        until: Callable[[Any], object] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> Any:
        """Await :meth:`Stimulus.and_wait_for_state`; ``check`` may be ``async``.

        The check runs on the event loop every 10 ms until its value holds.
        """
        __tracebackhide__ = True
        stimulus = await self._ran()
        seconds = _seconds("timeout", timeout)
        deadline = RealClock.monotonic() + seconds
        while True:
            value = check()
            if inspect.isawaitable(value):
                value = await value
            if until(value) if until is not None else value:
                return value
            remaining = deadline - RealClock.monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(min(_POLL, remaining))
        raise ExpectationTimeoutError(stimulus._state_timed_out(check, until, value, seconds))

    async def and_expect_no_event(
        self,
        event_type: str,
        where: EventFilter = None,
        *,
        within: float = DEFAULT_TIMEOUT,
        quiet: float = QUIET,
        **fields: Any,
    ) -> AsyncStimulus:
        """Await :meth:`Stimulus.and_expect_no_event`, leaving the event loop free."""
        __tracebackhide__ = True
        stimulus = await self._ran()
        _Expectation(event_type, where, fields)
        await asyncio.to_thread(
            stimulus.and_expect_no_event, event_type, where, within=within, quiet=quiet, **fields
        )
        return self


class Consumed(Sequence[Delivery]):
    """Which module's handler received which event since the scenario began, and how it ended.

    Each item is a :class:`~aura.bus.Delivery` (``event``, ``subscriber_module``,
    ``handler_name``, ``error``), retries included, in order.
    """

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario

    @property
    def deliveries(self) -> list[Delivery]:
        """The deliveries recorded so far."""
        recorder = self._scenario._recorder
        with recorder.condition:
            return list(recorder.deliveries)

    def __len__(self) -> int:
        return len(self.deliveries)

    @overload
    def __getitem__(self, index: int) -> Delivery: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Delivery]: ...
    def __getitem__(self, index: int | slice) -> Delivery | Sequence[Delivery]:
        return self.deliveries[index]

    def __iter__(self) -> Iterator[Delivery]:
        return iter(self.deliveries)

    def __repr__(self) -> str:
        shown = [f"{d.event.event_type} -> {d.subscriber_module}" for d in self.deliveries]
        return f"<Consumed {shown}>"

    def select(
        self,
        event_type: str | None = None,
        *,
        by: str | None = None,
        outcome: Outcome | None = None,
    ) -> list[Delivery]:
        """The deliveries of ``event_type``, to module ``by``, that ended as ``outcome``."""
        _check_outcome(outcome)
        return [
            delivery
            for delivery in self.deliveries
            if event_type in (None, delivery.event.event_type)
            and by in (None, delivery.subscriber_module)
            and (outcome is None or (delivery.error is None) == (outcome == "ok"))
        ]

    def render(self) -> str:
        """The deliveries as the failure messages list them, one line each."""
        numbers = self._scenario._numbers()
        return "\n".join(self._scenario._render_delivery(d, numbers) for d in self.deliveries)

    def assert_consumed(
        self,
        event_type: str,
        *,
        by: str | None = None,
        outcome: Outcome | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[Delivery]:
        """Assert a handler (of module ``by``) received ``event_type`` (and ended as
        ``outcome``: ``"ok"`` or ``"failed"``); return the matching deliveries.

        Waits up to ``timeout`` seconds for the first one (``timeout=0`` looks only at what
        is recorded; with no handler of ``by`` subscribed to the type, it does not wait); then
        fails with :class:`~aura.exceptions.ExpectationTimeoutError`
        listing the handlers subscribed to the type and every delivery recorded.
        """
        __tracebackhide__ = True
        check_event_type(event_type)
        if by is not None:
            check_module_name(by)
        _check_outcome(outcome)
        seconds = _seconds("timeout", timeout)
        recorder = self._scenario._recorder
        deadline = RealClock.monotonic() + seconds
        subscribed = self._scenario.platform.bus.subscriptions(event_type)
        # No handler (of that module) subscribed: nothing can come, so fail now, not later.
        possible = any(by is None or s.subscriber_module == by for s in subscribed)
        with recorder.condition:
            while True:
                found = self.select(event_type, by=by, outcome=outcome)
                if found:
                    return found
                remaining = deadline - RealClock.monotonic()
                if remaining <= 0 or not possible:
                    break
                recorder.activity.wait(remaining)
        raise ExpectationTimeoutError(self._explain(event_type, by, outcome, seconds))

    async def aassert_consumed(
        self,
        event_type: str,
        *,
        by: str | None = None,
        outcome: Outcome | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> list[Delivery]:
        """Await :meth:`assert_consumed`, leaving the event loop free for the handlers."""
        __tracebackhide__ = True
        return await asyncio.to_thread(
            self.assert_consumed, event_type, by=by, outcome=outcome, timeout=timeout
        )

    def _explain(
        self, event_type: str, by: str | None, outcome: Outcome | None, seconds: float
    ) -> str:
        who = f" by {by}" if by is not None else ""
        how = f" ({outcome})" if outcome is not None else ""
        subscribed = [
            f"{s.subscriber_module}:{s.handler_name.rsplit('.', 1)[-1]}"
            for s in self._scenario.platform.bus.subscriptions(event_type)
        ]
        lines = [
            f"Expected {event_type!r} to be consumed{who}{how} within {seconds:g} s; it was not.",
            f"Subscribed to it: {', '.join(subscribed)}."
            if subscribed
            else "Nothing on this platform is subscribed to it.",
        ]
        deliveries = self.deliveries
        if deliveries:
            lines.append(f"Consumed ({len(deliveries)}):")
            lines.append(self.render())
        else:
            lines.append("Consumed: none.")
        return "\n".join(lines)


# --- helpers --------------------------------------------------------------------------------------


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigurationError(
            f"{name} must be a number of seconds of at least 0, got {value!r}. Write {name}=2.0."
        )
    return float(value)


def _check_outcome(outcome: object) -> None:
    if outcome not in (None, "ok", "failed"):
        raise ConfigurationError(
            f"outcome must be 'ok', 'failed' or None (either), got {outcome!r}."
        )


def _name_of(function: object) -> str:
    return str(getattr(function, "__name__", None) or repr(function))


def _module_name(module: Module | ModuleType) -> str:
    return module.name if isinstance(module, Module) else module.__name__.rsplit(".", 1)[-1]

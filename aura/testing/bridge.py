"""A bridge for code that is not on Aura yet: any event source and any call boundary feed a trace.

A team migrating to Aura wants to assert on its existing flows first. A :class:`Bridge` bound to
the test's :class:`~aura.testing.Trace` turns what the existing code does into what Aura's own
bus and registry record: :meth:`Bridge.record_event` builds a real :class:`~aura.events.Event`
envelope (checked names, frozen JSON data, correlation and causation from the context, as
``publish`` builds them), :meth:`Bridge.record_call` and :meth:`Bridge.recorded_call` a real
:class:`~aura.registry.ServiceCall`. They then appear in ``published_events`` and
``service_calls``, in order with the platform's own, and in the trace's text, JSON and Mermaid.

The ``aura_bridge`` fixture gives the current test's bridge, which is also *in force* for the
test: the module-level :func:`record_event`, :func:`record_call` and :func:`recorded_call` feed
it, so a hook installed once in the existing code (its own bus's ``publish``, a service layer)
reaches whichever test runs. Outside a test, with no bridge in force, they build and check the
same records and keep them nowhere. The adapters of :mod:`aura.integrations` (blinker, Django
signals) connect a signal to a bridge; every connection is undone when the bridge closes, at the
end of the test.

A test that uses ``aura_bridge`` and not ``aura_platform`` builds no platform at all: its trace
(the ``aura_trace`` fixture) records only what the bridge feeds.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar, cast

import pytest

from aura import context as _context
from aura.bus import envelope_metadata
from aura.clock import real_perf_counter
from aura.delivery import Delivery
from aura.events import Event
from aura.exceptions import (
    ConfigurationError,
    DisposalError,
    EventValidationError,
    InvalidNameError,
)
from aura.ids import new_id
from aura.naming import check_event_type, check_module_name
from aura.registry import ServiceCall
from aura.testing.recorders import Trace

# The fixtures aura_trace and aura_bridge are aura.testing.plugin's.
__all__ = [
    "Bridge",
    "RecordedCall",
    "bridge_for",
    "build_call",
    "build_event",
    "current_bridge",
    "record_call",
    "record_event",
    "recorded_call",
    "records_only_the_bridge",
]

F = TypeVar("F", bound=Callable[..., Any])


# The bridges in force, innermost last. A plain list, not a context variable: code under test
# sends from threads of its own, which would not see a context variable set by the test.
_in_force: list[Bridge] = []


class Bridge:
    """Feeds a :class:`~aura.testing.Trace` from code that is not on Aura: events and calls.

    ``with Bridge(trace) as bridge:`` puts it in force (see :func:`current_bridge`) and closes it
    at the end, which undoes every connection an adapter made (:meth:`on_close`). The
    ``aura_bridge`` fixture does exactly that around each test.
    """

    def __init__(self, trace: Trace) -> None:
        if not isinstance(trace, Trace):
            raise ConfigurationError(
                f"Bridge(trace) needs an aura.testing.Trace to record into, got "
                f"{type(trace).__name__}. Use the aura_bridge fixture, or pass Trace()."
            )
        self.trace = trace
        self._cleanups: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<Bridge events={len(self.trace.events())} calls={len(self.trace.calls())}>"

    # --- in force, and closing ------------------------------------------------------------------

    def __enter__(self) -> Bridge:
        _in_force.append(self)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for index in range(len(_in_force) - 1, -1, -1):
            if _in_force[index] is self:
                del _in_force[index]
                break
        self.close()

    def on_close(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` when the bridge closes (an adapter's disconnect, say)."""
        self._cleanups.append(callback)

    def until_closed(self, disconnect: Callable[[], None]) -> Callable[[], None]:
        """Undo a connection when the bridge closes; return the undo, which runs at most once.

        The adapters hand it what disconnects their receiver: the caller may disconnect
        earlier, and the bridge's close then does nothing more.
        """
        done = False

        def undo() -> None:
            nonlocal done
            if not done:
                done = True
                disconnect()

        self.on_close(undo)
        return undo

    def close(self) -> None:
        """Run every :meth:`on_close` callback, newest first, each once, even if one fails.

        Raises :exc:`~aura.exceptions.DisposalError` holding every failure, after all ran.
        """
        errors: list[BaseException] = []
        while self._cleanups:
            try:
                self._cleanups.pop()()
            except Exception as error:  # the others must still run
                errors.append(error)
        if errors:
            raise DisposalError(
                f"{len(errors)} of the bridge's close callbacks failed: "
                + "; ".join(f"{type(e).__name__}: {e}" for e in errors),
                errors,
            )

    # --- events ---------------------------------------------------------------------------------

    def record_event(
        self,
        event_type: str,
        data: Mapping[str, Any],
        source_module: str,
        *,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        user_id: str | int | None = None,
        metadata: Mapping[str, Any] | None = None,
        event_id: str | None = None,
        timestamp: datetime | None = None,
    ) -> Event:
        """Record that ``source_module`` published ``event_type`` with ``data``; return it.

        The envelope is built and checked as ``EventBus.publish`` builds it (see
        :func:`build_event`); nothing is delivered to anyone.
        """
        event = build_event(
            event_type,
            data,
            source_module,
            correlation_id=correlation_id,
            causation_id=causation_id,
            user_id=user_id,
            metadata=metadata,
            event_id=event_id,
            timestamp=timestamp,
        )
        self.trace.on_published(event)
        return event

    def signal_receiver(
        self,
        event_type: str,
        source_module: str | Callable[[Any], str],
        *,
        data: Callable[..., Mapping[str, Any]] | None = None,
        origin: str,
    ) -> Callable[..., None]:
        """A receiver ``(sender, **kwargs)`` recording each send as an ``event_type`` event.

        ``source_module`` is a module name, or a function of the sender returning one; ``data``
        maps the send to the event's data (default: its keyword arguments). ``origin`` names the
        signal in errors. Names and mappers are checked here, once; a send whose data or module
        cannot be recorded raises from the send, with the fix.
        """
        check_event_type(event_type)
        source = _source_of(source_module)
        mapper = _data_mapper(data)

        def receive(sender: Any, /, **kwargs: Any) -> None:
            found = mapper(sender, **kwargs)
            try:
                self.record_event(event_type, found, source(sender))
            except InvalidNameError as error:
                raise InvalidNameError(
                    f"Cannot record a send of {origin} as {event_type!r}: {error} Pass "
                    "source_module=...: a module name, or a function of the sender returning one."
                ) from None
            except EventValidationError as error:
                raise EventValidationError(
                    f"Cannot record a send of {origin} as {event_type!r}: {error} Pass data=...: "
                    "a function of (sender, **kwargs) returning the event's JSON data."
                ) from None

        return receive

    def record_delivery(
        self,
        event: Event,
        subscriber_module: str,
        handler_name: str,
        *,
        duration: float,
        error: BaseException | None = None,
    ) -> Delivery:
        """Record that a handler of ``subscriber_module`` received ``event``, and how it ended.

        ``event`` is one this bridge recorded (or the platform published); ``error`` is what the
        handler raised. With a platform, a failed delivery fails the test at teardown as a
        platform handler's failure does, unless the test expects it.
        """
        if not isinstance(event, Event):
            raise ConfigurationError(
                f"record_delivery needs the recorded aura.events.Event, got "
                f"{type(event).__name__} ({event!r}). Pass what record_event returned."
            )
        check_module_name(subscriber_module, role="subscriber module")
        if not isinstance(handler_name, str) or not handler_name:
            raise ConfigurationError(
                f"A recorded delivery's handler_name must be the handler's name, got "
                f"{handler_name!r}. Pass e.g. handler.__qualname__."
            )
        _check_duration(duration, "delivery")
        _check_error(error, "delivery")
        delivery = Delivery(event, subscriber_module, handler_name, error, float(duration))
        self.trace.on_delivered(delivery)
        return delivery

    # --- calls ----------------------------------------------------------------------------------

    def record_call(
        self,
        caller_module: str | None,
        provider_module: str,
        service_name: str,
        method: str,
        *,
        duration: float,
        error: BaseException | None = None,
        started_at: datetime | None = None,
        correlation_id: str | None = None,
    ) -> ServiceCall:
        """Record that ``caller_module`` called ``provider_module.service_name.method()``.

        ``caller_module`` is ``None`` for code outside any module; ``duration`` is in seconds;
        ``error`` is what the call raised. Returns the recorded :class:`ServiceCall`.
        """
        call = build_call(
            caller_module,
            provider_module,
            service_name,
            method,
            duration=duration,
            error=error,
            started_at=started_at,
            correlation_id=correlation_id,
        )
        self.trace.on_service_call(call)
        return call

    def recorded_call(
        self, caller_module: str | None, provider_module: str, service_name: str, method: str
    ) -> RecordedCall:
        """Time a real call and record it: ``with bridge.recorded_call(...):`` or a decorator."""
        return RecordedCall(caller_module, provider_module, service_name, method, bridge=self)


class RecordedCall:
    """Times a call and records it as a :class:`ServiceCall`, with what it raised, if anything.

    A context manager (``with recorded_call(None, "billing", "Billing", "charge"):``) and a
    decorator of plain and ``async`` functions. Bound to a bridge, it records there; unbound
    (from :func:`recorded_call`), into the bridge in force when the call starts, if any. The
    call takes its place in the trace when it starts, so what it publishes or calls is nested
    under it, as for a platform's own calls.
    """

    def __init__(
        self,
        caller_module: str | None,
        provider_module: str,
        service_name: str,
        method: str,
        *,
        bridge: Bridge | None = None,
    ) -> None:
        # Checked now, so a misspelt name fails where it is written, not at the first call.
        _check_call_names(caller_module, provider_module, service_name, method)
        self.caller_module = caller_module
        self.provider_module = provider_module
        self.service_name = service_name
        self.method = method
        self.bridge = bridge
        self._running: list[Callable[[BaseException | None], None]] = []

    def __repr__(self) -> str:
        caller = self.caller_module or "(outside any module)"
        return (
            f"<RecordedCall {caller} -> {self.provider_module}.{self.service_name}.{self.method}()>"
        )

    def __enter__(self) -> RecordedCall:
        self._running.append(self._start())
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._running.pop()(error)

    def __call__(self, function: F) -> F:
        """Wrap ``function`` so that every call of it is timed and recorded."""
        start = self._start
        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def awaiting(*args: Any, **kwargs: Any) -> Any:
                end = start()
                try:
                    result = await function(*args, **kwargs)
                except BaseException as error:
                    end(error)
                    raise
                end(None)
                return result

            return cast(F, awaiting)

        @functools.wraps(function)
        def calling(*args: Any, **kwargs: Any) -> Any:
            end = start()
            try:
                result = function(*args, **kwargs)
            except BaseException as error:
                end(error)
                raise
            end(None)
            return result

        return cast(F, calling)

    def _start(self) -> Callable[[BaseException | None], None]:
        """Record that one call starts; return the function that records how it ended."""
        bridge = self.bridge if self.bridge is not None else current_bridge()
        if bridge is None:
            return _nothing
        start_call = getattr(bridge.trace, "start_call", None)
        if start_call is not None:  # the trace places the call when it starts, nesting the rest
            end: Callable[[BaseException | None], None] = start_call(
                self.caller_module, self.provider_module, self.service_name, self.method
            )
            return end
        clock = real_perf_counter()  # real under frozen_time (aura.clock)
        began, at = clock(), datetime.now(UTC)

        def record_at_end(error: BaseException | None) -> None:
            bridge.record_call(
                self.caller_module,
                self.provider_module,
                self.service_name,
                self.method,
                duration=max(clock() - began, 0.0),
                error=error,
                started_at=at,
            )

        return record_at_end


def _nothing(error: BaseException | None) -> None:
    """The end of a call made with no bridge in force: nothing to record."""


# --- building the records -----------------------------------------------------------------------


def build_event(
    event_type: str,
    data: Mapping[str, Any],
    source_module: str,
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    user_id: str | int | None = None,
    metadata: Mapping[str, Any] | None = None,
    event_id: str | None = None,
    timestamp: datetime | None = None,
) -> Event:
    """Build the envelope ``EventBus.publish`` would: checked names, frozen JSON data.

    What is not given comes from the context, as for a publish: the correlation id in force
    (else the event's own id, which starts a flow), the handled event as the cause, and its
    user (else the user the running code acts for).
    """
    identifier = event_id if event_id is not None else new_id()
    given = {"correlation_id": correlation_id, "causation_id": causation_id, "user_id": user_id}
    chosen = {key: value for key, value in given.items() if value is not None}
    return Event(
        event_type=event_type,
        data=data,
        source_module=source_module,
        metadata=envelope_metadata({**(metadata or {}), **chosen}, identifier),
        event_id=identifier,
        timestamp=timestamp,
    )


def build_call(
    caller_module: str | None,
    provider_module: str,
    service_name: str,
    method: str,
    *,
    duration: float,
    error: BaseException | None = None,
    started_at: datetime | None = None,
    correlation_id: str | None = None,
) -> ServiceCall:
    """Build a checked :class:`ServiceCall`, as the registry records a cross-module call."""
    _check_call_names(caller_module, provider_module, service_name, method)
    _check_duration(duration, "call")
    _check_error(error, "call")
    if started_at is None:
        started_at = datetime.now(UTC) - timedelta(seconds=duration)
    return ServiceCall(
        caller_module=caller_module,
        provider_module=provider_module,
        service_name=service_name,
        method=method,
        started_at=started_at,
        duration=float(duration),
        error=error,
        correlation_id=correlation_id
        if correlation_id is not None
        else _context.get_correlation_id(),
    )


def _check_duration(duration: object, what: str) -> None:
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int | float)
        or not math.isfinite(duration)
        or duration < 0
    ):
        timed = ", or time it with recorded_call(...)" if what == "call" else ""
        raise ConfigurationError(
            f"A recorded {what}'s duration must be a number of seconds, 0 or more, got "
            f"{duration!r}. Pass the time it took{timed}."
        )


def _check_error(error: object, what: str) -> None:
    if error is not None and not isinstance(error, BaseException):
        raise ConfigurationError(
            f"A recorded {what}'s error must be the exception it raised, or None, got "
            f"{type(error).__name__} ({error!r}). Pass the exception object itself."
        )


def _check_call_names(
    caller_module: object, provider_module: object, service_name: object, method: object
) -> None:
    if caller_module is not None:
        check_module_name(caller_module, role="caller module")
    check_module_name(provider_module, role="provider module")
    _check_identifier(service_name, "service name", "'BillingService'", "the service's class")
    _check_identifier(method, "method name", "'charge'", "the method called")


def _check_identifier(value: object, what: str, example: str, after: str) -> None:
    if isinstance(value, str) and value.isidentifier():
        return
    raise InvalidNameError(
        f"Invalid {what} {value!r}: expected an identifier such as {example}. Name it after "
        f"{after}."
    )


def _source_of(source_module: object) -> Callable[[Any], str]:
    if isinstance(source_module, str):
        name = check_module_name(source_module, role="source module")
        return lambda sender: name
    if callable(source_module):
        return cast(Callable[[Any], str], source_module)
    raise ConfigurationError(
        f"source_module must be a module name or a function of the sender returning one, got "
        f"{type(source_module).__name__} ({source_module!r}). Pass e.g. 'orders'."
    )


def _data_mapper(data: object) -> Callable[..., Mapping[str, Any]]:
    if data is None:
        return _keyword_arguments
    if callable(data):
        return cast(Callable[..., Mapping[str, Any]], data)
    raise ConfigurationError(
        f"data must be a function of (sender, **kwargs) returning the event's data, got "
        f"{type(data).__name__} ({data!r}). Pass e.g. data=lambda sender, **kw: {{'id': kw['id']}}."
    )


def _keyword_arguments(sender: Any, /, **kwargs: Any) -> Mapping[str, Any]:
    return kwargs


# --- the bridge in force ------------------------------------------------------------------------


def current_bridge() -> Bridge | None:
    """The bridge in force (the current test's ``aura_bridge``), or ``None`` outside one."""
    return _in_force[-1] if _in_force else None


def bridge_for(given: Bridge | None, caller: str) -> Bridge:
    """``given``, else the bridge in force; ``caller`` (e.g. ``"bridge_signal"``) names the
    function that needs one in the error raised when there is neither."""
    if given is not None:
        if not isinstance(given, Bridge):
            raise ConfigurationError(
                f"{caller} was given bridge={given!r}, which is not an aura.testing.bridge.Bridge. "
                "Pass the aura_bridge fixture, or leave bridge out to use the bridge in force."
            )
        return given
    found = current_bridge()
    if found is None:
        raise ConfigurationError(
            f"{caller} found no bridge in force, and none was given. Call it in a test that "
            "uses the aura_bridge fixture, or pass bridge=Bridge(trace)."
        )
    return found


def record_event(
    event_type: str,
    data: Mapping[str, Any],
    source_module: str,
    *,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    user_id: str | int | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Event:
    """Build an event as :meth:`Bridge.record_event` does and record it in the bridge in force.

    With no bridge in force (outside a test) the envelope is built, checked and returned, and
    recorded nowhere: a hook in the existing code costs one envelope and changes nothing.
    """
    bridge = current_bridge()
    if bridge is None:
        return build_event(
            event_type,
            data,
            source_module,
            correlation_id=correlation_id,
            causation_id=causation_id,
            user_id=user_id,
            metadata=metadata,
        )
    return bridge.record_event(
        event_type,
        data,
        source_module,
        correlation_id=correlation_id,
        causation_id=causation_id,
        user_id=user_id,
        metadata=metadata,
    )


def record_call(
    caller_module: str | None,
    provider_module: str,
    service_name: str,
    method: str,
    *,
    duration: float,
    error: BaseException | None = None,
) -> ServiceCall:
    """Build a call as :meth:`Bridge.record_call` does and record it in the bridge in force."""
    bridge = current_bridge()
    if bridge is None:
        return build_call(
            caller_module, provider_module, service_name, method, duration=duration, error=error
        )
    return bridge.record_call(
        caller_module, provider_module, service_name, method, duration=duration, error=error
    )


def recorded_call(
    caller_module: str | None, provider_module: str, service_name: str, method: str
) -> RecordedCall:
    """Time a call and record it in the bridge in force when it ends (a context manager and a
    decorator, usable at import time: the bridge is looked up at each call)."""
    return RecordedCall(caller_module, provider_module, service_name, method)


def records_only_the_bridge(request: pytest.FixtureRequest) -> bool:
    """Whether this test feeds its trace through ``aura_bridge`` alone, so that
    ``published_events`` and ``service_calls`` must not build a platform for it.

    A test that also uses ``aura_platform`` (or a fixture that needs it) gets one all the same.
    """
    return "aura_bridge" in request.fixturenames and "aura_platform" not in request.fixturenames

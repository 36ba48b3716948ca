"""OpenTelemetry for the platform: spans and metrics for every publish, delivery and
cross-module call (the ``otel`` extra: ``pip install 'aura-modulith[otel]'``).

:func:`instrument` attaches a :class:`Telemetry` interceptor (:mod:`aura.hooks`) to a platform.
Its spans follow OpenTelemetry's messaging semantic conventions:

- ``publish <event type>`` (PRODUCER) while an event is accepted; its context travels in the
  event's metadata as W3C ``traceparent``/``tracestate``, so it is stored with a durable event;
- ``process <event type>`` (CONSUMER), one per subscriber, child of that context and linked to
  it, so a handler run later — resubmitted after a restart, retried from a dead letter, by
  another process — continues the publisher's trace; the handler's own spans nest under it;
- ``call <module>.<service>.<method>`` (INTERNAL) around each cross-module call.

A failure sets the span's status to ERROR with ``error.type`` and the exception recorded.
Metrics: the counters ``aura.events.published``, ``aura.deliveries``, ``aura.calls`` and the
histograms ``aura.delivery.duration`` and ``aura.call.duration`` (seconds), by module, event
type or method, and ``error.type`` when one was raised. :meth:`Telemetry.asgi` wraps the
gateway's ASGI app so each request is a SERVER span that joins the caller's ``traceparent``.

A span the sampler drops costs little: with the SDK's own samplers (``ALWAYS_OFF``,
``TraceIdRatioBased``, ``ParentBased`` of those, as ``OTEL_TRACES_SAMPLER`` configures them) the
decision is made before any span is, and a dropped span is only its ids: made current while a
handler or a service runs (what it traces, calls or publishes stays dropped), and put in the
metadata as a ``traceparent`` flagged not sampled, so the trace stays dropped wherever the event
is handled. Any other sampler, and a global provider set only after :func:`instrument` ran,
decides each span in the SDK's ``start_span``. Metrics are not
sampled: each publish, delivery and call is counted and timed whatever the sampler decides
(the SDK's ``Histogram.record`` costs about as much as a publish); with the API's no-op meter
nothing is counted or timed.

Without providers given, the global ones are used (set by the application, or by
:func:`from_environment` for ``aura serve``).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.context.context import Context
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace import sampling
from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from aura import __version__
from aura.exceptions import ConfigurationError
from aura.hooks import Finish, Interceptor, PublishFinish

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from aura.events import Event
    from aura.platform import Platform

__all__ = ["Telemetry", "from_environment", "instrument"]

_CONTEXT_LOGGER = logging.getLogger("opentelemetry.context")
"""Where OpenTelemetry's own detach logs a context it could not reset."""
_PROPAGATOR = TraceContextTextMapPropagator()
"""W3C Trace Context: ``traceparent`` and ``tracestate``, whatever the global propagator is."""
_SYSTEM = "aura"

_PUBLISHED = "aura.events.published"
_DELIVERIES = "aura.deliveries"
_CALLS = "aura.calls"
_COUNTED: dict[str, tuple[str, ...]] = {
    _PUBLISHED: ("messaging.destination.name", "aura.module"),
    _DELIVERIES: ("messaging.destination.name", "aura.module", "aura.handler"),
    _CALLS: ("aura.module", "aura.service", "aura.method", "aura.caller_module"),
}
"""Each counter's attributes, in the order its keys hold their values (then ``error.type``)."""

# Enum members are looked up once: each SpanKind.PRODUCER costs a class attribute lookup.
_PRODUCER, _CONSUMER, _INTERNAL = SpanKind.PRODUCER, SpanKind.CONSUMER, SpanKind.INTERNAL
_DROP = sampling.Decision.DROP

_REMEMBERED = 1024
"""How many sampled-out publishes' spans are kept for their deliveries (then forgotten)."""


class Telemetry(Interceptor):
    """Spans and metrics around a platform's publishes, deliveries and calls (module docs)."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.tracer = trace.get_tracer("aura", __version__, tracer_provider=tracer_provider)
        self._sampling = _Sampling(self.tracer)
        meter = metrics.get_meter("aura", __version__, meter_provider=meter_provider)
        self.meter_provider = meter_provider
        # The API's no-op meter reads nothing: then nothing is counted or timed.
        self._metered = not isinstance(meter, metrics.NoOpMeter)
        # Counters are counted here and read by the SDK when it collects (a dict increment per
        # event instead of an SDK measurement, which costs microseconds); durations go to the
        # SDK's histograms as they happen.
        self._counts: dict[str, dict[tuple[str, ...], int]] = {name: {} for name in _COUNTED}
        self._count_lock = threading.Lock()
        for name, unit, description in (
            (_PUBLISHED, "{event}", "Events accepted by the bus."),
            (_DELIVERIES, "{delivery}", "Events handed to a subscriber."),
            (_CALLS, "{call}", "Cross-module service calls."),
        ):
            meter.create_observable_counter(
                name, [self._observer(name)], unit=unit, description=description
            )
        self._delivery_duration = meter.create_histogram(
            "aura.delivery.duration", unit="s", description="How long a handler ran."
        )
        self._call_duration = meter.create_histogram(
            "aura.call.duration", unit="s", description="How long a cross-module call took."
        )
        # The spans of the publishes sampled out here, by the traceparent each put in its event:
        # a delivery in this process makes its publisher's current without reading it again.
        self._unsampled: dict[object, _Unsampled] = {}
        # OpenTelemetry's default runtime keeps the current context in one context variable:
        # read and set directly, a delivery's context costs half what attach/detach do.
        self._context_var = _runtime_context_var()
        # A delivery of an event published and dropped here, when the sampler drops its process
        # span and nothing is timed, sets it and resets it, and no more.
        self._fast_context_var = (
            self._context_var if self._sampling.follows_drops and not self._metered else None
        )
        self.detach: Callable[[], None] = lambda: None
        """Detach from the platform :func:`instrument` attached it to."""

    def __repr__(self) -> str:
        return f"Telemetry(tracer_provider={self.tracer_provider!r})"

    # --- the interceptor ------------------------------------------------------------------------

    def publishing(
        self, event_id: str, event_type: str, source_module: str, metadata: MutableMapping[str, Any]
    ) -> PublishFinish | None:
        """Open ``publish <event type>`` and put its context in the event's metadata; a span the
        sampler drops is not made, its context (flagged not sampled) travels all the same."""
        var = self._context_var  # _current_span(), inlined: this runs on every publish
        current = var.get().get(_SPAN_KEY) if var is not None else self._current_span()
        sampling = self._sampling
        if current is not None and isinstance(current, trace.Span):
            parent = current.get_span_context()
            dropped = sampling.dropped(parent, None, "publish", event_type, _PRODUCER)
        elif sampling.root_bound is not None and sampling.enabled():
            # dropped_root's draw, inlined (the usual publish: a root, sampled out): both ids
            # and their hex from one draw, decided on the trace id's low 64 bits.
            bits = random.getrandbits(192)  # looked up each time, as the SDK's generator does
            trace_id = bits >> 64
            if not (trace_id and bits & _SPAN_ID_BITS):  # one draw in 2**64: drawn again
                dropped = sampling.dropped_root("publish", event_type, _PRODUCER)
            elif trace_id & _LOW_64_BITS < sampling.root_bound:  # kept: started below
                sampling.plan(trace_id)
                dropped = None
            else:  # dropped: its context travels in the event, and is kept for its deliveries
                hexed = bits.to_bytes(24, "big").hex()
                value = f"00-{hexed[:32]}-{hexed[32:]}-{sampling.root_flags_hex}"
                metadata["traceparent"] = value
                if "tracestate" not in metadata:  # (the publisher's own would go with it)
                    self._remember(value, _Unsampled(value))
                return self._counting(event_type, source_module) if self._metered else None
        else:
            dropped = sampling.dropped_root("publish", event_type, _PRODUCER)
        if dropped is not None:
            # Its context travels in the event; kept for the event's deliveries here (with a
            # tracestate, they read it again).
            value = dropped.traceparent()
            metadata["traceparent"] = value
            state = dropped.get_trace_state()
            if state:
                metadata["tracestate"] = state.to_header()
            elif "tracestate" not in metadata:
                self._remember(value, dropped)
            return self._counting(event_type, source_module) if self._metered else None
        return self._publish_span(event_id, event_type, source_module, metadata)

    def _publish_span(
        self, event_id: str, event_type: str, source_module: str, metadata: MutableMapping[str, Any]
    ) -> PublishFinish:
        """:meth:`publishing` of a span that is started (its finish a closure of its own: the
        hot path above makes none)."""
        span = self._sampling.start(
            f"publish {event_type}",
            kind=_PRODUCER,
            # What a sampler may decide on; the rest only for a span that is recorded.
            attributes={"messaging.system": _SYSTEM, "messaging.destination.name": event_type},
        )
        if span.is_recording():
            span.set_attributes(
                {
                    "messaging.operation.type": "send",
                    "messaging.operation.name": "publish",
                    "messaging.message.id": event_id,
                    "aura.module": source_module,
                }
            )
        context = span.get_span_context()
        if context.is_valid:  # the API's no-op tracer makes none
            metadata["traceparent"] = _traceparent(context)
            if context.trace_state:
                metadata["tracestate"] = context.trace_state.to_header()

        def finish(event: Event | None, error: BaseException | None) -> None:
            if error is not None:
                _failed(span, error)
            else:
                assert event is not None  # accepted: the finish gets its envelope
                span.set_attribute("messaging.message.conversation_id", event.correlation_id)
            span.end()
            if self._metered:
                self._count(_PUBLISHED, (event_type, source_module, _error_type(error)))

        return finish

    def delivering(self, event: Event, subscriber_module: str, handler_name: str) -> Finish:
        """Open ``process <event type>`` as a child of (and linked to) the publish span.

        When the sampler drops it (the default, parent-based one does under a sampled-out
        publish), no span is made: its non-recording context is made current instead, so the
        handler's own spans are dropped too.
        """
        metadata = event.metadata
        try:
            remembered = self._unsampled.get(metadata.get("traceparent"))
        except TypeError:  # not text: not one this process wrote
            remembered = None
        if remembered is not None and "tracestate" in metadata:
            remembered = None  # an interceptor after this one added one: read the metadata
        var = self._fast_context_var
        if var is not None and remembered is not None:  # the usual sampled-out delivery
            # What attach(set_span_in_context(remembered)) and detach do, without their calls.
            base = var.get()
            if base:  # copied as a dict: {**base} of a dict subclass takes the slow path
                values = dict.copy(base)
                values[_SPAN_KEY] = remembered
                token = var.set(Context(values))
            else:  # nothing else is current (a worker, a test, a script): no copy at all
                token = var.set(Context({_SPAN_KEY: remembered}))

            def detach(error: BaseException | None) -> None:
                try:
                    var.reset(token)
                except Exception:  # as opentelemetry.context.detach: logged, never raised
                    _CONTEXT_LOGGER.exception("Failed to detach context")

            return detach
        return self._process_span(event, subscriber_module, handler_name, remembered)

    def _process_span(
        self,
        event: Event,
        subscriber_module: str,
        handler_name: str,
        remembered: _Unsampled | None,
    ) -> Finish:
        """:meth:`delivering` through the API: a span started, something metered, or the event
        published elsewhere (its finishes are closures of their own: the hot path above makes
        only one, of two cells)."""
        span: trace.Span | None
        if remembered is not None and self._sampling.follows_drops:
            current: trace.Span = remembered  # published and dropped here: no parsing, no sampler
            span = None
        else:
            current, span = self._process(event, subscriber_module, handler_name)
        token = otel_context.attach(trace.set_span_in_context(current))
        if not self._metered:
            if span is None:
                return lambda error: otel_context.detach(token)
            return lambda error: _close(span, token, error)
        started = time.perf_counter()

        def finish(error: BaseException | None) -> None:
            duration = time.perf_counter() - started
            _close(span, token, error)
            values = (event.event_type, subscriber_module, handler_name, _error_type(error))
            self._count(_DELIVERIES, values)
            self._delivery_duration.record(duration, _attributes(_DELIVERIES, values))

        return finish

    def _process(
        self, event: Event, subscriber_module: str, handler_name: str
    ) -> tuple[trace.Span, trace.Span | None]:
        """The span to make current while ``event`` is handled, and the ``process`` span to end
        (``None`` when the sampler dropped it)."""
        publisher = self._publisher(event.metadata)
        published = trace.get_current_span(publisher).get_span_context()
        name = f"process {event.event_type}"
        if published.is_valid:
            parent, context = published, publisher
        else:  # published without telemetry: a child of what runs the handler, if anything
            parent, context = trace.get_current_span().get_span_context(), None
        dropped = self._sampling.dropped(parent, context, "process", event.event_type, _CONSUMER)
        if dropped is not None:
            return dropped, None
        span = self._sampling.start(
            name,
            context=context,
            kind=_CONSUMER,
            links=[Link(published)] if published.is_valid else None,
            attributes={
                "messaging.system": _SYSTEM,
                "messaging.operation.type": "process",
                "messaging.operation.name": "process",
                "messaging.destination.name": event.event_type,
                "messaging.message.id": event.event_id,
                "messaging.message.conversation_id": event.correlation_id,
                "messaging.consumer.group.name": f"{subscriber_module}:{handler_name}",
                "aura.module": subscriber_module,
                "aura.handler": handler_name,
                "aura.source_module": event.source_module,
            },
        )
        return span, span

    def _remember(self, traceparent: str, span: _Unsampled) -> None:
        """Keep a dropped publish span for its event's deliveries in this process."""
        unsampled = self._unsampled
        if len(unsampled) >= _REMEMBERED:
            unsampled.clear()  # the oldest went elsewhere, or nowhere
        unsampled[traceparent] = span

    def _counting(self, event_type: str, source_module: str) -> PublishFinish:
        """The finish of a sampled-out publish: it is counted, whatever the sampler decided."""

        def count(event: Event | None, error: BaseException | None) -> None:
            self._count(_PUBLISHED, (event_type, source_module, _error_type(error)))

        return count

    @staticmethod
    def _current_span() -> trace.Span | None:
        """The current span through the API (another runtime context), or ``None``."""
        span = trace.get_current_span()
        return None if span is trace.INVALID_SPAN else span

    def _publisher(self, metadata: Mapping[str, Any]) -> otel_context.Context:
        """The publish span's context from ``metadata``: a plain ``traceparent`` is read here,
        one with a ``tracestate`` or of another version by the W3C propagator."""
        value = metadata.get("traceparent")
        if "tracestate" not in metadata and isinstance(value, str):
            context = _plain_traceparent(value)
            if context is not None:
                return trace.set_span_in_context(NonRecordingSpan(context))
        return _PROPAGATOR.extract(_carrier(metadata))

    def calling(
        self, caller_module: str | None, provider_module: str, service_name: str, method: str
    ) -> Finish | None:
        """Open ``call <module>.<service>.<method>`` in the caller's context (when the sampler
        drops it, none: what runs in the service sees the dropped context, as for
        :meth:`delivering`)."""
        target = f"{provider_module}.{service_name}.{method}"
        parent = trace.get_current_span().get_span_context()
        dropped = self._sampling.dropped(parent, None, "call", target, _INTERNAL)
        span: trace.Span | None = None
        token = None
        if dropped is None:
            span = self._sampling.start(
                f"call {target}",
                kind=_INTERNAL,
                attributes={
                    "aura.module": provider_module,
                    "aura.service": service_name,
                    "aura.method": method,
                    "aura.caller_module": caller_module or "",
                },
            )
            token = otel_context.attach(trace.set_span_in_context(span))
        elif not parent.is_valid or parent.is_remote:
            # A local sampled-out parent already tells the service's own spans the decision.
            token = otel_context.attach(trace.set_span_in_context(dropped))
        if self._metered:
            callee = (provider_module, service_name, method)
            return self._timed_call(span, token, caller_module, *callee)
        if span is None and token is None:
            return None  # nothing to end: the call runs in its caller's sampled-out context
        return lambda error: _close(span, token, error)

    def _timed_call(
        self,
        span: trace.Span | None,
        token: object | None,
        caller_module: str | None,
        provider_module: str,
        service_name: str,
        method: str,
    ) -> Finish:
        """The finish of a call that is counted and timed (a closure of its own: a call that
        only makes a dropped context current needs none of its cells)."""
        started = time.perf_counter()

        def finish(error: BaseException | None) -> None:
            duration = time.perf_counter() - started
            _close(span, token, error)
            caller = caller_module or ""
            values = (provider_module, service_name, method, caller, _error_type(error))
            self._count(_CALLS, values)
            self._call_duration.record(duration, _attributes(_CALLS, values))

        return finish

    # --- the counters ---------------------------------------------------------------------------

    def _count(self, name: str, values: tuple[str, ...]) -> None:
        """Count one under ``values``: the counter's attributes, then the error type or ``""``."""
        counts = self._counts[name]
        with self._count_lock:
            counts[values] = counts.get(values, 0) + 1

    def _observer(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        counts = self._counts[name]

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self._count_lock:
                counted = list(counts.items())
            return [Observation(value, _attributes(name, values)) for values, value in counted]

        return observe

    # --- the gateway ----------------------------------------------------------------------------

    def asgi(self, app: Any) -> Any:
        """``app`` wrapped so each HTTP request is a SERVER span joining the caller's trace."""
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

        async def named(scope: Any, receive: Any, send: Any) -> None:
            async def naming(message: Any) -> None:
                if message.get("type") == "http.response.start":
                    # The server span was opened before routing, named after the raw path; now
                    # the router has matched, name it after the route's template (one name per
                    # route, not per id), as the semantic conventions ask.
                    # Refused before routing (no token, an unknown path): the method alone.
                    template = getattr(scope.get("route"), "path", None)
                    span = trace.get_current_span()
                    if span.is_recording():
                        method = scope.get("method", "GET")
                        if isinstance(template, str):
                            span.update_name(f"{method} {template}")
                            span.set_attribute("http.route", template)
                        else:
                            span.update_name(method)
                await send(message)

            await app(scope, receive, naming)

        return OpenTelemetryMiddleware(
            named, tracer_provider=self.tracer_provider, meter_provider=self.meter_provider
        )


def instrument(
    platform: Platform,
    *,
    tracer_provider: trace.TracerProvider | None = None,
    meter_provider: metrics.MeterProvider | None = None,
) -> Telemetry:
    """Attach a :class:`Telemetry` to ``platform``; ``telemetry.detach()`` removes it."""
    telemetry = Telemetry(tracer_provider, meter_provider)
    telemetry.detach = platform.add_interceptor(telemetry)
    return telemetry


def from_environment(
    environ: Mapping[str, str] | None = None,
) -> tuple[TracerProvider | None, str]:
    """A tracer provider configured by the standard ``OTEL_*`` variables, and where it sends.

    ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``: none. An OTLP endpoint
    (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``…_TRACES_ENDPOINT``) or ``OTEL_TRACES_EXPORTER=otlp``:
    OTLP over HTTP, read by the exporter from the same variables. Otherwise the console.
    ``OTEL_SERVICE_NAME`` names the service (``aura`` unless given).
    """
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter

    env = os.environ if environ is None else environ
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None, "off (OTEL_SDK_DISABLED=true)"
    exporter_name = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not exporter_name:
        exporter_name = "otlp" if endpoint else "console"
    if exporter_name == "none":
        return None, "off (OTEL_TRACES_EXPORTER=none)"
    resource = Resource.create({SERVICE_NAME: env.get("OTEL_SERVICE_NAME") or "aura"})
    provider = TracerProvider(resource=resource)
    if exporter_name == "console":
        provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
        return provider, (
            "to the console (set OTEL_EXPORTER_OTLP_ENDPOINT=http://<collector>:4318 to send "
            "them to a collector, or OTEL_TRACES_EXPORTER=none)"
        )
    if exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # The exporter reads os.environ itself; the endpoint of the mapping read here is given.
        traces_url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or (
            f"{endpoint.rstrip('/')}/v1/traces" if endpoint else None
        )
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
        return provider, f"over OTLP/HTTP to {endpoint or 'http://localhost:4318'}"
    raise ConfigurationError(
        f"OTEL_TRACES_EXPORTER={exporter_name!r} is not one aura serve knows. Use 'otlp', "
        "'console' or 'none'."
    )


# --- sampling -----------------------------------------------------------------------------------

_DROPS = "drops"
"""The sampler drops every such span."""
_ASK = "ask"
"""The sampler decides on the trace id alone: decide here, and ``start_span`` decides the same."""
_START = "start"
"""Start the span and let the SDK decide: the sampler keeps it, or is not one of the SDK's own."""

_DELEGATES = {
    "root": "_root",
    "remote": "_remote_parent_not_sampled",
    "local": "_local_parent_not_sampled",
}
"""Where the SDK's ``ParentBased`` keeps the sampler of a root and of a sampled-out parent."""

_RANDOM = 0x02
"""W3C Trace Context level 2's ``random-trace-id`` flag, which the SDK sets on random ids."""
_UNSAMPLED = trace.TraceFlags(0)
_UNSAMPLED_RANDOM = trace.TraceFlags(_RANDOM)
_SPAN_ID_BITS = _LOW_64_BITS = (1 << 64) - 1


class _Unsampled(NonRecordingSpan):
    """A span the sampler dropped, with the ids the SDK would give it: made from its W3C
    ``traceparent`` alone (a root whose ids were drawn as hex) or from its ids; its
    ``SpanContext``, and whichever of the two it was not made from, only when something asks
    (a handler that starts no span never does)."""

    def __init__(
        self,
        traceparent: str | None,
        ids: tuple[int, int, trace.TraceFlags, trace.TraceState | None] | None = None,
    ) -> None:
        self._traceparent = traceparent
        if ids is not None:  # else the class's None: one attribute set for a drawn root
            self._ids = ids

    _ids: tuple[int, int, trace.TraceFlags, trace.TraceState | None] | None = None
    _made: SpanContext | None = None

    def get_span_context(self) -> SpanContext:
        """The span's context (local, not sampled)."""
        if self._made is None:
            ids = self._ids
            if ids is None:
                value = self._traceparent
                assert value is not None  # made from one or the other
                flags = trace.TraceFlags(int(value[53:], 16))
                ids = self._ids = (int(value[3:35], 16), int(value[36:52], 16), flags, None)
            trace_id, span_id, flags, state = ids
            self._made = SpanContext(trace_id, span_id, False, flags, state)
        return self._made

    def get_trace_state(self) -> trace.TraceState | None:
        """Its trace state (the parent's), or ``None``."""
        return None if self._ids is None else self._ids[3]

    def traceparent(self) -> str:
        """Its W3C ``traceparent``."""
        if self._traceparent is None:
            self._traceparent = _traceparent(self.get_span_context())
        return self._traceparent

    def __repr__(self) -> str:
        return f"_Unsampled({self.get_span_context()!r})"


class _Sampling:
    """What a tracer's sampler decides for a span, known before a span is made when the sampler
    is one of the SDK's own; any other sampler or tracer decides through ``start_span``.

    The SDK spends microseconds on a span it drops (ids, the sampler, a span context, a
    non-recording span, its attributes cleaned), as much again as the publish it surrounds.
    Its built-in samplers decide on the parent's flags and the trace id alone: ``ALWAYS_OFF``
    drops every span, ``ParentBased`` follows a sampled-out parent (its default), and
    ``TraceIdRatioBased`` keeps the trace ids whose low 64 bits are below its bound (checked
    against it when attached; asked otherwise): decided here, a kept span is then started by
    the SDK, which decides the same on the same ids.
    """

    def __init__(self, tracer: trace.Tracer) -> None:
        self._tracer = tracer
        # For each kind of span whose verdict is _ASK, the ratio sampler a ParentBased one would
        # hand it to, and the bound its trace ids' low 64 bits are kept below (None: ask it).
        self._asked: dict[str, sampling.Sampler] = {}
        self._bounds: dict[str, int | None] = {}
        self._planned: _PlannedIds | None = None
        self.root = self.remote = self.local = _START
        """The verdict for a root, a child of a remote and of a local sampled-out parent."""
        self.follows_drops = False
        """Whether every child of a remote sampled-out parent is dropped (``ParentBased``)."""
        self.root_bound: int | None = None
        """When a root's ids are drawn here (the SDK's random ids) and decided by a bound: a
        root is kept when its trace id's low 64 bits are below it (0 when every root is
        dropped); ``None`` otherwise (:meth:`dropped_root` decides)."""
        if not isinstance(tracer, SdkTracer):
            return
        self.root = self._verdict(tracer.sampler, "root")
        self.remote = self._verdict(tracer.sampler, "remote")
        self.local = self._verdict(tracer.sampler, "local")
        self.follows_drops = self.remote is _DROPS
        ids = tracer.id_generator
        if self.root is _ASK:
            if not isinstance(ids, _PlannedIds):
                # The tracer is our own (or shared with another Telemetry on this provider): its
                # spans get the ids they had, but for the root whose trace id was sampled here.
                ids = tracer.id_generator = _PlannedIds(ids)
            self._planned = ids
            ids = ids.ids
        self._new_trace_id = ids.generate_trace_id
        self._random_ids = type(ids) is RandomIdGenerator
        self._new_span_id = ids.generate_span_id
        is_random = getattr(ids, "is_trace_id_random", None)  # only in recent SDKs
        self._root_flags = (
            _UNSAMPLED_RANDOM if is_random is not None and is_random() else _UNSAMPLED
        )
        self.root_flags_hex = f"{self._root_flags:02x}"
        # A tracer its provider's configurator disabled makes no span at all: start_span says.
        self.enabled: Callable[[], bool] = getattr(tracer, "_is_enabled", _always)
        if self._random_ids and self.root is _DROPS:
            self.root_bound = 0
        elif self._random_ids and self.root is _ASK:
            self.root_bound = self._bounds["root"]

    def dropped(
        self,
        parent: SpanContext,
        context: otel_context.Context | None,
        operation: str,
        target: str,
        kind: SpanKind,
    ) -> _Unsampled | None:
        """The span the sampler drops, a child of ``parent`` (a root when it is not valid;
        ``context`` holds it, or is ``None`` for the current one), or ``None``: start it. The
        span is named ``<operation> <target>`` (made only if the sampler must be asked).

        It is the span the SDK would make: the trace's id (a new one for a root), a new span id,
        the parent's trace state, flagged not sampled.
        """
        if not parent.is_valid:
            return self.dropped_root(operation, target, kind)
        if parent.trace_flags.sampled:
            return None
        verdict = self.remote if parent.is_remote else self.local
        if verdict is _START or not self.enabled():
            return None
        if verdict is _ASK:
            which = "remote" if parent.is_remote else "local"
            if self._kept(which, parent.trace_id, context, operation, target, kind):
                return None
        flags = _UNSAMPLED_RANDOM if parent.trace_flags & _RANDOM else _UNSAMPLED
        return _Unsampled(None, (parent.trace_id, self._new_span_id(), flags, parent.trace_state))

    def dropped_root(self, operation: str, target: str, kind: SpanKind) -> _Unsampled | None:
        """:meth:`dropped` for a root: the span the sampler drops, or ``None``: start it."""
        verdict = self.root
        if verdict is _START or not self.enabled():
            return None
        if self._random_ids:  # the SDK's own generator: both ids, and their hex, in one draw
            bits = random.getrandbits(192)
            if bits >> 64 and bits & _SPAN_ID_BITS:  # else (one draw in 2**64) drawn again below
                if verdict is _ASK and self._kept_root(bits >> 64, operation, target, kind):
                    return None
                hexed = bits.to_bytes(24, "big").hex()
                return _Unsampled(f"00-{hexed[:32]}-{hexed[32:]}-{self.root_flags_hex}")
        trace_id, span_id = self._new_trace_id(), self._new_span_id()
        if verdict is _ASK and self._kept_root(trace_id, operation, target, kind):
            return None
        return _Unsampled(None, (trace_id, span_id, self._root_flags, None))

    def _kept_root(self, trace_id: int, operation: str, target: str, kind: SpanKind) -> bool:
        """Whether the ratio sampler keeps a root of ``trace_id``; if it does, that id is made the
        one ``start_span`` draws next, and decides on."""
        if not self._kept("root", trace_id, None, operation, target, kind):
            return False
        self.plan(trace_id)
        return True

    def plan(self, trace_id: int) -> None:
        """Make a kept root's ``trace_id`` the one ``start_span`` draws next, and decides on."""
        assert self._planned is not None  # made for a root's _ASK
        self._planned.plan(trace_id)

    def _kept(
        self,
        which: str,
        trace_id: int,
        context: otel_context.Context | None,
        operation: str,
        target: str,
        kind: SpanKind,
    ) -> bool:
        """The ratio sampler's decision for a span of trace ``trace_id``: by its bound when it
        keeps what its documentation says, else asked (the trace state it returns for a drop is
        the parent's, which the dropped span keeps)."""
        bound = self._bounds[which]
        if bound is not None:
            return trace_id & _LOW_64_BITS < bound
        name = f"{operation} {target}"
        decided = self._asked[which].should_sample(context, trace_id, name, kind)
        return decided.decision is not _DROP

    def start(
        self,
        name: str,
        *,
        kind: SpanKind,
        attributes: dict[str, Any],
        context: otel_context.Context | None = None,
        links: list[Link] | None = None,
    ) -> trace.Span:
        """``start_span``; a root whose trace id the sampler kept in :meth:`dropped` gets it."""
        try:
            return self._tracer.start_span(
                name, context=context, kind=kind, attributes=attributes, links=links
            )
        finally:
            if self._planned is not None:
                self._planned.forget()

    def _verdict(self, sampler: object, parent: str) -> str:
        """What ``sampler`` decides for a root (``parent`` is ``"root"``) or for a child of a
        sampled-out ``"remote"`` or ``"local"`` parent: :data:`_DROPS`, :data:`_ASK` (the
        sampler to ask is kept) or :data:`_START`."""
        should_sample = getattr(type(sampler), "should_sample", None)
        if should_sample is sampling.StaticSampler.should_sample:
            assert isinstance(sampler, sampling.StaticSampler)
            decided = sampler.should_sample(None, 1, "aura")  # static: every span's decision
            return _DROPS if decided.decision is _DROP else _START
        if should_sample is sampling.TraceIdRatioBased.should_sample:
            assert isinstance(sampler, sampling.TraceIdRatioBased)
            self._asked[parent] = sampler
            self._bounds[parent] = sampler.bound if _keeps_below_bound(sampler) else None
            return _ASK
        if should_sample is sampling.ParentBased.should_sample:
            delegate = getattr(sampler, _DELEGATES[parent], None)
            return _START if delegate is None else self._verdict(delegate, parent)
        return _START


def _always() -> bool:
    return True


def _keeps_below_bound(sampler: sampling.TraceIdRatioBased) -> bool:
    """Whether ``sampler`` keeps exactly the trace ids whose 64 low bits are below its bound,
    as the SDK's ``TraceIdRatioBased`` documents: asked of it on ids either side of the bound
    and of the bits a narrower check would ignore, under both halves of a 128-bit id."""
    bound = sampler.bound
    lows = {0, bound - 1, bound, bound + 1, 1 << 55, 1 << 56, 1 << 63, _LOW_64_BITS}
    for low in (low for low in lows if 0 <= low <= _LOW_64_BITS):
        for high in (0, 1 << 64, _LOW_64_BITS << 64):
            decided = sampler.should_sample(None, high | low, "aura")
            if (decided.decision is not _DROP) != (low < bound):
                return False
    return True


class _PlannedIds(IdGenerator):
    """A tracer's id generator that hands out, once, the trace id a root was sampled on.

    :meth:`_Sampling.dropped` draws a root's trace id and asks the ratio sampler; a root it keeps
    is then started by the SDK, which draws a trace id and asks again: the same id must come
    out, or a trace would be kept with the rate's square for its probability.
    """

    def __init__(self, ids: IdGenerator) -> None:
        self.ids = ids
        self._planned = threading.local()

    def plan(self, trace_id: int) -> None:
        """Make ``trace_id`` the next one this thread draws."""
        self._planned.trace_id = trace_id

    def forget(self) -> None:
        """Drop a planned trace id the SDK did not draw."""
        self._planned.trace_id = None

    def generate_trace_id(self) -> int:
        """The planned trace id, once; otherwise a new one."""
        planned: int | None = getattr(self._planned, "trace_id", None)
        if planned is None:
            return self.ids.generate_trace_id()
        self._planned.trace_id = None
        return planned

    def generate_span_id(self) -> int:
        """A new span id."""
        return self.ids.generate_span_id()

    def is_trace_id_random(self) -> bool:
        """Whether the ids drawn are random (the planned one was drawn by the same generator)."""
        is_random = getattr(self.ids, "is_trace_id_random", None)
        return bool(is_random()) if is_random is not None else False


# --- helpers ------------------------------------------------------------------------------------


_SPAN_KEY = next(iter(trace.set_span_in_context(trace.INVALID_SPAN, Context())))
"""The key OpenTelemetry keeps the current span under in a context (the API makes it)."""


def _runtime_context_var() -> ContextVar[Context] | None:
    """The context variable OpenTelemetry's default runtime context keeps the current context in;
    ``None`` for another runtime (``OTEL_PYTHON_CONTEXT``), which is then attached to through
    the API."""
    runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
    if type(runtime) is not ContextVarsRuntimeContext:
        return None
    var = getattr(runtime, "_current_context", None)
    if not isinstance(var, ContextVar) or var.get() is not otel_context.get_current():
        return None
    return var


def _close(span: trace.Span | None, token: object | None, error: BaseException | None) -> None:
    """End a delivery's or a call's span (if one was made), marked failed by ``error`` if any,
    and restore the context it replaced."""
    if span is not None:
        if error is not None:
            _failed(span, error)
        span.end()
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]


def _error_type(error: BaseException | None) -> str:
    """``error.type``: the exception's class, or ``""`` when the work succeeded."""
    return "" if error is None else type(error).__qualname__


def _attributes(counter: str, values: tuple[str, ...]) -> dict[str, str]:
    """The attributes of a count or a duration: the counter's own, then ``error.type`` if any."""
    attributes = dict(zip(_COUNTED[counter], values, strict=False))
    if values[-1]:
        attributes["error.type"] = values[-1]
    return attributes


def _traceparent(context: SpanContext) -> str:
    """The W3C ``traceparent`` of ``context`` (version 00), as the propagator writes it."""
    trace_id = context.trace_id.to_bytes(16, "big").hex()
    return f"00-{trace_id}-{context.span_id.to_bytes(8, 'big').hex()}-{context.trace_flags:02x}"


def _plain_traceparent(value: str) -> trace.SpanContext | None:
    """The remote span context of a version-00 ``traceparent`` (lowercase hex, W3C Trace Context
    3.2); ``None`` for anything else, which the propagator then reads (and refuses)."""
    if len(value) != 55 or not value.startswith("00-") or value[35] != "-" or value[52] != "-":
        return None
    trace_id, span_id, flags = value[3:35], value[36:52], value[53:]
    if not (_HEX.issuperset(trace_id) and _HEX.issuperset(span_id) and _HEX.issuperset(flags)):
        return None
    context = trace.SpanContext(
        int(trace_id, 16),
        int(span_id, 16),
        is_remote=True,
        trace_flags=trace.TraceFlags(int(flags, 16)),
    )
    return context if context.is_valid else None


_HEX = frozenset("0123456789abcdef")


def _carrier(metadata: Mapping[str, Any]) -> dict[str, str]:
    return {
        key: value
        for key in ("traceparent", "tracestate")
        if isinstance(value := metadata.get(key), str)
    }


def _failed(span: trace.Span, error: BaseException) -> str:
    """Mark ``span`` failed with ``error``; return its ``error.type``."""
    if not span.is_recording():
        return type(error).__qualname__
    kind = type(error).__qualname__
    span.set_attribute("error.type", kind)
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{kind}: {error}"[:200]))
    return kind

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

Without providers given, the global ones are used (set by the application, or by
:func:`from_environment` for ``aura serve``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, Histogram, Observation
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from aura import __version__
from aura.exceptions import ConfigurationError
from aura.hooks import Finish, Interceptor, PublishFinish

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from aura.events import Event
    from aura.platform import Platform

__all__ = ["Telemetry", "from_environment", "instrument"]

_PROPAGATOR = TraceContextTextMapPropagator()
"""W3C Trace Context: ``traceparent`` and ``tracestate``, whatever the global propagator is."""
_SYSTEM = "aura"


class Telemetry(Interceptor):
    """Spans and metrics around a platform's publishes, deliveries and calls (module docs)."""

    def __init__(
        self,
        tracer_provider: trace.TracerProvider | None = None,
        meter_provider: metrics.MeterProvider | None = None,
    ) -> None:
        self.tracer_provider = tracer_provider
        self.tracer = trace.get_tracer("aura", __version__, tracer_provider=tracer_provider)
        meter = metrics.get_meter("aura", __version__, meter_provider=meter_provider)
        self.meter_provider = meter_provider
        # Counters are counted here and read by the SDK when it collects (a dict increment per
        # event instead of an SDK measurement, which costs microseconds); durations go to the
        # SDK's histograms as they happen.
        self._counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
        self._count_lock = threading.Lock()
        for name, unit, description in (
            ("aura.events.published", "{event}", "Events accepted by the bus."),
            ("aura.deliveries", "{delivery}", "Events handed to a subscriber."),
            ("aura.calls", "{call}", "Cross-module service calls."),
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
        self.detach: Callable[[], None] = lambda: None
        """Detach from the platform :func:`instrument` attached it to."""

    def __repr__(self) -> str:
        return f"Telemetry(tracer_provider={self.tracer_provider!r})"

    def _count(self, name: str, attributes: dict[str, str]) -> None:
        key = (name, tuple(attributes.items()))
        with self._count_lock:
            self._counts[key] = self._counts.get(key, 0) + 1

    def _observer(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            with self._count_lock:
                counts = [(key[1], value) for key, value in self._counts.items() if key[0] == name]
            return [Observation(value, dict(attributes)) for attributes, value in counts]

        return observe

    # --- the interceptor ------------------------------------------------------------------------

    def publishing(
        self, event_id: str, event_type: str, source_module: str, metadata: MutableMapping[str, Any]
    ) -> PublishFinish:
        """Open ``publish <event type>`` and put its context in the event's metadata (under a
        sampled-out parent, none: the parent's context travels instead)."""
        parent = trace.get_current_span().get_span_context()
        if parent.is_valid and not parent.trace_flags.sampled:
            metadata["traceparent"] = _traceparent(parent)
            attributes = {"messaging.destination.name": event_type, "aura.module": source_module}

            def count(event: Event | None, error: BaseException | None) -> None:
                if error is not None:
                    attributes["error.type"] = type(error).__qualname__
                self._count("aura.events.published", attributes)

            return count
        span = self.tracer.start_span(
            f"publish {event_type}",
            kind=SpanKind.PRODUCER,
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
        metadata["traceparent"] = _traceparent(context)
        if context.trace_state:
            metadata["tracestate"] = context.trace_state.to_header()

        def finish(event: Event | None, error: BaseException | None) -> None:
            attributes = {"messaging.destination.name": event_type, "aura.module": source_module}
            if error is not None:
                attributes["error.type"] = _failed(span, error)
            else:
                assert event is not None  # accepted: the finish gets its envelope
                span.set_attribute("messaging.message.conversation_id", event.correlation_id)
            span.end()
            self._count("aura.events.published", attributes)

        return finish

    def delivering(self, event: Event, subscriber_module: str, handler_name: str) -> Finish:
        """Open ``process <event type>`` as a child of (and linked to) the publish span.

        When the publish was sampled out, so is its processing (as the default parent-based
        sampler decides): no span is made, the publisher's context is made current instead, so
        the handler's own spans are not sampled either.
        """
        publisher = self._publisher(event.metadata)
        published = trace.get_current_span(publisher).get_span_context()
        if published.is_valid and not published.trace_flags.sampled:
            span = None
            token = otel_context.attach(publisher)
        else:
            span = self.tracer.start_span(
                f"process {event.event_type}",
                context=publisher if published.is_valid else None,
                kind=SpanKind.CONSUMER,
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
            token = otel_context.attach(trace.set_span_in_context(span))
        started = time.perf_counter()

        def finish(error: BaseException | None) -> None:
            attributes = {
                "messaging.destination.name": event.event_type,
                "aura.module": subscriber_module,
                "aura.handler": handler_name,
            }
            self._ended(
                span, token, started, error, attributes, "aura.deliveries", self._delivery_duration
            )

        return finish

    def _publisher(self, metadata: Mapping[str, Any]) -> otel_context.Context:
        """The publish span's context from ``metadata``: a plain ``traceparent`` is read here
        (every sampled-out root publish has a trace of its own, so this runs per event), one
        with a ``tracestate`` or of another version by the W3C propagator."""
        value = metadata.get("traceparent")
        if "tracestate" not in metadata and isinstance(value, str):
            context = _plain_traceparent(value)
            if context is not None:
                return trace.set_span_in_context(trace.NonRecordingSpan(context))
        return _PROPAGATOR.extract(_carrier(metadata))

    def calling(
        self, caller_module: str | None, provider_module: str, service_name: str, method: str
    ) -> Finish:
        """Open ``call <module>.<service>.<method>`` in the caller's context (none under a
        sampled-out parent, as for :meth:`delivering`)."""
        parent = trace.get_current_span().get_span_context()
        span = None
        token = None
        if not parent.is_valid or parent.trace_flags.sampled:
            span = self.tracer.start_span(
                f"call {provider_module}.{service_name}.{method}",
                kind=SpanKind.INTERNAL,
                attributes={
                    "aura.module": provider_module,
                    "aura.service": service_name,
                    "aura.method": method,
                    "aura.caller_module": caller_module or "",
                },
            )
            token = otel_context.attach(trace.set_span_in_context(span))
        started = time.perf_counter()

        def finish(error: BaseException | None) -> None:
            attributes = {
                "aura.module": provider_module,
                "aura.service": service_name,
                "aura.method": method,
                "aura.caller_module": caller_module or "",
            }
            self._ended(span, token, started, error, attributes, "aura.calls", self._call_duration)

        return finish

    def _ended(
        self,
        span: trace.Span | None,
        token: object | None,
        started: float,
        error: BaseException | None,
        attributes: dict[str, str],
        counter: str,
        histogram: Histogram,
    ) -> None:
        """End a delivery's or a call's span (if one was made), restore the context it
        replaced, and count and time it."""
        duration = time.perf_counter() - started
        if error is not None:
            attributes["error.type"] = type(error).__qualname__
            if span is not None:
                _failed(span, error)
        if span is not None:
            span.end()
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]
        self._count(counter, attributes)
        histogram.record(duration, attributes)

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


def _traceparent(context: trace.SpanContext) -> str:
    """The W3C ``traceparent`` of ``context`` (version 00), as the propagator writes it."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


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

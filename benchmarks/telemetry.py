"""What watching a publish costs: interceptors (:mod:`aura.hooks`) and OpenTelemetry
(:mod:`aura.telemetry`) around a publish to one no-op subscriber.

The reference is the bus with no interceptor. Today's code before the hooks cannot run in this
process, so "unchanged with none attached" is measured as a bus that had one attached and then
detached (its tuples of hooks empty again) against a bus that never had one. OpenTelemetry is
the SDK configured as an application would, its providers given to :class:`Telemetry`. The
issue's target is on tracing with the span sampled out, so its cases use the API's no-op meter:
sampled out by ``ALWAYS_OFF``, and by the ratio sampler production uses
(``ParentBased(TraceIdRatioBased)``, keeping 1 trace in 10,000). Metrics are not sampled: the
same ``ALWAYS_OFF`` case with an SDK ``MeterProvider`` (a reader attached, as an exporter's
would be, never collected during the rounds) shows what counting and timing add; and once
sampled in, the spans handed to an exporter that drops them.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping, Sequence
from typing import Any

from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBasedTraceIdRatio, Sampler

from aura.bus import EventBus
from aura.events import Event, EventCatalog
from aura.hooks import Finish, Interceptor, PublishFinish
from aura.telemetry import Telemetry
from benchmarks.core import Area, Case, Namespace, Target

__all__ = ["AREA"]

DATA = {"session_id": 1, "patient_id": 7}
_GROUP = "publish to 1"
_PLAIN = "no interceptor"
_DETACHED = "an interceptor attached, then detached"
_NOOP = "a no-op interceptor attached"
_SAMPLED_OUT = "OpenTelemetry, span sampled out (ALWAYS_OFF), no-op meter"
_RATIO = "OpenTelemetry, span sampled out (1 in 10,000 kept), no-op meter"
_SDK_METER = "OpenTelemetry, span sampled out (ALWAYS_OFF), SDK meter"
_SAMPLED_IN = "OpenTelemetry, span sampled in, exporter dropping it, SDK meter"
_RATE = 1 / 10_000
_REFERENCE = f"{_GROUP} / {_PLAIN}"


def _on_data(data: object) -> None:
    """A subscriber that does nothing."""


class _Nothing(Interceptor):
    """Hooks publishes and deliveries, and does nothing at either start or end."""

    def publishing(
        self, event_id: str, event_type: str, source_module: str, metadata: MutableMapping[str, Any]
    ) -> PublishFinish | None:
        return None

    def delivering(self, event: Event, subscriber_module: str, handler_name: str) -> Finish | None:
        return None


class _Dropping(SpanExporter):
    """Takes every finished span and keeps none: the SDK's whole path, no I/O, no growth."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _bus() -> EventBus:
    # A catalog of its own: no contract, so no validation, and nothing shared with others.
    bus = EventBus(catalog=EventCatalog())
    bus.subscribe("session.scheduled", _on_data, "sub")
    return bus


def _plain() -> Namespace:
    return {"bus": _bus(), "data": DATA}


def _detached() -> Namespace:
    bus = _bus()
    bus.add_interceptor(_Nothing())()
    return {"bus": bus, "data": DATA}


def _attached() -> Namespace:
    bus = _bus()
    bus.add_interceptor(_Nothing())
    return {"bus": bus, "data": DATA}


def _sdk_meter() -> MeterProvider:
    """An SDK meter provider as an application configures one: with a reader (never collected
    here, so what it aggregates stays one data point per attribute set)."""
    return SdkMeterProvider(metric_readers=[InMemoryMetricReader()])


def _telemetry(sampler: Sampler, meter: Callable[[], MeterProvider]) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        tracer_provider = TracerProvider(sampler=sampler)
        if sampler is ALWAYS_ON:
            tracer_provider.add_span_processor(SimpleSpanProcessor(_Dropping()))
        bus = _bus()
        bus.add_interceptor(Telemetry(tracer_provider, meter()))
        return {"bus": bus, "data": DATA}

    return setup


_PUBLISH = 'bus.publish("session.scheduled", data, "pub")'

AREA = Area(
    name="telemetry",
    title="Interceptors and OpenTelemetry: publish one event to 1 no-op subscriber",
    cases=(
        Case(_GROUP, _PLAIN, _PUBLISH, _plain),
        Case(_GROUP, _DETACHED, _PUBLISH, _detached),
        Case(_GROUP, _NOOP, _PUBLISH, _attached),
        Case(_GROUP, _SAMPLED_OUT, _PUBLISH, _telemetry(ALWAYS_OFF, NoOpMeterProvider)),
        Case(
            _GROUP, _RATIO, _PUBLISH, _telemetry(ParentBasedTraceIdRatio(_RATE), NoOpMeterProvider)
        ),
        Case(_GROUP, _SDK_METER, _PUBLISH, _telemetry(ALWAYS_OFF, _sdk_meter)),
        Case(_GROUP, _SAMPLED_IN, _PUBLISH, _telemetry(ALWAYS_ON, _sdk_meter)),
    ),
    targets=(
        Target(f"{_GROUP} / {_DETACHED}", "≤ 1.02x never attached", 1.02, _REFERENCE),
        Target(f"{_GROUP} / {_SAMPLED_OUT}", "≤ 1.5x publish without it", 1.5, _REFERENCE),
        Target(f"{_GROUP} / {_RATIO}", "≤ 1.5x publish without it", 1.5, _REFERENCE),
    ),
    notes=(
        "Each case is the bus area's `publish to 1: aura` (full envelope, the handler isolated "
        "and run as its module, no contract), on a bus of its own.",
        "Detached: an interceptor hooking publishes and deliveries attached, then detached "
        "before the rounds; the hooks are empty tuples again, as on a bus that never had one. "
        "No-op interceptor: the same one left attached, its hooks returning no finish.",
        "OpenTelemetry: `Telemetry(tracer_provider, meter_provider)` attached to the bus, so "
        "each publish is traced as `publish <type>` and `process <type>`. Sampled out: an SDK "
        "`TracerProvider` whose sampler drops the span (`ALWAYS_OFF`, or "
        "`ParentBasedTraceIdRatio(0.0001)`); no span is made, the event carries a traceparent "
        "flagged not sampled, and the handler runs in that dropped context. The issue's target "
        "(≤ 1.5x) is on these, with the API's `NoOpMeterProvider`: sampling decides spans, "
        "not metrics.",
        "SDK meter: an SDK `MeterProvider` with a reader attached; the publish count and the "
        "delivery's count and duration are recorded whatever the sampler decides (the SDK's "
        "`Histogram.record` alone costs about a publish). Sampled in: `ALWAYS_ON` and a "
        "`SimpleSpanProcessor` whose exporter drops the spans.",
    ),
    packages=("aura", "opentelemetry-api", "opentelemetry-sdk"),
)

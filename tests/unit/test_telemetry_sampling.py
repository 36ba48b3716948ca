"""OpenTelemetry when the sampler drops spans: nothing is exported, the dropped decision travels
with the event (and stays dropped in another process), a ratio sampler's kept traces are whole,
a sampled parent is honoured, and a sampler aura does not know decides every span itself."""

from __future__ import annotations

import contextvars
import itertools
import logging
import random
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    ParentBasedTraceIdRatio,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState
from opentelemetry.util.types import Attributes

import aura.telemetry
from aura.events import Event
from aura.hooks import Interceptor
from aura.module import Module
from aura.platform import Platform
from aura.telemetry import instrument

RATE = 0.5
LOW_BITS = (1 << 64) - 1
"""A ratio sampler keeps a trace when its trace id's low 64 bits are below rate x 2**64."""


@dataclass
class Shop:
    """Three modules: orders publishes order.placed; shipping handles it, calls stock and
    publishes order.shipped; billing handles that. Each handler opens a span of its own."""

    tracer_provider: TracerProvider
    effects: list[str] = field(default_factory=list)
    fail: list[bool] = field(default_factory=lambda: [False])
    seen: list[trace.SpanContext] = field(default_factory=list)
    platform: Platform | None = None

    def modules(self) -> list[Module]:
        orders = Module("orders")
        orders.publishes("order.placed")
        stock = Module("stock")

        @stock.service("Stock")
        class Stock:
            def reserve(self, sku: str) -> str:
                return sku

        shipping = Module("shipping", depends_on=["stock"])
        shipping.publishes("order.shipped")
        tracer = self.tracer_provider.get_tracer("shop")

        @shipping.subscribe("order.placed")
        def ship(event: Event) -> None:
            self.seen.append(trace.get_current_span().get_span_context())
            if self.fail[0]:
                raise RuntimeError("the carrier is down")
            with tracer.start_as_current_span("pack"):
                assert self.platform is not None
                self.platform.registry.get_service("stock", "Stock").reserve("sku-1")
            self.platform.bus.publish("order.shipped", {"order_id": event.data["order_id"]})
            self.effects.append(event.event_id)

        billing = Module("billing")

        @billing.subscribe("order.shipped")
        def bill(event: Event) -> None:
            self.effects.append(f"billed {event.data['order_id']}")

        return [orders, stock, shipping, billing]

    def start(self, **options: Any) -> Platform:
        self.platform = Platform(self.modules(), **options)
        self.platform.start()
        return self.platform


class Traced:
    """A tracer provider with ``sampler`` (and ``ids``, if given) exporting to memory."""

    def __init__(self, sampler: Sampler, ids: IdGenerator | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider(sampler=sampler, id_generator=ids)
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())


@pytest.fixture
def shop(request: pytest.FixtureRequest) -> Iterator[tuple[Shop, Traced]]:
    traced = Traced(request.param)
    shop = Shop(traced.provider)
    platform = shop.start()
    instrument(platform, tracer_provider=traced.provider)
    yield shop, traced
    platform.close()
    traced.provider.shutdown()


def flags_of(traceparent: str) -> int:
    return int(traceparent.split("-")[3], 16)


def trace_id_of(traceparent: str) -> int:
    return int(traceparent.split("-")[1], 16)


DROPPING = [
    ALWAYS_OFF,
    ParentBased(ALWAYS_OFF),
    TraceIdRatioBased(0.0),
    ParentBasedTraceIdRatio(0.0),
]


@pytest.mark.parametrize("shop", DROPPING, indirect=True, ids=lambda s: s.get_description())
def test_a_sampled_out_publish_and_its_deliveries_export_no_span(
    shop: tuple[Shop, Traced],
) -> None:
    app, traced = shop
    assert app.platform is not None
    event = app.platform.bus.publish("order.placed", {"order_id": 7}, "orders")
    assert app.effects == [event.event_id, "billed 7"]  # the work all ran
    assert traced.spans() == []
    traceparent = event.metadata["traceparent"]
    assert flags_of(traceparent) & 0x01 == 0  # not sampled: so it stays wherever it goes
    assert trace_id_of(traceparent) != 0


@pytest.mark.parametrize("shop", [ParentBased(ALWAYS_OFF)], indirect=True)
def test_the_handler_runs_in_the_dropped_trace(shop: tuple[Shop, Traced]) -> None:
    """What the handler's code propagates (an HTTP call's traceparent) says: not sampled."""
    app, _ = shop
    assert app.platform is not None
    event = app.platform.bus.publish("order.placed", {"order_id": 7}, "orders")
    (current,) = app.seen
    assert current.is_valid
    assert not current.trace_flags.sampled
    assert current.trace_id == trace_id_of(event.metadata["traceparent"])


@pytest.mark.parametrize("shop", [ParentBasedTraceIdRatio(RATE)], indirect=True)
def test_a_ratio_samplers_kept_traces_are_whole_and_decided_on_their_own_ids(
    shop: tuple[Shop, Traced],
) -> None:
    app, traced = shop
    assert app.platform is not None
    random.seed(22)  # the SDK's ids are drawn from the random module: the same ones each run
    events = [
        app.platform.bus.publish("order.placed", {"order_id": n}, "orders") for n in range(400)
    ]
    bound = TraceIdRatioBased.get_bound_for_rate(RATE)
    kept = {trace_id_of(e.metadata["traceparent"]) for e in events if _sampled(e)}
    dropped = {trace_id_of(e.metadata["traceparent"]) for e in events if not _sampled(e)}
    assert 150 < len(kept) < 250  # about half: asked once per trace (twice would keep a quarter)
    # Each decision was the ratio's on the very trace id the event carries.
    assert all(trace_id & LOW_BITS < bound for trace_id in kept)
    assert all(trace_id & LOW_BITS >= bound for trace_id in dropped)
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in traced.spans():
        by_trace.setdefault(span.context.trace_id, []).append(span)
    assert set(by_trace) == kept  # nothing of a dropped trace, no trace of its own
    for spans in by_trace.values():
        _assert_whole(spans)


class Alternating(IdGenerator):
    """Trace ids a ratio of one half keeps, then drops, in turn; span ids counted."""

    def __init__(self) -> None:
        self.drawn: list[int] = []
        self.span_ids = itertools.count(1)

    def generate_trace_id(self) -> int:
        kept = len(self.drawn) % 2 == 0
        self.drawn.append((len(self.drawn) + 1) << 64 | (0 if kept else LOW_BITS))
        return self.drawn[-1]

    def generate_span_id(self) -> int:
        return next(self.span_ids)


def test_a_root_is_decided_once_on_the_trace_id_it_keeps() -> None:
    """A root's trace id is drawn once: the sampler's decision on it is the one that holds (a
    second draw would keep a trace with the rate's square for probability)."""
    ids = Alternating()
    traced = Traced(ParentBasedTraceIdRatio(RATE), ids)
    app = Shop(traced.provider)
    with app.start() as platform:
        instrument(platform, tracer_provider=traced.provider)
        events = [platform.bus.publish("order.placed", {"order_id": n}, "orders") for n in range(6)]
    assert [_sampled(event) for event in events] == [True, False] * 3
    assert [trace_id_of(event.metadata["traceparent"]) for event in events] == ids.drawn
    assert {span.context.trace_id for span in traced.spans()} == set(ids.drawn[::2])


class Narrow(TraceIdRatioBased):
    """A ratio sampler reading only the low 56 bits of a trace id (its own TRACE_ID_LIMIT)."""

    TRACE_ID_LIMIT = (1 << 56) - 1


class Fixed(IdGenerator):
    """Trace ids whose low 56 bits are 0 and whose next 8 are all ones."""

    def __init__(self) -> None:
        self.counted = itertools.count(1)

    def generate_trace_id(self) -> int:
        return next(self.counted) << 64 | 0xFF << 56

    def generate_span_id(self) -> int:
        return next(self.counted)


def test_a_ratio_sampler_deciding_otherwise_is_asked_not_assumed() -> None:
    """Its bound is not read as the SDK's 64-bit one: a 56-bit sampler keeps these ids."""
    traced = Traced(ParentBased(Narrow(RATE)), Fixed())
    app = Shop(traced.provider)
    with app.start() as platform:
        instrument(platform, tracer_provider=traced.provider)
        event = platform.bus.publish("order.placed", {"order_id": 7}, "orders")
    assert _sampled(event)
    _assert_whole(traced.spans())


def test_a_sampler_keeping_children_of_a_dropped_parent_gets_process_spans() -> None:
    traced = Traced(ParentBased(ALWAYS_OFF, remote_parent_not_sampled=ALWAYS_ON))
    app = Shop(traced.provider)
    with app.start() as platform:
        instrument(platform, tracer_provider=traced.provider)
        event = platform.bus.publish("order.placed", {"order_id": 7}, "orders")
    recorded = {span.name: span for span in traced.spans()}
    assert "publish order.placed" not in recorded
    process = recorded["process order.placed"]
    assert process.context.trace_id == trace_id_of(event.metadata["traceparent"])
    assert process.parent is not None
    assert process.parent.is_remote


def _sampled(event: Event) -> bool:
    return bool(flags_of(event.metadata["traceparent"]) & 0x01)


def _assert_whole(spans: list[ReadableSpan]) -> None:
    """One booking's trace: publish -> process -> pack -> call, then publish -> process."""
    named = {span.name: span for span in spans}
    assert sorted(named) == [
        "call stock.Stock.reserve",
        "pack",
        "process order.placed",
        "process order.shipped",
        "publish order.placed",
        "publish order.shipped",
    ]
    publish, process = named["publish order.placed"], named["process order.placed"]
    assert publish.parent is None
    assert publish.kind is SpanKind.PRODUCER
    assert _parent(process) == publish.context.span_id
    assert [link.context.span_id for link in process.links] == [publish.context.span_id]
    assert _parent(named["pack"]) == process.context.span_id
    assert _parent(named["call stock.Stock.reserve"]) == named["pack"].context.span_id
    assert _parent(named["publish order.shipped"]) == process.context.span_id
    shipped = named["process order.shipped"]
    assert _parent(shipped) == named["publish order.shipped"].context.span_id


def _parent(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent is not None else None


# --- a trace that outlives its process ---------------------------------------------------------


def _fail_then_retry(tmp_path: Path, first: Sampler, second: Sampler) -> tuple[Traced, Traced]:
    """Publish on a durable platform traced by ``first`` (the handler fails: a dead letter),
    then retry it on another platform on the same database, traced by ``second``."""
    database = tmp_path / "shop.db"
    before, after = Traced(first), Traced(second)
    app = Shop(before.provider, fail=[True])
    with app.start(database=database, durable=True) as platform:
        instrument(platform, tracer_provider=before.provider)
        platform.bus.publish("order.placed", {"order_id": 7}, "orders")
    retried = Shop(after.provider)
    with retried.start(database=database, durable=True) as platform:
        instrument(platform, tracer_provider=after.provider)
        report = platform.bus.retry_dead_letters()
    assert len(report.succeeded) == 1
    assert retried.effects[-1] == "billed 7"
    return before, after


def test_a_dropped_trace_stays_dropped_in_another_process(tmp_path: Path) -> None:
    # The second process would keep every root; the event says its trace was dropped.
    before, after = _fail_then_retry(tmp_path, ALWAYS_OFF, ParentBased(ALWAYS_ON))
    assert before.spans() == []
    assert after.spans() == []


def test_a_sampled_parent_in_the_metadata_is_honoured_though_roots_are_dropped(
    tmp_path: Path,
) -> None:
    before, after = _fail_then_retry(tmp_path, ALWAYS_ON, ParentBased(ALWAYS_OFF))
    (publish,) = [span for span in before.spans() if span.name == "publish order.placed"]
    retried = {span.name: span for span in after.spans()}
    process = retried["process order.placed"]
    assert process.context.trace_id == publish.context.trace_id
    assert process.parent is not None
    assert process.parent.is_remote
    assert process.parent.span_id == publish.context.span_id
    assert _parent(retried["call stock.Stock.reserve"]) == retried["pack"].context.span_id
    assert "process order.shipped" in retried


# --- samplers and meters aura does not shortcut ------------------------------------------------


class Counting(Sampler):
    """A sampler aura cannot see into: it drops everything and notes what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        self.asked.append(name)
        return SamplingResult(Decision.DROP)

    def get_description(self) -> str:
        return "Counting"


def test_a_sampler_aura_does_not_know_is_asked_for_every_span() -> None:
    sampler = Counting()
    traced = Traced(sampler)
    app = Shop(traced.provider)
    with app.start() as platform:
        instrument(platform, tracer_provider=traced.provider)
        platform.bus.publish("order.placed", {"order_id": 7}, "orders")
    assert sampler.asked == [
        "publish order.placed",
        "process order.placed",
        "pack",
        "call stock.Stock.reserve",
        "publish order.shipped",
        "process order.shipped",
    ]
    assert traced.spans() == []


def test_metrics_count_and_time_what_the_sampler_dropped() -> None:
    traced = Traced(ALWAYS_OFF)
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    app = Shop(traced.provider, fail=[True])
    with app.start() as platform:
        instrument(platform, tracer_provider=traced.provider, meter_provider=meter_provider)
        platform.bus.publish("order.placed", {"order_id": 7}, "orders")
    data = reader.get_metrics_data()
    assert data is not None
    points = [
        (metric.name, dict(point.attributes or {}), point)
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
        for point in metric.data.data_points
    ]
    (published,) = [p for name, _, p in points if name == "aura.events.published"]
    assert published.value == 1  # type: ignore[union-attr]
    deliveries = [(name, a, p) for name, a, p in points if a.get("aura.module") == "shipping"]
    assert sorted(name for name, _, _ in deliveries) == [
        "aura.deliveries",
        "aura.delivery.duration",
    ]
    for name, attributes, point in deliveries:
        assert attributes["error.type"] == "RuntimeError"
        assert attributes["messaging.destination.name"] == "order.placed"
        assert (point.value if name == "aura.deliveries" else point.count) == 1  # type: ignore[union-attr]
    assert traced.spans() == []
    meter_provider.shutdown()


def test_the_apis_no_op_tracer_puts_no_trace_context_in_the_event() -> None:
    module = Module("orders")
    module.publishes("order.placed")
    with Platform([module]) as platform:
        instrument(platform, tracer_provider=trace.NoOpTracerProvider())
        event = platform.bus.publish("order.placed", {}, "orders")
    assert "traceparent" not in event.metadata


@pytest.mark.parametrize("runtime", ["context variable", "API"])
def test_a_sampled_out_delivery_runs_in_its_trace_and_gives_the_callers_context_back(
    monkeypatch: pytest.MonkeyPatch, runtime: str
) -> None:
    """OpenTelemetry's default runtime context is set directly; another runtime
    (``OTEL_PYTHON_CONTEXT``) through the API: the handler sees the same either way."""
    if runtime == "API":
        monkeypatch.setattr(aura.telemetry, "_runtime_context_var", lambda: None)
    traced = Traced(ParentBasedTraceIdRatio(0.0))
    app = Shop(traced.provider)
    with app.start() as platform:
        # Nothing metered: a delivery only makes the publish span current (and gives it back).
        telemetry = instrument(
            platform, tracer_provider=traced.provider, meter_provider=NoOpMeterProvider()
        )
        assert (telemetry._fast_context_var is None) == (runtime == "API")
        before = otel_context.get_current()
        first = platform.bus.publish("order.placed", {"order_id": 7}, "orders")
        second = platform.bus.publish("order.placed", {"order_id": 8}, "orders")
        assert otel_context.get_current() is before
    assert [seen.trace_id for seen in app.seen] == [
        trace_id_of(first.metadata["traceparent"]),
        trace_id_of(second.metadata["traceparent"]),
    ]
    assert first.metadata["traceparent"] != second.metadata["traceparent"]
    assert not any(seen.trace_flags.sampled for seen in app.seen)
    assert [seen.is_remote for seen in app.seen] == [False, False]  # published here
    assert traced.spans() == []


class _Stating(Interceptor):
    """Attached after telemetry: adds a trace state of its own to every event."""

    def publishing(
        self, event_id: str, event_type: str, source_module: str, metadata: MutableMapping[str, Any]
    ) -> None:
        metadata["tracestate"] = "vendor=1"


def test_a_trace_state_an_interceptor_adds_after_telemetry_reaches_the_handler() -> None:
    traced = Traced(ParentBased(ALWAYS_OFF))
    app = Shop(traced.provider)
    with app.start() as platform:
        instrument(platform, tracer_provider=traced.provider, meter_provider=NoOpMeterProvider())
        platform.add_interceptor(_Stating())
        event = platform.bus.publish("order.placed", {"order_id": 7}, "orders")
    [seen] = app.seen
    assert seen.trace_id == trace_id_of(event.metadata["traceparent"])
    assert seen.trace_state == TraceState([("vendor", "1")])
    assert not seen.trace_flags.sampled
    assert traced.spans() == []


def test_a_delivery_context_that_cannot_be_given_back_is_logged_as_opentelemetry_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    traced = Traced(ALWAYS_OFF)
    module = Module("orders")
    module.publishes("order.placed")
    with Platform([module]) as platform:
        telemetry = instrument(
            platform, tracer_provider=traced.provider, meter_provider=NoOpMeterProvider()
        )
        event = platform.bus.publish("order.placed", {}, "orders")
        before = otel_context.get_current()
        finish = telemetry.delivering(event, "billing", "bill")
        assert trace.get_current_span().get_span_context().trace_id == trace_id_of(
            event.metadata["traceparent"]
        )
        with caplog.at_level(logging.ERROR, "opentelemetry.context"):
            contextvars.copy_context().run(finish, None)  # another context: it cannot reset
            assert otel_context.get_current() is not before  # still set here
            finish(None)  # here: given back
            finish(None)  # twice: the token is spent
        assert otel_context.get_current() is before
    logged = [(r.name, r.getMessage()) for r in caplog.records]
    assert logged == [("opentelemetry.context", "Failed to detach context")] * 2

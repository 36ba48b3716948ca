"""OpenTelemetry end to end: one HTTP booking is one trace across the four modules, with the
messaging conventions' parents and links; a handler run later, by another platform on the same
database, continues the publisher's trace; failures are marked; metrics count and time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from aura.events import Event
from aura.exceptions import ConfigurationError
from aura.module import Module
from aura.platform import Platform
from aura.telemetry import Telemetry, from_environment, instrument
from aura.testing import PublishedEvents
from aura.testing.http import GatewayClient

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


class Tracing:
    """A tracer provider exporting to memory, and a meter provider read in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.metrics = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metrics])

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def named(self, name: str) -> list[ReadableSpan]:
        return [span for span in self.spans() if span.name == name]

    def one(self, name: str) -> ReadableSpan:
        (span,) = self.named(name)
        return span

    def points(self, metric: str) -> dict[tuple[tuple[str, Any], ...], Any]:
        """The data points of ``metric`` by their sorted attributes."""
        found: dict[tuple[tuple[str, Any], ...], Any] = {}
        data = self.metrics.get_metrics_data()
        assert data is not None
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for each in scope.metrics:
                    if each.name == metric:
                        for point in each.data.data_points:
                            found[tuple(sorted(point.attributes.items()))] = point
        return found


@pytest.fixture
def tracing() -> Iterator[Tracing]:
    tracing = Tracing()
    yield tracing
    tracing.tracer_provider.shutdown()
    tracing.meter_provider.shutdown()


@pytest.fixture
def booking(aura_platform: Platform, tracing: Tracing) -> Iterator[dict[str, Any]]:
    """A patient and a therapist registered, the platform and its gateway traced; then one
    booking sent with a client's traceparent. Yields the booked session."""
    telemetry = instrument(
        aura_platform,
        tracer_provider=tracing.tracer_provider,
        meter_provider=tracing.meter_provider,
    )
    client = GatewayClient(aura_platform, telemetry=telemetry)
    operator = client.as_operator()
    for body in (
        {"email": "pat@example.com", "name": "Pat", "role": "patient"},
        {"email": "tess@example.com", "name": "Dr Tess", "role": "therapist"},
    ):
        assert operator.post("/api/users/users", json=body).status_code == 201
    tracing.exporter.clear()
    when = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0).isoformat()
    response = client.as_user(1, roles=["patient"]).post(
        "/api/mentalhealth/sessions",
        json={"patient_id": 1, "therapist_id": 2, "scheduled_at": when},
        headers={"traceparent": TRACEPARENT},
    )
    assert response.status_code == 201, response.text
    yield response.json()
    client.close()
    telemetry.detach()


def test_one_booking_is_one_trace_joining_the_clients(
    booking: dict[str, Any], tracing: Tracing
) -> None:
    spans = tracing.spans()
    assert {format(span.context.trace_id, "032x") for span in spans} == {CLIENT_TRACE}
    server = next(span for span in spans if span.kind is SpanKind.SERVER)
    assert server.name == "POST /api/mentalhealth/sessions"
    assert server.parent is not None
    assert server.parent.is_remote
    assert format(server.parent.span_id, "016x") == CLIENT_SPAN
    modules = {span.attributes["aura.module"] for span in spans if "aura.module" in span.attributes}
    assert modules == {"users", "mentalhealth", "notifications", "billing"}


def test_the_booking_checks_its_participants_under_the_request(
    booking: dict[str, Any], tracing: Tracing
) -> None:
    server = next(span for span in tracing.spans() if span.kind is SpanKind.SERVER)
    checks = [
        span
        for span in tracing.named("call users.UserService.get_user_by_id")
        if span.attributes["aura.caller_module"] == "mentalhealth"
    ]
    assert len(checks) == 2  # the patient, then the therapist
    for check in checks:
        assert check.kind is SpanKind.INTERNAL
        assert check.parent is not None
        assert check.parent.span_id == server.context.span_id
        assert check.status.status_code is StatusCode.UNSET


def test_each_subscriber_processes_as_a_child_and_a_link_of_the_publish(
    booking: dict[str, Any], tracing: Tracing
) -> None:
    publish = tracing.one("publish therapy_session.scheduled")
    assert publish.kind is SpanKind.PRODUCER
    assert publish.attributes["messaging.system"] == "aura"
    assert publish.attributes["aura.module"] == "mentalhealth"
    processes = tracing.named("process therapy_session.scheduled")
    assert sorted(span.attributes["aura.module"] for span in processes) == [
        "billing",
        "notifications",
    ]
    for process in processes:
        assert process.kind is SpanKind.CONSUMER
        assert process.parent is not None
        assert process.parent.span_id == publish.context.span_id
        assert [link.context.span_id for link in process.links] == [publish.context.span_id]
        assert (
            process.attributes["messaging.message.id"] == publish.attributes["messaging.message.id"]
        )
    # A handler's own calls nest under its process span.
    notifications = next(p for p in processes if p.attributes["aura.module"] == "notifications")
    nested = [
        span
        for span in tracing.spans()
        if span.name.startswith("call users.")
        and span.parent is not None
        and span.parent.span_id == notifications.context.span_id
    ]
    assert nested, "the notifications handler's call to users is not under its process span"


def test_the_event_carries_the_publish_spans_context(
    booking: dict[str, Any], tracing: Tracing, published_events: PublishedEvents
) -> None:
    publish = tracing.one("publish therapy_session.scheduled")
    event = published_events.of_type("therapy_session.scheduled").one()
    assert event.metadata["traceparent"] == (f"00-{CLIENT_TRACE}-{publish.context.span_id:016x}-01")
    assert event.event_id == publish.attributes["messaging.message.id"]
    assert publish.attributes["messaging.message.conversation_id"] == event.correlation_id


def test_metrics_count_and_time_every_kind_of_work(
    booking: dict[str, Any], tracing: Tracing
) -> None:
    published = tracing.points("aura.events.published")
    scheduled = (
        ("aura.module", "mentalhealth"),
        ("messaging.destination.name", "therapy_session.scheduled"),
    )
    assert published[scheduled].value == 1
    deliveries = tracing.points("aura.deliveries")
    by_module = {
        dict(attributes)["aura.module"]: point.value
        for attributes, point in deliveries.items()
        if dict(attributes)["messaging.destination.name"] == "therapy_session.scheduled"
    }
    assert by_module == {"billing": 1, "notifications": 1}
    durations = tracing.points("aura.delivery.duration")
    assert all(point.count == 1 and point.sum > 0 for point in durations.values())
    checks = tracing.points("aura.calls")
    from_mentalhealth = (
        ("aura.caller_module", "mentalhealth"),
        ("aura.method", "get_user_by_id"),
        ("aura.module", "users"),
        ("aura.service", "UserService"),
    )
    assert checks[from_mentalhealth].value == 2
    assert tracing.points("aura.call.duration")[from_mentalhealth].count == 2


# --- a trace that outlives its process ---------------------------------------------------------


def flaky_module(effects: list[str], fail: list[bool]) -> Module:
    module = Module("orders")
    module.publishes("order.placed")

    @module.subscribe("order.placed")
    def ship(event: Event) -> None:
        if fail[0]:
            raise RuntimeError("the carrier is down")
        effects.append(event.event_id)

    return module


def test_a_retried_dead_letter_continues_the_publishers_trace(
    tmp_path: Path, tracing: Tracing
) -> None:
    effects: list[str] = []
    fail = [True]
    database = tmp_path / "orders.db"
    with Platform([flaky_module(effects, fail)], database=database, durable=True) as first:
        first.start()
        telemetry = instrument(first, tracer_provider=tracing.tracer_provider)
        first.bus.publish("order.placed", {"order_id": 7}, "orders")
        telemetry.detach()
    publish = tracing.one("publish order.placed")
    failed = tracing.one("process order.placed")
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "RuntimeError"
    assert [event.name for event in failed.events] == ["exception"]
    tracing.exporter.clear()
    fail[0] = False
    with Platform([flaky_module(effects, fail)], database=database, durable=True) as second:
        second.start()
        instrument(second, tracer_provider=tracing.tracer_provider)
        report = second.bus.retry_dead_letters()
    assert len(report.succeeded) == 1
    assert len(effects) == 1
    retried = tracing.one("process order.placed")
    assert retried.context.trace_id == publish.context.trace_id
    assert retried.parent is not None
    assert retried.parent.span_id == publish.context.span_id
    assert retried.status.status_code is StatusCode.UNSET


def test_a_failed_call_is_marked_with_its_error_type(tracing: Tracing) -> None:
    module = Module("stock")

    @module.service("Stock")
    class Stock:
        def reserve(self, sku: str) -> None:
            raise LookupError(f"no {sku}")

    caller = Module("orders", depends_on=["stock"])
    with Platform([module, caller]) as platform:
        platform.start()
        instrument(platform, tracer_provider=tracing.tracer_provider)
        stock = platform.registry.get_service("stock", "Stock")
        with pytest.raises(LookupError):
            stock.reserve("sku-1")
    span = tracing.one("call stock.Stock.reserve")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "LookupError: no sku-1"
    assert span.attributes["error.type"] == "LookupError"
    assert span.attributes["aura.caller_module"] == ""


def test_telemetry_detaches_and_is_an_interceptor(tracing: Tracing) -> None:
    module = Module("orders")
    module.publishes("order.placed")
    with Platform([module]) as platform:
        telemetry = instrument(platform, tracer_provider=tracing.tracer_provider)
        assert isinstance(telemetry, Telemetry)
        platform.bus.publish("order.placed", {}, "orders")
        telemetry.detach()
        event = platform.bus.publish("order.placed", {}, "orders")
    assert len(tracing.named("publish order.placed")) == 1
    assert "traceparent" not in event.metadata


def test_a_request_span_is_named_after_its_route_not_its_ids(
    aura_platform: Platform, tracing: Tracing
) -> None:
    telemetry = instrument(aura_platform, tracer_provider=tracing.tracer_provider)
    client = GatewayClient(aura_platform, telemetry=telemetry)
    for email in ("a@example.com", "b@example.com"):
        body = {"email": email, "name": "A", "role": "patient"}
        assert client.as_operator().post("/api/users/users", json=body).status_code == 201
    tracing.exporter.clear()
    for user_id in (1, 2):
        client.as_user(user_id, roles=["patient"]).get(f"/api/users/users/{user_id}")
    client.anonymous().get("/api/users/users/3")  # refused before routing
    client.close()
    telemetry.detach()
    servers = [span for span in tracing.spans() if span.kind is SpanKind.SERVER]
    assert [span.name for span in servers] == ["GET /api/users/users/{user_id}"] * 2 + ["GET"]
    assert [span.attributes.get("http.route") for span in servers] == [
        "/api/users/users/{user_id}",
        "/api/users/users/{user_id}",
        None,
    ]


@pytest.mark.parametrize(
    ("environ", "where"),
    [
        ({"OTEL_SDK_DISABLED": "true"}, "off (OTEL_SDK_DISABLED=true)"),
        ({"OTEL_TRACES_EXPORTER": "none"}, "off (OTEL_TRACES_EXPORTER=none)"),
        (
            {},
            "to the console (set OTEL_EXPORTER_OTLP_ENDPOINT=http://<collector>:4318 to send "
            "them to a collector, or OTEL_TRACES_EXPORTER=none)",
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
            "over OTLP/HTTP to http://collector:4318",
        ),
    ],
)
def test_aura_serve_reads_the_standard_variables(environ: dict[str, str], where: str) -> None:
    provider, said = from_environment(environ)
    assert said == where
    assert (provider is None) == said.startswith("off")
    if provider is not None:
        provider.shutdown()


def test_the_otlp_endpoint_of_the_mapping_is_the_one_exported_to() -> None:
    provider, _ = from_environment({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"})
    assert provider is not None
    processor = provider._active_span_processor._span_processors[0]
    assert processor.span_exporter._endpoint == "http://collector:4318/v1/traces"  # type: ignore[attr-defined]
    provider.shutdown()


def test_an_unknown_exporter_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigurationError) as caught:
        from_environment({"OTEL_TRACES_EXPORTER": "zipkin"})
    assert str(caught.value) == (
        "OTEL_TRACES_EXPORTER='zipkin' is not one aura serve knows. Use 'otlp', 'console' or "
        "'none'."
    )

"""The gateway's monitoring: structured logs and Prometheus metrics for requests, events and calls.

:class:`Monitor` observes the platform's bus and registry and is told of each HTTP request by
the middleware; each record is logged on the ``aura.gateway`` logger with its fields in
``record.aura`` and counted in the gateway's own Prometheus registry, beside the breakers'
states read at scrape time.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import Scope

from aura.breaker import BreakerState
from aura.bus import Delivery
from aura.context import get_correlation_id
from aura.events import Event
from aura.platform import Platform
from aura.registry import ServiceCall
from aura.web.discovery import service_health

__all__ = ["Monitor", "log", "logger", "printable"]

logger = logging.getLogger("aura.gateway")
"""The gateway's logger; its name is kept from the single-file gateway, as log configs use it."""

_UNMATCHED = "unmatched"
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Monitor:
    """Observes the bus and the registry; logs and counts requests, events and service calls."""

    def __init__(self, platform: Platform, metrics: CollectorRegistry) -> None:
        labels = ["event_type", "module"]
        self.published = Counter(
            "aura_events_published",
            "Events published, by type and source module.",
            labels,
            registry=metrics,
        )
        self.delivered = Counter(
            "aura_events_delivered",
            "Events handled, by type and subscriber module.",
            labels,
            registry=metrics,
        )
        self.failed = Counter(
            "aura_events_failed",
            "Event handlers that raised, by type and subscriber module.",
            labels,
            registry=metrics,
        )
        self.calls = Histogram(
            "aura_service_call_duration_seconds",
            "Cross-module service calls, by caller, provider, service, method and outcome.",
            ["caller", "provider", "service", "method", "outcome"],
            registry=metrics,
        )
        self.requests = Histogram(
            "aura_http_request_duration_seconds",
            "HTTP requests, by method, route template and status.",
            ["method", "route", "status"],
            registry=metrics,
        )
        metrics.register(_BreakerCollector(platform))
        self._detach = (
            platform.bus.add_observer(self),
            platform.registry.add_observer(self.on_service_call),
        )

    def close(self) -> None:
        """Stop observing the platform."""
        for detach in self._detach:
            detach()

    def on_published(self, event: Event) -> None:
        """Count and log an accepted event."""
        self.published.labels(event.event_type, event.source_module).inc()
        log(
            logging.INFO,
            "event.published",
            event_type=event.event_type,
            event_id=event.event_id,
            module=event.source_module,
            correlation_id=event.correlation_id,
        )

    def on_delivered(self, delivery: Delivery) -> None:
        """Count and log one handler's outcome."""
        event = delivery.event
        counter = self.delivered if delivery.error is None else self.failed
        counter.labels(event.event_type, delivery.subscriber_module).inc()
        log(
            logging.INFO if delivery.error is None else logging.WARNING,
            "event.delivered",
            event_type=event.event_type,
            event_id=event.event_id,
            module=delivery.subscriber_module,
            target=delivery.handler_name,
            duration_ms=round(delivery.duration * 1000, 3),
            outcome=_outcome(delivery.error),
            correlation_id=event.correlation_id,
        )

    def on_service_call(self, call: ServiceCall) -> None:
        """Time and log one cross-module call."""
        caller = call.caller_module or "outside"
        labels = (caller, call.provider_module, call.service_name, call.method, call.outcome)
        self.calls.labels(*labels).observe(call.duration)
        log(
            logging.INFO if call.succeeded else logging.WARNING,
            "service.call",
            module=call.caller_module,
            target=f"{call.provider_module}.{call.service_name}.{call.method}",
            duration_ms=round(call.duration * 1000, 3),
            outcome=call.outcome,
            correlation_id=call.correlation_id,
        )

    def request(self, scope: Scope, status: int, started: float) -> None:
        """Time and log one HTTP request."""
        duration = time.perf_counter() - started
        route = getattr(scope.get("route"), "path", None) or _UNMATCHED
        method = str(scope.get("method", ""))
        # Clients choose the method: an unknown one is one label, or series would grow forever.
        label = method if method in _KNOWN_METHODS else "OTHER"
        self.requests.labels(label, route, str(status)).observe(duration)
        principal = scope.get("aura.principal")
        log(
            logging.INFO,
            "http.request",
            method=method,
            path=scope.get("path"),
            route=route,
            status=status,
            subject=principal.subject if principal is not None else None,
            duration_ms=round(duration * 1000, 3),
            correlation_id=get_correlation_id(),
        )


def _outcome(error: BaseException | None) -> str:
    return "ok" if error is None else type(error).__name__


_PLAIN = re.compile(r"[A-Za-z0-9_.:/{}@%+,\-]*")


def printable(value: object) -> str:
    """``value`` as one ``key=value`` field: bare when plain, else JSON-quoted and escaped.

    A client chooses paths and headers: a space, a quote, an ``=`` or a control character in
    them would let it forge fields (``/1 status=200``) or lines, so such values are quoted.
    """
    text = str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text)


def log(level: int, kind: str, **fields: Any) -> None:
    """Log ``kind`` with ``fields`` as ``record.aura`` and as ``key=value`` text."""
    if logger.isEnabledFor(level):
        # Clients choose paths: control characters are escaped so no one can forge a line.
        text = " ".join(f"{key}={printable(value)}" for key, value in fields.items())
        logger.log(level, "%s %s", kind, text, extra={"aura": {"kind": kind, **fields}})


class _BreakerCollector(Collector):
    """``aura_breaker_state``: 1 for each service's current breaker state, 0 for the others."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform

    def collect(self) -> Iterator[Metric]:
        """Read every breaker now, at scrape time."""
        family = GaugeMetricFamily(
            "aura_breaker_state",
            "Circuit breaker state per service (1 for the current state).",
            labels=["module", "service", "state"],
        )
        for info in self.platform.registry.services():
            health = service_health(info).breaker
            if health is None:
                continue
            for state in BreakerState:
                current = 1.0 if state == health.state else 0.0
                family.add_metric([info.module_name, info.service_name, state.value], current)
        yield family

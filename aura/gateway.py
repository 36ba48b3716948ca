"""The HTTP gateway: the modules over HTTP, with problem details, tracing and metrics.

Needs the ``web`` extra (FastAPI, uvicorn, prometheus-client, httpx); nothing else in ``aura``
imports this file. ``Gateway(platform)`` is one ASGI application that

- mounts each module's routes (``@module.route("POST", "/sessions")``) under
  ``/api/<module>/...``, runs them as that module and injects their parameters after the HTTP ones
  (path, query, JSON body) from the container, by type and else by name, as handlers get theirs;
- answers every error with an RFC 9457 ``application/problem+json`` body (:func:`problem_for`);
- reads a valid ``X-Correlation-ID`` (or makes one), sets it for the request's events and service
  calls, and echoes it;
- serves ``GET /api/_modules``, ``GET /health``, ``GET /metrics`` and ``/openapi.json``;
- logs a structured record (``record.aura``) for each request, event published, delivery and
  cross-module call, and counts them in Prometheus metrics.

``gateway.call("GET", "/api/users/users/1")`` sends a request through the same application in
process; :func:`serve` runs it on uvicorn (``aura serve``); :func:`running` runs it in a thread.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextvars
import dataclasses
import functools
import inspect
import logging
import math
import re
import socket
import threading
import time
import typing
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal, TextIO

import httpx
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as render_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aura import __version__
from aura.breaker import BreakerState
from aura.bus import Delivery
from aura.config import (
    CLI_MODULES,
    add_modules_argument,
    database_path,
    load_config,
    load_modules,
)
from aura.container import Container
from aura.context import correlation_scope, get_correlation_id, module_scope, new_correlation_id
from aura.events import Event
from aura.exceptions import (
    AuraError,
    CircuitBreakerOpenError,
    ConfigurationError,
    ServiceNotAvailableError,
    ServiceTimeoutError,
)
from aura.module import Module, RouteDeclaration
from aura.platform import Platform
from aura.registry import ServiceCall, ServiceInfo

__all__ = [
    "CORRELATION_HEADER",
    "DEFAULT_DATABASE",
    "DEFAULT_MAX_BODY_BYTES",
    "PROBLEM_MEDIA_TYPE",
    "BreakerHealth",
    "Gateway",
    "Health",
    "ModuleDescription",
    "ModuleHealth",
    "ModulesDescription",
    "Problem",
    "RouteDescription",
    "ServiceDescription",
    "ServiceHealth",
    "add_serve_arguments",
    "check_health",
    "describe_modules",
    "problem_for",
    "run_serve",
    "running",
    "serve",
]

CORRELATION_HEADER = "X-Correlation-ID"
PROBLEM_MEDIA_TYPE = "application/problem+json"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_DATABASE = Path("var") / "aura.db"
"""Where ``aura serve`` keeps its SQLite file unless ``--database`` or ``AURA_DATABASE`` says."""

logger = logging.getLogger("aura.gateway")

# Letters, digits and . _ : - only: ids from UUIDs, W3C trace ids or ULIDs pass, while log
# injection, header smuggling and unbounded lengths do not.
_CORRELATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_PATH_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")
_UNMATCHED = "unmatched"

# RFC 9110 names; http.HTTPStatus renamed 413 and 422 in Python 3.13, and titles are API.
_TITLES = {
    413: "Content Too Large",
    422: "Unprocessable Content",
}


# --- problem details (RFC 9457) -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """An error as the client sees it: a status, an explanation and extra members.

    ``type`` is always ``about:blank``, so ``title`` is the status's name (RFC 9457, 4.2.1);
    ``detail`` says what went wrong and how to fix it.
    """

    status: int
    detail: str
    extensions: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @property
    def title(self) -> str:
        """The HTTP status's name, e.g. ``Conflict``."""
        return _TITLES.get(self.status) or HTTPStatus(self.status).phrase

    def body(self, instance: str) -> dict[str, Any]:
        """Return the problem+json document for a request to ``instance`` (its path)."""
        document: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "instance": instance,
        }
        correlation_id = get_correlation_id()
        if correlation_id is not None:
            document["correlation_id"] = correlation_id
        document.update(self.extensions)
        return document

    def response(self, instance: str) -> JSONResponse:
        """Return the problem as an ``application/problem+json`` response."""
        return JSONResponse(
            self.body(instance),
            status_code=self.status,
            headers=dict(self.headers),
            media_type=PROBLEM_MEDIA_TYPE,
        )


def problem_for(exc: BaseException) -> Problem:
    """Classify an exception raised while serving a request as the problem the client gets.

    A refused cross-module call is 503 (with ``Retry-After`` for an open breaker), a timed-out
    one 504; a ``LookupError`` is 404 and a ``ValueError`` (a business rule) 409. Anything else,
    including other Aura errors (a misassembled platform) and ``KeyError``/``IndexError`` (bugs),
    is 500 with an ``error_id`` to quote, and nothing of the exception in the body.
    """
    if isinstance(exc, CircuitBreakerOpenError):
        headers = {"Retry-After": str(math.ceil(exc.retry_after))} if _finite(exc) else {}
        return Problem(503, _text(exc), headers=headers)
    if isinstance(exc, ServiceNotAvailableError):
        return Problem(503, _text(exc))
    if isinstance(exc, ServiceTimeoutError):
        return Problem(504, _text(exc))
    if isinstance(exc, AuraError | KeyError | IndexError):
        return _unexpected()
    if isinstance(exc, LookupError):
        return Problem(404, _text(exc))
    if isinstance(exc, ValueError):
        return Problem(409, _text(exc))
    return _unexpected()


def _finite(exc: CircuitBreakerOpenError) -> bool:
    return math.isfinite(exc.retry_after)  # a forced-open breaker has no reopening time


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _unexpected() -> Problem:
    error_id = uuid.uuid4().hex
    return Problem(
        500,
        f"The server failed to handle this request. Quote error id {error_id} when you report it.",
        extensions={"error_id": error_id},
    )


def _http_problem(exc: HTTPException, method: str, path: str) -> Problem:
    """The problem for an HTTP error raised by routing or by an endpoint."""
    headers = dict(exc.headers or {})
    detail = exc.detail
    if detail == HTTPStatus(exc.status_code).phrase:  # routing's bare default: explain it
        if exc.status_code == 404:
            detail = f"No route matches {method} {path}. GET /openapi.json lists the routes."
        elif exc.status_code == 405:
            allowed = headers.get("Allow") or headers.get("allow") or "none"
            detail = f"{method} is not allowed on {path}. Allowed methods: {allowed}."
    return Problem(exc.status_code, str(detail), headers=headers)


def _validation_problem(exc: RequestValidationError) -> Problem:
    """422 for a request that does not match the route's schema; 400 for a body that is not JSON."""
    errors = list(exc.errors())
    if len(errors) == 1 and errors[0].get("type") == "json_invalid":
        reason = errors[0].get("ctx", {}).get("error", "invalid JSON")
        position = errors[0]["loc"][-1]
        return Problem(
            400,
            f"The request body is not valid JSON ({reason} at character {position}). Send a "
            "JSON document with Content-Type: application/json.",
        )
    listed = [
        {
            "field": ".".join(str(part) for part in error["loc"]),
            "detail": str(error["msg"]),
            "type": str(error["type"]),
        }
        for error in errors
    ]
    summary = "; ".join(f"{error['field']}: {error['detail']}" for error in listed)
    noun = "field is" if len(listed) == 1 else f"{len(listed)} fields are"
    return Problem(
        422,
        f"The request does not match the route's schema: {noun} invalid ({summary}). "
        "GET /openapi.json shows what is expected.",
        extensions={"errors": listed},
    )


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail", "instance"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "correlation_id": {"type": "string"},
        "error_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "detail", "type"],
                "properties": {
                    "field": {"type": "string"},
                    "detail": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
_PROBLEM_STATUSES = {
    400: "The body is not valid JSON.",
    404: "Something the request names does not exist.",
    409: "The request breaks a business rule.",
    413: "The body is larger than the gateway accepts.",
    422: "The request does not match this schema.",
    500: "The server failed; the body carries an error id.",
    503: "A module this route needs is unavailable or its circuit breaker is open.",
    504: "A module this route needs took too long.",
}
_PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, description in _PROBLEM_STATUSES.items()
}


# --- the middleware: correlation, body limit, errors, request log -------------------------------


class _Exchange:
    """What the middleware learns of one response as it is sent."""

    __slots__ = ("started", "status")

    def __init__(self) -> None:
        self.started = False
        self.status = 500


class _GatewayMiddleware:
    """Wraps the whole application: correlation id, body-size limit, last-resort errors, metrics."""

    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        correlation_id, rejected = _correlation_id_of(scope)
        exchange = _Exchange()
        echo = correlation_id.encode("ascii")

        async def send_echoing(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.started, exchange.status = True, message["status"]
                headers = [*message.get("headers", []), (b"x-correlation-id", echo)]
                message = {**message, "headers": headers}
            await send(message)

        started = time.perf_counter()
        with correlation_scope(correlation_id):
            try:
                if rejected is not None:
                    raise HTTPException(400, _bad_correlation_id(rejected))
                await self._serve(scope, receive, send_echoing)
            except Exception as exc:
                if exchange.started:
                    raise  # too late for a problem response; the server closes the connection
                await self._fail(scope, receive, send_echoing, exc)
            finally:
                self.gateway._monitor.request(scope, exchange.status, started)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.gateway.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            raise HTTPException(413, _too_large(f"{declared} bytes", limit))
        if declared and scope.get("method") in ("POST", "PUT", "PATCH"):
            content_type = _header(scope, b"content-type")
            media = content_type.split(";", 1)[0].strip().lower()
            if media != "application/json" and not media.endswith("+json"):
                raise HTTPException(
                    415,
                    f"Content-Type {content_type or '(none)'!r} is not supported: send the body "
                    "as JSON with Content-Type: application/json.",
                )
        await self.app(scope, _limited(receive, limit), send)

    async def _fail(self, scope: Scope, receive: Receive, send: Send, exc: Exception) -> None:
        path = str(scope.get("path", ""))
        if isinstance(exc, HTTPException):
            problem = _http_problem(exc, str(scope.get("method", "")), path)
        else:
            problem = problem_for(exc)
        if problem.status == 500:
            _log_unexpected(problem, scope, exc)
        await problem.response(path)(scope, receive, send)


def _correlation_id_of(scope: Scope) -> tuple[str, str | None]:
    """The request's correlation id, or a new one; and the header's value if it was invalid."""
    for name, value in scope.get("headers", ()):
        if name == b"x-correlation-id":
            given: str = value.decode("latin-1")
            if _CORRELATION_ID.fullmatch(given):
                return given, None
            logger.warning(
                "http.correlation_id_rejected given=%r",
                given[:60],
                extra={"aura": {"kind": "http.correlation_id_rejected", "given": given[:60]}},
            )
            return new_correlation_id(), given
    return new_correlation_id(), None


def _bad_correlation_id(given: str) -> str:
    shown = given if len(given) <= 60 else f"{given[:57]}..."
    return (
        f"Invalid X-Correlation-ID {shown!r}: expected 1 to 128 letters, digits or . _ : - "
        "(starting with a letter or digit). Send a UUID, or leave the header out to get a new "
        "id."
    )


def _header(scope: Scope, wanted: bytes) -> str:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            text: str = value.decode("latin-1")
            return text
    return ""


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


def _limited(receive: Receive, limit: int) -> Receive:
    """Count the body's bytes as they arrive; refuse with 413 past ``limit``."""
    received = 0

    async def receive_limited() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(413, _too_large(f"more than {limit} bytes", limit))
        return message

    return receive_limited


def _too_large(size: str, limit: int) -> str:
    return (
        f"The request body is {size}; this gateway accepts at most {limit} bytes. Send a "
        "smaller body."
    )


def _log_unexpected(problem: Problem, scope: Scope, exc: BaseException) -> None:
    error_id = problem.extensions.get("error_id")
    logger.error(
        "http.error error_id=%s method=%s path=%s",
        error_id,
        _printable(scope.get("method")),
        _printable(scope.get("path")),
        exc_info=exc,
        extra={
            "aura": {
                "kind": "http.error",
                "error_id": error_id,
                "method": scope.get("method"),
                "path": scope.get("path"),
                "correlation_id": get_correlation_id(),
            }
        },
    )


# --- module routes: their endpoints adapted to FastAPI ------------------------------------------


def _adapt(route: RouteDeclaration, module: Module, container: Container) -> Callable[..., Any]:
    """Return the endpoint FastAPI sees: HTTP parameters only, running as ``module``.

    The other parameters are resolved from the container on each request, by type first, then
    by name, as the platform does for event handlers; path parameters are never injected.
    """
    function = route.endpoint
    signature = inspect.signature(function)
    hints = _hints(function)
    in_path = set(_PATH_PARAMETER.findall(route.path))
    exposed: list[inspect.Parameter] = []
    injected: list[tuple[str, Any]] = []
    for parameter in signature.parameters.values():
        hint = hints.get(parameter.name, parameter.annotation)
        key = None if parameter.name in in_path else _container_key(container, parameter, hint)
        if key is None:
            exposed.append(parameter.replace(annotation=hint))
        else:
            injected.append((parameter.name, key))
    resolve = container.resolve
    name = module.name

    def dependencies() -> dict[str, Any]:
        return {parameter: resolve(key) for parameter, key in injected}

    if inspect.iscoroutinefunction(function):

        async def run_async(**values: Any) -> Any:
            with module_scope(name):
                return await function(**values, **dependencies())

        endpoint: Callable[..., Any] = run_async
    else:

        def run(**values: Any) -> Any:  # FastAPI runs it in its thread pool
            with module_scope(name):
                return function(**values, **dependencies())

        endpoint = run
    functools.update_wrapper(endpoint, function)
    endpoint.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=exposed, return_annotation=hints.get("return", signature.return_annotation)
    )
    return endpoint


def _container_key(container: Container, parameter: inspect.Parameter, hint: object) -> Any:
    if isinstance(hint, type) and container.is_registered(hint):
        return hint
    if container.is_registered(parameter.name):
        return parameter.name
    return None


def _hints(function: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(function, include_extras=True)
    except Exception:  # unresolvable forward references: FastAPI reports them itself
        return {}


# --- discovery and health -----------------------------------------------------------------------


class ServiceDescription(BaseModel):
    """A service a module offers: its name, contract and the methods callers may use."""

    name: str
    contract: str | None
    methods: list[str]


class RouteDescription(BaseModel):
    """An HTTP route a module serves, with its full path."""

    method: str
    path: str


class ModuleDescription(BaseModel):
    """What one module offers, needs, publishes and consumes."""

    name: str
    description: str
    depends_on: list[str]
    services: list[ServiceDescription]
    routes: list[RouteDescription]
    publishes: list[str]
    consumes: list[str]


class ModulesDescription(BaseModel):
    """The platform's modules, in dependency order."""

    modules: list[ModuleDescription]


class BreakerHealth(BaseModel):
    """A circuit breaker's state; ``retry_after``: seconds until it lets calls through again.

    It is 0 unless the breaker is open, and ``None`` when it was forced open (no set time).
    """

    state: str
    failure_count: int
    retry_after: float | None


class ServiceHealth(BaseModel):
    """One service and its breaker, if it has one."""

    name: str
    breaker: BreakerHealth | None


class ModuleHealth(BaseModel):
    """A module is down while one of its services' breakers is open."""

    status: Literal["up", "down"]
    services: list[ServiceHealth]


class Health(BaseModel):
    """The platform is down when its database or any module is down."""

    status: Literal["up", "down"]
    database: Literal["up", "down"]
    modules: dict[str, ModuleHealth]


_DOWN_STATES = frozenset({BreakerState.OPEN, BreakerState.FORCED_OPEN})


def describe_modules(platform: Platform) -> ModulesDescription:
    """Describe every module of ``platform`` (``GET /api/_modules``)."""
    return ModulesDescription(
        modules=[_describe(module, platform) for module in platform.modules.values()]
    )


def _describe(module: Module, platform: Platform) -> ModuleDescription:
    services = [
        ServiceDescription(
            name=info.service_name,
            contract=_qualified(info.contract) if info.contract is not None else None,
            methods=list(info.methods),
        )
        for info in platform.registry.services(module.name)
    ]
    return ModuleDescription(
        name=module.name,
        description=module.description,
        depends_on=list(module.depends_on),
        services=services,
        routes=[
            *(
                RouteDescription(method=route.method, path=f"/api/{module.name}{route.path}")
                for route in module.routes
            ),
            *(
                RouteDescription(method=method, path=f"/api/{module.name}{route.path}")
                for router in module.routers
                for route in router.routes
                for method in sorted(getattr(route, "methods", None) or ())
            ),
        ],
        publishes=list(module.published),
        consumes=list(dict.fromkeys(handler.event_type for handler in module.handlers)),
    )


def _as_module(name: str) -> Callable[[], AsyncIterator[None]]:
    """A FastAPI dependency running a mounted router's endpoint as module ``name``."""

    async def current_module() -> AsyncIterator[None]:
        with module_scope(name):
            yield

    return current_module


def _qualified(contract: type[Any]) -> str:
    return f"{contract.__module__}.{contract.__qualname__}"


def check_health(platform: Platform) -> Health:
    """Report the database and each module's breakers (``GET /health``)."""
    modules = {name: _module_health(platform, name) for name in platform.modules}
    database = _database_health(platform)
    up = database == "up" and all(health.status == "up" for health in modules.values())
    return Health(status="up" if up else "down", database=database, modules=modules)


def _module_health(platform: Platform, name: str) -> ModuleHealth:
    services = [_service_health(info) for info in platform.registry.services(name)]
    down = any(
        service.breaker is not None and service.breaker.state in _DOWN_STATES
        for service in services
    )
    return ModuleHealth(status="down" if down else "up", services=services)


def _service_health(info: ServiceInfo) -> ServiceHealth:
    breaker = info.policy.breaker if info.policy is not None else None
    snapshot = getattr(breaker, "snapshot", None)
    if not callable(snapshot):  # no breaker, or a third-party one without snapshots
        return ServiceHealth(name=info.service_name, breaker=None)
    view = snapshot()
    retry_after = view.retry_after if math.isfinite(view.retry_after) else None
    return ServiceHealth(
        name=info.service_name,
        breaker=BreakerHealth(
            state=str(view.state), failure_count=view.failure_count, retry_after=retry_after
        ),
    )


def _database_health(platform: Platform) -> Literal["up", "down"]:
    try:
        platform.database.query_one("SELECT 1")
    except Exception:
        return "down"
    return "up"


# --- monitoring: structured logs and Prometheus metrics -----------------------------------------


class _Monitor:
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
        _log(
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
        _log(
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
        _log(
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
        _log(
            logging.INFO,
            "http.request",
            method=method,
            path=scope.get("path"),
            route=route,
            status=status,
            duration_ms=round(duration * 1000, 3),
            correlation_id=get_correlation_id(),
        )


def _outcome(error: BaseException | None) -> str:
    return "ok" if error is None else type(error).__name__


_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _printable(value: object) -> str:
    text = str(value)
    return text if text.isprintable() else repr(text)


def _log(level: int, kind: str, **fields: Any) -> None:
    """Log ``kind`` with ``fields`` as ``record.aura`` and as ``key=value`` text."""
    if logger.isEnabledFor(level):
        # Clients choose paths: control characters are escaped so no one can forge a line.
        text = " ".join(f"{key}={_printable(value)}" for key, value in fields.items())
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
            health = _service_health(info).breaker
            if health is None:
                continue
            for state in BreakerState:
                current = 1.0 if state == health.state else 0.0
                family.add_metric([info.module_name, info.service_name, state.value], current)
        yield family


# --- the gateway --------------------------------------------------------------------------------


class Gateway:
    """The platform over HTTP: one ASGI application (``gateway.app``, or the gateway itself).

    ``max_body_bytes`` bounds request bodies (413 beyond). The gateway observes the platform's
    bus and registry for its logs and metrics until :meth:`close`; the platform stays the
    caller's to start and close.
    """

    def __init__(
        self,
        platform: Platform,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        title: str = "Aura platform",
    ) -> None:
        if isinstance(max_body_bytes, bool) or not isinstance(max_body_bytes, int):
            raise ConfigurationError(
                f"max_body_bytes must be a whole number of bytes, got {max_body_bytes!r}. "
                "Pass e.g. max_body_bytes=1_048_576."
            )
        if max_body_bytes < 1:
            raise ConfigurationError(
                f"max_body_bytes must be at least 1, got {max_body_bytes}. Pass e.g. "
                "max_body_bytes=1_048_576."
            )
        self.platform = platform
        self.max_body_bytes = max_body_bytes
        self.metrics = CollectorRegistry()
        """This gateway's Prometheus registry (not the process-wide one)."""
        self.app = self._build(title)
        self._monitor = _Monitor(platform, self.metrics)

    def __repr__(self) -> str:
        return f"Gateway({self.platform!r}, max_body_bytes={self.max_body_bytes})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        """Stop observing the platform's bus and registry."""
        self._monitor.close()

    # --- in-process calls -----------------------------------------------------------------------

    async def acall(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request through the gateway in process (no socket); return the response.

        The current correlation id, if any, travels as ``X-Correlation-ID`` unless ``headers``
        give one, so a call made while handling a request stays in that request's flow.
        """
        sent = dict(headers or {})
        correlation_id = get_correlation_id()
        if correlation_id is not None and not any(
            name.lower() == "x-correlation-id" for name in sent
        ):
            sent[CORRELATION_HEADER] = correlation_id
        transport = httpx.ASGITransport(app=self.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            return await client.request(
                method, path, json=json, content=content, headers=sent, params=params
            )

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request through the gateway in process and wait for the response.

        From async code prefer ``await gateway.acall(...)``; called there, this runs the request
        on a worker thread's event loop.
        """
        request = functools.partial(
            self.acall, method, path, json=json, content=content, headers=headers, params=params
        )
        return _run_blocking(request)

    # --- assembly -------------------------------------------------------------------------------

    def _build(self, title: str) -> FastAPI:
        app = FastAPI(title=title, version=__version__, docs_url=None, redoc_url=None)
        app.add_exception_handler(HTTPException, _on_http_error)  # type: ignore[arg-type]
        app.add_exception_handler(RequestValidationError, _on_invalid_request)  # type: ignore[arg-type]
        app.add_middleware(_GatewayMiddleware, gateway=self)
        self._add_platform_routes(app)
        for module in self.platform.modules.values():
            for route in module.routes:
                self._add_module_route(app, module, route)
            for router in module.routers:
                app.include_router(
                    router,
                    prefix=f"/api/{module.name}",
                    tags=[module.name],
                    dependencies=[Depends(_as_module(module.name))],
                    responses=_PROBLEM_RESPONSES,
                )

        def openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
                components = schema.setdefault("components", {}).setdefault("schemas", {})
                components["Problem"] = _PROBLEM_SCHEMA
                app.openapi_schema = schema
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]
        return app

    def _add_module_route(self, app: FastAPI, module: Module, route: RouteDeclaration) -> None:
        options = dict(route.options)
        responses = {**_PROBLEM_RESPONSES, **options.pop("responses", {})}
        options.setdefault("tags", [module.name])
        options.setdefault("operation_id", f"{module.name}_{route.endpoint.__name__}")
        app.add_api_route(
            f"/api/{module.name}{route.path}",
            _adapt(route, module, self.platform.container),
            methods=[route.method],
            responses=responses,
            **options,
        )

    def _add_platform_routes(self, app: FastAPI) -> None:
        platform = self.platform

        def modules() -> ModulesDescription:
            """The modules: services and contracts, routes, events, dependencies."""
            return describe_modules(platform)

        def health() -> Response:
            """Each module's breakers and the database; 503 when anything is down."""
            report = check_health(platform)
            status = 200 if report.status == "up" else 503
            return JSONResponse(report.model_dump(mode="json"), status_code=status)

        def metrics() -> Response:
            """Prometheus metrics: events, deliveries, service calls, breakers, requests."""
            return Response(render_metrics(self.metrics), media_type=CONTENT_TYPE_LATEST)

        app.add_api_route("/api/_modules", modules, methods=["GET"], tags=["platform"])
        app.add_api_route(
            "/health",
            health,
            methods=["GET"],
            tags=["platform"],
            response_model=Health,
            responses={503: {"model": Health, "description": "A module or the database is down."}},
        )
        app.add_api_route("/metrics", metrics, methods=["GET"], include_in_schema=False)


async def _on_http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 405:
        # Starlette names only the first route matching the path; Allow must name them all.
        exc.headers = {**(exc.headers or {}), "Allow": _allowed_methods(request)}
    return _http_problem(exc, request.method, request.url.path).response(request.url.path)


def _allowed_methods(request: Request) -> str:
    methods: set[str] = set()
    for route in request.app.routes:
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def _on_invalid_request(request: Request, exc: RequestValidationError) -> Response:
    return _validation_problem(exc).response(request.url.path)


def _run_blocking(request: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    """Run ``request`` to completion on an event loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_awaited(request))
    # This thread already runs a loop, which cannot be nested: use a worker thread's loop.
    run_there = contextvars.copy_context().run
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="aura-gateway-call") as pool:
        return pool.submit(run_there, asyncio.run, _awaited(request)).result()


async def _awaited(request: Callable[[], Awaitable[httpx.Response]]) -> httpx.Response:
    return await request()


# --- serving ------------------------------------------------------------------------------------


def _bind(host: str, port: int) -> socket.socket:
    """Listen on ``host:port`` now, so a taken port fails here with a plain ``OSError``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it Nagle's algorithm and delayed ACKs add 40 ms to every keep-alive request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # connections queue from now on, before the server loop starts
    except BaseException:
        sock.close()
        raise
    return sock


def _url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _server(gateway: Gateway, log_level: str) -> uvicorn.Server:
    # No lifespan (the caller owns the platform) and no access log (the gateway logs requests).
    config = uvicorn.Config(gateway, lifespan="off", access_log=False, log_level=log_level)
    return uvicorn.Server(config)


def serve(
    platform: Platform,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    out: TextIO | None = None,
) -> None:
    """Serve ``platform`` over HTTP on uvicorn until Ctrl-C (or SIGTERM), then return.

    Starts the platform if needed and prints the URL and two curl commands to ``out`` once
    listening. The platform stays open: the caller closes it. A taken port raises ``OSError``
    before anything is served.
    """
    sock = _bind(host, port)
    gateway: Gateway | None = None
    try:
        gateway = Gateway(platform.start(), max_body_bytes=max_body_bytes)
        if out is not None:
            url = _url(sock)
            print(f"Aura serves {len(platform.modules)} modules on {url}", file=out)
            print(f"  curl {url}/api/_modules", file=out)
            print(f"  curl {url}/health", file=out)
            out.flush()
        _server(gateway, "warning").run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn already shut down gracefully; Ctrl-C is the normal way to stop
    finally:
        if gateway is not None:
            gateway.close()
        sock.close()


@contextmanager
def running(gateway: Gateway, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``gateway`` on uvicorn in a background thread; yield its base URL, then stop it.

    ``port=0`` picks a free port. Meant for tests and embedding; :func:`serve` is the foreground
    form.
    """
    sock = _bind(host, port)
    server = _server(gateway, "warning")
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="aura-gateway-server", daemon=True
    )
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise ConfigurationError(
                    f"The gateway server on {_url(sock)} stopped while starting; its log above "
                    "says why."
                )
            time.sleep(0.005)
        yield _url(sock)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of ``aura serve``."""
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on")
    parser.add_argument(
        "--database",
        default=None,
        help="SQLite file (default: $AURA_DATABASE, else database in [tool.aura], else "
        f"./{DEFAULT_DATABASE.as_posix()})",
    )
    add_modules_argument(parser)


def run_serve(args: argparse.Namespace, out: TextIO) -> int:
    """Run ``aura serve``: the modules on SQLite, over HTTP until Ctrl-C; return the exit status."""
    config = load_config()
    modules = load_modules(config, config.modules_setting(args.modules, **CLI_MODULES))
    database = database_path(args.database, config)
    database.parent.mkdir(parents=True, exist_ok=True)
    # The gateway's structured records, one line each on stderr (kept if logging is set up).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # Served durably: events, publications and dead letters survive a crash or a restart.
    with Platform(modules, database=database, durable=True) as platform:
        print(f"Database {database} (tables created if missing).", file=out)
        try:
            serve(platform, host=args.host, port=args.port, out=out)
        except OSError as error:
            print(
                f"Cannot listen on {args.host}:{args.port}: {error.strerror or error}. Pass "
                "--port with a free port, or stop what uses this one.",
                file=out,
            )
            return 1
    print("Stopped; the platform and its database are closed.", file=out)
    return 0

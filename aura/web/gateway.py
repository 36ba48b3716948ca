"""The ``Gateway``: the platform's modules as one FastAPI application, callable in process.

It assembles the pieces of :mod:`aura.web`: the middleware (correlation ids, body limit), the
problem responses, each module's routes, the platform's own routes (``/api/_modules``,
``/health``, ``/metrics``) and the monitor that logs and counts. :meth:`Gateway.call` and
:meth:`Gateway.acall` send a request through it without a socket.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client import generate_latest as render_metrics
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from aura import __version__
from aura.access import PUBLIC, Principal, Rule, authenticated, principal_scope, role
from aura.context import get_correlation_id, module_scope
from aura.exceptions import ConfigurationError
from aura.injection import bind, plan
from aura.platform import Platform
from aura.web.auth import Authenticator, TokenAuthority
from aura.web.discovery import Health, ModulesDescription, check_health, describe_modules
from aura.web.guard import Guard
from aura.web.middleware import CORRELATION_HEADER, DEFAULT_MAX_BODY_BYTES, GatewayMiddleware
from aura.web.monitoring import Monitor
from aura.web.problems import (
    PROBLEM_RESPONSES,
    PROBLEM_SCHEMA,
    ErrorStatuses,
    check_error_statuses,
    on_http_error,
    on_invalid_request,
)
from aura.web.routes import mount

if TYPE_CHECKING:
    from aura.telemetry import Telemetry

__all__ = ["Gateway"]


class Gateway:
    """The platform over HTTP: one ASGI application (``gateway.app``, or the gateway itself).

    ``auth`` checks bearer tokens (a :class:`~aura.web.auth.TokenAuthority`, or any object
    with ``authenticate(token) -> Principal``); every route but ``/health`` and the routes
    declared :data:`~aura.access.PUBLIC` needs one, and each module route's access rule is
    checked before it runs. ``errors`` maps the platform's own domain errors to the 4xx status
    they answer (``{NotFoundError: 404}``); any other exception is a 500 with an error id.
    ``max_body_bytes`` bounds request bodies (413 beyond). ``telemetry`` (an
    :class:`aura.telemetry.Telemetry`, the ``otel`` extra) makes each request a span that joins
    the caller's trace. The gateway observes the platform's
    bus and registry for its logs and metrics until :meth:`close`; the platform stays the
    caller's to start and close.
    """

    def __init__(
        self,
        platform: Platform,
        *,
        auth: Authenticator,
        errors: ErrorStatuses | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        title: str = "Aura platform",
        telemetry: Telemetry | None = None,
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
        self.guard = Guard(auth, _authenticate_hooks(platform))
        if isinstance(auth, TokenAuthority):
            # A login route issues tokens with it (`tokens: TokenAuthority` in its signature):
            # the authority that verifies them, so the gateway's own wins.
            platform.container.register_instance(TokenAuthority, auth, replace=True)
        self.errors = check_error_statuses(errors if errors is not None else {})
        """The platform's domain errors and the 4xx status each answers; the rest are 500."""
        self.max_body_bytes = max_body_bytes
        self.metrics = CollectorRegistry()
        """This gateway's Prometheus registry (not the process-wide one)."""
        self._monitor = Monitor(platform, self.metrics)
        try:
            self.app = self._build(title)
        except BaseException:
            self._monitor.close()  # a route FastAPI refuses: leave the platform unobserved
            raise
        # With telemetry, each request is a SERVER span joining the caller's traceparent, and
        # the module code it runs (publishes, deliveries, calls) nests under it.
        self._asgi: Any = self.app if telemetry is None else telemetry.asgi(self.app)

    def __repr__(self) -> str:
        return (
            f"Gateway({self.platform!r}, auth={self.guard.authenticator!r}, "
            f"max_body_bytes={self.max_body_bytes})"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection through :attr:`app` (inside its telemetry, if any)."""
        await self._asgi(scope, receive, send)

    def close(self) -> None:
        """Stop observing the platform's bus and registry."""
        self._monitor.close()

    # --- in-process calls -----------------------------------------------------------------------

    # acall and call spell out the same keywords on purpose: editors show them, and a
    # mistyped one is refused at the call instead of deep inside httpx.
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
        transport = httpx.ASGITransport(app=self._asgi)
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
        app = FastAPI(
            title=title, version=__version__, docs_url=None, redoc_url=None, openapi_url=None
        )
        app.add_exception_handler(HTTPException, on_http_error)  # type: ignore[arg-type]
        app.add_exception_handler(RequestValidationError, on_invalid_request)  # type: ignore[arg-type]
        app.add_middleware(
            GatewayMiddleware,
            max_body_bytes=self.max_body_bytes,
            monitor=self._monitor,
            errors=self.errors,
            guard=self.guard,
        )
        self._add_platform_routes(app)
        for module in self.platform.modules.values():
            mount(app, module, self.platform.container, self.guard)

        def openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
                components = schema.setdefault("components", {})
                components.setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
                components["securitySchemes"] = {
                    "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
                }
                schema["security"] = [{"bearer": []}]
                for path, operations in schema.get("paths", {}).items():
                    for method, operation in operations.items():
                        if (method.upper(), path) in self._public:
                            operation["security"] = []  # reachable without a token
                app.openapi_schema = schema
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]
        return app

    @property
    def _public(self) -> set[tuple[str, str]]:
        """``(method, path)`` of the routes that need no token."""
        public = {("GET", "/health")}
        for module in self.platform.modules.values():
            for route in module.routes:
                if route.allow is not None and route.allow.public:
                    public.add((route.method, f"/api/{module.name}{route.path}"))
        return public

    def _guarded(self, rule: Rule) -> list[Any]:
        """The FastAPI dependency that lets only callers ``rule`` allows into a platform route."""
        guard = self.guard

        async def admit(request: Request) -> None:
            principal = guard.caller(request)
            guard.check(
                rule, principal, request, request.path_params, self.platform.container.resolve
            )

        return [Depends(admit)]

    def _add_platform_routes(self, app: FastAPI) -> None:
        platform = self.platform

        def modules() -> ModulesDescription:
            """The modules: services and contracts, routes, events, dependencies."""
            return describe_modules(platform)

        def health(request: Request) -> Response:
            """Up or down (503); operators also see each module's breakers and the database."""
            report = check_health(platform)
            status = 200 if report.status == "up" else 503
            caller = self.guard.caller(request)
            if caller is None or not caller.has_role("operator"):
                # A load balancer needs the verdict; the platform's inner state is operators'.
                return JSONResponse({"status": report.status}, status_code=status)
            return JSONResponse(report.model_dump(mode="json"), status_code=status)

        def metrics() -> Response:
            """Prometheus metrics: events, deliveries, service calls, breakers, requests."""
            return Response(render_metrics(self.metrics), media_type=CONTENT_TYPE_LATEST)

        def schema() -> JSONResponse:
            """This OpenAPI document."""
            return JSONResponse(app.openapi())

        operator = role("operator")
        guarded = {
            status: PROBLEM_RESPONSES[status] for status in (401, 403)
        }  # documented, so schema checkers expect them
        self._platform_route(
            app, "/api/_modules", modules, operator, tags=["platform"], responses=guarded
        )
        self._platform_route(
            app,
            "/health",
            health,
            PUBLIC,
            tags=["platform"],
            response_model=Health,
            responses={503: {"model": Health, "description": "A module or the database is down."}},
        )
        # HEAD as well, for probes that send it; out of the schema, which would repeat GET's.
        self._platform_route(
            app, "/health", health, PUBLIC, methods=["HEAD"], include_in_schema=False
        )
        self._platform_route(app, "/metrics", metrics, operator, include_in_schema=False)
        self._platform_route(app, "/openapi.json", schema, authenticated(), include_in_schema=False)

    def _platform_route(
        self,
        app: FastAPI,
        path: str,
        endpoint: Callable[..., Any],
        rule: Rule,
        *,
        methods: Sequence[str] = ("GET",),
        **options: Any,
    ) -> None:
        """Serve one of the gateway's own routes (GET unless told) behind the door, ``rule``."""
        app.add_api_route(
            path, endpoint, methods=list(methods), dependencies=self._guarded(rule), **options
        )
        self.guard.protect(app.router.routes[-1], rule, label=f"{' '.join(methods)} {path}")


def _authenticate_hooks(platform: Platform) -> list[Callable[[Principal], None]]:
    """Each module's :meth:`~aura.module.Module.on_authenticate` hooks, their dependencies
    planned once, each run as its module."""
    hooks: list[Callable[[Principal], None]] = []
    for module in platform.modules.values():
        for hook in module.authenticate_hooks:
            call = bind(
                plan(hook, platform.container, passed=1, owner=module.name), platform.container
            )
            hooks.append(functools.partial(_as_module, module.name, call))
    return hooks


def _as_module(name: str, call: Callable[[Principal], object], principal: Principal) -> None:
    with module_scope(name), principal_scope(principal):
        call(principal)


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

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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client import generate_latest as render_metrics
from starlette.exceptions import HTTPException
from starlette.types import Receive, Scope, Send

from aura import __version__
from aura.context import get_correlation_id
from aura.exceptions import ConfigurationError
from aura.platform import Platform
from aura.web.discovery import Health, ModulesDescription, check_health, describe_modules
from aura.web.middleware import CORRELATION_HEADER, DEFAULT_MAX_BODY_BYTES, GatewayMiddleware
from aura.web.monitoring import Monitor
from aura.web.problems import PROBLEM_SCHEMA, on_http_error, on_invalid_request
from aura.web.routes import mount

__all__ = ["Gateway"]


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
        self._monitor = Monitor(platform, self.metrics)
        try:
            self.app = self._build(title)
        except BaseException:
            self._monitor.close()  # a route FastAPI refuses: leave the platform unobserved
            raise

    def __repr__(self) -> str:
        return f"Gateway({self.platform!r}, max_body_bytes={self.max_body_bytes})"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection through :attr:`app`."""
        await self.app(scope, receive, send)

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
        app.add_exception_handler(HTTPException, on_http_error)  # type: ignore[arg-type]
        app.add_exception_handler(RequestValidationError, on_invalid_request)  # type: ignore[arg-type]
        app.add_middleware(
            GatewayMiddleware, max_body_bytes=self.max_body_bytes, monitor=self._monitor
        )
        self._add_platform_routes(app)
        for module in self.platform.modules.values():
            mount(app, module, self.platform.container)

        def openapi() -> dict[str, Any]:
            if app.openapi_schema is None:
                schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
                components = schema.setdefault("components", {}).setdefault("schemas", {})
                components["Problem"] = PROBLEM_SCHEMA
                app.openapi_schema = schema
            return app.openapi_schema

        app.openapi = openapi  # type: ignore[method-assign]
        return app

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

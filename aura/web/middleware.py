"""The gateway's ASGI middleware: correlation ids, the body limit, last-resort errors, request log.

:class:`GatewayMiddleware` wraps the whole application. It reads a valid ``X-Correlation-ID``
(or makes one), sets it for the request's events and service calls and echoes it; lets the
request through the guard's door (its token, its rate limit: :mod:`aura.web.guard`); refuses
bodies over the limit (413) and non-JSON bodies (415); adds the security headers
(:data:`SECURITY_HEADERS`) a route did not set itself; turns an exception no handler caught into
a problem response; and reports every request to the :class:`~aura.web.monitoring.Monitor`.
"""

from __future__ import annotations

import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aura.context import (
    CORRELATION_HEADER,
    correlation_scope,
    get_correlation_id,
    invalid_correlation_id,
    is_valid_correlation_id,
    new_correlation_id,
)
from aura.web.guard import Guard
from aura.web.monitoring import Monitor, logger, printable
from aura.web.problems import ErrorStatuses, ProblemDetails, http_problem, problem_for

__all__ = ["CORRELATION_HEADER", "DEFAULT_MAX_BODY_BYTES", "SECURITY_HEADERS", "GatewayMiddleware"]

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
"""The largest request body served by default (1 MiB); a larger one is refused with 413."""


SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"cache-control", b"no-store"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
)
"""Sent with every response whose route did not set its own (OWASP's REST headers): no cache,
shared or in the browser, keeps a patient's data (or a token) once the response is read; the
body is never sniffed as another type; no page of the gateway can be framed; no URL leaks into
another site's Referer. A route that means to be cached sets its own Cache-Control."""


_FRAMING = frozenset({b"x-frame-options", b"content-security-policy"})
"""The two headers that say who may frame a page: a route that sends either keeps its own."""


class _Exchange:
    """What the middleware learns of one response as it is sent."""

    __slots__ = ("started", "status")

    def __init__(self) -> None:
        self.started = False
        self.status = 500


class GatewayMiddleware:
    """Wraps the whole application: correlation id, body-size limit, last-resort errors, metrics."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        monitor: Monitor,
        errors: ErrorStatuses | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.monitor = monitor
        self.errors = errors or {}
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection; HTTP requests get the gateway's treatment."""
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
                given = {name.lower() for name, _ in headers}
                if given & _FRAMING:  # a route's own framing policy: the other would override it
                    given |= _FRAMING
                headers.extend(item for item in SECURITY_HEADERS if item[0] not in given)
                message = {**message, "headers": headers}
            await send(message)

        started = time.perf_counter()
        with correlation_scope(correlation_id):
            try:
                if rejected is not None:
                    raise HTTPException(400, invalid_correlation_id(rejected))
                await self._serve(scope, receive, send_echoing)
            except Exception as exc:
                if exchange.started:
                    raise  # too late for a problem response; the server closes the connection
                await self._fail(scope, receive, send_echoing, exc)
            finally:
                self.monitor.request(scope, exchange.status, started)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.guard is not None:
            self.guard.enter(scope)  # before the body is read: who it is, and how often
        limit = self.max_body_bytes
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
            problem = http_problem(exc, str(scope.get("method", "")), path)
        else:
            problem = problem_for(exc, self.errors)
        if problem.status == 500:
            _log_unexpected(problem, scope, exc)
        await problem.response(path)(scope, receive, send)


def _correlation_id_of(scope: Scope) -> tuple[str, str | None]:
    """The request's correlation id, or a new one; and the header's value if it was invalid."""
    for name, value in scope.get("headers", ()):
        if name == b"x-correlation-id":
            given: str = value.decode("latin-1")
            if is_valid_correlation_id(given):
                return given, None
            logger.warning(
                "http.correlation_id_rejected given=%r",
                given[:60],
                extra={"aura": {"kind": "http.correlation_id_rejected", "given": given[:60]}},
            )
            return new_correlation_id(), given
    return new_correlation_id(), None


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


def _log_unexpected(problem: ProblemDetails, scope: Scope, exc: BaseException) -> None:
    error_id = problem.extensions.get("error_id")
    logger.error(
        "http.error error_id=%s method=%s path=%s",
        error_id,
        printable(scope.get("method")),
        printable(scope.get("path")),
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

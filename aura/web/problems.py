"""RFC 9457 problem details: every error the gateway answers, as ``application/problem+json``.

:func:`problem_for` classifies an exception raised while serving a request; routing and schema
errors get their own explanations; :data:`PROBLEM_RESPONSES` and :data:`PROBLEM_SCHEMA` describe
the body in ``/openapi.json``.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.routing import Match

from aura.access import HIDDEN_REFUSAL
from aura.context import get_correlation_id
from aura.exceptions import (
    AccessDeniedError,
    AuraError,
    AuthenticationError,
    CircuitBreakerOpenError,
    ConfigurationError,
    RateLimitedError,
    ServiceNotAvailableError,
    ServiceTimeoutError,
)
from aura.introspection import served_routes

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "PROBLEM_RESPONSES",
    "PROBLEM_SCHEMA",
    "ErrorStatuses",
    "ProblemDetails",
    "check_error_statuses",
    "http_problem",
    "on_http_error",
    "on_invalid_request",
    "problem_for",
    "validation_problem",
]

PROBLEM_MEDIA_TYPE = "application/problem+json"
"""The media type of every error response (RFC 9457)."""

# RFC 9110 names; http.HTTPStatus renamed 413 and 422 in Python 3.13, and titles are API.
_TITLES = {
    413: "Content Too Large",
    422: "Unprocessable Content",
}


@dataclasses.dataclass(frozen=True, slots=True)
class ProblemDetails:
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


ErrorStatuses = Mapping[type[BaseException], int]
"""The platform's own domain errors and the 4xx status each answers: ``{NotFoundError: 404}``."""


def check_error_statuses(errors: object) -> dict[type[BaseException], int]:
    """Return a gateway's declared ``errors`` mapping, refusing anything but 4xx statuses."""
    if not isinstance(errors, Mapping):
        raise ConfigurationError(
            f"errors must map exception classes to 4xx statuses, got {type(errors).__name__}. "
            "Pass e.g. errors={NotFoundError: 404, BusinessRuleError: 409}."
        )
    checked: dict[type[BaseException], int] = {}
    for error, status in errors.items():
        if not (isinstance(error, type) and issubclass(error, Exception)):
            raise ConfigurationError(
                f"errors maps {error!r}, which is not an exception class. Map your domain "
                "errors, e.g. {NotFoundError: 404}."
            )
        if issubclass(error, AuraError) or error in _TOO_WIDE:
            raise ConfigurationError(
                f"errors maps {error.__name__}, which is too wide to answer with its message: "
                "declare the platform's own domain errors (subclasses you raise on purpose)."
            )
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status < 500:
            raise ConfigurationError(
                f"errors maps {error.__name__} to {status!r}; a domain error answers a 4xx "
                "status such as 404 or 409."
            )
        checked[error] = status
    return checked


_TOO_WIDE = frozenset({Exception, ValueError, LookupError, KeyError, IndexError, TypeError})


def problem_for(exc: BaseException, errors: ErrorStatuses | None = None) -> ProblemDetails:
    """Classify an exception raised while serving a request as the problem the client gets.

    A missing or invalid token is 401 with ``WWW-Authenticate``; a refusal by the route's rule
    403, or 404 when it concerns somebody else's object; a rate limit 429. A refused
    cross-module call is 503 (with ``Retry-After`` for an open breaker), a timed-out one 504.
    The platform's declared domain errors (``errors``, the nearest class in the exception's
    MRO wins) answer their status with their message. Anything else — a ``ValueError`` from a
    library, a ``KeyError``, another Aura error (a misassembled platform) — is 500 with an
    ``error_id`` to quote, and nothing of the exception in the body.
    """
    if isinstance(exc, AuthenticationError):
        challenge = 'Bearer realm="aura"'
        if exc.reason is not None:
            challenge += f', error="{exc.reason}", error_description="{_quoted(str(exc))}"'
        return ProblemDetails(401, _text(exc), headers={"WWW-Authenticate": challenge})
    if isinstance(exc, AccessDeniedError):
        # A hidden refusal reads exactly as a missing object, whoever raised it.
        return (
            ProblemDetails(404, HIDDEN_REFUSAL) if exc.hidden else ProblemDetails(403, _text(exc))
        )
    if isinstance(exc, RateLimitedError):
        return ProblemDetails(429, _text(exc), headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, CircuitBreakerOpenError):
        headers = {"Retry-After": str(math.ceil(exc.retry_after))} if _finite(exc) else {}
        return ProblemDetails(503, _text(exc), headers=headers)
    if isinstance(exc, ServiceNotAvailableError):
        return ProblemDetails(503, _text(exc))
    if isinstance(exc, ServiceTimeoutError):
        return ProblemDetails(504, _text(exc))
    if errors:
        for cls in type(exc).__mro__:
            status = errors.get(cls)
            if status is not None:
                return ProblemDetails(status, _text(exc))
    return _unexpected()


def _quoted(text: str) -> str:
    """``text`` safe inside a quoted header parameter (RFC 9110 quoted-string, ASCII)."""
    return text.encode("ascii", "replace").decode("ascii").replace("\\", "\\\\").replace('"', "'")


def _finite(exc: CircuitBreakerOpenError) -> bool:
    return math.isfinite(exc.retry_after)  # a forced-open breaker has no reopening time


def _text(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


def _unexpected() -> ProblemDetails:
    error_id = uuid.uuid4().hex
    return ProblemDetails(
        500,
        f"The server failed to handle this request. Quote error id {error_id} when you report it.",
        extensions={"error_id": error_id},
    )


def http_problem(exc: HTTPException, method: str, path: str) -> ProblemDetails:
    """The problem for an HTTP error raised by routing or by an endpoint."""
    headers = dict(exc.headers or {})
    detail = exc.detail
    if detail == HTTPStatus(exc.status_code).phrase:  # routing's bare default: explain it
        if exc.status_code == 404:
            detail = f"No route matches {method} {path}. GET /openapi.json lists the routes."
        elif exc.status_code == 405:
            allowed = headers.get("Allow") or headers.get("allow") or "none"
            detail = f"{method} is not allowed on {path}. Allowed methods: {allowed}."
    return ProblemDetails(exc.status_code, str(detail), headers=headers)


def validation_problem(exc: RequestValidationError) -> ProblemDetails:
    """422 for a request that does not match the route's schema; 400 for a body that is not JSON."""
    errors = list(exc.errors())
    if len(errors) == 1 and errors[0].get("type") == "json_invalid":
        reason = errors[0].get("ctx", {}).get("error", "invalid JSON")
        position = errors[0]["loc"][-1]
        return ProblemDetails(
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
    return ProblemDetails(
        422,
        f"The request does not match the route's schema: {noun} invalid ({summary}). "
        "GET /openapi.json shows what is expected.",
        extensions={"errors": listed},
    )


async def on_http_error(request: Request, exc: HTTPException) -> Response:
    """FastAPI's handler for routing and endpoint HTTP errors: their problem response."""
    if exc.status_code == 405:
        # Starlette names only the first route matching the path; Allow must name them all.
        exc.headers = {**(exc.headers or {}), "Allow": _allowed_methods(request)}
    return http_problem(exc, request.method, request.url.path).response(request.url.path)


def _allowed_methods(request: Request) -> str:
    methods: set[str] = set()
    for route in served_routes(request.app.routes):  # a router's routes, not the router
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


async def on_invalid_request(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's handler for a request that fails the route's schema: 422 (or 400)."""
    return validation_problem(exc).response(request.url.path)


PROBLEM_SCHEMA: dict[str, Any] = {
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
"""The JSON schema of a problem body, ``#/components/schemas/Problem`` in ``/openapi.json``."""

_PROBLEM_STATUSES = {
    400: "The body is not valid JSON.",
    401: "No valid bearer token was sent.",
    403: "The caller's roles do not allow this.",
    404: "Something the request names does not exist, or it is not the caller's.",
    409: "The request breaks a business rule.",
    413: "The body is larger than the gateway accepts.",
    422: "The request does not match this schema.",
    429: "Too many requests from this address; the body says when to retry.",
    500: "The server failed; the body carries an error id.",
    503: "A module this route needs is unavailable or its circuit breaker is open.",
    504: "A module this route needs took too long.",
}
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status, description in _PROBLEM_STATUSES.items()
}
"""The problem responses every module route documents, by status."""

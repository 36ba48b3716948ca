"""The HTTP gateway: the modules over HTTP, with problem details, tracing and metrics.

Needs the ``web`` extra (FastAPI, uvicorn, prometheus-client, httpx); nothing else in ``aura``
imports this package. ``Gateway(platform)`` is one ASGI application that

- mounts each module's routes (``@module.route("POST", "/sessions")``) under
  ``/api/<module>/...``, runs them as that module and injects their parameters after the HTTP ones
  (path, query, JSON body) from the container, by type and else by name, as handlers get theirs;
- answers every error with an RFC 9457 ``application/problem+json`` body (:func:`problem_for`);
- reads a valid ``X-Correlation-ID`` (or makes one), sets it for the request's events and service
  calls, and echoes it;
- serves ``GET /api/_modules``, ``GET /health``, ``GET /metrics`` and ``/openapi.json``;
- logs a structured record (``record.aura``) for each request, event published, delivery and
  cross-module call on the ``aura.gateway`` logger, and counts them in Prometheus metrics.

``gateway.call("GET", "/api/users/users/1")`` sends a request through the same application in
process; :func:`serve` runs it on uvicorn (``aura serve``); :func:`running` runs it in a thread.
One file per concern: :mod:`~aura.web.problems`, :mod:`~aura.web.middleware`,
:mod:`~aura.web.routes`, :mod:`~aura.web.discovery`, :mod:`~aura.web.monitoring`,
:mod:`~aura.web.gateway` and :mod:`~aura.web.serving`.
"""

from __future__ import annotations

import importlib

from aura.exceptions import WEB_EXTRA_MODULES, MissingExtraError

try:  # the web extra's libraries, named before any of them is needed deeper down
    for _library in sorted(WEB_EXTRA_MODULES):
        importlib.import_module(_library)
except ModuleNotFoundError as missing:  # pragma: no cover - its own process: test_extras.py
    if missing.name not in WEB_EXTRA_MODULES:
        raise  # installed, but broken inside (a version clash): its own error says why
    _error = MissingExtraError(
        f"aura.web (the HTTP gateway) needs {missing.name} of Aura's web extra, which is not "
        "installed. Install it: pip install 'aura-modulith[web]'"
    )
    _error.name = missing.name  # what ImportError names: `aura serve` reads it
    raise _error from None

from aura.web.discovery import (
    BreakerHealth,
    Health,
    ModuleDescription,
    ModuleHealth,
    ModulesDescription,
    RouteDescription,
    ServiceDescription,
    ServiceHealth,
    check_health,
    describe_modules,
)
from aura.web.gateway import Gateway
from aura.web.middleware import CORRELATION_HEADER, DEFAULT_MAX_BODY_BYTES, SECURITY_HEADERS
from aura.web.problems import PROBLEM_MEDIA_TYPE, ProblemDetails, problem_for
from aura.web.serving import DEFAULT_DATABASE, add_serve_arguments, run_serve, running, serve

__all__ = [
    "CORRELATION_HEADER",
    "DEFAULT_DATABASE",
    "DEFAULT_MAX_BODY_BYTES",
    "PROBLEM_MEDIA_TYPE",
    "SECURITY_HEADERS",
    "BreakerHealth",
    "Gateway",
    "Health",
    "ModuleDescription",
    "ModuleHealth",
    "ModulesDescription",
    "ProblemDetails",
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

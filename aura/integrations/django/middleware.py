"""``AuraMiddleware``: each request under its correlation id, each view as its app's module."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse  # type: ignore[import-untyped]

from aura.context import (
    CORRELATION_HEADER,
    correlation_scope,
    invalid_correlation_id,
    is_valid_correlation_id,
    module_scope,
    new_correlation_id,
    user_scope,
)
from aura.integrations.django.runtime import module_of
from aura.integrations.services import problem_body

__all__ = ["AuraMiddleware"]

logger = logging.getLogger("aura.integrations.django")


class AuraMiddleware:
    """Django middleware: what Aura's gateway does for a request, in a Django project.

    - The request's correlation id is a valid ``X-Correlation-ID`` (1 to 128 letters, digits or
      ``. _ : -``), else a new one; it is on every event the request publishes, and echoed in
      the response. An invalid one is answered 400 with an ``application/problem+json`` body.
    - The view runs as the module of the app holding it (its ``__module__``), so the registry
      knows the caller and events published default to that module.
    - Events published during the request carry ``request.user``'s primary key as
      ``metadata["user_id"]`` when the user is authenticated: put the middleware after
      ``AuthenticationMiddleware``.
    """

    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        """Serve one request under its correlation id."""
        given = request.headers.get(CORRELATION_HEADER)
        valid = given is not None and is_valid_correlation_id(given)
        correlation_id = given if valid and given is not None else new_correlation_id()
        with correlation_scope(correlation_id):
            if given is not None and not valid:
                logger.warning("http.correlation_id_rejected given=%r", given[:60])
                response: HttpResponse = _problem(400, invalid_correlation_id(given), request)
            else:
                with ExitStack() as scopes:
                    request.aura_scopes = scopes  # process_view enters the view's scopes
                    response = self.get_response(request)
        response[CORRELATION_HEADER] = correlation_id
        return response

    def process_view(
        self,
        request: HttpRequest,
        view: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        """Run the view as its app's module, on behalf of the request's user."""
        scopes: ExitStack | None = getattr(request, "aura_scopes", None)
        if scopes is None:  # a request that did not pass through __call__
            return
        module = module_of(getattr(view, "__module__", "") or "")
        if module is not None:
            scopes.enter_context(module_scope(module))
        user = getattr(request, "user", None)
        if user is not None and getattr(user, "is_authenticated", False):
            scopes.enter_context(user_scope(user.pk))


def _problem(status: int, detail: str, request: HttpRequest) -> HttpResponse:
    """An RFC 9457 problem response shaped as the gateway's (:mod:`aura.web.problems`)."""
    body = problem_body(status, detail, request.path)
    return JsonResponse(body, status=status, content_type="application/problem+json")

"""The clinic's JSON API conventions, shared by the modules' views: errors as ``{"detail": ...}``,
401 for an anonymous request, JSON request bodies."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

View = Callable[..., HttpResponse]


class ApiError(Exception):
    """Answer the request with ``status`` and ``{"detail": detail, **extra}``."""

    def __init__(self, status: int, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.extra = extra


def api(*methods: str) -> Callable[[View], View]:
    """A JSON view answering ``methods`` to logged-in users; :class:`ApiError` is its answer."""

    def decorate(view: View) -> View:
        @wraps(view)
        def serve(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise ApiError(405, f"{request.method} is not allowed here.")
                if not request.user.is_authenticated:
                    raise ApiError(401, "Log in to use the clinic's API.")
                return view(request, *args, **kwargs)
            except ApiError as error:
                body = {"detail": error.detail, **error.extra}
                response = JsonResponse(body, status=error.status)
                if error.status == 405:
                    response["Allow"] = ", ".join(methods)
                return response

        return serve

    return decorate


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object; 400 if it is anything else."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise ApiError(400, "The request body is not JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(400, "The request body must be a JSON object.")
    return body

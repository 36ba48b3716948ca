"""The route adapter: each module's routes and routers mounted on FastAPI under ``/api/<module>``.

A route declared with ``@module.route(...)`` runs as its module, and its parameters are split by
the one injection rule (:func:`aura.injection.plan_route`): the container fills those it
provides, by type and else by name; FastAPI reads the others (path, query, JSON body) from the
request. A mounted ``APIRouter``'s endpoints run as their module too.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, FastAPI

from aura import introspection
from aura.container import Container
from aura.context import module_scope
from aura.injection import Injection, bind, plan_route
from aura.module import Module, RouteDeclaration
from aura.web.problems import PROBLEM_RESPONSES

__all__ = ["endpoint_for", "mount"]

_PATH_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")


def mount(app: FastAPI, module: Module, container: Container) -> None:
    """Serve ``module``'s routes, then its routers, under ``/api/<module>`` on ``app``."""
    for route in module.routes:
        options = dict(route.options)
        responses = {**PROBLEM_RESPONSES, **options.pop("responses", {})}
        options.setdefault("tags", [module.name])
        options.setdefault("operation_id", f"{module.name}_{route.endpoint.__name__}")
        app.add_api_route(
            f"/api/{module.name}{route.path}",
            endpoint_for(route, module, container),
            methods=[route.method],
            responses=responses,
            **options,
        )
    for router in module.routers:
        app.include_router(
            router,
            prefix=f"/api/{module.name}",
            tags=[module.name],
            dependencies=[Depends(_as_module(module.name))],
            responses=PROBLEM_RESPONSES,
        )


def endpoint_for(
    route: RouteDeclaration, module: Module, container: Container
) -> Callable[..., Any]:
    """Return the endpoint FastAPI sees: HTTP parameters only, running as ``module``.

    The injected parameters are resolved from the container on each request; a parameter named
    in the route's path is always the request's.
    """
    function = route.endpoint
    claimed = frozenset(_PATH_PARAMETER.findall(route.path))
    injection = plan_route(function, container, reserved=claimed)
    call = bind(injection, container)
    name = module.name

    if inspect.iscoroutinefunction(function):

        async def run_async(**values: Any) -> Any:
            with module_scope(name):
                return await call(**values)

        endpoint: Callable[..., Any] = run_async
    else:

        def run(**values: Any) -> Any:  # FastAPI runs it in its thread pool
            with module_scope(name):
                return call(**values)

        endpoint = run
    functools.update_wrapper(endpoint, function)
    endpoint.__signature__ = _http_signature(injection)  # type: ignore[attr-defined]
    return endpoint


def _http_signature(injection: Injection) -> inspect.Signature:
    """The signature FastAPI reads: the passed parameters, their annotations resolved.

    Resolved here because the endpoint's globals are not the route's module's; with their
    extras, because FastAPI reads ``Annotated[..., Query(...)]`` and pydantic ``Field``s.
    """
    signature = introspection.signature(injection.function)
    hints = injection.hints  # read with their extras by plan_route
    return signature.replace(
        parameters=[
            parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
            for parameter in injection.passed
        ],
        return_annotation=hints.get("return", signature.return_annotation),
    )


def _as_module(name: str) -> Callable[[], AsyncIterator[None]]:
    """A FastAPI dependency running a mounted router's endpoint as module ``name``."""

    async def current_module() -> AsyncIterator[None]:
        with module_scope(name):
            yield

    return current_module

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
import types
import typing
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, create_model

from aura import introspection
from aura.access import Principal, Rule, principal_scope
from aura.container import Container
from aura.context import module_scope
from aura.exceptions import ModuleDefinitionError
from aura.injection import Injection, bind, plan_route
from aura.module import Module, Representation, RouteDeclaration
from aura.web.guard import Guard
from aura.web.problems import PROBLEM_RESPONSES

__all__ = ["endpoint_for", "mount"]

_PATH_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")


def mount(app: FastAPI, module: Module, container: Container, guard: Guard) -> None:
    """Serve ``module``'s routes, then its routers, under ``/api/<module>`` on ``app``.

    A route or router without an access rule is refused: nothing is served by accident.
    """
    for route in module.routes:
        options = dict(route.options)
        responses = {**PROBLEM_RESPONSES, **options.pop("responses", {})}
        options.setdefault("tags", [module.name])
        options.setdefault("operation_id", f"{module.name}_{route.endpoint.__name__}")
        endpoint = endpoint_for(route, module, container, guard)
        label = f"{route.method} /api/{module.name}{route.path}"
        rule = _required_rule(route.allow, f"Route {label} of module {module.name!r}", "route")
        limit = guard.limit(label, route.limit)
        app.add_api_route(
            f"/api/{module.name}{route.path}",
            endpoint,
            methods=[route.method],
            responses=responses,
            **options,
        )
        guard.protect(app.router.routes[-1], rule, limit=limit, label=label)
        for representation in route.versions:
            older, response_model = versioned(
                endpoint, representation, options.get("status_code", 200)
            )
            app.add_api_route(
                f"/api/v{representation.version}/{module.name}{route.path}",
                older,
                methods=[route.method],
                responses=responses,
                **{
                    **options,
                    "operation_id": f"{options['operation_id']}_v{representation.version}",
                    "response_model": response_model,
                },
            )
            # One budget for a route, whichever version is asked.
            guard.protect(app.router.routes[-1], rule, limit=limit, label=label)
    for declaration in module.routers:
        rule = _required_rule(
            declaration.allow, f"include_router() of module {module.name!r}", "include_router"
        )
        if declaration.allow is not None and declaration.allow.parameters():
            raise ModuleDefinitionError(
                f"include_router() of module {module.name!r} has a rule that reads "
                f"{sorted(declaration.allow.parameters())[0]!r}; a router's rule sees no parsed "
                "parameters. Declare such routes with module.route(..., allow=...) instead."
            )
        for entry in declaration.router.routes:
            if not isinstance(entry, APIRoute):
                raise ModuleDefinitionError(
                    f"include_router() of module {module.name!r} holds {type(entry).__name__} "
                    f"{getattr(entry, 'path', '')!r}, which the gateway cannot guard (only "
                    "APIRoutes get the router's rule). Declare it with module.route(...)."
                )
        known = len(app.router.routes)
        app.include_router(
            declaration.router,
            prefix=f"/api/{module.name}",
            tags=[module.name],
            dependencies=[Depends(_as_module(module.name, guard, rule, container))],
            responses=PROBLEM_RESPONSES,
        )
        for mounted in app.router.routes[known:]:
            guard.protect(mounted, rule, label=f"include_router() of module {module.name!r}")


def endpoint_for(
    route: RouteDeclaration, module: Module, container: Container, guard: Guard
) -> Callable[..., Any]:
    """Return the endpoint FastAPI sees: HTTP parameters only, running as ``module``.

    The guard's door has authenticated the request before it was parsed (see
    :meth:`~aura.web.guard.Guard.enter`); the route's rule is checked once FastAPI has parsed
    the parameters, before the endpoint runs, on behalf of the caller's principal. The
    injected parameters are resolved from the container on each request; a parameter named in
    the route's path is always the request's; a parameter annotated
    :class:`~aura.access.Principal` receives the caller.
    """
    label = f"{route.method} /api/{module.name}{route.path}"
    rule = _required_rule(route.allow, f"Route {label} of module {module.name!r}", "route")
    function = route.endpoint
    hints = introspection.type_hints(function)
    for_principal = frozenset(
        name for name, hint in hints.items() if name != "return" and _is_principal(hint)
    )
    claimed = frozenset(_PATH_PARAMETER.findall(route.path)) | for_principal
    injection = plan_route(function, container, reserved=claimed)
    http = [p for p in injection.passed if p.name not in for_principal]
    unknown = sorted(rule.parameters() - {p.name for p in http})
    if unknown:
        raise ModuleDefinitionError(
            f"Route {label} of module {module.name!r} has a rule that reads {unknown[0]!r}, "
            f"which is not one of its parameters ({', '.join(p.name for p in http) or 'none'})."
        )
    call = bind(injection, container)
    name = module.name
    resolve = container.resolve

    def admit(request: Request, values: dict[str, Any]) -> Principal | None:
        principal = guard.caller(request)
        guard.check(rule, principal, request, values, resolve)
        for parameter in for_principal:
            values[parameter] = principal
        return principal

    if inspect.iscoroutinefunction(function):

        async def run_async(_aura_request: Request, **values: Any) -> Any:
            principal = admit(_aura_request, values)
            with module_scope(name), principal_scope(principal):
                return await call(**values)

        endpoint: Callable[..., Any] = run_async
    else:

        def run(_aura_request: Request, **values: Any) -> Any:  # in FastAPI's thread pool
            principal = admit(_aura_request, values)
            with module_scope(name), principal_scope(principal):
                return call(**values)

        endpoint = run
    functools.update_wrapper(endpoint, function)
    endpoint.__signature__ = _http_signature(injection, http)  # type: ignore[attr-defined]
    return endpoint


def versioned(
    endpoint: Callable[..., Any], representation: Representation, status_code: int = 200
) -> tuple[Callable[..., Any], Any]:
    """The endpoint of an older representation, and its response model (for the schema).

    It takes request bodies under the old field names, turns them into today's models, runs
    the same endpoint (the same rule, the same module code), and renames the response's fields
    back. Models are derived once, here.
    """
    renames = dict(representation.renames)
    signature: inspect.Signature = endpoint.__signature__  # type: ignore[attr-defined]
    converters: dict[str, Callable[[Any], Any]] = {}
    parameters = []
    for parameter in signature.parameters.values():
        model = parameter.annotation
        if (
            isinstance(model, type)
            and issubclass(model, BaseModel)
            and renames.keys() & set(model.model_fields)
        ):
            old = _renamed_model(model, renames, representation.version)
            converters[parameter.name] = functools.partial(_to_current, model, renames)
            parameter = parameter.replace(annotation=old)
        parameters.append(parameter)
    returned = signature.return_annotation
    response_model = _renamed_response(returned, renames, representation.version)

    def convert(values: dict[str, Any]) -> dict[str, Any]:
        return {k: converters[k](v) if k in converters else v for k, v in values.items()}

    def answer(result: Any) -> Any:
        if isinstance(result, Response):
            return result
        return JSONResponse(_rename_out(jsonable_encoder(result), renames), status_code)

    if inspect.iscoroutinefunction(endpoint):

        async def run_old_async(**values: Any) -> Any:
            return answer(await endpoint(**convert(values)))

        older: Callable[..., Any] = run_old_async
    else:

        def run_old(**values: Any) -> Any:
            return answer(endpoint(**convert(values)))

        older = run_old
    functools.update_wrapper(older, endpoint)
    older.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=response_model or signature.empty
    )
    return older, response_model


def _renamed_model(model: type[BaseModel], renames: dict[str, str], version: int) -> Any:
    fields: dict[str, Any] = {
        renames.get(name, name): (info.annotation, info)
        for name, info in model.model_fields.items()
    }
    return create_model(f"{model.__name__}V{version}", __doc__=model.__doc__, **fields)


def _renamed_response(returned: Any, renames: dict[str, str], version: int) -> Any:
    if isinstance(returned, type) and issubclass(returned, BaseModel):
        return _renamed_model(returned, renames, version)
    arguments = typing.get_args(returned)
    item = arguments[0] if len(arguments) == 1 else None  # list[X]; dict[K, V] is not renamed
    if (
        typing.get_origin(returned) is list
        and isinstance(item, type)
        and issubclass(item, BaseModel)
    ):
        return list[_renamed_model(item, renames, version)]  # type: ignore[misc]
    return None


def _to_current(model: type[BaseModel], renames: dict[str, str], old: BaseModel) -> BaseModel:
    back = {new: current for current, new in renames.items()}
    return model(**{back.get(k, k): v for k, v in old.model_dump(exclude_unset=True).items()})


def _rename_out(value: Any, renames: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_rename_out(item, renames) for item in value]
    if isinstance(value, dict):
        return {renames.get(k, k): v for k, v in value.items()}
    return value


def _required_rule(rule: Rule | None, where: str, verb: str) -> Rule:
    if rule is None:
        raise ModuleDefinitionError(
            f"{where} declares no access rule, so the gateway will not serve it. Pass "
            f"allow=... to {verb}(): role('operator'), owner('user_id'), authenticated() or "
            "another rule of aura.access (PUBLIC for a login route)."
        )
    return rule


def _is_principal(hint: Any) -> bool:
    return hint is Principal or (
        isinstance(hint, types.UnionType) and Principal in typing.get_args(hint)
    )


def _http_signature(injection: Injection, http: list[inspect.Parameter]) -> inspect.Signature:
    """The signature FastAPI reads: the request, then the HTTP parameters, annotations resolved.

    Resolved here because the endpoint's globals are not the route's module's; with their
    extras, because FastAPI reads ``Annotated[..., Query(...)]`` and pydantic ``Field``s.
    """
    signature = introspection.signature(injection.function)
    hints = injection.hints  # read with their extras by plan_route
    request = inspect.Parameter(
        "_aura_request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request
    )
    parameters = [
        parameter.replace(annotation=hints.get(parameter.name, parameter.annotation))
        for parameter in http
    ]
    return signature.replace(
        parameters=[request, *parameters],
        return_annotation=hints.get("return", signature.return_annotation),
    )


def _as_module(
    name: str, guard: Guard, rule: Rule, container: Container
) -> Callable[[Request], AsyncIterator[None]]:
    """A FastAPI dependency running a mounted router's endpoint as module ``name``, for the
    caller the guard lets in (the rule sees the path parameters)."""

    async def current_module(request: Request) -> AsyncIterator[None]:
        principal = guard.caller(request)
        guard.check(rule, principal, request, request.path_params, container.resolve)
        with module_scope(name), principal_scope(principal):
            yield

    return current_module

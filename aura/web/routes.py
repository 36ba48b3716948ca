"""The route adapter: each module's routes and routers mounted on FastAPI under ``/api/<module>``.

A route declared with ``@module.route(...)`` runs as its module, and its parameters are split by
the one injection rule (:func:`aura.injection.plan_route`): the container fills those it
provides, by type and else by name; FastAPI reads the others (path, query, JSON body) from the
request. A mounted ``APIRouter``'s endpoints run as their module too.
"""

from __future__ import annotations

import functools
import inspect
import operator
import re
import types
import typing
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fastapi import Depends, FastAPI, Request, params
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, create_model
from pydantic.fields import FieldInfo

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
        unlimited = route.unlimited
        guard.protect(app.router.routes[-1], rule, limit=limit, label=label, unlimited=unlimited)
        for representation in route.versions:
            older, older_options = versioned(endpoint, representation, options)
            app.add_api_route(
                f"/api/v{representation.version}/{module.name}{route.path}",
                older,
                methods=[route.method],
                responses=responses,
                **{
                    **older_options,
                    "operation_id": f"{options['operation_id']}_v{representation.version}",
                },
            )
            # One budget for a route, whichever version is asked.
            guard.protect(
                app.router.routes[-1], rule, limit=limit, label=label, unlimited=unlimited
            )
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
        for entry in introspection.served_routes(declaration.router.routes):
            if not isinstance(getattr(entry, "original_route", entry), APIRoute):
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
    :class:`~aura.access.Principal` receives the caller, one annotated ``Request`` the request.
    """
    label = f"{route.method} /api/{module.name}{route.path}"
    rule = _required_rule(route.allow, f"Route {label} of module {module.name!r}", "route")
    function = route.endpoint
    hints = introspection.type_hints(function)
    for_principal = frozenset(
        name for name, hint in hints.items() if name != "return" and _is_principal(hint)
    )
    # FastAPI passes the request to one parameter only: the wrapper's; it fills these too.
    for_request = frozenset(
        name
        for name, hint in hints.items()
        if name != "return" and isinstance(hint, type) and issubclass(hint, Request)
    )
    claimed = frozenset(_PATH_PARAMETER.findall(route.path)) | for_principal | for_request
    injection = plan_route(function, container, reserved=claimed)
    http = [p for p in injection.passed if p.name not in for_principal | for_request]
    for parameter in http:
        if _is_dependency(parameter, injection.hints.get(parameter.name)):
            raise ModuleDefinitionError(
                f"Route {label} of module {module.name!r} takes {parameter.name!r} through "
                "fastapi's Depends, which FastAPI would run before the route's access rule (for "
                f"callers the rule refuses, too). Provide it with {module.name}.provide(...) so "
                "the container injects it once the rule let the caller in, or serve the route "
                "from an APIRouter with include_router(), whose rule runs first."
            )
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
        for parameter in for_request:
            values[parameter] = request
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
    endpoint: Callable[..., Any], representation: Representation, options: Mapping[str, Any]
) -> tuple[Callable[..., Any], dict[str, Any]]:
    """The endpoint of an older representation, and its route options.

    The same endpoint runs (the same rule, the same module code); only the models change. Each
    model in a request parameter's type (``Model``, ``Model | None``, ``Annotated[Model,
    Body()]``, ``list[Model]``, and the models nested in their fields) becomes a subclass that
    reads the renamed fields under the old names, so FastAPI validates the old names (and
    answers 422 naming them) and the endpoint still receives instances of today's models. Each
    model of the response (the route's ``response_model``, else its return type) becomes one
    that writes the renamed fields under the old names, so FastAPI's own serialization, with
    the route's ``response_model_*`` options, produces the old representation. Models are
    derived once, here.
    """
    renaming = _Renaming(representation)
    signature: inspect.Signature = endpoint.__signature__  # type: ignore[attr-defined]
    parameters = [
        parameter.replace(annotation=renaming.of(parameter.annotation, "request"))
        for parameter in signature.parameters.values()
    ]
    returned = signature.return_annotation
    if isinstance(returned, type) and issubclass(returned, Response):
        raise ModuleDefinitionError(
            f"{endpoint.__qualname__} returns a {returned.__name__}, whose body the gateway "
            f"cannot rename for version {representation.version}. Return a model (set headers "
            "through a fastapi Response parameter), or declare response_model=."
        )
    changed = dict(options)
    if options.get("response_model") is not None:
        changed["response_model"] = renaming.of(options["response_model"], "response")

    if inspect.iscoroutinefunction(endpoint):

        async def run_old_async(**values: Any) -> Any:
            return await endpoint(**values)

        older: Callable[..., Any] = run_old_async
    else:

        def run_old(**values: Any) -> Any:
            return endpoint(**values)

        older = run_old
    functools.update_wrapper(older, endpoint)
    older.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=renaming.of(returned, "response")
    )
    return older, changed


class _Renaming:
    """Today's types turned into one older representation's, model by model, each once."""

    def __init__(self, representation: Representation) -> None:
        self.renames = dict(representation.renames)
        self.version = representation.version
        self._models: dict[tuple[type[BaseModel], str], type[BaseModel]] = {}

    def of(self, annotation: Any, mode: str) -> Any:
        """``annotation`` with each model in it replaced by its older form for ``mode``."""
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return self._model(annotation, mode)
        origin = typing.get_origin(annotation)
        arguments = typing.get_args(annotation)
        if origin is None or not arguments or origin is typing.Literal:
            return annotation
        if origin is typing.Annotated:
            inner = self.of(arguments[0], mode)
            if inner is arguments[0]:
                return annotation
            return typing.Annotated[(inner, *annotation.__metadata__)]
        renamed = tuple(self.of(argument, mode) for argument in arguments)
        if all(new is old for new, old in zip(renamed, arguments, strict=True)):
            return annotation
        if origin in (typing.Union, types.UnionType):
            return functools.reduce(operator.or_, renamed)
        if isinstance(annotation, types.GenericAlias):
            return types.GenericAlias(origin, renamed)
        copy_with = getattr(annotation, "copy_with", None)  # typing.List[...] and the like
        return copy_with(renamed) if callable(copy_with) else annotation

    def _model(self, model: type[BaseModel], mode: str) -> type[BaseModel]:
        key = (model, mode)
        if key in self._models:
            return self._models[key]
        self._models[key] = model  # a model that holds itself keeps today's names inside
        fields: dict[str, Any] = {}
        for name, info in model.model_fields.items():
            annotation = self.of(info.annotation, mode)
            old = self.renames.get(name)
            if old is None and annotation is info.annotation:
                continue
            alias = {}
            if old is not None:
                # Requests are read under the old name; responses written under it.
                alias = (
                    {"alias": old, "validation_alias": old, "serialization_alias": old}
                    if mode == "request"
                    else {"serialization_alias": old}
                )
            fields[name] = (annotation, FieldInfo.merge_field_infos(info, **alias))
        derived = model
        if fields:
            derived = create_model(
                f"{model.__name__}V{self.version}",
                __base__=model,
                __doc__=model.__doc__,
                __module__=model.__module__,
                **fields,
            )
        self._models[key] = derived
        return derived


def _required_rule(rule: Rule | None, where: str, verb: str) -> Rule:
    if rule is None:
        raise ModuleDefinitionError(
            f"{where} declares no access rule, so the gateway will not serve it. Pass "
            f"allow=... to {verb}(): role('operator'), owner('user_id'), authenticated() or "
            "another rule of aura.access (PUBLIC for a login route)."
        )
    return rule


def _is_dependency(parameter: inspect.Parameter, hint: Any) -> bool:
    """Whether FastAPI would fill ``parameter`` by calling a dependency (``Depends``,
    ``Security``), as its default or in its ``Annotated`` extras."""
    extras = (
        getattr(hint, "__metadata__", ()) if typing.get_origin(hint) is typing.Annotated else ()
    )
    return any(isinstance(value, params.Depends) for value in (parameter.default, *extras))


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

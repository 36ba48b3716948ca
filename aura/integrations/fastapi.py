"""Aura inside a team's own FastAPI application (extra ``fastapi``), without Aura's gateway.

Four pieces, each usable alone::

    app = FastAPI(lifespan=lifespan(make_platform))     # start() on startup, close() on shutdown
    app.add_middleware(CorrelationMiddleware)           # X-Correlation-ID in, on events, echoed

    @app.post("/invoices")
    def issue(
        user: User = Depends(acting_user(get_current_user)),   # the app's own auth dependency
        billing: ModuleServices = Depends(module_services("billing")),
    ) -> dict[str, int]:
        users = billing.get("users", "UserService")     # as module billing: its contract only
        billing.publish("invoice.issued", {...})         # metadata: user_id, correlation_id

- :func:`lifespan` builds the platform (when given a factory), starts it, puts it on
  ``app.state.aura`` and closes it on shutdown; before starting it checks every route's
  :func:`module_services` against the platform's modules, so a misspelt module fails the
  application's startup, not a request. The app's own lifespan can run inside it.
- :func:`module_services` is a dependency that runs the route as a module of the platform (the
  current module of :mod:`aura.context`, so the registry knows the caller) and gives it a
  :class:`ModuleServices`: the services of the modules it depends on, and publishing as itself.
- :class:`CorrelationMiddleware` takes a valid ``X-Correlation-ID`` (or makes one) for the
  events the request publishes and echoes it, as the gateway does: an invalid one is answered
  400 with a problem+json body.
- :func:`session_dependency` gives a route a SQLAlchemy ``Session`` whose transaction the
  events it publishes join (on ``SqlAlchemyDatabase(engine)``): committed together after the
  endpoint, neither written when it raises. A plain ``with Session(engine) as s, s.begin():
  yield s`` dependency is not one events join (FastAPI begins it in a thread-pool thread).
- :func:`acting_user` wraps the app's own authentication dependency: the user it returns is the
  one events published during the request act for (their ``metadata["user_id"]``), and so are
  the events their handlers publish.

Values are set in :mod:`contextvars` by ``async`` dependencies and the middleware, which run in
the request's task: ``async def`` endpoints see them, and so do plain ``def`` endpoints and
dependencies, which FastAPI runs in its thread pool on a copy of that context.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from typing import Any

from aura.access import Principal, principal_scope
from aura.context import (
    CORRELATION_HEADER,
    correlation_scope,
    invalid_correlation_id,
    is_valid_correlation_id,
    module_scope,
    new_correlation_id,
    user_scope,
)
from aura.exceptions import (
    ConfigurationError,
    MissingExtraError,
    ModuleDefinitionError,
)
from aura.integrations.services import ModuleServices, problem_body
from aura.introspection import served_routes
from aura.naming import check_module_name, did_you_mean
from aura.platform import Platform

try:
    from fastapi import Depends, Request
    from fastapi.dependencies.models import Dependant
    from fastapi.routing import APIRoute
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse
    from starlette.types import ASGIApp, Message, Receive, Scope, Send
except ImportError:  # pragma: no cover - FastAPI is a dev dependency of this repository
    raise MissingExtraError(
        "aura.integrations.fastapi needs FastAPI, which is not installed. Install Aura's "
        "fastapi extra: pip install 'aura-modulith[fastapi]'"
    ) from None

__all__ = [
    "CORRELATION_HEADER",
    "CorrelationMiddleware",
    "ModuleServices",
    "acting_user",
    "lifespan",
    "module_services",
    "platform_of",
    "session_dependency",
]

logger = logging.getLogger("aura.integrations.fastapi")


AppLifespan = Callable[[Any], AbstractAsyncContextManager[Any]]
"""An application's own lifespan: ``app -> async context manager`` (FastAPI's ``lifespan=``)."""


# --- the platform's life ------------------------------------------------------------------------


def lifespan(
    platform: Platform | Callable[[], Platform], *, app_lifespan: AppLifespan | None = None
) -> AppLifespan:
    """Return a FastAPI ``lifespan`` running ``platform`` while the application serves.

    ``platform`` is a :class:`~aura.platform.Platform`, or a function building one, called at
    startup (so importing the app builds nothing). At startup every route's
    :func:`module_services` is checked against the platform's modules (a
    :exc:`~aura.exceptions.ModuleDefinitionError` stops the startup), the platform is started
    and put on ``app.state.aura``; at shutdown it is closed, even when the app's own lifespan
    raised. ``app_lifespan``, the application's own, runs inside: its startup code can use the
    started platform, and what it yields (a lifespan state) is the application's.
    """
    if not isinstance(platform, Platform) and not callable(platform):
        raise ConfigurationError(
            f"lifespan() takes a Platform or a function that builds one, got "
            f"{type(platform).__name__} ({platform!r}). Write "
            "FastAPI(lifespan=lifespan(make_platform))."
        )
    if app_lifespan is not None and not callable(app_lifespan):
        raise ConfigurationError(
            f"app_lifespan must be the application's own lifespan (a function of the app "
            f"returning an async context manager), got {type(app_lifespan).__name__}."
        )

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[Any]:
        built = _build(platform)
        try:
            check_routes(app, built)
            built.start()
            app.state.aura = built
            if app_lifespan is None:
                yield None
            else:
                async with app_lifespan(app) as state:
                    yield state
        finally:
            if getattr(app.state, "aura", None) is built:
                del app.state.aura
            built.close()

    return run


def _build(source: Platform | Callable[[], Platform]) -> Platform:
    if isinstance(source, Platform):
        return source
    built = source()
    if not isinstance(built, Platform):
        raise ConfigurationError(
            f"The platform factory {_name(source)} returned {type(built).__name__} "
            f"({built!r}), not a Platform. Make it return Platform(modules=[...], ...)."
        )
    return built


def platform_of(request: Request) -> Platform:
    """The platform serving ``request``'s application (``app.state.aura``)."""
    platform = getattr(request.app.state, "aura", None)
    if not isinstance(platform, Platform):
        raise ConfigurationError(
            "This application has no Aura platform: app.state.aura is "
            f"{'not set' if platform is None else type(platform).__name__}. Build it with "
            "FastAPI(lifespan=aura.integrations.fastapi.lifespan(make_platform)), or set "
            "app.state.aura = platform before it serves."
        )
    return platform


def check_routes(app: Any, platform: Platform) -> None:
    """Refuse routes whose :func:`module_services` name a module ``platform`` does not have,
    or more than one module (a route acts as one module)."""
    for route in served_routes(getattr(app, "routes", ())):
        if not isinstance(getattr(route, "original_route", route), APIRoute):
            continue  # a mount, a websocket, a plain Starlette route: no dependencies of ours
        label = f"{'/'.join(sorted(route.methods or ()))} {route.path}"
        names = sorted(set(_modules_used(route.dependant)))
        for name in names:
            if name not in platform.modules:
                known = list(platform.modules)
                raise ModuleDefinitionError(
                    f"Route {label} uses module_services({name!r}), but the platform has no "
                    f"module {name!r} (its modules: {', '.join(known) or 'none'})."
                    f"{did_you_mean(name, known)} Fix the name, or add the module to the "
                    "platform."
                )
        if len(names) > 1:
            raise ModuleDefinitionError(
                f"Route {label} uses the services of several modules "
                f"({', '.join(map(repr, names))}); a route acts as one module. Call the others "
                f"through module_services({names[0]!r}).get(...), or react to their events."
            )
        overrides = getattr(app, "dependency_overrides", {})
        for dependency in _sessions_used(route.dependant, overrides):
            if dependency.scope != "function":
                name = _name(dependency.call)
                raise ConfigurationError(
                    f"Route {label} takes a session_dependency() through Depends({name}) "
                    f"(scope {dependency.scope or 'request'!r}): FastAPI would end it, and so "
                    "commit, after the response is sent, and a commit that fails would have "
                    f'been answered as a success. Write Depends({name}, scope="function").'
                )


def _sessions_used(dependant: Dependant, overrides: Mapping[Any, Any]) -> Iterator[Dependant]:
    for dependency in dependant.dependencies:
        call = overrides.get(dependency.call, dependency.call)
        if getattr(call, "aura_session", False):
            yield dependency
        yield from _sessions_used(dependency, overrides)


def _modules_used(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, _ModuleServicesDependency):
            yield dependency.call.module
        yield from _modules_used(dependency)


# --- a route acting as a module -----------------------------------------------------------------


class _ModuleServicesDependency:
    """The dependency :func:`module_services` returns; :func:`lifespan` finds it in routes."""

    __slots__ = ("module",)

    def __init__(self, module: str) -> None:
        self.module = module

    def __repr__(self) -> str:
        return f"module_services({self.module!r})"

    # An async generator: FastAPI runs it in the request's task, so the module it sets is the
    # current one for the endpoint and the dependencies after it (sync ones get a copy).
    async def __call__(self, request: Request) -> AsyncIterator[ModuleServices]:
        platform = platform_of(request)
        if self.module not in platform.modules:  # a platform set without lifespan()
            known = list(platform.modules)
            raise ModuleDefinitionError(
                f"module_services({self.module!r}): the platform has no module "
                f"{self.module!r} (its modules: {', '.join(known) or 'none'})."
                f"{did_you_mean(self.module, known)}"
            )
        with module_scope(self.module):
            yield ModuleServices(platform, self.module)


def module_services(module: str) -> Callable[..., AsyncIterator[ModuleServices]]:
    """A dependency running the route as ``module`` and giving it a :class:`ModuleServices`.

    Use it as ``Depends(module_services("billing"))``, in the endpoint's parameters or in a
    router's ``dependencies=[...]``; the module is the current one until the response is sent.
    """
    return _ModuleServicesDependency(check_module_name(module))


# --- who the request acts for -------------------------------------------------------------------


def acting_user(
    dependency: Callable[..., Any],
    *,
    user_id: Callable[[Any], str | int | None] | None = None,
) -> Callable[..., AsyncIterator[Any]]:
    """Wrap the app's authentication ``dependency``: its user is the one the request acts for.

    ``Depends(acting_user(get_current_user))`` gives the endpoint what ``get_current_user``
    returns, and events published during the request carry that user's id as
    ``metadata["user_id"]`` (events their handlers publish too). The id is ``user_id(user)``
    when given; else the user itself if it is an ``int`` or a ``str``, its ``user_id`` or ``id``
    attribute, or nobody for ``None``. An :class:`~aura.access.Principal` is put in force as
    the gateway does (:func:`aura.access.current_principal`).
    """
    if not callable(dependency):
        raise ConfigurationError(
            f"acting_user() takes the app's authentication dependency (a function FastAPI "
            f"calls, such as get_current_user), got {type(dependency).__name__} "
            f"({dependency!r})."
        )
    if user_id is not None and not callable(user_id):
        raise ConfigurationError(
            f"user_id must be a function of the user returning its id, got "
            f"{type(user_id).__name__} ({user_id!r}). Write user_id=lambda user: user.pk."
        )
    source = _name(dependency)

    async def act_as(user: Any = Depends(dependency)) -> AsyncIterator[Any]:  # noqa: B008
        with _acting_for(user, source, user_id):
            yield user

    return act_as


@contextmanager
def _acting_for(
    user: Any, source: str, user_id: Callable[[Any], str | int | None] | None
) -> Iterator[None]:
    if user_id is None and isinstance(user, Principal):
        with principal_scope(user):
            yield
        return
    identity = _identity_of(user, source) if user_id is None else user_id(user)
    if identity is not None and (isinstance(identity, bool) or not isinstance(identity, int | str)):
        raise ConfigurationError(
            f"user_id of acting_user({source}) returned {type(identity).__name__} "
            f"({identity!r}); a user id is an int or a str (or None for nobody)."
        )
    with user_scope(identity):
        yield


def _identity_of(user: Any, source: str) -> str | int | None:
    if user is None or (isinstance(user, int | str) and not isinstance(user, bool)):
        return user
    for attribute in ("user_id", "id"):
        value = getattr(user, attribute, None)
        if isinstance(value, int | str) and not isinstance(value, bool):
            return value
    raise ConfigurationError(
        f"acting_user({source}) cannot tell the id of the {type(user).__name__} it returned: "
        "it is not an int or a str and has no int or str attribute 'user_id' or 'id'. Pass "
        f"acting_user({source}, user_id=lambda user: ...) returning its id."
    )


# --- the request's transaction ------------------------------------------------------------------


def session_dependency(factory: Callable[[], Any]) -> Callable[..., AsyncIterator[Any]]:
    """A dependency giving the route a SQLAlchemy ``Session`` whose transaction events join.

    ``get_session = session_dependency(sessionmaker(engine))`` then
    ``session: Session = Depends(get_session, scope="function")``: the request's writes and
    the events it publishes (through a platform on ``SqlAlchemyDatabase(engine)``) commit
    together after the endpoint returns and before the response is sent (a failed commit is
    the request's error, not a success), and neither is written when it raises (an
    ``HTTPException`` too). :func:`lifespan` refuses a route taking it without
    ``scope="function"`` (FastAPI's default scope ends it after the response).

    Why not ``def get_session(): with Session(engine) as s, s.begin(): yield s``: FastAPI runs
    a plain generator dependency in a thread-pool thread, and a sync endpoint in another, and
    outside a flow Aura's outbox joins only the transaction the publishing thread or task
    began. This dependency makes each request one flow
    (:func:`aura.integrations.sqlalchemy.one_flow`): the transaction begins at once for an
    ``async def`` endpoint, at the session's first use (``add``, ``get``, ``execute``...) for a
    plain ``def`` one, wherever that use is (the endpoint, or a dependency taking the same
    session, such as ``get_current_user(session=Depends(get_session, ...))``, ``def`` or
    ``async def``), and the endpoint's events join it. In a ``def`` endpoint, use the session
    before publishing; with ``SqlAlchemyDatabase(engine, require_transaction=True)`` a publish
    outside the transaction is refused instead of committing alone.
    """
    if not callable(factory):
        raise ConfigurationError(
            f"session_dependency() takes a function making a Session (a sessionmaker), got "
            f"{type(factory).__name__} ({factory!r}). Write "
            "session_dependency(sessionmaker(engine))."
        )

    from aura.integrations.sqlalchemy import one_flow

    async def request_session(request: Request) -> AsyncIterator[Any]:
        session = factory()
        # A sync endpoint's session was used in a thread-pool thread: end it in one too, so
        # the event loop does not wait for the commit (and its deliveries).
        in_loop = _endpoint_is_async(request)
        with one_flow(session):  # in the request's threads (dependencies, endpoint) alike
            if in_loop:
                session.begin()
            try:
                yield session
            except BaseException:
                await _run(in_loop, session.rollback)
                raise
            else:
                if session.in_transaction():
                    await _run(in_loop, session.commit)
            finally:
                await _run(in_loop, session.close)

    request_session.aura_session = True  # type: ignore[attr-defined]  # what check_routes reads
    return request_session


def _endpoint_is_async(request: Request) -> bool:
    route = request.scope.get("route")
    call = route.dependant.call if isinstance(route, APIRoute) else request.scope.get("endpoint")
    if call is None:
        return False
    call = inspect.unwrap(call)
    return inspect.iscoroutinefunction(call) or inspect.iscoroutinefunction(
        getattr(call, "__call__", None)  # noqa: B004 - a callable instance's own method
    )


async def _run(in_loop: bool, operation: Callable[[], object]) -> None:
    if in_loop:
        operation()
    else:
        await run_in_threadpool(operation)


# --- the request's correlation id ---------------------------------------------------------------


class CorrelationMiddleware:
    """ASGI middleware: the request's correlation id, taken from ``X-Correlation-ID`` or new.

    A valid header (1 to 128 letters, digits or ``. _ : -``, as the gateway accepts) is the
    correlation id of every event the request publishes; without one a new id is made. Either
    way it is echoed in the response's ``X-Correlation-ID``. An invalid header is answered 400
    with an ``application/problem+json`` body, under a new id, as the gateway answers it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one ASGI connection; HTTP requests run under their correlation id."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-correlation-id")
        valid = given is not None and is_valid_correlation_id(given)
        correlation_id = given if valid and given is not None else new_correlation_id()
        echo = correlation_id.encode("ascii")

        async def send_echoing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-correlation-id", echo)]
                message = {**message, "headers": headers}
            await send(message)

        with correlation_scope(correlation_id):
            if given is not None and not valid:
                logger.warning("http.correlation_id_rejected given=%r", given[:60])
                refusal = _problem(400, invalid_correlation_id(given), str(scope.get("path", "")))
                await refusal(scope, receive, send_echoing)
                return
            await self.app(scope, receive, send_echoing)


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            text: str = value.decode("latin-1")
            return text
    return None


def _problem(status: int, detail: str, instance: str) -> JSONResponse:
    """An RFC 9457 problem response shaped as the gateway's (:mod:`aura.web.problems`)."""
    body = problem_body(status, detail, instance)
    return JSONResponse(body, status_code=status, media_type="application/problem+json")


def _name(function: object) -> str:
    name = getattr(function, "__qualname__", None) or getattr(function, "__name__", None)
    return str(name) if name else repr(function)

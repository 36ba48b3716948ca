"""A module's declaration: its services, providers, subscriptions, published events and hooks.

A :class:`Module` only records what the module offers and needs; the
:class:`~aura.platform.Platform` applies it to a registry, a bus and a container::

    notifications = Module("notifications", depends_on=["users"])
    notifications.publishes("notification.sent", "notification.failed")

    @notifications.service("EmailService", contract=EmailServiceContract)
    class EmailService: ...

    @notifications.subscribe("therapy_session.scheduled")
    def send_confirmation(data: dict, email_service: EmailService) -> None: ...

Parameters after a handler's first (the event) are injected from the container by type, else by
name; the same holds for every parameter of an :meth:`Module.on_start` hook.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, TypeVar, cast

from aura.access import Rule
from aura.dead_letters import RetryPolicy
from aura.exceptions import HandlerSignatureError, InvalidEventTypeError, ModuleDefinitionError
from aura.naming import check_module_name, check_pattern, not_publishable, snake_case
from aura.registry import CallableBreaker, CallPolicy

__all__ = [
    "BreakerSource",
    "HandlerDeclaration",
    "Module",
    "ProviderDeclaration",
    "Representation",
    "RouteDeclaration",
    "RouterDeclaration",
    "ServiceDeclaration",
]

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C")


BreakerSource = CallableBreaker | Callable[[], CallableBreaker]
"""A circuit breaker that copies itself (:meth:`~aura.breaker.CircuitBreaker.fresh`), or a
factory that builds a fresh one for each platform."""


class _Copyable(Protocol):
    """A breaker that copies itself for each platform, as CircuitBreaker.fresh() does."""

    def fresh(self) -> CallableBreaker:
        """A new breaker of the same configuration, with none of the state."""
        ...


@dataclasses.dataclass(frozen=True, slots=True)
class ServiceDeclaration:
    """A service the module offers to other modules through the registry."""

    name: str
    provider: object
    contract: type[Any] | None
    breaker: BreakerSource | None
    timeout: float | None
    key: str
    """The container name it is also resolvable by (``"user_service"`` for ``UserService``)."""
    aliases: tuple[str, ...] = ()
    """Further container names of the service (the seed's ``"notification_service"``)."""

    @property
    def container_names(self) -> tuple[str, ...]:
        """Every container name the service resolves by: its ``key``, then its aliases."""
        return (self.key, *self.aliases)

    def policy(self) -> CallPolicy | None:
        """Build the call policy for one platform, with a breaker of its own.

        Declarations live at module level and outlive platforms: a breaker instance is
        copied (its ``fresh()``, checked at declaration) and a factory is called, so a
        breaker's state never leaks from one platform (one test) into the next.
        """
        if self.breaker is None and self.timeout is None:
            return None
        breaker: CallableBreaker | None = None
        if _is_breaker(self.breaker):
            breaker = cast(_Copyable, self.breaker).fresh()  # checked at declaration
        elif self.breaker is not None:
            breaker = cast(Callable[[], CallableBreaker], self.breaker)()  # a factory
        return CallPolicy(breaker=breaker, timeout=self.timeout)


@dataclasses.dataclass(frozen=True, slots=True)
class ProviderDeclaration:
    """A dependency the module provides to its own code through the container."""

    key: str | type[Any]
    provider: Callable[..., object]
    lifetime: str


@dataclasses.dataclass(frozen=True, slots=True)
class HandlerDeclaration:
    """A handler the module subscribes to an event type or pattern."""

    event_type: str
    handler: Callable[..., Any]
    idempotent: bool = False
    """Handle each event id once, even when a durable platform resubmits it."""
    name: str | None = None
    """The subscriber's identity in the module (the handler's qualified name by default)."""
    retry: RetryPolicy | None = None
    """How a durable platform retries this subscriber's failed deliveries."""


@dataclasses.dataclass(frozen=True, slots=True)
class RouteDeclaration:
    """An HTTP route the module serves through the gateway, under ``/api/<module>``."""

    method: str
    path: str
    endpoint: Callable[..., Any]
    options: dict[str, Any]
    allow: Rule | None = None
    """Who may call it (:mod:`aura.access`); the gateway refuses to serve a route without."""
    limit: str | None = None
    """A rate limit, such as ``"5/minute"``, or ``None``: per caller when authenticated, per
    client address otherwise."""
    versions: tuple[Representation, ...] = ()
    """Older representations also served, each under ``/api/v<N>/<module><path>``."""
    unlimited: frozenset[str] = frozenset()
    """Roles whose callers the limit does not count (operators doing bulk work, say)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Representation:
    """How version ``version`` of a route's JSON differs from today's, for older clients.

    ``renames`` maps today's field names to that version's: the gateway serves the route also
    at ``/api/v<version>/<module><path>``, renaming the fields of request bodies from the old
    names to today's before the endpoint runs, and of responses from today's to the old ones.
    """

    version: int
    renames: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise ModuleDefinitionError(
                f"A representation's version is a whole number from 1, got {self.version!r}. "
                "Write Representation(1, renames={'name': 'full_name'})."
            )
        if not isinstance(self.renames, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) and k.isidentifier() and v.isidentifier()
            for k, v in self.renames.items()
        ):
            raise ModuleDefinitionError(
                f"renames of version {self.version} maps today's field names to that version's, "
                f"got {self.renames!r}. Write renames={{'name': 'full_name'}}."
            )
        object.__setattr__(self, "renames", dict(self.renames))


@dataclasses.dataclass(frozen=True, slots=True)
class RouterDeclaration:
    """A FastAPI ``APIRouter`` the module serves, with the rule for all of its routes."""

    router: Any
    allow: Rule | None


class Module:
    """Declares one module of a modular monolith: what it offers, needs and publishes."""

    def __init__(self, name: str, depends_on: Iterable[str] = (), *, description: str = "") -> None:
        self.name = check_module_name(name)
        if isinstance(depends_on, str):
            raise ModuleDefinitionError(
                f"depends_on of module {name!r} must be a list of module names, got the string "
                f"{depends_on!r}. Write depends_on=[{depends_on!r}]."
            )
        self.depends_on: tuple[str, ...] = tuple(
            check_module_name(dependency, role="dependency") for dependency in depends_on
        )
        if self.name in self.depends_on:
            raise ModuleDefinitionError(
                f"Module {name!r} cannot depend on itself. Remove it from depends_on."
            )
        self.description = description
        self.services: list[ServiceDeclaration] = []
        self.providers: list[ProviderDeclaration] = []
        self.handlers: list[HandlerDeclaration] = []
        self.routes: list[RouteDeclaration] = []
        self.routers: list[RouterDeclaration] = []
        self.published: list[str] = []
        self.start_hooks: list[Callable[..., Any]] = []
        self.authenticate_hooks: list[Callable[..., Any]] = []
        self.synthesized = False
        """True for the module a platform makes for a seed-style package (one with only
        ``register_services(service_registry)``): it declares nothing, so a module map's
        declaration of it is the only one."""

    def __repr__(self) -> str:
        return f"Module({self.name!r}, depends_on={list(self.depends_on)!r})"

    def service(
        self,
        name: str | None = None,
        *,
        contract: type[Any] | None = None,
        breaker: BreakerSource | None = None,
        timeout: float | None = None,
        key: str | None = None,
        aliases: Iterable[str] = (),
    ) -> Callable[[C], C]:
        """Offer the decorated class (or factory) as a service of this module.

        ``name`` defaults to the class name; ``key`` (the container name) defaults to its
        snake_case form, so ``get_container().resolve("user_service")`` works as in the seed;
        ``aliases`` are further container names for it.
        """

        def declare(provider: C) -> C:
            self.add_service(
                name or str(getattr(provider, "__name__", "")),
                provider,
                contract=contract,
                breaker=breaker,
                timeout=timeout,
                key=key,
                aliases=aliases,
            )
            return provider

        return declare

    def add_service(
        self,
        name: str,
        provider: object,
        *,
        contract: type[Any] | None = None,
        breaker: BreakerSource | None = None,
        timeout: float | None = None,
        key: str | None = None,
        aliases: Iterable[str] = (),
    ) -> None:
        """Offer ``provider`` (a class, factory or instance) as the service ``name``.

        ``breaker`` guards calls from other modules: a
        :class:`~aura.breaker.CircuitBreaker`, of which each platform gets a copy with the
        same configuration and none of the state (:meth:`~aura.breaker.CircuitBreaker.fresh`),
        or a factory (``lambda: MyBreaker(...)``) that each platform calls. A breaker of
        another kind, which cannot copy itself, is refused: shared by every platform (every
        test), one test's open breaker would fail the next. ``timeout`` bounds the calls.
        ``key`` and ``aliases`` are the container names it resolves by (``key`` defaults to
        the snake_case of ``name``).
        """
        if any(existing.name == name for existing in self.services):
            raise ModuleDefinitionError(
                f"Module {self.name!r} already declares a service {name!r}. Give the second one "
                "another name."
            )
        if breaker is not None:
            self._check_breaker(name, breaker)
        if timeout is not None:
            CallPolicy(timeout=timeout)  # refuses a bad timeout now, at declaration
        if isinstance(aliases, str):
            raise ModuleDefinitionError(
                f"aliases of service {name!r} in module {self.name!r} must be a list of container "
                f"names, got the string {aliases!r}. Write aliases=[{aliases!r}]."
            )
        primary = key or snake_case(name)
        names = (primary, *aliases)
        for alias in aliases:
            if not isinstance(alias, str) or not alias.isidentifier():
                raise ModuleDefinitionError(
                    f"Alias {alias!r} of service {name!r} in module {self.name!r} is not a "
                    "container name. Use a Python identifier such as 'notification_service'."
                )
        repeated = sorted({alias for alias in names if names.count(alias) > 1})
        if repeated:
            raise ModuleDefinitionError(
                f"Service {name!r} of module {self.name!r} lists the container name "
                f"{repeated[0]!r} twice (its names: {', '.join(map(repr, names))}). "
                "Give each name once."
            )
        self.services.append(
            ServiceDeclaration(name, provider, contract, breaker, timeout, primary, tuple(aliases))
        )

    def _check_breaker(self, service: str, breaker: object) -> None:
        """Refuse a breaker that each platform could not get its own of."""
        kind = type(breaker).__name__
        if not _is_breaker(breaker):
            if callable(breaker):
                return  # a factory: each platform calls it
            raise ModuleDefinitionError(
                f"breaker of service {service!r} in module {self.name!r} must be a circuit "
                f"breaker or a factory that builds one, got {kind} ({breaker!r}). Pass "
                "breaker=CircuitBreaker(...) or breaker=lambda: CircuitBreaker(...)."
            )
        why = _why_not_copyable(breaker)
        if why is not None:
            raise ModuleDefinitionError(
                f"Service {service!r} of module {self.name!r} is given a breaker instance "
                f"({kind}) that cannot be copied for each platform: {why}. Shared by every "
                "platform built from this declaration, one test's open breaker would fail the "
                f"next. Pass a factory instead: breaker=lambda: {kind}(...)."
            )

    def provide(
        self, key: str | type[Any], provider: Callable[..., object], *, lifetime: str = "singleton"
    ) -> None:
        """Provide a dependency to the module's own code (a repository, a backend, ...)."""
        self.providers.append(ProviderDeclaration(key, provider, lifetime))

    def subscribe(
        self,
        event_type: str,
        *,
        idempotent: bool = False,
        name: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Callable[[F], F]:
        """Subscribe the decorated handler (sync or async) to ``event_type`` or a pattern.

        ``idempotent=True`` makes a durable platform remember each handled event id, so an
        event resubmitted after a crash has no second effect. ``name`` is the subscriber's
        identity in the module (see :meth:`aura.EventBus.subscribe`); ``retry`` how a durable
        platform retries its failed deliveries.
        """
        check_pattern(event_type)
        if not isinstance(idempotent, bool):
            raise ModuleDefinitionError(
                f"Module {self.name!r}: subscribe({event_type!r}, idempotent=...) takes True or "
                f"False, got {idempotent!r}."
            )

        def declare(handler: F) -> F:
            if not callable(handler):  # refused here, where it is written, not at start()
                raise HandlerSignatureError(
                    f"Module {self.name!r}: @subscribe({event_type!r}) decorates a function "
                    f"that takes the event, got {type(handler).__name__} {handler!r}. Put "
                    "@module.subscribe(...) above a def or async def."
                )
            self.handlers.append(HandlerDeclaration(event_type, handler, idempotent, name, retry))
            return handler

        return declare

    def publishes(self, *event_types: str) -> None:
        """Declare the event types (or patterns) this module may publish."""
        for event_type in event_types:
            problem = not_publishable(event_type, f"Module {self.name!r}")
            if problem is not None:
                raise InvalidEventTypeError(problem)
        self.published.extend(event_types)

    def on_start(self, hook: F) -> F:
        """Run ``hook`` when the platform starts (create tables, warm caches), in module order."""
        self.start_hooks.append(hook)
        return hook

    def on_authenticate(self, hook: F) -> F:
        """Run ``hook(principal, ...)`` on every request whose bearer token the gateway accepted.

        The first parameter receives the :class:`~aura.access.Principal`; the container fills
        the others, as for handlers. It runs as this module, before routing, and refuses a token
        that is no longer good (its user deactivated, its password changed) by raising
        :exc:`~aura.exceptions.AuthenticationError`: the request is answered 401. It runs on
        every authenticated request, so keep it to a primary-key lookup.
        """
        if not callable(hook):
            raise ModuleDefinitionError(
                f"Module {self.name!r}: on_authenticate() takes a function "
                f"hook(principal, ...), got {hook!r}."
            )
        self.authenticate_hooks.append(hook)
        return hook

    def include_router(self, router: Any, *, allow: Rule | None = None) -> None:
        """Serve a FastAPI ``APIRouter``'s routes under ``/api/<module>`` through the gateway.

        The module itself needs no FastAPI: the router is only stored here; the gateway mounts
        it, with the module as the current module while its endpoints run. ``allow`` is the
        access rule of all its routes, checked against their path parameters.
        """
        if not hasattr(router, "routes"):
            raise ModuleDefinitionError(
                f"include_router() of module {self.name!r} takes a FastAPI APIRouter, got "
                f"{type(router).__name__}. Build one with fastapi.APIRouter()."
            )
        _check_rule(allow, f"include_router() of module {self.name!r}")
        self.routers.append(RouterDeclaration(router, allow))

    def route(
        self,
        method: str,
        path: str,
        *,
        allow: Rule | None = None,
        limit: str | None = None,
        unlimited: Iterable[str] = (),
        versions: Iterable[Representation] = (),
        **options: Any,
    ) -> Callable[[F], F]:
        """Serve the decorated endpoint at ``/api/<module><path>`` through the gateway.

        ``allow`` says who may call it (:mod:`aura.access`: ``role("operator")``,
        ``owner("user_id")``, ``PUBLIC``...); ``limit`` bounds how often one caller may
        (``"5/minute"``; per client address for anonymous callers and on public routes), except
        callers holding one of the ``unlimited`` roles; ``versions`` are older representations
        also served (:class:`Representation`); the other options go to FastAPI
        (``status_code``...).
        """
        verb = method.upper()
        if verb not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
            raise ModuleDefinitionError(
                f"Route method {method!r} of module {self.name!r} is not supported. Use GET, "
                "POST, PUT, PATCH or DELETE."
            )
        if not path.startswith("/"):
            raise ModuleDefinitionError(
                f"Route path {path!r} of module {self.name!r} must start with '/'. Write '/{path}'."
            )

        _check_rule(allow, f"Route {verb} {path} of module {self.name!r}")
        older = tuple(versions)
        if not all(isinstance(v, Representation) for v in older) or len(
            {v.version for v in older}
        ) != len(older):
            raise ModuleDefinitionError(
                f"versions of route {verb} {path} in module {self.name!r} must be "
                f"Representations of distinct versions, got {older!r}."
            )

        exempt = (unlimited,) if isinstance(unlimited, str) else tuple(unlimited)
        if not all(isinstance(name, str) and name for name in exempt) or (exempt and not limit):
            raise ModuleDefinitionError(
                f"unlimited of route {verb} {path} in module {self.name!r} names the roles a "
                f"limit does not count, with limit=..., got {unlimited!r}"
                f"{'' if limit else ' and no limit'}. Write e.g. limit='20/hour', "
                "unlimited=['operator']."
            )

        def declare(endpoint: F) -> F:
            self.routes.append(
                RouteDeclaration(
                    verb, path, endpoint, options, allow, limit, older, frozenset(exempt)
                )
            )
            return endpoint

        return declare


def _check_rule(allow: object, where: str) -> None:
    if allow is not None and not isinstance(allow, Rule):
        raise ModuleDefinitionError(
            f"{where} has allow={allow!r}, which is not an access rule. Use one of aura.access: "
            "role('operator'), owner('user_id'), authenticated(), allow_if(...) or PUBLIC."
        )


def _is_breaker(candidate: object) -> bool:
    """A breaker instance (it has ``call``), not a factory of one."""
    return callable(getattr(candidate, "call", None))


def _why_not_copyable(breaker: object) -> str | None:
    """Why ``fresh()`` cannot give each platform its own copy of ``breaker``, or None.

    It is tried once, now, so that a subclass whose ``__init__`` differs fails at declaration
    rather than in every platform.
    """
    fresh = getattr(breaker, "fresh", None)
    if not callable(fresh):
        return "it has no fresh() method"
    try:
        copy = fresh()
    except Exception as error:  # a subclass whose __init__ takes other arguments, say
        return f"its fresh() raised {type(error).__name__}: {error}"
    if copy is breaker or not _is_breaker(copy):
        return f"its fresh() returned {copy!r}, not a new breaker"
    return None

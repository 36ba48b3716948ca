"""Dependency injection: resolve a built singleton, a transient with two constructor deps, and a
scoped service already built in the open scope.

Each library gets the same three classes, built afresh for each setup (wireup marks the classes
it registers), with real annotations: wireup, dishka, lagom, punq and aura wire by type. The
transient's two dependencies are singletons, already built, so the transient case measures
building one object and injecting two. The scoped case measures a cache hit: the service was
built in that scope (or context) by the setup, and is resolved again.
"""

# No ``from __future__ import annotations``: the classes are local, and the containers read
# their constructor annotations, which must be the classes themselves rather than strings.

import warnings
from collections.abc import Callable
from typing import Literal

import dependency_injector.providers
import dishka
import lagom
import punq
import wireup

from aura.container import Container
from benchmarks.core import Area, Case, Namespace, Target

with warnings.catch_warnings():
    # svcs imports its FastAPI integration, which imports starlette's test client, which warns
    # when httpx is installed (the web extra): irrelevant here, and an error under pytest.
    warnings.filterwarnings("ignore", message=r".*starlette\.testclient")
    import svcs

__all__ = ["AREA"]

Lifetime = Literal["singleton", "transient", "scoped"]


def _classes() -> tuple[type, type, type]:
    """A repository, a clock and a service needing both: new classes on every call."""

    class Repository:
        """A dependency."""

    class Clock:
        """Another dependency."""

    class Service:
        """What is resolved: needs a repository and a clock."""

        def __init__(self, repository: Repository, clock: Clock) -> None:
            self.repository = repository
            self.clock = clock

    return Repository, Clock, Service


def _aura(lifetime: Lifetime) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        repository, clock, service = _classes()
        container = Container()
        container.register(repository)
        container.register(clock)
        container.register(service, lifetime=lifetime)
        if lifetime == "scoped":
            scope = container.scope().__enter__()
            scope.resolve(service)  # built in the scope: the case resolves it again
            return {"scope": scope, "Service": service}
        return {"container": container, "Service": service}

    return setup


def _dependency_injector(lifetime: Lifetime) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        repository, clock, service = _classes()
        providers = dependency_injector.providers
        provider = {
            "singleton": providers.Singleton,
            "transient": providers.Factory,
            # Its per-request singleton: one instance per contextvars context (a request's).
            "scoped": providers.ContextLocalSingleton,
        }[lifetime]
        service_provider = provider(
            service, repository=providers.Singleton(repository), clock=providers.Singleton(clock)
        )
        if lifetime == "scoped":
            service_provider()  # built in this context: the case provides it again
        return {"service_provider": service_provider}

    return setup


def _dependency_injector_resource() -> Namespace:
    """dependency-injector's per-request resource (a context-local singleton with shutdown)."""
    repository, clock, service = _classes()
    providers = dependency_injector.providers
    service_provider: providers.ContextLocalResource[object] = providers.ContextLocalResource(
        service, repository=providers.Singleton(repository), clock=providers.Singleton(clock)
    )
    service_provider()  # built in this context: the case provides it again
    return {"service_provider": service_provider}


def _wireup(lifetime: Lifetime) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        repository, clock, service = _classes()
        container = wireup.create_sync_container(
            injectables=[
                wireup.injectable(repository),
                wireup.injectable(clock),
                wireup.injectable(service, lifetime=lifetime),
            ]
        )
        # wireup resolves transients and scoped services only in a scope: one is opened here
        # and kept open.
        resolver = container if lifetime == "singleton" else container.enter_scope()
        if lifetime == "scoped":
            resolver.get(service)  # built in the scope: the case gets it again
        return {"container": resolver, "Service": service}

    return setup


def _dishka(lifetime: Lifetime) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        repository, clock, service = _classes()
        provider = dishka.Provider(scope=dishka.Scope.APP)
        provider.provide(repository)
        provider.provide(clock)
        if lifetime == "singleton":
            provider.provide(service)
            return {"container": dishka.make_container(provider), "Service": service}
        # dishka's transient: uncached, in the request scope, resolved in an open request; its
        # scoped service: cached in the request scope (the default).
        provider.provide(service, scope=dishka.Scope.REQUEST, cache=lifetime == "scoped")
        request = dishka.make_container(provider)().__enter__()
        if lifetime == "scoped":
            request.get(service)  # built in the request: the case gets it again
        return {"container": request, "Service": service}

    return setup


def _svcs(lifetime: Lifetime) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        repository, clock, service = _classes()
        registry = svcs.Registry()
        registry.register_value(repository, repository())
        registry.register_value(clock, clock())
        if lifetime == "singleton":
            registry.register_value(service, service(repository(), clock()))
            return {"container": svcs.Container(registry), "Service": service}

        def build(svcs_container: svcs.Container) -> object:
            return service(svcs_container.get(repository), svcs_container.get(clock))

        registry.register_factory(service, build)
        return {"svcs": svcs, "registry": registry, "Service": service}

    return setup


def _lagom(lifetime: Lifetime) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        repository, clock, service = _classes()
        container = lagom.Container()
        container[repository] = lagom.Singleton(repository)
        container[clock] = lagom.Singleton(clock)
        if lifetime == "singleton":
            container[service] = lagom.Singleton(service)
        return {"container": container, "Service": service}  # unregistered: built each time

    return setup


def _punq(lifetime: Lifetime) -> Callable[[], Namespace]:
    def setup() -> Namespace:
        repository, clock, service = _classes()
        container = punq.Container()
        container.register(repository, scope=punq.Scope.singleton)
        container.register(clock, scope=punq.Scope.singleton)
        scope = punq.Scope.singleton if lifetime == "singleton" else punq.Scope.transient
        container.register(service, scope=scope)
        return {"container": container, "Service": service}

    return setup


_SINGLETON = "resolve a singleton"
_TRANSIENT = "resolve a transient with two deps"
_SCOPED = "resolve a scoped service built in the open scope"
_DI_SCOPED = "dependency-injector ContextLocalSingleton()"

AREA = Area(
    name="container",
    title=(
        "DI container: resolve a built singleton; a transient with two constructor dependencies;"
        " a scoped service already built in the open scope"
    ),
    cases=(
        Case(
            _SINGLETON, "aura Container.resolve", "container.resolve(Service)", _aura("singleton")
        ),
        Case(
            _SINGLETON,
            "dependency-injector Singleton()",
            "service_provider()",
            _dependency_injector("singleton"),
        ),
        Case(_SINGLETON, "wireup container.get", "container.get(Service)", _wireup("singleton")),
        Case(_SINGLETON, "dishka container.get", "container.get(Service)", _dishka("singleton")),
        Case(_SINGLETON, "svcs Container.get", "container.get(Service)", _svcs("singleton")),
        Case(_SINGLETON, "lagom container[...]", "container[Service]", _lagom("singleton")),
        Case(
            _SINGLETON, "punq Container.resolve", "container.resolve(Service)", _punq("singleton")
        ),
        Case(
            _TRANSIENT, "aura Container.resolve", "container.resolve(Service)", _aura("transient")
        ),
        Case(
            _TRANSIENT,
            "dependency-injector Factory()",
            "service_provider()",
            _dependency_injector("transient"),
        ),
        Case(
            _TRANSIENT,
            "wireup scope.get (open scope)",
            "container.get(Service)",
            _wireup("transient"),
        ),
        Case(
            _TRANSIENT,
            "dishka request.get (open request)",
            "container.get(Service)",
            _dishka("transient"),
        ),
        Case(
            _TRANSIENT,
            "svcs Container(registry).get",
            "svcs.Container(registry).get(Service)",
            _svcs("transient"),
        ),
        Case(_TRANSIENT, "lagom container[...]", "container[Service]", _lagom("transient")),
        Case(
            _TRANSIENT, "punq Container.resolve", "container.resolve(Service)", _punq("transient")
        ),
        Case(_SCOPED, "aura Scope.resolve", "scope.resolve(Service)", _aura("scoped")),
        Case(_SCOPED, _DI_SCOPED, "service_provider()", _dependency_injector("scoped")),
        Case(
            _SCOPED,
            "dependency-injector ContextLocalResource()",
            "service_provider()",
            _dependency_injector_resource,
        ),
        Case(_SCOPED, "wireup scope.get (open scope)", "container.get(Service)", _wireup("scoped")),
        Case(
            _SCOPED,
            "dishka request.get (open request)",
            "container.get(Service)",
            _dishka("scoped"),
        ),
    ),
    targets=(
        Target(
            f"{_SINGLETON} / aura Container.resolve",
            "≤ 1.0x dependency-injector",
            1.0,
            f"{_SINGLETON} / dependency-injector Singleton()",
        ),
        Target(
            f"{_TRANSIENT} / aura Container.resolve",
            "≤ 1.0x wireup inside an open scope",
            1.0,
            f"{_TRANSIENT} / wireup scope.get (open scope)",
        ),
        Target(
            f"{_SCOPED} / aura Scope.resolve",
            "≤ 1.0x dependency-injector",
            1.0,
            f"{_SCOPED} / {_DI_SCOPED}",
        ),
    ),
    notes=(
        "The transient's two dependencies are singletons, already built.",
        "dependency-injector: calling the provider (its Cython core); wireup and dishka: "
        "transients resolved in a scope opened beforehand (wireup refuses them outside one; "
        "dishka's transient is `cache=False` in the request scope).",
        "svcs caches every service per container, so its transient is a fresh "
        "`svcs.Container(registry)` per resolve (its unit of work).",
        "lagom: an unregistered class is autowired and built on each lookup.",
        "Scoped: aura's `scope.resolve`, wireup's `scope.get` and dishka's request `get` in a "
        "scope opened and kept open by the setup, which built the service in it. "
        "dependency-injector has no scope object: its per-request forms keep one instance "
        "per contextvars context (which each request runs in), called here in the context "
        "the setup built it in. `ContextLocalSingleton` is the closest to a scoped lifetime "
        "and the faster; `ContextLocalResource`, which its documentation suggests for "
        "per-request resources such as sessions (the same, with shutdown), is shown too. The "
        "target is judged against the faster, `ContextLocalSingleton`. `ThreadLocalSingleton` "
        "is per thread, not per request, and is left out.",
    ),
    packages=("aura", "dependency-injector", "wireup", "dishka", "svcs", "lagom", "punq"),
)

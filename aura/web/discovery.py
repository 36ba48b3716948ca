"""What the platform says about itself: ``GET /api/_modules`` and ``GET /health``, as data.

:func:`describe_modules` lists each module's services, routes, events and dependencies;
:func:`check_health` reports the database and each service's circuit breaker. Both return
pydantic models, which the gateway serves as JSON and documents in ``/openapi.json``.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel

from aura.breaker import BreakerState
from aura.introspection import served_routes
from aura.module import Module
from aura.platform import Platform
from aura.registry import ServiceInfo

__all__ = [
    "BreakerHealth",
    "Health",
    "ModuleDescription",
    "ModuleHealth",
    "ModulesDescription",
    "RouteDescription",
    "ServiceDescription",
    "ServiceHealth",
    "check_health",
    "describe_modules",
    "service_health",
]


class ServiceDescription(BaseModel):
    """A service a module offers: its name, contract and the methods callers may use."""

    name: str
    contract: str | None
    methods: list[str]


class RouteDescription(BaseModel):
    """An HTTP route a module serves, with its full path."""

    method: str
    path: str


class ModuleDescription(BaseModel):
    """What one module offers, needs, publishes and consumes."""

    name: str
    description: str
    depends_on: list[str]
    services: list[ServiceDescription]
    routes: list[RouteDescription]
    publishes: list[str]
    consumes: list[str]


class ModulesDescription(BaseModel):
    """The platform's modules, in dependency order."""

    modules: list[ModuleDescription]


class BreakerHealth(BaseModel):
    """A circuit breaker's state; ``retry_after``: seconds until it lets calls through again.

    It is 0 unless the breaker is open, and ``None`` when it was forced open (no set time).
    """

    state: str
    failure_count: int
    retry_after: float | None


class ServiceHealth(BaseModel):
    """One service and its breaker, if it has one."""

    name: str
    breaker: BreakerHealth | None


class ModuleHealth(BaseModel):
    """A module is down while one of its services' breakers is open."""

    status: Literal["up", "down"]
    services: list[ServiceHealth]


class Health(BaseModel):
    """The platform is down when its database or any module is down.

    ``GET /health`` shows ``database`` and ``modules`` to operators only; anyone else (a load
    balancer) gets the ``status``.
    """

    status: Literal["up", "down"]
    database: Literal["up", "down"] | None = None
    modules: dict[str, ModuleHealth] | None = None


_DOWN_STATES = frozenset({BreakerState.OPEN, BreakerState.FORCED_OPEN})


def describe_modules(platform: Platform) -> ModulesDescription:
    """Describe every module of ``platform`` (``GET /api/_modules``)."""
    return ModulesDescription(
        modules=[_describe(module, platform) for module in platform.modules.values()]
    )


def _describe(module: Module, platform: Platform) -> ModuleDescription:
    services = [
        ServiceDescription(
            name=info.service_name,
            contract=_qualified(info.contract) if info.contract is not None else None,
            methods=list(info.methods),
        )
        for info in platform.registry.services(module.name)
    ]
    return ModuleDescription(
        name=module.name,
        description=module.description,
        depends_on=list(module.depends_on),
        services=services,
        routes=[
            *(
                RouteDescription(method=route.method, path=f"/api/{module.name}{route.path}")
                for route in module.routes
            ),
            *(
                RouteDescription(method=method, path=f"/api/{module.name}{route.path}")
                for declaration in module.routers
                for route in served_routes(declaration.router.routes)
                for method in sorted(getattr(route, "methods", None) or ())
            ),
        ],
        publishes=list(module.published),
        consumes=list(dict.fromkeys(handler.event_type for handler in module.handlers)),
    )


def _qualified(contract: type[Any]) -> str:
    return f"{contract.__module__}.{contract.__qualname__}"


def check_health(platform: Platform) -> Health:
    """Report the database and each module's breakers (``GET /health``)."""
    modules = {name: _module_health(platform, name) for name in platform.modules}
    database = _database_health(platform)
    up = database == "up" and all(health.status == "up" for health in modules.values())
    return Health(status="up" if up else "down", database=database, modules=modules)


def _module_health(platform: Platform, name: str) -> ModuleHealth:
    services = [service_health(info) for info in platform.registry.services(name)]
    down = any(
        service.breaker is not None and service.breaker.state in _DOWN_STATES
        for service in services
    )
    return ModuleHealth(status="down" if down else "up", services=services)


def service_health(info: ServiceInfo) -> ServiceHealth:
    """One service's health: its breaker's state, or no breaker (none, or one without snapshots)."""
    breaker = info.policy.breaker if info.policy is not None else None
    snapshot = getattr(breaker, "snapshot", None)
    if not callable(snapshot):  # no breaker, or a third-party one without snapshots
        return ServiceHealth(name=info.service_name, breaker=None)
    view = snapshot()
    retry_after = view.retry_after if math.isfinite(view.retry_after) else None
    return ServiceHealth(
        name=info.service_name,
        breaker=BreakerHealth(
            state=str(view.state), failure_count=view.failure_count, retry_after=retry_after
        ),
    )


HEALTH_TIMEOUT = 2.0
"""Seconds ``GET /health`` gives the database before it says "down", whatever the database's
own wait for a connection (PostgreSQL: about 3 s at worst, when its pool is busy and the
server silent, since libpq takes at least 2 s to give up connecting; see
``PostgresDatabase.ping``)."""


def _database_health(platform: Platform) -> Literal["up", "down"]:
    ping = getattr(platform.database, "ping", None)  # PostgreSQL: bounded by HEALTH_TIMEOUT
    try:
        if ping is not None:
            return "up" if ping(HEALTH_TIMEOUT) else "down"
        platform.database.query_one("SELECT 1")
    except Exception:
        return "down"
    return "up"

"""The service registry: ``get_service`` of a built service, and a call through its proxy.

Both run as the module ``caller`` (inside ``aura.context.module_scope("caller")``), so the
service is another module's: ``get_service`` returns the cross-module proxy, which runs each call
as the provider module and reports it (no observer is attached here). No peer offers this;
the references are a direct call of a no-op and the same method called on the service itself.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager

from aura.context import module_scope
from aura.registry import ServiceRegistry
from benchmarks.core import BASELINE_CALL, Area, Case, Namespace, Target

__all__ = ["AREA"]

_GROUP = "registry"


class UserServiceContract(ABC):
    """The contract callers from other modules see."""

    @abstractmethod
    def is_user_active(self, user_id: int) -> bool:
        """Tell whether the user is active."""


class UserService(UserServiceContract):
    """The service: as cheap as a method can be."""

    def is_user_active(self, user_id: int) -> bool:
        """Every user is active."""
        return True


def _setup() -> Namespace:
    registry = ServiceRegistry()
    registry.register_service("users", "UserService", UserService, contract=UserServiceContract)
    with module_scope("caller"):
        users = registry.get_service("users", "UserService")  # built, and its proxy cached
    return {"registry": registry, "users": users, "service": UserService()}


def _as_caller() -> AbstractContextManager[None]:
    """Run as the module ``caller``, for whom the service is another module's."""
    return module_scope("caller")


AREA = Area(
    name="registry",
    title="Service registry: get_service of a built service; a call through a cross-module proxy",
    cases=(
        Case(
            _GROUP,
            "get_service (built, from another module)",
            'registry.get_service("users", "UserService")',
            _setup,
            around=_as_caller,
        ),
        Case(
            _GROUP,
            "call through the cross-module proxy",
            "users.is_user_active(7)",
            _setup,
            around=_as_caller,
        ),
        Case(_GROUP, "the same method called directly", "service.is_user_active(7)", _setup),
    ),
    targets=(
        Target(
            f"{_GROUP} / get_service (built, from another module)",
            "≤ 3x a direct call",
            3.0,
            BASELINE_CALL,
        ),
    ),
    notes=(
        "Run as module `caller`: `get_service` returns the cached proxy; a call through it "
        "sets the current module to the provider and times the call for observers (none "
        "attached).",
    ),
    packages=("aura",),
)

"""The process-wide defaults of the seed's global style: ``event_bus``, ``service_registry``,
``get_container()``.

``from aura import event_bus`` gives a stand-in that forwards every attribute to the bus in force;
``service_registry`` likewise. The real objects are built on first use, not at import, and
:func:`use_defaults` points the defaults at other instances for a block (the test harness does
this per test), so code that captured ``event_bus`` at import time is isolated too.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar, cast

from aura.bus import EventBus
from aura.container import Container, get_container, set_container
from aura.registry import ServiceRegistry

__all__ = [
    "DefaultProxy",
    "default_bus",
    "default_registry",
    "event_bus",
    "fresh_defaults",
    "get_container",
    "service_registry",
    "use_defaults",
]

T = TypeVar("T")


class DefaultProxy(Generic[T]):
    """Stands for a process-wide default object and forwards to the instance in force."""

    __slots__ = ("_factory", "_instance", "_lock", "_name")

    def __init__(self, name: str, factory: Callable[[], T]) -> None:
        self._name = name
        self._factory = factory
        self._instance: T | None = None
        self._lock = threading.Lock()

    def _target(self) -> T:
        instance = self._instance
        if instance is None:
            with self._lock:
                if self._instance is None:
                    self._instance = self._factory()
                instance = self._instance
        return instance

    def _swap(self, instance: T | None) -> T | None:
        with self._lock:
            previous, self._instance = self._instance, instance
        return previous

    def __getattr__(self, attribute: str) -> Any:
        return getattr(self._target(), attribute)

    @property  # type: ignore[misc]  # deliberately shadows object.__class__
    def __class__(self) -> type[Any]:
        """The class of the instance in force, so ``isinstance(event_bus, EventBus)`` holds."""
        return type(self._target())

    def __repr__(self) -> str:
        return f"<aura default {self._name}: {self._target()!r}>"


_bus_proxy: DefaultProxy[EventBus] = DefaultProxy("event_bus", EventBus)
event_bus = cast(EventBus, _bus_proxy)
"""The process-wide event bus of the seed (``from aura import event_bus``)."""


_registry_proxy: DefaultProxy[ServiceRegistry] = DefaultProxy(
    "service_registry", lambda: ServiceRegistry(container=get_container())
)
service_registry = cast(ServiceRegistry, _registry_proxy)
"""The process-wide service registry of the seed (``from aura import service_registry``)."""


def default_bus() -> EventBus:
    """Return the bus that :data:`event_bus` currently forwards to."""
    return _bus_proxy._target()


def default_registry() -> ServiceRegistry:
    """Return the registry that :data:`service_registry` currently forwards to."""
    return _registry_proxy._target()


@contextmanager
def use_defaults(
    *,
    bus: EventBus | None = None,
    registry: ServiceRegistry | None = None,
    container: Container | None = None,
) -> Iterator[None]:
    """Point the process-wide defaults at the given instances for a block, then restore them.

    Defaults not given stay as they are.
    """
    previous_bus = _bus_proxy._swap(bus) if bus is not None else None
    previous_registry = _registry_proxy._swap(registry) if registry is not None else None
    previous_container = set_container(container) if container is not None else None
    try:
        yield
    finally:
        if container is not None:
            set_container(previous_container)
        if registry is not None:
            _registry_proxy._swap(previous_registry)
        if bus is not None:
            _bus_proxy._swap(previous_bus)


@contextmanager
def fresh_defaults() -> Iterator[None]:
    """Give the block brand-new defaults, each built on first use, then restore the old ones.

    The test harness runs every test inside one, so subscribers, services and dead letters a
    test leaves on ``event_bus``, ``service_registry`` or ``get_container()`` never reach the
    next test, whether or not it used a fixture. A container built in the block is closed at
    its end (its singletons' disposers run).
    """
    previous_bus = _bus_proxy._swap(None)
    previous_registry = _registry_proxy._swap(None)
    previous_container = set_container(None)
    try:
        yield
    finally:
        built = set_container(previous_container)
        _registry_proxy._swap(previous_registry)
        _bus_proxy._swap(previous_bus)
        if built is not None:
            built.close()

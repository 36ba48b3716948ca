"""Aura: a framework and pytest harness for Python modular monoliths.

The nouns a project writes are importable from here: a :class:`Module` declares a module, a
:class:`Platform` composes modules onto one :class:`ServiceRegistry`, :class:`EventBus`,
:class:`Container` and :class:`Database`. The seed's global style works too
(``from aura import event_bus``), as do explicit instances (``EventBus()``), which tests use.
The HTTP gateway is :mod:`aura.web` (the ``web`` extra); the pytest harness is
:mod:`aura.testing`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what the names below are, for type checkers; at run time they load lazily
    from aura.breaker import BreakerState, CircuitBreaker, SlidingCountWindow, SlidingTimeWindow
    from aura.bus import DeadLetter, Delivery, EventBus, RetryPolicy, RetryReport, Subscription
    from aura.container import Container, Scope
    from aura.context import correlation_scope, current_module, get_correlation_id
    from aura.database import Database
    from aura.dead_letters import DeadLetterStore, InMemoryDeadLetterStore
    from aura.defaults import event_bus, get_container, service_registry, use_defaults
    from aura.delivery import BusObserver, DeliveryJournal
    from aura.events import Event, EventCatalog, EventContract, default_catalog, event_contract
    from aura.exceptions import (
        AuraError,
        CircuitBreakerOpenError,
        CircularDependencyError,
        ConfigurationError,
        ContainerError,
        ContractViolationError,
        DuplicateServiceError,
        EventContractError,
        EventDeliveryError,
        EventValidationError,
        HandlerSignatureError,
        HandlerTimeoutError,
        InvalidEventTypeError,
        InvalidNameError,
        MissingExtraError,
        ModuleDefinitionError,
        ServiceNotAvailableError,
        ServiceTimeoutError,
        UndeclaredEventError,
        UnknownServiceError,
    )
    from aura.module import Module
    from aura.platform import Platform
    from aura.registry import CallPolicy, ServiceCall, ServiceRegistry
    from aura.store import EventStore, InMemoryEventStore, SqliteEventStore

__version__ = "0.2.0"

# Each public name and the module that defines it. They are imported on first use (PEP 562), so
# that `import aura.config` (the `aura check` command, the pytest plugin when no test uses a
# platform) does not load the whole runtime: pydantic, the bus, the store.
_LAZY = {
    "AuraError": "aura.exceptions",
    "BreakerState": "aura.breaker",
    "BusObserver": "aura.delivery",
    "CallPolicy": "aura.registry",
    "CircuitBreaker": "aura.breaker",
    "CircuitBreakerOpenError": "aura.exceptions",
    "CircularDependencyError": "aura.exceptions",
    "ConfigurationError": "aura.exceptions",
    "Container": "aura.container",
    "ContainerError": "aura.exceptions",
    "ContractViolationError": "aura.exceptions",
    "Database": "aura.database",
    "DeadLetter": "aura.bus",
    "DeadLetterStore": "aura.dead_letters",
    "Delivery": "aura.bus",
    "DeliveryJournal": "aura.delivery",
    "DuplicateServiceError": "aura.exceptions",
    "Event": "aura.events",
    "EventBus": "aura.bus",
    "EventCatalog": "aura.events",
    "EventContract": "aura.events",
    "EventContractError": "aura.exceptions",
    "EventDeliveryError": "aura.exceptions",
    "EventStore": "aura.store",
    "EventValidationError": "aura.exceptions",
    "HandlerSignatureError": "aura.exceptions",
    "HandlerTimeoutError": "aura.exceptions",
    "DatabaseBusyError": "aura.exceptions",
    "ServiceBusyError": "aura.exceptions",
    "DuplicateSubscriberError": "aura.exceptions",
    "InMemoryDeadLetterStore": "aura.dead_letters",
    "InMemoryEventStore": "aura.store",
    "InvalidEventTypeError": "aura.exceptions",
    "InvalidNameError": "aura.exceptions",
    "MissingExtraError": "aura.exceptions",
    "Module": "aura.module",
    "ModuleDefinitionError": "aura.exceptions",
    "Platform": "aura.platform",
    "RetryPolicy": "aura.bus",
    "RetryReport": "aura.bus",
    "Scope": "aura.container",
    "ServiceCall": "aura.registry",
    "ServiceNotAvailableError": "aura.exceptions",
    "ServiceRegistry": "aura.registry",
    "ServiceTimeoutError": "aura.exceptions",
    "SlidingCountWindow": "aura.breaker",
    "SlidingTimeWindow": "aura.breaker",
    "SqliteEventStore": "aura.store",
    "Subscription": "aura.bus",
    "UndeclaredEventError": "aura.exceptions",
    "UnknownServiceError": "aura.exceptions",
    "correlation_scope": "aura.context",
    "current_module": "aura.context",
    "default_catalog": "aura.events",
    "event_bus": "aura.defaults",
    "event_contract": "aura.events",
    "get_container": "aura.defaults",
    "get_correlation_id": "aura.context",
    "service_registry": "aura.defaults",
    "use_defaults": "aura.defaults",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        try:  # a submodule, as `import aura` followed by `aura.bus.EventBus` used to reach
            return importlib.import_module(f"aura.{name}")
        except ModuleNotFoundError as error:
            if error.name != f"aura.{name}":
                raise
        raise AttributeError(f"module 'aura' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "AuraError",
    "BreakerState",
    "BusObserver",
    "CallPolicy",
    "CircuitBreaker",
    "CircuitBreakerOpenError",
    "CircularDependencyError",
    "ConfigurationError",
    "Container",
    "ContainerError",
    "ContractViolationError",
    "Database",
    "DatabaseBusyError",
    "DeadLetter",
    "DeadLetterStore",
    "Delivery",
    "DeliveryJournal",
    "DuplicateServiceError",
    "DuplicateSubscriberError",
    "Event",
    "EventBus",
    "EventCatalog",
    "EventContract",
    "EventContractError",
    "EventDeliveryError",
    "EventStore",
    "EventValidationError",
    "HandlerSignatureError",
    "HandlerTimeoutError",
    "InMemoryDeadLetterStore",
    "InMemoryEventStore",
    "InvalidEventTypeError",
    "InvalidNameError",
    "MissingExtraError",
    "Module",
    "ModuleDefinitionError",
    "Platform",
    "RetryPolicy",
    "RetryReport",
    "Scope",
    "ServiceCall",
    "ServiceNotAvailableError",
    "ServiceRegistry",
    "ServiceTimeoutError",
    "SlidingCountWindow",
    "SlidingTimeWindow",
    "SqliteEventStore",
    "Subscription",
    "UndeclaredEventError",
    "UnknownServiceError",
    "correlation_scope",
    "current_module",
    "default_catalog",
    "event_bus",
    "event_contract",
    "get_container",
    "get_correlation_id",
    "service_registry",
    "use_defaults",
]

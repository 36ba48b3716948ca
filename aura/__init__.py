"""Aura: a framework and pytest harness for Python modular monoliths.

The nouns a project writes are importable from here: a :class:`Module` declares a module, a
:class:`Platform` composes modules onto one :class:`ServiceRegistry`, :class:`EventBus`,
:class:`Container` and :class:`Database`. The seed's global style works too
(``from aura import event_bus``), as do explicit instances (``EventBus()``), which tests use.
The HTTP gateway is :mod:`aura.web` (the ``web`` extra); the pytest harness is
:mod:`aura.testing`.
"""

from __future__ import annotations

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
    "DeadLetter",
    "DeadLetterStore",
    "Delivery",
    "DeliveryJournal",
    "DuplicateServiceError",
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

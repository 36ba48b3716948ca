"""Aura: a framework and pytest harness for Python modular monoliths.

The seed's global style works (``from aura import event_bus``), and so do explicit instances
(``EventBus()``), which tests and the :class:`~aura.platform.Platform` use.
"""

from __future__ import annotations

from aura.breaker import BreakerState, CircuitBreaker
from aura.bus import DeadLetter, Delivery, EventBus, RetryReport, Subscription
from aura.container import Container
from aura.context import correlation_scope, current_module, get_correlation_id
from aura.defaults import event_bus, get_container, service_registry, use_defaults
from aura.events import Event, EventCatalog, EventContract, default_catalog, event_contract
from aura.exceptions import (
    AuraError,
    CircuitBreakerOpenError,
    CircularDependencyError,
    ContainerError,
    ContractViolationError,
    DuplicateServiceError,
    EventContractError,
    EventDeliveryError,
    EventValidationError,
    HandlerSignatureError,
    InvalidEventTypeError,
    ServiceNotAvailableError,
    ServiceTimeoutError,
    UnknownServiceError,
)
from aura.registry import CallPolicy, ServiceCall, ServiceRegistry

__version__ = "0.1.0"

__all__ = [
    "AuraError",
    "BreakerState",
    "CallPolicy",
    "CircuitBreaker",
    "CircuitBreakerOpenError",
    "CircularDependencyError",
    "Container",
    "ContainerError",
    "ContractViolationError",
    "DeadLetter",
    "Delivery",
    "DuplicateServiceError",
    "Event",
    "EventBus",
    "EventCatalog",
    "EventContract",
    "EventContractError",
    "EventDeliveryError",
    "EventValidationError",
    "HandlerSignatureError",
    "InvalidEventTypeError",
    "RetryReport",
    "ServiceCall",
    "ServiceNotAvailableError",
    "ServiceRegistry",
    "ServiceTimeoutError",
    "Subscription",
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

"""Aura: a framework and pytest harness for Python modular monoliths.

The seed's global style works (``from aura import event_bus``), and so do explicit instances
(``EventBus()``), which tests and the :class:`~aura.platform.Platform` use.
"""

from __future__ import annotations

from aura.bus import DeadLetter, Delivery, EventBus, RetryReport, Subscription
from aura.context import correlation_scope, current_module, get_correlation_id
from aura.defaults import event_bus, use_defaults
from aura.events import Event, EventCatalog, EventContract, default_catalog, event_contract
from aura.exceptions import (
    AuraError,
    EventContractError,
    EventDeliveryError,
    EventValidationError,
    HandlerSignatureError,
    InvalidEventTypeError,
)

__version__ = "0.1.0"

__all__ = [
    "AuraError",
    "DeadLetter",
    "Delivery",
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
    "Subscription",
    "correlation_scope",
    "current_module",
    "default_catalog",
    "event_bus",
    "event_contract",
    "get_correlation_id",
    "use_defaults",
]

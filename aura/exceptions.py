"""Every public exception of Aura.

Each exception subclasses :class:`AuraError` and the nearest builtin (``LookupError``,
``TypeError``, ``ValueError``, ...), so callers can catch either. Messages name what was given,
what was expected and how to fix it; tests assert them exactly.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = [
    "WEB_EXTRA_MODULES",
    "AccessDeniedError",
    "AuraError",
    "AuthenticationError",
    "CircuitBreakerOpenError",
    "CircularDependencyError",
    "ConfigurationError",
    "ContainerError",
    "ContractViolationError",
    "DatabaseBusyError",
    "DeadLetterRetryError",
    "DisposalError",
    "DuplicateServiceError",
    "DuplicateSubscriberError",
    "EventContractError",
    "EventDeliveryError",
    "EventValidationError",
    "EventVersionError",
    "ExpectationTimeoutError",
    "FakeNotConfiguredError",
    "HandlerSignatureError",
    "HandlerTimeoutError",
    "InvalidEventTypeError",
    "InvalidNameError",
    "LifetimeMismatchError",
    "MissingExtraError",
    "ModuleDefinitionError",
    "OverrideError",
    "RateLimitedError",
    "ServiceBusyError",
    "ServiceNotAvailableError",
    "ServiceTimeoutError",
    "TransactionMismatchError",
    "TransactionRequiredError",
    "UndeclaredEventError",
    "UnknownServiceError",
]


class AuraError(Exception):
    """Base class of every exception Aura raises on purpose."""


class ConfigurationError(AuraError, ValueError):
    """Aura was configured wrongly: an argument of the wrong type or out of range, or a project
    setting (``[tool.aura]``, a flag) that is missing or malformed."""


class MissingExtraError(AuraError, ImportError):
    """A feature needs an optional dependency that is not installed; the message names the
    extra to install (``pip install 'aura-modulith[testing]'``)."""


WEB_EXTRA_MODULES = frozenset(
    {"fastapi", "starlette", "uvicorn", "prometheus_client", "httpx", "jwt", "limits"}
)
"""The top-level modules of the ``web`` extra: an import of one that is not found means the
extra is missing (any other failed import inside them is their own error)."""


class InvalidNameError(AuraError, ValueError):
    """A module or service name does not follow the naming rules."""


# --- events and the bus -------------------------------------------------------------------------


class EventValidationError(AuraError, ValueError):
    """An event's type, data or metadata does not satisfy its contract or the envelope rules."""


class InvalidEventTypeError(EventValidationError):
    """An event type (or subscription pattern) is not dotted lowercase words."""


class EventContractError(AuraError, TypeError):
    """An event contract is malformed or conflicts with one already registered."""


class EventVersionError(EventValidationError):
    """A stored event's version cannot be read as its contract's current version: no upcaster
    leads there, or it is newer than any version this process knows."""


class HandlerSignatureError(AuraError, TypeError):
    """A handler cannot be subscribed as given (wrong arity, wrong annotation, ...)."""


class EventDeliveryError(AuraError, RuntimeError):
    """An event cannot be accepted for delivery at all.

    Raised only when nothing can be delivered: a chain of events deeper than the bus allows, or
    a synchronous publish to asynchronous subscribers. A failing handler never raises this; its
    failure is kept as a dead letter instead.
    """


class DuplicateSubscriberError(HandlerSignatureError):
    """A module subscribes a second handler under a name it already uses; durable delivery
    and dead-letter retries identify a subscriber by ``(module, name)``."""


class TransactionRequiredError(EventDeliveryError):
    """A durable event was published outside any transaction, and the database says one is
    required (``require_transaction=True``): it would have committed alone, apart from the
    writes it announces. Nothing was written."""


class TransactionMismatchError(EventDeliveryError):
    """An event was published inside a transaction of another database than the platform's
    (a session bound to another engine): it could not commit with that transaction. Nothing
    was written."""


class DatabaseBusyError(AuraError, TimeoutError):
    """The database could not be locked or reached in time (SQLite's write lock, a PostgreSQL
    lock timeout); nothing of the unit of work was written."""


class DeadLetterRetryError(AuraError, RuntimeError):
    """A dead-letter retry stopped part way because the database failed (a lost connection, a
    disk error: see :func:`aura.sql.is_database_error`).

    ``report`` (a :class:`~aura.dead_letters.RetryReport`) is what it did before: those letters
    are settled as it says. The letters it had not reached are still dead letters, untouched;
    the message says what became of the one in progress. The database's own error is the
    ``__cause__``.
    """

    def __init__(self, message: str, *, report: Any) -> None:  # a RetryReport: no import here
        super().__init__(message)
        self.report = report


class HandlerTimeoutError(AuraError, TimeoutError):
    """An async handler ran longer than the bus's ``handler_timeout``; it was cancelled."""


class UndeclaredEventError(EventDeliveryError):
    """A module published an event type it did not declare with ``module.publishes(...)``."""


# --- services, registry and container -----------------------------------------------------------


class ServiceNotAvailableError(AuraError, LookupError):
    """A service cannot be obtained from the registry: unknown, or its construction failed."""


class ServiceBusyError(ServiceNotAvailableError):
    """A timed call was refused at once: every worker thread of the service still runs a call
    that timed out (the gateway answers 503, as for any unavailable service)."""


class DuplicateServiceError(AuraError, ValueError):
    """A service name is registered twice in one module."""


class ContractViolationError(AuraError, TypeError):
    """A service class does not implement its declared contract."""


class ContainerError(AuraError, ValueError):
    """A container registration or lookup is malformed."""


class UnknownServiceError(ContainerError, LookupError):
    """A container key has no registration."""


class CircularDependencyError(ContainerError):
    """The dependency graph has a cycle; the message shows it as ``a -> b -> a``."""


class LifetimeMismatchError(ContainerError):
    """A longer-lived service depends on a shorter-lived one (e.g. a singleton on a scoped one)."""


class DisposalError(AuraError, RuntimeError):
    """One or more disposers failed while a container or scope closed.

    ``errors`` holds every exception raised, in disposal order; none is swallowed.
    """

    def __init__(self, message: str, errors: list[BaseException]) -> None:
        super().__init__(message)
        self.errors = errors


# --- modules and the platform ------------------------------------------------------------------


class ModuleDefinitionError(AuraError, ValueError):
    """Modules cannot be assembled: unknown or missing dependency, cycle, duplicate, bad hook."""


# --- resilience ---------------------------------------------------------------------------------


class CircuitBreakerOpenError(AuraError, RuntimeError):
    """A call was refused because its circuit breaker is open.

    ``breaker_name`` names the breaker; ``retry_after`` is the number of seconds until it lets a
    trial call through, ``math.inf`` when no time is promised: the breaker was forced open, or
    the error was raised without one. It can be raised bare, as the seed's breaker does
    (``raise CircuitBreakerOpenError()``): the message then says only that the breaker is open,
    ``breaker_name`` is ``None`` and ``retry_after`` is ``math.inf``, so that the HTTP gateway
    sends no ``Retry-After`` it cannot keep.
    """

    def __init__(
        self,
        message: str = "Circuit breaker is open; the call was refused.",
        *,
        breaker_name: str | None = None,
        retry_after: float = math.inf,
    ) -> None:
        super().__init__(message)
        self.breaker_name = breaker_name
        self.retry_after = retry_after


class ServiceTimeoutError(AuraError, TimeoutError):
    """A cross-module service call took longer than its policy allows."""


# --- access --------------------------------------------------------------------------------------


class AuthenticationError(AuraError, PermissionError):
    """A request's credentials are missing or not valid (HTTP 401).

    ``reason`` is a short code for the ``WWW-Authenticate`` header (``invalid_token`` when a
    token was given and refused, ``None`` when none was given, as RFC 6750 asks).
    """

    def __init__(self, message: str, *, reason: str | None = "invalid_token") -> None:
        super().__init__(message)
        self.reason = reason


class AccessDeniedError(AuraError, PermissionError):
    """An authenticated principal may not do what it asked (HTTP 403, or 404 when hidden).

    ``hidden`` is true when the refusal concerns another person's object, whose existence the
    answer must not reveal: the gateway then answers 404, exactly as for a missing object.
    """

    def __init__(self, message: str, *, hidden: bool = False) -> None:
        super().__init__(message)
        self.hidden = hidden


class RateLimitedError(AuraError, RuntimeError):
    """A client sent more requests to a rate-limited route than its limit allows (HTTP 429).

    ``retry_after`` is the number of whole seconds until the next request is counted again.
    """

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --- the test harness ---------------------------------------------------------------------------


class FakeNotConfiguredError(AuraError, NotImplementedError):
    """A recording fake's method was called before the test said what it answers."""


class OverrideError(ContainerError):
    """A replacement cannot take effect (a key or service that is not there, or one in use)."""


class ExpectationTimeoutError(AuraError, AssertionError):
    """A scenario waited for an event or a state that did not come within its timeout.

    It is an ``AssertionError``, so pytest reports the test as failed, not as an error.
    """

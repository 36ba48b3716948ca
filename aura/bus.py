"""The inter-module event bus: subscribe, publish, isolated delivery and dead letters.

Delivery is breadth-first: events published by a handler are queued and delivered after the
current event's handlers finish, inheriting its correlation id. A failing handler never stops the
others; its failure is logged and kept as a dead letter that :meth:`EventBus.retry_failed` can
redeliver.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import inspect
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from aura import context as _context
from aura import introspection
from aura.events import (
    Event,
    EventCatalog,
    EventContract,
    FrozenDict,
    build_metadata,
    default_catalog,
    freeze_json,
)
from aura.exceptions import (
    ConfigurationError,
    EventDeliveryError,
    EventValidationError,
    HandlerSignatureError,
    HandlerTimeoutError,
    InvalidNameError,
    UndeclaredEventError,
)
from aura.ids import new_id
from aura.injection import Bound
from aura.naming import check_event_type, check_module_name, check_pattern, pattern_matches

__all__ = [
    "BusObserver",
    "DeadLetter",
    "Delivery",
    "DeliveryJournal",
    "EventBus",
    "FailedEventStore",
    "InMemoryFailedEventStore",
    "ResubmitReport",
    "RetryPolicy",
    "RetryReport",
    "Subscription",
    "TransactionSource",
]

logger = logging.getLogger("aura.bus")

Handler = Callable[[Any], Any]


class Subscription:
    """One handler subscribed to an event type or pattern; :meth:`cancel` removes it."""

    __slots__ = (
        "_bus",
        "_deliver",
        "active",
        "handler",
        "handler_name",
        "idempotent",
        "is_async",
        "pattern",
        "receives",
        "subscriber_module",
    )

    def __init__(
        self,
        bus: EventBus,
        pattern: str,
        handler: Handler,
        subscriber_module: str,
        deliver: Callable[[Event], Any],
        receives: str,
        is_async: bool,
        idempotent: bool = False,
    ) -> None:
        self._bus = bus
        self.idempotent = idempotent
        self.pattern = pattern
        self.handler = handler
        self.subscriber_module = subscriber_module
        self.handler_name = _qualified_name(handler)
        self.receives = receives
        self.is_async = is_async
        self._deliver = deliver
        self.active = True

    def matches(self, event_type: str) -> bool:
        """Tell whether this subscription receives events of ``event_type``."""
        return pattern_matches(self.pattern, event_type)

    def cancel(self) -> None:
        """Stop delivering to this handler; safe during a publish and when called twice."""
        self._bus._remove(self)

    def __repr__(self) -> str:
        state = "" if self.active else ", cancelled"
        return (
            f"Subscription({self.pattern!r} -> {self.subscriber_module}:{self.handler_name}{state})"
        )


class Delivery(NamedTuple):
    """The outcome of delivering one event to one subscriber, as seen by observers.

    A named tuple: immutable, and cheap enough to build once per delivery while recording.
    """

    event: Event
    subscriber_module: str
    handler_name: str
    error: BaseException | None
    duration: float

    @property
    def succeeded(self) -> bool:
        """Whether the handler returned without raising."""
        return self.error is None


class BusObserver(Protocol):
    """Sees every published event and every delivery outcome of a bus."""

    def on_published(self, event: Event) -> None:
        """Called once per accepted event, before any handler runs."""

    def on_delivered(self, delivery: Delivery) -> None:
        """Called after each handler ran, with its outcome and duration."""


class DeliveryJournal(Protocol):
    """Makes delivery durable: records accepted events and each subscriber's progress.

    ``aura.store.DurableJournal`` implements it on SQLite (the transactional outbox).
    """

    def accepted(self, event: Event, route: tuple[Subscription, ...]) -> None:
        """Record the event and one pending publication per subscriber, atomically."""

    def delivering(self, event: Event, subscription: Subscription) -> AbstractContextManager[bool]:
        """Surround one delivery; yield ``False`` to skip it (already handled)."""

    def incomplete(self, older_than: timedelta) -> list[tuple[Event, str, str]]:
        """Return ``(event, module, handler)`` of publications not completed in time."""


class TransactionSource(Protocol):
    """A database whose open transaction defers delivery until it commits."""

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread is inside a transaction."""

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the current transaction commits."""


@dataclasses.dataclass(frozen=True, slots=True)
class DeadLetter:
    """An event that one subscriber failed to handle, kept for inspection and retry."""

    id: str
    event: Event
    subscriber_module: str
    handler_name: str
    error_type: str
    error_message: str
    traceback: str
    attempts: int
    first_failed_at: datetime
    last_failed_at: datetime

    def describe(self) -> str:
        """Return one line naming the event, the subscriber and the error."""
        return (
            f"{self.subscriber_module}:{self.handler_name} failed on {self.event.event_type!r} "
            f"(event {self.event.event_id}, {self.attempts} attempt"
            f"{'s' if self.attempts != 1 else ''}): {self.error_type}: {self.error_message}"
        )


class FailedEventStore(Protocol):
    """Where a bus keeps its dead letters (in memory by default; durable stores implement it)."""

    def add(self, letter: DeadLetter) -> None:
        """Keep a new dead letter."""

    def replace(self, letter: DeadLetter) -> None:
        """Replace the dead letter with the same id (after a failed retry)."""

    def remove(self, letter_id: str) -> None:
        """Drop a dead letter (after a successful retry)."""

    def list(self) -> list[DeadLetter]:
        """Return every dead letter, oldest first."""


class InMemoryFailedEventStore:
    """A thread-safe, in-memory :class:`FailedEventStore`."""

    def __init__(self) -> None:
        self._letters: dict[str, DeadLetter] = {}
        self._lock = threading.Lock()

    def add(self, letter: DeadLetter) -> None:
        """Keep a new dead letter."""
        with self._lock:
            self._letters[letter.id] = letter

    def replace(self, letter: DeadLetter) -> None:
        """Replace the dead letter with the same id."""
        with self._lock:
            if letter.id in self._letters:
                self._letters[letter.id] = letter

    def remove(self, letter_id: str) -> None:
        """Drop a dead letter; unknown ids are ignored."""
        with self._lock:
            self._letters.pop(letter_id, None)

    def list(self) -> list[DeadLetter]:
        """Return every dead letter, oldest first."""
        with self._lock:
            return list(self._letters.values())


@dataclasses.dataclass(frozen=True, slots=True)
class ResubmitReport:
    """What :meth:`EventBus.resubmit_incomplete` did with each unfinished publication."""

    delivered: int
    failed: int
    unroutable: tuple[tuple[str, str, str], ...]
    """``(event_id, module, handler)`` of publications whose subscriber is gone; kept."""


@dataclasses.dataclass(frozen=True, slots=True)
class RetryReport:
    """What :meth:`EventBus.retry_failed` did with each dead letter."""

    succeeded: tuple[DeadLetter, ...]
    failed: tuple[DeadLetter, ...]
    unroutable: tuple[DeadLetter, ...]
    """Dead letters whose subscriber is no longer subscribed; they are kept."""
    waiting: tuple[DeadLetter, ...] = ()
    """Dead letters the retry policy holds back: not due yet, or out of attempts; kept."""


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a dead letter may be retried: at most ``max_attempts`` attempts in all, the n-th
    retry waiting ``backoff * multiplier ** (n - 1)`` seconds after the last failure."""

    max_attempts: int = 5
    backoff: float = 0.0
    multiplier: float = 2.0

    def __post_init__(self) -> None:
        if type(self.max_attempts) is not int or self.max_attempts < 1:
            raise ConfigurationError(
                f"max_attempts must be an int of at least 1, got {self.max_attempts!r}."
            )
        for name in ("backoff", "multiplier"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ConfigurationError(f"{name} must be a number of at least 0, got {value!r}.")

    def due(self, letter: DeadLetter, now: datetime) -> bool:
        """Whether ``letter`` may be retried at ``now``."""
        if letter.attempts >= self.max_attempts:
            return False
        wait = self.backoff * self.multiplier ** (letter.attempts - 1)
        return now >= letter.last_failed_at + timedelta(seconds=wait)


class _Dispatch:
    """The queue of one publish in progress, in one thread or task."""

    __slots__ = ("active", "bus", "chain", "is_async", "queue", "replaying")

    def __init__(self, bus: EventBus, is_async: bool) -> None:
        self.bus = bus
        self.is_async = is_async
        self.queue: deque[tuple[Event, tuple[str, ...], tuple[Subscription, ...]]] = deque()
        self.chain: tuple[str, ...] = ()
        self.active = True
        self.replaying = False


_Item = tuple[Event, tuple[str, ...], tuple["Subscription", ...]]
_new_tuple: Any = tuple.__new__

_dispatch: ContextVar[_Dispatch | None] = ContextVar("aura_dispatch", default=None)


class EventBus:
    """Publish/subscribe between modules, with contracts, isolation and breadth-first delivery.

    ``catalog`` holds the event contracts that published data is validated against (the
    process-wide :data:`aura.events.default_catalog` by default); ``failed_store`` keeps dead
    letters (in memory by default); a chain of events published by handlers deeper than
    ``max_chain_depth`` is refused, and so is data with more than ``max_event_size`` characters
    of text. An ``async`` handler running longer than ``handler_timeout`` seconds is cancelled
    and kept as a dead letter (a synchronous handler cannot be interrupted in Python).
    ``journal`` makes delivery durable (see :mod:`aura.store`); with ``transactions``, events
    published inside an open transaction are delivered once it commits.
    """

    def __init__(
        self,
        *,
        catalog: EventCatalog | None = None,
        failed_store: FailedEventStore | None = None,
        max_chain_depth: int = 64,
        journal: DeliveryJournal | None = None,
        transactions: TransactionSource | None = None,
        max_event_size: int | None = 1_048_576,
        handler_timeout: float | None = None,
    ) -> None:
        if type(max_chain_depth) is not int or max_chain_depth < 1:
            raise ConfigurationError(
                f"max_chain_depth must be an int of at least 1, got {max_chain_depth!r}. "
                "Use the default of 64 unless handlers legitimately chain deeper."
            )
        self.catalog = catalog if catalog is not None else default_catalog
        self.failed_store: FailedEventStore = (
            failed_store if failed_store is not None else InMemoryFailedEventStore()
        )
        self.max_chain_depth = max_chain_depth
        if max_event_size is not None and (type(max_event_size) is not int or max_event_size < 1):
            raise ConfigurationError(
                f"max_event_size must be a positive number of characters or None, got "
                f"{max_event_size!r}."
            )
        if handler_timeout is not None and (
            isinstance(handler_timeout, bool)
            or not isinstance(handler_timeout, int | float)
            or handler_timeout <= 0
        ):
            raise ConfigurationError(
                f"handler_timeout must be a positive number of seconds or None, got "
                f"{handler_timeout!r}."
            )
        self.max_event_size = max_event_size
        self.handler_timeout = handler_timeout
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        self._routes: dict[str, tuple[tuple[Subscription, ...], bool]] = {}
        self._observers: tuple[BusObserver, ...] = ()
        self._publishers: dict[str, tuple[str, ...]] = {}
        self._allowed: set[tuple[str, str]] = set()
        if journal is not None and transactions is None:
            raise ConfigurationError(
                "A bus with a journal needs transactions= (the journal's database): events a "
                "handler publishes must wait for its delivery to commit. Pass "
                "EventBus(journal=..., transactions=database)."
            )
        self.journal = journal
        self.transactions = transactions
        self._tasks: set[asyncio.Task[None]] = set()

    # --- subscribing ----------------------------------------------------------------------------

    def subscribe(
        self,
        event_type: str,
        handler: Handler,
        subscriber_module: str,
        *,
        idempotent: bool = False,
    ) -> Subscription:
        """Call ``handler`` for each event matching ``event_type`` (a type or a pattern).

        How the handler is called is decided here, once: a parameter annotated ``Event`` gets
        the envelope, one annotated with a contract class gets an instance of it, anything else
        gets the event's ``data`` (the seed's form). ``async def`` handlers need
        :meth:`apublish`. ``idempotent=True`` (with a durable journal) records each handled
        event id, so a resubmitted event is not handled twice.
        """
        check_pattern(event_type)
        check_module_name(subscriber_module, role="subscriber module")
        deliver, receives, is_async = self._plan_delivery(event_type, handler)
        subscription = Subscription(
            self, event_type, handler, subscriber_module, deliver, receives, is_async, idempotent
        )
        with self._lock:
            self._subscriptions = [*self._subscriptions, subscription]
            self._routes = {}
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            subscription.active = False
            self._subscriptions = [s for s in self._subscriptions if s is not subscription]
            self._routes = {}

    def subscriptions(self, event_type: str | None = None) -> list[Subscription]:
        """Return the active subscriptions in order; with ``event_type``, those receiving it."""
        if event_type is None:
            return list(self._subscriptions)
        return list(self._route(event_type)[0])

    def _route(self, event_type: str) -> tuple[tuple[Subscription, ...], bool]:
        route = self._routes.get(event_type)
        if route is None:
            with self._lock:
                matched = tuple(s for s in self._subscriptions if s.matches(event_type))
                route = (matched, any(s.is_async for s in matched))
                self._routes[event_type] = route
        return route

    def _plan_delivery(
        self, event_type: str, handler: Handler
    ) -> tuple[Callable[[Event], Any], str, bool]:
        if not callable(handler):
            raise HandlerSignatureError(
                f"Handler for {event_type!r} must be callable, got {type(handler).__name__} "
                f"({handler!r}). Pass a function that takes the event data."
            )
        is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004  # an object with async __call__
        )
        parameter = _single_parameter(handler, event_type)
        annotation = _annotation_of(handler, parameter)
        deliver: Callable[[Event], Any]
        if annotation is Event:
            deliver, receives = handler, "event"
        elif isinstance(annotation, type) and dataclasses.is_dataclass(annotation):
            contract = self.catalog.for_class(annotation)
            if contract is None:
                raise HandlerSignatureError(
                    f"Handler {_qualified_name(handler)} for {event_type!r} is annotated with "
                    f"{annotation.__qualname__}, which is not a registered event contract. "
                    "Decorate it with @event_contract(...), or annotate the parameter as dict."
                )
            if "*" not in event_type and contract.event_type != event_type:
                raise HandlerSignatureError(
                    f"Handler {_qualified_name(handler)} subscribes to {event_type!r} but is "
                    f"annotated with {annotation.__qualname__}, the contract of "
                    f"{contract.event_type!r}. Annotate it with the contract of {event_type!r}."
                )
            deliver, receives = _contract_deliverer(handler, contract), "contract"
        else:
            deliver, receives = _data_deliverer(handler), "data"
        if is_async and self.handler_timeout is not None:
            deliver = _timed(deliver, self.handler_timeout, _qualified_name(handler))
        return deliver, receives, is_async

    # --- publishers -----------------------------------------------------------------------------

    def declare_publisher(self, module_name: str, event_types: tuple[str, ...]) -> None:
        """Restrict ``module_name`` to publishing ``event_types`` (types or patterns).

        Modules never declared are not restricted; a declared module publishing anything else is
        refused with :class:`UndeclaredEventError`.
        """
        check_module_name(module_name)
        patterns = tuple(check_pattern(event_type) for event_type in event_types)
        with self._lock:
            self._publishers = {
                **self._publishers,
                module_name: (*self._publishers.get(module_name, ()), *patterns),
            }
            self._allowed = set()

    def _check_declared(self, event_type: str | object, source_module: str | None) -> None:
        if isinstance(event_type, str):
            name: str | None = check_event_type(event_type)
        else:
            contract = self.catalog.for_class(type(event_type))
            name = contract.event_type if contract is not None else None
        if name is not None:
            self._check_publisher(check_module_name(source_module, role="source module"), name)

    def _check_publisher(self, source_module: str, event_type: str) -> None:
        if (source_module, event_type) in self._allowed:
            return
        declared = self._publishers.get(source_module)
        if declared is None:
            return
        if not any(pattern_matches(pattern, event_type) for pattern in declared):
            raise UndeclaredEventError(
                f"Module {source_module!r} published {event_type!r}, which it does not declare. "
                f"It declares: {', '.join(declared) or 'nothing'}. Add "
                f"{source_module}.publishes({event_type!r}) to the module's declaration."
            )
        self._allowed.add((source_module, event_type))

    # --- observers ------------------------------------------------------------------------------

    def add_observer(self, observer: BusObserver) -> Callable[[], None]:
        """Attach ``observer``; return a function that detaches it."""
        with self._lock:
            self._observers = (*self._observers, observer)

        def remove() -> None:
            with self._lock:
                self._observers = tuple(o for o in self._observers if o is not observer)

        return remove

    # --- publishing -----------------------------------------------------------------------------

    def publish(
        self,
        event_type: str | object,
        data: Mapping[str, Any] | None = None,
        source_module: str | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> Event:
        """Publish an event and deliver it to every subscriber; return its envelope.

        Call it as the seed does, ``publish("therapy_session.scheduled", {...}, "mentalhealth")``,
        or with a contract instance, ``publish(TherapySessionScheduledEvent(...))``:
        ``source_module`` defaults to the module whose code is running (a handler, a service
        called through the registry, a route, a start hook). Invalid data raises
        :class:`EventValidationError` and nothing is delivered; a failing handler is kept as a
        dead letter and does not raise.
        """
        event, chain, route, dispatch = self._accept(
            event_type, data, source_module, metadata, is_async=False
        )
        in_transaction = self.transactions is not None and self.transactions.in_transaction
        if dispatch is not None:
            self._enqueue(dispatch, (event, chain, route), in_transaction)
        elif in_transaction:
            assert self.transactions is not None  # in_transaction says so
            self.transactions.on_commit(functools.partial(self._run, event, chain, route))
        else:
            self._run(event, chain, route)
        return event

    def _enqueue(self, dispatch: _Dispatch, item: _Item, in_transaction: bool) -> None:
        """Queue an event a handler published; inside a transaction, only once it commits."""
        if dispatch.replaying:
            return  # replay rebuilds read models: what handlers publish then is not new
        if in_transaction:
            assert self.transactions is not None  # in_transaction says so
            self.transactions.on_commit(functools.partial(dispatch.queue.append, item))
        else:
            dispatch.queue.append(item)

    async def apublish(
        self,
        event_type: str | object,
        data: Mapping[str, Any] | None = None,
        source_module: str | None = None,
        *,
        metadata: Mapping[str, Any] | None = None,
    ) -> Event:
        """Publish like :meth:`publish`, awaiting ``async def`` handlers in subscription order.

        Inside an open database transaction, delivery is scheduled on the running event loop
        once the transaction commits.
        """
        event, chain, route, dispatch = self._accept(
            event_type, data, source_module, metadata, is_async=True
        )
        in_transaction = self.transactions is not None and self.transactions.in_transaction
        if dispatch is not None:
            self._enqueue(dispatch, (event, chain, route), in_transaction)
        elif in_transaction:
            assert self.transactions is not None  # in_transaction says so
            loop = asyncio.get_running_loop()
            self.transactions.on_commit(
                lambda: self._keep(loop.create_task(self._arun(event, chain, route)))
            )
        else:
            await self._arun(event, chain, route)
        return event

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _run(self, event: Event, chain: tuple[str, ...], route: tuple[Subscription, ...]) -> None:
        """Deliver ``event``, then what its handlers published, breadth-first."""
        dispatch = _Dispatch(self, is_async=False)
        token = _dispatch.set(dispatch)
        try:
            item: _Item | None = (event, chain, route)
            while item is not None:
                self._deliver_sync(dispatch, *item)
                item = dispatch.queue.popleft() if dispatch.queue else None
        finally:
            dispatch.active = False
            _dispatch.reset(token)

    async def _arun(
        self, event: Event, chain: tuple[str, ...], route: tuple[Subscription, ...]
    ) -> None:
        dispatch = _Dispatch(self, is_async=True)
        token = _dispatch.set(dispatch)
        try:
            item: _Item | None = (event, chain, route)
            while item is not None:
                await self._deliver_async(dispatch, *item)
                item = dispatch.queue.popleft() if dispatch.queue else None
        finally:
            dispatch.active = False
            _dispatch.reset(token)

    def _accept(
        self,
        event_type: str | object,
        data: Mapping[str, Any] | None,
        source_module: str | None,
        metadata: Mapping[str, Any] | None,
        *,
        is_async: bool,
    ) -> tuple[Event, tuple[str, ...], tuple[Subscription, ...], _Dispatch | None]:
        """Validate and build the envelope; refuse before anything is delivered or observed."""
        if source_module is None:
            source_module = _context.current_module()
            if source_module is None:
                raise InvalidNameError(
                    "publish was called outside any module without source_module: name the "
                    "publishing module, publish(event, source_module='orders'), or publish from "
                    "a module's code (a handler, a service, a route), where it is the default."
                )
        if self._publishers:  # an undeclared event is refused before its data is looked at
            self._check_declared(event_type, source_module)
        name, frozen = self._normalise(event_type, data, source_module)
        check_module_name(source_module, role="source module")
        assert source_module is not None  # checked just above; narrows for mypy
        dispatch = _dispatch.get()
        if dispatch is not None and (dispatch.bus is not self or not dispatch.active):
            dispatch = None
        chain = (*dispatch.chain, name) if dispatch is not None else (name,)
        if len(chain) > self.max_chain_depth:
            raise EventDeliveryError(
                f"Event chain too deep: publishing {name!r} would make a chain of "
                f"{len(chain)} events (limit {self.max_chain_depth}): {' -> '.join(chain)}. "
                "A handler probably republishes what it handles; break the cycle, or raise "
                "max_chain_depth if the chain is intended."
            )
        route, has_async = self._route(name)
        runs_async = dispatch.is_async if dispatch is not None else is_async
        if has_async and not runs_async:
            handlers = ", ".join(
                f"{s.subscriber_module}:{s.handler_name}" for s in route if s.is_async
            )
            raise EventDeliveryError(
                f"Event {name!r} has async subscribers ({handlers}); publish it with "
                f"'await bus.apublish(...)' instead of 'bus.publish(...)'."
            )
        event_id = new_id()
        event = Event(
            event_id=event_id,
            timestamp=datetime.now(UTC),
            source_module=source_module,
            event_type=name,
            data=frozen,
            metadata=_metadata_for(metadata, event_id),
        )
        if dispatch is not None and dispatch.replaying:
            return event, chain, route, dispatch  # replayed handlers' events are not new
        if self.journal is not None:
            self.journal.accepted(event, route)
        if self._observers:
            if self.transactions is not None and self.transactions.in_transaction:
                # Observers learn of it only if it commits: a rolled-back event never happened.
                self.transactions.on_commit(functools.partial(self._announce, event))
            else:
                self._announce(event)
        return event, chain, route, dispatch

    def _announce(self, event: Event) -> None:
        for observer in self._observers:
            observer.on_published(event)

    def _normalise(
        self, event_type: str | object, data: Mapping[str, Any] | None, source_module: str | None
    ) -> tuple[str, FrozenDict]:
        if isinstance(event_type, str):
            check_event_type(event_type)
            if not isinstance(data, Mapping):
                raise EventValidationError(
                    f"Event data for {event_type!r} must be a dict, got {type(data).__name__}. "
                    "Call publish(event_type, data, source_module)."
                )
            frozen: FrozenDict = freeze_json(data, max_size=self.max_event_size)
            contract = self.catalog.get(event_type)
            if contract is not None:
                contract.validate(frozen)
            elif self.catalog.strict:
                raise EventValidationError(
                    f"Event {event_type!r} has no contract, and this bus's catalog is strict. "
                    f"Register one with @event_contract({event_type!r}) or use an open catalog. "
                    f"Known types: {', '.join(self.catalog.types()) or 'none'}."
                )
            return event_type, frozen
        contract = self.catalog.for_class(type(event_type))
        if contract is None:
            raise EventValidationError(
                f"Cannot publish {type(event_type).__name__}: it is neither an event type "
                "string nor an instance of a registered event contract. Decorate its class "
                "with @event_contract(...) or call publish(event_type, data, source_module)."
            )
        if data is not None:
            raise EventValidationError(
                f"Publishing a {type(event_type).__name__} instance takes no separate data; "
                "call publish(instance, source_module=...)."
            )
        frozen = freeze_json(contract.dump(event_type), max_size=self.max_event_size)
        contract.validate(frozen)
        return contract.event_type, frozen

    # --- delivering -----------------------------------------------------------------------------

    def _deliver_sync(
        self,
        dispatch: _Dispatch,
        event: Event,
        chain: tuple[str, ...],
        route: tuple[Subscription, ...],
    ) -> None:
        dispatch.chain = chain
        observers = self._observers
        event_token = _context._current_event.set(event)
        cid_token = _context._correlation_id.set(event.correlation_id)
        try:
            for subscription in route:
                if not subscription.active:
                    continue
                module_token = _context._current_module.set(subscription.subscriber_module)
                started = time.perf_counter() if observers else 0.0
                try:
                    if self.journal is None:
                        subscription._deliver(event)
                    else:
                        self._journaled(event, subscription)
                except Exception as exc:
                    self._failed(event, subscription, exc, started, observers)
                else:
                    if observers:
                        self._delivered(event, subscription, None, started, observers)
                finally:
                    _context._current_module.reset(module_token)
        finally:
            _context._correlation_id.reset(cid_token)
            _context._current_event.reset(event_token)

    async def _deliver_async(
        self,
        dispatch: _Dispatch,
        event: Event,
        chain: tuple[str, ...],
        route: tuple[Subscription, ...],
    ) -> None:
        dispatch.chain = chain
        observers = self._observers
        event_token = _context._current_event.set(event)
        cid_token = _context._correlation_id.set(event.correlation_id)
        try:
            for subscription in route:
                if not subscription.active:
                    continue
                module_token = _context._current_module.set(subscription.subscriber_module)
                started = time.perf_counter() if observers else 0.0
                try:
                    if self.journal is None:
                        result = subscription._deliver(event)
                        if subscription.is_async:
                            await result
                    else:
                        await self._ajournaled(event, subscription)
                except Exception as exc:
                    self._failed(event, subscription, exc, started, observers)
                else:
                    if observers:
                        self._delivered(event, subscription, None, started, observers)
                finally:
                    _context._current_module.reset(module_token)
        finally:
            _context._correlation_id.reset(cid_token)
            _context._current_event.reset(event_token)

    def _journaled(self, event: Event, subscription: Subscription) -> None:
        """Deliver in the journal's unit of work.

        What the handler publishes inside it waits for its commit (see ``_enqueue``), so a
        failed delivery takes its events along with its writes.
        """
        assert self.journal is not None  # only called with a journal
        with self.journal.delivering(event, subscription) as run:
            if run:
                subscription._deliver(event)

    async def _ajournaled(self, event: Event, subscription: Subscription) -> None:
        assert self.journal is not None  # only called with a journal
        with self.journal.delivering(event, subscription) as run:
            if run:
                result = subscription._deliver(event)
                if subscription.is_async:
                    await result

    def _delivered(
        self,
        event: Event,
        subscription: Subscription,
        error: BaseException | None,
        started: float,
        observers: tuple[BusObserver, ...],
    ) -> None:
        # tuple.__new__ skips the named tuple's Python-level __new__: this runs per delivery.
        delivery = _new_tuple(
            Delivery,
            (
                event,
                subscription.subscriber_module,
                subscription.handler_name,
                error,
                time.perf_counter() - started,
            ),
        )
        for observer in observers:
            observer.on_delivered(delivery)

    def _failed(
        self,
        event: Event,
        subscription: Subscription,
        exc: Exception,
        started: float,
        observers: tuple[BusObserver, ...],
    ) -> None:
        logger.error(
            "Handler %s:%s failed on event %s (%s): %s: %s",
            subscription.subscriber_module,
            subscription.handler_name,
            event.event_type,
            event.event_id,
            type(exc).__name__,
            exc,
            exc_info=exc,
            extra={
                "event_id": event.event_id,
                "event_type": event.event_type,
                "subscriber_module": subscription.subscriber_module,
                "handler": subscription.handler_name,
            },
        )
        now = datetime.now(UTC)
        self.failed_store.add(
            DeadLetter(
                id=new_id(),
                event=event,
                subscriber_module=subscription.subscriber_module,
                handler_name=subscription.handler_name,
                error_type=type(exc).__qualname__,
                error_message=str(exc),
                traceback="".join(traceback.format_exception(exc)),
                attempts=1,
                first_failed_at=now,
                last_failed_at=now,
            )
        )
        if observers:
            self._delivered(event, subscription, exc, started, observers)

    # --- dead letters ---------------------------------------------------------------------------

    def failed_events(self) -> list[DeadLetter]:
        """Return the dead letters: each event a subscriber failed to handle, oldest first."""
        return self.failed_store.list()

    def retry_failed(self, policy: RetryPolicy | None = None) -> RetryReport:
        """Redeliver each dead letter to the one subscriber that failed; drop it on success.

        With a ``policy``, only letters it finds due are retried. Events the retried handlers
        publish are delivered as usual. Dead letters of async handlers need
        :meth:`aretry_failed`.
        """
        succeeded, failed, unroutable = [], [], []
        letters, waiting = self._due(policy)
        for letter in letters:  # refuse before retrying anything, so nothing is half done
            subscription = self._subscription_for(letter)
            if subscription is not None and subscription.is_async:
                raise EventDeliveryError(
                    f"Dead letter {letter.id} is for the async handler "
                    f"{letter.subscriber_module}:{letter.handler_name}; retry with "
                    "'await bus.aretry_failed()'."
                )
        for letter in letters:
            subscription = self._subscription_for(letter)
            if subscription is None:
                unroutable.append(letter)
                continue
            started = time.perf_counter()
            try:
                self._redeliver(letter.event, subscription)
            except Exception as exc:
                failed.append(self._failed_again(letter, exc))
                self._observe_retry(letter, subscription, exc, started)
            else:
                self.failed_store.remove(letter.id)
                succeeded.append(letter)
                self._observe_retry(letter, subscription, None, started)
        return RetryReport(tuple(succeeded), tuple(failed), tuple(unroutable), waiting)

    async def aretry_failed(self, policy: RetryPolicy | None = None) -> RetryReport:
        """Redeliver dead letters like :meth:`retry_failed`, awaiting async handlers."""
        succeeded, failed, unroutable = [], [], []
        letters, waiting = self._due(policy)
        for letter in letters:
            subscription = self._subscription_for(letter)
            if subscription is None:
                unroutable.append(letter)
                continue
            started = time.perf_counter()
            try:
                await self._aredeliver(letter.event, subscription)
            except Exception as exc:
                failed.append(self._failed_again(letter, exc))
                self._observe_retry(letter, subscription, exc, started)
            else:
                self.failed_store.remove(letter.id)
                succeeded.append(letter)
                self._observe_retry(letter, subscription, None, started)
        return RetryReport(tuple(succeeded), tuple(failed), tuple(unroutable), waiting)

    def _observe_retry(
        self,
        letter: DeadLetter,
        subscription: Subscription,
        error: BaseException | None,
        started: float,
    ) -> None:
        """Tell observers how a retried delivery went, as for a first delivery."""
        if self._observers:
            self._delivered(letter.event, subscription, error, started, self._observers)

    def _due(self, policy: RetryPolicy | None) -> tuple[list[DeadLetter], tuple[DeadLetter, ...]]:
        letters = self.failed_store.list()
        if policy is None:
            return letters, ()
        now = datetime.now(UTC)
        return (
            [letter for letter in letters if policy.due(letter, now)],
            tuple(letter for letter in letters if not policy.due(letter, now)),
        )

    def purge_failed(
        self, *, letter_ids: Iterable[str] | None = None, older_than: timedelta | None = None
    ) -> int:
        """Drop dead letters (the given ids, those last failed ``older_than`` ago, or all);
        return how many were dropped."""
        ids = set(letter_ids) if letter_ids is not None else None
        cutoff = datetime.now(UTC) - older_than if older_than is not None else None
        dropped = 0
        for letter in self.failed_store.list():
            if (ids is None or letter.id in ids) and (
                cutoff is None or letter.last_failed_at <= cutoff
            ):
                self.failed_store.remove(letter.id)
                dropped += 1
        return dropped

    def _subscription_for(self, letter: DeadLetter) -> Subscription | None:
        return self._subscription_named(
            letter.event.event_type, letter.subscriber_module, letter.handler_name
        )

    def _subscription_named(
        self, event_type: str, module: str, handler_name: str
    ) -> Subscription | None:
        for subscription in self._route(event_type)[0]:
            if (
                subscription.subscriber_module == module
                and subscription.handler_name == handler_name
            ):
                return subscription
        return None

    def _redeliver(self, event: Event, subscription: Subscription) -> None:
        """Deliver ``event`` to one subscriber again, then what it publishes; errors propagate."""
        dispatch = _Dispatch(self, is_async=False)
        token = _dispatch.set(dispatch)
        try:
            with _context.event_scope(event), _context.module_scope(subscription.subscriber_module):
                if self.journal is None:
                    subscription._deliver(event)
                else:
                    self._journaled(event, subscription)
            while dispatch.queue:
                self._deliver_sync(dispatch, *dispatch.queue.popleft())
        finally:
            dispatch.active = False
            _dispatch.reset(token)

    async def _aredeliver(self, event: Event, subscription: Subscription) -> None:
        dispatch = _Dispatch(self, is_async=True)
        token = _dispatch.set(dispatch)
        try:
            with _context.event_scope(event), _context.module_scope(subscription.subscriber_module):
                if self.journal is None:
                    result = subscription._deliver(event)
                    if subscription.is_async:
                        await result
                else:
                    await self._ajournaled(event, subscription)
            while dispatch.queue:
                await self._deliver_async(dispatch, *dispatch.queue.popleft())
        finally:
            dispatch.active = False
            _dispatch.reset(token)

    def replay(self, event: Event) -> None:
        """Hand a stored event to its current subscribers again, to rebuild a read model.

        Nothing is recorded, journaled or observed, and what the handlers publish meanwhile is
        dropped: a replay re-derives state, it does not make news. A failing handler raises.
        """
        route = self._route(event.event_type)[0]
        asynchronous = [f"{s.subscriber_module}:{s.handler_name}" for s in route if s.is_async]
        if asynchronous:
            raise EventDeliveryError(
                f"Cannot replay {event.event_type!r} synchronously: its subscribers "
                f"{', '.join(asynchronous)} are async. Replay to a handler function instead."
            )
        dispatch = _Dispatch(self, is_async=False)
        dispatch.replaying = True
        token = _dispatch.set(dispatch)
        try:
            with _context.event_scope(event):
                for subscription in route:
                    with _context.module_scope(subscription.subscriber_module):
                        subscription._deliver(event)
        finally:
            dispatch.active = False
            _dispatch.reset(token)

    async def aresubmit_incomplete(self, older_than: timedelta = timedelta(0)) -> ResubmitReport:
        """Resubmit like :meth:`resubmit_incomplete`, awaiting async subscribers too."""
        if self.journal is None:
            return ResubmitReport(0, 0, ())
        delivered = failed = 0
        unroutable: list[tuple[str, str, str]] = []
        for event, module, handler_name in self.journal.incomplete(older_than):
            subscription = self._subscription_named(event.event_type, module, handler_name)
            if subscription is None:
                unroutable.append((event.event_id, module, handler_name))
                continue
            try:
                await self._aredeliver(event, subscription)
            except Exception as exc:
                failed += 1
                self._failed(event, subscription, exc, 0.0, ())
            else:
                delivered += 1
        return ResubmitReport(delivered, failed, tuple(unroutable))

    def resubmit_incomplete(self, older_than: timedelta = timedelta(0)) -> ResubmitReport:
        """Deliver again every publication the journal holds as unfinished (after a crash).

        A failure becomes a dead letter, as in a first delivery. Publications to async
        subscribers are left for :meth:`aresubmit_incomplete` and reported as unroutable here.
        Without a journal there is nothing to resubmit.
        """
        if self.journal is None:
            return ResubmitReport(0, 0, ())
        delivered = failed = 0
        unroutable: list[tuple[str, str, str]] = []
        for event, module, handler_name in self.journal.incomplete(older_than):
            subscription = self._subscription_named(event.event_type, module, handler_name)
            if subscription is None or subscription.is_async:
                unroutable.append((event.event_id, module, handler_name))
                continue
            try:
                self._redeliver(event, subscription)
            except Exception as exc:
                failed += 1
                self._failed(event, subscription, exc, 0.0, ())
            else:
                delivered += 1
        return ResubmitReport(delivered, failed, tuple(unroutable))

    def _failed_again(self, letter: DeadLetter, exc: Exception) -> DeadLetter:
        updated = dataclasses.replace(
            letter,
            error_type=type(exc).__qualname__,
            error_message=str(exc),
            traceback="".join(traceback.format_exception(exc)),
            attempts=letter.attempts + 1,
            last_failed_at=datetime.now(UTC),
        )
        self.failed_store.replace(updated)
        return updated


# --- helpers decided once at subscribe time -----------------------------------------------------


def _qualified_name(handler: object) -> str:
    if isinstance(handler, Bound):
        handler = handler.injection.function
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    module = getattr(handler, "__module__", None) or type(handler).__module__
    return f"{module}.{name}"


def _single_parameter(handler: Handler, event_type: str) -> inspect.Parameter | None:
    if isinstance(handler, Bound):  # injected parameters are the container's, not the event's
        passed = handler.injection.passed
        if len(passed) == 1 and passed[0].kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            return passed[0]
        signature = inspect.Signature(list(passed))
    else:
        try:
            signature = introspection.signature(handler)
        except (TypeError, ValueError):
            return None  # a builtin without a signature: assume it takes the data
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    required = [
        p
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    takes_varargs = any(p.kind is p.VAR_POSITIONAL for p in signature.parameters.values())
    if (
        len(required) > 1
        or (required and required[0].kind is required[0].KEYWORD_ONLY)
        or (not positional and not takes_varargs)
    ):
        raise HandlerSignatureError(
            f"Handler {_qualified_name(handler)} for {event_type!r} has the signature "
            f"{signature}; a handler takes exactly one positional argument (the event data, "
            "the Event, or a contract instance). Give the other parameters defaults."
        )
    return positional[0] if positional else None


def _annotation_of(handler: Handler, parameter: inspect.Parameter | None) -> object:
    if parameter is None or parameter.annotation is parameter.empty:
        return None
    if isinstance(handler, Bound):
        return handler.injection.hints.get(parameter.name, parameter.annotation)
    target = handler if inspect.isroutine(handler) else getattr(handler, "__call__", handler)  # noqa: B004
    try:
        hints = introspection.type_hints(target)
    except Exception:  # an unresolvable forward reference: fall back to the raw annotation
        return parameter.annotation
    return hints.get(parameter.name)


def _timed(
    deliver: Callable[[Event], Any], timeout: float, name: str
) -> Callable[[Event], Awaitable[Any]]:
    async def deliver_in_time(event: Event) -> Any:
        try:
            return await asyncio.wait_for(deliver(event), timeout)
        except TimeoutError:
            raise HandlerTimeoutError(
                f"Handler {name} took longer than {timeout:g} s on {event.event_type!r} "
                f"(event {event.event_id}) and was cancelled. Make it faster, or raise the bus's "
                "handler_timeout."
            ) from None

    return deliver_in_time


def _data_deliverer(handler: Handler) -> Callable[[Event], Any]:
    def deliver(event: Event) -> Any:
        return handler(event.data)

    return deliver


def _contract_deliverer(handler: Handler, contract: EventContract) -> Callable[[Event], Any]:
    def deliver(event: Event) -> Any:
        return handler(contract.instantiate(event.data))

    return deliver


def _metadata_for(metadata: Mapping[str, Any] | None, event_id: str) -> FrozenDict:
    """Build the envelope metadata: correlation from the context, causation from the handler.

    An event that starts a flow (no correlation id in context) takes its own id as the flow's
    correlation id.
    """
    cause = _context._current_event.get()
    causation_id = cause.event_id if cause is not None else None
    if metadata is None:
        correlation_id = _context._correlation_id.get() or event_id
        return FrozenDict(correlation_id=correlation_id, causation_id=causation_id, user_id=None)
    merged = {"causation_id": causation_id, "user_id": None, **metadata}
    if merged.get("correlation_id") is None:
        merged["correlation_id"] = _context._correlation_id.get() or event_id
    return build_metadata(merged)

"""The inter-module event bus: subscribe, route and publish.

Its length (~820 lines) is the bus's public surface: the seed's calls, their async twins, the
dead-letter, replay and resubmission entry points, each a thin call into :mod:`aura.delivery`,
and :class:`BusActivity`, the count of what is in flight that a test waits on.

Subscribing decides once how a handler is called (the data, the envelope or a contract
instance; sync or async; durable when the bus has a journal). Publishing validates the event
against its contract, builds the envelope and hands it to the delivery loop
(:mod:`aura.delivery`): breadth-first, events published by a handler are delivered after the
current event's handlers, inheriting its correlation id. A failing handler never stops the
others; it is kept as a dead letter (:mod:`aura.dead_letters`) that
:meth:`EventBus.retry_dead_letters` can redeliver.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from aura import context as _context
from aura import delivery as _delivery
from aura.clock import RealClock
from aura.dead_letters import (
    DeadLetter,
    DeadLetterStore,
    InMemoryDeadLetterStore,
    RetryPolicy,
    RetryReport,
    purge,
)
from aura.delivery import (
    BusObserver,
    Delivery,
    DeliveryJournal,
    Dispatch,
    ResubmitReport,
    RouteObserver,
    TransactionSource,
    current_dispatch,
)
from aura.events import (
    VERSION_KEY,
    Event,
    EventCatalog,
    FrozenDict,
    build_metadata,
    default_catalog,
    freeze_json,
)
from aura.exceptions import (
    ConfigurationError,
    DuplicateSubscriberError,
    EventDeliveryError,
    EventValidationError,
    HandlerSignatureError,
    InvalidNameError,
    UndeclaredEventError,
)
from aura.handlers import Handler, plan_handler, qualified_name, refuse_deferred
from aura.hooks import Interceptor, Start, compose, end, split, start_failed
from aura.ids import new_id
from aura.naming import (
    check_event_type,
    check_module_name,
    check_pattern,
    pattern_matches,
    patterns_overlap,
)

__all__ = [
    "BusActivity",
    "BusObserver",
    "DeadLetter",
    "DeadLetterStore",
    "Delivery",
    "DeliveryJournal",
    "EventBus",
    "InMemoryDeadLetterStore",
    "ResubmitReport",
    "RetryPolicy",
    "RetryReport",
    "Subscription",
    "TransactionSource",
    "envelope_metadata",
]

logger = logging.getLogger("aura.bus")


class Subscription:
    """One handler subscribed to an event type or pattern; :meth:`cancel` removes it."""

    __slots__ = (
        "_bus",
        "_deliver",
        "_handle",
        "_seq",
        "active",
        "handler",
        "handler_name",
        "idempotent",
        "is_async",
        "pattern",
        "place",
        "receives",
        "retry",
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
        name: str | None = None,
        retry: RetryPolicy | None = None,
        place: str = "",
    ) -> None:
        self._bus = bus
        self.idempotent = idempotent
        self.pattern = pattern
        self.handler = handler
        self.subscriber_module = subscriber_module
        # The subscriber's identity within its module: what the publication registry and the
        # dead letters name, so a retry reaches exactly this subscription.
        self.handler_name = name if name is not None else qualified_name(handler)
        self.retry = retry
        self.place = place  # where subscribe() was called, for collision messages
        self._seq = 0  # the bus's subscription order (routes are merged by it)
        self.receives = receives
        self.is_async = is_async
        self._handle = deliver  # calls the handler as planned
        self._deliver = deliver  # the same, inside the journal's unit of work when durable
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


class BusActivity:
    """How busy a bus is: the publishes being delivered now, and when the last one ended.

    :meth:`EventBus.track_activity` makes one. From then on each publish (sync or async,
    with everything its handlers publish), each dead-letter retry and each resubmission is in
    flight from its first delivery to its last. :meth:`wait_idle` blocks until nothing has been
    in flight for a quiet period. Code that waits for news of its own too (a test scenario's
    recorder) holds ``condition``, waits with :meth:`wait` and wakes the waiters with
    :meth:`notify`; the end of each job notifies too.
    """

    __slots__ = ("_ended_at", "_in_flight", "_lock", "_waiting", "condition")

    def __init__(self) -> None:
        self._lock = threading.RLock()  # entered directly on the publish path: C, not Python
        self.condition = threading.Condition(self._lock)
        self._in_flight = 0
        self._waiting = 0
        self._ended_at = RealClock.monotonic()

    def __repr__(self) -> str:
        return f"<BusActivity in_flight={self._in_flight}>"

    @property
    def in_flight(self) -> int:
        """How many publishes (retries, resubmissions) are being delivered now."""
        return self._in_flight

    def began(self) -> None:
        """Count one more delivery job in flight (the bus calls it)."""
        with self._lock:
            self._in_flight += 1

    def ended(self) -> None:
        """Count one delivery job as done and wake the waiters (the bus calls it)."""
        with self._lock:
            self._in_flight -= 1
            self._ended_at = RealClock.monotonic()
            if self._waiting:
                self.condition.notify_all()

    def wait(self, timeout: float) -> None:
        """Block, holding ``condition``, until :meth:`notify` or a job's end, or ``timeout``."""
        self._waiting += 1
        try:
            self.condition.wait(timeout)
        finally:
            self._waiting -= 1

    def notify(self) -> None:
        """Wake every :meth:`wait`, holding ``condition``; nearly free when none waits (a
        Condition's own ``notify_all`` costs a publish a microsecond even then)."""
        if self._waiting:
            self.condition.notify_all()

    def idle_for(self) -> float:
        """Seconds since the last job ended; ``0.0`` while one is in flight."""
        with self.condition:
            if self._in_flight:
                return 0.0
            return RealClock.monotonic() - self._ended_at

    def wait_idle(self, timeout: float, quiet: float = 0.05) -> bool:
        """Block until nothing has been in flight for ``quiet`` seconds; return whether that
        came within ``timeout`` seconds."""
        deadline = RealClock.monotonic() + timeout
        with self.condition:
            while True:
                now = RealClock.monotonic()
                if not self._in_flight and now - self._ended_at >= quiet:
                    return True
                if now >= deadline:
                    return False
                pause = deadline - now
                if not self._in_flight:
                    pause = min(pause, quiet - (now - self._ended_at))
                self.wait(pause)


@contextlib.contextmanager
def _counted(activity: BusActivity | None) -> Iterator[None]:
    """Count a delivery job (a retry, a resubmission) in flight on a tracked bus."""
    if activity is None:
        yield
        return
    activity.began()
    try:
        yield
    finally:
        activity.ended()


def check_limits(
    max_chain_depth: object, max_event_size: object, handler_timeout: object, catalog: object
) -> None:
    """Refuse a wrong limit or catalog of :class:`EventBus` (and of the Platform, which checks
    them before it opens its database) with a :class:`ConfigurationError` naming the fix."""
    if type(max_chain_depth) is not int or max_chain_depth < 1:
        raise ConfigurationError(
            f"max_chain_depth must be an int of at least 1, got {max_chain_depth!r}. "
            "Use the default of 64 unless handlers legitimately chain deeper."
        )
    if max_event_size is not None and (type(max_event_size) is not int or max_event_size < 1):
        raise ConfigurationError(
            f"max_event_size must be a positive number of characters or None, got "
            f"{max_event_size!r}."
        )
    if handler_timeout is not None and (
        isinstance(handler_timeout, bool)
        or not isinstance(handler_timeout, int | float)
        or not handler_timeout > 0  # NaN fails too
    ):
        raise ConfigurationError(
            f"handler_timeout must be a positive number of seconds or None, got "
            f"{handler_timeout!r}."
        )
    if catalog is not None and not isinstance(catalog, EventCatalog):
        raise ConfigurationError(
            f"catalog must be an EventCatalog or None, got {type(catalog).__name__} "
            f"{catalog!r}. Pass EventCatalog() or leave it out for aura.events.default_catalog."
        )


class EventBus:
    """Publish/subscribe between modules, with contracts, isolation and breadth-first delivery.

    ``catalog`` holds the event contracts that published data is validated against (the
    process-wide :data:`aura.events.default_catalog` by default); ``dead_letters`` keeps dead
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
        dead_letters: DeadLetterStore | None = None,
        max_chain_depth: int = 64,
        journal: DeliveryJournal | None = None,
        transactions: TransactionSource | None = None,
        max_event_size: int | None = 1_048_576,
        handler_timeout: float | None = None,
    ) -> None:
        check_limits(max_chain_depth, max_event_size, handler_timeout, catalog)
        self.catalog = catalog if catalog is not None else default_catalog
        self.dead_letter_store: DeadLetterStore = (
            dead_letters if dead_letters is not None else InMemoryDeadLetterStore()
        )
        self.max_chain_depth = max_chain_depth
        self.max_event_size = max_event_size
        self.handler_timeout = handler_timeout
        self._lock = threading.Lock()
        # Every subscription by its order number: dropped in O(1) by cancel(), whatever the size.
        self._subscriptions: dict[int, Subscription] = {}
        self._exact: dict[str, list[Subscription]] = {}  # by event type, in order
        self._patterns = _Named()  # subscriptions with a '*', indexed by their first word
        # (module, name): the subscriptions of that identity, whose patterns never overlap
        self._names: dict[tuple[str, str], _Named] = {}
        self._count = 0
        self._version = 0  # bumped by every subscribe and cancel
        self._sync_keys: tuple[int, tuple[str, ...], tuple[tuple[str, bool], ...]] = (-1, (), ())
        self._routes: dict[str, tuple[tuple[Subscription, ...], bool]] = {}
        # The cached routes' types by (word count, first word): what a pattern's subscribe or
        # cancel drops is found without looking at every cached route (no cliff as types grow).
        self._cached: dict[tuple[int, str], set[str]] = {}
        self._observers: tuple[BusObserver, ...] = ()
        # The observers, whether every one takes raw deliveries, and the one that takes runs of
        # them (alone and raw_routes): one value, so that a delivery loop never reads half of an
        # attaching (see aura.delivery.BusObserver and RouteObserver).
        self._observed: tuple[tuple[BusObserver, ...], bool, RouteObserver | None] = (
            (),
            False,
            None,
        )
        self._publishing: tuple[Callable[..., Any], ...] = ()
        self._delivering: tuple[Callable[..., Any], ...] = ()
        # Each kind's hooks as one start (aura.hooks.compose), None without any.
        self._start_publishing: Start | None = None
        self._start_delivering: Start | None = None
        self._publishers: dict[str, tuple[str, ...]] = {}
        self._allowed: set[tuple[str, str]] = set()
        if journal is not None and transactions is None:
            raise ConfigurationError(
                "A bus with a journal needs transactions= (the journal's database): events a "
                "handler publishes must wait for its delivery to commit. Pass "
                "EventBus(journal=..., transactions=database)."
            )
        self.journal = journal
        # A journal that is not inline leaves every delivery to the workers (aura.publications).
        self._workers_deliver = journal is not None and not getattr(journal, "inline", True)
        self.transactions = transactions
        self._tasks: set[asyncio.Task[None]] = set()
        self._activity: BusActivity | None = None

    # --- subscribing ----------------------------------------------------------------------------

    def subscribe(
        self,
        event_type: str,
        handler: Handler,
        subscriber_module: str,
        *,
        idempotent: bool = False,
        name: str | None = None,
        retry: RetryPolicy | None = None,
    ) -> Subscription:
        """Call ``handler`` for each event matching ``event_type`` (a type or a pattern).

        How the handler is called is decided here, once: a parameter annotated ``Event`` gets
        the envelope, one annotated with a contract class gets an instance of it (one per
        event for all such handlers when nothing can change it, a frozen dataclass or model of
        immutable fields; else one per handler), anything else gets the event's ``data`` (the
        seed's form). ``async def`` handlers need
        :meth:`apublish`; generators and async generators are refused (their body would never
        run). ``idempotent=True`` (with a durable journal) records each handled event id, so a
        resubmitted event is not handled twice.

        ``name`` is the subscriber's identity within its module (the handler's qualified name by
        default): the publication registry and the dead letters name it, and a retry goes to
        exactly that subscription. A module using one name for two subscriptions that could
        receive the same event (two lambdas, two instances of one class, one function under
        ``order.placed`` and ``order.*``) is refused (:class:`DuplicateSubscriberError`).
        ``retry`` is the subscriber's :class:`RetryPolicy`: a durable platform retries its
        failed deliveries by it.
        """
        check_pattern(event_type)
        check_module_name(subscriber_module, role="subscriber module")
        if name is not None and (type(name) is not str or not name.strip() or len(name) > 200):
            raise HandlerSignatureError(
                f"A subscriber name must be a non-empty string of at most 200 characters, got "
                f"{name!r}. Pass subscribe(..., name='send_confirmation')."
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise ConfigurationError(
                f"retry must be a RetryPolicy or None, got {type(retry).__name__} ({retry!r}). "
                "Pass retry=RetryPolicy(max_attempts=5, backoff=1.0)."
            )
        deliver, receives, is_async = plan_handler(
            handler, event_type, self.catalog, self.handler_timeout
        )
        if is_async and self._workers_deliver:
            raise HandlerSignatureError(
                f"Handler {qualified_name(handler)} for {event_type!r} is async, and this "
                "platform's delivery workers (workers=N) run synchronous handlers only: nothing "
                "would ever deliver to it. Make it a plain function, or build the platform "
                "without workers= (the publishing call then awaits it under apublish())."
            )
        subscription = Subscription(
            self,
            event_type,
            handler,
            subscriber_module,
            deliver,
            receives,
            is_async,
            idempotent,
            name,
            retry,
            _place_of(handler),
        )
        if self.journal is not None:
            subscription._deliver = _journaled(self.journal, subscription, deliver)
        key = (subscriber_module, subscription.handler_name)
        with self._lock:
            named = self._names.get(key)
            if named is None:
                named = self._names[key] = _Named()
            # One name may serve patterns that never select the same event (a function for
            # 'order.placed' and 'order.paid'): a publication is (event, module, name).
            taken = named.overlapping(event_type)
            if taken is not None:
                raise DuplicateSubscriberError(
                    f"Module {subscriber_module!r} already has a subscriber named "
                    f"{subscription.handler_name!r} (to {taken.pattern!r}, handler at "
                    f"{taken.place or 'an unknown place'}); this one (to {event_type!r}, handler "
                    f"at {subscription.place or 'an unknown place'}) needs a name of its own: "
                    "pass subscribe(..., name='...'), unique within the module."
                )
            named.add(subscription)
            self._count += 1
            self._version += 1
            subscription._seq = self._count
            self._subscriptions[self._count] = subscription
            if "*" in event_type:
                self._patterns.add(subscription)
            else:
                self._exact.setdefault(event_type, []).append(subscription)
            self._forget_routes(event_type)
        return subscription

    def _remove(self, subscription: Subscription) -> None:
        with self._lock:
            if not subscription.active:
                return
            subscription.active = False
            self._version += 1
            del self._subscriptions[subscription._seq]
            key = (subscription.subscriber_module, subscription.handler_name)
            named = self._names.get(key)
            if named is not None and named.remove(subscription):
                del self._names[key]
            if "*" in subscription.pattern:
                self._patterns.remove(subscription)
            else:
                exact = self._exact[subscription.pattern]
                exact.remove(subscription)
                if not exact:
                    del self._exact[subscription.pattern]
            self._forget_routes(subscription.pattern)

    def _forget_routes(self, pattern: str) -> None:
        """Drop the cached routes that ``pattern`` selects (call it holding the lock)."""
        routes, cached = self._routes, self._cached
        if "*" not in pattern:
            if routes.pop(pattern, None) is not None:
                words = pattern.split(".")
                bucket = cached[len(words), words[0]]
                bucket.discard(pattern)
                if not bucket:
                    del cached[len(words), words[0]]
            return
        words = pattern.split(".")
        if pattern == "*":
            keys = list(cached)
        elif words[0] == "*":
            keys = [key for key in cached if key[0] == len(words)]
        else:
            keys = [(len(words), words[0])] if (len(words), words[0]) in cached else []
        for key in keys:
            bucket = cached[key]
            for event_type in [t for t in bucket if pattern_matches(pattern, t)]:
                del routes[event_type]
                bucket.discard(event_type)
            if not bucket:
                del cached[key]

    def subscriptions(self, event_type: str | None = None) -> list[Subscription]:
        """Return the active subscriptions in order; with ``event_type``, those receiving it."""
        if event_type is None:
            return list(self._subscriptions.values())
        return list(self._route(event_type)[0])

    def _route(self, event_type: str) -> tuple[tuple[Subscription, ...], bool]:
        route = self._routes.get(event_type)
        if route is None:
            with self._lock:
                exact = self._exact.get(event_type, ())
                patterns = [
                    s
                    for s in self._patterns.candidates(event_type)
                    if pattern_matches(s.pattern, event_type)
                ]
                if patterns:
                    matched = tuple(sorted((*exact, *patterns), key=_by_order))
                else:
                    matched = tuple(exact)
                route = (matched, any(s.is_async for s in matched))
                self._routes[event_type] = route
                words = event_type.split(".")
                self._cached.setdefault((len(words), words[0]), set()).add(event_type)
        return route

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

    # --- observers and interceptors --------------------------------------------------------------

    def add_interceptor(self, interceptor: Interceptor) -> Callable[[], None]:
        """Surround each publish and each delivery with ``interceptor`` (see :mod:`aura.hooks`);
        return a function that detaches it. Its ``calling`` hook, if any, is the registry's."""
        kinds = split(interceptor)
        publishing, delivering = kinds.get("publishing"), kinds.get("delivering")
        with self._lock:
            if publishing is not None:
                self._publishing = (*self._publishing, publishing)
            if delivering is not None:
                self._delivering = (*self._delivering, delivering)
            self._compose_hooks()

        def remove() -> None:
            with self._lock:
                self._publishing = tuple(h for h in self._publishing if h != publishing)
                self._delivering = tuple(h for h in self._delivering if h != delivering)
                self._compose_hooks()

        return remove

    def _compose_hooks(self) -> None:
        self._start_publishing = compose(self._publishing)
        self._start_delivering = compose(self._delivering)

    def add_observer(self, observer: BusObserver) -> Callable[[], None]:
        """Attach ``observer``; return a function that detaches it."""
        with self._lock:
            self._observe((*self._observers, observer))

        def remove() -> None:
            with self._lock:
                self._observe(tuple(o for o in self._observers if o is not observer))

        return remove

    def _observe(self, observers: tuple[BusObserver, ...]) -> None:
        # Decided once here, not per delivery: whether the fast raw form serves every observer.
        raw_only = bool(observers) and all(
            getattr(observer, "raw_deliveries", False) for observer in observers
        )
        alone = observers[0] if len(observers) == 1 and raw_only else None
        router = alone if getattr(alone, "raw_routes", False) else None
        self._observers = observers
        self._observed = (observers, raw_only, router)  # type: ignore[assignment]

    def track_activity(self) -> BusActivity:
        """Count the publishes in flight from now on; return the counter (the same every call).

        A test waits on it for the bus to fall idle (``aura.testing.scenario``). Untracked, a
        publish pays one check for it; publishes already under way are not counted.
        """
        with self._lock:
            if self._activity is None:
                self._activity = BusActivity()
            return self._activity

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
        if self._workers_deliver:
            return event  # recorded: the workers of every process claim and deliver it
        item = (event, chain, route)
        in_transaction = self.transactions is not None and self.transactions.in_transaction
        if dispatch is not None:
            self._enqueue(dispatch, item, in_transaction)
        elif in_transaction:
            assert self.transactions is not None  # in_transaction says so
            self.transactions.on_commit(functools.partial(self._run_committed, item))
        else:
            self._run(item)
        return event

    # The async twin of publish(): the same steps, delivery awaited. Deliberately not shared:
    # a common body would add a call per publish, the bus's hot path (see benchmarks/).
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
        if self._workers_deliver:
            return event  # recorded: the workers claim and deliver it
        item = (event, chain, route)
        in_transaction = self.transactions is not None and self.transactions.in_transaction
        if dispatch is not None:
            self._enqueue(dispatch, item, in_transaction)
        elif in_transaction:
            assert self.transactions is not None  # in_transaction says so
            loop = asyncio.get_running_loop()
            self.transactions.on_commit(lambda: self._keep(loop.create_task(self._arun(item))))
        else:
            await self._arun(item)
        return event

    def _run(self, item: _Item) -> None:
        """Deliver ``item``, then what its handlers publish (the one loop: delivery.drain)."""
        dispatch = Dispatch(self, False)
        dispatch.queue.append(item)
        token = current_dispatch.set(dispatch)
        activity = self._activity
        if activity is not None:
            activity.began()
        try:
            _delivery.run(_delivery.drain(dispatch, self, dispatch), dispatch)
        finally:
            dispatch.active = False
            current_dispatch.reset(token)
            if activity is not None:
                activity.ended()

    def _run_committed(self, item: _Item) -> None:
        """Deliver ``item`` after its publisher committed: the commit stands, so nothing may
        raise to the publisher, nor stop the delivery of the events committed with it."""
        try:
            self._run(item)
        except Exception:
            logger.exception(
                "Delivering event %s (%s) after its commit failed; a durable platform "
                "delivers it again when its lease expires",
                item[0].event_type,
                item[0].event_id,
            )

    async def _arun(self, item: _Item) -> None:
        dispatch = Dispatch(self, True)
        dispatch.queue.append(item)
        token = current_dispatch.set(dispatch)
        activity = self._activity
        if activity is not None:
            activity.began()
        try:
            await _delivery.arun(_delivery.drain(dispatch, self, dispatch), dispatch)
        finally:
            dispatch.active = False
            current_dispatch.reset(token)
            if activity is not None:
                activity.ended()

    def _enqueue(self, dispatch: Dispatch, item: _Item, in_transaction: bool) -> None:
        """Queue an event a handler published; inside a transaction, only once it commits."""
        if dispatch.replaying:
            return  # replay rebuilds read models: what handlers publish then is not new
        if in_transaction:
            assert self.transactions is not None  # in_transaction says so
            self.transactions.on_commit(functools.partial(dispatch.queue.append, item))
        else:
            dispatch.queue.append(item)

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _accept(
        self,
        event_type: str | object,
        data: Mapping[str, Any] | None,
        source_module: str | None,
        metadata: Mapping[str, Any] | None,
        *,
        is_async: bool,
    ) -> tuple[Event, tuple[str, ...], tuple[Subscription, ...], Dispatch | None]:
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
        name, frozen, version = self._normalise(event_type, data, source_module)
        if version != 1 or (metadata is not None and VERSION_KEY in metadata):
            # The version is the contract's, never the caller's; version 1 is left unsaid.
            metadata = {k: v for k, v in (metadata or {}).items() if k != VERSION_KEY}
            if version != 1:
                metadata[VERSION_KEY] = version
        check_module_name(source_module, role="source module")
        assert source_module is not None  # checked just above; narrows for mypy
        dispatch = current_dispatch.get()
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
        start = self._start_publishing
        if start is not None:
            return self._accept_intercepted(
                start, event_id, name, frozen, source_module, metadata, chain, route, dispatch
            )
        event = _envelope(event_id, source_module, name, frozen, metadata)
        return self._admit(event, chain, route, dispatch)

    def _accept_intercepted(
        self,
        start: Start,
        event_id: str,
        name: str,
        frozen: FrozenDict,
        source_module: str,
        metadata: Mapping[str, Any] | None,
        chain: tuple[str, ...],
        route: tuple[Subscription, ...],
        dispatch: Dispatch | None,
    ) -> tuple[Event, tuple[str, ...], tuple[Subscription, ...], Dispatch | None]:
        """:meth:`_accept`'s end with the interceptors' ``publishing`` around it."""
        extra: dict[str, Any] = dict(metadata) if metadata is not None else {}
        try:  # aura.hooks.started, inlined: this runs on every publish
            finish = start(event_id, name, source_module, extra)
        except Exception:
            start_failed(start)
            finish = None
        try:
            given = extra if extra or metadata is not None else None
            event = _envelope(event_id, source_module, name, frozen, given)
            accepted = self._admit(event, chain, route, dispatch)
        except BaseException as exc:
            if finish is not None:
                end(finish, None, exc)
            raise
        if finish is not None:
            end(finish, event, None)
        return accepted

    def _admit(
        self,
        event: Event,
        chain: tuple[str, ...],
        route: tuple[Subscription, ...],
        dispatch: Dispatch | None,
    ) -> tuple[Event, tuple[str, ...], tuple[Subscription, ...], Dispatch | None]:
        """Record the accepted ``event`` (journal) and announce it to the observers."""
        if dispatch is not None and dispatch.replaying:
            return event, chain, route, dispatch  # replayed handlers' events are not new
        if self.journal is not None:
            self.journal.accepted(event, route)
        observers = self._observers
        if observers:
            if self.transactions is not None and self.transactions.in_transaction:
                # Observers learn of it only if it commits: a rolled-back event never happened.
                self.transactions.on_commit(functools.partial(self._announce, event))
            else:
                for observer in observers:  # _announce, inlined: this runs on every publish
                    try:
                        observer.on_published(event)
                    except Exception:  # the event stands: delivery goes on
                        logger.exception("Observer %r failed on event %s", observer, event.event_id)
        return event, chain, route, dispatch

    def _announce(self, event: Event) -> None:
        for observer in self._observers:
            try:
                observer.on_published(event)
            except Exception:  # the event stands (it may have committed): delivery goes on
                logger.exception("Observer %r failed on event %s", observer, event.event_id)

    def _normalise(
        self, event_type: str | object, data: Mapping[str, Any] | None, source_module: str | None
    ) -> tuple[str, FrozenDict, int]:
        """The event's type, its data frozen and validated, and the contract version it was
        validated against (1 without a contract): data is the latest version's, an instance
        its own class's."""
        if isinstance(event_type, str):
            check_event_type(event_type)
            if not isinstance(data, Mapping):
                contract = self.catalog.for_class(type(data))
                raise EventValidationError(
                    f"Event data for {event_type!r} must be a dict, got {type(data).__name__}. "
                    + (
                        f"It is an instance of an event contract: publish it alone, "
                        f"publish({type(data).__name__}(...), source_module=...)."
                        if contract is not None
                        else f"Pass the data as a dict: publish({event_type!r}, {{...}})."
                    )
                )
            frozen: FrozenDict = freeze_json(data, max_size=self.max_event_size)
            if event_type in self.catalog:
                # The latest version's data, or an older version's (a publisher not migrated
                # yet) that the upcasters read; else the latest contract's error.
                return event_type, frozen, self.catalog.version_of(event_type, frozen)
            if self.catalog.strict:
                raise EventValidationError(
                    f"Event {event_type!r} has no contract, and this bus's catalog is strict. "
                    f"Register one with @event_contract({event_type!r}) or use an open catalog. "
                    f"Known types: {', '.join(self.catalog.types()) or 'none'}."
                )
            return event_type, frozen, 1
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
        latest = self.catalog.get(contract.event_type)
        if latest is not None and latest.version != contract.version:
            # An older version's instance: refused now, with nothing recorded, unless the
            # upcasters read it as the current version (as every reader will).
            self.catalog.upcast(contract.event_type, frozen, contract.version)
        return contract.event_type, frozen, contract.version

    # --- dead letters ---------------------------------------------------------------------------

    def dead_letters(self) -> list[DeadLetter]:
        """Return the dead letters: each event a subscriber failed to handle, oldest first."""
        return self.dead_letter_store.list()

    def retry_dead_letters(self, policy: RetryPolicy | None = None) -> RetryReport:
        """Redeliver each dead letter to the one subscriber that failed; drop it on success.

        With a ``policy``, only letters it finds due are retried. Events the retried handlers
        publish are delivered as usual. Dead letters of async handlers are kept and reported as
        ``needs_async``: :meth:`aretry_dead_letters` retries those.
        """
        outcome = _delivery.Outcome()
        with _counted(self._activity):
            report: RetryReport = _delivery.run(
                _delivery.retry(outcome, self, policy, False), outcome
            )
        return report

    async def aretry_dead_letters(self, policy: RetryPolicy | None = None) -> RetryReport:
        """Redeliver dead letters like :meth:`retry_dead_letters`, awaiting async handlers."""
        outcome = _delivery.Outcome()
        steps = _delivery.retry(outcome, self, policy, True)
        with _counted(self._activity):
            report: RetryReport = await _delivery.arun(steps, outcome)
        return report

    def purge_dead_letters(
        self, *, letter_ids: Iterable[str] | None = None, older_than: timedelta | None = None
    ) -> int:
        """Drop dead letters (the given ids, those last failed ``older_than`` ago, or all);
        return how many were dropped."""
        return purge(self.dead_letter_store, letter_ids=letter_ids, older_than=older_than)

    # --- replay and resubmission ----------------------------------------------------------------

    def _subscription_named(
        self, event_type: str, module: str, handler_name: str
    ) -> Subscription | None:
        named = self._names.get((module, handler_name))
        return named.receiving(event_type) if named is not None else None

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
        dispatch = Dispatch(self, is_async=False, replaying=True)
        token = current_dispatch.set(dispatch)
        current = self.catalog.current(event)  # its contract's current version
        try:
            with _context.event_scope(event):
                for subscription in route:
                    with _context.module_scope(subscription.subscriber_module):
                        subscription._handle(current)
        finally:
            dispatch.active = False
            current_dispatch.reset(token)

    def resubmit_incomplete(self) -> ResubmitReport:
        """Deliver every publication that is due: left unfinished by a process that died (its
        lease expired), handed back by one that closed, or failed with an automatic retry due.

        Each is claimed first, so a publication another live process owns is never touched and
        two processes never deliver the same one. A failure becomes a dead letter, as in a
        first delivery. Publications to async subscribers are kept and reported as
        ``needs_async``, for :meth:`aresubmit_incomplete`. Without a journal there is nothing
        to resubmit.
        """
        outcome = _delivery.Outcome()
        steps = _delivery.resubmit(outcome, self, False)
        with _counted(self._activity):
            report: ResubmitReport = _delivery.run(steps, outcome)
        return report

    def deliver_next(self) -> bool:
        """Claim the publication due longest among this bus's synchronous subscribers and
        deliver it (a worker's step); return False when nothing was due for them."""
        journal = self.journal
        if journal is None:
            return False
        claimed = journal.claim_next(self._synchronous_subscribers())
        if claimed is None:
            return False
        event, module, name = claimed
        subscription = self._subscription_named(event.event_type, module, name)
        if subscription is None:  # cancelled since the claim: its lease hands it on
            return True
        outcome = _delivery.Outcome()
        with _counted(self._activity):
            _delivery.run(_delivery.deliver_one(outcome, self, event, subscription), outcome)
        return True

    def _synchronous_subscribers(self) -> tuple[str, ...]:
        return self._subscriber_keys(False)

    def _subscriber_keys(self, include_async: bool) -> tuple[str, ...]:
        """``"module:name"`` of every subscription (without ``include_async``, the sync ones)."""
        version, keys, every = self._sync_keys
        if version != self._version:
            with self._lock:
                version = self._version
                every = tuple(
                    (f"{s.subscriber_module}:{s.handler_name}", s.is_async)
                    for s in self._subscriptions.values()
                )
                keys = tuple(key for key, is_async in every if not is_async)
            self._sync_keys = (version, keys, every)
        return tuple(key for key, _ in every) if include_async else keys

    async def aresubmit_incomplete(self) -> ResubmitReport:
        """Resubmit like :meth:`resubmit_incomplete`, awaiting async subscribers too."""
        outcome = _delivery.Outcome()
        steps = _delivery.resubmit(outcome, self, True)
        with _counted(self._activity):
            report: ResubmitReport = await _delivery.arun(steps, outcome)
        return report


_Item = tuple[Event, tuple[str, ...], tuple[Subscription, ...]]


class _Named:
    """Subscriptions indexed so that finding those a pattern or type could select costs what
    could match, not all of them: by (word count, first word), ``'*'`` alone and patterns
    starting with a ``'*'`` apart. The bus keeps its patterns in one, and one per (module,
    name), whose patterns must never overlap."""

    __slots__ = ("buckets", "count", "wild")

    def __init__(self) -> None:
        self.buckets: dict[tuple[int, str], list[Subscription]] = {}
        self.wild: list[Subscription] = []  # '*' and patterns whose first word is '*'
        self.count = 0

    def overlapping(self, pattern: str) -> Subscription | None:
        """One of these that could receive an event ``pattern`` selects, if any."""
        for subscription in self.candidates(pattern):
            if patterns_overlap(subscription.pattern, pattern):
                return subscription
        return None

    def receiving(self, event_type: str) -> Subscription | None:
        """The one of these that receives ``event_type`` (they never overlap)."""
        for subscription in self.candidates(event_type):
            if subscription.matches(event_type):
                return subscription
        return None

    def candidates(self, pattern: str) -> Iterator[Subscription]:
        yield from self.wild
        words = pattern.split(".")
        if pattern == "*":
            for bucket in self.buckets.values():
                yield from bucket
        elif words[0] == "*":
            for (count, _), bucket in self.buckets.items():
                if count == len(words):
                    yield from bucket
        else:
            yield from self.buckets.get((len(words), words[0]), ())

    def add(self, subscription: Subscription) -> None:
        self.count += 1
        pattern = subscription.pattern
        words = pattern.split(".")
        if pattern == "*" or words[0] == "*":
            self.wild.append(subscription)
        else:
            self.buckets.setdefault((len(words), words[0]), []).append(subscription)

    def remove(self, subscription: Subscription) -> bool:
        """Drop ``subscription``; True when none is left."""
        pattern = subscription.pattern
        words = pattern.split(".")
        if pattern == "*" or words[0] == "*":
            bucket = self.wild
        else:
            bucket = self.buckets.get((len(words), words[0]), [])
        if subscription in bucket:
            bucket.remove(subscription)
            self.count -= 1
        return self.count == 0


def _by_order(subscription: Subscription) -> int:
    return subscription._seq


_AURA_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _place_of(handler: object) -> str:
    """Where a subscription's handler is defined (``file:line``), else where subscribe() was
    called from outside Aura: what a collision message names."""
    function = getattr(getattr(handler, "injection", None), "function", handler)
    code = getattr(function, "__code__", None) or getattr(
        getattr(function, "__call__", None),  # noqa: B004  # an object with __call__
        "__code__",
        None,
    )
    if code is not None:
        return f"{code.co_filename}:{code.co_firstlineno}"
    frame: Any = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_AURA_DIR):
        frame = frame.f_back
    return "" if frame is None else f"{frame.f_code.co_filename}:{frame.f_lineno}"


def _journaled(
    journal: DeliveryJournal, subscription: Subscription, deliver: Callable[[Event], Any]
) -> Callable[[Event], Any]:
    """Run ``deliver`` in the journal's unit of work: the handler's writes and its COMPLETED
    mark commit together, and what it publishes waits for that commit (see ``_enqueue``)."""
    if subscription.is_async:

        async def deliver_journaled_async(event: Event) -> None:
            with journal.delivering(event, subscription) as run:
                if run:
                    await deliver(event)

        return deliver_journaled_async

    def deliver_journaled(event: Event) -> None:
        with journal.delivering(event, subscription) as run:
            if run:
                result = deliver(event)
                if result is not None:  # before COMPLETED: a coroutine returned is no success
                    refuse_deferred(
                        result, subscription.subscriber_module, subscription.handler_name
                    )

    return deliver_journaled


def _envelope(
    event_id: str,
    source_module: str,
    name: str,
    frozen: FrozenDict,
    metadata: Mapping[str, Any] | None,
) -> Event:
    """The accepted event's envelope, stamped now, with its metadata completed."""
    return Event.restore(
        event_id,
        datetime.now(UTC),
        source_module,
        name,
        frozen,
        envelope_metadata(metadata, event_id),
    )


_STANDARD_KEYS = frozenset(("correlation_id", "causation_id", "user_id"))


def _plain_extra(metadata: dict[str, Any]) -> bool:
    """Whether ``metadata`` is only short text under non-standard keys."""
    if len(metadata) > 8:
        return False
    for key, value in metadata.items():  # a loop, not all(...): this runs on every publish
        if type(key) is not str or key in _STANDARD_KEYS:
            return False
        if type(value) is not str or len(value) > 1024:
            return False
    return True


def envelope_metadata(metadata: Mapping[str, Any] | None, event_id: str) -> FrozenDict:
    """Build an event's envelope metadata: correlation from the context, causation from the
    handler; keys given in ``metadata`` win. Publishing uses it, and so does anything that
    builds an envelope as a publish would (the test harness's bridge).

    The user is the handled event's (a handler acts on behalf of its cause's user), else the
    one the running code acts for (the gateway's principal). An event that starts a flow (no
    correlation id in context) takes its own id as the flow's correlation id.
    """
    cause = _context._current_event.get()
    if cause is not None:  # published by a handler: on behalf of the cause's user
        causation_id: str | None = cause.event_id
        user_id = cause.metadata["user_id"]
    else:
        causation_id, user_id = None, _context._user_id.get()
    if metadata is None:
        correlation_id = _context._correlation_id.get() or event_id
        return FrozenDict(correlation_id=correlation_id, causation_id=causation_id, user_id=user_id)
    if type(metadata) is dict and _plain_extra(metadata):
        # What interceptors add (a traceparent): text under keys of their own. Frozen as
        # build_metadata would, without its checks, which such metadata cannot fail.
        correlation_id = _context._correlation_id.get() or event_id
        return FrozenDict(
            correlation_id=correlation_id, causation_id=causation_id, user_id=user_id, **metadata
        )
    merged = {"causation_id": causation_id, "user_id": user_id, **metadata}
    if merged.get("correlation_id") is None:
        merged["correlation_id"] = _context._correlation_id.get() or event_id
    return build_metadata(merged)

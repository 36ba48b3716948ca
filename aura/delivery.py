"""The delivery loop, written once and driven by a synchronous and an asynchronous runner.

Every way an event reaches handlers — a publish, a dead-letter retry, a resubmission after a
crash — is a *job*: a generator that sets up the context (the current event, module and
correlation id, the breadth-first queue of what handlers publish), yields each subscription to
call with its :class:`Outcome`'s ``event``, and reads back the exception the call raised;
it keeps the dead letters and tells the observers. :func:`run` calls each handler; :func:`arun`
awaits the ``async`` ones. The runners are the only code that calls a handler, so the sync and
async paths cannot disagree. Durable delivery needs no branch here: the journal wraps a
subscription's deliverer when it subscribes (see ``EventBus.subscribe``).

One policy for async handlers: a synchronous call never runs one. An event is refused up front
when it has async subscribers (``publish``, ``replay``); a batch sets their items aside and
reports them as ``needs_async`` (``retry_dead_letters``, ``resubmit_incomplete``) for the
``a``-prefixed twin.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Generator, Sequence
from contextlib import AbstractContextManager
from contextvars import ContextVar
from typing import Any, NamedTuple, Protocol, TypeVar

from aura import context as _context
from aura.clock import RealClock
from aura.dead_letters import (
    DeadLetter,
    DeadLetterStore,
    RetryPolicy,
    RetryReport,
    due_letters,
    failed_again,
    new_letter,
)
from aura.events import Event, EventCatalog
from aura.exceptions import DeadLetterRetryError, EventDeliveryError, EventVersionError
from aura.handlers import refuse_deferred
from aura.hooks import Start, end, finish_failed, start_failed, started
from aura.sql import is_database_error

__all__ = [
    "BusObserver",
    "Delivery",
    "DeliveryJournal",
    "Dispatch",
    "Due",
    "EventBus",
    "Job",
    "Outcome",
    "ResubmitReport",
    "RouteObserver",
    "Subscription",
    "TransactionSource",
    "arun",
    "deliver_one",
    "deliveries_of",
    "delivery_of",
    "drain",
    "redeliver",
    "resubmit",
    "retry",
    "run",
]
# EventBus and Subscription here are the Protocols the jobs need (aura.bus has the real ones).

logger = logging.getLogger("aura.bus")

R = TypeVar("R")


class Subscription(Protocol):
    """A subscription as delivery sees it (:class:`aura.bus.Subscription` is the real one)."""

    subscriber_module: str
    handler_name: str
    is_async: bool
    active: bool
    idempotent: bool
    retry: RetryPolicy | None

    def _deliver(self, event: Event) -> Any: ...


Job = Generator[Subscription, None, R]
"""A delivery job: yields what to call and reads how it ended from its :class:`Outcome`."""

_Item = tuple[Event, tuple[str, ...], tuple["Subscription", ...]]
_new_tuple: Any = tuple.__new__


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


def delivery_of(raw: tuple[Any, ...]) -> Delivery:
    """The :class:`Delivery` a raw delivery tuple stands for (see :class:`BusObserver`)."""
    event, subscription, duration = raw
    return Delivery(
        event, subscription.subscriber_module, subscription.handler_name, None, duration
    )


class BusObserver(Protocol):
    """Sees every published event and every delivery outcome of a bus.

    An observer whose class sets ``raw_deliveries = True`` (the test harness's recorder, the
    platform's :class:`~aura.logs.TrafficLog`) may be handed, for a delivery that succeeded,
    the raw tuple ``(event, subscription, duration)`` instead of a :class:`Delivery`: building
    the named tuple was most of what recording a delivery cost. Only when every attached
    observer says so; convert with
    :func:`delivery_of`. Its duration is measured with one clock reading per delivery: from
    the end of the previous delivery of the same event (or the start of the event's route)
    to the end of this one, so it includes the bus's own work around the handler (a few
    hundred nanoseconds).
    """

    def on_published(self, event: Event) -> None:
        """Called once per accepted event, before any handler runs."""

    def on_delivered(self, delivery: Delivery) -> None:
        """Called after each handler ran, with its outcome and duration."""


class RouteObserver(BusObserver, Protocol):
    """A raw observer that, attached alone (the test harness's recorder), is handed the
    deliveries that succeeded one run at a time: its class sets ``raw_routes = True``.

    While ``routing`` is true, a run of an event's deliveries that succeeded one after another
    reaches :meth:`on_route` as one record, the tuple ``(event, route, start, *durations)``
    (four items or more; a raw delivery has three): the delivery to ``route[start + k]`` took
    ``durations[k]`` seconds (see :func:`deliveries_of`). A route of one subscriber is told as
    raw deliveries. A failure, a subscription cancelled meanwhile, or a delivery
    recorded alone ends a run: the run so far is handed over first, so an event's records
    come in the order its deliveries ended. While ``routing`` is false (the observer tracks
    what a delivery nests), each delivery reaches :meth:`on_delivered` alone, in the raw form.
    Before recording anything nested in a delivery, the observer takes the open runs meant
    for it (``run`` of ``current_dispatch.get()`` and of its ``outer`` dispatches whose
    ``router`` it is; a list of the same items): it records the durations so far, advances
    ``start`` past them and removes them from the run, in place.
    """

    routing: bool

    def on_route(self, record: tuple[Any, ...]) -> None:
        """Called with a run of deliveries that succeeded (see the class)."""


def deliveries_of(record: Sequence[Any]) -> list[Delivery]:
    """The :class:`Delivery` of each delivery in a run record (see :class:`RouteObserver`)."""
    event, route, start = record[0], record[1], record[2]
    durations = record[3:]
    return [
        Delivery(event, subscription.subscriber_module, subscription.handler_name, None, took)
        for subscription, took in zip(route[start : start + len(durations)], durations, strict=True)
    ]


class DeliveryJournal(Protocol):
    """Makes delivery durable: records accepted events and each subscriber's progress.

    ``aura.publications.DurableJournal`` implements it on SQLite and PostgreSQL (the
    transactional outbox, with owners and leases).
    """

    def accepted(self, event: Event, route: tuple[Subscription, ...]) -> None:
        """Record the event and one publication per subscriber, owned by this journal."""

    def delivering(self, event: Event, subscription: Subscription) -> AbstractContextManager[bool]:
        """Surround one delivery; yield ``False`` to skip it (already handled, or taken
        over by another process)."""

    def due(
        self, limit: int = ..., *, subscribers: Sequence[str] | None = ..., others: bool = ...
    ) -> Sequence[Due]:
        """Publications anyone may claim now (of ``subscribers``, or of the others)."""

    def claim(self, publication_id: int, *, failed: bool = False) -> Event | None:
        """Take one due publication for this journal; its event, or ``None`` if not had."""

    def claim_next(self, subscribers: Sequence[str]) -> tuple[Event, str, str] | None:
        """Take the publication due longest among ``subscribers`` ("module:name")."""

    def holds(self, key: tuple[str, str, str]) -> bool:
        """Whether this process already has the publication queued or running."""

    def handed_back(self, key: tuple[str, str, str]) -> bool:
        """Whether the last failed delivery of ``key`` here was handed back to delivery (due
        again) rather than written as a dead letter; asking forgets it."""

    def claim_failed(self, key: tuple[str, str, str]) -> bool:
        """Take the dead letter of ``key`` for one retry here; False if none, or another has it."""

    def completed_delivery(self, key: tuple[str, str, str]) -> bool:
        """Whether the delivery of ``key`` is known to have completed."""

    def attempts(self, key: tuple[str, str, str]) -> int:
        """How many deliveries of ``key`` were started (1 for a first delivery)."""

    def settle(self, key: tuple[str, str, str]) -> None:
        """The letter of ``key`` is gone from its store of its own, its delivery completed:
        what the journal kept of that delivery for the store's sake may go."""


class Due(Protocol):
    """A due publication as the jobs see it (``aura.publications.Due``)."""

    @property
    def id(self) -> int: ...
    @property
    def event_id(self) -> str: ...
    @property
    def event_type(self) -> str: ...
    @property
    def subscriber_module(self) -> str: ...
    @property
    def handler(self) -> str: ...


class TransactionSource(Protocol):
    """A database whose open transaction defers delivery until it commits."""

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread is inside a transaction."""

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` after the current transaction commits."""


class EventBus(Protocol):
    """What the jobs use of a bus (:class:`aura.bus.EventBus` is the real one)."""

    dead_letter_store: DeadLetterStore
    journal: DeliveryJournal | None
    catalog: EventCatalog
    _observers: tuple[BusObserver, ...]
    _observed: tuple[tuple[BusObserver, ...], bool, RouteObserver | None]
    _start_delivering: Start | None

    def _subscription_named(
        self, event_type: str, module: str, handler_name: str
    ) -> Subscription | None: ...

    def _subscriber_keys(self, include_async: bool) -> tuple[str, ...]: ...


@dataclasses.dataclass(frozen=True, slots=True)
class ResubmitReport:
    """What :meth:`aura.EventBus.resubmit_incomplete` did with each unfinished publication."""

    delivered: int
    failed: int
    unroutable: tuple[tuple[str, str, str], ...]
    """``(event_id, module, handler)`` of publications whose subscriber is gone; kept."""
    needs_async: tuple[tuple[str, str, str], ...] = ()
    """``(event_id, module, handler)`` of publications to ``async`` handlers, left for
    ``await bus.aresubmit_incomplete()``; kept."""


class Outcome:
    """How the call a job yielded last ended (``error``), and the job's ``result`` at the end.

    The runner writes ``error`` after each call and the job reads it after its ``yield``: a
    plain ``for`` loop drives the job (no ``send``, no ``StopIteration`` to catch), which keeps
    a publish close to the cost of the loop it replaced. A :class:`Dispatch` is one too, so a
    publish builds no extra object.
    """

    __slots__ = ("error", "event", "result")

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.event: Any = None  # the Event being delivered, once a job runs
        self.result: Any = None


class Dispatch(Outcome):
    """The queue of one job in progress, in one thread or task (and the outcome of its calls)."""

    __slots__ = (
        "active",
        "bus",
        "chain",
        "is_async",
        "outer",
        "queue",
        "replaying",
        "router",
        "run",
    )

    def __init__(self, bus: object, is_async: bool, *, replaying: bool = False) -> None:
        self.error = None
        self.event = None
        self.result = None
        self.bus = bus
        self.is_async = is_async
        self.queue: deque[_Item] = deque()
        self.chain: tuple[str, ...] = ()
        self.active = True
        self.replaying = replaying
        # The run of deliveries being recorded for a route observer (see RouteObserver):
        # ``[event, route, start, *durations]``, the durations of route[start:] so far, and
        # the observer it is for.
        self.run: list[Any] | None = None
        self.router: RouteObserver | None = None
        self.outer: Dispatch | None = current_dispatch.get()
        """The job this one runs inside (a handler publishing on another bus), if any."""


current_dispatch: ContextVar[Dispatch | None] = ContextVar("aura_dispatch", default=None)
"""The job running in this thread or task, if any: what handlers publish joins its queue."""


# --- the runners: the only places that call a handler ---------------------------------------


def run(steps: Job[Any], outcome: Outcome) -> Any:
    """Drive ``steps`` synchronously, calling each handler it yields and writing how it ended
    to ``outcome``; return ``outcome.result``."""
    try:
        for subscription in steps:
            if subscription.is_async:
                raise EventDeliveryError(
                    f"{subscription.subscriber_module}:{subscription.handler_name} is async; "
                    "it runs only under the await-able call (apublish, aretry_dead_letters, "
                    "aresubmit_incomplete)."
                )
            try:
                result = subscription._deliver(outcome.event)
                if result is not None:
                    refuse_deferred(
                        result, subscription.subscriber_module, subscription.handler_name
                    )
            except Exception as exc:
                outcome.error = exc  # the job reads it, and clears it
    except BaseException:
        steps.close()  # here, in this context: the job's finally blocks reset its contextvars
        raise
    return outcome.result


async def arun(steps: Job[Any], outcome: Outcome) -> Any:
    """Drive ``steps`` asynchronously, awaiting ``async`` handlers; return ``outcome.result``."""
    try:
        for subscription in steps:
            try:
                result = subscription._deliver(outcome.event)
                if subscription.is_async:
                    await result
                elif result is not None:
                    refuse_deferred(
                        result, subscription.subscriber_module, subscription.handler_name
                    )
            except Exception as exc:
                outcome.error = exc  # the job reads it, and clears it
    except BaseException:
        steps.close()
        raise
    return outcome.result


# --- the jobs ---------------------------------------------------------------------------------


def drain(outcome: Outcome, bus: EventBus, dispatch: Dispatch) -> Job[None]:
    """Deliver every queued event, oldest first, each to its route: breadth-first delivery.

    This is the one delivery loop; each handler runs isolated, as its module, with the event's
    correlation id; a failure is kept as a dead letter and the other handlers still run.
    """
    queue = dispatch.queue
    now = RealClock.now  # a local: one lookup per drain, and out of freezegun's reach
    while queue:
        event, chain, route = queue.popleft()
        dispatch.chain = chain
        # What the runner passes to each subscription yielded: the event as its contract's
        # current version (itself unless it was written with an older one), once per event;
        # one that cannot be read so is each subscriber's failure, kept as its dead letter.
        current, unreadable = _readable(bus, event)
        outcome.event = current
        observers, raw_only, router = bus._observed  # one read: never half an attaching
        start = bus._start_delivering
        event_token = _context._current_event.set(current)
        cid_token = _context._correlation_id.set(event.correlation_id)
        # Observers taking raw deliveries (the harness's recorder) read the clock once per
        # delivery: a delivery's duration runs from the end of the one before it (its module
        # set, its handler run, its outcome told), within one event's route.
        mark = now() if raw_only else 0.0
        single = observers[0] if len(observers) == 1 else None  # the usual: one trace
        # One trace alone: the route's deliveries are kept as runs (one record per run), each
        # delivery one duration appended to the run (see RouteObserver).
        if router is not None and len(route) > 1:  # one delivery: its raw tuple
            run = dispatch.run = [event, route, 0]
            dispatch.router = router
        else:
            router = None
        try:
            for subscription in route:
                if not subscription.active:
                    if router is not None:
                        _step_past(router, run)
                    continue
                module_token = _context._current_module.set(subscription.subscriber_module)
                try:
                    started = mark if raw_only else now() if observers else 0.0
                    if unreadable is not None:
                        outcome.error = _unreadable(bus, event, subscription, unreadable)
                    elif start is not None:  # _intercepted, inlined: this runs per delivery
                        try:
                            finish = start(
                                event, subscription.subscriber_module, subscription.handler_name
                            )
                        except Exception:
                            start_failed(start)
                            finish = None
                        if finish is None:
                            yield subscription
                        else:
                            try:
                                yield subscription
                            except BaseException as exc:  # the runner was interrupted
                                end(finish, _interruption(exc))
                                raise
                            try:
                                finish(outcome.error)
                            except Exception:
                                finish_failed(finish)
                    else:
                        yield subscription
                    error = outcome.error
                    if error is not None:
                        outcome.error = None
                        if router is not None:  # the run so far first: the failure follows
                            _step_past(router, run)
                        _keep_failure(bus, event, subscription, error, started, observers)
                        mark = now() if raw_only else 0.0
                    elif router is not None and router.routing:  # the recorder's hot path
                        ended = now()
                        run.append(ended - mark)
                        mark = ended
                    elif raw_only:  # no Delivery built: observers that take the raw form
                        done = (event, subscription, now() - mark)
                        if router is not None:  # nesting here: this one alone, in order
                            _step_past(router, run)
                        if single is not None:  # _tell_raw, inlined: the usual, one observer
                            try:
                                single.on_delivered(done)  # type: ignore[arg-type]  # raw
                            except Exception:
                                logger.exception(
                                    "Observer %r failed on a delivery; delivery goes on", single
                                )
                        else:
                            for observer in observers:  # each on its own: one failing
                                _tell_raw(observer, done)  # keeps none of the others from it
                        # The next delivery's time starts after the observers: theirs (a log
                        # handler's, say) is not its handler's.
                        mark = now()
                    elif observers:
                        _observe(event, subscription, None, started, observers)
                finally:
                    _context._current_module.reset(module_token)
        finally:
            if router is not None:
                dispatch.run = None
                if len(run) > 3:
                    _hand_over(router, run)
            _context._correlation_id.reset(cid_token)
            _context._current_event.reset(event_token)


def _tell_raw(observer: BusObserver, done: tuple[Any, ...]) -> None:
    """Hand a raw delivery to ``observer``; its failure is logged, naming it."""
    try:
        observer.on_delivered(done)  # type: ignore[arg-type]  # raw_deliveries: it takes these
    except Exception:
        logger.exception("Observer %r failed on a delivery; delivery goes on", observer)


def _step_past(router: RouteObserver, run: list[Any]) -> None:
    """Hand the run so far to ``router`` and start the next after the delivery at hand (a
    failure, an inactive subscription, one recorded alone)."""
    done = len(run) - 3
    if done:
        _hand_over(router, run)
        del run[3:]
    run[2] += done + 1


def _hand_over(router: RouteObserver, run: list[Any]) -> None:
    """Give ``router`` the run's record as a tuple (exactly its size: a trace keeps it)."""
    try:
        router.on_route(tuple(run))
    except Exception:
        logger.exception("An observer failed on a delivery; it goes on")


def _readable(bus: EventBus, event: Event) -> tuple[Event, EventVersionError | None]:
    """``event`` as its contract's current version, or itself and why it cannot be."""
    try:
        return bus.catalog.current(event), None
    except EventVersionError as error:
        return event, error


def _unreadable(
    bus: EventBus, event: Event, subscription: Subscription, error: EventVersionError
) -> EventVersionError | None:
    """Fail ``subscription``'s delivery of an event that cannot be read as the current
    version, as a failing handler fails: in the journal's unit of work when there is one (its
    publication is written FAILED, a dead letter), else kept by the caller."""
    journal = bus.journal
    if journal is None:
        return error
    try:
        with journal.delivering(event, subscription) as run:
            if run:
                raise error
    except EventVersionError as failed:
        return failed
    return None  # another process finished it meanwhile


def redeliver(
    outcome: Outcome, bus: EventBus, event: Event, subscription: Subscription, is_async: bool
) -> Job[BaseException | None]:
    """Deliver ``event`` to one subscriber again, then what it publishes; return its error.

    The first delivery's failure is returned, not kept: the caller decides (a retried dead
    letter counts one more attempt, a resubmitted publication becomes a new dead letter).
    """
    dispatch = Dispatch(bus, is_async)
    token = current_dispatch.set(dispatch)
    try:
        current, unreadable = _readable(bus, event)
        if unreadable is not None:
            return _unreadable(bus, event, subscription, unreadable)
        with _context.event_scope(current), _context.module_scope(subscription.subscriber_module):
            outcome.event = current
            start = bus._start_delivering
            if start is not None:
                yield from _intercepted(outcome, start, event, subscription)
            else:
                yield subscription
        error, outcome.error = outcome.error, None
        if error is None:
            yield from drain(outcome, bus, dispatch)
        return error
    finally:
        dispatch.active = False
        current_dispatch.reset(token)


def retry(outcome: Outcome, bus: EventBus, policy: RetryPolicy | None, is_async: bool) -> Job[None]:
    """Redeliver each due dead letter to the subscriber that failed; drop it on success.

    A database failing part way (not a handler: its failure is the letter's) stops the retry
    with :class:`~aura.exceptions.DeadLetterRetryError`, carrying the report of what was done.
    """
    report = _Retried()
    letters: Sequence[DeadLetter] = ()
    try:
        letters, report.waiting = due_letters(bus.dead_letter_store, policy)
        yield from _retry_each(outcome, bus, letters, is_async, report)
    except Exception as exc:
        release = getattr(bus.dead_letter_store, "release", None)
        if report.current is not None and release is not None:
            release(report.current.id)  # a store's claim in memory: claimable by the next retry
        if not is_database_error(exc):
            raise
        done = report.report()
        raise DeadLetterRetryError(
            f"Retrying dead letters stopped: the database failed ({type(exc).__name__}: "
            f"{exc}). {_before_it(letters, done)} The letters not retried yet are still dead "
            f"letters.{_in_progress(report, _kept_by_journal(bus), bus.journal is not None)} "
            "Retry again when the database is back.",
            report=done,
        ) from exc
    if report.needs_async:
        logger.warning(
            "%d dead letter(s) of async handlers were not retried; await "
            "bus.aretry_dead_letters() for those.",
            len(report.needs_async),
        )
    outcome.result = report.report()


@dataclasses.dataclass
class _Retried:
    """What a retry did with each letter so far."""

    succeeded: list[DeadLetter] = dataclasses.field(default_factory=list)
    failed: list[DeadLetter] = dataclasses.field(default_factory=list)
    unroutable: list[DeadLetter] = dataclasses.field(default_factory=list)
    needs_async: list[DeadLetter] = dataclasses.field(default_factory=list)
    requeued: list[DeadLetter] = dataclasses.field(default_factory=list)
    waiting: tuple[DeadLetter, ...] = ()
    current: DeadLetter | None = None
    """The letter being retried (claimed, not yet settled in the lists)."""
    ran: bool = False
    """Whether ``current``'s handler returned (its letter not yet removed)."""

    def report(self) -> RetryReport:
        return RetryReport(
            tuple(self.succeeded),
            tuple(self.failed),
            tuple(self.unroutable),
            self.waiting,
            tuple(self.needs_async),
            tuple(self.requeued),
        )


def _in_progress(report: _Retried, kept: bool, journaled: bool) -> str:
    """What became of the letter a retry the database stopped was at, in words."""
    letter = report.current
    if letter is None:
        return ""
    if kept:  # the journal's: the delivery and its outcome are one transaction
        return (
            f" The one in progress ({letter.id}) is delivered once in effect: it is still a dead "
            "letter, or due again once its lease runs out."
        )
    if report.ran and journaled:  # a store of its own: the journal recorded the delivery
        return (
            f" The one in progress ({letter.id}) was delivered, but its dead letter could not "
            "be removed: the next retry removes it without running its handler again."
        )
    if report.ran:
        return (
            f" The one in progress ({letter.id}) was delivered, but its dead letter could not "
            "be removed: the next retry runs its handler again."
        )
    return f" The one in progress ({letter.id}) is still a dead letter."


def _before_it(letters: Sequence[DeadLetter], done: RetryReport) -> str:
    """What a retry the database stopped had done, in words."""
    if not letters:
        return "No dead letter was read."
    reached = len(done.succeeded) + len(done.failed) + len(done.requeued)
    return (
        f"Before it, {reached} of the {len(letters)} due were retried: "
        f"{len(done.succeeded)} delivered, {len(done.failed)} failed again, "
        f"{len(done.requeued)} handed back to delivery."
    )


def _retry_each(
    outcome: Outcome,
    bus: EventBus,
    letters: Sequence[DeadLetter],
    is_async: bool,
    report: _Retried,
) -> Job[None]:
    store = bus.dead_letter_store
    claim = getattr(store, "claim", None)
    release = getattr(store, "release", None)
    kept = _kept_by_journal(bus)  # the journal writes the outcome in the delivery itself
    for letter in letters:
        subscription = bus._subscription_named(
            letter.event.event_type, letter.subscriber_module, letter.handler_name
        )
        if subscription is None:
            report.unroutable.append(letter)
            continue
        if subscription.is_async and not is_async:
            report.needs_async.append(letter)
            continue
        if claim is not None and not claim(letter.id):
            continue  # another retry (another process) has it: it runs the handler
        report.current, report.ran = letter, False
        key = (letter.event.event_id, letter.subscriber_module, letter.handler_name)
        if not kept and bus.journal is not None and not bus.journal.claim_failed(key):
            # A store of its own on a durable platform: the journal's row must be this retry's,
            # or the delivery would be skipped (the row FAILED) and reported delivered.
            if bus.journal.completed_delivery(key):
                # Delivered by another retry (another process's, or one that could not remove
                # the letter): settled, so removed; not this retry's delivery, so not reported.
                logger.info(
                    "Dead letter %s (%s:%s) was delivered by another retry; removed",
                    letter.id,
                    letter.subscriber_module,
                    letter.handler_name,
                )
                store.remove(letter.id)
                bus.journal.settle(key)
            elif release is not None:
                release(letter.id)  # untouched: the next retry here may take it
            report.current = None
            continue  # retried elsewhere meanwhile, or another retry has it
        started = RealClock.now()
        error = yield from redeliver(outcome, bus, letter.event, subscription, is_async)
        report.ran = error is None
        if error is not None:
            if kept and bus.journal is not None and bus.journal.handed_back(key):
                report.requeued.append(letter)  # due again after a wait: no longer a dead letter
            elif kept:
                again = store.get(letter.id)  # type: ignore[attr-defined]  # FailedPublications
                report.failed.append(again if again is not None else letter)
            elif bus.journal is not None and bus.journal.handed_back(key):
                # Due again after a wait: the platform delivers it; the letter, as it was, is
                # removed by the next retry once that delivery completed.
                report.requeued.append(letter)
                if release is not None:
                    release(letter.id)
            else:
                report.failed.append(failed_again(store, letter, error))
        else:
            if not kept:
                store.remove(letter.id)
                if bus.journal is not None:
                    bus.journal.settle(key)
            report.succeeded.append(letter)
        report.current = None
        if bus._observers:
            _observe(letter.event, subscription, error, started, bus._observers)


def stranded(
    bus: EventBus, is_async: bool
) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """What is due that no subscriber here can take (``(event_id, module, handler)``, at most
    100): of a subscriber gone, and (synchronously) of async ones. Reported, it never hides
    what a subscriber here can take."""
    unroutable: list[tuple[str, str, str]] = []
    needs_async: list[tuple[str, str, str]] = []
    journal = bus.journal
    if journal is None:
        return unroutable, needs_async
    keys = bus._subscriber_keys(is_async)
    for other in journal.due(100, subscribers=keys, others=True):
        named = (other.event_id, other.subscriber_module, other.handler)
        found = bus._subscription_named(other.event_type, other.subscriber_module, other.handler)
        (needs_async if found is not None and found.is_async else unroutable).append(named)
    return unroutable, needs_async


def resubmit(outcome: Outcome, bus: EventBus, is_async: bool) -> Job[None]:
    """Deliver every publication that is due (left by a crash, released, or a failure whose
    automatic retry is due), each claimed first so that no two processes deliver it."""
    outcome.result = ResubmitReport(0, 0, ())
    journal = bus.journal
    if journal is None:
        return
    delivered = failed = 0
    keys = bus._subscriber_keys(is_async)
    unroutable, needs_async = stranded(bus, is_async)
    for due in journal.due(subscribers=keys):
        subscription = bus._subscription_named(due.event_type, due.subscriber_module, due.handler)
        if subscription is None:
            continue  # cancelled since the keys were read
        if journal.holds((due.event_id, due.subscriber_module, due.handler)):
            continue  # queued or running here already: its lease is renewed, it completes
        event = journal.claim(due.id)
        if event is None:
            continue  # another process took it, or it is no longer due
        error = yield from redeliver(outcome, bus, event, subscription, is_async)
        if error is None:
            delivered += 1
        else:
            failed += 1
            _keep_failure(bus, event, subscription, error, 0.0, ())
    outcome.result = ResubmitReport(delivered, failed, tuple(unroutable), tuple(needs_async))


def deliver_one(
    outcome: Outcome, bus: EventBus, event: Event, subscription: Subscription
) -> Job[None]:
    """Deliver one claimed publication (a worker's), then what its handler publishes."""
    started = RealClock.now()
    error = yield from redeliver(outcome, bus, event, subscription, False)
    if error is not None:
        _keep_failure(bus, event, subscription, error, started, ())
    if bus._observers:
        _observe(event, subscription, error, started, bus._observers)


def _intercepted(
    outcome: Outcome, start: Start, event: Event, subscription: Subscription
) -> Generator[Subscription, None, None]:
    """Yield ``subscription`` to the runner with the interceptors' ``delivering`` around it.

    Started and finished here, in the job, which runs in the context the handler runs in."""
    finish = started(start, event, subscription.subscriber_module, subscription.handler_name)
    if finish is None:
        yield subscription
        return
    try:
        yield subscription
    except BaseException as exc:  # the runner was interrupted (GeneratorExit, cancellation)
        end(finish, _interruption(exc))
        raise
    end(finish, outcome.error)


def _interruption(exc: BaseException) -> BaseException:
    """What interrupted a delivery: the runner closes its job when the handler raised a
    ``BaseException`` (``KeyboardInterrupt``, a cancellation), and the ``GeneratorExit`` the
    job then sees has it as its context."""
    if isinstance(exc, GeneratorExit) and exc.__context__ is not None:
        return exc.__context__
    return exc


# --- what a failed or observed delivery leaves -------------------------------------------------


def _keep_failure(
    bus: EventBus,
    event: Event,
    subscription: Subscription,
    exc: BaseException,
    started: float,
    observers: tuple[BusObserver, ...],
) -> None:
    """Log a failed delivery, keep it as a dead letter and tell the observers."""
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
    journal = bus.journal
    key = (event.event_id, subscription.subscriber_module, subscription.handler_name)
    if not _kept_by_journal(bus) and not (journal is not None and journal.handed_back(key)):
        # (Handed back: the database failed it for a moment, and it is due again: no letter.)
        try:
            # Only a delivery tried before can have a letter already: the first failure of
            # one (the usual) adds its letter without reading the store.
            again = journal is not None and journal.attempts(key) > 1
            _add_letter(bus.dead_letter_store, again, event, subscription, exc)
        except Exception:
            # The delivery of every later event must go on: the failure is logged above.
            logger.exception(
                "The dead-letter store could not keep the failure of %s:%s on event %s",
                subscription.subscriber_module,
                subscription.handler_name,
                event.event_id,
            )
    if observers:
        _observe(event, subscription, exc, started, observers)


def _add_letter(
    store: DeadLetterStore,
    again: bool,
    event: Event,
    subscription: Subscription,
    exc: BaseException,
) -> None:
    """Keep a failure in a dead-letter store of its own. On a durable platform a delivery
    fails again when its retry policy retries it: its letter is updated, one per delivery
    (two would be two retries of one delivery, and the second could never be settled)."""
    module, name = subscription.subscriber_module, subscription.handler_name
    if again:
        for letter in store.list():
            if (letter.event.event_id, letter.subscriber_module, letter.handler_name) == (
                event.event_id,
                module,
                name,
            ):
                failed_again(store, letter, exc)
                return
    store.add(new_letter(event, module, name, exc))


def _kept_by_journal(bus: EventBus) -> bool:
    """Whether the bus's journal itself writes failures as its dead letters."""
    return bus.journal is not None and getattr(bus.dead_letter_store, "kept_by_journal", False)


def _observe(
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
            RealClock.now() - started,
        ),
    )
    for observer in observers:
        try:
            observer.on_delivered(delivery)
        except Exception:
            logger.exception("Observer %r failed on a delivery; delivery goes on", observer)

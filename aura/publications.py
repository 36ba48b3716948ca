"""The publication registry: the transactional outbox with owners and leases.

A publish records the event and one *publication* per subscriber in the publisher's own
transaction (Spring Modulith's registry). Each publication is a row that moves

* ``PROCESSING`` — owned by one journal (``owner``) until ``due_at`` (its lease): the publisher
  owns the rows it has just written, so its own first delivery needs no extra claim;
* ``COMPLETED`` — in the same transaction as the handler's writes, and only while the row is
  still owned by the delivering journal (a journal whose lease was taken over commits nothing:
  exactly once in effect for a synchronous handler's database work);
* ``FAILED`` — the dead letter itself: the error, the traceback, the attempt count and when the
  next automatic retry is due (``due_at``, from the subscriber's :class:`RetryPolicy`) are one
  ``UPDATE`` of the row, so there is no moment where a failure is marked and its dead letter is
  not written; ``BaseException`` and cancellation end the same way, and are re-raised;
* ``PUBLISHED`` — owned by nobody and due (a journal that closed released it).

Work is *due* when its ``due_at`` has passed by **the database's clock** (never a comparison of
two processes' clocks), or when its lease lies further ahead than a lease can (the clock was
stepped back): :meth:`DurableJournal.claim` takes a due row for one journal with a conditional
``UPDATE``, so two processes never both own it. While a handler runs its lease is renewed by the
journal's :class:`Worker`, which also delivers what is due (rows a crashed process left, failed
deliveries whose retry is due) — on SQLite by polling, on PostgreSQL woken by ``NOTIFY`` sent
after commit, and claiming with ``FOR UPDATE SKIP LOCKED``.

The SQL is written once for SQLite (:class:`aura.database.Database`) and PostgreSQL
(:class:`aura.postgres.PostgresDatabase`); :class:`_Dialect` holds the few differences.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import threading
import traceback
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aura.clock import RealClock
from aura.dead_letters import DeadLetter, RetryPolicy
from aura.delivery import Subscription
from aura.events import Event
from aura.exceptions import (
    ConfigurationError,
    EventDeliveryError,
    TransactionMismatchError,
    TransactionRequiredError,
)
from aura.ids import new_id
from aura.store import _INSERT_EVENT, _event_from, _event_row, _stamp

if TYPE_CHECKING:
    from aura.store import EventStore

__all__ = [
    "WORK_CHANNEL",
    "CompletionMode",
    "Due",
    "DurableJournal",
    "FailedPublications",
    "Worker",
]

logger = logging.getLogger("aura.publications")

CompletionMode = Literal["keep", "delete", "archive"]


class _Database(Protocol):
    """What the registry uses of a database (SQLite's :class:`aura.database.Database` and
    :class:`aura.postgres.PostgresDatabase` both have it)."""

    @property
    def path(self) -> str: ...

    @property
    def in_transaction(self) -> bool: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> Any: ...

    def executescript(self, script: str) -> None: ...

    def query(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any]: ...

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> Any: ...

    def transaction(self) -> Any: ...

    def on_commit(self, callback: Callable[[], None]) -> None: ...


# --- the two dialects ----------------------------------------------------------------------------

_COLUMNS = """
    event_id TEXT NOT NULL,
    event_type TEXT NOT NULL,
    subscriber_module TEXT NOT NULL,
    handler TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    owner TEXT,
    due_at {real},
    lease {real},
    error TEXT,
    error_type TEXT,
    error_message TEXT,
    traceback TEXT,
    first_failed_at TEXT,
    last_failed_at TEXT,
    published_at TEXT NOT NULL,
    updated_at TEXT NOT NULL"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS aura_publications (
    id {id},{columns},
    CHECK (status IN ('PUBLISHED', 'PROCESSING', 'COMPLETED', 'FAILED')),
    UNIQUE (event_id, subscriber_module, handler)
);
CREATE TABLE IF NOT EXISTS aura_publications_archive (
    id {archive_id} PRIMARY KEY,{columns}
);
CREATE TABLE IF NOT EXISTS aura_inbox (
    event_id TEXT NOT NULL,
    subscriber_module TEXT NOT NULL,
    handler TEXT NOT NULL,
    handled_at TEXT NOT NULL,
    PRIMARY KEY (event_id, subscriber_module, handler)
){inbox_suffix};
"""

# Created after any migration of an older registry: they index columns it may lack.
_INDEXES = """
CREATE INDEX IF NOT EXISTS aura_publications_due ON aura_publications (due_at)
    WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS aura_publications_failed ON aura_publications (id)
    WHERE status = 'FAILED';
"""


@dataclasses.dataclass(frozen=True)
class _Dialect:
    """What differs between SQLite and PostgreSQL in the registry's SQL."""

    name: str
    now: str  # the database's clock, in seconds since the epoch
    id_column: str
    archive_id: str
    real: str
    inbox_suffix: str

    @property
    def schema(self) -> str:
        columns = _COLUMNS.format(real=self.real)
        return _SCHEMA.format(
            id=self.id_column,
            columns=columns,
            archive_id=self.archive_id,
            inbox_suffix=self.inbox_suffix,
        )


_SQLITE = _Dialect(
    name="sqlite",
    now="((julianday('now') - 2440587.5) * 86400.0)",
    id_column="INTEGER PRIMARY KEY AUTOINCREMENT",
    archive_id="INTEGER",
    real="REAL",
    inbox_suffix=" WITHOUT ROWID",
)
_POSTGRES = _Dialect(
    name="postgresql",
    now="date_part('epoch', clock_timestamp())",
    id_column="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    archive_id="BIGINT",
    real="DOUBLE PRECISION",
    inbox_suffix="",
)


def _dialect_of(database: object) -> _Dialect:
    return _POSTGRES if getattr(database, "dialect", "sqlite") == "postgresql" else _SQLITE


_KEY = "event_id = ? AND subscriber_module = ? AND handler = ?"

TRANSIENT_RETRY = RetryPolicy(max_attempts=10, backoff=0.5, maximum=30.0)
"""How a delivery the database failed (its ``is_transient``: a lost connection, a lock, a full
disk) is tried again when its subscriber has no :class:`RetryPolicy` of its own: 10 attempts in
all, waiting 0.5 s, 1 s, 2 s... up to 30 s; then it is a dead letter like any failure."""
_Key = tuple[str, str, str]
_GIVEN_BACK = 1024
"""How many handed-back deliveries a journal remembers for :meth:`DurableJournal.handed_back`."""


class _LeaseLost(Exception):
    """The row this journal delivered is no longer its own: another took it over."""


@dataclasses.dataclass(frozen=True, slots=True)
class Due:
    """A publication that is due: whoever claims it delivers it."""

    id: int
    event_id: str
    event_type: str
    subscriber_module: str
    handler: str
    status: str


def _owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{new_id()[:8]}"


_TRANSACTION_ADVICE = (
    "`with session.begin():`, `with transaction.atomic():`",
    "pass require_transaction=False",
)
"""What a refused publish outside a transaction advises, for a database that has no
``transaction_advice`` of its own (SQLAlchemy's and Django's have theirs)."""


LONGEST_LEASE = 7 * 86_400
"""The longest lease accepted, a week, in seconds: a crashed process's deliveries wait that long
before another takes them over (a longer one overflows the dates it is added to)."""


def check_lease(lease: object, *, name: str = "lease") -> None:
    """Refuse a lease that is not seconds above 0 and at most :data:`LONGEST_LEASE`."""
    if (
        isinstance(lease, bool)
        or not isinstance(lease, int | float)
        or not 0 < lease <= LONGEST_LEASE  # NaN fails too
    ):
        raise ConfigurationError(
            f"{name} is the seconds a delivery is owned before another process may take it "
            f"over, above 0 and at most a week ({LONGEST_LEASE}), got {lease!r}. Pass e.g. "
            "lease=30: a crashed process's deliveries are taken over that long after."
        )


class DurableJournal:
    """The publication registry of one process: every publish and delivery recorded.

    ``completed`` chooses what happens to a COMPLETED publication: ``"keep"`` it, ``"delete"``
    it, or ``"archive"`` it into ``aura_publications_archive``. ``lease`` is how long a claimed
    publication stays this journal's without renewal (seconds): after a crash, its rows are
    delivered again that long after their last renewal. ``inline=False`` leaves delivery to
    the workers of every process sharing the database (see :attr:`inline`).
    """

    def __init__(
        self,
        database: _Database,
        store: EventStore,
        *,
        completed: CompletionMode = "keep",
        lease: float = 30.0,
        inline: bool = True,
    ) -> None:
        if completed not in ("keep", "delete", "archive"):
            raise ConfigurationError(
                f"completed must be 'keep', 'delete' or 'archive', got {completed!r}."
            )
        check_lease(lease)
        self.database = database
        self.store = store
        self.completed = completed
        self.lease = float(lease)
        self.owner = _owner_id()
        self.dialect = _dialect_of(database)
        now = self.dialect.now
        self._sql = _statements(now, postgres=self.dialect.name == "postgresql")
        self._lock = threading.Lock()
        # Keys this journal owns and has not finished: accepted (monotonic time) or delivering.
        self._accepted: dict[_Key, float] = {}
        self._running: dict[_Key, int] = {}
        # Dead letters claimed here for an operator's retry, until their delivery ends: the
        # database failing that retry for a moment requeues it whatever attempts it has spent.
        self._retrying: set[_Key] = set()
        self.letters_elsewhere = False
        """True when the platform keeps dead letters in a store of their own: then, with
        ``completed="delete"``, the row of a delivery that failed before is kept COMPLETED
        when it completes (by a retry, automatic or not), until the letter is gone from that
        store (:meth:`settle`): a retry can then tell its delivery completed from purged."""
        # The deliveries whose failure was handed back (due again) rather than kept as a dead
        # letter, oldest first, until an operator's retry asks (see handed_back); bounded.
        self._given_back: dict[_Key, None] = {}
        self.inline = inline
        """True: the publishing process delivers what it publishes (it owns the rows it writes).
        False: a publish only records its publications, due at once to any process's workers
        (:class:`Worker`), which claim them; other processes are woken after the commit."""
        self.on_work: Callable[[], None] | None = None  # set by a Worker: wakes it
        self.dead_letters = FailedPublications(self)
        self.require_transaction = bool(getattr(database, "require_transaction", False))
        database.executescript(self.dialect.schema)
        _migrate(database, self.dialect)
        database.executescript(_INDEXES)

    def __repr__(self) -> str:
        return f"DurableJournal({self.database!r}, owner={self.owner!r})"

    # --- recording --------------------------------------------------------------------------

    def accepted(self, event: Event, route: tuple[Subscription, ...]) -> None:
        """Record the event and one publication per subscriber, owned by this journal (it
        delivers them next), all or nothing, in the caller's transaction if one is open."""
        if self.require_transaction and not self.database.in_transaction:
            check = getattr(self.database, "check_transaction", None)
            if check is not None:  # in a transaction of another database: say that instead
                check()
            unit, relax = getattr(self.database, "transaction_advice", _TRANSACTION_ADVICE)
            raise TransactionRequiredError(
                f"Event {event.event_type!r} was published outside any transaction of "
                f"{self.database.path}, and that database requires one "
                "(require_transaction=True): it would commit alone, apart from the writes it "
                f"announces. Publish inside the unit of work ({unit}), or {relax}. Nothing "
                "was written."
            )
        stamp = _stamp(datetime.now(UTC))
        if self.inline:
            insert = self._sql.insert
            rows: list[tuple[Any, ...]] = [
                (
                    event.event_id,
                    event.event_type,
                    s.subscriber_module,
                    s.handler_name,
                    self.owner,
                    self.lease,
                    self.lease,
                    stamp,
                    stamp,
                )
                for s in route
            ]
        else:
            insert = self._sql.insert_due
            rows = [
                (
                    event.event_id,
                    event.event_type,
                    s.subscriber_module,
                    s.handler_name,
                    stamp,
                    stamp,
                )
                for s in route
            ]
        try:
            with self.database.transaction():
                self.database.execute(_INSERT_EVENT, _event_row(event))
                if rows:
                    self.database.executemany(insert, rows)
                    if not self.inline:
                        self._announce_work()
        except TransactionMismatchError:
            raise  # the caller's own mistake, named as such; nothing was written
        except Exception as exc:
            raise EventDeliveryError(
                f"Event {event.event_type!r} could not be recorded durably: {exc}. Nothing was "
                "published or written for it; check the database (disk space, locks) and "
                "publish again."
            ) from exc
        if rows and self.inline:
            moment = RealClock.monotonic()
            with self._lock:
                for row in rows:
                    self._accepted[(row[0], row[2], row[3])] = moment

    def _announce_work(self) -> None:
        """After the commit: wake this process's workers, and (PostgreSQL) every other
        process's, with one NOTIFY per transaction."""
        notify = getattr(self.database, "notify", None)
        if notify is not None:
            notify(WORK_CHANNEL)
        if self.on_work is not None:
            self.database.on_commit(self.on_work)

    @contextmanager
    def delivering(self, event: Event, subscription: Subscription) -> Iterator[bool]:
        """Run one delivery this journal owns as a unit of work.

        A synchronous handler's writes and the COMPLETED mark commit together, and only while
        the publication is still this journal's. A failure (any ``BaseException``) becomes
        the dead letter in one write, then propagates. An idempotent subscriber that already
        handled the event is skipped (yields ``False``). An ``async`` handler runs outside
        the transaction: at least once, not atomically.
        """
        key = (event.event_id, subscription.subscriber_module, subscription.handler_name)
        if not self._begin(key):
            yield False  # taken over while it waited in the queue: the new owner delivers it
            return
        started = False  # whether the handler got control: before that, nothing failed in it
        try:
            if subscription.is_async:
                # An async handler awaits: a transaction held across that await would take in
                # whatever other tasks write meanwhile. COMPLETED commits after it.
                if subscription.idempotent and self._in_inbox(key):
                    with self.database.transaction():
                        self._complete(key, subscription, handled=False)
                    yield False
                    return
                started = True
                yield True
                with self.database.transaction():
                    self._complete(key, subscription, handled=True)
            else:
                with self.database.transaction():
                    handled = not (subscription.idempotent and self._in_inbox(key))
                    started = True
                    yield handled
                    self._complete(key, subscription, handled=handled)
        except _LeaseLost:
            logger.warning(
                "Delivery of %s (%s) to %s:%s was taken over by another process while it ran; "
                "its writes were rolled back and the new owner delivers it.",
                event.event_type,
                event.event_id,
                subscription.subscriber_module,
                subscription.handler_name,
            )
        except BaseException as exc:
            if not started:  # the database was locked or gone before the handler ran
                self._hand_back(key)
                self._handed_back(key)
            elif self._transient(exc):
                if self._retry_later(key, subscription, exc):
                    self._handed_back(key)
            else:
                self._fail(key, subscription, exc)
            raise
        finally:
            self._end(key)

    def _handed_back(self, key: _Key) -> None:
        with self._lock:
            given_back = self._given_back
            if len(given_back) >= _GIVEN_BACK:
                del given_back[next(iter(given_back))]  # asked for by no retry
            given_back[key] = None

    def handed_back(self, key: tuple[str, str, str]) -> bool:
        """Whether the last delivery of ``key`` here that failed was handed back to delivery
        (due again, after a wait or its lease) rather than written as a dead letter; asking
        forgets it."""
        with self._lock:
            return self._given_back.pop(key, False) is None

    def _transient(self, exc: BaseException) -> bool:
        """Whether ``exc`` is the database's momentary failure (its ``is_transient``: a lost
        connection, a lock or serialization conflict, a full disk), not the handler's."""
        is_transient = getattr(self.database, "is_transient", None)
        if is_transient is None or not isinstance(exc, Exception):
            return False
        if isinstance(exc, EventDeliveryError) and isinstance(exc.__cause__, Exception):
            exc = exc.__cause__  # the event store's write, wrapping the driver's error
        return bool(is_transient(exc))

    def attempts(self, key: _Key) -> int:
        """How many deliveries of ``key`` were started (1 for a first delivery, or a row gone)."""
        row = self.database.query_one("SELECT attempts FROM aura_publications WHERE " + _KEY, key)
        return int(row["attempts"]) if row is not None else 1

    def _retry_later(self, key: _Key, subscription: Subscription, exc: BaseException) -> bool:
        """Make a delivery the database failed due again after a backoff, the attempt counted
        (the handler's writes were rolled back with it); once its attempts are spent, a dead
        letter (then ``False``), unless it is an operator's retry of a dead letter: that one
        was asked for past its attempts, and is due again after the policy's longest wait. A
        row that cannot even be read is left to its lease, which runs out (due again all the
        same: ``True``)."""
        try:
            attempts = self.attempts(key)
        except Exception:
            self._left_to_lease(key, subscription, exc, "cannot be read either")
            return True
        policy = subscription.retry or TRANSIENT_RETRY
        if attempts < policy.max_attempts:
            wait = policy.wait(attempts)
            which = f"attempt {attempts} of {policy.max_attempts}"
        elif key in self._retrying:
            wait = policy.wait(policy.max_attempts)
            which = f"a retry asked for after its {policy.max_attempts} attempts"
        else:
            self._fail(key, subscription, exc, attempts)
            return False
        # A lease at least as long as the wait: a due time further ahead than its row's lease
        # reads as a clock stepped back (due at once). If even this write fails, the lease
        # runs out instead, and the row is claimed again.
        try:
            self.database.execute(
                self._sql.retry_later,
                (wait, max(self.lease, wait), _stamp(datetime.now(UTC)), *key, self.owner),
            )
        except Exception:
            self._left_to_lease(key, subscription, exc, "cannot record its retry either")
            return True
        logger.warning(
            "Delivery of %s to %s:%s failed on the database (%s: %s): delivered again in "
            "%.3g s (%s)",
            key[0],
            subscription.subscriber_module,
            subscription.handler_name,
            type(exc).__name__,
            exc,
            wait,
            which,
        )
        return True

    def _left_to_lease(
        self, key: _Key, subscription: Subscription, exc: BaseException, why: str
    ) -> None:
        logger.warning(
            "Delivery of %s to %s:%s failed on the database (%s: %s), which %s; it is "
            "delivered again when its lease expires",
            key[0],
            subscription.subscriber_module,
            subscription.handler_name,
            type(exc).__name__,
            exc,
            why,
        )

    def _hand_back(self, key: _Key) -> None:
        """Make an owned row due again shortly, no attempt counted (best effort: if even this
        cannot be written, its lease runs out instead)."""
        try:
            self.database.execute(self._sql.hand_back, (*key, self.owner))
        except Exception:
            logger.warning("Could not hand back %s; it is due when its lease expires", key)

    def _begin(self, key: _Key) -> bool:
        """Mark ``key`` as running here; renew its lease first if it waited long. An earlier
        delivery's hand-back (see :meth:`handed_back`) is forgotten: only this one's counts."""
        with self._lock:
            self._given_back.pop(key, None)
            accepted = self._accepted.pop(key, None)
            self._running[key] = self._running.get(key, 0) + 1
        if accepted is not None and RealClock.monotonic() - accepted < self.lease / 2:
            return True
        try:
            renewed = self.database.execute(
                self._sql.renew_one, (self.lease, self.lease, self.owner, *key)
            )
        except Exception:
            logger.exception("Could not renew the lease of %s before delivering it", key)
            return True  # the completion still checks ownership
        if renewed.rowcount == 1:
            return True
        self._end(key)
        return False

    def _end(self, key: _Key) -> None:
        with self._lock:
            left = self._running.get(key, 0) - 1
            if left > 0:
                self._running[key] = left
            else:
                self._running.pop(key, None)
                self._retrying.discard(key)

    def _complete(self, key: _Key, subscription: Subscription, *, handled: bool) -> None:
        """COMPLETED (kept, deleted or archived), only if the row is still this journal's."""
        stamp = _stamp(datetime.now(UTC))
        if self.completed == "keep":
            done = self.database.execute(self._sql.complete, (stamp, *key, self.owner))
        elif self.completed == "archive":
            self.database.execute(self._sql.archive, (stamp, *key, self.owner))
            done = self.database.execute(self._sql.delete_owned, (*key, self.owner))
        elif not self.letters_elsewhere:
            done = self.database.execute(self._sql.delete_owned, (*key, self.owner))
        else:  # its letter, if it failed before, is in another store: kept until settled
            done = self.database.execute(self._sql.delete_never_failed, (*key, self.owner))
            if done.rowcount == 0:
                done = self.database.execute(self._sql.complete, (stamp, *key, self.owner))
        if done.rowcount != 1:
            raise _LeaseLost
        if handled and subscription.idempotent:
            self.database.execute("INSERT INTO aura_inbox VALUES (?, ?, ?, ?)", (*key, stamp))

    def _fail(
        self,
        key: _Key,
        subscription: Subscription,
        exc: BaseException,
        attempts: int | None = None,
    ) -> None:
        """The dead letter: error, attempts and the next retry in one write of the row."""
        now = datetime.now(UTC)
        stamp = _stamp(now)
        if attempts is None:
            attempts = self.attempts(key)
        wait = _retry_wait(subscription.retry, attempts)
        message = str(exc)
        params = (
            f"{type(exc).__qualname__}: {message}",
            type(exc).__qualname__,
            message,
            "".join(traceback.format_exception(exc)),
            stamp,
            stamp,
            stamp,
            *key,
            self.owner,
        )
        try:
            with self.database.transaction():
                if wait is None:
                    self.database.execute(self._sql.fail, params)
                else:
                    self.database.execute(self._sql.fail_retry, (wait, -wait, *params))
        except Exception:
            # The row stays PROCESSING under an expiring lease: it is delivered again, and
            # fails again into a dead letter, once the database takes writes.
            logger.exception(
                "Could not record the failure of %s:%s on event %s; it is delivered again "
                "when its lease expires",
                subscription.subscriber_module,
                subscription.handler_name,
                key[0],
            )

    def _in_inbox(self, key: _Key) -> bool:
        return self.database.query_one("SELECT 1 FROM aura_inbox WHERE " + _KEY, key) is not None

    # --- what is due, and claiming it -------------------------------------------------------

    def due(
        self, limit: int = 1000, *, subscribers: Sequence[str] | None = None, others: bool = False
    ) -> list[Due]:
        """Publications anyone may claim now: unowned, under an expired lease, or failed with
        a retry due; longest due first (read only: see :meth:`claim`).

        With ``subscribers`` (``"module:name"``), only theirs — or, with ``others``, only those
        of anyone else (what this process cannot deliver) — so that rows no one here can take
        never hide the ones it can.
        """
        if subscribers is None:
            rows = self.database.query(self._sql.due, (self.lease, limit))
        else:
            keys = self._keys(subscribers)
            sql = self._sql.due_others if others else self._sql.due_for
            rows = self.database.query(sql, (self.lease, keys, limit))
        return [
            Due(
                int(r["id"]),
                r["event_id"],
                r["event_type"],
                r["subscriber_module"],
                r["handler"],
                r["status"],
            )
            for r in rows
        ]

    def claim(self, publication_id: int, *, failed: bool = False) -> Event | None:
        """Take one due publication (or, with ``failed``, one dead letter) for this journal;
        return its event, or ``None`` when another journal has it or it is not due."""
        sql = self._sql.claim_failed if failed else self._sql.claim
        params = (self.owner, self.lease, self.lease, publication_id)
        claimed = self.database.execute(sql, params if failed else (*params, self.lease))
        if claimed.rowcount != 1:
            return None
        row = self.database.query_one(
            "SELECT p.subscriber_module AS p_module, p.handler AS p_handler, e.* "
            "FROM aura_publications p JOIN aura_events e ON e.event_id = p.event_id "
            "WHERE p.id = ?",
            (publication_id,),
        )
        if row is None:  # the event row is gone: nothing can be delivered
            return None
        key = (row["event_id"], row["p_module"], row["p_handler"])
        with self._lock:
            self._accepted[key] = RealClock.monotonic()
            if failed:
                self._retrying.add(key)
        return _event_from(row)

    def claim_failed(self, key: tuple[str, str, str]) -> bool:
        """Take the dead letter (FAILED publication) of ``key`` for one retry in this journal:
        what a dead-letter store of its own retries on a durable platform (its letter has no
        publication id). False when there is none, or another journal has it."""
        row = self.database.query_one(
            "SELECT id FROM aura_publications WHERE status = 'FAILED' AND " + _KEY, key
        )
        return row is not None and self.claim(int(row["id"]), failed=True) is not None

    def settle(self, key: tuple[str, str, str]) -> None:
        """The letter of ``key`` is gone from its store of its own, its delivery completed: a
        COMPLETED row kept for it (see :attr:`letters_elsewhere`) is deleted now, as
        ``completed="delete"`` deletes any. Best effort: a row this cannot delete stays
        COMPLETED, as with ``completed="keep"``, and no retry runs its handler again."""
        if self.completed != "delete":
            return
        try:
            self.database.execute(
                "DELETE FROM aura_publications WHERE status = 'COMPLETED' AND " + _KEY, key
            )
        except Exception:
            logger.warning(
                "Could not delete the completed publication %s after its dead letter was "
                "removed; it stays COMPLETED (harmless: nothing delivers it again)",
                key,
                exc_info=True,
            )

    def completed_delivery(self, key: tuple[str, str, str]) -> bool:
        """Whether the delivery of ``key`` is known COMPLETED: its row says so, or (``completed
        ="archive"``) its archived row does. A row deleted on completion cannot be told from
        one purged, so it does not count; with dead letters in a store of their own, the row
        of a delivery that failed before is kept COMPLETED until :meth:`settle` (see
        :attr:`letters_elsewhere`)."""
        row = self.database.query_one("SELECT status FROM aura_publications WHERE " + _KEY, key)
        if row is not None:
            return bool(row["status"] == "COMPLETED")
        archived = self.database.query_one(
            "SELECT 1 AS found FROM aura_publications_archive WHERE " + _KEY, key
        )
        return archived is not None

    def claim_next(self, subscribers: Sequence[str]) -> tuple[Event, str, str] | None:
        """Take the publication due longest among ``subscribers`` (``"module:name"``) for this
        journal: ``(event, module, name)``, or None when nothing is due for them.

        One statement claims it; on PostgreSQL ``FOR UPDATE SKIP LOCKED`` lets every worker of
        every process claim at once without waiting on each other. A row this process already
        has queued or running (its lease ran out while it waited here) stays with that delivery
        and the next is claimed instead.
        """
        if not subscribers:
            return None
        keys = self._keys(subscribers)
        for _ in range(8):
            row = self.database.execute(
                self._sql.claim_next, (self.owner, self.lease, self.lease, keys)
            ).fetchone()
            if row is None:
                return None
            if self.dialect.name == "postgresql":  # the claim returned the event with it
                found = row
            else:
                found = self.database.query_one(
                    "SELECT * FROM aura_events WHERE event_id = ?", (row["event_id"],)
                )
                if found is None:
                    return None
            key = (found["event_id"], row["subscriber_module"], row["handler"])
            with self._lock:
                if key in self._running or key in self._accepted:
                    continue  # renewed by the claim; the delivery here completes it
                self._accepted[key] = RealClock.monotonic()
            return _event_from(found), row["subscriber_module"], row["handler"]
        return None

    def _keys(self, subscribers: Sequence[str]) -> Any:
        """``subscribers`` as the dialect takes a list parameter: an array, or JSON text."""
        return list(subscribers) if self.dialect.name == "postgresql" else _json_list(subscribers)

    def holds(self, key: _Key) -> bool:
        """Whether this process already has ``key`` queued or running (claimed again because
        its lease ran out while it waited here): delivering it twice here would run it twice."""
        with self._lock:
            return key in self._running or key in self._accepted

    def renew(self) -> int:
        """Extend the leases of what this journal owns, queued or running; return how many."""
        with self._lock:
            running = list({*self._running, *self._accepted})
            # Accepted rows whose delivery never started (a rolled-back publish) are dropped
            # after a while: their rows are gone or will be taken over.
            horizon = RealClock.monotonic() - self.lease * 10
            for key in [k for k, t in self._accepted.items() if t < horizon]:
                del self._accepted[key]
        if not running:
            return 0
        cursor = self.database.executemany(
            self._sql.renew_one, [(self.lease, self.lease, self.owner, *key) for key in running]
        )
        return int(cursor.rowcount)

    def release(self) -> int:
        """Hand back every publication this journal owns (closing): due to anyone at once."""
        stamp = _stamp(datetime.now(UTC))
        cursor = self.database.execute(self._sql.release, (stamp, self.owner))
        released = int(cursor.rowcount)
        notify = getattr(self.database, "notify", None)
        if released and notify is not None:
            with suppress(Exception):
                notify(WORK_CHANNEL)
        return released

    # --- reading ----------------------------------------------------------------------------

    def publications(self, status: str | None = None) -> list[dict[str, Any]]:
        """Return the publication rows (all, or those in ``status``), oldest first."""
        if status is None:
            rows = self.database.query("SELECT * FROM aura_publications ORDER BY id")
        else:
            rows = self.database.query(
                "SELECT * FROM aura_publications WHERE status = ? ORDER BY id", (status,)
            )
        return [dict(row) for row in rows]


def _retry_wait(policy: RetryPolicy | None, attempts: int) -> float | None:
    """Seconds until the next automatic retry after ``attempts`` attempts, or None (none)."""
    if policy is None or attempts >= policy.max_attempts:
        return None
    return policy.wait(attempts)


@dataclasses.dataclass(frozen=True)
class _Statements:
    insert: str
    insert_due: str
    claim_next: str
    complete: str
    archive: str
    delete_owned: str
    delete_never_failed: str
    fail: str
    fail_retry: str
    due: str
    due_for: str
    due_others: str
    claim: str
    claim_failed: str
    renew_one: str
    release: str
    hand_back: str
    retry_later: str


def _json_list(items: Sequence[str]) -> str:
    import json

    return json.dumps(list(items))


def is_poll_interval(value: object) -> bool:
    """Whether ``value`` can be a delivery worker's poll interval: a number of seconds above 0
    and below a day (the worker's waits must stay sleepable)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 86_400


WORK_CHANNEL = "aura_publications"
"""The PostgreSQL channel a commit with new due publications is announced on."""


def _statements(now: str, postgres: bool = False) -> _Statements:
    owned = f"{_KEY} AND owner = ? AND status = 'PROCESSING'"
    # Due: its time has come by the database's clock, or it lies further ahead than the wait it
    # was given (the clock was stepped back since it was written). Each row keeps the length
    # of that wait: a claim's as its lease (a process with a shorter lease never takes a
    # longer live one); a failure's retry backoff as its lease negated, so that a FAILED row
    # written before Aura kept it (its lease that of its last claim) waits its time out.
    due = (
        f"(status <> 'FAILED' AND (due_at <= {now} OR due_at > {now} + COALESCE(lease, ?)))"
        f" OR (status = 'FAILED' AND (due_at <= {now} OR (lease < 0 AND due_at > {now} - lease)))"
    )
    failed_set = (
        "status = 'FAILED', owner = NULL, error = ?, error_type = ?, error_message = ?, "
        "traceback = ?, first_failed_at = COALESCE(first_failed_at, ?), last_failed_at = ?, "
        "updated_at = ?"
    )
    claim_set = (
        f"status = 'PROCESSING', owner = ?, due_at = {now} + ?, lease = ?, attempts = attempts + 1"
    )
    subscriber_in = (
        "subscriber_module || ':' || handler = ANY(?)"
        if postgres
        else "subscriber_module || ':' || handler IN (SELECT value FROM json_each(?))"
    )
    skip_locked = " FOR UPDATE SKIP LOCKED" if postgres else ""
    return _Statements(
        insert_due=(
            "INSERT INTO aura_publications (event_id, event_type, subscriber_module, handler, "
            f"status, attempts, owner, due_at, published_at, updated_at) VALUES "
            f"(?, ?, ?, ?, 'PUBLISHED', 0, NULL, {now}, ?, ?)"
        ),
        claim_next=(
            # PostgreSQL: one round trip claims the row and reads its event.
            f"WITH claimed AS (UPDATE aura_publications SET {claim_set} WHERE id = (SELECT id "
            f"FROM aura_publications WHERE due_at <= {now} AND {subscriber_in} ORDER BY "
            f"due_at LIMIT 1{skip_locked}) RETURNING event_id AS claimed_event, "
            "subscriber_module, handler) SELECT c.subscriber_module, c.handler, e.* FROM "
            "claimed c JOIN aura_events e ON e.event_id = c.claimed_event"
            if postgres
            else f"UPDATE aura_publications SET {claim_set} WHERE id = (SELECT id FROM "
            f"aura_publications WHERE due_at <= {now} AND {subscriber_in} ORDER BY due_at "
            f"LIMIT 1) RETURNING id, event_id, subscriber_module, handler"
        ),
        insert=(
            "INSERT INTO aura_publications (event_id, event_type, subscriber_module, handler, "
            f"status, attempts, owner, due_at, lease, published_at, updated_at) VALUES "
            f"(?, ?, ?, ?, 'PROCESSING', 1, ?, {now} + ?, ?, ?, ?)"
        ),
        complete=(
            "UPDATE aura_publications SET status = 'COMPLETED', owner = NULL, due_at = NULL, "
            f"error = NULL, updated_at = ? WHERE {owned}"
        ),
        archive=(
            "INSERT INTO aura_publications_archive (id, event_id, event_type, "
            "subscriber_module, handler, status, attempts, owner, due_at, lease, error, "
            "error_type, error_message, traceback, first_failed_at, last_failed_at, published_at, "
            "updated_at) SELECT id, event_id, event_type, subscriber_module, handler, "
            "'COMPLETED', attempts, NULL, NULL, NULL, NULL, error_type, error_message, traceback, "
            "first_failed_at, last_failed_at, published_at, ? FROM aura_publications "
            f"WHERE {owned}"
        ),
        delete_owned=f"DELETE FROM aura_publications WHERE {owned}",
        delete_never_failed=(
            f"DELETE FROM aura_publications WHERE {owned} AND first_failed_at IS NULL"
        ),
        fail=f"UPDATE aura_publications SET due_at = NULL, {failed_set} WHERE {owned}",
        fail_retry=(
            f"UPDATE aura_publications SET due_at = {now} + ?, lease = ?, {failed_set} "
            f"WHERE {owned}"
        ),
        due=(
            "SELECT id, event_id, event_type, subscriber_module, handler, status "
            f"FROM aura_publications WHERE due_at IS NOT NULL AND ({due}) ORDER BY due_at "
            "LIMIT ?"
        ),
        due_for=(
            "SELECT id, event_id, event_type, subscriber_module, handler, status "
            f"FROM aura_publications WHERE due_at IS NOT NULL AND ({due}) AND {subscriber_in} "
            "ORDER BY due_at LIMIT ?"
        ),
        due_others=(
            "SELECT id, event_id, event_type, subscriber_module, handler, status "
            f"FROM aura_publications WHERE due_at IS NOT NULL AND ({due}) AND NOT "
            f"({subscriber_in}) ORDER BY due_at LIMIT ?"
        ),
        # On PostgreSQL a row another transaction holds locked is skipped, not waited for: a
        # process stopped mid-commit must not hang everyone else's resubmission.
        claim=(
            f"UPDATE aura_publications SET {claim_set} WHERE id = (SELECT id FROM "
            f"aura_publications WHERE id = ? AND ({due}) FOR UPDATE SKIP LOCKED)"
            if postgres
            else f"UPDATE aura_publications SET {claim_set} WHERE id = ? AND ({due})"
        ),
        claim_failed=(
            f"UPDATE aura_publications SET {claim_set} WHERE id = ? AND status = 'FAILED'"
        ),
        renew_one=(
            f"UPDATE aura_publications SET due_at = {now} + ?, lease = ? "
            f"WHERE owner = ? AND {_KEY} AND status = 'PROCESSING'"
        ),
        hand_back=(
            f"UPDATE aura_publications SET status = 'PUBLISHED', owner = NULL, "
            f"attempts = attempts - 1, due_at = {now} + 1.0 WHERE {owned}"
        ),
        release=(
            f"UPDATE aura_publications SET status = 'PUBLISHED', owner = NULL, due_at = {now}, "
            "updated_at = ? WHERE owner = ? AND status = 'PROCESSING'"
        ),
        retry_later=(
            f"UPDATE aura_publications SET status = 'PUBLISHED', owner = NULL, "
            f"due_at = {now} + ?, lease = ?, updated_at = ? WHERE {owned}"
        ),
    )


_ADDED_COLUMNS = {
    "event_type": "TEXT NOT NULL DEFAULT ''",
    "owner": "TEXT",
    "due_at": "REAL",
    "lease": "REAL",
    "error_type": "TEXT",
    "error_message": "TEXT",
    "traceback": "TEXT",
    "first_failed_at": "TEXT",
    "last_failed_at": "TEXT",
}


def _migrate(database: _Database, dialect: _Dialect) -> None:
    """Bring a registry written by an earlier Aura (no owners or leases) to this schema.

    Decided again inside the write transaction, so two processes opening one old file at once
    migrate it once.
    """
    if dialect.name != "sqlite" or database.path == ":memory:":
        return  # PostgreSQL came with this schema; a new in-memory database is empty
    if not any(_missing_columns(database).values()):
        return
    with database.transaction():
        missing = _missing_columns(database)
        if any(missing.values()):
            _add_columns(database, dialect, missing)


def _missing_columns(database: _Database) -> dict[str, list[tuple[str, str]]]:
    found = {
        table: {row["name"] for row in database.query(f"PRAGMA table_info({table})")}
        for table in ("aura_publications", "aura_publications_archive")
    }
    return {
        table: [(name, kind) for name, kind in _ADDED_COLUMNS.items() if name not in names]
        for table, names in found.items()
    }


def _add_columns(
    database: _Database, dialect: _Dialect, missing: dict[str, list[tuple[str, str]]]
) -> None:
    old_registry = any(name == "owner" for name, _ in missing["aura_publications"])
    for table, columns in missing.items():
        for name, kind in columns:
            database.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
    if not old_registry:
        return
    database.execute(
        "UPDATE aura_publications SET event_type = (SELECT e.event_type FROM aura_events e "
        "WHERE e.event_id = aura_publications.event_id) WHERE event_type = ''"
    )
    # Unfinished rows of the old registry had no owner: due at once.
    database.execute(
        f"UPDATE aura_publications SET status = 'PUBLISHED', due_at = {dialect.now} "
        "WHERE status IN ('PUBLISHED', 'PROCESSING')"
    )
    tables = {row["name"] for row in database.query("SELECT name FROM sqlite_master")}
    if "aura_dead_letters" in tables:
        # The old dead letters become their failed publications' details, once.
        database.execute(
            "UPDATE aura_publications SET (error_type, error_message, traceback, attempts, "
            "first_failed_at, last_failed_at) = (SELECT d.error_type, d.error_message, "
            "d.traceback, d.attempts, d.first_failed_at, d.last_failed_at FROM "
            "aura_dead_letters d WHERE json_extract(d.event, '$.event_id') = "
            "aura_publications.event_id AND d.subscriber_module = "
            "aura_publications.subscriber_module AND d.handler = aura_publications.handler) "
            "WHERE status = 'FAILED' AND EXISTS (SELECT 1 FROM aura_dead_letters d WHERE "
            "json_extract(d.event, '$.event_id') = aura_publications.event_id AND "
            "d.subscriber_module = aura_publications.subscriber_module AND "
            "d.handler = aura_publications.handler)"
        )
        database.execute("ALTER TABLE aura_dead_letters RENAME TO aura_dead_letters_migrated")


# --- the dead letters: failed publications ---------------------------------------------------


_Letters = list[DeadLetter]


class FailedPublications:
    """The dead letters of a durable platform: its FAILED publications, as a
    :class:`aura.dead_letters.DeadLetterStore` (the failure and its dead letter are one row)."""

    kept_by_journal = True
    """Failures are written by the journal itself: the bus does not add them again."""

    def __init__(self, journal: DurableJournal) -> None:
        self.journal = journal

    def add(self, letter: DeadLetter) -> None:
        """Keep a dead letter made elsewhere: its event is stored if it is not, and its
        publication is written FAILED."""
        database = self.journal.database
        stamp = _stamp(letter.last_failed_at)
        with database.transaction():
            if (
                database.query_one(
                    "SELECT 1 FROM aura_events WHERE event_id = ?", (letter.event.event_id,)
                )
                is None
            ):
                database.execute(_INSERT_EVENT, _event_row(letter.event))
            database.execute(
                "DELETE FROM aura_publications WHERE " + _KEY,
                (letter.event.event_id, letter.subscriber_module, letter.handler_name),
            )
            database.execute(
                "INSERT INTO aura_publications (event_id, event_type, subscriber_module, "
                "handler, status, attempts, error, error_type, error_message, traceback, "
                "first_failed_at, last_failed_at, published_at, updated_at) VALUES "
                "(?, ?, ?, ?, 'FAILED', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    letter.event.event_id,
                    letter.event.event_type,
                    letter.subscriber_module,
                    letter.handler_name,
                    letter.attempts,
                    f"{letter.error_type}: {letter.error_message}",
                    letter.error_type,
                    letter.error_message,
                    letter.traceback,
                    _stamp(letter.first_failed_at),
                    stamp,
                    _stamp(letter.event.timestamp),
                    stamp,
                ),
            )

    def replace(self, letter: DeadLetter) -> None:
        """Record a failed retry made elsewhere (the journal records its own)."""
        self.journal.database.execute(
            "UPDATE aura_publications SET error = ?, error_type = ?, error_message = ?, "
            "traceback = ?, attempts = ?, last_failed_at = ? WHERE id = ? AND status = 'FAILED'",
            (
                f"{letter.error_type}: {letter.error_message}",
                letter.error_type,
                letter.error_message,
                letter.traceback,
                letter.attempts,
                _stamp(letter.last_failed_at),
                _letter_id(letter.id),
            ),
        )

    def remove(self, letter_id: str) -> None:
        """Drop a dead letter (purge): its publication is deleted; its event stays stored."""
        self.journal.database.execute(
            "DELETE FROM aura_publications WHERE id = ? AND status = 'FAILED'",
            (_letter_id(letter_id),),
        )

    def claim(self, letter_id: str) -> bool:
        """Take a dead letter for one retry in this process; False if another has it."""
        return self.journal.claim(_letter_id(letter_id), failed=True) is not None

    def get(self, letter_id: str) -> DeadLetter | None:
        """The dead letter with this id, or None (retried meanwhile, or purged)."""
        rows = self._rows("AND p.id = ?", (_letter_id(letter_id),))
        return rows[0] if rows else None

    def list(self) -> _Letters:
        """Return every dead letter, oldest first."""
        return self._rows("", ())

    def _rows(self, where: str, params: tuple[Any, ...]) -> _Letters:
        rows = self.journal.database.query(
            "SELECT p.id AS p_id, p.subscriber_module AS p_module, p.handler AS p_handler, "
            "p.error_type AS p_error_type, p.error_message AS p_error_message, "
            "p.traceback AS p_traceback, p.attempts AS p_attempts, "
            "p.first_failed_at AS p_first, p.last_failed_at AS p_last, e.* "
            "FROM aura_publications p JOIN aura_events e ON e.event_id = p.event_id "
            f"WHERE p.status = 'FAILED' {where} ORDER BY p.id",
            params,
        )
        return [
            DeadLetter(
                id=str(row["p_id"]),
                event=_event_from(row),
                subscriber_module=row["p_module"],
                handler_name=row["p_handler"],
                error_type=row["p_error_type"] or "",
                error_message=row["p_error_message"] or "",
                traceback=row["p_traceback"] or "",
                attempts=int(row["p_attempts"]),
                first_failed_at=_moment(row["p_first"]),
                last_failed_at=_moment(row["p_last"]),
            )
            for row in rows
        ]


def _letter_id(letter_id: str) -> int:
    try:
        return int(letter_id)
    except (TypeError, ValueError):
        return -1  # matches no row: an id of another store


def _moment(stamp: str | None) -> datetime:
    return datetime.fromisoformat(stamp) if stamp else datetime.fromtimestamp(0, UTC)


# --- the worker: renews leases and delivers what is due ----------------------------------------


def check_workers(threads: object) -> int:
    """Return a number of delivery threads (``workers=``); refuse one that is not a whole
    number >= 0."""
    if type(threads) is not int or threads < 0:
        raise ConfigurationError(
            f"workers must be a whole number of at least 0, got {threads!r}. Pass e.g. "
            "workers=4: that many deliveries run at once in this process (0: it only "
            "publishes, other processes deliver)."
        )
    return threads


class Worker:
    """The delivery threads of one journal: lease renewal, what is due, and (when the
    journal is not ``inline``) every publication, claimed as it comes.

    A housekeeping thread renews the leases of the deliveries running here and, every ``poll``
    seconds, runs ``deliver_due`` (the bus's resubmission: rows a dead process left, retries
    that are due, a clock stepped back). With ``deliver_next`` (worker mode), ``threads``
    delivery threads each claim the next due publication (``deliver_next()`` returns whether
    one was delivered) until none is left, then sleep until :meth:`wake` — called after a
    commit in this process, and on PostgreSQL by a ``LISTEN`` on :data:`WORK_CHANNEL` for the
    other processes' commits — or the next poll, the fallback when a notification is lost.
    """

    def __init__(
        self,
        journal: DurableJournal,
        deliver_due: Callable[[], object],
        *,
        poll: float = 1.0,
        deliver_next: Callable[[], bool] | None = None,
        threads: int = 1,
    ) -> None:
        if not is_poll_interval(poll):
            raise ConfigurationError(
                f"poll must be a positive number of seconds, below a day, got {poll!r}. Pass "
                "e.g. poll=1.0."
            )
        check_workers(threads)
        self.journal = journal
        self.poll = float(poll)
        self.threads = threads
        self._deliver_due = deliver_due
        self._deliver_next = deliver_next
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._seq = 0  # bumped by wake(): a sleeper that saw another value has work to look for
        self._threads: list[threading.Thread] = []
        self._unlisten: Callable[[], None] | None = None
        self.passes = 0

    def start_renewing(self) -> None:
        """Start renewing this journal's leases (once), before any delivery starts: what the
        platform delivers while it starts (a backlog, what a dead process left) runs under a
        lease as long as any other delivery."""
        if self._threads:
            return
        # Renewal has a thread of its own: a delivery that runs long (on any thread) must not
        # keep its own lease from being renewed.
        # It holds the journal weakly: a platform dropped without close() is still collected
        # (and its thread ends), as it was before every durable platform had this thread;
        # while anything still uses the journal (the bus, say), its leases are renewed.
        renewal = threading.Thread(
            target=_renew_while_kept,
            args=(weakref.ref(self.journal), self._stop, self.journal.lease / 3),
            name=f"aura-worker-{self.journal.owner}-lease",
            daemon=True,
        )
        self._threads.append(renewal)
        weakref.finalize(self.journal, self._stop.set)  # collected: the thread ends at once
        renewal.start()

    def start(self) -> None:
        """Start the threads (once), and listen for other processes' commits (PostgreSQL)."""
        if len(self._threads) > 1:
            return
        self.start_renewing()
        self.journal.on_work = self.wake
        listen = getattr(self.journal.database, "listen", None)
        if listen is not None:
            self._unlisten = listen(WORK_CHANNEL, lambda payload: self.wake())
        name = f"aura-worker-{self.journal.owner}"
        started = [threading.Thread(target=self._housekeep, name=name, daemon=True)]
        if self._deliver_next is not None:
            started += [
                threading.Thread(target=self._deliver, name=f"{name}-{n}", daemon=True)
                for n in range(self.threads)
            ]
        self._threads += started
        for thread in started:
            thread.start()

    @property
    def claims(self) -> bool:
        """Whether delivery threads claim what falls due (``workers=N``), rather than the
        publishing process delivering what it publishes."""
        return self._deliver_next is not None

    def wake(self) -> None:
        """Look for due work now instead of at the next poll."""
        with self._changed:
            self._seq += 1
            self._changed.notify_all()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the threads, waiting up to ``timeout`` seconds for deliveries in progress."""
        self._stop.set()
        self.journal.on_work = None
        if self._unlisten is not None:
            with suppress(Exception):
                self._unlisten()
        self.wake()
        deadline = RealClock.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - RealClock.monotonic()))

    def _sleep(self, seen: int, seconds: float) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._seq != seen or self._stop.is_set(), seconds)

    def _housekeep(self) -> None:
        while not self._stop.is_set():
            seen = self._seq
            try:
                self._deliver_due()
            except BaseException:  # a handler's SystemExit too: its dead letter is written
                if self._stop.is_set():
                    return
                logger.exception("The delivery worker failed a pass; it tries again")
            self.passes += 1
            if self._deliver_next is None:
                self._sleep(seen, self.poll)
            else:  # the delivery threads answer wake(); this one keeps to its rhythm
                self._stop.wait(self.poll)

    def _deliver(self) -> None:
        assert self._deliver_next is not None  # only started in worker mode
        while not self._stop.is_set():
            seen = self._seq
            try:
                delivered = self._deliver_next()
            except BaseException:  # a handler's SystemExit too: its dead letter is written
                if self._stop.is_set():
                    return
                logger.exception("A delivery worker failed to claim or deliver; it goes on")
                delivered = False
            if not delivered:
                self._sleep(seen, self.poll)


def _renew_while_kept(
    kept: weakref.ref[DurableJournal], stop: threading.Event, pause: float
) -> None:
    """The lease thread: renew the journal's leases every ``pause`` seconds until it is
    stopped, or the journal is gone."""
    while not stop.wait(pause):
        journal = kept()
        if journal is None:
            return
        try:
            journal.renew()
        except Exception:
            logger.warning("Could not renew this process's leases; it tries again", exc_info=True)
        del journal

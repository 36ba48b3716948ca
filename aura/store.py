"""Durable events: the event store, persisted dead letters and the transactional outbox.

* :class:`EventStore` keeps every event in order and reads it back by type, module, correlation
  or time; :class:`SqliteEventStore` (stdlib ``sqlite3``, WAL) and :class:`InMemoryEventStore`
  share one contract. The interface is plain SQL-free Python, so a PostgreSQL store fits it.
* :class:`SqliteDeadLetterStore` persists the bus's dead letters.
* The publication registry (the transactional outbox) that records each delivery's progress
  beside these events is :class:`aura.publications.DurableJournal`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal, TypedDict, Unpack

from aura.bus import EventBus
from aura.database import SqlDatabase, SqlRow
from aura.dead_letters import DeadLetter
from aura.events import (
    VERSION_KEY,
    Event,
    EventCatalog,
    FrozenDict,
    default_catalog,
    freeze_json,
)
from aura.exceptions import ConfigurationError, EventDeliveryError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "EventFilters",
    "EventQuery",
    "EventStore",
    "InMemoryEventStore",
    "SqliteDeadLetterStore",
    "SqliteEventStore",
]

CompletionMode = Literal["keep", "delete", "archive"]


def _stamp(moment: datetime) -> str:
    """A fixed-width UTC text timestamp: it sorts and compares as the moments do."""
    if moment.tzinfo is None:
        raise ConfigurationError(
            f"Event store times must be timezone-aware, got {moment!r}. Pass e.g. "
            "datetime(2030, 1, 7, tzinfo=UTC)."
        )
    if moment.tzinfo is not UTC:
        moment = moment.astimezone(UTC)
    # isoformat with a fixed precision: the same text as strftime(_STAMP), several times faster.
    return moment.isoformat(timespec="microseconds")


def _now() -> datetime:
    return datetime.now(UTC)


class EventFilters(TypedDict, total=False):
    """The filters of :meth:`EventStore.stream`, ``read`` and ``replay``; each may be left out."""

    event_type: str | None
    source_module: str | None
    correlation_id: str | None
    since: datetime | None
    until: datetime | None


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The filters of one read, as data (what an :class:`EventStore` implementation selects)."""

    event_type: str | None = None
    source_module: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class EventStore(ABC):
    """An append-only, ordered log of events (the seed's ``EventStore``)."""

    bus: EventBus | None = None

    @abstractmethod
    def append(self, event: Event) -> None:
        """Store one event."""

    @abstractmethod
    def append_many(self, events: Iterable[Event]) -> None:
        """Store events in order, all or none."""

    @abstractmethod
    def get(self, event_id: str, *, as_written: bool = False) -> Event | None:
        """Return one event by id, or ``None``: its contract's current version (see
        :meth:`stream`) unless ``as_written``."""

    def _catalog(self) -> EventCatalog:
        """The contracts reads upcast with: the attached bus's, else the default ones."""
        return self.bus.catalog if self.bus is not None else default_catalog

    def _current(self, event: Event) -> Event:
        return self._catalog().current(event)

    def stream(
        self,
        *,
        limit: int | None = None,
        batch_size: int = 500,
        as_written: bool = False,
        **filters: Unpack[EventFilters],
    ) -> Iterator[Event]:
        """Yield matching events in order, ``batch_size`` at a time, without loading them all.

        The filters are :class:`EventFilters` (``since`` inclusive, ``until`` exclusive);
        ``limit`` caps how many are yielded. Each event is its contract's current version
        (upcast by the catalog of the attached bus, else the default one: see
        :meth:`~aura.events.EventCatalog.current`); ``as_written=True`` yields them as stored.
        """
        _check_limit(limit, batch_size)
        events = self._select(EventQuery(**filters), limit, batch_size)
        return events if as_written else map(self._catalog().current, events)

    def read(
        self,
        *,
        limit: int | None = None,
        as_written: bool = False,
        **filters: Unpack[EventFilters],
    ) -> list[Event]:
        """Return matching events in order (see :meth:`stream` for the filters)."""
        return list(self.stream(limit=limit, as_written=as_written, **filters))

    def replay(
        self, target: EventBus | Callable[[Event], object], **filters: Unpack[EventFilters]
    ) -> int:
        """Feed stored events, in order, to a handler ``(event) -> None`` or to a bus's
        subscribers (to rebuild a read model); return how many were replayed.

        Replaying to a bus calls the subscribers of each event directly (``EventBus.replay``):
        nothing is recorded, journaled or published again.
        """
        # Decided once; aura.event_bus (the process-wide default) counts as a bus.
        feed = target.replay if isinstance(target, EventBus) else target
        count = 0
        for event in self.stream(**filters):
            feed(event)
            count += 1
        return count

    @abstractmethod
    def _select(self, query: EventQuery, limit: int | None, batch_size: int) -> Iterator[Event]:
        """Yield the events ``query`` matches, in order, at most ``limit``."""

    def store_event(self, event_type: str, data: Mapping[str, Any], source_module: str) -> Event:
        """The seed's call: store an event, then publish it on the attached bus (if any)."""
        if self.bus is None:
            version = self._catalog().version_of(event_type, data)
            metadata = {VERSION_KEY: version} if version != 1 else None
            event = Event.create(event_type, data, source_module, metadata=metadata)
            self.append(event)
            return event
        journaled = getattr(self.bus.journal, "store", None)  # a DurableJournal's event store
        if isinstance(journaled, EventStore) and _same_table(journaled, self):
            return self.bus.publish(event_type, data, source_module)  # the journal stores it
        event = self.bus.publish(event_type, data, source_module)
        self.append(event)
        return event


def _same_table(journaled: EventStore, store: EventStore) -> bool:
    """Whether two stores write the same rows (the journal then stores the event already)."""
    if journaled is store:
        return True
    database = getattr(journaled, "database", None)
    return database is not None and database is getattr(store, "database", None)


def _check_limit(limit: int | None, batch_size: int) -> None:
    if limit is not None and (type(limit) is not int or limit < 0):
        raise ConfigurationError(
            f"limit must be a whole number of events (0 or more) or None, got {limit!r}."
        )
    if type(batch_size) is not int or batch_size < 1:
        raise ConfigurationError(f"batch_size must be an int of at least 1, got {batch_size!r}.")


class InMemoryEventStore(EventStore):
    """An :class:`EventStore` in a list: for tests and for processes that need no durability."""

    def __init__(self, *, bus: EventBus | None = None) -> None:
        self.bus = bus
        self._events: list[Event] = []
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    def append(self, event: Event) -> None:
        """Store one event; an id already stored is refused."""
        self.append_many((event,))

    def append_many(self, events: Iterable[Event]) -> None:
        """Store events in order, all or none."""
        batch = list(events)
        with self._lock:
            ids = [event.event_id for event in batch]
            clash = next((i for i in ids if i in self._ids), None)
            if clash is None and len(set(ids)) != len(ids):
                clash = next(i for i in ids if ids.count(i) > 1)
            if clash is not None:
                raise EventDeliveryError(
                    f"Event {clash} is already in the event store; an event is stored once. "
                    "Publish a new event instead of re-appending this one."
                )
            self._events.extend(batch)
            self._ids.update(ids)

    def get(self, event_id: str, *, as_written: bool = False) -> Event | None:
        """Return one event by id (its contract's current version unless ``as_written``), or
        ``None``."""
        event = next((e for e in self._events if e.event_id == event_id), None)
        return event if event is None or as_written else self._current(event)

    def _select(self, query: EventQuery, limit: int | None, batch_size: int) -> Iterator[Event]:
        """Yield matching events in order."""
        low = _stamp(query.since) if query.since is not None else None
        high = _stamp(query.until) if query.until is not None else None
        with self._lock:
            snapshot = list(self._events)
        count = 0
        for event in snapshot:
            if limit is not None and count >= limit:
                return
            stamp = _stamp(event.timestamp)
            if (
                (query.event_type is None or event.event_type == query.event_type)
                and (query.source_module is None or event.source_module == query.source_module)
                and (query.correlation_id is None or event.correlation_id == query.correlation_id)
                and (low is None or stamp >= low)
                and (high is None or stamp < high)
            ):
                count += 1
                yield event


_EVENTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS aura_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    event_type TEXT NOT NULL,
    source_module TEXT NOT NULL,
    correlation_id TEXT,
    causation_id TEXT,
    occurred_at TEXT NOT NULL,
    data TEXT NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS aura_events_type ON aura_events (event_type, seq);
CREATE INDEX IF NOT EXISTS aura_events_module ON aura_events (source_module, seq);
CREATE INDEX IF NOT EXISTS aura_events_correlation ON aura_events (correlation_id, seq);
CREATE INDEX IF NOT EXISTS aura_events_time ON aura_events (occurred_at);
"""

_INSERT_EVENT = (
    "INSERT INTO aura_events (event_id, event_type, source_module, correlation_id, "
    "causation_id, occurred_at, data, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


_json = json.JSONEncoder(separators=(",", ":")).encode
"""One encoder for every row: event data is already checked to be finite JSON."""


def _event_row(event: Event) -> tuple[str | None, ...]:
    return (
        event.event_id,
        event.event_type,
        event.source_module,
        event.correlation_id,
        event.causation_id,
        _stamp(event.timestamp),
        _json(event.data),
        _json(event.metadata),
    )


def _event_from(row: SqlRow) -> Event:
    data: FrozenDict = freeze_json(json.loads(row["data"]))
    metadata: FrozenDict = freeze_json(json.loads(row["metadata"]), root="metadata")
    return Event.restore(
        row["event_id"],
        datetime.fromisoformat(row["occurred_at"]),
        row["source_module"],
        row["event_type"],
        data,
        metadata,
    )


_EVENTS_SCHEMA_POSTGRES = _EVENTS_SCHEMA.replace(
    "seq INTEGER PRIMARY KEY AUTOINCREMENT", "seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
)


class SqliteEventStore(EventStore):
    """An :class:`EventStore` in the platform's database, table ``aura_events``: SQLite's
    :class:`~aura.database.Database`, or PostgreSQL's ``aura.postgres.PostgresDatabase`` (the
    same SQL; only the schema's identity column differs)."""

    def __init__(self, database: SqlDatabase, *, bus: EventBus | None = None) -> None:
        self.database = database
        self.bus = bus
        postgres = getattr(database, "dialect", "sqlite") == "postgresql"
        database.executescript(_EVENTS_SCHEMA_POSTGRES if postgres else _EVENTS_SCHEMA)

    def append(self, event: Event) -> None:
        """Store one event (inside the caller's transaction, if any).

        One statement is atomic on its own: no explicit transaction is opened for it.
        """
        row = _event_row(event)
        self._write(1, lambda: self.database.execute(_INSERT_EVENT, row))

    def append_many(self, events: Iterable[Event]) -> None:
        """Store events in order, all or none, in one transaction."""
        rows = [_event_row(event) for event in events]

        def insert() -> None:
            with self.database.transaction():
                self.database.executemany(_INSERT_EVENT, rows)

        self._write(len(rows), insert)

    def _write(self, count: int, write: Callable[[], object]) -> None:
        try:
            write()
        except Exception as exc:
            if _is_integrity_error(exc):
                raise EventDeliveryError(
                    f"An event is already in the event store ({exc}); an event is stored once. "
                    "Nothing of this batch was stored."
                ) from None
            if not _is_driver_error(exc):
                raise
            raise EventDeliveryError(
                f"The event store could not write {count} event(s): {exc}. Nothing of this "
                "batch was stored; check the database file (disk space, locks) and retry."
            ) from exc

    def get(self, event_id: str, *, as_written: bool = False) -> Event | None:
        """Return one event by id (its contract's current version unless ``as_written``), or
        ``None``."""
        row = self.database.query_one("SELECT * FROM aura_events WHERE event_id = ?", (event_id,))
        if row is None:
            return None
        event = _event_from(row)
        return event if as_written else self._current(event)

    def _select(self, query: EventQuery, limit: int | None, batch_size: int) -> Iterator[Event]:
        """Yield matching events in order, reading ``batch_size`` rows at a time."""
        conditions, params = ["seq > ?"], []
        for column, value in (
            ("event_type", query.event_type),
            ("source_module", query.source_module),
            ("correlation_id", query.correlation_id),
        ):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        if query.since is not None:
            conditions.append("occurred_at >= ?")
            params.append(_stamp(query.since))
        if query.until is not None:
            conditions.append("occurred_at < ?")
            params.append(_stamp(query.until))
        sql = f"SELECT * FROM aura_events WHERE {' AND '.join(conditions)} ORDER BY seq LIMIT ?"
        last, remaining = 0, limit
        while remaining is None or remaining > 0:
            size = batch_size if remaining is None else min(batch_size, remaining)
            rows = self.database.query(sql, (last, *params, size))
            for row in rows:
                yield _event_from(row)
            if len(rows) < size:
                return
            last = rows[-1]["seq"]
            if remaining is not None:
                remaining -= len(rows)

    def count(self) -> int:
        """Return how many events are stored."""
        row = self.database.query_one("SELECT COUNT(*) AS n FROM aura_events")
        return int(row["n"]) if row is not None else 0


def _is_driver_error(exc: BaseException) -> bool:
    """An error of the database driver (sqlite3's or psycopg's), not of Aura's code; errors
    SQLAlchemy or Django wrap a driver's in reach the caller as those libraries raise them."""
    return isinstance(exc, sqlite3.Error) or type(exc).__module__.startswith("psycopg")


def _is_integrity_error(exc: BaseException) -> bool:
    """A unique constraint broke: sqlite3's IntegrityError or psycopg's (by its class)."""
    return any(kind.__name__ == "IntegrityError" for kind in type(exc).__mro__)


# --- dead letters --------------------------------------------------------------------------------

_DEAD_LETTERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS aura_dead_letters (
    id TEXT PRIMARY KEY,
    event TEXT NOT NULL,
    subscriber_module TEXT NOT NULL,
    handler TEXT NOT NULL,
    error_type TEXT NOT NULL,
    error_message TEXT NOT NULL,
    traceback TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    first_failed_at TEXT NOT NULL,
    last_failed_at TEXT NOT NULL
);
"""


class SqliteDeadLetterStore:
    """The bus's dead letters, persisted in the platform's database (``aura_dead_letters``)."""

    def __init__(self, database: SqlDatabase) -> None:
        self.database = database
        database.executescript(_DEAD_LETTERS_SCHEMA)

    def add(self, letter: DeadLetter) -> None:
        """Keep a new dead letter."""
        self.database.execute(
            "INSERT INTO aura_dead_letters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                letter.id,
                letter.event.to_json(),
                letter.subscriber_module,
                letter.handler_name,
                letter.error_type,
                letter.error_message,
                letter.traceback,
                letter.attempts,
                _stamp(letter.first_failed_at),
                _stamp(letter.last_failed_at),
            ),
        )

    def replace(self, letter: DeadLetter) -> None:
        """Record a failed retry of a dead letter."""
        self.database.execute(
            "UPDATE aura_dead_letters SET error_type = ?, error_message = ?, traceback = ?, "
            "attempts = ?, last_failed_at = ? WHERE id = ?",
            (
                letter.error_type,
                letter.error_message,
                letter.traceback,
                letter.attempts,
                _stamp(letter.last_failed_at),
                letter.id,
            ),
        )

    def remove(self, letter_id: str) -> None:
        """Drop a dead letter."""
        self.database.execute("DELETE FROM aura_dead_letters WHERE id = ?", (letter_id,))

    def list(self) -> list[DeadLetter]:
        """Return every dead letter, oldest first."""
        rows = self.database.query("SELECT * FROM aura_dead_letters ORDER BY first_failed_at, id")
        return [
            DeadLetter(
                id=row["id"],
                event=Event.from_json(row["event"]),
                subscriber_module=row["subscriber_module"],
                handler_name=row["handler"],
                error_type=row["error_type"],
                error_message=row["error_message"],
                traceback=row["traceback"],
                attempts=row["attempts"],
                first_failed_at=datetime.fromisoformat(row["first_failed_at"]),
                last_failed_at=datetime.fromisoformat(row["last_failed_at"]),
            )
            for row in rows
        ]

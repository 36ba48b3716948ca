"""The PostgreSQL unit of work: the same interface as :class:`aura.database.Database`.

SQL is written once for both databases with ``?`` placeholders; each distinct statement text is
translated once to psycopg's ``%s`` (see :func:`translate`). Connections come from a
``psycopg_pool.ConnectionPool``: a transaction checks one out for its whole duration and keeps
it in a :class:`~contextvars.ContextVar`, so a nested :meth:`PostgresDatabase.transaction` in the
same context is a savepoint, while other threads and other asyncio tasks get connections of
their own. Statements outside a transaction run on a pooled connection in autocommit.

:meth:`PostgresDatabase.notify` and :meth:`PostgresDatabase.listen` wrap ``LISTEN``/``NOTIFY``:
a notification is sent only once the transaction that asked for it has committed, and a listener
reconnects by itself when its connection dies, then says so (``callback(None)``) so that its
owner can look for what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aura.database import run_callbacks
from aura.exceptions import ConfigurationError, MissingExtraError
from aura.sql import mask_password, postgres_transient, translate

try:
    import psycopg
    from psycopg import sql
    from psycopg.rows import DictRow, dict_row
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError:  # pragma: no cover - its own process: see test_postgres_database.py
    raise MissingExtraError(
        "aura.postgres needs psycopg and psycopg-pool, which are not installed. Install Aura's "
        "postgres extra: pip install 'aura-modulith[postgres]'"
    ) from None

__all__ = ["PostgresDatabase", "StatementResult", "mask_password", "translate"]

Params = Sequence[Any] | Mapping[str, Any]
Connection = psycopg.Connection[DictRow]

_logger = logging.getLogger("aura.postgres")

_MAX_CHANNEL_BYTES = 63  # NAMEDATALEN - 1: longer channel names are truncated by LISTEN
_MAX_PAYLOAD_BYTES = 7999  # NOTIFY refuses a payload of 8000 bytes or more
_LISTEN_POLL = 0.1  # seconds a listener waits for notifications before it checks for stop()
_RECONNECT_FIRST, _RECONNECT_MAX = 0.05, 2.0  # a listener's reconnection backoff, in seconds


@dataclass(frozen=True)
class StatementResult:
    """What :meth:`PostgresDatabase.execute` returns: the rows affected and any rows returned.

    PostgreSQL has no ``lastrowid``: write ``INSERT ... RETURNING id`` and read the id with
    :meth:`fetchone` (or use :meth:`PostgresDatabase.query_one`).
    """

    rowcount: int
    """Rows inserted, updated or deleted (``-1`` when PostgreSQL does not say)."""
    rows: tuple[DictRow, ...] = ()
    """The rows the statement returned (``RETURNING``, or a ``SELECT``), already fetched."""

    def fetchone(self) -> DictRow | None:
        """The first returned row, or ``None``."""
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[DictRow]:
        """Every returned row."""
        return list(self.rows)


@dataclass
class _Level:
    """One level of a transaction: the outermost, or a savepoint inside it."""

    callbacks: list[Callable[[], None]] = field(default_factory=list)
    notifies: dict[str, str] = field(default_factory=dict)  # channel -> payload, in call order


@dataclass
class _Transaction:
    """The connection a context holds for its transaction, and that transaction's levels.

    ``owner`` is the thread and asyncio task that began it: a task created inside the
    transaction (or a thread given a copy of the context, ``asyncio.to_thread``) inherits the
    context variable, but not the transaction, which it would otherwise share or outlive.
    """

    connection: Connection
    owner: tuple[int, object]
    levels: list[_Level] = field(default_factory=lambda: [_Level()])

    def pending(self, channel: str) -> bool:
        """Whether a notify on ``channel`` is already pending at some level."""
        return any(channel in level.notifies for level in self.levels)


class PostgresDatabase:
    """A PostgreSQL database (psycopg 3 and a connection pool) with nestable transactions.

    ``dsn`` is a libpq connection string (``postgresql://user:password@host:5432/dbname`` or
    ``host=... dbname=...``); at most ``pool_size`` connections are open at once, and a caller
    waits up to ``timeout`` seconds for one. Statements take ``?`` placeholders (or ``:name``
    with a mapping of parameters) and return rows as dictionaries (``row["col"]``).

    Each thread and each asyncio task has transactions of its own: a transaction holds its
    connection until it ends, so an asyncio task that waits for a connection while the pool is
    exhausted blocks its event loop (size the pool for the tasks that hold transactions at once).
    """

    dialect = "postgresql"
    """The SQL dialect, for code that writes the few statements that differ from SQLite's."""

    path: str
    """The DSN with any password masked (what messages and ``repr`` show)."""

    def __init__(
        self,
        dsn: str,
        *,
        pool_size: int = 10,
        timeout: float = 30.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if not isinstance(dsn, str) or not dsn.strip():
            raise ConfigurationError(
                f"A PostgreSQL DSN must be a non-empty connection string, got {dsn!r}. Pass "
                "dsn='postgresql://user:password@host:5432/dbname'."
            )
        if isinstance(pool_size, bool) or not isinstance(pool_size, int) or pool_size < 1:
            raise ConfigurationError(
                f"pool_size must be a positive int, got {pool_size!r}. Pass pool_size=10, or "
                "as many connections as transactions may be open at once."
            )
        self.path = mask_password(dsn)
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._transaction: ContextVar[_Transaction | None] = ContextVar(
            f"aura_postgres_transaction_{id(self)}", default=None
        )
        self._lock = threading.Lock()
        self._closed = False
        self._listeners: set[_Listener] = set()
        self._probe()
        self.pool_size = pool_size
        """How many connections may be open at once: each running transaction holds one."""
        self._pool = ConnectionPool(
            dsn,
            connection_class=Connection,
            kwargs={"autocommit": True, "row_factory": dict_row},
            min_size=1,
            max_size=pool_size,
            open=True,
            # A connection that died while idle (a server restart) is replaced on checkout
            # instead of failing the transaction that would have used it.
            check=_check_idle_connection,
            timeout=timeout,
            name="aura",
        )

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.path!r})"

    @property
    def in_transaction(self) -> bool:
        """Whether the calling context (thread or asyncio task) is inside :meth:`transaction`."""
        return self._current() is not None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def execute(self, sql: str, params: Params = ()) -> StatementResult:
        """Run one statement; outside a transaction it commits at once."""
        query = translate(sql, isinstance(params, Mapping))
        with self._connection() as connection:
            cursor = connection.execute(query, params)
            rows = tuple(cursor.fetchall()) if cursor.description is not None else ()
            return StatementResult(cursor.rowcount, rows)

    def executemany(self, sql: str, rows: Sequence[Params]) -> StatementResult:
        """Run one statement for each row of parameters (pipelined by psycopg)."""
        named = bool(rows) and isinstance(rows[0], Mapping)
        query = translate(sql, named)
        with self._connection() as connection, connection.cursor() as cursor:
            cursor.executemany(query, rows)
            return StatementResult(cursor.rowcount)

    def executescript(self, script: str) -> None:
        """Run a script of statements without parameters (schema creation), all or nothing.

        The script is sent as it is (no placeholder translation). Outside a transaction
        PostgreSQL runs it as one implicit transaction; inside one it is part of it. Schema
        scripts of every process are serialised by a transaction-level advisory lock:
        replicas starting together would otherwise race on ``CREATE ... IF NOT EXISTS``
        (PostgreSQL's catalog raises a unique violation for the loser).
        """
        with self.transaction(), self._connection() as connection:
            connection.execute("SELECT pg_advisory_xact_lock(7316842, 1)")
            connection.execute(script)

    def query(self, sql: str, params: Params = ()) -> list[DictRow]:
        """Return every row of a query."""
        query = translate(sql, isinstance(params, Mapping))
        with self._connection() as connection:
            return connection.execute(query, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> DictRow | None:
        """Return the first row of a query, or ``None``."""
        query = translate(sql, isinstance(params, Mapping))
        with self._connection() as connection:
            return connection.execute(query, params).fetchone()

    def ping(self, timeout: float) -> bool:
        """Whether the server answers ``SELECT 1`` soon (a health check: the pool's own wait
        for a connection, ``timeout=`` of 30 s, is for work that would rather wait than fail).

        The pool is given half of ``timeout``. A pool whose every connection is busy is no sign
        of a server down: the server is then asked on a connection of its own, which libpq
        gives at least 2 s per host to connect (so a busy pool and a silent server take about
        ``timeout / 2 + 2`` seconds).
        """
        self._check_closed()
        half = timeout / 2
        limit = f"SET LOCAL statement_timeout = {max(1, int(half * 1000))}"
        try:
            with self._pool.connection(timeout=half) as connection, connection.transaction():
                connection.execute(limit)
                connection.execute("SELECT 1")
            return True
        except PoolTimeout:
            pass  # every pooled connection is in use (or none could be made): ask directly
        except Exception:
            return False
        try:  # the DSN as given, its own options= kept; the time limit set once connected
            direct = psycopg.connect(self._dsn, connect_timeout=max(2, round(half)))
            with direct, direct.transaction():
                direct.execute(limit)
                direct.execute("SELECT 1")
        except Exception:
            return False
        return True

    @contextmanager
    def transaction(self) -> Iterator[PostgresDatabase]:
        """Commit everything in the block together, or nothing if it raises.

        The block holds one pooled connection; other contexts use others and do not wait. A
        nested call is a savepoint: its own failure rolls back only its part. Callbacks given
        to :meth:`on_commit` inside the block run after the outermost transaction commits,
        once its connection is back in the pool, and are dropped if their part rolls back.
        """
        self._check_closed()
        current = self._current()
        if current is None:
            with self._outermost():
                yield self
        else:
            with self._savepoint(current):
                yield self

    def is_transient(self, error: Exception) -> bool:
        """Whether ``error`` is the server or the connection failing for a moment rather than
        the code that used it: psycopg's ``OperationalError`` (a lost connection, a server
        shutting down, a serialization failure or deadlock, a lock or statement timeout, no
        pooled connection in time; not a program limit: see ``aura.sql.postgres_transient``)
        or ``InterfaceError`` (a connection already closed). A durable delivery it fails is
        tried again after a wait, not kept as a dead letter."""
        if not isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
            return False
        return postgres_transient(error)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current transaction commits; at once outside one."""
        current = self._current()
        if current is None:
            callback()
        else:
            current.levels[-1].callbacks.append(callback)

    def notify(self, channel: str, payload: str = "") -> None:
        """Send ``NOTIFY channel`` once the current transaction commits; at once outside one.

        Within one transaction the notifies of a channel coalesce into one, with the payload of
        the first call (a listener must take a notification as "look again", not as a count).
        A notify asked for in a savepoint that rolls back is dropped with it. The notifies are
        sent on the transaction's connection right after its commit, before the callbacks of
        :meth:`on_commit`; a failure to send one is logged, not raised: the transaction has
        committed, and listeners poll again when they reconnect.
        """
        _check_channel(channel)
        _check_payload(payload)
        current = self._current()
        if current is None:
            self.execute("SELECT pg_notify(?, ?)", (channel, payload))
        elif not current.pending(channel):
            current.levels[-1].notifies[channel] = payload

    def listen(self, channel: str, callback: Callable[[str | None], None]) -> Callable[[], None]:
        """Call ``callback(payload)`` for each notification on ``channel``; return ``stop``.

        ``LISTEN`` is in place when this returns. A daemon thread with a connection of its own
        waits for notifications; when that connection dies (a server restart, a terminated
        backend) it reconnects with backoff and then calls ``callback(None)``, since
        notifications sent meanwhile were lost. An exception from ``callback`` is logged and
        the listener goes on. ``stop()`` ends it within a second; :meth:`close` stops every
        listener of the database.
        """
        _check_channel(channel)
        self._check_closed()
        listener = _Listener(self._dsn, channel, callback, self._connect_timeout, self._forget)
        with self._lock:
            if self._closed:  # closed while the listener connected
                listener.stop()
                self._check_closed()
            self._listeners.add(listener)
        listener.start()
        return listener.stop

    def close(self) -> None:
        """Stop the listeners and close the pool; closing twice is harmless."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            listeners, self._listeners = list(self._listeners), set()
        for listener in listeners:
            listener.stop()
        self._pool.close()

    def __enter__(self) -> PostgresDatabase:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _connection(self) -> Iterator[Connection]:
        """The current transaction's connection, or a pooled one in autocommit."""
        self._check_closed()
        current = self._current()
        if current is not None:
            yield current.connection
        else:
            with self._pool.connection() as connection:
                yield connection

    @contextmanager
    def _outermost(self) -> Iterator[None]:
        connection = self._pool.getconn()
        transaction = _Transaction(connection, _owner())
        token = self._transaction.set(transaction)
        try:
            with connection.transaction():
                yield
            _send_notifies(connection, transaction.levels[0].notifies)
        finally:
            self._transaction.reset(token)
            self._pool.putconn(connection)
        run_callbacks(transaction.levels[0].callbacks)

    @contextmanager
    def _savepoint(self, transaction: _Transaction) -> Iterator[None]:
        level = _Level()
        transaction.levels.append(level)
        try:
            with transaction.connection.transaction():
                yield
        finally:
            transaction.levels.pop()
        parent = transaction.levels[-1]
        parent.callbacks.extend(level.callbacks)
        for channel, payload in level.notifies.items():
            parent.notifies.setdefault(channel, payload)

    def _current(self) -> _Transaction | None:
        """The transaction of the calling thread and asyncio task, if one is open."""
        transaction = self._transaction.get()
        if transaction is None or transaction.owner != _owner():
            return None
        return transaction

    def _probe(self) -> None:
        """Connect once, so that a wrong DSN or a server that is down fails here, and clearly."""
        try:
            with psycopg.connect(self._dsn, connect_timeout=max(1, round(self._connect_timeout))):
                pass
        except psycopg.Error as error:
            reason = _one_line(str(error)) or type(error).__name__
            raise ConfigurationError(
                f"Cannot connect to PostgreSQL at {self.path!r}: {reason}. Check the DSN "
                "(postgresql://user:password@host:5432/dbname) and that the server is running."
            ) from None

    def _forget(self, listener: _Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def _check_closed(self) -> None:
        if self._closed:
            raise ConfigurationError(
                f"The database {self.path!r} is closed. Use the platform while it is open, or "
                "build a new one."
            )


def _owner() -> tuple[int, object]:
    """The calling thread and asyncio task (``None`` outside an event loop)."""
    loop = asyncio._get_running_loop()
    return threading.get_ident(), asyncio.current_task(loop) if loop is not None else None


def _check_idle_connection(connection: Connection) -> None:
    """Raise if a pooled connection is dead; cheap for a live one (no round trip).

    An idle connection is sent nothing by the server, but its end: a terminated backend's
    error and the socket's close. So only a connection whose socket has something to read is
    checked with a round trip (an empty statement), which raises if it is dead.
    """
    if connection.closed or connection.broken:
        raise psycopg.OperationalError("the pooled connection is closed")
    if _readable(connection.fileno()):
        ConnectionPool.check_connection(connection)


def _readable(descriptor: int) -> bool:
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(descriptor, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([descriptor], [], [], 0)  # pragma: no cover - no poll()
    return bool(readable)


def _send_notifies(connection: Connection, notifies: dict[str, str]) -> None:
    """Send the committed transaction's notifies in one statement, on its own connection."""
    if not notifies:
        return
    calls = sql.SQL(", ").join(
        sql.SQL("pg_notify({}, {})").format(sql.Literal(channel), sql.Literal(payload))
        for channel, payload in notifies.items()
    )
    try:
        connection.execute(sql.SQL("SELECT {}").format(calls))
    except psycopg.Error:
        _logger.warning(
            "The notifies of a committed transaction could not be sent (channels: %s)",
            ", ".join(notifies),
            exc_info=True,
        )


def _check_channel(channel: object) -> None:
    if not isinstance(channel, str) or not channel or len(channel.encode()) > _MAX_CHANNEL_BYTES:
        raise ConfigurationError(
            f"A notification channel must be a non-empty str of at most {_MAX_CHANNEL_BYTES} "
            f"bytes, got {channel!r}. Pass a short name such as 'aura_publications'."
        )


def _check_payload(payload: object) -> None:
    if not isinstance(payload, str) or len(payload.encode()) > _MAX_PAYLOAD_BYTES:
        raise ConfigurationError(
            f"A notification payload must be a str of at most {_MAX_PAYLOAD_BYTES} bytes, got "
            f"{type(payload).__name__} {str(payload)[:40]!r}. Send a key and read the rest from "
            "a table."
        )


# --- listeners -----------------------------------------------------------------------------------


class _Listener:
    """One ``LISTEN``: a dedicated connection, read by a daemon thread until :meth:`stop`."""

    def __init__(
        self,
        dsn: str,
        channel: str,
        callback: Callable[[str | None], None],
        connect_timeout: float,
        forget: Callable[[_Listener], None],
    ) -> None:
        self._dsn = dsn
        self._channel = channel
        self._callback = callback
        self._connect_timeout = max(1, round(connect_timeout))
        self._forget = forget
        self._stopping = threading.Event()
        self._connection: psycopg.Connection[Any] | None = self._connect()
        self._thread = threading.Thread(
            target=self._run, name=f"aura-postgres-listen-{channel}", daemon=True
        )

    def start(self) -> None:
        """Start reading notifications in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening; returns once the thread has ended (at most about a second)."""
        self._stopping.set()
        self._forget(self)
        if not self._thread.is_alive():
            self._close()
        elif threading.current_thread() is not self._thread:
            self._thread.join(timeout=1.0)

    def _connect(self) -> psycopg.Connection[Any]:
        connection = psycopg.connect(
            self._dsn, autocommit=True, connect_timeout=self._connect_timeout
        )
        try:
            connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except BaseException:
            connection.close()
            raise
        return connection

    def _run(self) -> None:
        delay = _RECONNECT_FIRST
        while not self._stopping.is_set():
            if self._connection is None:
                try:
                    self._connection = self._connect()
                except psycopg.Error:
                    self._stopping.wait(delay)
                    delay = min(delay * 2, _RECONNECT_MAX)
                    continue
                delay = _RECONNECT_FIRST
                self._deliver(None)  # notifications sent while disconnected were lost
            try:
                for notification in self._connection.notifies(timeout=_LISTEN_POLL):
                    if notification.channel == self._channel:
                        self._deliver(notification.payload)
                    if self._stopping.is_set():
                        break
            except psycopg.Error:
                self._close()
        self._close()

    def _deliver(self, payload: str | None) -> None:
        try:
            self._callback(payload)
        except Exception:
            _logger.exception("A listener of channel %r failed", self._channel)

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                connection.close()


def _one_line(message: str) -> str:
    """libpq's message on one line: its hint lines (a tab-indented "Is the server running on
    that host...?") in parentheses after the first."""
    first, *hints = [line.strip() for line in message.splitlines() if line.strip()] or [""]
    return f"{first} ({' '.join(hints)})" if hints else first

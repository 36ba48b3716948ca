"""The platform's embedded database: SQLite, shared safely by threads and asyncio tasks.

Modules keep their own tables here (prefixed with the module's name); the durable event store and
the publication registry live in the same file, so a module's writes and the events they cause
commit or roll back together.

A file database gives every thread a connection of its own, in WAL mode: a reader never waits for
a writer, and writers wait only on SQLite's own write lock. An open transaction belongs to the
context (the thread, or the asyncio task) that opened it, kept in a :class:`contextvars.ContextVar`:
a nested :meth:`Database.transaction` there is a savepoint, and another task never joins it. An
in-memory database has one connection (separate ones would be separate databases), guarded by a
lock that a transaction holds: other threads wait for it, and another task of the same thread is
refused at once (it would run inside the transaction, or block the event loop waiting for it).

Every test builds a platform, and every platform runs the same schema scripts on a new in-memory
database: running them was most of the cost of starting one. So an in-memory database copies
their effect instead, when that is provably the same (see :meth:`Database.executescript`): the
first database to run a sequence of schema scripts leaves a template keyed by the scripts' exact
text and order; every later one that runs the same sequence from empty gets the template's pages
(SQLite's backup API) instead of running them.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import re
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from aura.exceptions import ConfigurationError, DatabaseBusyError

logger = logging.getLogger("aura.database")

__all__ = ["Database", "SqlCursor", "SqlDatabase", "SqlRow", "run_callbacks"]

Params = Sequence[Any] | Mapping[str, Any]
_T = TypeVar("_T")

# --- what stores use of a database ---------------------------------------------------------------


class SqlRow(Protocol):
    """A row of a query, read by column name (``row["email"]``); ``dict(row)`` gives its columns.

    SQLite's rows also read by position (``row[0]``); PostgreSQL's do not.
    """

    def __getitem__(self, key: str, /) -> Any:
        """The value of the column named ``key``."""

    def keys(self) -> Iterable[str]:
        """The column names, in order."""


class SqlCursor(Protocol):
    """What :meth:`SqlDatabase.execute` returns: how many rows changed, and the rows returned.

    SQLite's cursor also has ``lastrowid``; PostgreSQL has none: write ``INSERT ... RETURNING
    id`` and read it with :meth:`fetchone`.
    """

    @property
    def rowcount(self) -> int:
        """How many rows the statement changed (``-1`` when the database does not say)."""

    def fetchone(self) -> Any:
        """The next row, or ``None``."""

    def fetchall(self) -> list[Any]:
        """Every remaining row."""


class SqlDatabase(Protocol):
    """What the stores and modules use of a database; :class:`Database` is the SQLite one.

    Statements use ``?`` placeholders in every implementation. Outside :meth:`transaction` each
    statement commits on its own; a nested :meth:`transaction` is a savepoint; a transaction
    belongs to the thread or asyncio task that opened it.
    """

    @property
    def dialect(self) -> str:
        """The SQL dialect: ``"sqlite"``, ``"postgresql"``."""

    @property
    def path(self) -> str:
        """Where the database is, for messages and reprs: a file, or a DSN without password."""

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread or task is inside :meth:`transaction`."""

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""

    def execute(self, sql: str, params: Params = ..., /) -> SqlCursor:
        """Run one statement; outside a transaction it commits at once."""

    def executemany(self, sql: str, rows: Sequence[Params], /) -> SqlCursor:
        """Run one statement for each row of parameters."""

    def executescript(self, script: str, /) -> None:
        """Run a script of statements (schema creation); not allowed inside a transaction."""

    def query(self, sql: str, params: Params = ..., /) -> Sequence[SqlRow]:
        """Return every row of a query."""

    def query_one(self, sql: str, params: Params = ..., /) -> SqlRow | None:
        """Return the first row of a query, or ``None``."""

    def transaction(self) -> AbstractContextManager[SqlDatabase]:
        """Commit everything in the block together, or nothing if it raises."""

    def on_commit(self, callback: Callable[[], None], /) -> None:
        """Run ``callback`` once the current transaction commits; at once outside one."""

    def close(self) -> None:
        """Close every connection; closing twice is harmless."""


# --- the SQLite database -------------------------------------------------------------------------

_SQLITE_TRANSIENT = (
    "database is locked",
    "database table is locked",
    "disk i/o error",
    "database or disk is full",
    "unable to open database file",
)


def sqlite_transient(error: BaseException) -> bool:
    """Whether ``error`` is SQLite's momentary failure: busy or locked past the timeout, a disk
    that is full or failing, a file it cannot open now. What a delivery retries after a wait
    rather than keeps as the handler's dead letter."""
    return isinstance(error, sqlite3.OperationalError) and any(
        text in str(error).lower() for text in _SQLITE_TRANSIENT
    )


class Database:
    """A SQLite database (stdlib ``sqlite3``) for threads and asyncio tasks, with transactions.

    ``path`` is a file path or ``":memory:"``. A file database runs in WAL mode with a connection
    per thread; ``read_only=True`` opens an existing file without ever writing to it (nor
    switching its journal mode). Outside a transaction each statement commits on its own; inside
    :meth:`transaction` everything commits at the end or rolls back on error, and a nested
    :meth:`transaction` is a savepoint. ``timeout`` is how long a writer waits for SQLite's lock.
    """

    dialect = "sqlite"
    """The SQL dialect (see :class:`SqlDatabase`)."""

    scripts_copied: int
    """How many :meth:`executescript` calls were served by copying a template (memory only)."""

    def __init__(
        self, path: str | Path = ":memory:", *, timeout: float = 5.0, read_only: bool = False
    ) -> None:
        if not isinstance(path, str | Path) or str(path) == "":
            raise ConfigurationError(
                f"A database path must be a file path or ':memory:', got {path!r}. "
                "Pass database='aura.db' or database=':memory:'."
            )
        self.path = str(path)
        self.read_only = read_only
        self._current: contextvars.ContextVar[_Transaction | None] = contextvars.ContextVar(
            f"aura_database_transaction_{id(self):x}", default=None
        )
        self._connections: _SharedConnection | _ThreadConnections
        if self.path == ":memory:":
            if read_only:
                raise ConfigurationError(
                    "read_only=True needs a database file, got ':memory:' (an in-memory database "
                    "starts empty). Pass the path of an existing database file."
                )
            self._connections = _SharedConnection(_connect(self.path, timeout=timeout), self.path)
        else:
            _check_file(self.path)
            opener = _opener(self.path, timeout, read_only)
            # A reader's transaction is a snapshot: IMMEDIATE would take the write lock.
            begin = "BEGIN" if read_only else "BEGIN IMMEDIATE"
            self._connections = _ThreadConnections(opener, self.path, begin)
            try:
                connection = self._connections.slot().connection
                if read_only:  # the first read of the file: a damaged one fails here
                    connection.execute("PRAGMA schema_version")
                else:  # persistent in the file: every later connection finds it in WAL
                    connection.execute("PRAGMA journal_mode = WAL")
            except sqlite3.DatabaseError as error:
                self._connections.close()
                if isinstance(error, sqlite3.OperationalError) and sqlite_transient(error):
                    raise  # locked, or a full disk: the database's moment, not a wrong path
                if "readonly" in str(error):  # a healthy file this process may not write
                    raise ConfigurationError(
                        f"Cannot write to {self.path}: {error}. Give this process write "
                        "access to the file and its folder (SQLite writes its journal beside "
                        "it), or open it with read_only=True to read it; nothing was written "
                        "to it."
                    ) from None
                raise ConfigurationError(
                    f"Cannot open {self.path} as an SQLite database: {error}. Pass the path of "
                    "an SQLite file (a new one is created), or restore this one from a "
                    "backup; nothing was written to it."
                ) from None
        # The schema scripts whose effect, from an empty database, this one holds exactly; None
        # once anything else may have written (a file database is never copied into).
        self._schema: tuple[str, ...] | None = () if self.path == ":memory:" else None
        self._queried = False  # a query() since the last script: it may have written
        self.scripts_copied = 0

    def __repr__(self) -> str:
        return f"Database({self.path!r}{', read_only=True' if self.read_only else ''})"

    @property
    def in_transaction(self) -> bool:
        """Whether the calling context (thread, or asyncio task) is inside :meth:`transaction`."""
        current = self._current.get()
        return current is not None and current.owned_here()

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run one statement; outside a transaction it commits at once."""
        return self._run(_execute, sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> sqlite3.Cursor:
        """Run one statement for each row of parameters."""
        return self._run(_execute_many, sql, rows)

    def executescript(self, script: str) -> None:
        """Run a script of statements (schema creation); not allowed inside a transaction.

        An in-memory database that so far holds only the effect of earlier schema scripts gets
        the effect of this one copied from a template when an earlier database ran the same
        scripts in the same order from empty. Only a script of schema statements qualifies
        (``CREATE TABLE``/``INDEX``/``VIEW``/``TRIGGER``, ``DROP`` of those, ``ALTER TABLE``;
        comments), and only when running it left no rows and nothing temporary: its effect is
        then a function of the scripts' text. Anything else (a ``PRAGMA``, an ``INSERT``, a
        script after any :meth:`execute`) runs as it always did. The copy is made when the
        connection is next used, so a run of copied scripts copies once; it is the template's
        pages, so only ``PRAGMA schema_version`` (SQLite's counter of schema changes) reads
        otherwise than after the scripts. :attr:`scripts_copied` counts the copied scripts.
        """
        if self.closed:
            raise _closed_error(self.path)
        if self.in_transaction:  # sqlite3 would silently commit the open transaction first
            raise ConfigurationError(
                "executescript() cannot run inside a transaction: sqlite3 would commit it "
                "first. Create the schema before the transaction, or use execute() for "
                "each statement."
            )
        shared = self._connections
        if isinstance(shared, _ThreadConnections):
            shared.run(None, _execute_script, script)
            return
        with shared.lock:
            shared.check()
            self._run_script(shared, script)

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Return every row of a query."""
        return self._run(_fetch_all, sql, params, query=True)

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Return the first row of a query, or ``None``."""
        return self._run(_fetch_one, sql, params, query=True)

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """Commit everything in the block together, or nothing if it raises.

        The transaction belongs to the calling context: the thread, or the asyncio task. A nested
        call there is a savepoint: its own failure rolls back only its part. Another thread's
        transaction waits for SQLite's write lock (a file database) or for this one to end (in
        memory); another task of the same thread is refused at once, since it could only join
        this transaction or block the event loop this one needs. Callbacks given to
        :meth:`on_commit` inside the block run after the outermost transaction commits, outside
        any lock, and are dropped if their part rolls back.
        """
        current = self._current.get()
        if current is not None and current.owned_here():
            with self._savepoint(current):
                yield self
            return
        transaction = self._connections.begin()
        self._schema = None
        token = self._current.set(transaction)
        try:
            try:
                yield self
            except BaseException:
                self._undo(transaction, 0)
                raise
            self._commit(transaction)
        finally:
            self._connections.end(transaction)
            _reset(self._current, token)
        run_callbacks(transaction.callbacks[0])

    def is_transient(self, error: Exception) -> bool:
        """Whether ``error`` is this database failing for a moment (locked, a full or failing
        disk) rather than the code that used it: a durable delivery it fails is tried again
        after a wait (``aura.publications.TRANSIENT_RETRY``), not kept as a dead letter."""
        return sqlite_transient(error)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the calling context's transaction commits; at once outside one."""
        current = self._current.get()
        if current is not None and current.owned_here():
            current.callbacks[-1].append(callback)
            return
        callback()

    def close(self) -> None:
        """Close every connection, of every thread; closing twice is harmless.

        A transaction another thread still has open is rolled back (by SQLite, as the connection
        closes); its next statement raises, as any use after closing does.
        """
        self._connections.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._connections.closed

    def _run(self, method: Callable[..., _T], *args: Any, query: bool = False) -> _T:
        """Call ``method(connection, *args)`` on the connection the calling context uses."""
        connections = self._connections
        if isinstance(connections, _ThreadConnections):
            return connections.run(self._current.get(), method, *args)
        with connections.lock:
            connection = connections.ready()
            if query:
                self._queried = True
            else:
                self._schema = None
            return method(connection, *args)

    def _run_script(self, shared: _SharedConnection, script: str) -> None:
        """Run (or copy the effect of) a script on the in-memory database; under its lock."""
        schema, queried = self._schema, self._queried
        self._schema, self._queried = None, False  # until the script is known to be done
        if schema is None or not _templates.is_schema_script(script):
            shared.ready().executescript(script)  # copies what is pending first
            return
        if queried and not _templates.holds(schema, shared.connection):
            shared.connection.executescript(script)  # a query wrote: no longer a template
            return
        key = (*schema, script)
        template = _templates.get(key)
        if template is not None:
            # Copied when the connection is next used: a run of copied scripts copies once.
            shared.pending = template
            self.scripts_copied += 1
        else:
            shared.ready().executescript(script)
            if not _templates.record(key, shared.connection):
                return
        self._schema = key

    @contextmanager
    def _savepoint(self, transaction: _Transaction) -> Iterator[None]:
        """A nested part of ``transaction``: rolled back alone if it raises."""
        depth = len(transaction.callbacks)
        self._control(transaction, f"SAVEPOINT aura_{depth}")
        transaction.callbacks.append([])
        try:
            yield
        except BaseException:
            transaction.callbacks.pop()
            self._undo(transaction, depth)
            raise
        callbacks = transaction.callbacks.pop()
        self._control(transaction, f"RELEASE SAVEPOINT aura_{depth}")
        transaction.callbacks[-1].extend(callbacks)

    def _control(self, transaction: _Transaction, sql: str) -> None:
        """Run a transaction control statement on ``transaction``'s connection."""
        with transaction.home.lock:
            if self.closed:
                raise _closed_error(self.path)
            transaction.connection.execute(sql)

    def _commit(self, transaction: _Transaction) -> None:
        with transaction.home.lock:
            if self.closed:
                raise _closed_error(self.path)
            connection = transaction.connection
            if not connection.in_transaction:
                raise sqlite3.OperationalError(
                    "the transaction was rolled back by SQLite after an earlier error in it; "
                    "nothing of it was committed"
                )
            try:
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def _undo(self, transaction: _Transaction, depth: int) -> None:
        """Roll back the transaction (``depth`` 0) or its savepoint ``depth``."""
        with transaction.home.lock:
            # Closing the database rolled it back already. SQLite itself rolls the whole
            # transaction back on some errors (a full disk): then there is nothing left to undo,
            # and trying would hide the real error.
            connection = transaction.connection
            if self.closed or not connection.in_transaction:
                return
            if depth == 0:
                connection.execute("ROLLBACK")
            else:
                connection.execute(f"ROLLBACK TO SAVEPOINT aura_{depth}")
                connection.execute(f"RELEASE SAVEPOINT aura_{depth}")


# --- connections ---------------------------------------------------------------------------------


def _current_task() -> object | None:
    """The running asyncio task of this thread, or ``None`` (no loop, or a plain callback)."""
    loop = asyncio._get_running_loop()  # public in asyncio.__all__; no exception without a loop
    return None if loop is None else asyncio.current_task(loop)


class _Home:
    """Where transactions open: a lock, and the transaction open there, if any."""

    lock: threading.RLock
    holder: _Transaction | None


class _Transaction:
    """One open transaction: its connection, its owner, and its ``on_commit`` callbacks.

    ``callbacks`` holds one list per level: the transaction itself, then each open savepoint.
    """

    __slots__ = ("callbacks", "connection", "home", "task", "thread")

    def __init__(self, connection: sqlite3.Connection, home: _Home) -> None:
        self.connection = connection
        self.home = home
        self.thread = threading.get_ident()
        self.task = _current_task()
        self.callbacks: list[list[Callable[[], None]]] = [[]]

    def owned_here(self) -> bool:
        """Whether the calling thread and task opened it: a context copied into another task
        (``asyncio.create_task``) or thread (``asyncio.to_thread``) sees it, but does not own it.
        """
        return self.thread == threading.get_ident() and self.task is _current_task()


class _SharedConnection(_Home):
    """The one connection of an in-memory database, and the lock a transaction holds on it.

    Separate connections to ``:memory:`` would be separate databases, so every thread shares
    this one: another thread waits for the lock. The lock is re-entrant (a transaction's own
    statements take it again), so another asyncio task of the thread holding it would get in,
    into that transaction: it is refused instead.
    """

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self.connection = connection
        self.path = path
        self.lock = threading.RLock()
        self.holder = None
        self.closed = False
        # The template this database equals but has not copied yet: consecutive copied scripts
        # copy only the last one, when the connection is next used.
        self.pending: _Template | None = None

    def check(self) -> None:
        """Under the lock: refuse a closed database, and another task's open transaction."""
        if self.closed:
            raise _closed_error(self.path)
        holder = self.holder
        if holder is not None and not holder.owned_here():
            raise DatabaseBusyError(
                f"{_another_task(self.path)}, whose one connection every task shares: this "
                "statement would run inside that transaction (reading its uncommitted rows, or "
                "writing into it). Await the other task's transaction first, run this in "
                "another thread (asyncio.to_thread), or use a file database, where each task "
                "reads on a connection of its own."
            )

    def ready(self) -> sqlite3.Connection:
        """Under the lock: :meth:`check`, copy a pending template in, return the connection."""
        self.check()
        pending = self.pending
        if pending is not None:
            self.pending = None
            pending.copy_into(self.connection)
        return self.connection

    def begin(self) -> _Transaction:
        """Take the lock and begin a transaction; refuse another task of the holder's thread."""
        self.lock.acquire()
        try:
            if self.holder is not None and not self.closed:
                raise DatabaseBusyError(
                    f"{_another_task(self.path)}, whose one connection every task shares: a "
                    "second transaction here would become part of it, and commit or roll back "
                    "with it. Await the other task's transaction first (an asyncio.Lock around "
                    "both), or run this one in another thread (asyncio.to_thread), which waits "
                    "for it."
                )
            self.ready().execute("BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        self.holder = transaction = _Transaction(self.connection, self)
        return transaction

    def end(self, transaction: _Transaction) -> None:
        """Forget the ended transaction and let other threads in."""
        self.holder = None
        self.lock.release()

    def close(self) -> None:
        """Close the connection (waiting for another thread's transaction to end)."""
        with self.lock:
            if not self.closed:
                self.closed = True
                self.connection.close()


class _Slot(_Home):
    """One thread's connections: its own, and a spare for its other asyncio tasks.

    The spare serves the statements of the thread's other tasks while one of them holds a
    transaction on the thread's own connection. Its busy timeout is 0: the write lock it would
    wait for is held by a task of this very thread, which cannot finish while the thread waits.
    """

    def __init__(self, open_connection: Callable[[bool], sqlite3.Connection]) -> None:
        self.open = open_connection
        self.lock = threading.RLock()  # held for each statement: close() waits for it
        self.connection = open_connection(False)
        self.spare: sqlite3.Connection | None = None
        self.connections = [self.connection]
        self.holder = None

    def spare_connection(self) -> sqlite3.Connection:
        """The spare connection, opened on first use; under the lock."""
        if self.spare is None:
            self.spare = self.open(True)
            self.connections.append(self.spare)
        return self.spare


def _close_all(connections: list[sqlite3.Connection], lock: threading.RLock) -> None:
    """Close a slot's connections: at :meth:`Database.close`, or when its thread has ended."""
    with lock:
        while connections:
            connections.pop().close()


class _ThreadConnections:
    """The connections of a file database: one per thread, opened when the thread first uses it.

    Each is tracked, so :meth:`close` (from any thread) closes them all; a thread's connections
    are also closed when the thread ends (its ``threading.local`` slot is then released).
    """

    def __init__(
        self, open_connection: Callable[[bool], sqlite3.Connection], path: str, begin: str
    ) -> None:
        self.open = open_connection
        self.path = path
        self.begin_sql = begin
        self.closed = False
        self._local = threading.local()
        self._slots: weakref.WeakSet[_Slot] = weakref.WeakSet()
        self._lock = threading.Lock()

    def slot(self) -> _Slot:
        """The calling thread's slot, opened on its first use."""
        slot: _Slot | None = getattr(self._local, "slot", None)
        if slot is None:
            with self._lock:
                if self.closed:
                    raise _closed_error(self.path)
                slot = _Slot(self.open)
                self._slots.add(slot)
            weakref.finalize(slot, _close_all, slot.connections, slot.lock)
            self._local.slot = slot
        return slot

    def run(self, current: _Transaction | None, method: Callable[..., _T], *args: Any) -> _T:
        """Call ``method`` on the connection of ``current`` (if the caller owns it) or the
        thread's own; on the spare one while another task of the thread holds a transaction."""
        if current is not None and current.owned_here():
            with current.home.lock:
                self._check_open()
                return method(current.connection, *args)
        slot = self.slot()
        with slot.lock:
            self._check_open()
            if slot.holder is None:
                return method(slot.connection, *args)
            try:
                return method(slot.spare_connection(), *args)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                raise DatabaseBusyError(
                    f"{_another_task(self.path)}, so this write would wait for SQLite's write "
                    "lock with the event loop blocked, and the holder could never finish. Await "
                    "the other task's transaction first (an asyncio.Lock around both), or run "
                    "the write in another thread (asyncio.to_thread)."
                ) from exc

    def begin(self) -> _Transaction:
        """Begin a transaction on the thread's connection, waiting for SQLite's write lock."""
        slot = self.slot()
        with slot.lock:
            self._check_open()
            if slot.holder is not None:
                raise DatabaseBusyError(
                    f"{_another_task(self.path)}; a second one here would wait for SQLite's "
                    "write lock with the event loop blocked, so the holder could never finish. "
                    "Await the other task's transaction first (an asyncio.Lock around both), or "
                    "run this one in another thread (asyncio.to_thread)."
                )
            slot.connection.execute(self.begin_sql)
            slot.holder = transaction = _Transaction(slot.connection, slot)
        return transaction

    def end(self, transaction: _Transaction) -> None:
        """Forget the ended transaction: the thread's other tasks use its connection again."""
        transaction.home.holder = None

    def close(self) -> None:
        """Close every thread's connections; later use raises."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            slots = list(self._slots)
        for slot in slots:
            _close_all(slot.connections, slot.lock)

    def _check_open(self) -> None:
        if self.closed:
            raise _closed_error(self.path)


def _opener(path: str, timeout: float, read_only: bool) -> Callable[[bool], sqlite3.Connection]:
    """How a file database opens a connection (``spare``: with a busy timeout of 0)."""
    if not read_only:
        return lambda spare: _connect(path, timeout=0 if spare else timeout, tune=True)
    if not Path(path).is_file():
        raise ConfigurationError(
            f"No database file at {path!r}: read_only=True opens an existing database and never "
            "creates one. Check the path, or open it without read_only to create it."
        )
    uri = Path(path).resolve().as_uri() + "?mode=ro"
    return lambda spare: _connect(uri, timeout=0 if spare else timeout, uri=True)


_SQLITE_HEADER = b"SQLite format 3\x00"


def _check_file(path: str) -> None:
    """Refuse a path that is a folder, or a file of something else than SQLite, before SQLite
    opens it (it would say only "unable to open database file", or "file is not a database"
    at the first statement)."""
    target = Path(path)
    if target.is_dir():
        raise ConfigurationError(
            f"The database {path} is a folder. Pass the path of an SQLite file in it, e.g. "
            f"{(target / 'aura.db').as_posix()} (created if missing)."
        )
    try:
        with target.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError:
        return  # missing (SQLite creates it) or unreadable (SQLite says why)
    if header and header != _SQLITE_HEADER:
        raise ConfigurationError(
            f"The database {path} is a file but not an SQLite database (it starts with "
            f"{header[:8]!r}). Pass the path of an SQLite file (a new one is created); this "
            "one was left as it is."
        )


def _connect(
    target: str, *, timeout: float, uri: bool = False, tune: bool = False
) -> sqlite3.Connection:
    """Open one connection: rows by name, foreign keys on, statements autocommitting."""
    # check_same_thread=False: close() closes every thread's connections from its own thread.
    connection = sqlite3.connect(
        target, timeout=timeout, isolation_level=None, check_same_thread=False, uri=uri
    )
    connection.row_factory = sqlite3.Row
    connection.execute("PRAGMA foreign_keys = ON")
    if tune:  # a writable file: safe in WAL mode, and much faster than FULL
        connection.execute("PRAGMA synchronous = NORMAL")
    return connection


def _reset(variable: contextvars.ContextVar[_Transaction | None], token: Any) -> None:
    """Restore ``variable``; a generator finished in another context cannot use the token."""
    try:
        variable.reset(token)
    except ValueError:
        variable.set(None)


def _another_task(path: str) -> str:
    return f"Another asyncio task on this thread holds a transaction of the database {path!r}"


def _closed_error(path: str) -> ConfigurationError:
    return ConfigurationError(
        f"The database {path!r} is closed. Use the platform while it is open, or build a new one."
    )


def _execute(connection: sqlite3.Connection, sql: str, params: Params) -> sqlite3.Cursor:
    return connection.execute(sql, params)


def _execute_many(
    connection: sqlite3.Connection, sql: str, rows: Sequence[Params]
) -> sqlite3.Cursor:
    return connection.executemany(sql, rows)


def _execute_script(connection: sqlite3.Connection, script: str) -> None:
    connection.executescript(script)


def _fetch_all(connection: sqlite3.Connection, sql: str, params: Params) -> list[sqlite3.Row]:
    return connection.execute(sql, params).fetchall()


def _fetch_one(connection: sqlite3.Connection, sql: str, params: Params) -> sqlite3.Row | None:
    row: sqlite3.Row | None = connection.execute(sql, params).fetchone()
    return row


# --- schema templates ----------------------------------------------------------------------------

_SCHEMA_STATEMENT = re.compile(
    r"(?:CREATE\s+(?:UNIQUE\s+)?INDEX|CREATE\s+(?:TABLE|VIEW|TRIGGER)"
    r"|DROP\s+(?:TABLE|INDEX|VIEW|TRIGGER)|ALTER\s+TABLE)\s",
    re.IGNORECASE,
)
_LEADING_COMMENTS = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
# SQLite's schema cookie (header bytes 40-43): the backup API sets the copy's to its own old
# value plus one, so a copy and its template differ there and nowhere else.
_COOKIE = slice(40, 44)


@dataclass(eq=False)
class _Template:
    """The pages of a database that ran one sequence of schema scripts from empty."""

    connection: sqlite3.Connection
    image: bytes
    lock: threading.Lock = field(default_factory=threading.Lock)

    def copy_into(self, target: sqlite3.Connection) -> None:
        """Replace ``target``'s main database with a copy of the template's."""
        with self.lock:  # one connection, shared by every thread's databases
            self.connection.backup(target)

    def matches(self, target: sqlite3.Connection) -> bool:
        """Whether ``target`` holds exactly the template's pages (its schema cookie aside)."""
        current, image = target.serialize(), self.image
        return current[_COOKIE.stop :] == image[_COOKIE.stop :] and (
            current[: _COOKIE.start] == image[: _COOKIE.start]
        )


class _Templates:
    """Every template made in this process, keyed by the exact scripts' text and order.

    Bounded: past ``limit`` templates (or scripts classified), new ones are not kept and their
    scripts simply run. Templates are never dropped, so a copy never races a close.
    """

    def __init__(self, limit: int = 64) -> None:
        self._limit = limit
        self._templates: dict[tuple[str, ...], _Template] = {}
        self._kinds: dict[str, bool] = {}
        self._lock = threading.Lock()
        self._usable = hasattr(sqlite3.Connection, "serialize")  # Python 3.11, SQLite 3.36

    def is_schema_script(self, script: str) -> bool:
        """Whether every statement of ``script`` is a schema statement (see executescript)."""
        kind = self._kinds.get(script)
        if kind is None:
            kind = self._usable and _only_schema_statements(script)
            self._remember(script, kind)
        return kind

    def get(self, key: tuple[str, ...]) -> _Template | None:
        """The template of ``key``'s scripts, if one was recorded."""
        return self._templates.get(key)

    def holds(self, key: tuple[str, ...], connection: sqlite3.Connection) -> bool:
        """Whether ``connection`` holds exactly the effect of ``key``'s scripts."""
        template = self._templates.get(key)
        return template is not None and template.matches(connection)

    def record(self, key: tuple[str, ...], connection: sqlite3.Connection) -> bool:
        """Keep ``connection``'s pages as the template of ``key``, which it has just run.

        Return False when they cannot stand for the scripts: rows (``CREATE TABLE ... AS
        SELECT``) or temporary objects were made; the last script is then never copied.
        """
        if not _holds_schema_only(connection):
            self._remember(key[-1], False, replace=True)
            return False
        with self._lock:
            if key in self._templates or len(self._templates) >= self._limit:
                return key in self._templates
        template_connection = sqlite3.connect(":memory:", check_same_thread=False)
        connection.backup(template_connection)
        template = _Template(template_connection, template_connection.serialize())
        with self._lock:
            if key not in self._templates and len(self._templates) < self._limit:
                self._templates[key] = template
                return True
        template_connection.close()  # another thread recorded the same key meanwhile
        return key in self._templates

    def _remember(self, script: str, kind: bool, *, replace: bool = False) -> None:
        with self._lock:
            if replace or (script not in self._kinds and len(self._kinds) < self._limit * 4):
                self._kinds[script] = kind


def _only_schema_statements(script: str) -> bool:
    """Split ``script`` where SQLite would (``sqlite3.complete_statement``); check each."""
    pending = ""
    for piece in script.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if not _is_schema_statement(pending):
                return False
            pending = ""
    return _is_schema_statement(pending + ";") if pending.strip(" \t\r\n;") else True


def _is_schema_statement(statement: str) -> bool:
    comments = _LEADING_COMMENTS.match(statement)
    body = statement[comments.end() if comments else 0 :]
    return body.strip() == ";" or _SCHEMA_STATEMENT.match(body) is not None


def _holds_schema_only(connection: sqlite3.Connection) -> bool:
    """No row in any table, nothing in the temporary schema: only the schema was made."""
    tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    for (name,) in tables:
        quoted = '"' + str(name).replace('"', '""') + '"'
        if connection.execute(f"SELECT 1 FROM {quoted} LIMIT 1").fetchone() is not None:
            return False
    temporary = connection.execute("SELECT count(*) FROM temp.sqlite_master").fetchone()
    return bool(temporary[0] == 0)


_templates = _Templates()


def run_callbacks(callbacks: list[Callable[[], None]]) -> None:
    """Run every after-commit callback, in order, even when one raises: the commit stands,
    and one callback's failure must not cancel the others (each later delivery, say). The
    first error is raised once all have run; the others are logged."""
    first: Exception | None = None
    for callback in callbacks:
        try:
            callback()
        except Exception as exc:
            if first is None:
                first = exc
            else:
                logger.exception("An after-commit callback failed after another had")
    if first is not None:
        raise first

"""The platform's embedded database: one SQLite connection, shared safely, with transactions.

Modules keep their own tables here (prefixed with the module's name); the durable event store and
the publication registry live in the same file, so a module's writes and the events they cause
commit or roll back together.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aura.exceptions import ConfigurationError

__all__ = ["Database"]

Params = Sequence[Any] | dict[str, Any]


class Database:
    """A thread-safe SQLite database (stdlib ``sqlite3``) with nestable transactions.

    ``path`` is a file path or ``":memory:"``. A file database runs in WAL mode. Outside a
    transaction each statement commits on its own; inside :meth:`transaction` everything commits
    at the end or rolls back on error, and a nested :meth:`transaction` is a savepoint.
    """

    def __init__(self, path: str | Path = ":memory:", *, timeout: float = 5.0) -> None:
        if not isinstance(path, str | Path) or str(path) == "":
            raise ConfigurationError(
                f"A database path must be a file path or ':memory:', got {path!r}. "
                "Pass database='aura.db' or database=':memory:'."
            )
        self.path = str(path)
        self._connection = sqlite3.connect(
            self.path, timeout=timeout, isolation_level=None, check_same_thread=False
        )
        self._connection.row_factory = sqlite3.Row
        self._connection.execute("PRAGMA foreign_keys = ON")
        if self.path != ":memory:":
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = NORMAL")
        self._lock = threading.RLock()
        self._depth = 0
        self._callbacks: list[list[Callable[[], None]]] = []
        self._closed = False

    def __repr__(self) -> str:
        return f"Database({self.path!r})"

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread is inside :meth:`transaction`."""
        return self._depth > 0 and self._lock._is_owned()  # type: ignore[attr-defined]

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor:
        """Run one statement; outside a transaction it commits at once."""
        with self._lock:
            self._check_open()
            return self._connection.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> sqlite3.Cursor:
        """Run one statement for each row of parameters."""
        with self._lock:
            self._check_open()
            return self._connection.executemany(sql, rows)

    def executescript(self, script: str) -> None:
        """Run a script of statements (schema creation); not allowed inside a transaction."""
        with self._lock:
            self._check_open()
            if self._depth:  # sqlite3 would silently commit the open transaction first
                raise ConfigurationError(
                    "executescript() cannot run inside a transaction: sqlite3 would commit it "
                    "first. Create the schema before the transaction, or use execute() for "
                    "each statement."
                )
            self._connection.executescript(script)

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Return every row of a query."""
        with self._lock:
            self._check_open()
            return self._connection.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Return the first row of a query, or ``None``."""
        with self._lock:
            self._check_open()
            row: sqlite3.Row | None = self._connection.execute(sql, params).fetchone()
            return row

    @contextmanager
    def transaction(self) -> Iterator[Database]:
        """Commit everything in the block together, or nothing if it raises.

        Other threads wait until the transaction ends. A nested call is a savepoint: its own
        failure rolls back only its part. Callbacks given to :meth:`on_commit` inside the block
        run after the outermost transaction commits, and are dropped if their part rolls back.
        """
        committed: list[Callable[[], None]] = []
        with self._lock:
            self._check_open()
            depth = self._depth
            if depth == 0:
                self._connection.execute("BEGIN IMMEDIATE")
            else:
                self._connection.execute(f"SAVEPOINT aura_{depth}")
            self._depth += 1
            self._callbacks.append([])
            try:
                yield self
            except BaseException:
                self._depth -= 1
                self._callbacks.pop()
                # SQLite itself rolls the whole transaction back on some errors (a full disk):
                # then there is nothing left to undo, and trying would hide the real error.
                if self._connection.in_transaction:
                    if depth == 0:
                        self._connection.execute("ROLLBACK")
                    else:
                        self._connection.execute(f"ROLLBACK TO SAVEPOINT aura_{depth}")
                        self._connection.execute(f"RELEASE SAVEPOINT aura_{depth}")
                raise
            self._depth -= 1
            callbacks = self._callbacks.pop()
            if depth == 0:
                if not self._connection.in_transaction:
                    raise sqlite3.OperationalError(
                        "the transaction was rolled back by SQLite after an earlier error in it; "
                        "nothing of it was committed"
                    )
                try:
                    self._connection.execute("COMMIT")
                except BaseException:
                    if self._connection.in_transaction:
                        self._connection.execute("ROLLBACK")
                    raise
                committed = callbacks
            else:
                self._connection.execute(f"RELEASE SAVEPOINT aura_{depth}")
                self._callbacks[-1].extend(callbacks)
        for callback in committed:  # after the lock is released: other threads may proceed
            callback()

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current transaction commits; at once outside one."""
        with self._lock:
            if self._depth and self._lock._is_owned():  # type: ignore[attr-defined]
                self._callbacks[-1].append(callback)
                return
        callback()

    def close(self) -> None:
        """Close the connection; closing twice is harmless."""
        with self._lock:
            if not self._closed:
                self._closed = True
                self._connection.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def _check_open(self) -> None:
        if self._closed:
            raise ConfigurationError(
                f"The database {self.path!r} is closed. Use the platform while it is open, or "
                "build a new one."
            )

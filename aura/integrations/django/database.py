"""Aura's outbox on a Django database connection: events commit in ``transaction.atomic()``.

``Platform(modules, database=DjangoDatabase(), durable=True)``: an event published inside
``transaction.atomic()`` is written to the publication registry on that thread's Django
connection, in that transaction, and delivered by ``transaction.on_commit`` once it commits; a
rollback discards it. A durable delivery is an ``atomic()`` block of its own on the delivering
thread's connection, so a handler's ORM writes commit together with the COMPLETED mark, or roll
back with its failure. SQLite and PostgreSQL are supported.

Django's connections belong to their thread, and the platform's worker threads are no request
threads (Django's ``close_old_connections`` never runs for them): before each use outside an
atomic block a connection that saw an error is checked and reopened if it is broken (a server
restart must not fail a worker's every later delivery), and the connection of a thread other
than the main one is closed when that thread ends, instead of being left to the garbage
collector.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from aura.database import Params, SqlCursor, sqlite_transient
from aura.exceptions import ConfigurationError, MissingExtraError, TransactionMismatchError
from aura.sql import postgres_transient, translate

try:
    from django.db import (  # type: ignore[import-untyped]
        InterfaceError,
        OperationalError,
        connections,
        transaction,
    )
except ImportError:  # pragma: no cover - its own process: see test_django_outbox.py
    raise MissingExtraError(
        "aura.integrations.django needs Django, which is not installed. Install Aura's django "
        "extra: pip install 'aura-modulith[django]'"
    ) from None

__all__ = ["DjangoDatabase"]

_SUPPORTED = ("sqlite", "postgresql")


class _Result:
    """A statement's outcome, read before its cursor closes."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rowcount: int, rows: list[dict[str, Any]]) -> None:
        self.rowcount = rowcount
        self._rows = rows

    def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows


class _Closer:
    """Closes one thread's Django connection when that thread ends (its locals are dropped)."""

    __slots__ = ("wrapper",)

    def __init__(self, wrapper: Any) -> None:
        self.wrapper = wrapper

    def __del__(self) -> None:
        # The thread is gone, so nothing can use this connection again; closing the driver's
        # connection directly, since Django's close() checks the calling thread.
        raw = getattr(self.wrapper, "connection", None)
        if raw is not None:
            with suppress(Exception):
                raw.close()
            self.wrapper.connection = None


# Per thread: alias -> the _Closer of that thread's connection. Module-level, so that it lives
# as long as the thread and not as long as one DjangoDatabase.
_closers = threading.local()


class DjangoDatabase:
    """Aura's :class:`~aura.database.SqlDatabase` on Django's connection ``using``.

    With ``require_transaction=True`` a durable publish outside ``transaction.atomic()`` is
    refused (:class:`~aura.exceptions.TransactionRequiredError`) instead of committing alone.
    """

    def __init__(self, using: str = "default", *, require_transaction: bool = False) -> None:
        if using not in connections:
            raise ConfigurationError(
                f"Django has no database {using!r}; its DATABASES are: "
                f"{', '.join(sorted(connections.settings)) or 'none'}. Pass one of them as "
                "DjangoDatabase(using=...)."
            )
        vendor = connections[using].vendor
        if vendor not in _SUPPORTED:
            raise ConfigurationError(
                f"DjangoDatabase supports SQLite and PostgreSQL, and Django's database "
                f"{using!r} is on {vendor}. Keep Aura's registry on a supported database: "
                "point DjangoDatabase(using=...) at a sqlite3 or postgresql DATABASES entry."
            )
        self.using = using
        self.require_transaction = require_transaction
        """Whether a durable publish outside ``transaction.atomic()`` is refused."""
        self.transaction_advice = (
            "`with transaction.atomic():`",
            "set 'REQUIRE_TRANSACTION': False in settings.AURA "
            "(DjangoDatabase(using, require_transaction=False) when you build it)",
        )
        """What a refused publish outside a transaction advises: the unit of work, the way out."""
        self._dialect: str = str(vendor)
        self._closed = False

    def __repr__(self) -> str:
        return f"DjangoDatabase({self.using!r}, {self.path!r})"

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._dialect

    @property
    def path(self) -> str:
        """The database's name (and host), never its password."""
        settings = connections.settings[self.using]
        host = settings.get("HOST")
        return f"{host}/{settings['NAME']}" if host else str(settings["NAME"])

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread's connection is inside ``transaction.atomic()``."""
        return bool(connections[self.using].in_atomic_block)

    def check_transaction(self) -> None:
        """Raise :class:`~aura.exceptions.TransactionMismatchError` when the caller is inside
        another alias's ``atomic()`` block (and not this one's): every Aura statement checks."""
        for other in connections.all(initialized_only=True):
            if other.alias != self.using and other.in_atomic_block:
                raise TransactionMismatchError(
                    f"An Aura statement ran inside transaction.atomic(using={other.alias!r}), "
                    f"and the platform's database is Django's {self.using!r}: an event "
                    "published there would commit alone, apart from that block's writes. "
                    f"Publish inside transaction.atomic(using={self.using!r}), or give the "
                    f"platform DjangoDatabase({other.alias!r}). Nothing was written."
                )

    def _connection(self) -> Any:
        """The calling thread's connection, usable: reopened if an error left it broken."""
        connection = connections[self.using]
        if not connection.in_atomic_block:
            self.check_transaction()
        # What close_old_connections() does for a request, without its CONN_MAX_AGE part: a
        # worker thread keeps its connection from one delivery to the next.
        if (
            connection.errors_occurred
            and connection.connection is not None
            and not connection.in_atomic_block
        ):
            if connection.is_usable():
                connection.errors_occurred = False
            else:
                connection.close()
        if threading.current_thread() is not threading.main_thread():
            closers: dict[str, _Closer] = _closers.__dict__.setdefault("by_alias", {})
            closer = closers.get(self.using)
            if closer is None or closer.wrapper is not connection:
                closers[self.using] = _Closer(connection)
        return connection

    def execute(self, sql: str, params: Params = ()) -> SqlCursor:
        """Run one statement: in the current atomic block, else committed on its own."""
        with self._connection().cursor() as cursor:
            cursor.execute(translate(sql, isinstance(params, Mapping)), params)
            return _result(cursor)

    def executemany(self, sql: str, rows: Sequence[Params]) -> SqlCursor:
        """Run one statement for each row of parameters."""
        if not rows:
            return _Result(0, [])
        with self._connection().cursor() as cursor:
            cursor.executemany(translate(sql, isinstance(rows[0], Mapping)), list(rows))
            return _Result(cursor.rowcount, [])

    def executescript(self, script: str) -> None:
        """Run a schema script (several statements), all or nothing.

        Inside ``transaction.atomic()`` (a platform built in a pytest-django ``db`` test) its
        statements run one by one in a savepoint, and roll back with the block: Aura's scripts
        are ``CREATE ... IF NOT EXISTS``, run again by the next platform built.
        """
        connection = self._connection()
        if connection.in_atomic_block:
            with transaction.atomic(using=self.using), connection.cursor() as cursor:
                for statement in connection.ops.prepare_sql_script(script):
                    cursor.execute(statement)
            return
        connection.ensure_connection()
        if self._dialect == "sqlite":
            connection.connection.executescript(script)
            return
        with transaction.atomic(using=self.using):
            with connection.cursor() as cursor:
                # Replicas starting together would race on CREATE ... IF NOT EXISTS.
                cursor.execute("SELECT pg_advisory_xact_lock(7316842, 1)")
            connection.connection.execute(script)

    def query(self, sql: str, params: Params = ()) -> list[Any]:
        """Return every row of a query (``row["column"]``)."""
        return self.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> Any:
        """Return the first row of a query, or ``None``."""
        return self.execute(sql, params).fetchone()

    def table_names(self) -> list[str]:
        """The tables of the database (Django's introspection), sorted."""
        with self._connection().cursor() as cursor:
            return sorted(connections[self.using].introspection.table_names(cursor))

    @contextmanager
    def transaction(self) -> Iterator[DjangoDatabase]:
        """``transaction.atomic()``: a savepoint inside an open one."""
        self._connection()
        with transaction.atomic(using=self.using):
            yield self

    def is_transient(self, error: Exception) -> bool:
        """Whether ``error`` is the database failing for a moment rather than the code that used
        it: Django's ``OperationalError`` or ``InterfaceError`` (PostgreSQL: a lost connection, a
        shutdown, a serialization failure; SQLite: locked, a full disk). A durable delivery it
        fails is tried again after a wait, not kept as a dead letter."""
        if isinstance(error, InterfaceError):  # a connection closed under it
            return True
        if not isinstance(error, OperationalError):
            return False
        cause = error.__cause__  # Django's copy of the driver's error: the original
        if self._dialect == "sqlite":
            return cause is not None and sqlite_transient(cause)
        return postgres_transient(cause)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current atomic block commits; at once outside one.

        After a commit each callback runs even when an earlier one raised (Django logs it):
        the commit stands, and one failure must not cancel the others nor raise out of the
        application's ``atomic()``. At once, its error is the caller's.
        """
        if not connections[self.using].in_atomic_block:
            callback()
            return
        transaction.on_commit(callback, using=self.using, robust=True)

    def close(self) -> None:
        """Mark this database closed; Django's connections are Django's to close."""
        self._closed = True


def _result(cursor: Any) -> _Result:
    if cursor.description is None:
        return _Result(cursor.rowcount, [])
    names = [column[0] for column in cursor.description]
    return _Result(cursor.rowcount, [dict(zip(names, row, strict=True)) for row in cursor])

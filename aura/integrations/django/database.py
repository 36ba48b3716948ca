"""Aura's outbox on a Django database connection: events commit in ``transaction.atomic()``.

``Platform(modules, database=DjangoDatabase(), durable=True)``: an event published inside
``transaction.atomic()`` is written to the publication registry on that thread's Django
connection, in that transaction, and delivered by ``transaction.on_commit`` once it commits; a
rollback discards it. A durable delivery is an ``atomic()`` block of its own on the delivering
thread's connection, so a handler's ORM writes commit together with the COMPLETED mark, or roll
back with its failure. Django's connections belong to their thread: the platform's worker
threads each use their own. SQLite and PostgreSQL are supported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from aura.database import Params, SqlCursor
from aura.exceptions import ConfigurationError, MissingExtraError
from aura.sql import translate

try:
    from django.db import connections, transaction  # type: ignore[import-untyped]
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

    def execute(self, sql: str, params: Params = ()) -> SqlCursor:
        """Run one statement: in the current atomic block, else committed on its own."""
        with connections[self.using].cursor() as cursor:
            cursor.execute(translate(sql, isinstance(params, Mapping)), params)
            return _result(cursor)

    def executemany(self, sql: str, rows: Sequence[Params]) -> SqlCursor:
        """Run one statement for each row of parameters."""
        if not rows:
            return _Result(0, [])
        with connections[self.using].cursor() as cursor:
            cursor.executemany(translate(sql, isinstance(rows[0], Mapping)), list(rows))
            return _Result(cursor.rowcount, [])

    def executescript(self, script: str) -> None:
        """Run a schema script (several statements), all or nothing; never in a transaction."""
        connection = connections[self.using]
        if connection.in_atomic_block:
            raise ConfigurationError(
                "executescript() runs schema scripts and cannot run inside "
                "transaction.atomic(): call it before opening one (the platform does, when "
                "it is built)."
            )
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

    @contextmanager
    def transaction(self) -> Iterator[DjangoDatabase]:
        """``transaction.atomic()``: a savepoint inside an open one."""
        with transaction.atomic(using=self.using):
            yield self

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current atomic block commits; at once outside one."""
        transaction.on_commit(callback, using=self.using)

    def close(self) -> None:
        """Close this thread's connection; Django opens it again when next used."""
        if not connections[self.using].in_atomic_block:
            connections[self.using].close()
        self._closed = True


def _result(cursor: Any) -> _Result:
    if cursor.description is None:
        return _Result(cursor.rowcount, [])
    names = [column[0] for column in cursor.description]
    return _Result(cursor.rowcount, [dict(zip(names, row, strict=True)) for row in cursor])

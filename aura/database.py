"""The platform's embedded database: one SQLite connection, shared safely, with transactions.

Modules keep their own tables here (prefixed with the module's name); the durable event store and
the publication registry live in the same file, so a module's writes and the events they cause
commit or roll back together.

Every test builds a platform, and every platform runs the same schema scripts on a new in-memory
database: running them was most of the cost of starting one. So an in-memory database copies
their effect instead, when that is provably the same (see :meth:`Database.executescript`): the
first database to run a sequence of schema scripts leaves a template keyed by the scripts' exact
text and order; every later one that runs the same sequence from empty gets the template's pages
(SQLite's backup API) instead of running them.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
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

    scripts_copied: int
    """How many :meth:`executescript` calls were served by copying a template (memory only)."""

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
        # The schema scripts whose effect, from an empty database, this one holds exactly; None
        # once anything else may have written (a file database is never copied into).
        self._schema: tuple[str, ...] | None = () if self.path == ":memory:" else None
        self._queried = False  # a query() since the last script: it may have written
        # The template this database equals but has not copied yet: consecutive copied scripts
        # copy only the last one, when the connection is next used.
        self._pending: _Template | None = None
        self.scripts_copied = 0

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
            self._schema = None
            return self._connection.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Params]) -> sqlite3.Cursor:
        """Run one statement for each row of parameters."""
        with self._lock:
            self._check_open()
            self._schema = None
            return self._connection.executemany(sql, rows)

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
        with self._lock:
            self._check_closed()
            if self._depth:  # sqlite3 would silently commit the open transaction first
                raise ConfigurationError(
                    "executescript() cannot run inside a transaction: sqlite3 would commit it "
                    "first. Create the schema before the transaction, or use execute() for "
                    "each statement."
                )
            schema, queried = self._schema, self._queried
            self._schema, self._queried = None, False  # until the script is known to be done
            if schema is None or not _templates.is_schema_script(script):
                self._check_open()  # copies what is pending first
                self._connection.executescript(script)
                return
            if queried and not _templates.holds(schema, self._connection):
                self._connection.executescript(script)  # a query wrote: no longer a template
                return
            key = (*schema, script)
            template = _templates.get(key)
            if template is not None:
                # Copied when the connection is next used: a run of copied scripts copies once.
                self._pending = template
                self.scripts_copied += 1
            else:
                self._check_open()
                self._connection.executescript(script)
                if not _templates.record(key, self._connection):
                    return
            self._schema = key

    def query(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Return every row of a query."""
        with self._lock:
            self._check_open()
            self._queried = True
            return self._connection.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        """Return the first row of a query, or ``None``."""
        with self._lock:
            self._check_open()
            self._queried = True
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
            self._schema = None
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
        """Refuse a closed database; copy a pending template in before the connection is used."""
        self._check_closed()
        pending = self._pending
        if pending is not None:
            self._pending = None
            pending.copy_into(self._connection)

    def _check_closed(self) -> None:
        if self._closed:
            raise ConfigurationError(
                f"The database {self.path!r} is closed. Use the platform while it is open, or "
                "build a new one."
            )


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

"""Aura's outbox inside the application's own SQLAlchemy transactions (extra ``sqlalchemy``).

:class:`SqlAlchemyDatabase` is an :class:`aura.database.SqlDatabase` on the application's
engine. Give it to the platform, ``Platform(modules, database=SqlAlchemyDatabase(engine),
durable=True)``, and an event published while a :class:`~sqlalchemy.orm.Session` bound to that
engine is in a transaction is written to the publication registry **in that transaction**, on
its connection, and delivered only once it commits; a rollback discards the event, its
publications and its delivery. Nothing has to be passed around: every ``Session`` is followed
through SQLAlchemy's session events (a transaction begins, commits, rolls back), and the one
the calling thread or asyncio task is inside is the one events join.

- **Sync ``Session``:** the rows are written at ``publish`` time through ``session.connection()``
  (inside a savepoint of that connection, so a failure to record the event rolls back only its
  own rows), without flushing the session's pending objects.
- **``AsyncSession``:** SQL cannot run synchronously on an asyncio driver from a coroutine, so
  what ``publish`` writes is kept and written at the session's commit, before its final flush,
  inside the same transaction: a failure there fails the commit, and nothing is kept.
  Aura's own work (deliveries, workers, the schema) runs on a synchronous engine on the same
  database, made from the async engine's URL (``sqlite+aiosqlite`` → ``sqlite``,
  ``postgresql+asyncpg``/``+psycopg`` → ``postgresql+psycopg``), or given as ``sync_engine=``.
- **Core ``Connection``:** open it with :meth:`SqlAlchemyDatabase.begin` instead of
  ``engine.begin()``: that connection's transaction is then the one events join.
- **Handlers:** a durable delivery is a transaction of its own; :meth:`SqlAlchemyDatabase.session`
  is its ``Session``, so a handler's ORM writes commit together with the COMPLETED mark.

Statements are Aura's, written once with ``?`` placeholders, translated once per text for the
driver's parameter style (:func:`aura.sql.translate`).
"""

from __future__ import annotations

import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from aura.database import Params, SqlCursor, _current_task, sqlite_transient
from aura.exceptions import ConfigurationError, MissingExtraError, TransactionMismatchError
from aura.sql import postgres_transient, translate

try:
    from sqlalchemy import Connection, Engine, create_engine, event
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.engine import URL, CursorResult
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.orm import Session, SessionTransaction
    from sqlalchemy.pool import StaticPool
    from sqlalchemy.util.concurrency import in_greenlet
except ImportError:  # pragma: no cover - its own process: see test_sqlalchemy_outbox.py
    raise MissingExtraError(
        "aura.integrations.sqlalchemy needs SQLAlchemy 2 (with greenlet), which is not "
        "installed. Install Aura's sqlalchemy extra: pip install 'aura-modulith[sqlalchemy]'"
    ) from None

__all__ = ["SqlAlchemyDatabase", "one_flow"]

logger = logging.getLogger("aura.integrations.sqlalchemy")

_SUPPORTED = ("sqlite", "postgresql")
# The synchronous driver Aura uses beside an application's asyncio one, on the same database.
_SYNC_DRIVERS = {
    "sqlite+aiosqlite": "sqlite+pysqlite",
    "postgresql+asyncpg": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
    "postgresql+psycopg_async": "postgresql+psycopg",
}


# --- following the application's sessions -------------------------------------------------------


class _Unit:
    """One root transaction of a session: what Aura wrote or must do when it ends."""

    __slots__ = (
        "__weakref__",
        "asynchronous",
        "callbacks",
        "deferred",
        "engine",
        "home",
        "joined",
        "session",
    )

    def __init__(
        self, session: Session, engine: Engine | None, asynchronous: bool, joined: bool = False
    ) -> None:
        self.session = session
        # Whether the session joined a transaction its Connection had begun outside it (its
        # commit() then only ends a savepoint, or nothing): Aura cannot tell when it commits.
        self.joined = joined
        # Where it began: another thread or task (which copied this context) never joins it,
        # unless it is the session of the flow it began in (the request's: see one_flow).
        flow = _flow.get()
        self.home: object = flow if flow is not None and flow.session is session else _here()
        self.engine = engine
        self.asynchronous = asynchronous
        # (the savepoint it was registered under, the callback); dropped when that rolls back
        self.callbacks: list[tuple[SessionTransaction | None, Callable[[], None]]] = []
        # AsyncSession: (savepoint, statement, parameters, many) written at the commit
        self.deferred: list[tuple[SessionTransaction | None, str, Any, bool]] = []

    @property
    def active(self) -> bool:
        return self.session.info.get(_UNIT) is self

    @property
    def here(self) -> bool:
        if self.session.info.get(_UNIT) is not self:
            return False
        if isinstance(self.home, _Flow):
            return _flow.get() is self.home
        return bool(self.home == _here())

    def savepoint(self) -> SessionTransaction | None:
        return self.session.get_nested_transaction()


_UNIT = "aura_unit"
# The root transactions the calling thread or task is inside, innermost last. A tuple, replaced
# on each change: asyncio tasks copy the context, so a shared list would leak between them.
_units: ContextVar[tuple[weakref.ReferenceType[_Unit], ...]] = ContextVar(
    "aura_sqlalchemy_units", default=()
)
_installed = False


class _Flow:
    """One request's threads and tasks, as far as its own session goes (see :func:`one_flow`):
    the root transactions of that session, innermost last."""

    __slots__ = ("session", "units")

    def __init__(self, session: object) -> None:
        self.session = session
        self.units: tuple[weakref.ReferenceType[_Unit], ...] = ()


_flow: ContextVar[_Flow | None] = ContextVar("aura_sqlalchemy_flow", default=None)


@contextmanager
def one_flow(session: object) -> Iterator[None]:
    """Within it, ``session`` (a request's) is one place, whichever thread or task uses it.

    FastAPI runs a request's plain ``def`` dependencies and its ``def`` endpoint in thread-pool
    threads, each with a copy of the request's context. Outside a flow, a transaction is joined
    only by the thread or task that began it, so a dependency that used the request's session
    first (``get_current_user(session=...)``) began a transaction the endpoint's events did not
    join. Inside one, a transaction of ``session`` begun by any of the flow's threads or tasks
    is the one the others' events join; every other session keeps the rule (a worker thread
    of the request with a session of its own never lends it to the others).
    :func:`aura.integrations.fastapi.session_dependency` opens one per request.
    """
    token = _flow.set(_Flow(session))
    try:
        yield
    finally:
        try:
            _flow.reset(token)
        except ValueError:  # ended in another context (an async generator closed elsewhere)
            _flow.set(None)


def _remember(unit: _Unit) -> None:
    """Keep ``unit`` where the calling thread or task (or its flow) finds it."""
    if isinstance(unit.home, _Flow):
        unit.home.units = (*_prune(unit.home.units), weakref.ref(unit))
    else:
        _units.set((*_prune(_units.get()), weakref.ref(unit)))


def _forget() -> None:
    """Drop the ended transactions from what the caller (and its flow) find."""
    _units.set(_prune(_units.get()))
    flow = _flow.get()
    if flow is not None:
        flow.units = _prune(flow.units)


def _install() -> None:
    """Follow every ``Session``'s transactions (once per process; a few attribute reads each)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "after_transaction_create", _created)
    event.listen(Session, "after_transaction_end", _ended)
    event.listen(Session, "before_commit", _before_commit)
    event.listen(Session, "after_commit", _after_commit)
    event.listen(Session, "after_soft_rollback", _after_soft_rollback)
    _installed = True


def _engine_of(session: Session) -> Engine | None:
    bind = session.bind
    if bind is None:
        return None  # bound per mapper (binds=): Aura cannot tell which database it writes
    return bind.engine if isinstance(bind, Connection) else bind


def _created(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return  # a savepoint or subtransaction: the root's unit covers it
    engine = _engine_of(session)
    bind = session.bind
    joined = isinstance(bind, Connection) and bind.in_transaction()
    unit = _Unit(
        session,
        engine,
        asynchronous=engine is not None and engine.dialect.is_async,
        joined=joined,
    )
    session.info[_UNIT] = unit
    _remember(unit)


def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and _UNIT in session.info:
        del session.info[_UNIT]
        _forget()


def _prune(
    units: tuple[weakref.ReferenceType[_Unit], ...],
) -> tuple[weakref.ReferenceType[_Unit], ...]:
    return tuple(ref for ref in units if (unit := ref()) is not None and unit.active)


def _before_commit(session: Session) -> None:
    unit = session.info.get(_UNIT)
    if unit is None or not unit.deferred:
        return
    deferred, unit.deferred = unit.deferred, []
    connection = session.connection()
    for _, sql, params, many in deferred:
        connection.exec_driver_sql(sql, params if not many else list(params))


def _after_commit(session: Session) -> None:
    unit = session.info.pop(_UNIT, None)
    if unit is None:
        return
    _forget()
    for _, callback in unit.callbacks:
        try:
            callback()
        except Exception:
            # The commit stands: one callback's failure must not cancel the others, nor
            # raise out of the application's commit().
            logger.exception("An after-commit callback failed")
    unit.callbacks.clear()


def _after_soft_rollback(session: Session, previous: SessionTransaction) -> None:
    unit = session.info.get(_UNIT)
    if unit is None:
        return
    if previous.parent is None:  # the whole transaction: nothing of it happened
        unit.callbacks.clear()
        unit.deferred.clear()
        return

    def inside(savepoint: SessionTransaction | None) -> bool:
        while savepoint is not None:
            if savepoint is previous:
                return True
            savepoint = savepoint.parent
        return False

    unit.callbacks[:] = [item for item in unit.callbacks if not inside(item[0])]
    unit.deferred[:] = [item for item in unit.deferred if not inside(item[0])]


# --- results -------------------------------------------------------------------------------------


class _Result:
    """A statement's outcome, read before its connection is given back."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, result: CursorResult[Any] | None) -> None:
        if result is None:  # written later (AsyncSession): how many rows is not known yet
            self.rowcount, self._rows = -1, []
            return
        self.rowcount = result.rowcount
        self._rows = [row._mapping for row in result] if result.returns_rows else []

    def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows


# --- the database --------------------------------------------------------------------------------


class SqlAlchemyDatabase:
    """Aura's :class:`~aura.database.SqlDatabase` on an application's SQLAlchemy engine.

    ``engine`` is an :class:`~sqlalchemy.Engine` or an
    :class:`~sqlalchemy.ext.asyncio.AsyncEngine` on SQLite or PostgreSQL. ``session_factory``
    makes the sessions of Aura's own transactions (deliveries, workers), a ``sessionmaker``
    of the application's, say (default: plain sessions on the engine). With
    ``require_transaction=True``, a durable publish outside any transaction is refused
    (:class:`~aura.exceptions.TransactionRequiredError`) instead of committing alone.
    """

    def __init__(
        self,
        engine: Engine | AsyncEngine,
        *,
        session_factory: Callable[[], Session] | None = None,
        require_transaction: bool = False,
        sync_engine: Engine | None = None,
    ) -> None:
        if not isinstance(engine, Engine | AsyncEngine):
            raise ConfigurationError(
                f"SqlAlchemyDatabase needs a SQLAlchemy Engine or AsyncEngine, got "
                f"{type(engine).__name__}. Pass create_engine(url) or create_async_engine(url)."
            )
        _check_backend(engine)
        self._owns_engine = False
        self.async_engine: AsyncEngine | None = None
        if isinstance(engine, AsyncEngine):
            self.async_engine = engine
            if sync_engine is None:
                sync_engine = create_engine(_sync_url(engine.url))
                self._owns_engine = True
            _check_same_database(engine, sync_engine)
            engine = sync_engine
        _check_not_private_memory(engine)
        self.engine: Engine = engine
        self._engines: tuple[Engine, ...] = (engine,)
        if self.async_engine is not None:
            self._engines += (self.async_engine.sync_engine,)
        self._session_factory = session_factory or (lambda: Session(self.engine))
        self.require_transaction = require_transaction
        """Whether a durable publish outside any transaction is refused."""
        self.transaction_advice = (
            "`with session.begin():`",
            "pass SqlAlchemyDatabase(engine, require_transaction=False)",
        )
        """What a refused publish outside a transaction advises: the unit of work, the way out."""
        self._paramstyle = engine.dialect.paramstyle
        self._closed = False
        _install()

    def __repr__(self) -> str:
        return f"SqlAlchemyDatabase({self.path!r})"

    # --- what the protocol asks --------------------------------------------------------------

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    @property
    def path(self) -> str:
        """The engine's URL, its password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @property
    def in_transaction(self) -> bool:
        """Whether the calling thread or task is inside a transaction of this database's
        engines (a session's, or one of :meth:`transaction`)."""
        unit = _innermost()
        return unit is not None and unit.engine in self._engines

    def execute(self, sql: str, params: Params = ()) -> SqlCursor:
        """Run one statement: in the current transaction, else committed on its own."""
        statement, params = self._driver_sql(sql, params)
        unit = self._unit()
        if unit is None:
            with self.engine.begin() as connection:
                return _Result(connection.exec_driver_sql(statement, params))
        if unit.asynchronous and not in_greenlet():
            unit.deferred.append((unit.savepoint(), statement, params, False))
            return _Result(None)
        return _Result(_connection(unit).exec_driver_sql(statement, params))

    def executemany(self, sql: str, rows: Sequence[Params]) -> SqlCursor:
        """Run one statement for each row of parameters."""
        if not rows:
            return _Result(None)
        statement, _ = self._driver_sql(sql, rows[0])
        batch = [self._driver_sql(sql, row)[1] for row in rows]
        unit = self._unit()
        if unit is None:
            with self.engine.begin() as connection:
                return _Result(connection.exec_driver_sql(statement, batch))
        if unit.asynchronous and not in_greenlet():
            unit.deferred.append((unit.savepoint(), statement, batch, True))
            return _Result(None)
        return _Result(_connection(unit).exec_driver_sql(statement, batch))

    def executescript(self, script: str) -> None:
        """Run a schema script (several statements), all or nothing; never in a transaction."""
        if self._unit() is not None:
            raise ConfigurationError(
                "executescript() runs schema scripts and cannot run inside a transaction: "
                "call it before opening one (the platform does, when it starts)."
            )
        if self.dialect == "sqlite":
            raw = self.engine.raw_connection()
            try:
                raw.driver_connection.executescript(script)  # type: ignore[union-attr]
            finally:
                raw.close()
            return
        with self.engine.begin() as connection:
            # Replicas starting together would race on CREATE ... IF NOT EXISTS: the same
            # transaction-level lock as aura.postgres.PostgresDatabase's schema scripts.
            connection.exec_driver_sql("SELECT pg_advisory_xact_lock(7316842, 1)")
            driver = connection.connection.driver_connection
            driver.execute(script)  # type: ignore[union-attr]

    def query(self, sql: str, params: Params = ()) -> list[Any]:
        """Return every row of a query (``row["column"]``)."""
        return self._read(sql, params).fetchall()

    def query_one(self, sql: str, params: Params = ()) -> Any:
        """Return the first row of a query, or ``None``."""
        return self._read(sql, params).fetchone()

    @contextmanager
    def transaction(self) -> Iterator[SqlAlchemyDatabase]:
        """Commit everything in the block together, or nothing if it raises.

        Inside an application's transaction this is a savepoint of it (its own failure rolls
        back only its part); outside one it is a new session's transaction, which
        :meth:`session` returns meanwhile.
        """
        unit = self._unit()
        if unit is None:
            session = self._session_factory()
            try:
                with session.begin():
                    yield self
            finally:
                session.close()
            return
        if unit.asynchronous and not in_greenlet():
            marks = (len(unit.deferred), len(unit.callbacks))
            try:
                yield self
            except BaseException:
                del unit.deferred[marks[0] :], unit.callbacks[marks[1] :]
                raise
            return
        callbacks = len(unit.callbacks)
        savepoint = _connection(unit).begin_nested()
        try:
            yield self
        except BaseException:
            savepoint.rollback()
            del unit.callbacks[callbacks:]
            raise
        savepoint.commit()

    def check_transaction(self) -> None:
        """Raise :class:`~aura.exceptions.TransactionMismatchError` when the caller is inside a
        transaction Aura's statements cannot join (another engine's, ``binds=``, a joined
        outer transaction): what every Aura statement checks."""
        self._unit()

    def is_transient(self, error: Exception) -> bool:
        """Whether ``error`` is the database failing for a moment rather than the code that used
        it: a connection SQLAlchemy invalidated, a driver ``OperationalError`` (PostgreSQL: a
        lost connection, a shutdown, a serialization failure; SQLite: locked, a full disk), no
        pooled connection in time. A durable delivery it fails is tried again after a wait."""
        if isinstance(error, sa_exc.TimeoutError):  # the pool's
            return True
        if not isinstance(error, sa_exc.DBAPIError):
            return False
        if error.connection_invalidated:
            return True
        if self.dialect == "sqlite":
            return error.orig is not None and sqlite_transient(error.orig)
        if not isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
            return False
        return postgres_transient(error.orig)

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once the current transaction commits; at once outside one."""
        unit = self._unit()
        if unit is None:
            callback()
        else:
            unit.callbacks.append((unit.savepoint(), callback))

    def close(self) -> None:
        """Dispose the synchronous engine made for an async one; the application's own
        engines are the application's to dispose. Closing twice is harmless."""
        if not self._closed and self._owns_engine:
            self.engine.dispose()
        self._closed = True

    # --- for the application ------------------------------------------------------------------

    def session(self) -> Session:
        """The ``Session`` of the transaction the caller is in: inside a durable handler, the
        delivery's own, whose writes commit together with the COMPLETED mark."""
        unit = self._unit()
        if unit is None:
            raise ConfigurationError(
                "SqlAlchemyDatabase.session() was called outside any transaction of "
                f"{self.path}: call it inside a durable event handler, or inside "
                "`with database.transaction():`."
            )
        return unit.session

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A Core ``Connection`` in a transaction events join, like ``engine.begin()``."""
        with self.transaction():
            yield self.session().connection()

    # --- helpers ------------------------------------------------------------------------------

    def _unit(self) -> _Unit | None:
        """The innermost transaction of the caller, if it is on this database's engines."""
        unit = _innermost()
        if unit is None:
            return None
        if unit.engine is None:
            raise TransactionMismatchError(
                "An Aura statement ran inside a transaction of a session bound per mapper or "
                "table (Session(binds=...)): Aura cannot tell which database that transaction "
                f"writes, so events published there would not commit with it ({self.path}). "
                "Bind the session to the platform's engine: Session(engine) or "
                "sessionmaker(engine). Nothing was written."
            )
        if unit.joined:
            raise TransactionMismatchError(
                "An Aura statement ran inside a session that joined a transaction its "
                "Connection had begun outside it (Session(bind=connection) after "
                "connection.begin()): the session's commit() does not commit that "
                "transaction, and Aura cannot tell when it does, so events would be delivered "
                "before it. Bind the session to the engine (Session(engine)); a test that "
                "rolls back an outer transaction can use a fresh database per test instead. "
                "Nothing was written."
            )
        if unit.engine in self._engines:
            return unit
        raise TransactionMismatchError(
            f"An Aura statement ran inside a transaction of a session bound to "
            f"{unit.engine.url.render_as_string(hide_password=True)}, and the platform's "
            f"database is {self.path}: events published there would not commit with it. Bind "
            "the session to the platform's engine, or publish outside that session's "
            "transaction."
        )

    def _read(self, sql: str, params: Params) -> SqlCursor:
        statement, params = self._driver_sql(sql, params)
        unit = self._unit()
        if unit is None:
            with self.engine.connect() as connection:
                return _Result(connection.exec_driver_sql(statement, params))
        if unit.asynchronous and not in_greenlet():
            raise ConfigurationError(
                "Aura cannot read the database inside an AsyncSession's transaction from a "
                "coroutine (SQLAlchemy's asyncio drivers need await): read outside the "
                "transaction, or run the code with `await session.run_sync(...)`."
            )
        return _Result(_connection(unit).exec_driver_sql(statement, params))

    def _driver_sql(self, sql: str, params: Params) -> tuple[str, Any]:
        style = self._paramstyle
        if style in ("qmark", "named"):
            return sql, params
        if style in ("format", "pyformat"):
            return translate(sql, isinstance(params, Mapping)), params
        if isinstance(params, Mapping):
            raise ConfigurationError(
                f"Named parameters are not supported on the {style} driver "
                f"{self.engine.driver!r}: pass them by position with ? placeholders."
            )
        return _numbered(sql), params


def _connection(unit: _Unit) -> Connection:
    """The unit's connection, in a transaction SQLite itself knows of.

    The stdlib driver opens SQLite's transaction only before a write, and a ``SAVEPOINT``
    outside one is a transaction of its own that its ``RELEASE`` commits: a savepoint of
    Aura's would commit the application's writes before the application did.
    """
    connection = unit.session.connection()
    if unit.engine is not None and unit.engine.dialect.name == "sqlite" and not unit.asynchronous:
        driver = connection.connection.driver_connection
        if driver is not None and not driver.in_transaction:
            driver.execute("BEGIN")
    return connection


def _innermost() -> _Unit | None:
    # The caller's own transactions first (a session it opened itself, inside the request's
    # flow, is its innermost), then those of the flow's session.
    flow = _flow.get()
    for units in (_units.get(), flow.units if flow is not None else ()):
        for ref in reversed(units):
            unit = ref()
            if unit is not None and unit.here:
                return unit
    return None


def _here() -> tuple[int, object | None]:
    return threading.get_ident(), _current_task()


_QUESTION = re.compile(r"%%|%s")


def _numbered(sql: str) -> str:
    """``?`` → ``$1``, ``$2``… (asyncpg's style), outside literals, through translate()."""
    counter = iter(range(1, 10_000))
    return _QUESTION.sub(lambda m: "%" if m[0] == "%%" else f"${next(counter)}", translate(sql))


def _check_backend(engine: Engine | AsyncEngine) -> None:
    name = engine.dialect.name
    if name not in _SUPPORTED:
        raise ConfigurationError(
            f"SqlAlchemyDatabase supports SQLite and PostgreSQL, and the engine is on {name} "
            f"({engine.url.render_as_string(hide_password=True)}). Keep Aura's registry on a "
            "supported database: pass an engine on sqlite:// or postgresql+psycopg://."
        )


def _sync_url(url: URL) -> URL:
    driver = _SYNC_DRIVERS.get(url.drivername)
    if driver is None:
        raise ConfigurationError(
            f"No synchronous driver is known for {url.drivername!r}: Aura's deliveries run "
            "on a synchronous engine on the same database. Pass it: "
            "SqlAlchemyDatabase(async_engine, sync_engine=create_engine(...))."
        )
    return url.set(drivername=driver)


def _check_same_database(async_engine: AsyncEngine, engine: Engine) -> None:
    a, b = async_engine.url, engine.url
    if (a.get_backend_name(), a.host, a.port, a.database) != (
        b.get_backend_name(),
        b.host,
        b.port,
        b.database,
    ):
        raise ConfigurationError(
            f"sync_engine is on {b.render_as_string(hide_password=True)} and the async engine "
            f"on {a.render_as_string(hide_password=True)}: Aura's deliveries must see the "
            "rows the application's sessions write. Pass a sync_engine on the same database."
        )


def _check_not_private_memory(engine: Engine) -> None:
    if engine.dialect.name != "sqlite" or engine.url.database not in (None, "", ":memory:"):
        return
    if not isinstance(engine.pool, StaticPool):
        raise ConfigurationError(
            "The engine is on an in-memory SQLite database with a connection per thread: "
            "Aura's deliveries would each see an empty database of their own. Use a file "
            "(sqlite:///app.db), or one shared connection: create_engine('sqlite://', "
            "poolclass=StaticPool, connect_args={'check_same_thread': False})."
        )

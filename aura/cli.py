"""The ``aura`` command: ``demo``, ``serve``, ``token``, ``dead-letters``, ``modules``, ``check``,
``docs``.

Each command reads the project's ``[tool.aura]`` (:mod:`aura.config`) from the nearest
``pyproject.toml``; its flags override it. A configuration error is printed as
``aura COMMAND: error: ...`` with exit status 2 (on the standard error when ``aura check`` or
``aura modules`` prints JSON or SARIF, so that the standard output holds the report alone). When
the reader of the output goes away (``aura check | head -1``), the command stops writing and
exits with status 1, quietly.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import aura
from aura.config import (
    CLI_MODULES,
    ProjectConfig,
    add_modules_argument,
    database_location,
    load_config,
    load_modules,
)
from aura.exceptions import (
    WEB_EXTRA_MODULES,
    AuraError,
    ConfigurationError,
    DatabaseBusyError,
    DeadLetterRetryError,
    MissingExtraError,
)

if TYPE_CHECKING:
    from aura.bus import Delivery
    from aura.database import SqlDatabase
    from aura.events import Event
    from aura.registry import ServiceCall

# The runtime (the bus, the store, pydantic) is imported by the commands that run it, so that
# `aura check` and `aura modules`, which read the source and import nothing of it, start fast.

__all__ = ["TracePrinter", "main"]


class TracePrinter:
    """A bus observer that prints each event and each delivery as it happens."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._numbers: dict[str, int] = {}

    def on_published(self, event: Event) -> None:
        """Print one line per published event, numbered, with its causation."""
        number = self._numbers[event.event_id] = len(self._numbers) + 1
        cause = event.causation_id
        caused_by = f"#{self._numbers[cause]}" if cause in self._numbers else "-"
        print(
            f"#{number} {event.event_type} from {event.source_module} "
            f"data={dict(event.data)} correlation={event.correlation_id} caused_by={caused_by}",
            file=self.out,
        )

    def on_delivered(self, delivery: Delivery) -> None:
        """Print one line per delivery with its outcome and duration."""
        outcome = "ok" if delivery.error is None else f"FAILED: {delivery.error!r}"
        print(
            f"    -> {delivery.subscriber_module}:{delivery.handler_name.rsplit('.', 1)[-1]} "
            f"{outcome} ({delivery.duration * 1000:.3f} ms)",
            file=self.out,
        )

    def on_service_call(self, call: ServiceCall) -> None:
        """Print one line per cross-module service call (a registry observer)."""
        caller = call.caller_module or "(outside)"
        print(
            f"    {caller} -> {call.provider_module}.{call.service_name}.{call.method}() "
            f"{call.outcome}",
            file=self.out,
        )


def run_demo(out: TextIO) -> int:
    """Publish one event to two example subscribers and print the trace."""
    from aura.bus import EventBus
    from aura.events import EventCatalog

    bus = EventBus(catalog=EventCatalog())
    sent: list[dict[str, Any]] = []

    def send_confirmation(data: dict[str, Any]) -> None:
        sent.append(dict(data))
        bus.publish(
            "notification.sent",
            {"session_id": data["session_id"], "recipient_id": data["patient_id"]},
            "notifications",
        )

    def create_charge(data: dict[str, Any]) -> None:
        bus.publish("payment.pending", {"session_id": data["session_id"]}, "billing")

    bus.subscribe("therapy_session.scheduled", send_confirmation, "notifications")
    bus.subscribe("therapy_session.scheduled", create_charge, "billing")
    bus.add_observer(TracePrinter(out))
    print("aura demo: mentalhealth schedules a session; notifications and billing react.", file=out)
    bus.publish(
        "therapy_session.scheduled",
        {
            "session_id": 1,
            "patient_id": 7,
            "therapist_id": 3,
            "scheduled_at": "2030-01-07T10:00:00+00:00",
        },
        "mentalhealth",
    )
    print(f"{len(bus.dead_letters())} failed deliveries.", file=out)
    return 0


def _project_demo(config: ProjectConfig) -> Callable[[TextIO], int] | None:
    """The demo named by ``demo = "package.module:function"`` in ``[tool.aura]``, if any."""
    if config.demo is None:
        return None
    target, _, name = config.demo.partition(":")
    config.put_on_path()
    try:
        demo: Callable[[TextIO], int] = getattr(importlib.import_module(target), name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigurationError(
            f"demo = {config.demo!r} in {config.where} cannot be loaded: {error}. Expected "
            "'package.module:function', a function that takes a text stream and returns the "
            "exit status."
        ) from None
    if not callable(demo):
        raise ConfigurationError(
            f"demo = {config.demo!r} in {config.where} names {type(demo).__name__} "
            f"{demo!r}, which cannot be called. Expected 'package.module:function', a function "
            "that takes a text stream and returns the exit status."
        )
    return demo


def _dead_letters(args: argparse.Namespace, out: TextIO) -> int:
    """``aura dead-letters list|retry|purge``: the durable dead letters of a platform database.

    Every argument is checked before the file is opened, and the file is checked to be an Aura
    database before anything is written to it; ``list`` opens it read-only.
    """
    _check_letter_arguments(args)
    config = load_config()
    factory = args.platform if args.platform is not None else config.platform
    if factory is not None:
        if args.database is not None or args.modules is not None:
            given = "--database" if args.database is not None else "--modules"
            raise ConfigurationError(
                f"{given} and a platform factory ({factory!r}) both say where the dead letters "
                f"are. Give one: the factory builds the application's platform, its database "
                f"and modules included; or drop it (--platform, platform in {config.where}) "
                f"and pass {given}."
            )
        return _factory_dead_letters(_built_platform(factory, config), factory, args, out)
    location = database_location(args.database, config)
    if isinstance(location, str):
        return _postgres_dead_letters(location, config, args, out)
    path = location
    if not path.exists():
        raise ConfigurationError(
            f"No database at {path}. Pass --database with the platform's SQLite file, or set "
            f"database in {config.where}."
        )
    if args.action == "retry":  # the modules first: without them nothing can be retried
        modules = load_modules(config, config.modules_setting(args.modules, **CLI_MODULES))
        _aura_tables(path)
        return _retry_dead_letters(path, str(path), modules, args, out)
    from aura.dead_letters import listing, purged

    tables = _aura_tables(path)
    if args.action == "list":
        import sqlite3

        try:
            letters = _read_letters(path, tables)
        except sqlite3.DatabaseError as exc:  # a page past the first is damaged
            raise _stopped(path, exc, "list", "nothing was changed", "") from None
        print(*listing(letters), sep="\n", file=out)
        return 0
    print(purged(_purge_letters(path, tables, args)), file=out)
    return 0


def _built_platform(spec: str, config: ProjectConfig) -> Any:
    """The platform ``spec`` (``package.module:function``) builds, checked to be durable."""
    from aura.platform import Platform

    where = f"The platform factory {spec!r}"
    target, _, name = spec.partition(":")
    if not target or not name:
        raise ConfigurationError(
            f"{where} is not 'package.module:function'. Name the function that builds the "
            "application's platform, e.g. --platform shop.app:make_platform."
        )
    config.put_on_path()
    try:
        factory = getattr(importlib.import_module(target), name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ConfigurationError(
            f"{where} cannot be loaded: {type(error).__name__}: {error}. Name a function that "
            "takes no arguments and returns the application's Platform."
        ) from None
    if not callable(factory):
        raise ConfigurationError(
            f"{where} names {type(factory).__name__} {factory!r}, which cannot be called. Name "
            "a function that takes no arguments and returns the application's Platform."
        )
    try:
        built = factory()
    except AuraError:
        raise
    except Exception as error:  # the application's own start-up: an unset variable, say
        raise ConfigurationError(
            f"{where} raised {type(error).__name__}: {error}. Run it where the application "
            "runs (its environment, its settings), or fix what it says."
        ) from error
    if not isinstance(built, Platform):
        raise ConfigurationError(
            f"{where} returned {type(built).__name__} ({built!r}), not a Platform. Make it "
            "return the application's Platform(..., durable=True)."
        )
    if built.journal is None:
        built.close()
        raise ConfigurationError(
            f"{where} built a platform without durable=True: it keeps no dead letters to list, "
            "retry or purge. Build it with durable=True, as the application runs."
        )
    return built


def _factory_dead_letters(platform: Any, spec: str, args: argparse.Namespace, out: TextIO) -> int:
    """``aura dead-letters`` through the application's own platform (``--platform``): its
    database adapter, handlers and settings (completed_publications) are those it runs with."""
    if args.action == "retry":
        return _retry_on(platform, f"the database of {spec}", args, out)
    try:  # listing and purging start nothing: no hook, no delivery
        return _list_or_purge(platform, f"the database of {spec}", args, out)
    finally:
        platform.close()


def _list_or_purge(platform: Any, where: str, args: argparse.Namespace, out: TextIO) -> int:
    """``list`` or ``purge`` the dead letters of ``platform``'s bus."""
    from aura.dead_letters import listing, purge_chosen, purged

    if args.action == "list":
        print(*listing(platform.bus.dead_letters()), sep="\n", file=out)
        return 0
    dropped = purge_chosen(
        [platform.bus.dead_letter_store],
        ids=args.ids,
        every=args.all,
        older_than_days=args.older_than_days,
        command="aura dead-letters",
        where=where,
    )
    print(purged(dropped), file=out)
    return 0


def _postgres_dead_letters(
    url: str, config: ProjectConfig, args: argparse.Namespace, out: TextIO
) -> int:
    """``aura dead-letters`` on a PostgreSQL URL: the same three actions, through the bus of a
    platform on that database. Nothing is created there: a database no durable platform ran on
    is refused before the platform (which would create Aura's tables) is built."""
    modules: list[Any] = []
    if args.action == "retry":  # the modules first: without them nothing can be retried
        modules = load_modules(config, config.modules_setting(args.modules, **CLI_MODULES))
    database = _open_postgres(url)
    try:
        found = database.query_one("SELECT to_regclass('aura_publications') IS NOT NULL AS found")
        if found is None or not found["found"]:
            raise ConfigurationError(
                f"The PostgreSQL database {database.path} holds no Aura tables "
                "(aura_publications): no durable platform has run on it. Nothing was changed. "
                "Pass --database with the URL of a platform built with durable=True."
            )
    except BaseException:
        database.close()
        raise
    if args.action == "retry":
        return _retry_dead_letters(database, database.path, modules, args, out)
    from aura.platform import Platform

    # No worker and no start: this process does what it is asked and leaves the rest.
    with Platform([], database=database, durable=True, poll_interval=None) as platform:
        return _list_or_purge(platform, database.path, args, out)


def _check_letter_arguments(args: argparse.Namespace) -> None:
    """Refuse numbers that make no sense before anything is opened (``--older-than-days -1``
    would purge every letter)."""
    from aura.dead_letters import check_letter_options  # events and pydantic: only when used

    check_letter_options(
        args.action,
        older_than_days=args.older_than_days,
        max_attempts=args.max_attempts,
        backoff=args.backoff,
        every=args.all,
        ids=args.ids,
        modules=args.modules,
        command="aura dead-letters",
    )


_AURA_TABLES = ("aura_publications", "aura_dead_letters")
_SQLITE_HEADER = b"SQLite format 3\x00"


def _aura_tables(path: Path) -> set[str]:
    """The Aura tables of the SQLite file at ``path``, read without writing anything to it;
    a file that is not an Aura database is refused with what it is instead."""
    import sqlite3
    from contextlib import closing

    try:
        with path.open("rb") as file:
            header = file.read(len(_SQLITE_HEADER))
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot read the database {path}: {exc.strerror or exc}. Check the path and its "
            "permissions."
        ) from None
    if header != _SQLITE_HEADER:
        raise ConfigurationError(
            f"{path} is not an SQLite database (it does not start with SQLite's header). Pass "
            "--database with the platform's database file."
        )
    try:
        with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
            names = {
                row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
    except sqlite3.DatabaseError as exc:
        raise ConfigurationError(
            f"{path} cannot be read as an SQLite database: {exc}. It may be damaged; restore "
            "it from a backup, or pass --database with another file."
        ) from None
    tables = names.intersection(_AURA_TABLES)
    if not tables:
        raise ConfigurationError(
            f"{path} is an SQLite database but not an Aura one: it has neither "
            f"{' nor '.join(_AURA_TABLES)}. Nothing was changed. Pass --database with the "
            "file of a platform built with durable=True."
        )
    return tables


def _read_letters(path: Path, tables: set[str]) -> list[Any]:
    """Every dead letter in the file, read through a read-only connection."""
    import sqlite3
    from contextlib import closing
    from types import SimpleNamespace

    from aura.publications import FailedPublications
    from aura.store import SqliteDeadLetterStore

    with closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        reader = _ReadOnly(db)
        letters: list[Any] = []
        if "aura_publications" in tables:
            journal: Any = SimpleNamespace(database=reader)
            letters += FailedPublications(journal).list()
        if "aura_dead_letters" in tables:
            legacy = SqliteDeadLetterStore.__new__(SqliteDeadLetterStore)
            legacy.database = reader  # type: ignore[assignment]  # reads only
            letters += legacy.list()
        return letters


class _ReadOnly:
    """``query`` over a read-only sqlite3 connection: what the stores' readers use."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return list(self._connection.execute(sql, params).fetchall())


def _purge_letters(path: Path, tables: set[str], args: argparse.Namespace) -> int:
    import sqlite3

    from aura.database import Database
    from aura.dead_letters import DeadLetterStore, purge_chosen
    from aura.store import SqliteDeadLetterStore

    try:
        with Database(path) as database:
            stores: list[DeadLetterStore] = []
            if "aura_publications" in tables:
                from aura.publications import DurableJournal, FailedPublications
                from aura.store import SqliteEventStore

                journal = DurableJournal(database, SqliteEventStore(database))
                stores.append(FailedPublications(journal))
            if "aura_dead_letters" in tables:
                stores.append(SqliteDeadLetterStore(database))
            return purge_chosen(
                stores,
                ids=args.ids,
                every=args.all,
                older_than_days=args.older_than_days,
                command="aura dead-letters",
                where=str(path),
            )
    except sqlite3.DatabaseError as exc:
        raise _stopped(
            path, exc, "purge", "nothing was purged", "check that the file is writable"
        ) from None


def _retry_dead_letters(
    database: Path | SqlDatabase,
    where: str,
    modules: list[Any],
    args: argparse.Namespace,
    out: TextIO,
) -> int:
    from aura.platform import Platform  # the handlers live in the modules: build the platform

    # No worker: this process retries what it is asked to and leaves the rest to the platform.
    platform = Platform(modules, database=database, durable=True, poll_interval=None)
    return _retry_on(platform, where, args, out)


def _retry_on(platform: Any, where: Path | str, args: argparse.Namespace, out: TextIO) -> int:
    """Start ``platform``, retry its dead letters as ``args`` say, print the summary, close."""
    import sqlite3

    from aura.dead_letters import retry_policy_of

    policy = retry_policy_of(args.max_attempts, args.backoff)
    try:
        with platform:
            report = platform.bus.retry_dead_letters(policy)
    except (sqlite3.DatabaseError, DeadLetterRetryError) as exc:
        # What was done before the database stopped the retry is printed; the typed error
        # names the database's own error.
        cause: Exception = exc
        if isinstance(exc, DeadLetterRetryError):
            print(exc.report.summary(), file=out)  # what was done before it stopped
            cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        raise _stopped(
            where,
            cause,
            "retry",
            "the dead letters not retried yet are kept",
            "check the database (disk space, permissions) and try again",
        ) from None
    print(report.summary(), file=out)
    return 0 if report.problem() is None else 1


def _stopped(path: Path | str, exc: Exception, doing: str, kept: str, fix: str) -> Exception:
    """The typed error of a dead-letter command the database stopped: busy, damaged, or
    failing."""

    if "locked" in str(exc):
        return DatabaseBusyError(
            f"{path} is locked by another process ({exc}); {kept}. Try again when it is idle."
        )
    if getattr(exc, "sqlite_errorname", "") in ("SQLITE_CORRUPT", "SQLITE_NOTADB"):
        fix = "it may be damaged: restore it from a backup, or pass --database with another file"
    return ConfigurationError(
        f"Cannot {doing} dead letters in {path}: {exc}. {kept[0].upper()}{kept[1:]}; {fix}."
    )


def _add_dead_letter_commands(commands: Any) -> None:
    letters = commands.add_parser("dead-letters", help="list, retry or purge dead letters")
    letters.add_argument(
        "action", choices=("list", "retry", "purge"), help="what to do with the dead letters"
    )
    letters.add_argument(
        "--platform",
        metavar="MODULE:FUNCTION",
        help="the function building the application's platform, as it runs (its database "
        "adapter and settings): instead of --database and --modules (default: platform in "
        "[tool.aura])",
    )
    letters.add_argument(
        "--database",
        help="SQLite file or postgresql:// URL (default: $AURA_DATABASE, else database in "
        "[tool.aura], else var/aura.db under the project root)",
    )
    add_modules_argument(letters, "retry: ")
    letters.add_argument(
        "--max-attempts",
        type=int,
        help="retry: only letters with fewer attempts, the first included (default: every letter)",
    )
    letters.add_argument("--backoff", type=float, help="retry: first wait, seconds (0)")
    letters.add_argument(
        "--id", dest="ids", metavar="ID", action="append", help="purge: this dead letter"
    )
    letters.add_argument("--older-than-days", type=float, help="purge: those older than this")
    letters.add_argument("--all", action="store_true", help="purge: every dead letter")
    letters.set_defaults(run=_dead_letters)


def _add_architecture_commands(commands: Any, err: TextIO) -> None:
    # import-linter is loaded only when `aura check` runs, so other commands work without it.
    from aura.architecture.commands import (
        add_check_arguments,
        add_docs_arguments,
        add_modules_arguments,
        run_check,
        run_docs,
        run_modules,
    )

    modules = commands.add_parser(
        "modules", help="print the module map (read from pyproject.toml and the source)"
    )
    add_modules_arguments(modules)
    modules.set_defaults(run=functools.partial(run_modules, err=err))
    check = commands.add_parser(
        "check", help="check the module boundaries and import contracts, verify the platform"
    )
    add_check_arguments(check)
    check.set_defaults(run=functools.partial(run_check, err=err))
    docs = commands.add_parser("docs", help="generate the architecture docs, or --check them")
    add_docs_arguments(docs)
    docs.set_defaults(run=run_docs)


def _add_web_command(name: str, command: argparse.ArgumentParser, stream: TextIO) -> bool:
    """Give ``aura serve`` or ``aura token`` its options; ``False`` when the extra is missing."""
    run: Callable[[argparse.Namespace, TextIO], int]
    try:
        if name == "serve":
            from aura.web import add_serve_arguments as add_arguments
            from aura.web import run_serve

            run = functools.partial(run_serve, open_postgres=_open_postgres)
        else:
            from aura.web.commands import add_token_arguments as add_arguments
            from aura.web.commands import run_token

            run = run_token
    except ImportError as missing:  # aura.web's MissingExtraError, or a module of the extra
        if missing.name not in WEB_EXTRA_MODULES:
            raise
        print(f"aura {name} needs the web extra: pip install 'aura-modulith[web]'.", file=stream)
        return False
    add_arguments(command)
    command.set_defaults(run=run)
    return True


def _open_postgres(url: str) -> SqlDatabase:
    """Open the PostgreSQL database ``aura serve`` was pointed at (the ``postgres`` extra).

    Opened here, in the command, because the gateway and :mod:`aura.postgres` know nothing of
    each other (the layers of ``.importlinter``); without psycopg this raises the
    :class:`~aura.exceptions.MissingExtraError` that names the extra to install.
    """
    from aura.postgres import PostgresDatabase

    return PostgresDatabase(url)


def main(
    argv: Sequence[str] | None = None, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """Run the ``aura`` command line; return the exit status.

    ``out`` and ``err`` stand for the standard output and error (tests pass their own).
    """
    stream = out if out is not None else sys.stdout
    try:
        status = _main(argv, stream, err if err is not None else sys.stderr)
        stream.flush()
    except BrokenPipeError:
        # The reader went away (`aura check | head -1`): write nothing more, not even at exit.
        _discard(stream)
        return 1
    return status


def _discard(stream: TextIO) -> None:
    """Send what is left to write on ``stream`` (a closed pipe) to the null device, so that
    Python's flush at exit does not fail again (the recipe of Python's signal docs)."""
    try:
        descriptor = stream.fileno()
    except (AttributeError, OSError, ValueError):  # a stream without a file: nothing to flush
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, descriptor)
    os.close(null)


def _main(argv: Sequence[str] | None, stream: TextIO, err: TextIO) -> int:
    parser = argparse.ArgumentParser(prog="aura", description="Aura modular-monolith toolkit.")
    parser.add_argument("--version", action="version", version=f"aura {aura.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo", help="run the project's demo (demo in [tool.aura]), else the built-in one"
    )
    demo.add_argument(
        "--builtin", action="store_true", help="run the built-in two-subscriber bus demo instead"
    )
    serve = commands.add_parser("serve", help="serve the platform over HTTP (needs the web extra)")
    token = commands.add_parser(
        "token", help="issue gateway tokens, rotate their keys (needs the web extra)"
    )
    chosen = list(sys.argv[1:] if argv is None else argv)[:1]
    # FastAPI and PyJWT are imported only for the web commands, so the others stay fast and
    # need no extra.
    for name, command in (("serve", serve), ("token", token)):
        if chosen == [name] and not _add_web_command(name, command, stream):
            return 2
    _add_dead_letter_commands(commands)
    _add_architecture_commands(commands, err)
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            project = None if args.builtin else _project_demo(load_config())
            return project(stream) if project is not None else run_demo(stream)
        run: Callable[[argparse.Namespace, TextIO], int] | None = getattr(args, "run", None)
        if run is not None:
            return run(args, stream)
    except (ConfigurationError, DatabaseBusyError, MissingExtraError) as error:
        print(f"aura {args.command}: error: {error}", file=stream)
        return 2
    parser.print_help(stream)
    return 2

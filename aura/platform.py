"""The composition root: one place that builds the runtime and applies the modules to it.

``Platform(modules=[...], database=...)`` builds a container, a service registry, an event bus and
the database; checks the modules' declared dependencies; applies each module (providers,
services, the seed's ``register_services``, published events, subscriptions) in dependency
order; and validates the container graph. ``start()`` runs the modules' start hooks (creating
their tables) and, on a durable platform, resubmits publications a crash left unfinished;
``close()`` disposes everything and closes the database. Like Cosmic Python's ``bootstrap()``,
it takes its adapters as arguments: the event store, the delivery journal (publication
registry) and the dead-letter store, with the SQLite ones as defaults of ``durable=True``,
and the bus's policies (``max_chain_depth``, ``max_event_size``, ``handler_timeout``). Its
traffic is logged (:mod:`aura.logs`, ``log_traffic=False`` to leave it out), and
:meth:`Platform.add_interceptor` surrounds it with hooks such as OpenTelemetry's
(:mod:`aura.telemetry`).

Events published inside ``platform.transaction()`` (or any transaction of the platform's database)
are delivered only after it commits, and not at all if it rolls back. With ``durable=True`` the
event store, the publication registry (transactional outbox) and the dead letters live in the same
SQLite file as the modules' tables.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import logging
import pkgutil
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any

from aura import context as _context
from aura import delivery as _delivery
from aura import injection, verification
from aura.bus import EventBus, check_limits
from aura.container import Container
from aura.database import Database, SqlDatabase
from aura.dead_letters import DeadLetterStore
from aura.defaults import use_defaults
from aura.delivery import DeliveryJournal, ResubmitReport
from aura.events import EventCatalog
from aura.exceptions import ConfigurationError, ModuleDefinitionError
from aura.hooks import Interceptor
from aura.logs import TrafficLog
from aura.module import Module
from aura.publications import (
    CompletionMode,
    DurableJournal,
    Worker,
    check_lease,
    check_workers,
    is_poll_interval,
)
from aura.registry import ServiceCall, ServiceRegistry
from aura.sql import database_url, is_postgres_url, mask_password_any
from aura.store import EventStore, SqliteEventStore
from aura.verification import ModuleDeclarations, VerificationResult

__all__ = ["Platform"]

logger = logging.getLogger("aura.platform")

ModuleSource = Module | ModuleType | str


class Platform:
    """A running modular monolith: its modules applied to one registry, bus, container and DB."""

    def __init__(
        self,
        modules: Iterable[ModuleSource],
        *,
        database: str | Path | SqlDatabase = ":memory:",
        catalog: EventCatalog | None = None,
        max_chain_depth: int = 64,
        durable: bool = False,
        completed_publications: CompletionMode = "keep",
        lease: float = 30.0,
        poll_interval: float | None = 1.0,
        workers: int | None = None,
        event_store: EventStore | None = None,
        journal: DeliveryJournal | None = None,
        dead_letters: DeadLetterStore | None = None,
        max_event_size: int | None = 1_048_576,
        handler_timeout: float | None = None,
        log_traffic: bool = True,
        boundaries: ModuleDeclarations | None = None,
    ) -> None:
        _check_arguments(
            modules,
            database=database,
            durable=durable,
            log_traffic=log_traffic,
            completed_publications=completed_publications,
            lease=lease,
            parts={"event_store": event_store, "journal": journal, "dead_letters": dead_letters},
            limits=(max_chain_depth, max_event_size, handler_timeout, catalog),
            workers=workers,
            boundaries=boundaries,
        )
        if poll_interval is not None and not is_poll_interval(poll_interval):
            raise ConfigurationError(
                f"poll_interval must be a number of seconds above 0 and below a day, or None "
                f"(no delivery worker), got {poll_interval!r}. Pass e.g. poll_interval=1.0; "
                "nothing was opened."
            )
        self.boundaries = boundaries
        """The project's module map (``[tool.aura.boundaries]``), when given: :meth:`verify`
        then checks against its declared dependencies too (see :mod:`aura.verification`)."""
        loaded = [_load(source) for source in modules]
        self.modules: dict[str, Module] = _in_dependency_order([module for module, _ in loaded])
        self._seed_registrations = {
            module.name: register for module, register in loaded if register is not None
        }
        # A path is an SQLite file (sqlite:///path too); a database object
        # (aura.postgres.PostgresDatabase) is used as given; a URL of another kind is refused.
        self.database: SqlDatabase = _open(database)
        try:
            self.container = Container()
            # A timed call inside a transaction runs inline: a worker thread would wait on the
            # database lock the caller holds until the timeout, then write after the rollback.
            self.registry = ServiceRegistry(
                container=self.container, inline_when=lambda: self.database.in_transaction
            )
            self.durable = durable
            # Every store is an argument; durable=True fills the ones not given with the
            # implementations on the platform's database: the dead letters are then the
            # journal's failed publications (a failure and its dead letter are one write).
            if durable:
                if event_store is None:
                    event_store = SqliteEventStore(self.database)
                if journal is None and isinstance(event_store, SqliteEventStore):
                    journal = DurableJournal(
                        self.database,
                        event_store,
                        completed=completed_publications,
                        lease=lease,
                        inline=workers is None,
                    )
                if dead_letters is None and isinstance(journal, DurableJournal):
                    dead_letters = journal.dead_letters
                if isinstance(journal, DurableJournal):
                    journal.letters_elsewhere = dead_letters is not journal.dead_letters
            self._delivers = workers != 0  # workers=0: this process publishes, others deliver
            self._worker: Worker | None = None
            # Without a poll interval or workers, no thread delivers (the caller does), but the
            # leases of what this process delivers are renewed all the same.
            self._polls = poll_interval is not None or workers is not None
            if isinstance(journal, DurableJournal):
                self._worker = Worker(
                    journal,
                    self._deliver_due,
                    poll=poll_interval if poll_interval is not None else 1.0,
                    deliver_next=None if workers is None else self._deliver_next,
                    threads=1 if workers is None else workers,
                )
            self.event_store: EventStore | None = event_store
            self.journal: DeliveryJournal | None = journal
            self.bus = EventBus(
                catalog=catalog,
                max_chain_depth=max_chain_depth,
                journal=journal,
                dead_letters=dead_letters,
                transactions=self.database,
                max_event_size=max_event_size,
                handler_timeout=handler_timeout,
            )
            if self.event_store is not None:
                self.event_store.bus = self.bus
            if log_traffic:  # one record per event, delivery and call: see aura.logs
                traffic = TrafficLog()
                self.bus.add_observer(traffic)
                self.registry.add_observer(traffic)
            self._register_runtime()
            declarations = self._declarations()
            blueprint = _blueprints.get(declarations)
            handlers = self._apply_modules(blueprint)
            if blueprint is None:
                self.container.validate()
                if declarations is not None:
                    blueprint = _Blueprint(declarations, handlers)
                    _blueprints.keep(blueprint)
            self._blueprint: _Blueprint | None = blueprint
        except BaseException:
            self.database.close()
            raise
        self._started = False
        self._closed = False

    def __repr__(self) -> str:
        return f"Platform(modules={list(self.modules)!r}, database={self.database.path!r})"

    # --- discovery ------------------------------------------------------------------------------

    @staticmethod
    def discover(package: str) -> list[ModuleType]:
        """Import and return every module package under ``package`` that declares a module.

        A package declares a module with a ``module`` attribute (a :class:`Module`), a
        ``register_services(service_registry)`` function (the seed's convention), or both.
        Only what may declare one is imported: a file whose source binds neither name at its
        top level (an application's ``main.py`` that builds an engine and creates tables at
        import) is read, not run.
        """
        root = importlib.import_module(package)
        chosen: dict[tuple[int, int], tuple[bool, ModuleType]] = {}
        for info in sorted(pkgutil.iter_modules(getattr(root, "__path__", [])), key=_info_name):
            if not _may_declare(info):
                continue
            candidate = importlib.import_module(f"{package}.{info.name}")
            declared = getattr(candidate, "module", None)
            register = getattr(candidate, "register_services", None)
            if not isinstance(declared, Module):
                declared = None
            if not callable(register):
                register = None
            if declared is None and register is None:
                continue
            # A file that imports another's declaration (``from .orders import module``)
            # re-exports it: the module joins once, from a package holding it if one does.
            identity = (id(declared), id(register))
            if identity not in chosen or (info.ispkg and not chosen[identity][0]):
                chosen[identity] = (info.ispkg, candidate)
        return sorted((candidate for _, candidate in chosen.values()), key=_module_name)

    # --- life cycle -----------------------------------------------------------------------------

    def start(self) -> Platform:
        """Run each module's start hooks in dependency order, then (durable) deliver what a
        crash left unfinished — here, or with ``workers=N`` in the delivery threads, so that
        start() does not wait for it; a second call does nothing."""
        if self._closed:
            raise ModuleDefinitionError(
                "This platform is closed; it cannot start again. Build a new Platform."
            )
        if not self._started:
            index = 0
            for module in self.modules.values():
                for hook in module.start_hooks:
                    call = injection.bind(self._hook_plan(index, hook, module), self.container)
                    with _context.module_scope(module.name):
                        call()
                    index += 1
            self._started = True
            worker = self._worker
            if worker is not None:
                worker.start_renewing()  # before the backlog below: its leases are renewed
            if self.journal is not None and self._delivers:
                # With workers=N the delivery threads take the backlog: start() does not wait
                # for it, and only says what none here can take. Otherwise this process
                # delivers what it publishes, and so, here, what was left due.
                try:
                    if worker is not None and worker.claims:
                        unroutable, needs_async = _delivery.stranded(self.bus, False)
                        report = ResubmitReport(0, 0, tuple(unroutable), tuple(needs_async))
                    else:
                        report = self.bus.resubmit_incomplete()
                except Exception:  # a locked or unreachable database: the worker tries again
                    logger.warning(
                        "Could not deliver what was due at start; the delivery worker retries",
                        exc_info=True,
                    )
                    report = ResubmitReport(0, 0, ())
                for held, why in (
                    (report.unroutable, "were not resubmitted: their subscriber is gone"),
                    (
                        report.needs_async,
                        "to async handlers wait for 'await platform.bus.aresubmit_incomplete()'",
                    ),
                ):
                    if held:
                        logger.warning(
                            "%d unfinished publication(s) %s: %s",
                            len(held),
                            why,
                            ", ".join(f"{m}:{h} ({e})" for e, m, h in held),
                        )
            if worker is not None and self._polls:
                worker.start()
        return self

    def _deliver_next(self) -> bool:
        """One step of a delivery worker (worker mode): claim and deliver one publication."""
        return not self._closed and self.bus.deliver_next()

    def _deliver_due(self) -> None:
        """One pass of the delivery worker: what is due (expired leases, retries) delivered."""
        if not self._closed and self._delivers:
            self.bus.resubmit_incomplete()

    def add_interceptor(self, interceptor: Interceptor) -> Callable[[], None]:
        """Surround the platform's publishes, deliveries and cross-module calls with
        ``interceptor`` (see :mod:`aura.hooks`); return a function that detaches it."""
        from_bus = self.bus.add_interceptor(interceptor)
        from_registry = self.registry.add_interceptor(interceptor)

        def remove() -> None:
            from_bus()
            from_registry()

        return remove

    def transaction(self) -> AbstractContextManager[SqlDatabase]:
        """Commit the modules' writes and the events published inside together.

        Delivery starts after the commit; a rollback discards the events, so nothing is
        delivered.
        """
        return self.database.transaction()

    def close(self) -> None:
        """Dispose the container's services, stop worker threads and close the database."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._worker is not None:
                self._worker.stop()
            if isinstance(self.journal, DurableJournal) and self.journal.database is self.database:
                try:  # what this process owns and has not delivered is due to anyone at once
                    self.journal.release()
                except Exception:
                    logger.exception("Could not hand back this platform's publications")
            self.container.close()
        finally:
            self.registry.close()
            self.database.close()

    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran."""
        return self._started

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran."""
        return self._closed

    # Not the container's _ClosesOnExit: entering a platform starts it.
    def __enter__(self) -> Platform:
        """Start the platform for a block; it closes at the end, even when the block raises."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def verify(self, *, calls: Iterable[ServiceCall] | None = None) -> VerificationResult:
        """Check this platform against its modules' declarations (see :mod:`aura.verification`),
        and against the module map given as ``boundaries``.

        Returns the result as data: ``result.ok``, ``result.problems``, ``result.render()``.
        """
        return verification.verify(self, calls=calls, boundaries=self.boundaries)

    def as_default(self) -> AbstractContextManager[None]:
        """Point ``aura.event_bus``, ``aura.service_registry`` and ``get_container()`` here."""
        return use_defaults(bus=self.bus, registry=self.registry, container=self.container)

    def _hook_plan(
        self, index: int, hook: Callable[..., Any], module: Module
    ) -> injection.Injection:
        """How start hook number ``index`` is injected: planned now, as each hook is just
        before it runs (an earlier hook may register keys), or the blueprint's plan of it when
        the container holds the same keys as then: a plan depends only on those."""
        blueprint = self._blueprint
        if blueprint is None:
            return injection.plan(hook, self.container, owner=module.name)
        keys = tuple(self.container.keys())
        known = blueprint.hooks.get(index)
        if known is not None and known[0] == keys:
            return known[1]
        plan = injection.plan(hook, self.container, owner=module.name)
        blueprint.hooks[index] = (keys, plan)
        return plan

    # --- assembly -------------------------------------------------------------------------------

    def _register_runtime(self) -> None:
        container = self.container
        for key, value in (
            (Platform, self),
            (Database, self.database),
            (EventBus, self.bus),
            (ServiceRegistry, self.registry),
            (Container, container),
            ("database", self.database),
            ("event_bus", self.bus),
            ("service_registry", self.registry),
        ):
            container.register_instance(key, value)
        if self.event_store is not None:
            container.register_instance(EventStore, self.event_store)
            container.register_instance("event_store", self.event_store)

    def _declarations(self) -> tuple[object, ...] | None:
        """Everything the container's graph is made from, or None when code decides it.

        The modules' providers, services, handlers (frozen declarations) and start hooks, in
        order, whether an event store is registered, and the kinds of database and event store
        (a parameter named ``database`` but typed another kind is planned to refuse: see
        :func:`aura.injection.key_for`). A seed-style ``register_services`` function may
        register anything: a platform with one is never built from a blueprint.
        """
        if self._seed_registrations:
            return None
        declarations: list[object] = [
            self.event_store is not None,
            type(self.database),
            type(self.event_store),
        ]
        for module in self.modules.values():
            declarations += (module, *module.providers, *module.services, *module.handlers)
            declarations += module.start_hooks
        return tuple(declarations)

    def _apply_modules(self, blueprint: _Blueprint | None) -> tuple[injection.Injection, ...]:
        for module in self.modules.values():
            for provider in module.providers:
                self.container.register(provider.key, provider.provider, lifetime=provider.lifetime)  # type: ignore[arg-type]
            for service in module.services:
                self.registry.register_service(
                    module.name,
                    service.name,
                    service.provider,
                    contract=service.contract,
                    policy=service.policy(),
                )
                target = f"{module.name}.{service.name}"
                self._alias(module, service.key, target)
                for alias in service.aliases:
                    self._alias(
                        module,
                        alias,
                        target,
                        fix=f"Remove it from the aliases of service {service.name!r}.",
                    )
                implementation = service.provider
                if inspect.isclass(implementation) and not self.container.is_registered(
                    implementation
                ):
                    self._alias(module, implementation, target)  # handlers may ask for it by type
            seed_register = self._seed_registrations.get(module.name)
            if seed_register is not None:
                with _context.module_scope(module.name):
                    seed_register(self.registry)
            else:
                self.bus.declare_publisher(module.name, tuple(module.published))
        # Handlers last: their parameters may name services of any module. How each is
        # injected depends only on the declarations (the blueprint's key), so it is read once.
        handlers = [
            (module, declaration)
            for module in self.modules.values()
            for declaration in module.handlers
        ]
        plans = (
            blueprint.handlers
            if blueprint is not None
            else tuple(
                injection.plan(declaration.handler, self.container, passed=1, owner=module.name)
                for module, declaration in handlers
            )
        )
        for (module, declaration), plan in zip(handlers, plans, strict=True):
            self.bus.subscribe(
                declaration.event_type,
                injection.bind(plan, self.container),
                module.name,
                idempotent=declaration.idempotent,
                name=declaration.name,
                retry=declaration.retry,
            )
        return plans

    def _alias(
        self,
        module: Module,
        alias: str | type[Any],
        key: str,
        *,
        fix: str = "Pass key='...' to module.service() to choose another.",
    ) -> None:
        if self.container.is_registered(alias):
            raise ModuleDefinitionError(
                f"Module {module.name!r} offers a service under the container name {alias!r}, "
                f"which is already taken. {fix}"
            )
        self.container.register_alias(alias, key)


# --- blueprints ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Blueprint:
    """What building one set of declarations decided, for the next platform built from them.

    Every test builds a platform from the same module declarations. The container's graph is
    made from those declarations alone, so once one platform of them validated, every later
    one would too: it skips ``validate()`` and reuses how each handler is injected (and each
    start hook, while the container holds the same keys). It holds the declarations
    themselves, so the ids in its key stay theirs while it is kept.
    """

    declarations: tuple[object, ...]
    handlers: tuple[injection.Injection, ...]
    hooks: dict[int, tuple[tuple[object, ...], injection.Injection]] = field(default_factory=dict)
    """Start hook number -> (the container's keys when it was planned, its plan)."""


class _Blueprints:
    """The blueprints of this process, by the identity of their declarations; thread-safe.

    Bounded (oldest dropped first): a test suite that declares modules inside its tests (as
    pytester projects do) must not keep them all alive.
    """

    def __init__(self, limit: int = 32) -> None:
        self._limit = limit
        self._entries: dict[tuple[int, ...], _Blueprint] = {}
        self._lock = threading.Lock()

    def get(self, declarations: tuple[object, ...] | None) -> _Blueprint | None:
        """The blueprint of exactly these declaration objects, if one was kept."""
        if declarations is None:
            return None
        # Two live objects never share an id, and a kept blueprint keeps its declarations
        # alive: the same ids are the same objects.
        return self._entries.get(tuple(map(id, declarations)))

    def keep(self, blueprint: _Blueprint) -> None:
        """Keep ``blueprint`` (a platform of its declarations validated)."""
        with self._lock:
            self._entries[tuple(map(id, blueprint.declarations))] = blueprint
            while len(self._entries) > self._limit:
                del self._entries[next(iter(self._entries))]


_blueprints = _Blueprints()


# --- loading and ordering -----------------------------------------------------------------------


_DECLARING_NAMES = frozenset({"module", "register_services"})


def _may_declare(info: pkgutil.ModuleInfo) -> bool:
    """Whether the module ``info`` names may declare an Aura module: its source (a package's
    ``__init__.py``) binds ``module`` or ``register_services`` at its top level, by an
    assignment, a definition or an import. Source that cannot be read or parsed is imported,
    so that its own error is the one reported."""
    finder = info.module_finder
    root = getattr(finder, "path", None)
    if not isinstance(root, str):
        return True  # a zip or a custom finder: no file to read
    base = Path(root) / info.name
    path = base / "__init__.py" if info.ispkg else base.with_suffix(".py")
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return True
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names = {node.name}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = {(alias.asname or alias.name).partition(".")[0] for alias in node.names}
            if any(alias.name == "*" for alias in node.names):
                return True
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        else:
            continue  # an if/try/with: _binds_conditionally looks inside
        if names & _DECLARING_NAMES:
            return True
    return _binds_conditionally(tree)


def _binds_conditionally(tree: ast.Module) -> bool:
    """Whether a top-level ``if``/``try``/``with`` may bind a declaring name (imported, then)."""
    for node in tree.body:
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for inner in ast.walk(node):
                name = getattr(inner, "name", None) or getattr(inner, "id", None)
                if name in _DECLARING_NAMES:
                    return True
                if isinstance(inner, ast.alias) and (inner.asname or inner.name) in (
                    _DECLARING_NAMES
                ):
                    return True
    return False


def _info_name(info: pkgutil.ModuleInfo) -> str:
    return info.name


def _module_name(module: ModuleType) -> str:
    return module.__name__


def _load(source: object) -> tuple[Module, Callable[[ServiceRegistry], None] | None]:
    if isinstance(source, Module):
        return source, None
    if isinstance(source, str):
        try:
            source = importlib.import_module(source)
        except ImportError as exc:
            raise ModuleDefinitionError(
                f"Cannot import the module package {source!r}: {exc}. Pass an importable "
                "package name, a package, or a Module."
            ) from exc
    if isinstance(source, ModuleType):
        declared = getattr(source, "module", None)
        register = getattr(source, "register_services", None)
        register = register if callable(register) else None
        if isinstance(declared, Module):
            return declared, register
        if register is not None:
            synthesized = Module(source.__name__.rsplit(".", 1)[-1])
            synthesized.synthesized = True
            return synthesized, register
        raise ModuleDefinitionError(
            f"{source.__name__} declares no module: give it a 'module = Module(...)' attribute "
            "or a register_services(service_registry) function."
        )
    raise ModuleDefinitionError(
        f"A platform module must be a Module, a package or a package name, got "
        f"{type(source).__name__} ({source!r})."
    )


def _in_dependency_order(modules: Sequence[Module]) -> dict[str, Module]:
    by_name: dict[str, Module] = {}
    for module in modules:
        if module.name in by_name:
            raise ModuleDefinitionError(
                f"Module {module.name!r} is given twice. Each module joins a platform once."
            )
        by_name[module.name] = module
    for module in modules:
        for dependency in module.depends_on:
            if dependency not in by_name:
                raise ModuleDefinitionError(
                    f"Module {module.name!r} depends on {dependency!r}, which is not part of "
                    f"this platform (modules: {', '.join(by_name)}). Add {dependency!r} to the "
                    "platform, or bootstrap the module with stand-ins for its dependencies."
                )
    ordered: dict[str, Module] = {}
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            cycle = [*visiting[visiting.index(name) :], name]
            raise ModuleDefinitionError(
                f"Modules depend on each other in a cycle: {' -> '.join(cycle)}. Break it: let "
                "one of them react to the other's events instead of calling it."
            )
        visiting.append(name)
        for dependency in by_name[name].depends_on:
            visit(dependency)
        visiting.pop()
        ordered[name] = by_name[name]

    for module in modules:
        visit(module.name)
    return ordered


# What each store argument must have, by the method names the platform and bus call on it.
_PARTS = {
    "database": ("execute", "query", "transaction", "executescript", "close"),
    "event_store": ("append", "read"),
    "journal": ("accepted", "delivering", "due"),
    "dead_letters": ("add", "replace", "remove", "list"),
}


def _check_arguments(
    modules: object,
    *,
    database: object,
    durable: object,
    log_traffic: object,
    completed_publications: object,
    lease: object,
    parts: dict[str, object],
    limits: tuple[object, object, object, object],
    workers: object,
    boundaries: object,
) -> None:
    """Refuse a wrong argument of :class:`Platform` before anything is opened, naming it (a
    wrong type would otherwise fail later, as an AttributeError from deep inside)."""
    if modules is None or isinstance(modules, str | bytes) or not hasattr(modules, "__iter__"):
        raise ConfigurationError(
            f"Platform() takes a list of modules (Module objects, or packages that declare "
            f"one), got {type(modules).__name__} {modules!r}. Pass e.g. Platform([users.module]) "
            "or Platform(Platform.discover('modules')); nothing was opened."
        )
    for name, value in (("durable", durable), ("log_traffic", log_traffic)):
        if not isinstance(value, bool):
            raise ConfigurationError(
                f"Platform({name}=...) takes True or False, got {value!r}; nothing was opened."
            )
    if completed_publications not in ("keep", "delete", "archive"):
        raise ConfigurationError(
            "Platform(completed_publications=...) is 'keep', 'delete' or 'archive', got "
            f"{completed_publications!r}; nothing was opened."
        )
    check_lease(lease, name="Platform(lease=...)")
    check_limits(*limits)
    if workers is not None:
        count = check_workers(workers)
        if not durable and parts["journal"] is None:
            raise ConfigurationError(
                f"workers={workers!r} needs durable=True: delivery workers claim the "
                "publications a durable platform records. Pass Platform(..., durable=True, "
                "workers=...), or leave workers out to deliver in the publishing call."
            )
        pool_size = getattr(database, "pool_size", None)
        if isinstance(pool_size, int) and count > pool_size - 2:
            raise ConfigurationError(
                f"workers={count} needs a pool of at least {count + 2} connections, and "
                f"the database has pool_size={pool_size}: each running delivery holds one, "
                "and lease renewal and publishing need theirs. Pass "
                f"PostgresDatabase(dsn, pool_size={count + 2}) or fewer workers."
            )
    if boundaries is not None and not isinstance(getattr(boundaries, "modules", None), Sequence):
        raise ConfigurationError(
            f"Platform(boundaries=...) takes the project's module map (aura.architecture."
            f"modulemap.ModuleMap, read from [tool.aura.boundaries]), got "
            f"{type(boundaries).__name__} {boundaries!r}; nothing was opened."
        )
    given = {"database": database, **parts}
    for name, value in given.items():
        if value is None or (name == "database" and isinstance(value, str | Path)):
            continue
        missing = [method for method in _PARTS[name] if not callable(getattr(value, method, None))]
        if missing:
            raise ConfigurationError(
                f"Platform({name}=...) got {type(value).__name__} {value!r}, which has no "
                f"{', '.join(missing)}: it is not {_WHAT[name]}. Pass one of Aura's (see "
                f"aura.{_HOME[name]}) or an object with those methods, or leave it out; nothing "
                "was opened."
            )


_WHAT = {
    "database": "a database",
    "event_store": "an event store",
    "journal": "a delivery journal",
    "dead_letters": "a dead-letter store",
}
_HOME = {
    "database": "database.SqlDatabase",
    "event_store": "store.EventStore",
    "journal": "delivery.DeliveryJournal",
    "dead_letters": "dead_letters.DeadLetterStore",
}


def _open(database: str | Path | SqlDatabase) -> SqlDatabase:
    """The platform's database from what ``database=`` was given."""
    if isinstance(database, Path):
        return Database(database)
    if not isinstance(database, str):
        return database
    url = database_url(database, "database=")
    if url is None or not is_postgres_url(url):
        return Database(database if url is None else url)
    raise ConfigurationError(
        f"database={mask_password_any(url)!r} is a PostgreSQL URL; a string is an SQLite file's "
        "path. Pass the database itself: database=PostgresDatabase(url), with `from "
        "aura.postgres import PostgresDatabase` (the postgres extra: pip install "
        "'aura-modulith[postgres]'). Nothing was opened."
    )

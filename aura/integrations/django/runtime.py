"""The project's platform: its modules declared by the apps, built on first use.

Each installed app whose package declares ``module = Module(...)`` (in its ``__init__.py``) is
that module. An ``AppConfig`` says otherwise with ``aura_module``: a package name, for several
apps making one module (``aura_module = "clinic.billing"`` on the apps ``clinic.billing.invoices``
and ``clinic.billing.payments``), or ``None`` for an app that is no module although its package
declares one. ``AuraConfig.ready()`` (the app ``aura.integrations.django``) reads them all and
checks them: a misdeclared module stops Django's start-up, not a request.

The platform is built, and started, by the first :func:`platform` call (a request, a
management command, a worker), not in ``ready()``: Django's ``ready()`` must not use the
database, and under pytest-django the test database does not exist yet when it runs. Settings,
all optional::

    AURA = {
        "DATABASE": "default",         # the alias of the connection whose transactions events join
        "DURABLE": True,               # the outbox: events committed with the writes they announce
        "REQUIRE_TRANSACTION": False,  # True: a publish outside transaction.atomic() is refused
        "WORKERS": None,               # None: deliver after each commit, in the publishing process;
                                       # 0: only record (``manage.py aura worker`` delivers)
        "OPTIONS": {},                 # more Platform(...) arguments (poll_interval, lease...)
    }
"""

from __future__ import annotations

import atexit
import importlib
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from aura.exceptions import ConfigurationError, ModuleDefinitionError
from aura.integrations.django.database import DjangoDatabase
from aura.integrations.services import ModuleServices
from aura.module import Module
from aura.naming import did_you_mean
from aura.platform import Platform

__all__ = [
    "Declaration",
    "build_platform",
    "declaration",
    "module_of",
    "module_services",
    "platform",
    "settings_of",
    "use_platform",
]

_UNSET = object()
_SETTINGS: dict[str, tuple[type | tuple[type, ...], Any]] = {
    "DATABASE": (str, "default"),
    "DURABLE": (bool, True),
    "REQUIRE_TRANSACTION": (bool, False),
    "WORKERS": ((int, type(None)), None),
    "OPTIONS": (dict, {}),
}
_PLATFORM_OWN = ("modules", "database", "durable", "workers")
_SCALAR_OPTIONS = frozenset(
    {
        "completed_publications",
        "handler_timeout",
        "lease",
        "max_chain_depth",
        "max_event_size",
        "poll_interval",
    }
)
"""The OPTIONS that are plain values, checked when Django starts (the others are objects)."""


@dataclass(frozen=True)
class Declaration:
    """The modules the installed apps declare, and which app belongs to which."""

    modules: tuple[Module, ...]
    apps: Mapping[str, str] = field(default_factory=dict)
    """App label -> the name of the module it belongs to."""
    packages: Mapping[str, str] = field(default_factory=dict)
    """App package (``AppConfig.name``) -> the name of its module."""

    def module_names(self) -> list[str]:
        """The modules' names, in declaration order."""
        return [module.name for module in self.modules]


def collect(app_configs: Iterable[Any]) -> Declaration:
    """The modules ``app_configs`` declare (see this module's docstring); raises
    :class:`~aura.exceptions.ModuleDefinitionError` naming the app and the fix."""
    modules: dict[str, Module] = {}
    owner: dict[str, str] = {}  # module name -> the first app declaring it
    apps: dict[str, str] = {}
    packages: dict[str, str] = {}
    excluded: dict[str, str] = {}  # module name -> the app that declares it but is no module
    for app in app_configs:
        found = _module_of_app(app)
        if found is None:
            declared = getattr(app.module, "module", None)
            if isinstance(declared, Module):
                excluded.setdefault(declared.name, app.label)
            continue
        known = modules.get(found.name)
        if known is not None and known is not found:
            raise ModuleDefinitionError(
                f"Apps {owner[found.name]!r} and {app.label!r} declare two different modules "
                f"named {found.name!r}. Give one of them another name, or point both apps at "
                f"one module package with aura_module = '...' on their AppConfigs."
            )
        if known is None:
            modules[found.name] = found
            owner[found.name] = app.label
        apps[app.label] = found.name
        packages[app.name] = found.name
    declared = Declaration(tuple(modules.values()), apps, packages)
    for module in declared.modules:
        for dependency in module.depends_on:
            if dependency not in modules and dependency in excluded:
                raise ModuleDefinitionError(
                    f"Module {module.name!r} (app {owner[module.name]!r}) depends on "
                    f"{dependency!r}, which the app {excluded[dependency]!r} declares, but its "
                    "AppConfig sets aura_module = None (the app is no module). Remove "
                    "aura_module = None from it, or fix depends_on."
                )
            if dependency not in modules:
                names = declared.module_names()
                raise ModuleDefinitionError(
                    f"Module {module.name!r} (app {owner[module.name]!r}) depends on "
                    f"{dependency!r}, which no installed app declares (the apps' modules: "
                    f"{', '.join(names)}).{did_you_mean(dependency, names)} Add the app of "
                    f"{dependency!r} to INSTALLED_APPS, or fix depends_on."
                )
    return declared


def _module_of_app(app: Any) -> Module | None:
    chosen = getattr(app, "aura_module", _UNSET)
    if chosen is None:
        return None
    if chosen is _UNSET:
        declared = getattr(app.module, "module", None)
        return declared if isinstance(declared, Module) else None
    if isinstance(chosen, Module):
        return chosen
    if not isinstance(chosen, str):
        raise ModuleDefinitionError(
            f"{type(app).__name__}.aura_module of app {app.label!r} must be a package name "
            f"(a str), a Module or None, got {type(chosen).__name__} ({chosen!r})."
        )
    try:
        package: ModuleType = importlib.import_module(chosen)
    except ImportError as error:
        raise ModuleDefinitionError(
            f"{type(app).__name__}.aura_module of app {app.label!r} is {chosen!r}, which cannot "
            f"be imported: {error}. Name the package whose __init__.py declares "
            "module = Module(...)."
        ) from None
    declared = getattr(package, "module", None)
    if not isinstance(declared, Module):
        raise ModuleDefinitionError(
            f"{type(app).__name__}.aura_module of app {app.label!r} is {chosen!r}, which "
            "declares no module: give it a 'module = Module(...)' attribute, or set "
            "aura_module = None if the app is no module."
        )
    return declared


def settings_of(configured: Any) -> dict[str, Any]:
    """The ``AURA`` setting with its defaults, checked: unknown keys and wrong types are
    refused with a :class:`~aura.exceptions.ConfigurationError` naming the fix."""
    given = getattr(configured, "AURA", {})
    if not isinstance(given, Mapping):
        raise ConfigurationError(
            f"settings.AURA must be a dict, got {type(given).__name__} ({given!r}). Write "
            'AURA = {"DATABASE": "default"}.'
        )
    chosen: dict[str, Any] = {}
    for key, value in given.items():
        if key not in _SETTINGS:
            raise ConfigurationError(
                f"settings.AURA has an unknown key {key!r} (known: {', '.join(_SETTINGS)})."
                f"{did_you_mean(str(key).upper(), list(_SETTINGS))}"
            )
        kind, _default = _SETTINGS[key]
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            wanted = "an int or None" if key == "WORKERS" else f"a {kind.__name__}"  # type: ignore[union-attr]
            raise ConfigurationError(
                f'settings.AURA["{key}"] must be {wanted}, got {type(value).__name__} ({value!r}).'
            )
        chosen[key] = value
    for key, (_kind, default) in _SETTINGS.items():
        chosen.setdefault(key, dict(default) if isinstance(default, dict) else default)
    accepted = _platform_options()
    for option in chosen["OPTIONS"]:
        if option not in accepted and option not in _PLATFORM_OWN:
            raise ConfigurationError(
                f'settings.AURA["OPTIONS"] has {option!r}, which Platform does not take '
                f"(it takes {', '.join(sorted(accepted))})."
                f"{did_you_mean(str(option), sorted(accepted))}"
            )
    for own in _PLATFORM_OWN:
        if own in chosen["OPTIONS"]:
            raise ConfigurationError(
                f'settings.AURA["OPTIONS"] cannot set {own!r}: Aura sets it from the apps and '
                'from AURA["DATABASE"], ["DURABLE"] and ["WORKERS"]. Remove it from OPTIONS.'
            )
    _check_combination(chosen, getattr(configured, "DATABASES", None))
    return chosen


def _check_combination(chosen: Mapping[str, Any], databases: Any) -> None:
    """What each ``AURA`` value needs of the others and of ``DATABASES``, checked when Django
    starts (else the first request would fail on it)."""
    alias = chosen["DATABASE"]
    if isinstance(databases, Mapping) and databases and alias not in databases:
        aliases = sorted(str(name) for name in databases)
        raise ConfigurationError(
            f'settings.AURA["DATABASE"] is {alias!r}, which DATABASES does not define (it '
            f"defines {', '.join(aliases) or 'none'}).{did_you_mean(str(alias), aliases)} Name "
            "the alias of the connection whose transactions Aura's events join."
        )
    workers = chosen["WORKERS"]
    if workers is not None and workers < 0:
        raise ConfigurationError(
            f'settings.AURA["WORKERS"] must be None or a whole number of at least 0, got '
            f"{workers}. None delivers after each commit in the publishing process; 0 only "
            "records (manage.py aura worker delivers); N runs N delivery threads."
        )
    scalars = {key: value for key, value in chosen["OPTIONS"].items() if key in _SCALAR_OPTIONS}
    if scalars:  # checked as Platform checks them, on a throwaway one (in memory, never started)
        try:
            Platform([], log_traffic=False, **scalars).close()
        except ConfigurationError as error:
            raise ConfigurationError(f'settings.AURA["OPTIONS"] is refused: {error}') from None
    if chosen["DURABLE"]:
        return
    # A journal of the project's own (in OPTIONS) is what workers deliver when not durable.
    if workers is not None and "journal" not in chosen["OPTIONS"]:
        raise _needs_durable("WORKERS", workers, "workers deliver the outbox's rows")
    if chosen["REQUIRE_TRANSACTION"]:
        raise _needs_durable(
            "REQUIRE_TRANSACTION",
            True,
            "the outbox is what refuses a publish outside transaction.atomic()",
        )


def _needs_durable(key: str, value: object, meaning: str) -> ConfigurationError:
    return ConfigurationError(
        f'settings.AURA["{key}"] is {value!r}, which needs AURA["DURABLE"] = True ({meaning}), '
        f"but DURABLE is False. Set DURABLE to True, or remove {key}."
    )


def _platform_options() -> set[str]:
    """The keyword arguments ``Platform(...)`` takes that OPTIONS may set."""
    import inspect

    parameters = inspect.signature(Platform).parameters.values()
    return {
        parameter.name
        for parameter in parameters
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.name not in _PLATFORM_OWN
    }


class _Runtime:
    """The process's platform, and the ones tests put in its place."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.declared: Declaration | None = None
        self.built: Platform | None = None
        self.replacements: list[Platform] = []


_runtime = _Runtime()


def declare(declared: Declaration) -> None:
    """Record what the apps declare (``AuraConfig.ready()`` does)."""
    _runtime.declared = declared


def declaration() -> Declaration:
    """What the installed apps declare; read at once if ``ready()`` has not run."""
    if _runtime.declared is None:
        from django.apps import apps  # type: ignore[import-untyped]

        apps.check_apps_ready()
        _runtime.declared = collect(apps.get_app_configs())
    return _runtime.declared


def build_platform(**options: Any) -> Platform:
    """A new platform of the apps' modules on Django's database, as ``settings.AURA`` says
    (``options`` override ``AURA["OPTIONS"]``, ``workers`` and ``durable`` included); not
    started. :func:`platform` builds the process's with it; tests and commands build theirs."""
    from django.conf import settings  # type: ignore[import-untyped]

    chosen = settings_of(settings)
    arguments: dict[str, Any] = {
        "durable": chosen["DURABLE"],
        "workers": chosen["WORKERS"],
        **chosen["OPTIONS"],
        **options,
    }
    database = DjangoDatabase(chosen["DATABASE"], require_transaction=chosen["REQUIRE_TRANSACTION"])
    return Platform(list(declaration().modules), database=database, **arguments)


def platform() -> Platform:
    """The project's platform, started: built by the first call (thread-safe), closed when
    the process exits. Inside :func:`use_platform`, the platform given there."""
    if _runtime.replacements:
        return _runtime.replacements[-1]
    built = _runtime.built
    if built is not None and not built.closed:
        return built
    with _runtime.lock:
        if _runtime.built is None or _runtime.built.closed:
            made = _built_apart()
            _runtime.built = made
            atexit.register(made.close)
        return _runtime.built


def _built_apart() -> Platform:
    """Build and start the process's platform on a thread of its own, so on a connection of its
    own: its schema commits there, whatever ``atomic()`` block the first caller is in (a view
    that then fails must not take Aura's tables with it)."""
    outcome: list[Platform | BaseException] = []

    def build() -> None:
        from django.db import connections  # type: ignore[import-untyped]

        try:
            made = build_platform()
            try:
                made.start()
            except BaseException:
                made.close()
                raise
            outcome.append(made)
        except BaseException as error:  # raised again in the caller's thread
            outcome.append(error)
        finally:
            connections.close_all()  # this thread's connections: the platform opens its own

    builder = threading.Thread(target=build, name="aura-platform-build")
    builder.start()
    builder.join()
    [result] = outcome
    if isinstance(result, BaseException):
        raise result
    return result


@contextmanager
def use_platform(replacement: Platform) -> Iterator[Platform]:
    """Make :func:`platform` return ``replacement`` inside the block (the test harness does)."""
    _runtime.replacements.append(replacement)
    try:
        yield replacement
    finally:
        _runtime.replacements.remove(replacement)


def module_of(python_module: str) -> str | None:
    """The name of the Aura module whose app holds the Python module ``python_module``
    (a view's ``__module__``), or ``None``."""
    packages = declaration().packages
    name = python_module
    while name:
        found = packages.get(name)
        if found is not None:
            return found
        name = name.rpartition(".")[0]
    return None


def module_services(module: str) -> ModuleServices:
    """What code acting as ``module`` may use: its dependencies' services, publishing as it."""
    names = declaration().module_names()
    if module not in names:
        raise ModuleDefinitionError(
            f"module_services({module!r}): no installed app declares a module {module!r} (the "
            f"apps' modules: {', '.join(names) or 'none'}).{did_you_mean(module, names)} Fix "
            "the name, or add the module's app to INSTALLED_APPS."
        )
    return ModuleServices(platform(), module)

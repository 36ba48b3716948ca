"""The Aura pytest plugin: an isolated platform per test, recorders, assertions and traces.

Registered through the ``pytest11`` entry point. It loads with nothing but pytest and Aura's core
installed, and does nothing to a test until the test uses one of its fixtures or markers; the
fixtures that need the ``testing`` extra (freezegun, pytest-bdd) say so when it is missing.

Fixtures: ``aura_platform``, ``event_bus``, ``service_registry``, ``container``,
``published_events``, ``service_calls``, ``override``, ``frozen_time``, ``aura_gateway``,
``aura_scenario`` (:mod:`aura.testing.scenario`), ``aura_trace`` and ``aura_bridge``
(:mod:`aura.testing.bridge`).
Markers and options: :data:`MARKERS` and :data:`OPTIONS`, which the reference docs are generated
from. Each option reads, in order: the command line, the ini file, then ``[tool.aura]``
(:mod:`aura.config`) of the project's ``pyproject.toml``.
"""

from __future__ import annotations

import inspect
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from aura.exceptions import (
    WEB_EXTRA_MODULES,
    ConfigurationError,
    MissingExtraError,
    OverrideError,
)
from aura.frozen_time import make_frozen_time_validatable

# A session that never uses the fixtures imports nothing more of Aura than the two modules
# above and aura.config (read at start-up for aura_bdd): the platform, the bus, the recorders,
# pydantic and sqlite are imported by the fixtures and hooks that need them, when they first do.
if TYPE_CHECKING:
    from types import ModuleType

    from aura.architecture.modulemap import ModuleMap
    from aura.bus import EventBus
    from aura.config import ProjectConfig
    from aura.container import Container, Override
    from aura.platform import Platform
    from aura.registry import ServiceRegistry
    from aura.testing.bridge import Bridge
    from aura.testing.recorders import PublishedEvents, ServiceCalls, Trace
    from aura.testing.scenario import Scenario

__all__ = [
    "MARKERS",
    "OPTIONS",
    "FrozenClock",
    "Overrides",
    "PlatformMarker",
    "PluginOption",
    "platform_marker",
    "select_modules",
]

MODES = ("standalone", "direct", "all")
TESTING_EXTRA = "pip install 'aura-modulith[testing]'"
_trace_key = pytest.StashKey["Trace"]()
_override_key = pytest.StashKey[dict[str, bool]]()
_discovered_key = pytest.StashKey[dict[str, list[Any]]]()
_project_key = pytest.StashKey["ProjectConfig"]()


@dataclass(frozen=True)
class PluginOption:
    """One setting of the plugin: its flag, its ini name and its key in ``[tool.aura]``."""

    flag: str | None
    ini: str
    table_key: str
    help: str
    choices: tuple[str, ...] = ()
    kind: str = "string"


OPTIONS = (
    PluginOption(
        "--aura-modules",
        "aura_modules",
        "modules",
        "the package whose subpackages are the modules of each test's platform",
    ),
    PluginOption(
        "--aura-database",
        "aura_database",
        "testing.database",
        "each test's platform database: 'memory' (default) or 'file' (a temporary SQLite file)",
        choices=("memory", "file"),
    ),
    PluginOption(
        "--aura-trace-dir",
        "aura_trace_dir",
        "testing.trace_dir",
        "write each test's trace there, as JSON and as a Mermaid sequence diagram",
    ),
    PluginOption(
        None,
        "aura_bdd",
        "testing.bdd",
        "load Aura's pytest-bdd step library (aura.testing.bdd); needs the testing extra",
        kind="bool",
    ),
)
"""The plugin's options; every one may also be set in ``[tool.aura]`` under ``table_key``."""

MARKERS = {
    "aura_platform": (
        "aura_platform(*modules, mode='all', durable=False, database=None, "
        "poll_interval=None): this test's platform, as Platform(...) takes it: the named "
        "modules (default: every discovered one); mode 'standalone' replaces their "
        "dependencies with recording fakes, 'direct' keeps only direct dependencies real, "
        "'all' keeps every dependency real; durable records every publication; database "
        "'memory' or 'file' (default: aura_database); poll_interval: seconds between the "
        "durable delivery worker's passes (default: no worker, what is due again is "
        "delivered when the test calls bus.resubmit_incomplete())"
    ),
    # Still declared, so that a test using the old name gets the rename explained, not a warning.
    "aura_modules": "aura_modules: renamed; use aura_platform",
    "aura_allow_handler_errors": (
        "aura_allow_handler_errors: handler exceptions in this test are expected, not failures"
    ),
}
"""The plugin's markers, by name, with the line ``pytest --markers`` shows."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the plugin's options, on the command line and in the ini file."""
    group = parser.getgroup("aura", "Aura modular-monolith harness")
    for option in OPTIONS:
        help_text = f"{option.help} (default: {option.table_key} in [tool.aura])"
        if option.flag is not None:
            group.addoption(
                option.flag,
                dest=option.ini,
                default=None,
                choices=option.choices or None,
                help=help_text,
            )
        if option.kind == "bool":
            parser.addini(option.ini, help_text, type="bool", default=None)
        else:
            parser.addini(option.ini, help_text, default="")


def project_config(config: pytest.Config) -> ProjectConfig:
    """``[tool.aura]`` of the project under test, read once per session from the rootdir."""
    project = config.stash.get(_project_key, None)
    if project is None:
        from aura.config import load_config

        project = config.stash[_project_key] = load_config(config.rootpath, search_parents=False)
    return project


def _setting(config: pytest.Config, option: PluginOption) -> Any:
    """The option's value: command line, else ini file, else ``[tool.aura]``."""
    if option.flag is not None:
        given = config.getoption(option.ini)
        if given is not None:
            return given
    ini = config.getini(option.ini)
    if ini not in ("", None):
        if option.choices and ini not in option.choices:
            raise ConfigurationError(
                f"{option.ini} = {ini!r} in the ini file is not known; expected "
                f"{' or '.join(map(repr, option.choices))}."
            )
        if option.ini == "aura_trace_dir":  # ini paths are the rootdir's, as pytest's own are
            return config.rootpath / str(ini)
        return ini
    project = project_config(config)
    if option.table_key == "modules":
        return project.modules
    return getattr(project.testing, option.table_key.removeprefix("testing."))


def _option_named(ini: str) -> PluginOption:
    return next(option for option in OPTIONS if option.ini == ini)


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers; load the BDD steps when ``aura_bdd`` is on."""
    for line in MARKERS.values():
        config.addinivalue_line("markers", line)
    make_frozen_time_validatable()
    try:
        bdd = _setting(config, _option_named("aura_bdd"))
    except ConfigurationError as error:
        raise pytest.UsageError(str(error)) from None
    if bdd:
        try:
            import pytest_bdd  # noqa: F401
        except ImportError:
            raise pytest.UsageError(
                f"aura_bdd is on, but pytest-bdd is not installed. Install Aura's testing "
                f"extra: {TESTING_EXTRA}"
            ) from None
        config.pluginmanager.import_plugin("aura.testing.bdd")


def _modules_of(config: pytest.Config) -> list[Any]:
    """The modules of the configured package, discovered once per test session."""
    option = _option_named("aura_modules")
    given = config.getoption(option.ini) or config.getini(option.ini) or None
    project = project_config(config)
    setting = project.modules_setting(
        given,
        flag="--aura-modules (or aura_modules in the ini file)",
        override="pass --aura-modules PACKAGE",
    )
    discovered = config.stash.setdefault(_discovered_key, {})
    if setting.package not in discovered:
        from aura.config import load_modules
        from aura.module import Module

        packages: list[ModuleType] = load_modules(project, setting)
        loaded: list[Any] = []
        for found in packages:
            declared = getattr(found, "module", None)
            loaded.append(declared if isinstance(declared, Module) else found)
        discovered[setting.package] = loaded
    return discovered[setting.package]


def _boundaries_of(config: pytest.Config) -> ModuleMap | None:
    """The project's module map, read once per session when ``[tool.aura.boundaries]`` exists.

    The teardown check of undeclared calls then uses its dependencies, so a module declared
    only there is verified too.
    """
    if _boundaries_key not in config.stash:
        project = project_config(config)
        found = None
        if project.boundaries:
            from aura.architecture.modulemap import load_module_map

            found = load_module_map(project)
        config.stash[_boundaries_key] = found
    return config.stash[_boundaries_key]


_boundaries_key = pytest.StashKey["ModuleMap | None"]()


@dataclass(frozen=True)
class _PlatformSettings:
    """What every ``aura_platform`` of a session reads from its configuration: read once."""

    modules: tuple[Any, ...]
    boundaries: ModuleMap | None
    database: str | None
    trace_dir: Path | str | None


_settings_key = pytest.StashKey[_PlatformSettings]()


def _platform_settings(config: pytest.Config) -> _PlatformSettings:
    """The session's :class:`_PlatformSettings`; a configuration error is raised again by
    every test that asks (nothing is kept until all of them are read)."""
    settings = config.stash.get(_settings_key, None)
    if settings is None:
        settings = config.stash[_settings_key] = _PlatformSettings(
            tuple(_modules_of(config)),
            _boundaries_of(config),
            _setting(config, _option_named("aura_database")),
            _setting(config, _option_named("aura_trace_dir")),
        )
    return settings


def select_modules(available: list[Any], names: tuple[str, ...], mode: str) -> list[Any]:
    """Choose the modules of a platform: the named ones and their dependencies per ``mode``."""
    from aura.module import Module
    from aura.testing.fakes import stand_in_module

    if mode not in MODES:
        raise pytest.UsageError(
            f"aura_platform mode {mode!r} is not known: use 'standalone', 'direct' or 'all'."
        )
    by_name = {_name_of(module): module for module in available}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise pytest.UsageError(
            f"aura_platform names {', '.join(map(repr, unknown))}, which "
            f"{'is' if len(unknown) == 1 else 'are'} not among the discovered modules: "
            f"{', '.join(by_name) or 'none'}."
        )
    chosen: dict[str, Any] = {name: by_name[name] for name in names}
    frontier = list(names)
    depth = 0
    while frontier:
        depth += 1
        following = []
        for name in frontier:
            for dependency in _depends_on(by_name[name]):
                if dependency in chosen:
                    continue
                real = mode == "all" or (mode == "direct" and depth == 1)
                module = by_name.get(dependency)
                if module is None:
                    continue  # the platform names a missing dependency clearly
                if real:
                    chosen[dependency] = module
                    following.append(dependency)
                elif isinstance(module, Module):
                    chosen[dependency] = stand_in_module(module)
        frontier = following
    return list(chosen.values())


@dataclass(frozen=True)
class PlatformMarker:
    """What ``@pytest.mark.aura_platform(...)`` asked for."""

    modules: tuple[str, ...] = ()
    mode: str = "all"
    durable: bool = False
    database: str | None = None
    poll_interval: float | None = None
    """A durable platform's delivery worker polls this often; ``None`` (the default in tests):
    no worker, so what is due again is delivered when the test says so."""


_MARKER_KEYWORDS = ("mode", "durable", "database", "poll_interval")


def platform_marker(marker: pytest.Mark | None) -> PlatformMarker:
    """Read an ``aura_platform`` marker; refuse what ``Platform(...)`` would not take."""
    if marker is None:
        return PlatformMarker()
    unknown = sorted(set(marker.kwargs) - set(_MARKER_KEYWORDS))
    if unknown:
        raise pytest.UsageError(
            f"aura_platform does not take {', '.join(map(repr, unknown))}; it takes module "
            f"names and {', '.join(_MARKER_KEYWORDS)}: "
            "@pytest.mark.aura_platform('users', mode='standalone', durable=True, database='file')."
        )
    names = marker.args
    if not all(isinstance(name, str) for name in names):
        raise pytest.UsageError(
            f"aura_platform takes module names as strings, got {names!r}: "
            "@pytest.mark.aura_platform('users', 'billing')."
        )
    mode = marker.kwargs.get("mode", "all")
    if mode not in MODES:
        raise pytest.UsageError(
            f"aura_platform mode {mode!r} is not known: use 'standalone', 'direct' or 'all'."
        )
    if mode != "all" and not names:
        raise pytest.UsageError(
            f"aura_platform mode {mode!r} needs the modules under test: "
            f"@pytest.mark.aura_platform('users', mode={mode!r})."
        )
    durable = marker.kwargs.get("durable", False)
    if not isinstance(durable, bool):
        raise pytest.UsageError(f"aura_platform durable must be True or False, got {durable!r}.")
    database = marker.kwargs.get("database")
    if database not in (None, "memory", "file"):
        raise pytest.UsageError(
            f"aura_platform database {database!r} is not known: use 'memory' or 'file'."
        )
    poll_interval = marker.kwargs.get("poll_interval")
    from aura.publications import is_poll_interval  # the runtime, only once a marker is read

    if poll_interval is not None and not is_poll_interval(poll_interval):
        raise pytest.UsageError(
            f"aura_platform poll_interval must be a number of seconds above 0 and below a day, "
            f"or None (no delivery worker, the default), got {poll_interval!r}: "
            "@pytest.mark.aura_platform(durable=True, poll_interval=0.05)."
        )
    if poll_interval is not None and not durable:
        raise pytest.UsageError(
            f"aura_platform poll_interval={poll_interval!r} sets a durable platform's delivery "
            "worker, and this one is not durable: add durable=True, or drop poll_interval."
        )
    return PlatformMarker(tuple(names), mode, durable, database, poll_interval)


def _name_of(module: Any) -> str:
    from aura.module import Module

    return module.name if isinstance(module, Module) else str(module.__name__).rsplit(".", 1)[-1]


def _depends_on(module: Any) -> tuple[str, ...]:
    from aura.module import Module

    return module.depends_on if isinstance(module, Module) else ()


# --- the test's trace ---------------------------------------------------------------------------


def _trace_of(request: pytest.FixtureRequest, *, own: bool = False) -> Trace:
    """This test's trace (``aura_trace``): the one already made for it, else a new one.

    Whichever fixture makes it ends it at that fixture's teardown (``aura_platform``: after its
    own): detached, then written to the trace directory. ``aura_platform`` and the recorder
    fixtures make it themselves rather than request ``aura_trace``: each fixture pytest sets up
    for a test costs it tens of microseconds. A session where a conftest or plugin defines an
    ``aura_trace`` of its own requests it, so that the override is the one recorded into.
    """
    node = request.node
    trace: Trace | None = node.stash.get(_trace_key, None)
    if trace is None and not own and _trace_overridden(request):
        overridden: Trace = request.getfixturevalue("aura_trace")
        return overridden
    if trace is None:
        from aura.testing import recorders

        made = node.stash[_trace_key] = recorders.Trace()
        request.addfinalizer(lambda: _end_trace(request, made))
        return made
    return trace


def _end_trace(request: pytest.FixtureRequest, trace: Trace) -> None:
    trace.detach()
    trace_dir = _trace_dir_of(request.config)
    if trace_dir:
        from aura.testing.export import trace_file_stem, write_trace

        write_trace(trace, Path(trace_dir), trace_file_stem(request.node.nodeid))


def _trace_dir_of(config: pytest.Config) -> Path | str | None:
    settings = config.stash.get(_settings_key, None)
    if settings is not None:
        return settings.trace_dir
    trace_dir: Path | str | None = _setting(config, _option_named("aura_trace_dir"))
    return trace_dir


@pytest.fixture
def aura_trace(request: pytest.FixtureRequest) -> Trace:
    """This test's trace: what ``aura_platform`` and ``aura_bridge`` record, in one order.

    ``published_events`` and ``service_calls`` are its views. At teardown it is written to the
    trace directory (``--aura-trace-dir``), if one is set.
    """
    return _trace_of(request, own=True)


def _trace_overridden(request: pytest.FixtureRequest) -> bool:
    """Whether the ``aura_trace`` this test would get is not this plugin's: a conftest, a test
    module or class defining its own (by function name or ``name=``). Asked of pytest's
    fixture manager once per module or class of tests, not per test."""
    node = request.node
    scope = node.parent if node.parent is not None else node
    known: dict[str, bool] = request.config.stash.setdefault(_override_key, {})
    found = known.get(scope.nodeid)
    if found is None:
        manager: Any = request.config.pluginmanager.get_plugin("funcmanage")
        definitions = manager.getfixturedefs("aura_trace", node) if manager is not None else None
        found = False
        if definitions:  # the last is the one that applies here
            found = inspect.unwrap(definitions[-1].func) is not _trace_function
        known[scope.nodeid] = found
    return found


@pytest.fixture
def aura_bridge(aura_trace: Trace) -> Iterator[Bridge]:
    """This test's :class:`~aura.testing.bridge.Bridge`, in force for the test, closed at its
    end.

    What it records appears in ``published_events`` and ``service_calls``. Used without
    ``aura_platform``, no platform is built: the test records only what the bridge feeds.
    """
    from aura.testing.bridge import Bridge

    with Bridge(aura_trace) as bridge:
        yield bridge


# --- the platform -------------------------------------------------------------------------------


@pytest.fixture
def aura_platform() -> Iterator[Platform]:
    """A fresh, started Platform for this test, with the process-wide defaults pointing at it.

    Its modules are chosen by ``@pytest.mark.aura_platform(...)``, else every discovered module.
    At teardown, handler failures not declared as expected fail the test, the defaults are
    restored and the platform is closed.
    """
    # This fixture's request, as pytest_fixture_setup saw it, not a ``request`` parameter:
    # pytest builds a fixture definition each time it resolves ``request``, three times for a
    # test that takes aura_platform alone (some 75 µs, near a tenth of what the fixture costs).
    request = _platform_request()
    trace = _trace_of(request)
    node = request.node
    try:
        settings = _platform_settings(node.config)
    except ConfigurationError as error:
        # The message says all there is to say: no traceback through Aura's own frames.
        __tracebackhide__ = True
        raise error.with_traceback(None) from None
    if node.get_closest_marker("aura_modules") is not None:
        raise pytest.UsageError(
            f"{node.nodeid}: the aura_modules marker is now aura_platform, with the same "
            "arguments: @pytest.mark.aura_platform(*modules, mode=...)."
        )
    chosen = platform_marker(node.get_closest_marker("aura_platform"))
    modules = (
        select_modules(list(settings.modules), chosen.modules, chosen.mode)
        if chosen.modules
        else settings.modules
    )
    database: str | Path = ":memory:"
    if (chosen.database or settings.database) == "file":
        factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
        database = factory.mktemp("aura") / "aura.db"
    from aura.platform import Platform

    # No delivery worker unless asked for: its polls would deliver what is due again (a retry
    # after its backoff, an expired lease) between the test's own steps, by the clock.
    platform = Platform(
        modules,
        database=database,
        boundaries=settings.boundaries,
        durable=chosen.durable,
        poll_interval=chosen.poll_interval,
    )
    with under_test(request, trace, platform, boundaries=settings.boundaries, applies_marker=True):
        yield platform


_platform_function = inspect.unwrap(aura_platform)
_trace_function = inspect.unwrap(aura_trace)
_setting_up = threading.local()


@pytest.hookimpl(tryfirst=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> None:
    """Keep the request of an ``aura_platform`` about to be set up, for the fixture to take (not
    of a project's own ``aura_platform``, which takes ``request`` if it needs it)."""
    if fixturedef.func is _platform_function:
        _setting_up.request = request


def _platform_request() -> pytest.FixtureRequest:
    """The request ``aura_platform`` is being set up for (see :func:`pytest_fixture_setup`)."""
    request: pytest.FixtureRequest | None = getattr(_setting_up, "request", None)
    _setting_up.request = None
    if request is None:
        raise pytest.UsageError(
            "aura_platform is set up by pytest for a test that requests it; it cannot be called."
        )
    return request


def _ignored_marker(request: pytest.FixtureRequest, marker: pytest.Mark) -> str:
    given = ", ".join(
        [*map(repr, marker.args), *(f"{key}={value!r}" for key, value in marker.kwargs.items())]
    )
    function = getattr(getattr(request, "_fixturedef", None), "func", None)
    place = "a fixture of the project's"
    if function is not None:
        try:
            file = inspect.getsourcefile(function)
            line = inspect.getsourcelines(function)[1]
        except (OSError, TypeError):
            file, line = None, 0
        if file is not None:
            place = f"{function.__qualname__} ({Path(file).name}:{line})"
    return (
        f"{request.node.nodeid} is marked aura_platform({given}), but its aura_platform "
        f"fixture is {place}, which builds the platform itself: the marker's modules and mode "
        "would be ignored, and every module would run. Build the platform the marker asks for "
        "in that fixture and pass under_test(..., applies_marker=True), or remove the marker."
    )


@contextmanager
def under_test(
    request: pytest.FixtureRequest,
    trace: Trace,
    platform: Platform,
    *,
    boundaries: ModuleMap | None = None,
    applies_marker: bool = False,
) -> Iterator[Platform]:
    """Run ``platform`` as this test's: recorded by ``trace``, the process-wide defaults, started;
    at the end, calls its modules do not declare and handler failures the test did not expect
    fail it, and it is closed (whatever happened). What ``aura_platform`` does with the platform
    it builds, for fixtures that build theirs (``aura.integrations.django.testing``).

    A test marked ``@pytest.mark.aura_platform(...)`` is refused unless ``applies_marker`` says
    the fixture built ``platform`` as the marker asks: a fixture of its own that replaces the
    plugin's would otherwise run every module, the real ones in place of the stand-ins the
    marker's mode asks for, and the test would pass for the wrong reason."""
    marker = request.node.get_closest_marker("aura_platform")
    if marker is not None and not applies_marker:
        __tracebackhide__ = True
        platform.close()  # built for nothing: its database and threads go now
        raise ConfigurationError(_ignored_marker(request, marker))
    with ExitStack() as stack:
        stack.callback(platform.close)
        attached = trace.attach(platform.bus, platform.registry)
        stack.callback(attached.detach)
        stack.enter_context(platform.as_default())
        platform.start()
        yield platform
        calls = attached.calls()
        if calls:  # no call, nothing undeclared: the check is skipped, not its outcome
            from aura.verification import verify_calls

            undeclared = verify_calls(platform, calls, boundaries=boundaries)
            if not undeclared.ok:  # calls the modules' declarations don't allow
                pytest.fail(undeclared.render(), pytrace=False)
        node = request.node
        call_failed = node.stash.get(_call_failed_key, False)
        # A test that failed already shows its handler failures in its "aura trace" section:
        # failing its teardown too would report it twice (FAILED and ERROR).
        if (
            not call_failed
            and attached.failed_deliveries()
            and node.get_closest_marker("aura_allow_handler_errors") is None
        ):
            from aura.testing.recorders import PublishedEvents

            recorder = PublishedEvents(attached)
            recorder.expected_failures = node.stash.get(_expected_key, [])
            unexpected = recorder.unexpected_failures()
            if unexpected:
                pytest.fail(_handler_failures(unexpected, platform), pytrace=False)


_expected_key = pytest.StashKey[list[tuple[str | None, str | None]]]()


def _handler_failures(unexpected: list[Any], platform: Platform) -> str:
    letters = {
        (letter.event.event_id, letter.subscriber_module): letter
        for letter in platform.bus.dead_letters()
    }
    lines = [
        f"{len(unexpected)} event handler{'s' if len(unexpected) != 1 else ''} failed during "
        "this test (mark it @pytest.mark.aura_allow_handler_errors or call "
        "published_events.expect_failures(...) if that is expected):"
    ]
    for delivery in unexpected:
        letter = letters.get((delivery.event.event_id, delivery.subscriber_module))
        lines.append(
            f"  {delivery.subscriber_module}:{delivery.handler_name} on "
            f"{delivery.event.event_type!r} ({delivery.event.event_id}): "
            f"{type(delivery.error).__name__}: {delivery.error}"
        )
        if letter is not None:
            # The last frames, without Python's ^^^^ and ~~~~ markers, which point at nothing
            # once the lines are indented.
            frames = [
                line
                for line in letter.traceback.rstrip().splitlines()
                if not _MARKERS_ONLY.fullmatch(line)
            ]
            lines.extend("    " + line for line in frames[-6:])
    return "\n".join(lines)


_MARKERS_ONLY = re.compile(r"\s*[\^~]+\s*")
_call_failed_key = pytest.StashKey[bool]()


@pytest.fixture
def event_bus(aura_platform: Platform) -> EventBus:
    """This test's event bus."""
    return aura_platform.bus


@pytest.fixture
def service_registry(aura_platform: Platform) -> ServiceRegistry:
    """This test's service registry."""
    return aura_platform.registry


@pytest.fixture
def container(aura_platform: Platform) -> Container:
    """This test's dependency-injection container."""
    return aura_platform.container


def _platform_unless_bridged(request: pytest.FixtureRequest) -> None:
    """Set up ``aura_platform`` for a recorder fixture, unless the test feeds its trace through
    ``aura_bridge`` alone; before the trace is asked for, so that the platform's fixture, or
    the ``aura_trace`` a project's own ``aura_platform`` requests, makes and ends the trace."""
    __tracebackhide__ = True
    from aura.testing.bridge import records_only_the_bridge

    if not records_only_the_bridge(request):
        request.getfixturevalue("aura_platform")


@pytest.fixture
def published_events(request: pytest.FixtureRequest) -> PublishedEvents:
    """Every event published during this test, in order, with assertions: the platform's (built
    for it unless the test feeds its trace through ``aura_bridge`` alone) and the bridge's."""
    __tracebackhide__ = True  # a platform that cannot be built says why, from its own fixture
    from aura.testing.recorders import PublishedEvents

    _platform_unless_bridged(request)
    recorder = PublishedEvents(_trace_of(request))
    request.node.stash[_expected_key] = recorder.expected_failures
    return recorder


@pytest.fixture
def service_calls(request: pytest.FixtureRequest) -> ServiceCalls:
    """Every cross-module service call made during this test, in order, with assertions: the
    platform's (as for ``published_events``) and the bridge's."""
    __tracebackhide__ = True
    from aura.testing.recorders import ServiceCalls

    _platform_unless_bridged(request)
    return ServiceCalls(_trace_of(request))


@pytest.fixture
def aura_scenario(request: pytest.FixtureRequest, aura_platform: Platform) -> Iterator[Scenario]:
    """A :class:`~aura.testing.scenario.Scenario` on this test's platform: stimulate it, then
    wait for what follows.

    Its failure messages number events as the test's trace does; it may publish as any module
    of the project (``aura_modules``), even one this platform holds as a stand-in or not at
    all; :meth:`~aura.testing.scenario.Scenario.request` goes through the ``aura_gateway``
    fixture's client.
    """
    from aura.testing.scenario import Scenario

    try:
        modules: list[Any] = _modules_of(request.config)
    except ConfigurationError:  # no module package configured: the platform's modules only
        modules = []
    scenario = Scenario(
        aura_platform,
        trace=request.node.stash.get(_trace_key, None),
        modules=modules,
        gateway=lambda: request.getfixturevalue("aura_gateway"),
    )
    try:
        yield scenario
    finally:
        scenario.close()


class Overrides:
    """The ``override`` fixture: replace a container key or a module's service for this test.

    ``override(PaymentGateway, fake)`` or ``override("users", "UserService", fake)`` takes
    effect at once, for services already built too, and returns the override
    (:meth:`aura.Container.override`); ``with override(...):`` ends it with the block; whatever
    is still in force is restored at teardown.
    """

    def __init__(self, platform: Platform) -> None:
        self._platform = platform
        self._in_force: list[Override] = []

    def __call__(self, *target: Any) -> Override:
        """``override(key, replacement)`` or ``override(module, service, replacement)``."""
        if len(target) == 2:
            done = self._platform.container.override(target[0], target[1])
        elif len(target) == 3 and all(isinstance(part, str) for part in target[:2]):
            done = self._platform.registry.override(target[0], target[1], target[2])
        else:
            raise OverrideError(
                f"override takes (key, replacement) or (module, service, replacement), got "
                f"{len(target)} argument{'s' if len(target) != 1 else ''}: "
                "override(PaymentGateway, fake) or override('billing', 'BillingService', fake)."
            )
        self._in_force.append(done)
        return done

    def restore_all(self) -> None:
        """Restore every override still in force, newest first."""
        while self._in_force:
            self._in_force.pop().restore()


@pytest.fixture
def override(aura_platform: Platform) -> Iterator[Overrides]:
    """Replace a container key or a service for this test; see :class:`Overrides`."""
    overrides = Overrides(aura_platform)
    try:
        yield overrides
    finally:
        overrides.restore_all()


class FrozenClock:
    """The frozen time of a test: ``tick(seconds)`` and ``move_to(iso)`` move it."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory

    def now(self) -> datetime:
        """The current frozen time, timezone-aware UTC."""
        return datetime.now(UTC)

    def tick(self, seconds: float | timedelta = 1.0) -> datetime:
        """Move time forward; event timestamps and breaker clocks follow."""
        delta = seconds if isinstance(seconds, timedelta) else timedelta(seconds=seconds)
        self._factory.tick(delta)
        return self.now()

    def move_to(self, moment: str | datetime) -> datetime:
        """Jump to an ISO-8601 moment (or a datetime)."""
        self._factory.move_to(moment)
        return self.now()


@pytest.fixture
def aura_gateway(request: pytest.FixtureRequest, aura_platform: Platform) -> Iterator[Any]:
    """This test's platform over HTTP, in process: a :class:`aura.testing.http.GatewayClient`.

    ``aura_gateway.as_user(user)``, ``.as_operator()`` and ``.anonymous()`` send requests as
    that caller; the domain errors are those of ``[tool.aura.web] errors``. Needs the web extra.
    """
    try:
        from aura.testing.http import GatewayClient
    except ImportError as missing:
        if missing.name not in WEB_EXTRA_MODULES:
            raise
        __tracebackhide__ = True
        raise MissingExtraError(
            "The aura_gateway fixture needs the gateway, which is not installed. Install Aura's "
            "web extra: pip install 'aura-modulith[web]'"
        ) from None
    from aura.config import import_errors

    try:
        errors = import_errors(project_config(request.config))
    except ConfigurationError as error:
        __tracebackhide__ = True
        raise error.with_traceback(None) from None
    client = GatewayClient(aura_platform, errors=errors)
    yield client
    client.close()


@pytest.fixture
def frozen_time() -> Iterator[FrozenClock]:
    """Freeze time (freezegun) for this test, starting now; move it with tick() and move_to()."""
    try:
        import freezegun
    except ImportError:
        __tracebackhide__ = True  # the message is the whole story
        raise MissingExtraError(
            f"The frozen_time fixture needs freezegun, which is not installed. Install Aura's "
            f"testing extra: {TESTING_EXTRA}"
        ) from None
    make_frozen_time_validatable()
    # pytest's own timing is left alone, so --durations and junit report real durations; so are
    # psycopg's and its pool's, whose waits (connect, checkout, close) would never time out.
    freezer = freezegun.freeze_time(
        datetime.now(UTC), ignore=["_pytest.timing", "psycopg", "psycopg_pool"]
    )
    factory = freezer.start()
    try:
        yield FrozenClock(factory)
    finally:
        freezer.stop()


# --- hooks --------------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before each test: if anything imported freezegun, make its classes validatable; forget
    what an earlier run of the same item left (a rerun gets a new trace)."""
    make_frozen_time_validatable()
    stash = item.stash
    if _trace_key in stash:
        del stash[_trace_key]
    if _call_failed_key in stash:
        del stash[_call_failed_key]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Run each test (set-up, call, teardown) with its own process-wide state.

    The seed's defaults (``event_bus``, ``service_registry``, ``get_container()``) are fresh
    for every test, fixture or not, and contracts a test registers in the default catalog are
    forgotten after it; what a module registers when it is first imported stays.
    """
    with _isolated():
        return (yield)


@contextmanager
def _isolated() -> Iterator[None]:
    """The isolation of :func:`pytest_runtest_protocol`, at no cost to a session without Aura.

    Until some code imports them, the default catalog (``aura.events``) and the defaults
    (``aura.defaults``, ``get_container()`` of ``aura.container``) hold nothing: a test that
    runs before is isolated already. One that imports them first is reset after it to that
    empty state, as if it had run in its own ``fresh_defaults()`` and catalog snapshot.
    """
    events = sys.modules.get("aura.events")
    catalog = events.default_catalog if events is not None else None
    snapshot = catalog.snapshot() if catalog is not None else None
    try:
        if "aura.container" in sys.modules:
            from aura.defaults import fresh_defaults

            with fresh_defaults():
                yield
        else:
            try:
                yield
            finally:
                if "aura.container" in sys.modules:
                    _forget_defaults()
    finally:
        if catalog is not None and snapshot is not None:
            catalog.restore(snapshot)
        elif "aura.events" in sys.modules:
            from aura.events import CatalogSnapshot, default_catalog

            default_catalog.restore(CatalogSnapshot({}, {}, {}))


def _forget_defaults() -> None:
    """Drop the defaults a test built after first importing them: what ``fresh_defaults()``
    restores on leaving its block, for a block entered before they existed."""
    from aura import defaults
    from aura.container import set_container

    defaults._bus_proxy._swap(None)
    defaults._registry_proxy._swap(None)
    built = set_container(None)
    if built is not None:
        built.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Add an "aura trace" section to the report of a failing test that used the platform."""
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_call_failed_key] = True
    trace = item.stash.get(_trace_key, None)
    if trace is not None and report.failed:
        report.sections.append(("aura trace", trace.render()))
    return report

"""The Aura pytest plugin: an isolated platform per test, recorders, assertions and traces.

Registered through the ``pytest11`` entry point; it does nothing to a test until the test uses
one of its fixtures or markers.

Fixtures: ``aura_platform``, ``event_bus``, ``service_registry``, ``container``,
``published_events``, ``service_calls``, ``stub_service``, ``frozen_time``.
Markers: ``aura_modules(*names, mode=...)``, ``aura_allow_handler_errors``.
Options: ``--aura-modules-package`` / ``aura_modules_package``, ``--aura-database`` /
``aura_database``, ``--aura-trace-dir``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import freezegun
import pytest

from aura.bus import EventBus
from aura.container import Container
from aura.module import Module
from aura.platform import Platform
from aura.registry import ServiceRegistry
from aura.testing.export import write_trace
from aura.testing.fakes import stand_in_module
from aura.testing.recorders import PublishedEvents, ServiceCalls, Trace
from aura.verification import verify_calls

__all__ = ["FrozenClock", "select_modules"]

MODES = ("standalone", "direct", "all")
_trace_key = pytest.StashKey[Trace]()
_discovered_key = pytest.StashKey[dict[str, list[Any]]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the plugin's options, on the command line and in the ini file."""
    group = parser.getgroup("aura", "Aura modular-monolith harness")
    group.addoption(
        "--aura-modules-package",
        dest="aura_modules_package",
        default=None,
        help="package whose subpackages are the modules (default: 'modules')",
    )
    group.addoption(
        "--aura-database",
        dest="aura_database",
        default=None,
        choices=("memory", "file"),
        help="each test's platform database: in memory (default) or a temporary SQLite file",
    )
    group.addoption(
        "--aura-trace-dir",
        dest="aura_trace_dir",
        default=None,
        help="write each test's trace there as JSON and as a Mermaid sequence diagram",
    )
    parser.addini(
        "aura_modules_package", "package whose subpackages are the modules", default="modules"
    )
    parser.addini("aura_database", "memory or file", default="memory")
    parser.addini(
        "aura_bdd", "load Aura's pytest-bdd steps (aura.testing.bdd)", type="bool", default=False
    )


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers; load the BDD steps when ``aura_bdd = true``."""
    if config.getini("aura_bdd"):
        config.pluginmanager.import_plugin("aura.testing.bdd")
    config.addinivalue_line(
        "markers",
        "aura_modules(*names, mode='all'): the modules of this test's platform; mode "
        "'standalone' replaces their dependencies with recording fakes, 'direct' keeps only "
        "direct dependencies real, 'all' (default) keeps every dependency real",
    )
    config.addinivalue_line(
        "markers",
        "aura_allow_handler_errors: handler exceptions in this test are expected, not failures",
    )


def _option(config: pytest.Config, name: str) -> str:
    value = config.getoption(name)
    return str(value) if value is not None else str(config.getini(name))


def _modules_of(config: pytest.Config, package: str) -> list[Any]:
    """The modules of ``package``, discovered once per test session."""
    discovered = config.stash.setdefault(_discovered_key, {})
    if package not in discovered:
        try:
            packages = Platform.discover(package)
        except ModuleNotFoundError as exc:
            if exc.name is not None and (exc.name == package or package.startswith(f"{exc.name}.")):
                packages = []  # a project without modules: an empty platform
            else:
                raise
        loaded: list[Any] = []
        for found in packages:
            declared = getattr(found, "module", None)
            loaded.append(declared if isinstance(declared, Module) else found)
        discovered[package] = loaded
    return discovered[package]


def select_modules(available: list[Any], names: tuple[str, ...], mode: str) -> list[Any]:
    """Choose the modules of a platform: the named ones and their dependencies per ``mode``."""
    if mode not in MODES:
        raise pytest.UsageError(
            f"aura_modules mode {mode!r} is not known: use 'standalone', 'direct' or 'all'."
        )
    by_name = {_name_of(module): module for module in available}
    unknown = [name for name in names if name not in by_name]
    if unknown:
        raise pytest.UsageError(
            f"aura_modules names {', '.join(map(repr, unknown))}, which "
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


def _name_of(module: Any) -> str:
    return module.name if isinstance(module, Module) else str(module.__name__).rsplit(".", 1)[-1]


def _depends_on(module: Any) -> tuple[str, ...]:
    return module.depends_on if isinstance(module, Module) else ()


@pytest.fixture
def aura_platform(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """A fresh, started Platform for this test, with the process-wide defaults pointing at it.

    Its modules are chosen by ``@pytest.mark.aura_modules(...)``, else every discovered module.
    At teardown, handler failures not declared as expected fail the test, the defaults are
    restored and the platform is closed.
    """
    config = request.config
    available = _modules_of(config, _option(config, "aura_modules_package"))
    marker = request.node.get_closest_marker("aura_modules")
    if marker is not None:
        modules = select_modules(available, tuple(marker.args), marker.kwargs.get("mode", "all"))
    else:
        modules = list(available)
    database: str | Path = ":memory:"
    if _option(config, "aura_database") == "file":
        database = tmp_path_factory.mktemp("aura") / "aura.db"
    with ExitStack() as stack:
        platform = Platform(modules, database=database)
        stack.callback(platform.close)
        trace = Trace().attach(platform.bus, platform.registry)
        stack.callback(trace.detach)
        request.node.stash[_trace_key] = trace
        stack.enter_context(platform.as_default())
        platform.start()
        yield platform
        trace_dir = config.getoption("aura_trace_dir")
        if trace_dir:
            write_trace(trace, Path(trace_dir), _file_stem(request.node.nodeid))
        undeclared = verify_calls(platform, trace.calls())
        if not undeclared.ok:  # calls the modules' declarations don't allow
            pytest.fail(undeclared.render(), pytrace=False)
        if request.node.get_closest_marker("aura_allow_handler_errors") is None:
            recorder = PublishedEvents(trace)
            recorder.expected_failures = request.node.stash.get(_expected_key, [])
            unexpected = recorder.unexpected_failures()
            if unexpected:
                pytest.fail(_handler_failures(unexpected, platform), pytrace=False)


_expected_key = pytest.StashKey[list[tuple[str | None, str | None]]]()


def _handler_failures(unexpected: list[Any], platform: Platform) -> str:
    letters = {
        (letter.event.event_id, letter.subscriber_module): letter
        for letter in platform.bus.failed_events()
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
            lines.extend("    " + line for line in letter.traceback.rstrip().splitlines()[-6:])
    return "\n".join(lines)


def _file_stem(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")


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


@pytest.fixture
def published_events(request: pytest.FixtureRequest, aura_platform: Platform) -> PublishedEvents:
    """Every event published during this test, in order, with assertions."""
    recorder = PublishedEvents(request.node.stash[_trace_key])
    request.node.stash[_expected_key] = recorder.expected_failures
    return recorder


@pytest.fixture
def service_calls(request: pytest.FixtureRequest, aura_platform: Platform) -> ServiceCalls:
    """Every cross-module service call made during this test, in order, with assertions."""
    return ServiceCalls(request.node.stash[_trace_key])


@pytest.fixture
def stub_service(aura_platform: Platform) -> Iterator[Callable[[str, str, Any], Any]]:
    """Replace a module's service for this test: ``stub_service("users", "UserService", fake)``."""
    with ExitStack() as stack:

        def stub(module: str, name: str, fake: Any) -> Any:
            return stack.enter_context(aura_platform.registry.replaced(module, name, fake))

        yield stub


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
def frozen_time() -> Iterator[FrozenClock]:
    """Freeze time (freezegun) for this test, starting now; move it with tick() and move_to()."""
    # pytest's own timing is left alone, so --durations and junit report real durations.
    freezer = freezegun.freeze_time(datetime.now(UTC), ignore=["_pytest.timing"])
    factory = freezer.start()
    try:
        yield FrozenClock(factory)
    finally:
        freezer.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Add an "aura trace" section to the report of a failing test that used the platform."""
    report = yield
    trace = item.stash.get(_trace_key, None)
    if trace is not None and report.failed:
        report.sections.append(("aura trace", trace.render()))
    return report

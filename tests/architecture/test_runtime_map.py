"""Runtime verification joins the module map: ``Platform.verify()`` and the harness's teardown
check of undeclared calls use the dependencies of ``[tool.aura.boundaries]``, so a module
declared only there (here a seed-style ``register_services`` package) is verified too."""

from __future__ import annotations

import types
from pathlib import Path

import pytest

from aura import service_registry
from aura.architecture.modulemap import ModuleMap, ModuleSpec
from aura.module import Module
from aura.platform import Platform
from aura.registry import ServiceCall, ServiceRegistry
from aura.testing.recorders import ServiceCalls, Trace


class Greeter:
    def greet(self, name: str) -> str:
        return f"hello {name}"


class Reports:
    """A seed-style service: it reaches users through the process-wide registry."""

    def daily(self) -> str:
        greeter: Greeter = service_registry.get_service("users", "Greeter")
        return greeter.greet("report")


def _register(registry: ServiceRegistry) -> None:
    registry.register_service(module_name="legacy", service_name="Reports", service_class=Reports)


def _platform(boundaries: ModuleMap | None) -> Platform:
    users = Module("users")
    users.add_service("Greeter", Greeter)
    legacy = types.ModuleType("app.legacy")
    legacy.register_services = _register  # type: ignore[attr-defined]
    return Platform([users, legacy], boundaries=boundaries)


def _map(tmp_path: Path, *, legacy_depends_on: tuple[str, ...]) -> ModuleMap:
    return ModuleMap(
        root=tmp_path,
        source_roots=(tmp_path,),
        modules=(
            ModuleSpec("legacy", "app.legacy", depends_on=legacy_depends_on, origins=("map",)),
            ModuleSpec("users", "app.users", origins=("map",)),
        ),
    )


def _daily_report(platform: Platform) -> list[ServiceCall]:
    trace = Trace().attach(platform.bus, platform.registry)
    try:
        with platform.as_default():
            assert platform.registry.get_service("legacy", "Reports").daily() == "hello report"
    finally:
        trace.detach()
    return list(ServiceCalls(trace))


def test_a_module_declared_only_in_the_map_is_verified_against_its_dependencies(
    tmp_path: Path,
) -> None:
    with _platform(_map(tmp_path, legacy_depends_on=())).start() as platform:
        result = platform.verify(calls=_daily_report(platform))
    assert [problem.rule for problem in result.problems] == ["undeclared-call"]
    assert result.problems[0].message == (
        "legacy called users.Greeter.greet() (1 time), but does not declare 'users' in depends_on."
    )


def test_the_map_declares_what_a_seed_style_module_may_call(tmp_path: Path) -> None:
    with _platform(_map(tmp_path, legacy_depends_on=("users",))).start() as platform:
        result = platform.verify(calls=_daily_report(platform))
    assert result.ok, result.render()


def test_a_platform_module_that_disagrees_with_the_map_is_a_problem(tmp_path: Path) -> None:
    reports = Module("reports", depends_on=[])
    boundaries = ModuleMap(
        root=tmp_path,
        source_roots=(tmp_path,),
        modules=(
            ModuleSpec(
                "reports",
                "app.reports",
                depends_on=("users",),
                origins=("pyproject.toml [tool.aura.boundaries.modules.reports]",),
            ),
            ModuleSpec("users", "app.users", origins=("map",)),
        ),
    )
    users = Module("users")
    with Platform([users, reports], boundaries=boundaries).start() as platform:
        result = platform.verify()
    assert [(problem.rule, problem.message, problem.fix) for problem in result.problems] == [
        (
            "declaration-conflict",
            "Module 'reports' of the platform declares depends_on [], but the module map says "
            "['users'] (pyproject.toml [tool.aura.boundaries.modules.reports]).",
            "Make the two declarations the same, or declare the module in one place only.",
        )
    ]


def test_a_module_publishing_other_events_than_the_map_says_is_a_problem(tmp_path: Path) -> None:
    visits = Module("visits")
    visits.publishes("visit.booked")
    boundaries = ModuleMap(
        root=tmp_path,
        source_roots=(tmp_path,),
        modules=(
            ModuleSpec(
                "visits",
                "app.visits",
                publishes=("visit.created",),
                origins=("pyproject.toml [tool.aura.boundaries.modules.visits]",),
            ),
        ),
    )
    with Platform([visits], boundaries=boundaries).start() as platform:
        result = platform.verify()
    assert [(problem.rule, problem.subject, problem.message) for problem in result.problems] == [
        (
            "declaration-conflict",
            "publishes",
            "Module 'visits' of the platform declares publishes ['visit.booked'], but the "
            "module map says ['visit.created'] (pyproject.toml "
            "[tool.aura.boundaries.modules.visits]).",
        )
    ]


LEGACY = """
from aura import service_registry


class Reports:
    def daily(self):
        return service_registry.get_service("catalog", "Catalog").price_of("apple")


def register_services(service_registry):
    service_registry.register_service(
        module_name="legacy", service_name="Reports", service_class=Reports
    )
"""

REPORT_TEST = """
def test_report(aura_platform):
    assert aura_platform.registry.get_service("legacy", "Reports").daily() == 3
"""


@pytest.fixture
def shop(pytester: pytest.Pytester) -> pytest.Pytester:
    from tests.plugin.test_plugin import APP

    for name, text in {**APP, "shop/legacy/__init__.py": LEGACY}.items():
        if name != "pytest.ini":
            path = pytester.path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    pytester.syspathinsert()
    pytester.makepyfile(test_report=REPORT_TEST)
    return pytester


def _pyproject(legacy_depends_on: str) -> str:
    return (
        '[tool.aura]\nmodules = "shop"\n\n'
        "[tool.aura.boundaries.modules.legacy]\n"
        f'package = "shop.legacy"\ndepends_on = {legacy_depends_on}\n'
    )


def test_the_harness_fails_a_test_whose_calls_the_map_does_not_allow(
    shop: pytest.Pytester,
) -> None:
    shop.makepyprojecttoml(_pyproject("[]"))
    result = shop.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "Platform verification: 1 problem (3 modules, 3 services, 1 subscription).",
            "- [undeclared-call] legacy called catalog.Catalog.price_of() (1 time), but does not "
            "declare 'catalog' in depends_on.",
        ]
    )


def test_the_harness_passes_a_test_whose_calls_the_map_allows(shop: pytest.Pytester) -> None:
    shop.makepyprojecttoml(_pyproject('["catalog"]'))
    shop.runpytest("-p", "no:randomly", "-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_the_harness_reports_a_map_that_contradicts_the_source(shop: pytest.Pytester) -> None:
    shop.makepyprojecttoml(
        _pyproject('["catalog"]')
        + '\n[tool.aura.boundaries.modules.orders]\npackage = "shop.orders"\ndepends_on = []\n'
    )
    result = shop.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        [
            "E   aura.exceptions.ConfigurationError: Module 'orders' is declared twice and the "
            "declarations disagree on depends_on: [] in pyproject.toml "
            "[tool.aura.boundaries.modules.orders], ['catalog'] in shop/orders/__init__.py:5. "
            "Make them the same, or declare the module in one place only."
        ]
    )

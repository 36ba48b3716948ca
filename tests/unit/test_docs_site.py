"""The Sphinx site in docs/: its copy of the specification, its generated reference, its tutorial.

``make docs`` and ``make doctest`` build the site and run its examples; these tests check what a
build cannot see: that the specification is the seed's page, that each generated reference page
lists everything the code defines (found here another way), and that the tutorial's project
passes its own tests and checks with the outputs the tutorial shows.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
TUTORIAL = DOCS / "tutorial"
SEED = Path(__file__).parents[3] / "shared" / "seed" / "module-communication.rst"
AURA_PLUGINS = ("-p", "no:aura", "-p", "no:aura_architecture")  # the pytest11 entry points
# Plugins of Aura's own dev environment that the bookshop does not use; they only slow it down.
UNRELATED_PLUGINS = ("-p", "no:hypothesispytest", "-p", "no:faker", "-p", "no:schemathesis")


@pytest.fixture(scope="module")
def reference() -> Iterator[ModuleType]:
    """The site's local Sphinx extension, docs/_ext/aura_reference.py."""
    spec = importlib.util.spec_from_file_location(
        "aura_reference", DOCS / "_ext" / "aura_reference.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up while being built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules[spec.name]


# --- the specification -------------------------------------------------------------------------


def test_the_specification_page_is_the_seed_byte_for_byte() -> None:
    if not SEED.is_file():
        pytest.skip(f"the shared seed is not checked out here ({SEED}); CI has it")
    assert (DOCS / "specification.rst").read_bytes() == SEED.read_bytes()


# --- the generated reference lists everything ----------------------------------------------------


def _pytest_output(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest_inprocess("-p", "no:randomly", "-p", "no:cacheprovider", *args)
    assert result.ret == 0, "\n".join(result.outlines + result.errlines)
    return result.outlines


def _added_by_aura(
    pytester: pytest.Pytester, pattern: str, *args: str, bdd: bool = False
) -> set[str]:
    """What pytest lists with Aura's plugins (and the step library) and not without them."""
    found = re.compile(pattern)

    def names(lines: list[str]) -> set[str]:
        return {match.group(1) for line in lines if (match := found.match(line))}

    loaded = ("-p", "aura.testing.bdd", "-p", "aura.testing.postgres") if bdd else ()
    with_aura = names(_pytest_output(pytester, *loaded, *args))
    without = names(_pytest_output(pytester, *AURA_PLUGINS, *args))
    return with_aura - without


def test_the_step_reference_lists_every_step_definition(reference: ModuleType) -> None:
    tree = ast.parse((ROOT / "aura" / "testing" / "bdd.py").read_text(encoding="utf-8"))
    decorated = {
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        and any(
            isinstance(decorator, ast.Call)
            and isinstance(decorator.func, ast.Name)
            and decorator.func.id in {"given", "when", "then", "step"}
            for decorator in function.decorator_list
        )
    }

    steps = reference.collect_bdd_steps()

    assert len(steps) == len(decorated)
    assert {step.function for step in steps} == decorated
    assert all(step.doc for step in steps), "every step is documented by its docstring"
    published = next(step for step in steps if step.function == "event_is_published")
    assert published.keywords == ("Then",)
    assert published.parser == "re"
    assert published.pattern.startswith('the event "(?P<event_type>[^"]+)" is published')
    anywhere = next(step for step in steps if step.function == "dead_letters_are_retried")
    assert anywhere.keywords == ("Given", "When", "Then")
    assert anywhere.pattern == "the dead letters are retried"


def test_the_plugin_reference_lists_every_fixture(
    reference: ModuleType, pytester: pytest.Pytester
) -> None:
    listed = _added_by_aura(
        pytester, r"(\w+)(?: \[\w+ scope\])? -- \S+:\d+$", "--fixtures", bdd=True
    )
    fixtures = reference.collect_fixtures()

    assert len(fixtures) == len(listed) >= 10
    assert {fixture.name for fixture in fixtures} == listed
    assert all(fixture.doc for fixture in fixtures), "every fixture is documented"
    platform = next(fixture for fixture in fixtures if fixture.name == "aura_platform")
    assert platform.module == "aura.testing.plugin"
    assert platform.doc.startswith("A fresh, started Platform for this test")


def test_the_plugin_reference_lists_every_option(
    reference: ModuleType, pytester: pytest.Pytester
) -> None:
    flags = _added_by_aura(pytester, r"  (--[\w-]+)", "--help")
    inis = _added_by_aura(pytester, r"  (\w+) \((?:string|bool|args|linelist|paths)\):", "--help")
    options = reference.collect_options()

    assert len(options) == len(inis)
    assert {option.ini for option in options} == inis
    assert {option.flag for option in options if option.flag} == flags
    database = next(option for option in options if option.ini == "aura_database")
    assert database.flag == "--aura-database"
    assert database.table_key == "testing.database"
    assert database.choices == ("memory", "file")


def test_the_plugin_reference_lists_every_marker(
    reference: ModuleType, pytester: pytest.Pytester
) -> None:
    listed = _added_by_aura(pytester, r"@pytest\.mark\.(\w+)", "--markers")
    markers = reference.collect_markers()

    assert len(markers) == len(listed)
    assert {marker.name for marker in markers} == listed
    platform = next(marker for marker in markers if marker.name == "aura_platform")
    assert platform.signature == (
        "aura_platform(*modules, mode='all', durable=False, database=None, poll_interval=None)"
    )
    renamed = next(marker for marker in markers if marker.name == "aura_modules")
    assert renamed.description == "Renamed; use aura_platform"


def test_the_cli_reference_shows_each_commands_help(reference: ModuleType) -> None:
    overview = reference.cli_help()
    commands = re.findall(r"^    ([a-z-]+)", overview, flags=re.MULTILINE)

    assert commands == ["demo", "serve", "token", "dead-letters", "modules", "check", "docs"]
    for command in commands:
        assert reference.cli_help(command).startswith(f"usage: aura {command} [-h]")


# --- the tutorial's project ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def bookshop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tutorial's project, as a reader would start from it."""
    copy = tmp_path_factory.mktemp("tutorial") / "bookshop"
    ignored = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", "var")
    shutil.copytree(TUTORIAL / "bookshop", copy, ignore=ignored)
    return copy


def run_in(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` in ``project`` with this interpreter, as from a shell there."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"PYTHONPATH", "PYTEST_ADDOPTS"}
    }
    return subprocess.run(  # this interpreter, fixed arguments
        [sys.executable, *args],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_tutorial_project_passes_its_tests(bookshop: Path) -> None:
    shown = re.search(r"^   (\d+) passed$", (DOCS / "tutorial.rst").read_text(), re.MULTILINE)
    assert shown is not None, "tutorial.rst shows the summary of `pytest -q`"

    result = run_in(
        bookshop,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        *UNRELATED_PLUGINS,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(rf"{shown.group(1)} passed in [\d.]+s", summary), result.stdout


HARNESS_EXAMPLES = TUTORIAL / "bookshop" / "reference" / "test_harness_reference.py"


def test_the_harness_reference_examples_pass(bookshop: Path) -> None:
    result = run_in(
        bookshop,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        *UNRELATED_PLUGINS,
        "reference",
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\d+ passed in ", result.stdout, re.MULTILINE), result.stdout


def test_every_fixture_marker_and_assertion_has_an_example(reference: ModuleType) -> None:
    from aura.testing import PublishedEvents, ServiceCalls
    from aura.testing.scenario import Consumed

    examples = HARNESS_EXAMPLES.read_text()
    page = (DOCS / "reference" / "pytest-plugin.rst").read_text()
    tests = set(re.findall(r"^def (test_\w+)", examples, re.MULTILINE))
    fixtures = {
        fixture.name
        for fixture in reference.collect_fixtures()
        if fixture.module == "aura.testing.plugin"
    }
    markers = {marker.name for marker in reference.collect_markers()} - {
        "aura_modules",  # renamed: only its error remains
        "architecture",  # --aura-architecture's items, shown in the how-to on boundaries
    }
    assertions = {
        name
        for recorder in (PublishedEvents, ServiceCalls, Consumed)
        for name in vars(recorder)
        if name.startswith(("assert_", "expect_"))
    }
    missing = sorted(
        [
            f"fixture {name}"
            for name in fixtures
            if f"({name}" not in examples and f" {name}:" not in examples
        ]
        + [f"marker {name}" for name in markers if f"mark.{name}" not in examples]
        + [f"assertion {name}" for name in assertions if f".{name}(" not in examples]
    )
    assert missing == []
    not_shown = sorted(test for test in tests if f":pyobject: {test}" not in page)
    assert not_shown == []


def test_aura_check_finds_no_violation_in_the_tutorial_project(bookshop: Path) -> None:
    result = run_in(bookshop, "-m", "aura", "check")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == (TUTORIAL / "output" / "aura-check.txt").read_text()
    assert result.stdout.splitlines()[-1].startswith("aura check: no violations in 3 modules")


def test_aura_docs_writes_the_tutorial_projects_architecture(
    bookshop: Path, tmp_path: Path
) -> None:
    out = tmp_path / "arch"

    result = run_in(bookshop, "-m", "aura", "docs", "--out", str(out))

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == f"aura docs: wrote 6 files to {out.as_posix()} (6 changed).\n"
    assert (out / "events.schema.json").is_file()  # the contracts' schemas, for aura check
    written = sorted(path.relative_to(out).as_posix() for path in out.rglob("*.md"))
    assert written == [
        "README.md",
        "events.md",
        "modules/catalog.md",
        "modules/notifications.md",
        "modules/orders.md",
    ]
    diagram = (out / "README.md").read_text()
    assert 'orders -->|"Catalog"| catalog' in diagram
    assert 'orders -.->|"order.placed"| notifications' in diagram


SERVE_THE_BOOKSHOP = """
from aura.config import CLI_MODULES, import_errors, load_config, load_modules
from aura.platform import Platform
from aura.testing.http import GatewayClient

config = load_config()
with Platform(load_modules(config, config.modules_setting(None, **CLI_MODULES))) as platform:
    platform.registry.get_service("catalog", "Catalog").add_book("1", "One", 100)
    client = GatewayClient(platform, errors=import_errors(config))
    reader = client.as_user(1, roles=["reader"])
    for caller, isbn in ((reader, "1"), (reader, "2"), (client.anonymous(), "1")):
        response = caller.get(f"/api/catalog/books/{isbn}")
        print(response.status_code, response.json().get("price_cents"))
    client.close()
"""


def test_the_tutorial_projects_route_is_served_with_its_rule_and_errors(bookshop: Path) -> None:
    """What `aura serve` builds: the catalog's route needs a token, an unknown book is 404."""
    result = run_in(bookshop, "-c", SERVE_THE_BOOKSHOP)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == ["200 100", "404 None", "401 None"]


def test_aura_demo_prints_what_the_tutorial_shows(bookshop: Path) -> None:
    result = run_in(bookshop, "-m", "aura", "demo")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == (TUTORIAL / "output" / "aura-demo.txt").read_text()


def test_the_boundaries_how_to_shows_what_aura_check_prints_for_a_broken_boundary(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "bookshop"
    ignored = shutil.ignore_patterns("__pycache__", ".pytest_cache", ".ruff_cache", "var")
    shutil.copytree(TUTORIAL / "bookshop", broken, ignore=ignored)
    orders = broken / "bookshop" / "modules" / "orders" / "__init__.py"
    declared = 'Module("orders", depends_on=["catalog"], '
    assert declared in orders.read_text()
    orders.write_text(orders.read_text().replace(declared, 'Module("orders", '))

    text = run_in(broken, "-m", "aura", "check")
    data = run_in(broken, "-m", "aura", "check", "--format", "json")

    assert (text.returncode, data.returncode) == (1, 1)
    assert text.stdout == (TUTORIAL / "output" / "aura-check-undeclared.txt").read_text()
    assert data.stdout == (TUTORIAL / "output" / "aura-check-undeclared.json").read_text()

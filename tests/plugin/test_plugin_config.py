"""The plugin's configuration, end to end with pytester: [tool.aura], ini options, flags, and
the extras it needs only when a test asks for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from aura.testing.export import trace_file_stem
from tests.plugin.test_plugin import APP

FLOW = """
def test_flow(aura_platform, published_events):
    aura_platform.registry.get_service("orders", "Orders").place("apple", 2)
    published_events.assert_published("order.placed", total=6)
    assert sorted(aura_platform.modules) == ["catalog", "orders"]
"""


@pytest.fixture
def shop(pytester: pytest.Pytester) -> pytest.Pytester:
    for name, text in APP.items():
        if name != "pytest.ini":  # these tests configure the project themselves
            path = pytester.path / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    pytester.syspathinsert()
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", *args)


def error_text(result: pytest.RunResult) -> str:
    """The exception pytest printed: its ``E   `` line and the message's own lines after it."""
    lines = result.stdout.lines
    first = next(i for i, line in enumerate(lines) if line.startswith("E   "))
    block = [lines[first].removeprefix("E   ")]
    for line in lines[first + 1 :]:
        if not line.startswith(("E   ", "    ")) and line.strip():
            break
        block.append(line[4:])
    while block and not block[-1].strip():
        block.pop()
    return "\n".join(block)


def test_tool_aura_names_the_modules_of_every_test_platform(shop: pytest.Pytester) -> None:
    shop.makepyprojecttoml('[tool.aura]\nmodules = "shop"\n')
    shop.makepyfile(test_flow=FLOW)
    run(shop).assert_outcomes(passed=1)


def test_the_ini_option_and_the_flag_override_tool_aura(shop: pytest.Pytester) -> None:
    shop.makepyprojecttoml('[tool.aura]\nmodules = "elsewhere"\n')
    shop.makepyfile(test_flow=FLOW)
    run(shop, "--aura-modules", "shop").assert_outcomes(passed=1)
    shop.makeini("[pytest]\naura_modules = shop\n")  # pytest.ini wins over pyproject's table
    run(shop).assert_outcomes(passed=1)


def test_an_unconfigured_project_fails_the_test_that_asks_for_a_platform(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        test_flow="def test_flow(published_events):\n    pass\n\n"
        "def test_plain():\n    assert 1 + 1 == 2\n"
    )
    result = run(pytester)
    result.assert_outcomes(passed=1, errors=1)
    root = pytester.path.resolve()
    assert error_text(result) == (
        "aura.exceptions.ConfigurationError: No modules configured: Aura found no "
        f"pyproject.toml in {root}, and --aura-modules (or aura_modules in the "
        "ini file) was not given. Say which package holds the modules, in pyproject.toml:\n\n"
        '    [tool.aura]\n    modules = "your_package.modules"\n\nor pass --aura-modules PACKAGE.'
    )


def test_a_package_with_no_module_fails_instead_of_giving_an_empty_platform(
    pytester: pytest.Pytester,
) -> None:
    (pytester.path / "empty").mkdir()
    (pytester.path / "empty" / "__init__.py").write_text("")
    pytester.makepyprojecttoml('[tool.aura]\nmodules = "empty"\n')
    pytester.syspathinsert()
    pytester.makepyfile(test_flow="def test_flow(aura_platform):\n    pass\n")
    result = run(pytester)
    result.assert_outcomes(errors=1)
    assert error_text(result) == (
        "aura.exceptions.ConfigurationError: The modules package 'empty' (from modules in "
        f"[tool.aura] in {pytester.path.resolve() / 'pyproject.toml'}) holds no module: "
        "none of its subpackages declares `module = Module(...)` or a `register_services("
        "service_registry)` function. Declare one in each module's __init__.py, or point "
        "`modules` at the package that holds them."
    )


def test_the_testing_table_sets_the_database_and_the_trace_dir(shop: pytest.Pytester) -> None:
    shop.makepyprojecttoml(
        '[tool.aura]\nmodules = "shop"\n[tool.aura.testing]\ndatabase = "file"\n'
        'trace_dir = "traces"\n'
    )
    shop.makepyfile(
        test_flow=FLOW
        + "\ndef test_file(aura_platform):\n    assert aura_platform.database.path != ':memory:'\n"
    )
    run(shop).assert_outcomes(passed=2)
    written = sorted(path.name for path in (shop.path / "traces").iterdir())
    assert written == sorted(
        f"{trace_file_stem(f'test_flow.py::{name}')}.{suffix}"
        for name in ("test_file", "test_flow")
        for suffix in ("json", "mmd")
    )


def test_a_malformed_testing_table_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.aura.testing]\nbdd = "yes"\n')
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: bdd in [tool.aura.testing] of {pytester.path.resolve() / 'pyproject.toml'} "
            "is str 'yes'; expected true or false."
        ]
    )


HIDE = "import sys\nsys.modules[{name!r}] = None  # as if it were not installed\n"


def test_without_freezegun_only_frozen_time_fails_and_says_what_to_install(
    shop: pytest.Pytester,
) -> None:
    shop.makepyprojecttoml('[tool.aura]\nmodules = "shop"\n')
    shop.makeconftest(HIDE.format(name="freezegun"))
    shop.makepyfile(test_flow=FLOW + "\ndef test_clock(frozen_time):\n    pass\n")
    result = shop.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    assert error_text(result) == (
        "aura.exceptions.MissingExtraError: The frozen_time fixture needs freezegun, which is "
        "not installed. Install Aura's testing extra: pip install 'aura-modulith[testing]'"
    )


def test_bdd_on_without_pytest_bdd_is_a_usage_error_naming_the_extra(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml("[tool.aura.testing]\nbdd = true\n")
    pytester.makeconftest(HIDE.format(name="pytest_bdd"))
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: aura_bdd is on, but pytest-bdd is not installed. Install Aura's testing "
            "extra: pip install 'aura-modulith[testing]'"
        ]
    )


def test_bdd_from_the_testing_table_loads_the_step_library(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.aura.testing]\nbdd = true\n")
    pytester.makepyfile(
        test_plain="def test_plain(request):\n"
        "    assert request.config.pluginmanager.has_plugin('aura.testing.bdd')\n"
    )
    run(pytester).assert_outcomes(passed=1)


def test_tests_without_aura_fixtures_run_in_an_unconfigured_project(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    result = run(pytester)
    result.assert_outcomes(passed=1)
    assert result.ret == 0
    assert not Path(pytester.path / "traces").exists()


def test_a_tool_aura_table_above_the_rootdir_is_not_the_projects(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyprojecttoml('[tool.aura]\ntheme = "dark"\n')  # someone else's, malformed
    inner = pytester.mkdir("inner")
    (inner / "pytest.ini").write_text("[pytest]\n")
    (inner / "test_plain.py").write_text("def test_plain():\n    pass\n")
    result = pytester.runpytest(inner, "-p", "no:randomly", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_an_unknown_ini_database_is_refused(shop: pytest.Pytester) -> None:
    shop.makeini("[pytest]\naura_modules = shop\naura_database = sqlite\n")
    shop.makepyfile(test_flow=FLOW)
    result = run(shop)
    result.assert_outcomes(errors=1)
    assert error_text(result) == (
        "aura.exceptions.ConfigurationError: aura_database = 'sqlite' in the ini file is not "
        "known; expected 'memory' or 'file'."
    )


def test_an_ini_trace_dir_is_relative_to_the_rootdir(shop: pytest.Pytester) -> None:
    shop.makeini("[pytest]\naura_modules = shop\naura_trace_dir = traces\n")
    (shop.path / "tests").mkdir()
    (shop.path / "tests" / "test_flow.py").write_text(FLOW)
    result = shop.runpytest(
        shop.path / "tests", "-p", "no:randomly", "-p", "no:cacheprovider", "--rootdir", shop.path
    )
    result.assert_outcomes(passed=1)
    assert [p.suffix for p in sorted((shop.path / "traces").iterdir())] == [".json", ".mmd"]


def test_architecture_without_import_linter_names_the_extra(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(HIDE.format(name="importlinter"))
    pytester.makepyfile(test_plain="def test_plain():\n    pass\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:randomly", "-p", "no:cacheprovider", "--aura-architecture"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --aura-architecture checks import-linter contracts, but import-linter is not "
            "installed. Install Aura's architecture extra: pip install "
            "'aura-modulith?architecture?'"
        ]
    )

"""The architecture pytest plugin: one test per import-linter contract, end to end with pytester."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

import grimp
import pytest

from .depot import CLEAN, write_project

PLUGIN = "aura.architecture.pytest_plugin"
IMPORTING_STOCK = {
    **CLEAN,
    "depot/modules/shipping/application.py": CLEAN["depot/modules/shipping/application.py"]
    .replace(
        "from aura.registry import ServiceRegistry\n",
        # stock's published API (its package): only the independence contract forbids it.
        "from aura.registry import ServiceRegistry\nfrom depot.modules.stock import Stock\n",
    )
    .lstrip("\n"),
    "test_ordinary.py": "def test_ordinary():\n    pass\n",
}


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # Loaded by its pytest11 entry point once installed; by name until then.
    installed = any(entry.value == PLUGIN for entry in entry_points(group="pytest11"))
    plugin = () if installed else ("-p", PLUGIN)
    return pytester.runpytest(*plugin, "-p", "no:randomly", "-p", "no:cacheprovider", *args)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    return write_project(pytester, IMPORTING_STOCK)


def test_each_contract_is_a_test_named_by_the_contract(project: pytest.Pytester) -> None:
    result = run(project, "--aura-architecture", "--collect-only", "-q")
    result.stdout.fnmatch_lines(
        [
            "test_ordinary.py::test_ordinary",
            ".importlinter::depot modules are independent",
            ".importlinter::depot modules declare what they look up and subscribe to",
            "3 tests collected in *",
        ]
    )


def test_a_broken_contract_fails_with_import_linters_report(project: pytest.Pytester) -> None:
    result = run(project, "--aura-architecture")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ import-linter contract: depot modules are independent _*",
            "Broken import contract 'depot modules are independent' (independent):",
            "",
            "depot.modules.shipping is not allowed to import depot.modules.stock:",
            "",
            "- depot.modules.shipping.application -> depot.modules.stock (l.3)",
            "*short test summary info*",
            "FAILED .importlinter::depot modules are independent - Broken import contract *",
        ]
    )


def test_the_architecture_marker_and_keywords_select_them(project: pytest.Pytester) -> None:
    run(project, "--aura-architecture", "-m", "architecture").assert_outcomes(
        passed=1, failed=1, deselected=1
    )
    run(project, "--aura-architecture", "-k", "declare").assert_outcomes(passed=1, deselected=2)


def test_the_ini_setting_turns_them_on_and_nothing_happens_without_it(
    project: pytest.Pytester,
) -> None:
    run(project).assert_outcomes(passed=1)
    project.makeini("[pytest]\naura_architecture = true\n")
    run(project).assert_outcomes(passed=2, failed=1)


def test_the_graph_is_built_once_per_session(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds: list[tuple[str, ...]] = []
    build_graph = grimp.build_graph

    def recording_build_graph(*packages: str, **options: Any) -> grimp.ImportGraph:
        builds.append(packages)
        return build_graph(*packages, **options)

    monkeypatch.setattr(grimp, "build_graph", recording_build_graph)
    run(project, "--aura-architecture").assert_outcomes(passed=2, failed=1)
    assert builds == [("depot",)]


def test_without_a_configuration_it_says_where_it_looked(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ordinary="def test_ordinary():\n    pass\n")
    result = run(pytester, "--aura-architecture")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --aura-architecture needs an import-linter configuration, but none of "
            f"setup.cfg, .importlinter, pyproject.toml in {pytester.path} has one. Add an "
            "[importlinter] section, or set aura_importlinter_config."
        ]
    )


def test_a_contract_that_cannot_run_fails_with_the_reason(project: pytest.Pytester) -> None:
    (project.path / "layers.ini").write_text(
        "[importlinter]\nroot_package = depot\n\n"
        "[importlinter:contract:layered]\nname = depot is layered\ntype = layers\n"
        "layers =\n    depot.modules\n    depot.missing\n"
    )
    project.makeini("[pytest]\naura_importlinter_config = layers.ini\n")
    result = run(project, "--aura-architecture")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            f"Contract 'depot is layered' (layered) in {project.path / 'layers.ini'} could not "
            "be checked: ValueError: Missing layer 'depot.missing': module depot.missing does "
            "not exist.",
        ]
    )


def test_a_configured_file_that_does_not_exist_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makeini("[pytest]\naura_importlinter_config = lint/imports.ini\n")
    result = run(project, "--aura-architecture")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: aura_importlinter_config is 'lint/imports.ini', but "
            f"{project.path / 'lint' / 'imports.ini'} does not exist. Give a path relative to "
            "the rootdir."
        ]
    )


def test_a_configured_file_without_contracts_is_a_usage_error(project: pytest.Pytester) -> None:
    (project.path / "lint.cfg").write_text("[flake8]\nmax-line-length = 100\n")
    project.makeini("[pytest]\naura_importlinter_config = lint.cfg\n")
    result = run(project, "--aura-architecture")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"ERROR: No import-linter configuration in {project.path / 'lint.cfg'}: expected an "
            "[importlinter] section (or [tool.importlinter] in pyproject.toml). Add one, or "
            "point to the file that has it."
        ]
    )

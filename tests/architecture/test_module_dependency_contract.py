"""Aura's import-linter contract type: string coupling checked against declarations."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aura.architecture.linting import ImportContracts
from aura.exceptions import ConfigurationError

from .depot import BROKEN, CLEAN, write_project

SHIPPING_INIT = "depot/modules/shipping/__init__.py"
STOCK_INIT = "depot/modules/stock/__init__.py"
STOCK_DOMAIN = "depot/modules/stock/domain.py"


def check(pytester: pytest.Pytester, files: dict[str, str]) -> tuple[bool, str]:
    write_project(pytester, files)
    result = ImportContracts(pytester.path / ".importlinter").check("declared")
    return result.kept, result.report


def test_a_project_that_declares_what_it_uses_keeps_the_contract(
    pytester: pytest.Pytester,
) -> None:
    assert check(pytester, CLEAN) == (True, "")


def test_undeclared_lookups_and_unpublished_subscriptions_are_reported_with_their_place(
    pytester: pytest.Pytester,
) -> None:
    kept, report = check(pytester, BROKEN)
    assert not kept
    assert report == (
        "Service lookups of undeclared modules:\n\n"
        "- [undeclared-dependency] depot/modules/billing/__init__.py:17: billing looks up "
        "shipping.Shipping, but does not declare 'shipping' in depends_on.\n"
        "  Fix: Add 'shipping' to depends_on of module 'billing', or react to shipping's events "
        "instead of calling it.\n\n"
        "Subscriptions to events no module publishes:\n\n"
        "- [event-without-publisher] depot/modules/billing/__init__.py:8: billing subscribes to "
        "'parcel.lost', which no module declares it publishes. Did you mean 'parcel.shipped'?\n"
        "  Fix: Add publishes('parcel.lost') to the declaration of the module that publishes it, "
        "or correct the event type."
    )


def test_a_lookup_of_no_module_names_the_closest_one(pytester: pytest.Pytester) -> None:
    files = {
        **CLEAN,
        "depot/modules/shipping/application.py": CLEAN[
            "depot/modules/shipping/application.py"
        ].replace('STOCK = "stock"', 'STOCK = "stok"'),
    }
    assert check(pytester, files)[1] == (
        "Service lookups of undeclared modules:\n\n"
        "- [unknown-module] depot/modules/shipping/application.py:14: shipping looks up "
        "stok.Stock, but no module is named 'stok'. Did you mean 'stock'?\n"
        "  Fix: Look up one of the modules: shipping, stock."
    )


def test_a_cycle_of_service_dependencies_is_reported_as_its_path(
    pytester: pytest.Pytester,
) -> None:
    files = {
        **CLEAN,
        STOCK_INIT: CLEAN[STOCK_INIT].replace(
            'Module("stock",', 'Module("stock", depends_on=["shipping"],'
        ),
        STOCK_DOMAIN: CLEAN[STOCK_DOMAIN]
        + '\n\ndef restock(registry):\n    registry.get_service("shipping", "Shipping")\n',
    }
    assert check(pytester, files)[1] == (
        "Cycles of service dependencies:\n\n"
        "- [dependency-cycle] Modules depend on each other in a cycle: shipping -> stock -> "
        "shipping.\n"
        "  Fix: Break the cycle: let one of these modules react to another's events instead of "
        "calling its services, and remove that entry from depends_on."
    )


def test_a_container_lookup_of_another_modules_service_counts_as_a_lookup(
    pytester: pytest.Pytester,
) -> None:
    restock = (
        "\n\ndef restock(container):\n"
        '    container.resolve("shipping")\n'
        '    container.resolve("stock.Stock")  # its own service: no dependency\n'
    )
    assert check(pytester, {**CLEAN, STOCK_DOMAIN: CLEAN[STOCK_DOMAIN] + restock})[1] == (
        "Service lookups of undeclared modules:\n\n"
        "- [undeclared-dependency] depot/modules/stock/domain.py:12: stock looks up "
        "shipping.Shipping, but does not declare 'shipping' in depends_on.\n"
        "  Fix: Add 'shipping' to depends_on of module 'stock', or react to shipping's events "
        "instead of calling it.\n\n"
        "Cycles of service dependencies:\n\n"
        "- [dependency-cycle] Modules depend on each other in a cycle: shipping -> stock -> "
        "shipping.\n"
        "  Fix: Break the cycle: let one of these modules react to another's events instead of "
        "calling its services, and remove that entry from depends_on."
    )


def test_lint_imports_alone_enforces_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester, BROKEN)
    monkeypatch.setenv("COLUMNS", "200")  # import-linter wraps its output at the terminal width
    result = pytester.run(Path(sys.executable).parent / "lint-imports", "--no-cache")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "depot modules declare what they look up and subscribe to BROKEN",
            "*",
            "Service lookups of undeclared modules:",
            "",
            # fnmatch reads "[" as a character class: "[[]" is a literal one.
            "- [[]undeclared-dependency] depot/modules/billing/__init__.py:17: billing looks up *",
        ],
        consecutive=False,
    )


# --- configuration errors ------------------------------------------------------------------------

CONTRACT = "Contract 'depot modules declare what they look up and subscribe to' (declared)"


def test_a_modules_package_that_does_not_exist_is_named(pytester: pytest.Pytester) -> None:
    config = CLEAN[".importlinter"].replace("= depot.modules\n", "= depot.moduls\n")
    write_project(pytester, {**CLEAN, ".importlinter": config})
    path = pytester.path / ".importlinter"
    with pytest.raises(ConfigurationError) as caught:
        ImportContracts(path).check("declared")
    assert str(caught.value) == (
        f"{CONTRACT} in {path} could not be checked: ConfigurationError: The modules package "
        "'depot.moduls' (from the contract's `modules`) is not in the import graph: name a "
        "package inside one of root_packages, or add its root package to root_packages."
    )


def test_a_module_that_fails_to_import_is_named_with_its_error(pytester: pytest.Pytester) -> None:
    failing = {"depot/modules/audit/__init__.py": "raise RuntimeError('no audit log')\n"}
    write_project(pytester, {**CLEAN, **failing})
    path = pytester.path / ".importlinter"
    with pytest.raises(ConfigurationError) as caught:
        ImportContracts(path).check("declared")
    assert str(caught.value) == (
        f"{CONTRACT} in {path} could not be checked: ValueError: Cannot import "
        "depot.modules.audit to read its module declaration: RuntimeError: no audit log"
    )


def _without_modules_line(files: dict[str, str]) -> dict[str, str]:
    config = files[".importlinter"].replace(
        "type = module_dependencies\nmodules = depot.modules\n", "type = module_dependencies\n"
    )
    return {**files, ".importlinter": config}


def test_the_contract_reads_the_modules_from_tool_aura(pytester: pytest.Pytester) -> None:
    files = {
        **_without_modules_line(CLEAN),
        "pyproject.toml": '[tool.aura]\nmodules = "depot.modules"\n',
    }
    assert check(pytester, files) == (True, "")
    broken = {**_without_modules_line(BROKEN), "pyproject.toml": files["pyproject.toml"]}
    assert check(pytester, broken)[0] is False


def test_the_contract_with_no_modules_anywhere_is_a_configuration_error(
    pytester: pytest.Pytester,
) -> None:
    write_project(pytester, _without_modules_line(CLEAN))
    path = pytester.path / ".importlinter"
    with pytest.raises(ConfigurationError) as caught:
        ImportContracts(path).check("declared")
    assert str(caught.value) == (
        f"{CONTRACT} in {path} could not be checked: ConfigurationError: No modules configured: "
        f"Aura found no pyproject.toml in {pytester.path.resolve()} or its parents, and the "
        "contract's `modules` was not given. Say which package holds the modules, in "
        'pyproject.toml:\n\n    [tool.aura]\n    modules = "your_package.modules"\n\nor set '
        "`modules = PACKAGE` in the contract."
    )


def test_a_package_without_declared_modules_breaks_instead_of_passing_vacuously(
    pytester: pytest.Pytester,
) -> None:
    config = CLEAN[".importlinter"].replace("modules = depot.modules\n", "modules = depot\n")
    write_project(pytester, {**CLEAN, ".importlinter": config})
    path = pytester.path / ".importlinter"
    with pytest.raises(ConfigurationError) as caught:
        ImportContracts(path).check("declared")
    assert str(caught.value) == (
        f"{CONTRACT} in {path} could not be checked: ConfigurationError: The modules package "
        "'depot' (from the contract's `modules`) holds no module: none of its subpackages "
        "declares `module = Module(...)`, so there is nothing to check. Declare one in each "
        "module's __init__.py, or point `modules` at the package that holds them."
    )

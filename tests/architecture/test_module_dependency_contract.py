"""Aura's import-linter contract type: the module map's checks, run by ``lint-imports``."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from aura.architecture.linting import ImportContracts
from aura.exceptions import ConfigurationError

from .depot import BROKEN, CLEAN, write_project

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


def test_each_violation_is_one_line_with_its_place_under_the_title_of_its_rule(
    pytester: pytest.Pytester,
) -> None:
    assert check(pytester, BROKEN) == (
        False,
        "Uses of modules not declared in depends_on:\n\n"
        "depot/modules/billing/__init__.py:17: billing uses shipping.Shipping "
        "(self.registry.get_service); billing does not declare 'shipping' in depends_on: add it "
        "(depot/modules/billing/__init__.py:5), or react to the events of shipping instead of "
        "calling it\n\n"
        "Imports of another module's internals:\n\n"
        "depot/modules/shipping/application.py:3: shipping uses depot.modules.stock.domain; "
        "depot.modules.stock.domain is internal to stock, which publishes depot.modules.stock: "
        "import from there, or add 'domain' to interface of stock "
        "(depot/modules/stock/__init__.py:5)\n\n"
        "Subscriptions to events no module publishes:\n\n"
        "depot/modules/billing/__init__.py:8: billing subscribes to parcel.lost; no module "
        "declares it publishes 'parcel.lost': correct the event type, or declare it in the "
        "publishing module's publishes. Did you mean 'parcel.shipped'?\n\n"
        "Dependencies declared but never used:\n\n"
        "depot/modules/billing/__init__.py:5: billing declares depends_on 'stock', but its code "
        "never uses stock (no import, service lookup or coupling); remove 'stock' from "
        "depends_on of billing (depot/modules/billing/__init__.py:5); a module needs no "
        "dependency to subscribe to another module's events",
    )


def test_the_violations_are_data_with_their_identity(pytester: pytest.Pytester) -> None:
    write_project(pytester, BROKEN)
    result = ImportContracts(pytester.path / ".importlinter").check("declared")
    assert [finding.identity for finding in result.violations] == [
        "import contract declared: event-without-publisher billing parcel.lost",
        "import contract declared: undeclared-dependency billing shipping Shipping",
        "import contract declared: unused-dependency billing stock",
        "import contract declared: internal-import shipping depot.modules.stock.domain",
    ]


def test_a_cycle_between_modules_is_reported_as_its_path(pytester: pytest.Pytester) -> None:
    files = {
        **CLEAN,
        STOCK_INIT: CLEAN[STOCK_INIT].replace(
            'Module("stock",', 'Module("stock", depends_on=["shipping"],'
        ),
        STOCK_DOMAIN: CLEAN[STOCK_DOMAIN]
        + '\n\ndef restock(registry):\n    registry.get_service("shipping", "Shipping")\n',
    }
    assert check(pytester, files) == (
        False,
        "Cycles between modules:\n\n"
        "shipping: modules shipping, stock depend on each other: shipping -> stock -> shipping; "
        "break the cycle (shipping -> stock: depot/modules/shipping/application.py:14; stock -> "
        "shipping: depot/modules/stock/domain.py:12): let one module react to another's events, "
        "or move the shared code into a module both depend on",
    )


def test_the_project_is_read_never_imported(pytester: pytest.Pytester) -> None:
    # A package whose import fails (or would start a server): the contract never runs it.
    failing = {
        "depot/modules/audit/__init__.py": "raise RuntimeError('no audit log')\n",
        "depot/modules/shipping/__main__.py": "raise SystemExit('the server started')\n",
    }
    assert check(pytester, {**CLEAN, **failing}) == (True, "")
    assert "depot.modules.audit" not in sys.modules


# --- a codebase not written on Aura: [tool.aura.boundaries] --------------------------------------

SHOP_CONFIG = """\
[importlinter]
root_packages =
    shop
contract_types =
    module_dependencies: aura.architecture.contracts.ModuleDependencyContract

[importlinter:contract:declared]
name = shop modules use only what they declare
type = module_dependencies
"""

SHOP = {
    ".importlinter": SHOP_CONFIG,
    "pyproject.toml": """\
[tool.aura.boundaries.modules.users]
package = "shop.users"
labels = ["accounts"]

[tool.aura.boundaries.modules.orders]
package = "shop.orders"

[[tool.aura.boundaries.couplings]]
call = "apps.get_model"
pattern = '^(?P<module>\\w+)\\.'
""",
    "shop/__init__.py": "",
    "shop/users/__init__.py": "class User: ...\n",
    # A folder without __init__.py: a namespace package, invisible to grimp's graph.
    "shop/orders/checkout/cart.py": "from shop.users import User\n",
    "shop/orders/models.py": (
        'from django.apps import apps\n\nCustomer = apps.get_model("accounts.Customer")\n'
    ),
}


def test_imports_from_namespace_packages_and_string_couplings_break_it(
    pytester: pytest.Pytester,
) -> None:
    assert check(pytester, SHOP) == (
        False,
        "Uses of modules not declared in depends_on:\n\n"
        "shop/orders/checkout/cart.py:1: orders uses shop.users; orders does not declare "
        "'users' in depends_on: add it (pyproject.toml [tool.aura.boundaries.modules.orders]), "
        "or stop importing users\n"
        "shop/orders/models.py:3: orders uses accounts.Customer (apps.get_model); orders does "
        "not declare 'users' in depends_on: add it (pyproject.toml "
        "[tool.aura.boundaries.modules.orders]), or stop using users",
    )
    declared = SHOP["pyproject.toml"].replace(
        'package = "shop.orders"\n', 'package = "shop.orders"\ndepends_on = ["users"]\n'
    )
    assert check(pytester, {**SHOP, "pyproject.toml": declared}) == (True, "")


def test_lint_imports_alone_enforces_it(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_project(pytester, BROKEN)
    monkeypatch.setenv("COLUMNS", "400")  # import-linter wraps its output at the terminal width
    result = pytester.run(Path(sys.executable).parent / "lint-imports", "--no-cache")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "depot modules declare what they look up and subscribe to BROKEN",
            "*",
            "Uses of modules not declared in depends_on:",
            "",
            "depot/modules/billing/__init__.py:17: billing uses shipping.Shipping *",
        ],
        consecutive=False,
    )


def test_lint_imports_prints_a_map_error_with_its_table_names(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """import-linter prints errors as rich markup: the brackets of the table names survive."""
    write_project(pytester, BROKEN)
    pyproject = pytester.path / "pyproject.toml"
    pyproject.write_text(
        '[tool.aura.boundaries.modules.stray]\npackage = "depot"\ndepend_on = []\n'
    )
    monkeypatch.setenv("COLUMNS", "400")
    result = pytester.run(Path(sys.executable).parent / "lint-imports", "--no-cache")
    assert result.ret == 1
    result.stdout.fnmatch_lines(
        [
            "Unknown key 'depend_on' in [tool.aura.boundaries.modules.stray] in "
            f"{pyproject}. Known keys: depends_on, interface, labels, layers, package, "
            "publishes. Did you mean 'depends_on'?"
        ]
    )


# --- configuration errors ------------------------------------------------------------------------

CONTRACT = "Contract 'depot modules declare what they look up and subscribe to' (declared)"
EXAMPLE = (
    ". Declare each module's package and dependencies:\n\n"
    "    [tool.aura.boundaries.modules.billing]\n"
    '    package = "shop.billing"\n'
    '    depends_on = ["users"]\n\n'
    "or declare `module = Module(...)` in each module's __init__.py and set `modules` in "
    "[tool.aura]."
)


def _checked_with(pytester: pytest.Pytester, files: dict[str, str]) -> str:
    write_project(pytester, files)
    path = pytester.path / ".importlinter"
    with pytest.raises(ConfigurationError) as caught:
        ImportContracts(path).check("declared")
    return str(caught.value)


def _modules_line(files: dict[str, str], line: str) -> dict[str, str]:
    config = files[".importlinter"].replace("modules = depot.modules\n", line)
    return {**files, ".importlinter": config}


def test_a_package_without_declared_modules_breaks_instead_of_passing_vacuously(
    pytester: pytest.Pytester,
) -> None:
    path = pytester.path / ".importlinter"
    assert _checked_with(pytester, _modules_line(CLEAN, "modules = depot\n")) == (
        f"{CONTRACT} in {path} could not be checked: ConfigurationError: No modules to check: "
        "[tool.aura.boundaries] declares none and no Module(...) was found in the packages "
        f"under 'depot'{EXAMPLE}"
    )


def test_a_modules_package_that_does_not_exist_is_named(pytester: pytest.Pytester) -> None:
    path = pytester.path / ".importlinter"
    assert _checked_with(pytester, _modules_line(CLEAN, "modules = depot.moduls\n")) == (
        f"{CONTRACT} in {path} could not be checked: ConfigurationError: The modules package "
        "'depot.moduls' (the given modules package) is not in the project: there is no folder "
        "depot/moduls. Correct the package name, or add the folder that holds it to "
        "source_roots in [tool.aura.boundaries]."
    )


def test_the_contract_reads_the_modules_from_tool_aura(pytester: pytest.Pytester) -> None:
    pyproject = {"pyproject.toml": '[tool.aura]\nmodules = "depot.modules"\n'}
    assert check(pytester, {**_modules_line(CLEAN, ""), **pyproject}) == (True, "")
    assert check(pytester, {**_modules_line(BROKEN, ""), **pyproject})[0] is False


def test_the_contract_with_no_modules_anywhere_is_a_configuration_error(
    pytester: pytest.Pytester,
) -> None:
    path = pytester.path / ".importlinter"
    assert _checked_with(pytester, _modules_line(CLEAN, "")) == (
        f"{CONTRACT} in {path} could not be checked: ConfigurationError: No modules to check: "
        f"[tool.aura.boundaries] declares none{EXAMPLE}"
    )

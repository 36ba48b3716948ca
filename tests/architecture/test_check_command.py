"""``aura check``: the module map's checks, import contracts and platform verification, every
violation on one line, with baselines."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pytest

from aura.architecture.commands import add_check_arguments, run_check
from aura.cli import main
from aura.findings import Finding, render_line
from aura.platform import Platform

from .depot import BROKEN, CLEAN, write_project

# --- the depot: Aura modules, an import-linter configuration, the platform verified ------------

SKIPPED_CONTRACT = (
    "Import contract 'declared' (module_dependencies) not run: aura check runs the same module "
    "map checks itself."
)

# Every line starts with a place: a finding without a line of its own is placed where its
# module is declared (the unused dependency, the verification's problems), or its import
# contract configured (the chain), as in the SARIF log.
BROKEN_REPORT = f"""\
{SKIPPED_CONTRACT}
.importlinter:8: import contract independent: depot.modules.shipping.application -> \
depot.modules.stock.domain (l.3)
depot/modules/billing/__init__.py:5: billing declares depends_on 'stock', but its code never \
uses stock (no import, service lookup or coupling); remove 'stock' from depends_on of billing \
(depot/modules/billing/__init__.py:5); a module needs no dependency to subscribe to another \
module's events
depot/modules/billing/__init__.py:8: billing subscribes to parcel.lost; no module declares it \
publishes 'parcel.lost': correct the event type, or declare it in the publishing module's \
publishes. Did you mean 'parcel.shipped'?
depot/modules/billing/__init__.py:8: billing subscribes depot.modules.billing.refund to \
'parcel.lost', which has no event contract. Did you mean 'parcel.shipped'?; declare the event \
with @event_contract('parcel.lost') on a dataclass in the platform's contracts, or correct the \
event type
depot/modules/billing/__init__.py:17: billing uses shipping.Shipping \
(self.registry.get_service); billing does not declare 'shipping' in depends_on: add it \
(depot/modules/billing/__init__.py:5), or react to the events of shipping instead of calling it
depot/modules/billing/__init__.py:23: service billing.Ledger (Ledger) does not implement \
LedgerContract: missing method total(self) -> 'int'; implement every method of LedgerContract \
with the contract's signature
depot/modules/shipping/application.py:3: shipping uses depot.modules.stock.domain; \
depot.modules.stock.domain is internal to stock, which publishes depot.modules.stock: import \
from there, or add 'domain' to interface of stock (depot/modules/stock/__init__.py:5)
aura check: 7 violations in 3 modules (5 files) and 1 import contract.
"""

BASELINE = [
    "import contract independent: depot.modules.shipping.application -> depot.modules.stock.domain",
    "module map: event-without-publisher billing parcel.lost",
    "module map: internal-import shipping depot.modules.stock.domain",
    "module map: undeclared-dependency billing shipping Shipping",
    "module map: unused-dependency billing stock",
    "platform verification: contract-not-implemented billing Ledger",
    "platform verification: event-without-contract billing parcel.lost",
]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # The same process imports the project again after each edit: no stale bytecode.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    return pytester


def check(project: pytest.Pytester, files: dict[str, str], *args: str) -> tuple[int, str]:
    """Write ``files`` and run ``aura check`` on them in this process, from a fresh import."""
    code, out, err = check_streams(project, files, *args)
    assert err == ""
    return code, out


def check_streams(
    project: pytest.Pytester, files: dict[str, str], *args: str
) -> tuple[int, str, str]:
    """Like :func:`check`; return the status, the standard output and the standard error."""
    for name in [name for name in sys.modules if name.split(".")[0] == "depot"]:
        del sys.modules[name]
    write_project(project, files)
    parser = argparse.ArgumentParser(prog="aura check")
    add_check_arguments(parser)
    out, err = io.StringIO(), io.StringIO()
    code = run_check(parser.parse_args(["--modules", "depot.modules", *args]), out, err)
    return code, out.getvalue(), err.getvalue()


def test_a_clean_project_passes_and_says_what_was_checked(project: pytest.Pytester) -> None:
    assert check(project, CLEAN) == (
        0,
        f"{SKIPPED_CONTRACT}\naura check: no violations in 2 modules (4 files) and 1 import "
        "contract.\n",
    )


def test_every_planted_problem_is_one_line_sorted_by_place_with_its_fix(
    project: pytest.Pytester,
) -> None:
    assert check(project, BROKEN) == (1, BROKEN_REPORT)


def test_the_json_report_carries_every_violation_and_what_was_checked(
    project: pytest.Pytester,
) -> None:
    code, text = check(project, BROKEN, "--format", "json")
    data = json.loads(text)
    assert code == 1
    assert data["ok"] is False
    assert (data["modules"], data["files"], data["import_contracts"]) == (3, 5, 1)
    assert data["notes"] == [SKIPPED_CONTRACT]
    assert sorted(f"{v['source']}: {v['key']}" for v in data["violations"]) == BASELINE
    by_rule = {v["rule"]: v for v in data["violations"]}
    assert by_rule["undeclared-dependency"] == {
        "source": "module map",
        "module": "billing",
        "rule": "undeclared-dependency",
        "subject": "shipping Shipping",
        "key": "undeclared-dependency billing shipping Shipping",
        "message": "billing uses shipping.Shipping (self.registry.get_service)",
        "fix": "billing does not declare 'shipping' in depends_on: add it "
        "(depot/modules/billing/__init__.py:5), or react to the events of shipping instead of "
        "calling it",
        "location": "depot/modules/billing/__init__.py:17",
        "baselined": False,
    }
    assert by_rule[""] == {
        "source": "import contract independent",
        "module": "",
        "rule": "",
        "subject": "",
        "key": "depot.modules.shipping.application -> depot.modules.stock.domain",
        "message": "depot.modules.shipping.application -> depot.modules.stock.domain (l.3)",
        "fix": "",
        "location": ".importlinter:8",  # where the contract is configured
        "baselined": False,
    }


def test_a_platform_that_cannot_be_built_is_a_violation(project: pytest.Pytester) -> None:
    stock = CLEAN["depot/modules/stock/__init__.py"].replace(
        'Module("stock",', 'Module("stock", depends_on=["shipping"],'
    )
    code, text = check(project, {**CLEAN, "depot/modules/stock/__init__.py": stock})
    assert code == 1
    # Neither has a line of its own: the cycle is placed at its first module's declaration, and
    # so is the platform's error, which names no module (the project has no pyproject.toml).
    assert text.splitlines()[-4:] == [
        "depot/modules/shipping/__init__.py:4: modules shipping, stock depend on each other: "
        "shipping -> stock -> shipping; break the cycle (shipping -> stock: "
        "depot/modules/shipping/application.py:14; stock -> shipping: declared in "
        "depot/modules/stock/__init__.py:5): let one module react to another's events, or move "
        "the shared code into a module both depend on",
        "depot/modules/shipping/__init__.py:4: the platform cannot be built: Modules depend on "
        "each other in a cycle: shipping -> stock -> shipping. Break it: let one of them react "
        "to the other's events instead of calling it",
        "depot/modules/stock/__init__.py:5: stock declares depends_on 'shipping', but its code "
        "never uses shipping (no import, service lookup or coupling); remove 'shipping' from "
        "depends_on of stock (depot/modules/stock/__init__.py:5); a module needs no dependency "
        "to subscribe to another module's events",
        "aura check: 3 violations in 2 modules (4 files) and 1 import contract.",
    ]


def test_a_dependency_the_running_platform_sees_looked_up_is_not_unused(
    project: pytest.Pytester,
) -> None:
    # stock registers its service through a helper the source scan cannot follow; shipping
    # resolves it by its container name. Only the running platform ties the name to stock.
    files = {
        **{name: text for name, text in CLEAN.items() if name != ".importlinter"},
        "depot/modules/stock/__init__.py": (
            "from aura.module import Module\nfrom depot.modules.stock.wiring import register\n\n"
            'module = Module("stock", description="Counts what is on the shelves.")\n'
            "register(module)\n"
        ),
        "depot/modules/stock/wiring.py": (
            "from depot.contracts import StockContract\n"
            "from depot.modules.stock.domain import Stock\n\n\n"
            'def register(module, name="Stock"):  # the name a variable: not read statically\n'
            "    module.add_service(name, Stock, contract=StockContract)\n"
        ),
        "depot/modules/shipping/application.py": CLEAN["depot/modules/shipping/application.py"]
        .replace('self.registry.get_service(STOCK, "Stock")', 'self.container.resolve("stock")')
        .replace("self.bus = bus", "self.bus = bus\n        self.container = registry"),
    }
    code, text = check(project, files)
    assert (code, text.splitlines()[-1]) == (0, "aura check: no violations in 2 modules (5 files).")


def test_a_platform_that_cannot_be_built_is_never_baselined(project: pytest.Pytester) -> None:
    stock = CLEAN["depot/modules/stock/__init__.py"].replace(
        'Module("stock",', 'Module("stock", depends_on=["shipping"],'
    )
    files = {**CLEAN, "depot/modules/stock/__init__.py": stock}
    code, text = check(project, files, "--baseline", "arch.json", "--update-baseline")
    assert (code, text) == (
        2,
        "aura check: error: The platform cannot be built: Modules depend on each other in a "
        "cycle: shipping -> stock -> shipping. Break it: let one of them react to the other's "
        "events instead of calling it. A baseline would accept that the platform's "
        "verification did not run, and it would stay off without a failure. Fix the build, or "
        "pass --static to record the static checks alone. Nothing was written.\n",
    )
    assert not (project.path / "arch.json").exists()
    # A baseline that lists it anyway (written by hand, or by an older Aura) does not accept it.
    check(project, files, "--static", "--baseline", "arch.json", "--update-baseline")
    recorded = json.loads((project.path / "arch.json").read_text())
    recorded["violations"].append(
        "platform verification: platform-build stock the platform cannot be built"
    )
    (project.path / "arch.json").write_text(json.dumps(recorded))
    code, text = check(project, files, "--baseline", "arch.json")
    assert code == 1
    assert "1 new violation" in text.splitlines()[-1]


def test_without_an_import_linter_configuration_the_map_and_the_platform_are_checked(
    project: pytest.Pytester,
) -> None:
    files = {name: text for name, text in CLEAN.items() if name != ".importlinter"}
    assert check(project, files) == (
        0,
        "No import-linter configuration found: import contracts not checked.\n"
        "aura check: no violations in 2 modules (4 files).\n",
    )


# --- a platform that cannot be imported: the map's findings still print -------------------------

# The map's findings on the depot with an internal import planted (the import contract sees it
# too), before the platform's.
INTERNAL_IMPORT = {
    **CLEAN,
    "depot/modules/shipping/application.py": BROKEN["depot/modules/shipping/application.py"],
}
STATIC_LINES = [
    ".importlinter:8: import contract independent: depot.modules.shipping.application -> "
    "depot.modules.stock.domain (l.3)",
    "depot/modules/shipping/application.py:3: shipping uses depot.modules.stock.domain; "
    "depot.modules.stock.domain is internal to stock, which publishes depot.modules.stock: "
    "import from there, or add 'domain' to interface of stock (depot/modules/stock/__init__.py:6)",
]
BUILD_FIX = (
    "install the project's dependencies where aura check runs, or pass --static to check the "
    "module map only (nothing is imported)"
)


def stock_starting_with(line: str) -> dict[str, str]:
    """The depot with ``line`` first in stock's ``__init__.py`` (its Module(...) is on line 6)."""
    stock = "depot/modules/stock/__init__.py"
    return {**INTERNAL_IMPORT, stock: f"{line}\n" + CLEAN[stock].lstrip("\n")}


def test_a_missing_dependency_is_one_finding_at_the_module_that_imports_it(
    project: pytest.Pytester,
) -> None:
    files = stock_starting_with("import warehouse_sdk")
    assert check(project, files) == (
        1,
        "\n".join(
            [
                SKIPPED_CONTRACT,
                *STATIC_LINES,
                "depot/modules/stock/__init__.py:6: the platform cannot be built: importing the "
                "modules raised ModuleNotFoundError: No module named 'warehouse_sdk' (at "
                f"depot/modules/stock/__init__.py:1); {BUILD_FIX}",
                "aura check: 3 violations in 2 modules (4 files) and 1 import contract.\n",
            ]
        ),
    )
    code, text = check(project, files, "--format", "json")
    (built,) = [v for v in json.loads(text)["violations"] if v["rule"] == "platform-build"]
    assert (code, built["source"], built["module"], built["location"]) == (
        1,
        "platform verification",
        "stock",
        "depot/modules/stock/__init__.py:6",
    )


def test_an_import_that_fails_inside_an_installed_module_is_not_told_to_install_it(
    project: pytest.Pytester,
) -> None:
    # shipping imports stock, which imports from shipping, still half-imported: a cycle.
    files = stock_starting_with("from depot.modules.shipping import nothing_there")
    code, text = check(project, files)
    line = text.splitlines()[-2]
    assert code == 1
    assert line.startswith(
        "depot/modules/stock/__init__.py:6: the platform cannot be built: importing the "
        "modules raised ImportError: cannot import name 'nothing_there' from partially "
        "initialized module 'depot.modules.shipping' (most likely due to a circular import)"
    )
    assert line.endswith(
        "(at depot/modules/stock/__init__.py:1); the module exists but the import failed inside "
        "it (an import cycle in the project's code, or a name it does not define): fix that "
        "import, or pass --static"
    )


def test_a_module_that_exits_while_imported_is_a_finding_and_its_output_goes_to_stderr(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    files = stock_starting_with('print("serving on :8000")\nraise SystemExit("IMPORTED")')
    code, text = check(project, files)
    assert (code, text.splitlines()[-2:]) == (
        1,
        [
            "depot/modules/stock/__init__.py:7: the platform cannot be built: importing the "
            "modules raised SystemExit: IMPORTED (at depot/modules/stock/__init__.py:2); "
            f"{BUILD_FIX}",
            "aura check: 3 violations in 2 modules (4 files) and 1 import contract.",
        ],
    )
    assert capsys.readouterr() == ("", "serving on :8000\n")  # the report's stream stays pure


def test_static_checks_the_map_only_and_imports_nothing(project: pytest.Pytester) -> None:
    files = stock_starting_with('raise RuntimeError("aura check --static imported the depot")')
    assert check(project, files, "--static") == (
        1,
        "\n".join(
            [
                SKIPPED_CONTRACT,
                "Platform verification skipped: --static checks the module map only, so no "
                "platform was built (nothing was imported).",
                *STATIC_LINES,
                "aura check: 2 violations in 2 modules (4 files) and 1 import contract.\n",
            ]
        ),
    )
    assert not any(name.split(".")[0] == "depot" for name in sys.modules)


# --- one line per finding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("finding", "line"),
    [
        (
            Finding(message="billing uses shop.users.domain", fix="import from shop.users",
                    module="billing", location="shop/billing/domain.py:3"),
            "shop/billing/domain.py:3: billing uses shop.users.domain; import from shop.users",
        ),
        (
            Finding(module="billing", message="Service billing.Ledger does not implement "
                    "LedgerContract: missing total.", fix="Implement every method."),
            "billing: service billing.Ledger does not implement LedgerContract: missing total; "
            "implement every method",
        ),
        (
            Finding(source="import contract independent", message="a.b -> c.d (l.3)"),
            "import contract independent: a.b -> c.d (l.3)",
        ),
        (
            Finding(source="import contract independent", message="a.b -> c.d (l.3)",
                    location=".importlinter:7"),
            ".importlinter:7: import contract independent: a.b -> c.d (l.3)",
        ),
        (
            Finding(source="platform verification", message="The platform cannot be built: "
                    "No modules:\n\n    [tool.aura]\n    modules = 'x'\n\nor pass --modules."),
            "platform verification: the platform cannot be built: No modules: [tool.aura] "
            "modules = 'x' or pass --modules",
        ),
        (Finding(message="LedgerContract is missing..."), "LedgerContract is missing..."),
    ],
)  # fmt: skip
def test_every_finding_renders_as_one_line(finding: Finding, line: str) -> None:
    assert render_line(finding) == line


# --- baselines -----------------------------------------------------------------------------------


def test_update_baseline_records_todays_violations(project: pytest.Pytester) -> None:
    assert check(project, BROKEN, "--baseline", "arch.json", "--update-baseline") == (
        0,
        "aura check: recorded 7 violations in arch.json.\n",
    )
    baseline = json.loads((project.path / "arch.json").read_text())
    assert baseline == {"aura_check_baseline": 1, "violations": BASELINE}


def test_a_baseline_written_when_the_platform_judged_unused_dependencies_still_holds(
    project: pytest.Pytester,
) -> None:
    # Before the module map judged every module's dependencies, the platform's verification
    # did, and baselines recorded that source.
    old = [
        entry.replace("module map: unused-dependency", "platform verification: unused-dependency")
        for entry in BASELINE
    ]
    (project.path / "arch.json").write_text(
        json.dumps({"aura_check_baseline": 1, "violations": old}), encoding="utf-8"
    )
    assert check(project, BROKEN, "--baseline", "arch.json") == (
        0,
        f"{SKIPPED_CONTRACT}\naura check: 0 new violations (7 baselined, 0 fixed in the "
        "baseline) in 3 modules (5 files) and 1 import contract.\n",
    )


def test_with_a_baseline_only_new_violations_fail(project: pytest.Pytester) -> None:
    check(project, BROKEN, "--baseline", "arch.json", "--update-baseline")
    assert check(project, BROKEN, "--baseline", "arch.json") == (
        0,
        f"{SKIPPED_CONTRACT}\naura check: 0 new violations (7 baselined, 0 fixed in the "
        "baseline) in 3 modules (5 files) and 1 import contract.\n",
    )
    stock = CLEAN["depot/modules/stock/domain.py"] + (
        '\n\ndef listen(bus):\n    bus.subscribe("parcel.returned", print, "stock")\n'
    )
    code, text = check(
        project, {**BROKEN, "depot/modules/stock/domain.py": stock}, "--baseline", "arch.json"
    )
    assert code == 1
    assert text.splitlines()[1:] == [
        "depot/modules/stock/domain.py:12: stock subscribes to parcel.returned; no module "
        "declares it publishes 'parcel.returned': correct the event type, or declare it in the "
        "publishing module's publishes. Did you mean 'parcel.shipped'?",
        "aura check: 1 new violation (7 baselined, 0 fixed in the baseline) in 3 modules "
        "(5 files) and 1 import contract.",
    ]


def test_a_moved_violation_keeps_its_identity(project: pytest.Pytester) -> None:
    check(project, BROKEN, "--baseline", "arch.json", "--update-baseline")
    billing = "depot/modules/billing/__init__.py"
    moved = {**BROKEN, billing: "\n\n\n" + BROKEN[billing]}  # every line three further down
    assert check(project, moved, "--baseline", "arch.json")[0] == 0


def test_a_fixed_violation_still_in_the_baseline_fails_until_the_baseline_shrinks(
    project: pytest.Pytester,
) -> None:
    check(project, BROKEN, "--baseline", "arch.json", "--update-baseline")
    fixed = {
        **BROKEN,
        "depot/modules/shipping/application.py": CLEAN["depot/modules/shipping/application.py"],
    }
    assert check(project, fixed, "--baseline", "arch.json") == (
        1,
        f"{SKIPPED_CONTRACT}\n"
        "Fixed, but still in the baseline (rewrite it with --update-baseline):\n"
        "  - import contract independent: depot.modules.shipping.application -> "
        "depot.modules.stock.domain\n"
        "  - module map: internal-import shipping depot.modules.stock.domain\n"
        "aura check: 0 new violations (5 baselined, 2 fixed in the baseline) in 3 modules "
        "(5 files) and 1 import contract.\n",
    )
    check(project, fixed, "--baseline", "arch.json", "--update-baseline")
    assert json.loads(Path(project.path / "arch.json").read_text())["violations"] == [
        entry
        for entry in BASELINE
        if not entry.startswith(("import contract independent", "module map: internal-import"))
    ]
    assert check(project, fixed, "--baseline", "arch.json")[0] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--update-baseline",),
            "aura check: error: --update-baseline needs --baseline FILE.\n",
        ),
        (
            ("--baseline", "missing.json"),
            "aura check: error: Baseline file missing.json does not exist. Create it with "
            "`aura check --baseline missing.json --update-baseline`.\n",
        ),
    ],
)
def test_usage_errors_exit_with_2_and_say_what_to_do(
    project: pytest.Pytester, args: tuple[str, ...], message: str
) -> None:
    assert check(project, CLEAN, *args) == (2, message)


def test_a_baseline_that_is_not_one_is_refused(project: pytest.Pytester) -> None:
    (project.path / "arch.json").write_text('["not", "a", "baseline"]')
    assert check(project, CLEAN, "--baseline", "arch.json") == (
        2,
        "aura check: error: Baseline file arch.json is not an aura check baseline (format 1): "
        'expected {"aura_check_baseline": 1, "violations": [...]}. Rewrite it with '
        "--update-baseline.\n",
    )


def test_a_baseline_or_config_that_cannot_be_read_is_named(project: pytest.Pytester) -> None:
    (project.path / "folder").mkdir()
    assert check(project, CLEAN, "--baseline", "folder") == (
        2,
        "aura check: error: Cannot read the baseline file folder: Is a directory. Pass the JSON "
        "file that `aura check --baseline FILE --update-baseline` writes.\n",
    )
    assert check(project, CLEAN, "--baseline", "folder", "--update-baseline") == (
        2,
        "aura check: error: Cannot write the baseline file folder: it is a folder. Pass the path "
        "of a file, e.g. folder/aura-baseline.json.\n",
    )
    (project.path / "notes.txt").write_text("not an ini file\n")
    assert check(project, CLEAN, "--config", "notes.txt") == (
        2,
        "aura check: error: Cannot read notes.txt as an import-linter configuration "
        "(MissingSectionHeaderError: File contains no section headers. file: '<string>', line: "
        "1 'not an ini file\\n'). Fix it, or pass --config with an INI file that has an "
        "[importlinter] section (setup.cfg, .importlinter) or a pyproject.toml with "
        "[tool.importlinter].\n",
    )


# --- a codebase not written on Aura: the module map alone ----------------------------------------

PYPROJECT = """\
[tool.aura.boundaries]
layers = ["api", "domain"]

[tool.aura.boundaries.modules.users]
package = "shop.users"

[tool.aura.boundaries.modules.billing]
package = "shop.billing"
depends_on = ["users"]
"""

# Importing any module of the shop fails: the checks must read it, never import it.
NOT_IMPORTED = 'raise RuntimeError("the checks imported the project")\n'

SHOP = {
    "pyproject.toml": PYPROJECT,
    "shop/__init__.py": NOT_IMPORTED,
    "shop/users/__init__.py": NOT_IMPORTED + "from shop.users.domain import User\n",
    "shop/users/domain.py": "class User:\n    name = ''\n",
    "shop/billing/__init__.py": NOT_IMPORTED,
    "shop/billing/api.py": "from shop.billing.domain import charge\nfrom shop.users import User\n",
    "shop/billing/domain.py": "def charge(amount: int) -> int:\n    return amount\n",
}

# An import of another module's internals, and a layer importing the layer above it.
PLANTED = {
    **SHOP,
    "shop/billing/domain.py": (
        "from shop.users.domain import User\n"
        "from shop.billing.api import charge as billed\n\n\n"
        "def charge(amount: int) -> int:\n    return amount\n"
    ),
}

PLANTED_LINES = [
    "shop/billing/domain.py:1: billing uses shop.users.domain; shop.users.domain is internal to "
    "users, which publishes shop.users: import from there, or add 'domain' to interface of users "
    "(pyproject.toml [tool.aura.boundaries.modules.users])",
    "shop/billing/domain.py:2: billing.domain uses shop.billing.api; the domain layer is below "
    "api in billing (api > domain): move the code, or depend on an abstraction in a lower layer",
]

SKIPPED_PLATFORM = (
    "Platform verification skipped: neither `modules` in [tool.aura] nor --modules names a "
    "package of Aura modules, so no platform was built (nothing was imported)."
)
NO_CONTRACTS = "No import-linter configuration found: import contracts not checked."


def aura(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], *args: str
) -> tuple[int, str]:
    """Write ``files`` in ``tmp_path`` and run ``aura ARGS`` there; return (status, output)."""
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    return main(list(args), out=out), out.getvalue()


def test_the_map_alone_is_checked_without_importing_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert aura(tmp_path, monkeypatch, SHOP, "check") == (
        0,
        f"{NO_CONTRACTS}\n{SKIPPED_PLATFORM}\naura check: no violations in 2 modules (5 files).\n",
    )
    assert not any(name.split(".")[0] == "shop" for name in sys.modules)


def test_a_planted_violation_is_one_line_with_its_place_and_its_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert aura(tmp_path, monkeypatch, PLANTED, "check") == (
        1,
        "\n".join(
            [
                NO_CONTRACTS,
                SKIPPED_PLATFORM,
                *PLANTED_LINES,
                "aura check: 2 violations in 2 modules (5 files).\n",
            ]
        ),
    )


def test_the_json_report_of_the_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, text = aura(tmp_path, monkeypatch, PLANTED, "check", "--format", "json")
    data = json.loads(text)
    assert code == 1
    assert {key: data[key] for key in ("ok", "modules", "files", "import_contracts")} == {
        "ok": False,
        "modules": 2,
        "files": 5,
        "import_contracts": 0,
    }
    assert data["notes"] == [NO_CONTRACTS, SKIPPED_PLATFORM]
    assert data["violations"][1] == {
        "source": "module map",
        "module": "billing",
        "rule": "layer",
        "subject": "domain shop.billing.api",
        "key": "layer billing domain shop.billing.api",
        "message": "billing.domain uses shop.billing.api",
        "fix": "the domain layer is below api in billing (api > domain): move the code, or "
        "depend on an abstraction in a lower layer",
        "location": "shop/billing/domain.py:2",
        "baselined": False,
    }


def test_a_modules_package_without_aura_modules_skips_the_platform_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {**SHOP, "pyproject.toml": '[tool.aura]\nmodules = "shop"\n\n' + PYPROJECT}
    code, text = aura(tmp_path, monkeypatch, files, "check")
    assert (code, text.splitlines()[1]) == (
        0,
        "Platform verification skipped: no subpackage of 'shop' (from modules in [tool.aura] "
        f"in {tmp_path / 'pyproject.toml'}) declares `module = Module(...)`, so there is no Aura "
        "platform to build (nothing was imported).",
    )


def test_the_map_findings_keep_the_baseline_across_edits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert aura(
        tmp_path, monkeypatch, PLANTED, "check", "--baseline", "arch.json", "--update-baseline"
    ) == (0, "aura check: recorded 2 violations in arch.json.\n")
    assert json.loads((tmp_path / "arch.json").read_text())["violations"] == [
        "module map: internal-import billing shop.users.domain",
        "module map: layer billing domain shop.billing.api",
    ]
    domain = "shop/billing/domain.py"
    moved = {**PLANTED, domain: '"""Charges."""\n\n' + PLANTED[domain]}  # two lines down
    assert aura(tmp_path, monkeypatch, moved, "check", "--baseline", "arch.json") == (
        0,
        f"{NO_CONTRACTS}\n{SKIPPED_PLATFORM}\naura check: 0 new violations (2 baselined, 0 fixed "
        "in the baseline) in 2 modules (5 files).\n",
    )


def test_nothing_to_check_is_an_error_not_a_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {"pyproject.toml": '[project]\nname = "shop"\n', "shop/__init__.py": ""}
    assert aura(tmp_path, monkeypatch, files, "check") == (
        2,
        f"aura check: error: No modules to check: [tool.aura.boundaries] in "
        f"{tmp_path / 'pyproject.toml'} declares none. Declare each module's package and "
        "dependencies:\n\n"
        "    [tool.aura.boundaries.modules.billing]\n"
        '    package = "shop.billing"\n'
        '    depends_on = ["users"]\n\n'
        "or declare `module = Module(...)` in each module's __init__.py and set `modules` in "
        "[tool.aura].\n",
    )


def test_the_import_contracts_run_beside_the_map_but_not_the_map_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    importlinter = """\
[importlinter]
root_packages =
    shop
contract_types =
    module_dependencies: aura.architecture.contracts.ModuleDependencyContract

[importlinter:contract:independent]
name = shop modules are independent
type = independence
modules =
    shop.users
    shop.billing

[importlinter:contract:map]
name = shop modules use only what they declare
type = module_dependencies
"""
    files = {**SHOP, ".importlinter": importlinter}
    assert aura(tmp_path, monkeypatch, files, "check") == (
        1,
        "Import contract 'map' (module_dependencies) not run: aura check runs the same module "
        f"map checks itself.\n{SKIPPED_PLATFORM}\n"
        ".importlinter:7: import contract independent: shop.billing.api -> shop.users (l.2)\n"
        "aura check: 1 violation in 2 modules (5 files) and 1 import contract.\n",
    )
    assert not any(name.split(".")[0] == "shop" for name in sys.modules)


# --- the baseline ratchets: it counts each identity's occurrences --------------------------------

INTERNAL = "module map: internal-import billing shop.users.domain"
LAYER = "module map: layer billing domain shop.billing.api"
# The same import of users' internals as billing/domain.py:1 makes, in another file of billing.
TAX = {**PLANTED, "shop/billing/tax.py": "from shop.users.domain import User\n"}


def test_one_baselined_import_does_not_accept_the_same_import_in_another_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    aura(tmp_path, monkeypatch, PLANTED, "check", "--baseline", "arch.json", "--update-baseline")
    assert aura(tmp_path, monkeypatch, TAX, "check", "--baseline", "arch.json") == (
        1,
        f"{NO_CONTRACTS}\n{SKIPPED_PLATFORM}\n"
        "shop/billing/tax.py:1: billing uses shop.users.domain; shop.users.domain is internal to "
        "users, which publishes shop.users: import from there, or add 'domain' to interface of "
        "users (pyproject.toml [tool.aura.boundaries.modules.users])\n"
        "aura check: 1 new violation (2 baselined, 0 fixed in the baseline) in 2 modules "
        "(6 files).\n",
    )


def test_the_baseline_lists_an_identity_once_per_occurrence_and_shrinks_with_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert aura(
        tmp_path, monkeypatch, TAX, "check", "--baseline", "arch.json", "--update-baseline"
    ) == (0, "aura check: recorded 3 violations in arch.json.\n")
    assert json.loads((tmp_path / "arch.json").read_text()) == {
        "aura_check_baseline": 1,
        "violations": [INTERNAL, INTERNAL, LAYER],
    }
    assert aura(tmp_path, monkeypatch, TAX, "check", "--baseline", "arch.json")[0] == 0
    (tmp_path / "shop/billing/tax.py").unlink()  # one of the two imports is fixed
    assert aura(tmp_path, monkeypatch, PLANTED, "check", "--baseline", "arch.json") == (
        1,
        f"{NO_CONTRACTS}\n{SKIPPED_PLATFORM}\n"
        "Fixed, but still in the baseline (rewrite it with --update-baseline):\n"
        f"  - {INTERNAL} (1 of 2 fixed)\n"
        "aura check: 0 new violations (2 baselined, 1 fixed in the baseline) in 2 modules "
        "(5 files).\n",
    )
    code, text = aura(tmp_path, monkeypatch, PLANTED, "check", "--baseline", "arch.json",
                      "--format", "json")  # fmt: skip
    assert (code, json.loads(text)["fixed_in_baseline"]) == (1, [INTERNAL])


def test_a_baseline_listing_each_identity_once_accepts_one_occurrence_of_each(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As Aura wrote baselines before it counted occurrences: still read, one occurrence each.
    baseline = {"aura_check_baseline": 1, "violations": [INTERNAL, LAYER]}
    (tmp_path / "arch.json").write_text(json.dumps(baseline))
    assert aura(tmp_path, monkeypatch, PLANTED, "check", "--baseline", "arch.json")[0] == 0
    code, text = aura(tmp_path, monkeypatch, TAX, "check", "--baseline", "arch.json")
    assert (code, text.splitlines()[-1]) == (
        1,
        "aura check: 1 new violation (2 baselined, 0 fixed in the baseline) in 2 modules "
        "(6 files).",
    )


# --- errors: on stdout for text, on stderr beside a JSON or SARIF report -------------------------


def aura_streams(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str], *args: str
) -> tuple[int, str, str]:
    """Like :func:`aura`; return the status, the standard output and the standard error."""
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.chdir(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    return main(list(args), out=out, err=err), out.getvalue(), err.getvalue()


MISSING_CONFIG = (
    "aura check: error: --config names nope.ini, which does not exist. Pass the path of the "
    "import-linter configuration, or leave out --config to find it in setup.cfg, .importlinter "
    "or pyproject.toml.\n"
)


def test_a_config_that_does_not_exist_is_named_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert aura_streams(tmp_path, monkeypatch, SHOP, "check", "--config", "nope.ini") == (
        2,
        MISSING_CONFIG,
        "",
    )


@pytest.mark.parametrize("report", ["json", "sarif"])
def test_with_a_json_or_sarif_report_errors_go_to_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, report: str
) -> None:
    args = ("check", "--format", report)
    assert aura_streams(tmp_path, monkeypatch, SHOP, *args, "--config", "nope.ini") == (
        2,
        "",
        MISSING_CONFIG,
    )
    assert aura_streams(tmp_path, monkeypatch, SHOP, *args, "--update-baseline") == (
        2,
        "",
        "aura check: error: --update-baseline needs --baseline FILE.\n",
    )
    assert aura_streams(
        tmp_path, monkeypatch, PLANTED, *args, "--baseline", "arch.json", "--update-baseline"
    ) == (0, "", "aura check: recorded 2 violations in arch.json.\n")
    code, out, err = aura_streams(tmp_path, monkeypatch, PLANTED, *args)
    assert (code, err) == (1, "")
    json.loads(out)  # the report alone


def test_a_module_outside_the_map_is_reported_not_left_unchecked(
    project: pytest.Pytester,
) -> None:
    # The platform verified (as manage.py aura check builds it) has a module whose package the
    # map never read: its code would go unchecked.
    write_project(
        project,
        {
            **CLEAN,
            "audit/__init__.py": "from aura.module import Module\n\nmodule = Module('audit')\n",
        },
    )
    for name in [name for name in sys.modules if name.split(".")[0] in ("depot", "audit")]:
        del sys.modules[name]
    parser = argparse.ArgumentParser(prog="aura check")
    add_check_arguments(parser)
    out = io.StringIO()

    def modules() -> list[object]:
        import audit

        return [*Platform.discover("depot.modules"), audit.module]

    code = run_check(
        parser.parse_args(["--modules", "depot.modules"]), out, io.StringIO(), modules=modules
    )
    assert (code, out.getvalue().splitlines()[1:]) == (
        1,
        [
            "audit/__init__.py:1: 'audit' is a module of the platform, but the "
            "module map does not declare it: its imports and lookups are not checked (those of 2 "
            "modules are); declare it: add [tool.aura.boundaries.modules.audit] with package = "
            "'audit' to pyproject.toml",
            "aura check: 1 violation in 2 modules (4 files) and 1 import contract.",
        ],
    )


def test_the_map_coverage_names_the_right_problem_for_nested_packages(tmp_path: Path) -> None:
    from aura.architecture.commands import _coverage_findings
    from aura.architecture.modulemap import ModuleMap, ModuleSpec
    from aura.module import Module

    def found(specs: list[ModuleSpec], packages: dict[str, str]) -> list[tuple[str, str]]:
        module_map = ModuleMap(root=tmp_path, source_roots=(tmp_path,), modules=tuple(specs))
        modules = {name: Module(name) for name in set(packages.values())}
        return [(f.rule, f.module) for f in _coverage_findings(modules, packages, module_map, {})]

    clinic = ModuleSpec("clinic", "clinic", origins=("map",))
    billing = ModuleSpec("billing", "clinic.billing", origins=("map",))
    # billing's package inside clinic's, billing undeclared: declare it (not "rename clinic")
    assert found([clinic], {"clinic": "clinic", "clinic.billing": "billing"}) == [
        ("unmapped-module", "billing")
    ]
    # billing declared, but an app of it elsewhere sits in clinic's package: checked as clinic's
    assert found(
        [clinic, billing],
        {"clinic": "clinic", "clinic.billing": "billing", "clinic.pay": "billing"},
    ) == [("unmapped-code", "billing")]
    # the same package under two names
    invoicing = ModuleSpec("invoicing", "clinic.billing", origins=("map",))
    assert found([clinic, invoicing], {"clinic": "clinic", "clinic.billing": "billing"}) == [
        ("declaration-conflict", "billing")
    ]
    assert found([clinic, billing], {"clinic": "clinic", "clinic.billing": "billing"}) == []

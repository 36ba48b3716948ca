"""``aura check``: import contracts and platform verification, every violation, with baselines."""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import pytest

from aura.architecture.commands import add_check_arguments, run_check

from .depot import BROKEN, CLEAN, write_project

BROKEN_REPORT = """\
aura check: 6 violations.

import contract declared:
  - [event-without-publisher] depot/modules/billing/__init__.py:8: billing subscribes to \
'parcel.lost', which no module declares it publishes. Did you mean 'parcel.shipped'?
    Fix: Add publishes('parcel.lost') to the declaration of the module that publishes it, or \
correct the event type.
  - [undeclared-dependency] depot/modules/billing/__init__.py:17: billing looks up \
shipping.Shipping, but does not declare 'shipping' in depends_on.
    Fix: Add 'shipping' to depends_on of module 'billing', or react to shipping's events \
instead of calling it.

import contract independent:
  - depot.modules.shipping.application -> depot.modules.stock.domain (l.3)

platform verification:
  - [contract-not-implemented] Service billing.Ledger (Ledger) does not implement \
LedgerContract: missing method total(self) -> 'int'.
    Fix: Implement every method of LedgerContract with the contract's signature.
  - [event-without-contract] billing subscribes depot.modules.billing.refund to 'parcel.lost', \
which has no event contract. Did you mean 'parcel.shipped'?
    Fix: Declare the event with @event_contract('parcel.lost') on a dataclass in the \
platform's contracts, or correct the event type.
  - [unused-dependency] depot/modules/billing/__init__.py: billing declares depends_on 'stock', \
but its code never looks up a service of 'stock'.
    Fix: Remove 'stock' from depends_on of module 'billing'; a module needs no dependency to \
subscribe to another module's events.
"""

BASELINE = [
    "import contract declared: event-without-publisher billing parcel.lost",
    "import contract declared: undeclared-dependency billing shipping",
    "import contract independent: depot.modules.shipping.application -> depot.modules.stock.domain",
    "platform verification: contract-not-implemented billing Ledger",
    "platform verification: event-without-contract billing parcel.lost",
    "platform verification: unused-dependency billing stock",
]


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    # The same process imports the project again after each edit: no stale bytecode.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    return pytester


def check(project: pytest.Pytester, files: dict[str, str], *args: str) -> tuple[int, str]:
    """Write ``files`` and run ``aura check`` on them in this process, from a fresh import."""
    for name in [name for name in sys.modules if name.split(".")[0] == "depot"]:
        del sys.modules[name]
    write_project(project, files)
    parser = argparse.ArgumentParser(prog="aura check")
    add_check_arguments(parser)
    out = io.StringIO()
    code = run_check(parser.parse_args(["--modules", "depot.modules", *args]), out)
    return code, out.getvalue()


def test_a_clean_project_passes(project: pytest.Pytester) -> None:
    assert check(project, CLEAN) == (0, "aura check: no violations.\n")


def test_every_planted_problem_is_listed_once_sorted_with_its_fix(project: pytest.Pytester) -> None:
    assert check(project, BROKEN) == (1, BROKEN_REPORT)


def test_the_json_report_carries_every_violation(project: pytest.Pytester) -> None:
    code, text = check(project, BROKEN, "--format", "json")
    data = json.loads(text)
    assert code == 1
    assert data["ok"] is False
    assert [f"{v['source']}: {v['key']}" for v in data["violations"]] == BASELINE
    assert data["violations"][2] == {
        "source": "import contract independent",
        "module": "",
        "rule": "",
        "subject": "",
        "key": "depot.modules.shipping.application -> depot.modules.stock.domain",
        "message": "depot.modules.shipping.application -> depot.modules.stock.domain (l.3)",
        "fix": "",
        "location": "",
        "baselined": False,
    }
    assert data["violations"][1] == {
        "source": "import contract declared",
        "module": "billing",
        "rule": "undeclared-dependency",
        "subject": "shipping",
        "key": "undeclared-dependency billing shipping",
        "message": "billing looks up shipping.Shipping, but does not declare 'shipping' in "
        "depends_on.",
        "fix": "Add 'shipping' to depends_on of module 'billing', or react to shipping's events "
        "instead of calling it.",
        "location": "depot/modules/billing/__init__.py:17",
        "baselined": False,
    }


def test_a_platform_that_cannot_be_built_is_a_violation(project: pytest.Pytester) -> None:
    stock = CLEAN["depot/modules/stock/__init__.py"].replace(
        'Module("stock",', 'Module("stock", depends_on=["shipping"],'
    )
    code, text = check(project, {**CLEAN, "depot/modules/stock/__init__.py": stock})
    assert code == 1
    assert text.splitlines()[-1] == (
        "  - The platform cannot be built: Modules depend on each other in a cycle: "
        "shipping -> stock -> shipping. Break it: let one of them react to the other's events "
        "instead of calling it."
    )


def test_without_an_import_linter_configuration_only_the_platform_is_verified(
    project: pytest.Pytester,
) -> None:
    files = {name: text for name, text in CLEAN.items() if name != ".importlinter"}
    assert check(project, files) == (
        0,
        "No import-linter configuration found: import contracts not checked.\n"
        "aura check: no violations.\n",
    )


# --- baselines -----------------------------------------------------------------------------------


def test_update_baseline_records_todays_violations(project: pytest.Pytester) -> None:
    assert check(project, BROKEN, "--baseline", "arch.json", "--update-baseline") == (
        0,
        "aura check: recorded 6 violations in arch.json.\n",
    )
    baseline = json.loads((project.path / "arch.json").read_text())
    assert baseline == {"aura_check_baseline": 1, "violations": BASELINE}


def test_with_a_baseline_only_new_violations_fail(project: pytest.Pytester) -> None:
    check(project, BROKEN, "--baseline", "arch.json", "--update-baseline")
    assert check(project, BROKEN, "--baseline", "arch.json") == (
        0,
        "aura check: 0 new violations, 6 baselined, 0 fixed in the baseline.\n",
    )
    stock = CLEAN["depot/modules/stock/domain.py"] + (
        '\n\ndef listen(bus):\n    bus.subscribe("parcel.returned", print, "stock")\n'
    )
    code, text = check(
        project, {**BROKEN, "depot/modules/stock/domain.py": stock}, "--baseline", "arch.json"
    )
    assert (code, text) == (
        1,
        "aura check: 1 new violation, 6 baselined, 0 fixed in the baseline.\n\n"
        "import contract declared:\n"
        "  - [event-without-publisher] depot/modules/stock/domain.py:12: stock subscribes to "
        "'parcel.returned', which no module declares it publishes. Did you mean "
        "'parcel.shipped'?\n"
        "    Fix: Add publishes('parcel.returned') to the declaration of the module that "
        "publishes it, or correct the event type.\n",
    )


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
        "aura check: 0 new violations, 5 baselined, 1 fixed in the baseline.\n\n"
        "Fixed, but still in the baseline (rewrite it with --update-baseline):\n"
        "  - import contract independent: depot.modules.shipping.application -> "
        "depot.modules.stock.domain\n",
    )
    check(project, fixed, "--baseline", "arch.json", "--update-baseline")
    assert json.loads(Path(project.path / "arch.json").read_text())["violations"] == [
        entry for entry in BASELINE if not entry.startswith("import contract independent")
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


def test_the_modules_flag_reaches_the_contract_that_does_not_name_them(
    pytester: pytest.Pytester,
) -> None:
    config = CLEAN[".importlinter"].replace(
        "type = module_dependencies\nmodules = depot.modules\n", "type = module_dependencies\n"
    )
    broken = BROKEN[".importlinter"].replace(
        "type = module_dependencies\nmodules = depot.modules\n", "type = module_dependencies\n"
    )
    assert config != CLEAN[".importlinter"]  # no [tool.aura] either: only the flag says it
    write_project(pytester, {**CLEAN, ".importlinter": config})
    parser = argparse.ArgumentParser(prog="aura check")
    add_check_arguments(parser)
    out = io.StringIO()
    assert run_check(parser.parse_args(["--modules", "depot.modules"]), out) == 0
    assert out.getvalue() == "aura check: no violations.\n"
    write_project(pytester, {**BROKEN, ".importlinter": broken})
    out = io.StringIO()
    assert run_check(parser.parse_args(["--modules", "depot.modules"]), out) == 1
    assert "import contract declared:" in out.getvalue()

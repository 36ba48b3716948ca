"""The how-to "Enforce the boundaries in CI" shows real runs: its example shop (FastAPI and
SQLAlchemy, not on Aura) is checked here with the commands the page shows, and their output is
compared with the files the page includes; the fix the page describes is applied and passes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HOWTO = Path(__file__).resolve().parents[2] / "docs" / "howto"
NOTES = (
    "No import-linter configuration found: import contracts not checked.\n"
    "Platform verification skipped: neither `modules` in [tool.aura] nor --modules names a "
    "package of Aura modules, so no platform was built (nothing was imported).\n"
)


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    copy = tmp_path / "legacyshop"
    shutil.copytree(HOWTO / "legacyshop", copy, ignore=shutil.ignore_patterns(".aura_cache"))
    return copy


def aura(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # -I: an isolated interpreter, so nothing of the checkout is on sys.path but aura itself.
    return subprocess.run(
        [sys.executable, "-I", "-m", "aura", *args],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )


def test_aura_check_prints_what_the_page_shows(shop: Path) -> None:
    result = aura(shop, "check")
    assert result.returncode == 1, result.stderr
    assert result.stdout == (HOWTO / "output" / "legacyshop-check.txt").read_text()


def test_aura_modules_prints_what_the_page_shows(shop: Path) -> None:
    result = aura(shop, "modules")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (HOWTO / "output" / "legacyshop-modules.txt").read_text()


def test_the_check_imports_nothing_of_the_shop(shop: Path) -> None:
    # Were the shop imported, this would fail the check with its traceback.
    for package in ("shop", "shop/users", "shop/billing", "shop/notifications"):
        init = shop / package / "__init__.py"
        init.write_text(init.read_text() + "\nraise SystemExit('the shop was imported')\n")
    result = aura(shop, "check")
    assert (result.returncode, result.stderr) == (1, "")
    assert result.stdout == (HOWTO / "output" / "legacyshop-check.txt").read_text()


def test_the_fix_the_page_describes_passes(shop: Path) -> None:
    users = shop / "shop" / "users" / "__init__.py"
    users.write_text(
        users.read_text()
        .replace(
            "from shop.users.schemas", "from shop.users.models import Base\nfrom shop.users.schemas"
        )
        .replace('__all__ = ["UserRead"', '__all__ = ["Base", "UserRead"')
    )
    for name in ("billing", "notifications"):
        models = shop / "shop" / name / "models.py"
        models.write_text(
            models.read_text().replace(
                "from shop.users.models import Base", "from shop.users import Base"
            )
        )
    notifications = shop / "shop" / "notifications"
    models = notifications / "models.py"
    models.write_text(
        models.read_text()
        .replace("from shop.notifications.service import TEMPLATES\n", "")
        .replace("default=next(iter(TEMPLATES))", 'default="reminder"')
    )
    pyproject = shop / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text()
        .replace(
            'package = "shop.notifications"\ndepends_on = ["users"]',
            'package = "shop.notifications"\ndepends_on = ["users", "billing"]',
        )
        .replace(
            'package = "shop.billing"\ndepends_on = ["users"]',
            'package = "shop.billing"\ndepends_on = ["users"]\ninterface = [".", "models"]',
        )
    )
    result = aura(shop, "check")
    assert (result.returncode, result.stdout) == (
        0,
        NOTES + "aura check: no violations in 3 modules (12 files).\n",
    ), result.stderr


def test_the_baseline_the_page_shows(shop: Path) -> None:
    recorded = aura(shop, "check", "--baseline", "aura-baseline.json", "--update-baseline")
    assert (recorded.returncode, recorded.stdout) == (
        0,
        "aura check: recorded 5 violations in aura-baseline.json.\n",
    )
    checked = aura(shop, "check", "--baseline", "aura-baseline.json")
    assert (checked.returncode, checked.stdout) == (
        0,
        NOTES + "aura check: 0 new violations (5 baselined, 0 fixed in the baseline) in 3 "
        "modules (12 files).\n",
    )
    baseline = json.loads((shop / "aura-baseline.json").read_text())
    assert baseline["violations"][-2:] == [
        "module map: undeclared-dependency notifications billing billing_invoices.id",
        "module map: undeclared-dependency notifications billing shop.billing.models",
    ]


def test_the_sarif_log_places_each_violation(shop: Path) -> None:
    result = aura(shop, "check", "--format", "sarif")
    assert result.returncode == 1, result.stderr
    log = json.loads(result.stdout)
    places = [
        (
            found["ruleId"],
            found["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            found["locations"][0]["physicalLocation"]["region"]["startLine"],
        )
        for found in log["runs"][0]["results"]
    ]
    assert places == [
        ("internal-import", "shop/billing/models.py", 4),
        ("layer", "shop/notifications/models.py", 4),
        ("internal-import", "shop/notifications/models.py", 5),
        ("undeclared-dependency", "shop/notifications/models.py", 12),
        ("undeclared-dependency", "shop/notifications/service.py", 3),
    ]

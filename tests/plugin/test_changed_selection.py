"""``pytest --aura-changed``, end to end with pytester: a small shop in a git repository, three
modules (billing depends on users; notifications subscribes to an event users publishes), a
change, and exactly which test files run and why."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

PYPROJECT = """\
[tool.pytest.ini_options]
pythonpath = ["."]
markers = ["billing: touches the billing module"]

[tool.aura.boundaries.modules.users]
package = "shop.users"
{publishes}
[tool.aura.boundaries.modules.billing]
package = "shop.billing"
depends_on = ["users"]

[tool.aura.boundaries.modules.notifications]
package = "shop.notifications"
"""

SHOP = {
    ".gitignore": "__pycache__/\n",
    "shop/__init__.py": "",
    "shop/users/__init__.py": "def find_user(user_id):\n    return {'id': user_id}\n",
    "shop/users/deactivation.py": (
        "def deactivate(bus, user_id):\n"
        '    bus.publish("user.deactivated", {"user_id": user_id}, "users")\n'
    ),
    "shop/billing/__init__.py": (
        "from shop.users import find_user\n\n\n"
        "def invoice(user_id):\n    return find_user(user_id)['id']\n"
    ),
    "shop/notifications/__init__.py": (
        'def wire(bus):\n    bus.subscribe("user.deactivated", print)\n'
    ),
    "features/deactivation.feature": (
        "@notifications\nFeature: Deactivation\n  Scenario: a mail\n    Given a user\n"
    ),
    "tests/conftest.py": "",
    "tests/helpers.py": (
        "from shop.users import find_user\n\n\ndef a_user():\n    return find_user(7)\n"
    ),
    "tests/test_users.py": (
        "from shop.users import find_user\n\n\n"
        "def test_users():\n    assert find_user(1) == {'id': 1}\n"
    ),
    "tests/test_billing.py": (
        "from shop.billing import invoice\n\n\ndef test_billing():\n    assert invoice(2) == 2\n"
    ),
    "tests/test_notifications.py": (
        "from shop.notifications import wire\n\n\n"
        "def test_notifications():\n    assert callable(wire)\n"
    ),
    "tests/test_helpers.py": (
        "from helpers import a_user\n\n\ndef test_a_user():\n    assert a_user() == {'id': 7}\n"
    ),
    "tests/test_marked.py": (
        "import pytest\n\n\n@pytest.mark.billing\ndef test_marked():\n    pass\n"
    ),
    "tests/test_feature.py": (
        "from pathlib import Path\n\n"
        'FEATURE = Path(__file__).parent / "../features/deactivation.feature"\n\n\n'
        "def test_feature():\n    assert FEATURE.is_file()\n"
    ),
    "tests/test_plain.py": "def test_plain():\n    pass\n",
}

EVERY_TEST_FILE = [
    "tests/test_billing.py",
    "tests/test_feature.py",
    "tests/test_helpers.py",
    "tests/test_marked.py",
    "tests/test_notifications.py",
    "tests/test_plain.py",
    "tests/test_users.py",
]


@pytest.fixture(autouse=True)
def isolated_git(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """git that reads no user configuration and finds no repository above the test's folder."""
    for variable in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{variable}_NAME", "Aura Tests")
        monkeypatch.setenv(f"GIT_{variable}_EMAIL", "tests@aura.invalid")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(pytester.path.parent))


def git(pytester: pytest.Pytester, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=pytester.path, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def write(pytester: pytest.Pytester, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def make_shop(
    pytester: pytest.Pytester,
    *,
    publishes: bool = True,
    branch: str = "main",
    modules: str = "",
    extra: dict[str, str] | None = None,
    under: str = "",
) -> pytest.Pytester:
    """The shop, committed on ``branch``, then on a feature branch of its own; ``modules``
    adds to its pyproject.toml, ``extra`` adds (or replaces) files, all in the folder
    ``under`` of the git repository."""
    declared = 'publishes = ["user.deactivated"]\n' if publishes else ""
    files = {"pyproject.toml": PYPROJECT.format(publishes=declared) + modules, **SHOP}
    files.update(extra or {})
    write(pytester, {f"{under}{name}": text for name, text in files.items()})
    git(pytester, "init", "-q", "-b", branch)
    commit(pytester, "the shop")
    git(pytester, "checkout", "-q", "-b", "feature")
    return pytester


def commit(pytester: pytest.Pytester, message: str) -> None:
    git(pytester, "add", "-A")
    git(pytester, "commit", "-q", "-m", message)


def change(pytester: pytest.Pytester, name: str) -> None:
    path = pytester.path / name
    path.write_text(path.read_text() + "# changed\n")


@pytest.fixture
def shop(pytester: pytest.Pytester) -> pytest.Pytester:
    return make_shop(pytester)


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", *args)


def ran(result: pytest.RunResult) -> list[str]:
    """The test files whose tests passed (the run is verbose)."""
    return sorted(
        {line.split("::")[0] for line in result.stdout.lines if "::" in line and " PASSED" in line}
    )


_REPORT = (
    "aura-changed: ",
    "changed files",
    "  ",
    "changed modules: ",
    "dependent modules:",
    "selected test files ",
    "not selected ",
    "running every test: ",
)


def report(result: pytest.RunResult) -> list[str]:
    """The --aura-changed lines of the header."""
    lines = result.stdout.lines
    start = next(i for i, line in enumerate(lines) if line.startswith("aura-changed: "))
    end = start
    while end < len(lines) and lines[end].startswith(_REPORT):
        end += 1
    return lines[start:end]


def since(pytester: pytest.Pytester, ref: str = "main") -> str:
    base = git(pytester, "merge-base", "HEAD", ref)
    return (
        f"aura-changed: files changed since {base[:7]} (the merge base of HEAD and {ref}), "
        "uncommitted and untracked files included"
    )


def usage_error(result: pytest.RunResult) -> str:
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    return "\n".join(result.stderr.lines).removeprefix("ERROR: ").strip()


# --- which test files run -------------------------------------------------------------------------


def test_a_change_in_a_leaf_module_runs_the_tests_of_that_module(shop: pytest.Pytester) -> None:
    change(shop, "shop/billing/__init__.py")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == ["tests/test_billing.py", "tests/test_marked.py"]
    assert report(result) == [
        since(shop),
        "changed files (1):",
        "  shop/billing/__init__.py (billing)",
        "changed modules: billing",
        "selected test files (2 of 7):",
        "  tests/test_billing.py: imports shop.billing",
        "  tests/test_marked.py: is marked billing",
        "not selected (5):",
        "  tests/test_feature.py",
        "  tests/test_helpers.py",
        "  tests/test_notifications.py",
        "  tests/test_plain.py",
        "  tests/test_users.py",
    ]


PLATFORM_TESTS = {
    # Some tests marked, one not: the unmarked one's platform has every module.
    "tests/test_mixed.py": (
        "import pytest\n\n\n@pytest.mark.aura_platform('users')\n"
        "def test_users_alone(aura_platform):\n    pass\n\n\n"
        "def test_everything(aura_platform):\n    pass\n"
    ),
    # The same through a fixture of the file.
    "tests/test_through_a_fixture.py": (
        "import pytest\n\n\n@pytest.fixture\ndef platform(aura_platform):\n"
        "    return aura_platform\n\n\n@pytest.mark.aura_platform('users')\n"
        "def test_users_alone(platform):\n    pass\n\n\n"
        "class TestAll:\n    def test_everything(self, platform):\n        pass\n"
    ),
    # A renamed fixture, usefixtures, a nested class; a mark on one parametrized case only.
    "tests/test_other_forms.py": (
        "import pytest\n\n\n@pytest.fixture(name='client')\ndef make_client(aura_platform):\n"
        "    return aura_platform\n\n\n@pytest.mark.aura_platform('users')\n"
        "def test_users_alone(client):\n    pass\n\n\n"
        "@pytest.mark.usefixtures('published_events')\ndef test_recorded():\n    pass\n\n\n"
        "class TestOuter:\n    class TestInner:\n"
        "        def test_client(self, client):\n            pass\n\n\n"
        "@pytest.mark.parametrize(\n"
        "    'n', [1, pytest.param(2, marks=pytest.mark.aura_platform('users'))]\n)\n"
        "def test_cases(n, aura_platform):\n    pass\n"
    ),
    # Every test marked, by the module's pytestmark or a class's marker.
    "tests/test_all_marked.py": (
        "import pytest\n\npytestmark = pytest.mark.aura_platform('users')\n\n\n"
        "def test_users(aura_platform):\n    pass\n"
    ),
    "tests/test_class_marked.py": (
        "import pytest\n\n\n@pytest.mark.aura_platform('users')\nclass TestUsers:\n"
        "    def test_users(self, published_events):\n        pass\n"
    ),
}


def test_a_file_with_one_test_on_every_module_is_selected_by_any_module_change(
    pytester: pytest.Pytester,
) -> None:
    make_shop(pytester, extra=PLATFORM_TESTS)
    change(pytester, "shop/billing/__init__.py")
    lines = report(run(pytester, "--aura-changed", "-v"))
    every = "without an aura_platform marker: its platform has every module"
    assert f"  tests/test_mixed.py: takes aura_platform {every}" in lines
    assert f"  tests/test_through_a_fixture.py: takes aura_platform {every}" in lines
    assert any(
        line.startswith("  tests/test_other_forms.py: takes ") and line.endswith(every)
        for line in lines
    )
    left_out = lines[lines.index(next(line for line in lines if line.startswith("not selected"))) :]
    assert "  tests/test_all_marked.py" in left_out
    assert "  tests/test_class_marked.py" in left_out


def test_a_change_in_a_module_others_depend_on_runs_their_tests_too(
    shop: pytest.Pytester,
) -> None:
    change(shop, "shop/users/__init__.py")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == [name for name in EVERY_TEST_FILE if name != "tests/test_plain.py"]
    assert report(result)[1:] == [
        "changed files (1):",
        "  shop/users/__init__.py (users)",
        "changed modules: users",
        "dependent modules:",
        "  billing: depends on users (declared)",
        "  notifications: subscribes to user.deactivated, published by users "
        "(shop/notifications/__init__.py:2)",
        "selected test files (6 of 7):",
        "  tests/test_billing.py: imports shop.billing",
        "  tests/test_feature.py: loads features/deactivation.feature, tagged @notifications",
        "  tests/test_helpers.py: imports shop.users through tests/helpers.py",
        "  tests/test_marked.py: is marked billing",
        "  tests/test_notifications.py: imports shop.notifications",
        "  tests/test_users.py: imports shop.users",
        "not selected (1):",
        "  tests/test_plain.py",
    ]


def test_a_subscriber_depends_on_the_module_seen_publishing_when_none_declares_it(
    pytester: pytest.Pytester,
) -> None:
    make_shop(pytester, publishes=False)
    change(pytester, "shop/users/deactivation.py")
    result = run(pytester, "--aura-changed", "-v")
    assert (
        "  notifications: subscribes to user.deactivated, published by users "
        "(shop/notifications/__init__.py:2)"
    ) in report(result)
    assert "tests/test_notifications.py" in ran(result)


def test_a_conftest_importing_a_module_makes_the_test_files_below_it_exercise_it(
    pytester: pytest.Pytester,
) -> None:
    write(
        pytester,
        {
            "tests/invoices/conftest.py": "from shop.billing import invoice\n",
            "tests/invoices/test_totals.py": "def test_totals():\n    pass\n",
        },
    )
    shop = make_shop(pytester)
    change(shop, "shop/billing/__init__.py")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == [
        "tests/invoices/test_totals.py",
        "tests/test_billing.py",
        "tests/test_marked.py",
    ]
    assert (
        "  tests/invoices/test_totals.py: its tests/invoices/conftest.py imports shop.billing"
    ) in report(result)


def test_a_change_to_a_conftest_runs_every_test(shop: pytest.Pytester) -> None:
    change(shop, "tests/conftest.py")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == EVERY_TEST_FILE
    assert report(result)[1:] == [
        "changed files (1):",
        "  tests/conftest.py (outside every module)",
        "running every test: tests/conftest.py is outside every module",
    ]


def test_a_change_to_pyproject_runs_every_test(shop: pytest.Pytester) -> None:
    change(shop, "pyproject.toml")
    change(shop, "shop/billing/__init__.py")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == EVERY_TEST_FILE
    assert report(result)[1:] == [
        "changed files (2):",
        "  pyproject.toml (outside every module)",
        "  shop/billing/__init__.py (billing)",
        "running every test: pyproject.toml is outside every module",
    ]


def test_an_untracked_file_counts_as_changed(shop: pytest.Pytester) -> None:
    write(shop, {"shop/billing/discounts.py": "RATE = 0.1\n"})
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == ["tests/test_billing.py", "tests/test_marked.py"]
    assert report(result)[1:3] == [
        "changed files (1):",
        "  shop/billing/discounts.py (billing, untracked)",
    ]


def test_committed_changes_count_from_the_merge_base_and_an_explicit_ref_moves_it(
    shop: pytest.Pytester,
) -> None:
    change(shop, "shop/billing/__init__.py")
    commit(shop, "billing")
    change(shop, "shop/notifications/__init__.py")
    commit(shop, "notifications")
    everything_since_main = run(shop, "--aura-changed", "-v")
    assert ran(everything_since_main) == [
        "tests/test_billing.py",
        "tests/test_feature.py",
        "tests/test_marked.py",
        "tests/test_notifications.py",
    ]
    since_the_last_commit = run(shop, "--aura-changed=HEAD~1", "-v")
    assert ran(since_the_last_commit) == ["tests/test_feature.py", "tests/test_notifications.py"]
    assert report(since_the_last_commit)[:3] == [
        since(shop, "HEAD~1"),
        "changed files (1):",
        "  shop/notifications/__init__.py (notifications)",
    ]


def test_a_changed_test_file_runs_itself(shop: pytest.Pytester) -> None:
    change(shop, "tests/test_plain.py")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == ["tests/test_plain.py"]
    assert report(result)[1:6] == [
        "changed files (1):",
        "  tests/test_plain.py (a test file)",
        "changed modules: none",
        "selected test files (1 of 7):",
        "  tests/test_plain.py: changed",
    ]


def test_a_changed_feature_file_runs_the_test_files_that_load_it(shop: pytest.Pytester) -> None:
    change(shop, "features/deactivation.feature")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == ["tests/test_feature.py"]
    assert "  tests/test_feature.py: loads features/deactivation.feature, which changed" in (
        report(result)
    )


def test_a_changed_test_file_in_a_module_package_runs_itself_only(shop: pytest.Pytester) -> None:
    write(
        shop,
        {
            "shop/users/test_inside.py": (
                "from shop.users import find_user\n\n\n"
                "def test_inside():\n    assert find_user(3) == {'id': 3}\n"
            )
        },
    )
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == ["shop/users/test_inside.py"]
    assert report(result)[1:7] == [
        "changed files (1):",
        "  shop/users/test_inside.py (a test file in module users, untracked)",
        "changed modules: none",
        "selected test files (1 of 8):",
        "  shop/users/test_inside.py: changed",
        "not selected (7):",
    ]


def test_a_test_named_file_that_module_code_imports_is_module_code(
    pytester: pytest.Pytester,
) -> None:
    billing = SHOP["shop/billing/__init__.py"]
    shop = make_shop(
        pytester,
        extra={
            "shop/billing/test_rates.py": "RATE = 1\n",
            "shop/billing/__init__.py": f"from shop.billing.test_rates import RATE\n{billing}",
        },
    )
    change(shop, "shop/billing/test_rates.py")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == ["tests/test_billing.py", "tests/test_marked.py"]
    assert report(result)[1:8] == [
        "changed files (1):",
        "  shop/billing/test_rates.py (billing)",
        "changed modules: billing",
        "selected test files (3 of 8):",
        "  shop/billing/test_rates.py: is in module billing",
        "  tests/test_billing.py: imports shop.billing",
        "  tests/test_marked.py: is marked billing",
    ]


def test_a_test_file_in_a_module_package_is_selected_by_its_imports_not_its_module(
    pytester: pytest.Pytester,
) -> None:
    """Its imports select it; they do not make its module depend on what it imports."""
    shop = make_shop(
        pytester,
        extra={
            "shop/notifications/test_wiring.py": (
                "from shop.billing import invoice\n\n\n"
                "def test_wiring():\n    assert invoice(4) == 4\n"
            )
        },
    )
    change(shop, "shop/billing/__init__.py")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == [
        "shop/notifications/test_wiring.py",
        "tests/test_billing.py",
        "tests/test_marked.py",
    ]
    assert report(result)[1:8] == [
        "changed files (1):",
        "  shop/billing/__init__.py (billing)",
        "changed modules: billing",
        "selected test files (3 of 8):",
        "  shop/notifications/test_wiring.py: imports shop.billing",
        "  tests/test_billing.py: imports shop.billing",
        "  tests/test_marked.py: is marked billing",
    ]


CATALOG = """
[tool.aura.boundaries.modules.catalog]
package = "shop.catalog"

[tool.aura.boundaries.modules.notify]
package = "shop.notify"
"""


def test_a_module_depends_on_what_project_code_in_no_module_it_imports_imports(
    pytester: pytest.Pytester,
) -> None:
    """notify imports shop.common, in no module, which imports catalog."""
    shop = make_shop(
        pytester,
        modules=CATALOG,
        extra={
            "shop/catalog/__init__.py": "X = 1\n",
            "shop/common.py": "from shop.catalog import X\n",
            "shop/notify/__init__.py": "",
            "shop/notify/uses_common.py": "from shop import common\n",
            "tests/test_notify.py": (
                "from shop.notify import uses_common\n\n\n"
                "def test_notify():\n    assert uses_common.common.X == 1\n"
            ),
        },
    )
    change(shop, "shop/catalog/__init__.py")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == ["tests/test_notify.py"]
    assert report(result)[1:8] == [
        "changed files (1):",
        "  shop/catalog/__init__.py (catalog)",
        "changed modules: catalog",
        "dependent modules:",
        "  notify: imports shop.common, which imports shop.catalog (shop/notify/uses_common.py:1)",
        "selected test files (1 of 8):",
        "  tests/test_notify.py: imports shop.notify.uses_common",
    ]


def test_a_dependency_through_project_code_in_no_module_is_followed_transitively(
    pytester: pytest.Pytester,
) -> None:
    """notify imports shop.common, which imports shop.util, which imports catalog."""
    shop = make_shop(
        pytester,
        modules=CATALOG,
        extra={
            "shop/catalog/__init__.py": "X = 1\n",
            "shop/util.py": "import shop.catalog\n",
            "shop/common.py": "\nfrom shop.util import shop as root\n",
            "shop/notify/__init__.py": "from shop.common import root\n",
            "tests/test_notify.py": (
                "import shop.notify\n\n\ndef test_notify():\n    assert shop.notify.root\n"
            ),
        },
    )
    change(shop, "shop/catalog/__init__.py")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == ["tests/test_notify.py"]
    assert report(result)[3:7] == [
        "changed modules: catalog",
        "dependent modules:",
        "  notify: imports shop.common, which imports shop.util, which imports shop.catalog "
        "(shop/notify/__init__.py:1)",
        "selected test files (1 of 8):",
    ]


def test_files_outside_the_project_root_select_nothing_and_the_report_says_so(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A monorepo: the Python project is backend/, the git repository holds frontend/ too."""
    write(pytester, {"frontend/app.js": "let shop;\n"})
    shop = make_shop(pytester, under="backend/")
    change(shop, "frontend/app.js")
    monkeypatch.chdir(shop.path / "backend")
    alone = run(shop, "--aura-changed", "-v")
    assert alone.ret == pytest.ExitCode.OK
    assert ran(alone) == []
    assert report(alone)[1:5] == [
        "changed files (1):",
        "  ../frontend/app.js (ignored: outside the project root)",
        "changed modules: none",
        "selected test files (0 of 7):",
    ]
    change(shop, "backend/shop/billing/__init__.py")
    result = run(shop, "--aura-changed", "-v")
    assert ran(result) == ["tests/test_billing.py", "tests/test_marked.py"]
    assert report(result)[1:5] == [
        "changed files (2):",
        "  shop/billing/__init__.py (billing)",
        "  ../frontend/app.js (ignored: outside the project root)",
        "changed modules: billing",
    ]


def test_ignored_files_affect_no_test_and_no_selection_exits_zero(shop: pytest.Pytester) -> None:
    write(shop, {"docs/index.md": "# The shop\n"})
    pyproject = shop.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            "markers = [", 'aura_changed_ignore = ["docs/*", "pyproject.toml"]\nmarkers = ['
        )
    )
    result = run(shop, "--aura-changed", "-v")
    assert result.ret == pytest.ExitCode.OK
    assert ran(result) == []
    assert report(result)[1:6] == [
        "changed files (2):",
        "  docs/index.md (ignored: docs/*, untracked)",
        "  pyproject.toml (ignored: pyproject.toml)",
        "changed modules: none",
        "selected test files (0 of 7):",
    ]


def test_test_files_left_out_are_never_imported(pytester: pytest.Pytester) -> None:
    write(pytester, {"tests/test_broken.py": 'raise SystemExit("imported")\n'})
    shop = make_shop(pytester)
    change(shop, "shop/billing/__init__.py")
    result = run(shop, "--aura-changed", "-v")
    assert result.ret == pytest.ExitCode.OK
    assert ran(result) == ["tests/test_billing.py", "tests/test_marked.py"]


def test_test_files_named_on_the_command_line_are_deselected_when_not_selected(
    shop: pytest.Pytester,
) -> None:
    change(shop, "shop/billing/__init__.py")
    result = run(shop, "tests/test_plain.py", "tests/test_billing.py", "--aura-changed", "-v")
    assert ran(result) == ["tests/test_billing.py"]
    result.assert_outcomes(passed=1, deselected=1)


def test_quiet_runs_report_in_one_line(shop: pytest.Pytester) -> None:
    change(shop, "shop/users/__init__.py")
    result = run(shop, "--aura-changed", "-q")
    assert result.stdout.lines[0] == (
        "aura-changed: 6 of 7 test files selected; changed modules: users "
        "(+2 dependent: billing, notifications)"
    )
    change(shop, "tests/conftest.py")
    result = run(shop, "--aura-changed", "-q")
    assert result.stdout.lines[0] == (
        "aura-changed: running every test: tests/conftest.py is outside every module"
    )


def test_the_ini_option_selects_by_change_in_every_run(shop: pytest.Pytester) -> None:
    change(shop, "shop/billing/__init__.py")
    result = run(shop, "-o", "aura_changed=main", "-v")
    assert ran(result) == ["tests/test_billing.py", "tests/test_marked.py"]
    assert report(result)[0] == since(shop)
    refused = run(shop, "-o", "aura_changed=nope")
    assert usage_error(refused).endswith(
        "or --aura-changed alone to compare with the main branch. (The REF comes from "
        "aura_changed in the ini file.)"
    )


def test_without_the_option_nothing_is_selected_or_reported(shop: pytest.Pytester) -> None:
    change(shop, "shop/billing/__init__.py")
    result = run(shop, "-v")
    assert ran(result) == EVERY_TEST_FILE
    assert not [line for line in result.stdout.lines if line.startswith("aura-changed")]


# --- errors ---------------------------------------------------------------------------------------


def test_outside_a_git_repository_the_option_is_refused(pytester: pytest.Pytester) -> None:
    write(pytester, {"pyproject.toml": PYPROJECT.format(publishes=""), **SHOP})
    result = run(pytester, "--aura-changed")
    assert usage_error(result) == (
        "--aura-changed compares the working tree with a git commit, but "
        f"{pytester.path} is not in a git repository. Run pytest in a git checkout, or leave "
        "out --aura-changed to run every test."
    )


def test_an_unknown_ref_is_refused(shop: pytest.Pytester) -> None:
    result = run(shop, "--aura-changed=nope")
    assert usage_error(result) == (
        f"--aura-changed=nope: 'nope' names no commit in the git repository at {shop.path}. "
        "Give a branch, tag or commit that exists there (git branch -a lists the branches; a "
        "CI checkout may need git fetch origin nope first), or --aura-changed alone to compare "
        "with the main branch."
    )


def test_a_path_taken_for_the_ref_says_how_to_write_it(shop: pytest.Pytester) -> None:
    result = run(shop, "--aura-changed", "tests")
    assert usage_error(result).endswith(
        "'tests' is also a path: --aura-changed takes the word after it as its REF, so write "
        "pytest tests --aura-changed to test that path."
    )


def test_without_a_main_branch_the_ref_must_be_given(pytester: pytest.Pytester) -> None:
    make_shop(pytester, branch="trunk")
    result = run(pytester, "--aura-changed")
    assert usage_error(result) == (
        "--aura-changed compares with the main branch, but the git repository at "
        f"{pytester.path} has none of main, master, origin/HEAD, origin/main, origin/master. "
        "Name the branch to compare with: --aura-changed=REF (for example "
        "--aura-changed=origin/develop)."
    )
    assert ran(run(pytester, "--aura-changed=trunk", "-v")) == []


def test_a_repository_without_a_commit_is_refused(pytester: pytest.Pytester) -> None:
    git(pytester, "init", "-q", "-b", "main")
    result = run(pytester, "--aura-changed")
    assert usage_error(result) == (
        "--aura-changed compares the working tree with a git commit, but the repository at "
        f"{pytester.path} has no commit yet. Commit once, or leave out --aura-changed to run "
        "every test."
    )


def test_a_project_without_a_module_map_is_refused(pytester: pytest.Pytester) -> None:
    write(pytester, {"pyproject.toml": "[tool.pytest.ini_options]\n", **SHOP})
    git(pytester, "init", "-q", "-b", "main")
    commit(pytester, "no map")
    result = run(pytester, "--aura-changed")
    assert usage_error(result).startswith(
        "--aura-changed selects test files by module, from the module map: No modules to "
        f"check: [tool.aura.boundaries] in {pytester.path / 'pyproject.toml'} declares none."
    )


def test_with_the_ini_file_in_a_subfolder_the_map_is_read_from_the_pyproject_above(
    pytester: pytest.Pytester,
) -> None:
    """tests/pytest.ini makes tests/ the rootdir; the map is in the pyproject.toml above."""
    ini = "[pytest]\npythonpath = ..\nmarkers =\n    billing: touches the billing module\n"
    shop = make_shop(pytester, extra={"tests/pytest.ini": ini})
    change(shop, "shop/billing/__init__.py")
    result = run(shop, "tests", "--aura-changed", "-v")
    assert "rootdir: " + str(shop.path / "tests") in result.stdout.lines
    assert ran(result) == ["tests/test_billing.py", "tests/test_marked.py"]
    assert report(result)[1:6] == [
        "changed files (1):",
        "  shop/billing/__init__.py (billing)",
        "changed modules: billing",
        "selected test files (2 of 7):",
        "  tests/test_billing.py: imports shop.billing",
    ]


def test_with_the_ini_file_in_a_subfolder_and_no_map_the_error_names_the_pyproject_read(
    pytester: pytest.Pytester,
) -> None:
    ini = "[pytest]\npythonpath = ..\n"
    write(pytester, {"pyproject.toml": "[project]\nname = 'shop'\n", **SHOP})
    write(pytester, {"tests/pytest.ini": ini})
    git(pytester, "init", "-q", "-b", "main")
    commit(pytester, "no map")
    result = run(pytester, "tests", "--aura-changed")
    assert usage_error(result).startswith(
        "--aura-changed selects test files by module, from the module map: No modules to "
        f"check: [tool.aura.boundaries] in {pytester.path / 'pyproject.toml'} declares none."
    )


def test_without_any_pyproject_the_error_says_where_it_looked(pytester: pytest.Pytester) -> None:
    write(pytester, {"tests/pytest.ini": "[pytest]\n", **SHOP})
    git(pytester, "init", "-q", "-b", "main")
    commit(pytester, "no pyproject")
    result = run(pytester, "tests", "--aura-changed")
    assert usage_error(result) == (
        "--aura-changed selects test files by module, from the module map in "
        "[tool.aura.boundaries] of the project's pyproject.toml, but there is no pyproject.toml "
        f"in the rootdir {pytester.path / 'tests'} or a folder above it up to {pytester.path}, "
        "the top of the git repository. Declare each module's package and dependencies in the "
        "project's pyproject.toml:\n\n"
        "    [tool.aura.boundaries.modules.billing]\n"
        '    package = "shop.billing"\n'
        '    depends_on = ["users"]'
    )


def test_the_selection_decides_from_paths_alone(pytester: pytest.Pytester) -> None:
    """select_tests, the function the plugin and the benchmark call, on the same shop."""
    from aura.architecture.modulemap import load_module_map
    from aura.architecture.selection import select_tests
    from aura.config import load_config

    write(pytester, {"pyproject.toml": PYPROJECT.format(publishes=""), **SHOP})
    module_map = load_module_map(load_config(pytester.path, search_parents=False))
    selection = select_tests(module_map, [Path("shop/billing/__init__.py")], [Path("tests")])
    assert selection.changed_modules == ("billing",)
    assert [item.shown for item in selection.selected] == [
        "tests/test_billing.py",
        "tests/test_marked.py",
    ]
    assert selection.skips(pytester.path / "tests/test_plain.py")

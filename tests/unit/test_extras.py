"""Modules that need an extra say which one when it is missing (each in a process of its own,
with the dependency hidden as if it were not installed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

HIDE = "import sys\nsys.modules[{hidden!r}] = None\nimport {module}\n"


@pytest.mark.parametrize(
    ("module", "hidden", "message"),
    [
        (
            "aura.testing.factories",
            "factory",
            "aura.testing.factories needs factory-boy, which is not installed. Install Aura's "
            "testing extra: pip install 'aura-modulith[testing]'",
        ),
        (
            "aura.testing.bdd",
            "pytest_bdd",
            "aura.testing.bdd needs pytest-bdd, which is not installed. Install Aura's testing "
            "extra: pip install 'aura-modulith[testing]'",
        ),
        *(
            (
                "aura.web",
                hidden,
                f"aura.web (the HTTP gateway) needs {hidden} of Aura's web extra, which is not "
                "installed. Install it: pip install 'aura-modulith[web]'",
            )
            for hidden in ("prometheus_client", "fastapi", "jwt")
        ),
    ],
)
def test_a_module_without_its_extra_names_the_install_command(
    module: str, hidden: str, message: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", HIDE.format(hidden=hidden, module=module)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == f"aura.exceptions.MissingExtraError: {message}"


def test_the_cli_without_the_web_extra_says_which_commands_need_it() -> None:
    code = (
        "import sys\nsys.modules['prometheus_client'] = None\nfrom aura.cli import main\n"
        "print('status', main(['serve']))\nprint('status', main(['demo', '--builtin']))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    lines = result.stdout.splitlines()
    assert "aura serve needs the web extra: pip install 'aura-modulith[web]'." in lines
    assert lines.count("status 2") == 1  # serve: a usage error
    assert lines[-1] == "status 0"  # the other commands are there as ever


def test_a_web_library_that_is_installed_but_broken_shows_its_own_error() -> None:
    # Not "not installed": prometheus_client is found, but importing it fails (a version clash).
    code = (
        "import importlib.abc, sys\n"
        "class Broken(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'prometheus_client':\n"
        "            raise ImportError('cannot import name X from pydantic', name='pydantic')\n"
        "sys.meta_path.insert(0, Broken())\nimport aura.web\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.stderr.splitlines()[-1] == "ImportError: cannot import name X from pydantic"

"""The ``aura`` command line."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

import aura
from aura.cli import main


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"aura {aura.__version__}\n"


def test_the_builtin_demo_prints_the_trace_of_one_flow() -> None:
    out = io.StringIO()
    assert main(["demo", "--builtin"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "aura demo: mentalhealth schedules a session; notifications and billing react."
    )
    assert re.fullmatch(
        r"#1 therapy_session\.scheduled from mentalhealth data=\{.*'patient_id': 7.*\} "
        r"correlation=(?P<cid>[0-9a-f-]{36}) caused_by=-",
        lines[1],
    )
    cid = lines[1].split("correlation=")[1].split()[0]
    assert lines[2].startswith("#2 notification.sent from notifications")
    assert lines[2].endswith(f"correlation={cid} caused_by=#1")
    assert re.fullmatch(r"    -> notifications:send_confirmation ok \(\d+\.\d{3} ms\)", lines[3])
    assert lines[4].startswith("#3 payment.pending from billing")
    assert lines[4].endswith(f"correlation={cid} caused_by=#1")
    assert re.fullmatch(r"    -> billing:create_charge ok \(\d+\.\d{3} ms\)", lines[5])
    assert lines[6] == "0 failed deliveries."


def test_no_command_prints_help_and_fails() -> None:
    out = io.StringIO()
    assert main([], out=out) == 2
    assert out.getvalue().startswith("usage: aura")


def test_python_dash_m_aura_runs_the_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aura", "demo", "--builtin"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "#1 therapy_session.scheduled from mentalhealth" in result.stdout


EXAMPLE = '    [tool.aura]\n    modules = "your_package.modules"'


@pytest.mark.parametrize("command", ["docs", "serve", "dead-letters retry"])
def test_a_command_in_an_unconfigured_folder_fails_instead_of_checking_nothing(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "aura.db").write_bytes(b"")
    monkeypatch.delenv("AURA_DATABASE", raising=False)
    monkeypatch.delenv("AURA_TOKEN_KEYS", raising=False)
    out = io.StringIO()
    assert main(command.split(), out=out) == 2
    assert out.getvalue() == (
        f"aura {command.split()[0]}: error: No modules configured: Aura found no pyproject.toml "
        f"in {tmp_path.resolve()} or its parents, and --modules was not given. Say which "
        f"package holds the modules, in pyproject.toml:\n\n{EXAMPLE}\n\nor pass --modules "
        "PACKAGE.\n"
    )
    assert not (tmp_path / "docs").exists()  # aura docs wrote nothing
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["aura.db"]  # no token keys


@pytest.mark.parametrize("command", ["check", "modules"])
def test_the_module_map_commands_in_an_unconfigured_folder_fail_instead_of_checking_nothing(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert main([command], out=out) == 2
    assert out.getvalue() == (
        f"aura {command}: error: No modules to check: [tool.aura.boundaries] declares none. "
        "Declare each module's package and dependencies:\n\n"
        "    [tool.aura.boundaries.modules.billing]\n"
        '    package = "shop.billing"\n'
        '    depends_on = ["users"]\n\n'
        "or declare `module = Module(...)` in each module's __init__.py and set `modules` in "
        "[tool.aura].\n"
    )


def test_demo_runs_the_function_named_in_tool_aura(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\ndemo = "shopdemo:run"\n')
    (tmp_path / "shopdemo.py").write_text(
        "def run(out):\n    print('shop demo', file=out)\n    return 3\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    out = io.StringIO()
    try:
        assert main(["demo"], out=out) == 3
    finally:
        sys.modules.pop("shopdemo", None)
    assert out.getvalue() == "shop demo\n"


def test_a_demo_that_cannot_be_loaded_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\ndemo = "nowhere_at_all:run"\n')
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert main(["demo"], out=out) == 2
    assert out.getvalue() == (
        f"aura demo: error: demo = 'nowhere_at_all:run' in [tool.aura] in "
        f"{tmp_path.resolve() / 'pyproject.toml'} cannot be loaded: No module named "
        "'nowhere_at_all'. Expected 'package.module:function', a function that takes a text "
        "stream and returns the exit status.\n"
    )


def test_a_demo_that_is_not_a_function_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\ndemo = "os:sep"\n')
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert main(["demo"], out=out) == 2
    assert out.getvalue() == (
        f"aura demo: error: demo = 'os:sep' in [tool.aura] in "
        f"{tmp_path.resolve() / 'pyproject.toml'} names str '/', which cannot be called. "
        "Expected 'package.module:function', a function that takes a text stream and returns "
        "the exit status.\n"
    )


def test_a_malformed_tool_aura_is_reported_by_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.aura]\nmodules = 3\n")
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert main(["docs"], out=out) == 2
    assert out.getvalue() == (
        f"aura docs: error: modules in [tool.aura] of {tmp_path.resolve() / 'pyproject.toml'} "
        "is int 3; expected a string.\n"
    )


class ClosedPipe(io.StringIO):
    """A standard output whose reader has gone away."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_goes_away_ends_the_command_quietly() -> None:
    assert main(["demo", "--builtin"], out=ClosedPipe()) == 1


def test_aura_check_piped_into_head_exits_without_a_traceback(tmp_path: Path) -> None:
    # 2,000 violations, far more than a pipe holds: aura check still writes when head is gone.
    (tmp_path / "pyproject.toml").write_text(
        '[tool.aura.boundaries.modules.users]\npackage = "shop.users"\n\n'
        '[tool.aura.boundaries.modules.billing]\npackage = "shop.billing"\n'
    )
    for name, text in {
        "__init__.py": "",
        "users/__init__.py": "",
        "users/domain.py": "x = 1\n",
        "billing/__init__.py": "",
        "billing/domain.py": "from shop.users.domain import x\n" * 2000,
    }.items():
        (tmp_path / "shop" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "shop" / name).write_text(text)
    with subprocess.Popen(
        [sys.executable, "-m", "aura", "check"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as check:
        assert check.stdout is not None
        assert check.stderr is not None
        first = check.stdout.readline()  # what `head -1` reads, before it exits
        check.stdout.close()
        status, errors = check.wait(timeout=60), check.stderr.read()
    assert (first, status, errors) == (
        "No import-linter configuration found: import contracts not checked.\n",
        1,
        "",
    )

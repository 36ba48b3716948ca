"""The ``aura`` command line."""

from __future__ import annotations

import io
import re
import subprocess
import sys

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

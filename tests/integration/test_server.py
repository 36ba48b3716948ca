"""The gateway on a real uvicorn server, over real HTTP on the loopback, on a real SQLite file."""

from __future__ import annotations

import argparse
import io
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from aura.platform import Platform
from aura.web import Gateway, add_serve_arguments, run_serve, running

SERVE = (
    "import argparse, sys\n"
    "from aura.web import add_serve_arguments, run_serve\n"
    "parser = argparse.ArgumentParser()\n"
    "add_serve_arguments(parser)\n"
    "sys.exit(run_serve(parser.parse_args(sys.argv[1:]), sys.stdout))\n"
)


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    with Platform(Platform.discover("modules"), database=tmp_path / "aura.db") as platform:
        gateway = Gateway(platform)
        with running(gateway) as url:
            yield url
        gateway.close()


def test_a_session_scheduled_over_http_shows_in_notifications_and_charges(base_url: str) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
    with httpx.Client(base_url=base_url, timeout=10) as client:
        patient = client.post(
            "/api/users/users",
            json={"email": "pat@example.com", "name": "Pat Doe", "role": "patient"},
        ).json()
        therapist = client.post(
            "/api/users/users",
            json={"email": "dr.t@example.com", "name": "Dr T", "role": "therapist"},
        ).json()
        when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
        booking = {
            "patient_id": patient["id"],
            "therapist_id": therapist["id"],
            "scheduled_at": when.isoformat(),
            "session_type": "couples",
        }
        scheduled = client.post(
            "/api/mentalhealth/sessions", json=booking, headers={"X-Correlation-ID": "over-http-1"}
        )
        notifications = client.get(f"/api/notifications/users/{therapist['id']}/notifications")
        charges = client.get(f"/api/billing/patients/{patient['id']}/charges")

    assert scheduled.status_code == 201
    assert scheduled.headers["x-correlation-id"] == "over-http-1"
    session = scheduled.json()
    assert [(n["template"], n["reference"], n["status"]) for n in notifications.json()] == [
        ("session_notification", f"session:{session['id']}", "sent")
    ]
    assert [(c["session_id"], c["amount_cents"], c["status"]) for c in charges.json()] == [
        (session["id"], 12000, "pending")
    ]


def _serve(cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", SERVE, *args],
        cwd=cwd,
        env={name: value for name, value in os.environ.items() if name != "AURA_DATABASE"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_serve_uses_var_aura_db_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\nmodules = "modules"\n')
    server = _serve(tmp_path, "--port", "0")
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(4)]
        url = lines[1].rsplit(" ", 1)[-1].strip()
        health = httpx.get(f"{url}/health", timeout=10)
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=20)
    finally:
        if server.poll() is None:  # a failed assertion above: stop it and close its pipes
            server.kill()
            server.communicate()
    database = tmp_path.resolve() / "var" / "aura.db"
    assert lines[0] == f"Database {database} (tables created if missing).\n"
    assert re.fullmatch(r"Aura serves 4 modules on http://127\.0\.0\.1:\d+\n", lines[1])
    assert lines[2:] == [f"  curl {url}/api/_modules\n", f"  curl {url}/health\n"]
    assert health.json()["status"] == "up"
    assert server.returncode == 0
    assert output == "Stopped; the platform and its database are closed.\n"
    assert (tmp_path / "var" / "aura.db").is_file()
    # SQLite folds and removes the write-ahead log when the last connection closes cleanly.
    assert not (tmp_path / "var" / "aura.db-wal").exists()


def test_serve_reads_aura_database_and_reports_a_taken_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "data" / "platform.db"
    monkeypatch.setenv("AURA_DATABASE", str(database))
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    out = io.StringIO()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status = run_serve(parser.parse_args(["--port", str(port)]), out)
    assert status == 1
    assert out.getvalue() == (
        f"Database {database} (tables created if missing).\n"
        f"Cannot listen on 127.0.0.1:{port}: Address already in use. Pass --port with a free "
        "port, or stop what uses this one.\n"
    )
    assert database.is_file()

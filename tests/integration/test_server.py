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

from aura.exceptions import ConfigurationError
from aura.platform import Platform
from aura.web import Gateway, add_serve_arguments, run_serve, running, serving
from aura.web.auth import TokenAuthority
from contracts.errors import BusinessRuleError, NotFoundError

SERVE = (
    "import argparse, sys\n"
    "from aura.web import add_serve_arguments, run_serve\n"
    "parser = argparse.ArgumentParser()\n"
    "add_serve_arguments(parser)\n"
    "sys.exit(run_serve(parser.parse_args(sys.argv[1:]), sys.stdout))\n"
)


AUTHORITY = TokenAuthority.generate()
OPERATOR = {"Authorization": f"Bearer {AUTHORITY.issue('ops', roles=['operator'])}"}


@pytest.fixture
def base_url(tmp_path: Path) -> Iterator[str]:
    errors = {NotFoundError: 404, BusinessRuleError: 409}
    with Platform(Platform.discover("modules"), database=tmp_path / "aura.db") as platform:
        gateway = Gateway(platform, auth=AUTHORITY, errors=errors)
        with running(gateway) as url:
            yield url
        gateway.close()


def _log_in(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    response = client.post("/api/users/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def test_a_session_scheduled_over_http_shows_in_notifications_and_charges(base_url: str) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
    with httpx.Client(base_url=base_url, timeout=10) as client:
        anonymous = client.get("/api/users/users/1")
        patient = client.post(
            "/api/users/users",
            json={
                "email": "pat@example.com",
                "name": "Pat Doe",
                "role": "patient",
                "password": "pat's long passphrase",
            },
            headers=OPERATOR,
        ).json()
        therapist = client.post(
            "/api/users/users",
            json={
                "email": "dr.t@example.com",
                "name": "Dr T",
                "role": "therapist",
                "password": "dr t's long passphrase",
            },
            headers=OPERATOR,
        ).json()
        as_patient = _log_in(client, "pat@example.com", "pat's long passphrase")
        as_therapist = _log_in(client, "dr.t@example.com", "dr t's long passphrase")
        when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
        booking = {
            "patient_id": patient["id"],
            "therapist_id": therapist["id"],
            "scheduled_at": when.isoformat(),
            "session_type": "couples",
        }
        scheduled = client.post(
            "/api/mentalhealth/sessions",
            json=booking,
            headers={**as_patient, "X-Correlation-ID": "over-http-1"},
        )
        notifications = client.get(
            f"/api/notifications/users/{therapist['id']}/notifications", headers=as_therapist
        )
        charges = client.get(f"/api/billing/patients/{patient['id']}/charges", headers=as_patient)
        others = client.get(f"/api/billing/patients/{patient['id']}/charges", headers=as_therapist)

    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == 'Bearer realm="aura"'
    assert others.status_code == 404  # the patient's charges are not the therapist's to see
    assert scheduled.status_code == 201
    assert scheduled.headers["x-correlation-id"] == "over-http-1"
    for response in (anonymous, charges, others):  # over the wire: no cache keeps a patient's data
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "server" not in response.headers  # nothing said of what serves it
    session = scheduled.json()
    assert [(n["template"], n["reference"], n["status"]) for n in notifications.json()] == [
        ("session_notification", f"session:{session['id']}", "sent")
    ]
    assert [(c["session_id"], c["amount_cents"], c["status"]) for c in charges.json()] == [
        (session["id"], 12000, "pending")
    ]


def _serve(cwd: Path, *args: str, traces: str = "none") -> subprocess.Popen[str]:
    ours = {"AURA_DATABASE", "AURA_TOKEN_KEYS"}
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ours and not name.startswith("OTEL_")
    }
    if traces:
        env["OTEL_TRACES_EXPORTER"] = traces
    return subprocess.Popen(
        [sys.executable, "-c", SERVE, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_serve_uses_var_aura_db_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\nmodules = "modules"\n')
    server = _serve(tmp_path, "--port", "0")
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(6)]
        url = lines[3].rsplit(" ", 1)[-1].strip()
        health = httpx.get(f"{url}/health", timeout=10)
        anonymous = httpx.get(f"{url}/api/_modules", timeout=10)
        # The server made its key file; a token issued from it is the server's own.
        authority = TokenAuthority.from_file(tmp_path / "var" / "token-keys.json")
        token = authority.issue("ops", roles=["operator"])
        modules = httpx.get(
            f"{url}/api/_modules", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        beside = {
            path.name: path.stat().st_mode & 0o777 for path in (tmp_path / "var").glob("aura.db-*")
        }
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=20)
    finally:
        if server.poll() is None:  # a failed assertion above: stop it and close its pipes
            server.kill()
            server.communicate()
    database = tmp_path.resolve() / "var" / "aura.db"
    keys = tmp_path.resolve() / "var" / "token-keys.json"
    assert lines[0] == f"Database {database} (tables created if missing).\n"
    assert lines[1] == f"Token keys {keys} (signing key {authority.key_ids[0]}).\n"
    assert lines[2] == "Traces off (OTEL_TRACES_EXPORTER=none).\n"
    assert re.fullmatch(r"Aura serves 4 modules on http://127\.0\.0\.1:\d+\n", lines[3])
    assert lines[4:] == [
        f"  curl {url}/health\n",
        '  curl -H "Authorization: Bearer $(aura token issue --role operator)" '
        f"{url}/api/_modules\n",
    ]
    assert health.json()["status"] == "up"
    assert anonymous.status_code == 401
    assert modules.status_code == 200
    assert [module["name"] for module in modules.json()["modules"]] == [
        "users",
        "billing",
        "mentalhealth",
        "notifications",
    ]
    assert keys.stat().st_mode & 0o777 == 0o600
    assert database.stat().st_mode & 0o777 == 0o600  # patients' data: this user's alone
    assert beside == {"aura.db-wal": 0o600, "aura.db-shm": 0o600}  # SQLite copies the mode
    assert server.returncode == 0
    assert output == "Stopped; the platform and its database are closed.\n"
    assert (tmp_path / "var" / "aura.db").is_file()
    # SQLite folds and removes the write-ahead log when the last connection closes cleanly.
    assert not (tmp_path / "var" / "aura.db-wal").exists()


def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """Point ``aura serve``'s database and key file into folders of ``tmp_path`` not made yet:
    a refusal that creates either leaves them behind."""
    database = tmp_path / "data" / "platform.db"
    keys = tmp_path / "keys" / "token-keys.json"
    monkeypatch.setenv("AURA_DATABASE", str(database))
    monkeypatch.setenv("AURA_TOKEN_KEYS", str(keys))
    return database, keys


def test_serve_refuses_a_taken_port_before_creating_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, keys = _elsewhere(tmp_path, monkeypatch)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    out = io.StringIO()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigurationError) as refused:
            run_serve(parser.parse_args(["--port", str(port)]), out)
    assert str(refused.value) == (
        f"Cannot listen on 127.0.0.1:{port}: Address already in use. Pass --port with a free "
        "port, or stop what uses this one. Nothing was opened."
    )
    assert out.getvalue() == ""
    assert not database.exists()
    assert not keys.exists()


def test_serve_names_the_host_when_its_address_is_not_this_machine_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, keys = _elsewhere(tmp_path, monkeypatch)
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    with pytest.raises(ConfigurationError) as refused:  # 192.0.2.1: TEST-NET-1, no one's
        run_serve(parser.parse_args(["--host", "192.0.2.1", "--port", "8126"]), io.StringIO())
    assert str(refused.value) == (
        "Cannot listen on 192.0.2.1:8126: Cannot assign requested address. Pass --host with an "
        "address of this machine: 127.0.0.1 (this machine only) or 0.0.0.0 (every interface). "
        "Nothing was opened."
    )
    assert not database.exists()
    assert not keys.exists()


def test_serve_reports_a_port_taken_after_its_check_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\nmodules = "modules"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AURA_DATABASE", str(tmp_path / "platform.db"))
    monkeypatch.setenv("AURA_TOKEN_KEYS", str(tmp_path / "token-keys.json"))
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "none")
    monkeypatch.setattr(serving, "_check_port_free", lambda host, port: None)  # the race
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    out = io.StringIO()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run_serve(parser.parse_args(["--port", str(port)]), out) == 1
    assert out.getvalue().splitlines()[-1] == (
        f"Cannot listen on 127.0.0.1:{port}: Address already in use. Pass --port with a free "
        "port, or stop what uses this one."
    )


@pytest.mark.parametrize("database", ["", "folder"])
def test_serve_refusing_its_database_creates_no_token_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, database: str
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\nmodules = "modules"\n')
    (tmp_path / "folder").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AURA_DATABASE", database and str(tmp_path / database))
    keys = tmp_path / "keys" / "token-keys.json"
    monkeypatch.setenv("AURA_TOKEN_KEYS", str(keys))
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    with pytest.raises(ConfigurationError):
        run_serve(parser.parse_args(["--port", "0"]), io.StringIO())
    assert not keys.exists()
    assert not keys.parent.exists()


@pytest.mark.parametrize(
    ("address", "message"),
    [
        (
            ["--port", "-1"],
            "--port must be a port number from 0 to 65535, got -1. Pass e.g. --port 8000 (0: "
            "any free port). Nothing was opened.",
        ),
        (
            ["--port", "70000"],
            "--port must be a port number from 0 to 65535, got 70000. Pass e.g. --port 8000 "
            "(0: any free port). Nothing was opened.",
        ),
        (
            ["--host", "999.1.1.1"],
            "--host '999.1.1.1' is not an address to listen on: ",
        ),
    ],
)
def test_serve_refuses_a_bad_address_before_opening_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, address: list[str], message: str
) -> None:
    database, keys = _elsewhere(tmp_path, monkeypatch)
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    with pytest.raises(ConfigurationError) as refused:
        run_serve(parser.parse_args(address), io.StringIO())
    assert str(refused.value).startswith(message)
    if address[0] == "--host":
        assert str(refused.value).endswith(
            ". Pass an address of this machine, e.g. --host 127.0.0.1 (this machine only) or "
            "--host 0.0.0.0 (every interface). Nothing was opened."
        )
    assert not database.exists()
    assert not keys.exists()


def test_serve_prints_its_traces_to_the_console_by_default(tmp_path: Path) -> None:
    """With the otel extra and no OTEL_* variable, each request's spans reach stdout."""
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\nmodules = "modules"\n')
    server = _serve(tmp_path, "--port", "0", traces="")
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(6)]
        url = lines[3].rsplit(" ", 1)[-1].strip()
        traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        assert httpx.get(f"{url}/health", headers={"traceparent": traceparent}).status_code == 200
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=20)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert lines[2] == (
        "Traces to the console (set OTEL_EXPORTER_OTLP_ENDPOINT=http://<collector>:4318 to send "
        "them to a collector, or OTEL_TRACES_EXPORTER=none).\n"
    )
    assert '"name": "GET /health"' in output
    assert '"trace_id": "0x4bf92f3577b34da6a3ce929d0e0e4736"' in output  # the caller's trace
    assert output.endswith("Stopped; the platform and its database are closed.\n")


def test_serve_takes_ipv6_addresses_and_refuses_an_empty_host() -> None:
    from aura.web.serving import _check_address

    for host in ("::", "::1", "0.0.0.0", "localhost"):
        _check_address(host, 8000)  # no refusal
    for host in ("", " "):  # an unset variable: bind() would listen on every interface
        with pytest.raises(ConfigurationError) as refused:
            _check_address(host, 8000)
        assert str(refused.value) == (
            f"--host is empty ({host!r}), which would listen on every interface. Pass --host "
            "127.0.0.1 (this machine only, the default) or --host 0.0.0.0 (every interface). "
            "Nothing was opened."
        )


def test_serve_refuses_an_empty_key_file_variable_before_creating_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\nmodules = "modules"\n')
    monkeypatch.setenv("AURA_DATABASE", str(tmp_path / "platform.db"))
    monkeypatch.setenv("AURA_TOKEN_KEYS", "")
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    with pytest.raises(ConfigurationError) as refused:
        run_serve(parser.parse_args(["--port", "0"]), io.StringIO())
    assert str(refused.value) == (
        "$AURA_TOKEN_KEYS is set but empty. Set it to the gateway's key file (e.g. "
        "var/token-keys.json), or unset it for token_keys in [tool.aura.web] or the default. "
        "Nothing was opened."
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pyproject.toml"]

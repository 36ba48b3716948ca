"""The reference platform (users, mentalhealth, notifications, billing) on PostgreSQL as on SQLite:
the booking flow with the same steps and the same assertions on both databases, ``aura serve``
on a ``postgresql://`` AURA_DATABASE answering real HTTP, the database location read from the
flag, the environment and ``[tool.aura]``, ``aura dead-letters`` on a PostgreSQL URL, and
the example of docs/howto/postgresql.rst run as the page shows it.

PostgreSQL is the session's private cluster (aura.testing.postgres); the SQLite runs need
none, and only the PostgreSQL ones are skipped without it.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from aura.cli import main
from aura.config import database_location, database_path, load_config
from aura.exceptions import ConfigurationError
from aura.platform import Platform
from aura.testing import FrozenClock, PublishedEvents, Trace
from aura.web.auth import TokenAuthority
from tests.integration.test_cli_dead_letters import aura, make_shop
from tests.integration.test_complete_flow import NOW, SESSION_AT, register_pair, rows, service

try:  # now, before a test freezes the clock: psycopg's C module checks datetime's types
    from aura.postgres import PostgresDatabase
except ImportError:  # without the postgres extra only the SQLite tests run
    PostgresDatabase = None  # type: ignore[assignment,misc]

ROOT = Path(__file__).resolve().parents[2]
HOWTO = ROOT / "docs" / "howto" / "postgresql.rst"
BOTH = pytest.mark.parametrize("engine", ["sqlite", "postgresql"])


def url_of(dsn: str, password: str = "s3cret-pw") -> str:
    """The ``postgresql://`` URL of a libpq DSN (the fixtures give ``key=value`` strings).

    A DSN without a password gets ``password``: the private cluster trusts every local
    connection, so it is never checked there, and it shows whether output masks it.
    """
    from psycopg import conninfo

    parts = conninfo.conninfo_to_dict(dsn)
    secret = parts.get("password") or password
    return (
        f"postgresql://{parts['user']}:{secret}@{parts['host']}:{parts['port']}/{parts['dbname']}"
    )


def masked(url: str) -> str:
    """What Aura shows of ``url``: its password replaced by ``***``."""
    return re.sub(r"^(postgresql://[^:/@]+:)[^@]*@", r"\1***@", url)


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


# --- the booking flow, on both databases ---------------------------------------------------------


@pytest.fixture
def clock(frozen_time: FrozenClock) -> FrozenClock:
    """The test's frozen time, at NOW: a day before the session is booked for.

    Only the test that must be at the session's time uses it, after ``open_platform``, so that
    its platforms close once time runs again: under freezegun, closing psycopg's pool waits out
    its 5-second timeout (its threads' timed waits never end).
    """
    frozen_time.move_to(NOW)
    return frozen_time


@pytest.fixture
def open_platform(
    engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Callable[..., Platform]]:
    """Opens the reference platform, durable, on ``engine``: an SQLite file, or a new
    PostgreSQL database (the same one for every platform of the test); closes them after."""
    if engine == "postgresql":
        dsn = request.getfixturevalue("fresh_postgres_dsn")

        def database() -> Any:
            return PostgresDatabase(dsn)
    else:

        def database() -> Any:
            return tmp_path / "aura.db"

    opened: list[Platform] = []

    def open_one(**options: Any) -> Platform:
        platform = Platform(
            Platform.discover("modules"), database=database(), durable=True, **options
        )
        opened.append(platform)
        return platform.start()

    yield open_one
    for platform in opened:
        platform.close()


def booked(platform: Platform) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The patient, the therapist and the session booked between them for SESSION_AT."""
    patient, therapist = register_pair(platform)
    sessions = service(platform, "mentalhealth", "TherapySessionService")
    session = sessions.schedule_session(patient["id"], therapist["id"], SESSION_AT)
    return patient, therapist, session


def delivered_once(platform: Platform) -> bool:
    """Whether every publication (a subscriber's delivery of an event) completed on its first
    attempt: none is left to do, none failed, none ran twice."""
    left = rows(
        platform,
        "SELECT COUNT(*) AS n FROM aura_publications WHERE status <> 'COMPLETED' OR attempts <> 1",
    )
    return left == [{"n": 0}]


@BOTH
def test_booking_notifies_both_users_and_opens_one_charge_exactly_once(
    open_platform: Callable[..., Platform],
) -> None:
    platform = open_platform()
    trace = Trace().attach(platform.bus, platform.registry)
    patient, therapist, session = booked(platform)
    trace.detach()

    flow = PublishedEvents(trace).events[2:]  # after the two registrations
    assert [event.event_type for event in flow] == [
        "therapy_session.scheduled",
        "notification.sent",
        "notification.sent",
    ]
    assert [event.data["recipient_id"] for event in flow[1:]] == [patient["id"], therapist["id"]]
    outbox = rows(platform, "SELECT recipient FROM notifications_outbox ORDER BY id")
    assert outbox == [{"recipient": "pat@example.com"}, {"recipient": "dr.t@example.com"}]
    sent = rows(
        platform,
        "SELECT recipient_id, template, reference, status FROM notifications_notifications "
        "ORDER BY id",
    )
    assert sent == [
        {
            "recipient_id": user["id"],
            "template": template,
            "reference": f"session:{session['id']}",
            "status": "sent",
        }
        for user, template in (
            (patient, "session_confirmation"),
            (therapist, "session_notification"),
        )
    ]
    charges = rows(
        platform, "SELECT session_id, patient_id, amount_cents, status FROM billing_charges"
    )
    assert charges == [
        {
            "session_id": session["id"],
            "patient_id": patient["id"],
            "amount_cents": 9000,
            "status": "pending",
        }
    ]
    assert delivered_once(platform)
    assert platform.bus.dead_letters() == []


@BOTH
def test_completing_a_session_captures_its_charge_once_and_books_one_gateway_transaction(
    open_platform: Callable[..., Platform], clock: FrozenClock
) -> None:
    platform = open_platform()
    trace = Trace().attach(platform.bus, platform.registry)
    patient, _, session = booked(platform)
    sessions = service(platform, "mentalhealth", "TherapySessionService")
    clock.move_to(SESSION_AT + timedelta(minutes=1))
    sessions.start_session(session["id"])
    sessions.complete_session(session["id"])
    trace.detach()

    PublishedEvents(trace).assert_published(
        "payment.completed",
        times=1,
        session_id=session["id"],
        patient_id=patient["id"],
        amount_cents=9000,
    )
    [booking] = rows(platform, "SELECT id, reference FROM billing_gateway_transactions")
    assert booking["reference"] == f"session-{session['id']}"
    assert rows(platform, "SELECT status FROM billing_charges") == [{"status": "captured"}]
    assert rows(platform, "SELECT status, transaction_id FROM billing_payments") == [
        {"status": "completed", "transaction_id": f"local-{booking['id']}"}
    ]


@BOTH
def test_deactivating_the_patient_cancels_the_session_and_voids_the_charge(
    open_platform: Callable[..., Platform],
) -> None:
    platform = open_platform()
    patient, _, session = booked(platform)
    service(platform, "users", "UserService").deactivate_user(patient["id"])

    sessions = service(platform, "mentalhealth", "TherapySessionService")
    assert sessions.get_session(session["id"])["status"] == "cancelled"
    assert rows(platform, "SELECT status FROM billing_charges") == [{"status": "void"}]
    cancelled = rows(
        platform,
        "SELECT COUNT(*) AS n FROM notifications_notifications WHERE template = "
        "'session_cancelled' AND status = 'sent'",
    )
    assert cancelled == [{"n": 2}]


@BOTH
def test_the_sessions_of_a_user_are_listed_oldest_first_and_survive_a_restart(
    open_platform: Callable[..., Platform],
) -> None:
    first = open_platform()
    patient, therapist = register_pair(first)
    sessions = service(first, "mentalhealth", "TherapySessionService")
    later = sessions.schedule_session(patient["id"], therapist["id"], SESSION_AT + timedelta(1))
    sooner = sessions.schedule_session(patient["id"], therapist["id"], SESSION_AT)
    first.close()

    second = open_platform()
    listed = service(second, "mentalhealth", "TherapySessionService").list_sessions(patient["id"])
    assert [session["id"] for session in listed] == [sooner["id"], later["id"]]
    assert service(second, "users", "UserService").is_user_active(therapist["id"])


@BOTH
def test_a_user_id_once_handed_out_never_names_another_user(
    open_platform: Callable[..., Platform],
) -> None:
    platform = open_platform()
    users = service(platform, "users", "UserService")
    first = users.register_user("first@example.com", "First", "patient")
    platform.database.execute("DELETE FROM users_users WHERE id = ?", (first["id"],))
    second = users.register_user("second@example.com", "Second", "patient")
    assert second["id"] > first["id"]


@BOTH
def test_the_local_gateway_books_a_reference_once_however_often_it_is_charged(
    open_platform: Callable[..., Platform],
) -> None:
    from modules.billing.domain import PaymentGateway

    platform = open_platform()
    gateway = platform.container.resolve(PaymentGateway)
    first = gateway.charge(7, 9000, "EUR", "session-1")
    again = gateway.charge(7, 9000, "EUR", "session-1")
    other = gateway.charge(7, 9000, "EUR", "session-2")

    assert (first.approved, again.approved, other.approved) == (True, True, True)
    assert again.transaction_id == first.transaction_id != other.transaction_id
    booked_rows = rows(platform, "SELECT reference FROM billing_gateway_transactions ORDER BY id")
    assert booked_rows == [{"reference": "session-1"}, {"reference": "session-2"}]


def test_on_postgres_delivery_workers_send_each_notification_and_open_the_charge_once(
    fresh_postgres_dsn: str,
) -> None:
    modules = Platform.discover("modules")
    # The web process publishes only; two worker processes' worth of threads deliver.
    with (
        Platform(
            modules, database=PostgresDatabase(fresh_postgres_dsn), durable=True, workers=0
        ) as web,
        Platform(
            modules, database=PostgresDatabase(fresh_postgres_dsn), durable=True, workers=3
        ) as delivery,
    ):
        web.start()
        delivery.start()
        patient, _, session = booked(web)
        assert wait_until(lambda: delivered_once(web)), rows(
            web, "SELECT event_type, subscriber_module, status, attempts FROM aura_publications"
        )

        assert rows(web, "SELECT COUNT(*) AS n FROM notifications_outbox") == [{"n": 2}]
        assert rows(web, "SELECT session_id, patient_id, status FROM billing_charges") == [
            {"session_id": session["id"], "patient_id": patient["id"], "status": "pending"}
        ]
        assert web.bus.dead_letters() == []


# --- aura serve on a postgresql:// AURA_DATABASE -------------------------------------------------


def _serve(project: Path, database: str) -> subprocess.Popen[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"AURA_DATABASE", "AURA_TOKEN_KEYS"} and not name.startswith("OTEL_")
    }
    env.update(AURA_DATABASE=database, OTEL_TRACES_EXPORTER="none", PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "aura", "serve", "--port", "0"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_aura_serve_on_a_postgres_url_books_a_session_over_http_into_that_database(
    tmp_path: Path, fresh_postgres_dsn: str
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\nmodules = "modules"\n')
    url = url_of(fresh_postgres_dsn)
    server = _serve(tmp_path, url)
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(6)]
        base = lines[3].rsplit(" ", 1)[-1].strip()
        authority = TokenAuthority.from_file(tmp_path / "var" / "token-keys.json")
        operator = {"Authorization": f"Bearer {authority.issue('ops', roles=['operator'])}"}
        with httpx.Client(base_url=base, timeout=10) as client:
            health = client.get("/health")
            patient = client.post(
                "/api/users/users",
                json={"email": "pat@example.com", "name": "Pat Doe", "role": "patient"},
                headers=operator,
            )
            therapist = client.post(
                "/api/users/users",
                json={"email": "dr.t@example.com", "name": "Dr T", "role": "therapist"},
                headers=operator,
            )
            scheduled = client.post(
                "/api/mentalhealth/sessions",
                json={
                    "patient_id": patient.json()["id"],
                    "therapist_id": therapist.json()["id"],
                    "scheduled_at": SESSION_AT.isoformat(),
                    "session_type": "individual",
                },
                headers=operator,
            )
        server.send_signal(signal.SIGINT)
        output, _ = server.communicate(timeout=20)
    finally:
        if server.poll() is None:  # a failed assertion above: stop it and close its pipes
            server.kill()
            server.communicate()

    assert lines[0] == f"Database {masked(url)} (tables created if missing).\n"
    assert "s3cret-pw" not in "".join(lines) + output
    assert re.fullmatch(r"Aura serves 4 modules on http://127\.0\.0\.1:\d+\n", lines[3])
    assert health.json()["status"] == "up"
    assert (patient.status_code, therapist.status_code, scheduled.status_code) == (201, 201, 201)
    assert (server.returncode, output) == (
        0,
        "Stopped; the platform and its database are closed.\n",
    )
    assert not (tmp_path / "var" / "aura.db").exists()  # nothing went to SQLite
    with PostgresDatabase(fresh_postgres_dsn) as database:
        charges = database.query("SELECT session_id, amount_cents, status FROM billing_charges")
        outbox = database.query("SELECT recipient FROM notifications_outbox ORDER BY id")
        statuses = database.query("SELECT DISTINCT status FROM aura_publications")
    assert charges == [
        {"session_id": scheduled.json()["id"], "amount_cents": 9000, "status": "pending"}
    ]
    assert outbox == [{"recipient": "pat@example.com"}, {"recipient": "dr.t@example.com"}]
    assert statuses == [{"status": "COMPLETED"}]


def test_aura_serve_on_a_postgres_server_that_is_down_says_so_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\nmodules = "modules"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AURA_DATABASE", "postgresql://aura:s3cret-pw@127.0.0.1:9/aura")
    out = io.StringIO()

    status = main(["serve", "--port", "0"], out=out)

    assert status == 2
    assert out.getvalue().startswith(
        "aura serve: error: Cannot connect to PostgreSQL at "
        "'postgresql://aura:***@127.0.0.1:9/aura': "
    )
    assert "s3cret-pw" not in out.getvalue()


def test_run_serve_without_a_way_to_open_postgres_refuses_a_postgres_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import argparse

    from aura.web import add_serve_arguments, run_serve

    (tmp_path / "pyproject.toml").write_text('[tool.aura]\nmodules = "modules"\n')
    monkeypatch.chdir(tmp_path)
    parser = argparse.ArgumentParser()
    add_serve_arguments(parser)
    args = parser.parse_args(["--database", "postgresql://aura@127.0.0.1/aura"])

    with pytest.raises(ConfigurationError) as refused:
        run_serve(args, io.StringIO())
    assert str(refused.value) == (
        "The database is a PostgreSQL URL, and run_serve() was given no open_postgres to open it "
        "with. Run `aura serve`, or pass run_serve(args, out, "
        "open_postgres=aura.postgres.PostgresDatabase)."
    )


# --- where the database is -----------------------------------------------------------------------


URL = "postgresql://aura:s3cret-pw@db.internal:5432/aura?sslmode=require"


def test_a_postgres_url_is_kept_as_written_from_the_flag_the_environment_and_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text(f'[tool.aura]\ndatabase = "{URL}"\n')
    config = load_config(tmp_path)
    monkeypatch.delenv("AURA_DATABASE", raising=False)
    from_table = database_location(None, config)
    monkeypatch.setenv("AURA_DATABASE", "postgres://other@db.internal/other")
    from_environment = database_location(None, config)
    from_flag = database_location("postgresql://flag@db.internal/flag", config)

    assert config.database == URL
    assert from_table == URL
    assert from_environment == "postgres://other@db.internal/other"
    assert from_flag == "postgresql://flag@db.internal/flag"


def test_a_file_location_stays_an_sqlite_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\ndatabase = "var/shop.db"\n')
    config = load_config(tmp_path)
    monkeypatch.delenv("AURA_DATABASE", raising=False)
    assert database_location(None, config) == tmp_path.resolve() / "var" / "shop.db"
    assert database_path(None, config) == tmp_path.resolve() / "var" / "shop.db"
    monkeypatch.setenv("AURA_DATABASE", "data/postgresql.db")
    assert database_location(None, config) == Path("data/postgresql.db")
    assert database_location("postgres.db", config) == Path("postgres.db")


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("postgresql+psycopg://flag@db.internal/flag", "postgresql://flag@db.internal/flag"),
        ("POSTGRESQL://flag@db.internal/flag", "postgresql://flag@db.internal/flag"),
        ("Postgres+psycopg2://flag@db.internal/flag", "postgresql://flag@db.internal/flag"),
    ],
)
def test_sqlalchemys_and_upper_case_postgres_urls_are_read_as_libpq_reads_them(
    tmp_path: Path, written: str, read: str
) -> None:
    """Before, these became the path of a new SQLite file named after the URL."""
    (tmp_path / "pyproject.toml").write_text("[tool.aura]\n")
    config = load_config(tmp_path)
    assert database_location(written, config) == read


def test_an_sqlalchemy_sqlite_url_is_the_files_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\ndatabase = "sqlite:///var/shop.db"\n')
    config = load_config(tmp_path)
    monkeypatch.delenv("AURA_DATABASE", raising=False)
    assert database_location(None, config) == tmp_path.resolve() / "var" / "shop.db"
    assert database_location("sqlite:////srv/aura.db", config) == Path("/srv/aura.db")


def test_a_url_of_another_kind_is_refused_naming_where_it_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.aura]\n")
    config = load_config(tmp_path)
    monkeypatch.setenv("AURA_DATABASE", "mysql://shop:s3cret@db.internal/shop")
    with pytest.raises(ConfigurationError) as refused:
        database_location(None, config)
    assert str(refused.value) == (
        "The database ($AURA_DATABASE) is 'mysql://shop:***@db.internal/shop', a mysql:// URL, "
        "which Aura does not open: it stores on SQLite (a file's path, or sqlite:///path) or "
        "PostgreSQL (postgresql://user:password@host:5432/dbname). Pass one of those."
    )
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\ndatabase = "redis://cache/0"\n')
    with pytest.raises(ConfigurationError) as in_table:
        load_config(tmp_path)
    assert str(in_table.value).startswith(
        f"The database (database in {tmp_path.resolve() / 'pyproject.toml'}) is "
        "'redis://cache/0', a redis:// URL"
    )
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\ndatabase = "sqlite://"\n')
    with pytest.raises(ConfigurationError) as in_memory:
        load_config(tmp_path)
    assert str(in_memory.value) == (
        f"The database (database in {tmp_path.resolve() / 'pyproject.toml'}) is 'sqlite://', a "
        "database in memory: it would keep nothing between runs, and a command could not see "
        "the platform's. Pass an SQLite file (var/aura.db, or sqlite:///var/aura.db) or a "
        "postgresql:// URL."
    )


def test_an_empty_database_in_tool_aura_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\ndatabase = ""\n')
    with pytest.raises(ConfigurationError) as refused:
        load_config(tmp_path)
    assert str(refused.value) == (
        f"database in [tool.aura] of {tmp_path / 'pyproject.toml'} is empty. Set it to the "
        'platform\'s SQLite file (database = "var/aura.db") or a postgresql:// URL, or remove '
        "the line for the default (var/aura.db)."
    )


def test_a_plain_memory_database_is_refused_where_a_command_needs_a_file(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\ndatabase = ":memory:"\n')
    with pytest.raises(ConfigurationError) as refused:
        load_config(tmp_path)
    assert "is ':memory:', a database in memory" in str(refused.value)


def test_sqlalchemy_sqlite_urls_with_a_driver_and_passwords_with_a_slash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aura.sql import database_url, mask_password_any

    assert database_url("sqlite+pysqlite:///x.db", "here") == "x.db"
    assert database_url("sqlite:///:memory:", "here") == ":memory:"
    with pytest.raises(ConfigurationError) as refused:
        database_url("sqlite:///var/x.db?timeout=20", "here")
    assert str(refused.value) == (
        "The database (here) is 'sqlite:///var/x.db?timeout=20', an SQLite URL with options "
        "('timeout=20'), which Aura does not read: the file would be named "
        "'var/x.db?timeout=20'. Pass the file alone (sqlite:///var/x.db); Aura sets its own "
        "connection options."
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match="an SQLite URL with options"):
        Platform([], database="sqlite:///shop.db?mode=ro")
    assert list(tmp_path.iterdir()) == []  # no file named after it
    assert (
        mask_password_any("mysql://u:pa/ss@h/db?password=zz") == "mysql://u:***@h/db?password=***"
    )
    from aura.sql import mask_password

    masked = mask_password("postgresql://app:s3cr/et@db:5432/aura")
    assert masked == "postgresql://app:***@db:5432/aura"
    with pytest.raises(ConfigurationError) as refused:
        Platform([], database="postgresql://shop:pa/ss@127.0.0.1:1/shop")
    assert "pa/ss" not in str(refused.value)
    with Platform([], database="sqlite:///:memory:") as in_memory:
        assert in_memory.database.path == ":memory:"


def test_a_platform_given_a_postgres_url_as_text_says_to_pass_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError, match="is a PostgreSQL URL; a string is an SQLite"):
        Platform([], database="postgres://shop@127.0.0.1:1/shop")  # libpq's other spelling
    assert list(tmp_path.iterdir()) == []  # no SQLite file named after it
    with pytest.raises(ConfigurationError) as refused:
        Platform([], database="postgresql+psycopg://shop:s3cret@127.0.0.1:1/shop")
    assert str(refused.value) == (
        "database='postgresql://shop:***@127.0.0.1:1/shop' is a PostgreSQL URL; a string is an "
        "SQLite file's path. Pass the database itself: database=PostgresDatabase(url), with "
        "`from aura.postgres import PostgresDatabase` (the postgres extra: pip install "
        "'aura-modulith[postgres]'). Nothing was opened."
    )


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project with one module, ``mailer``, whose handler fails while a flag file exists."""
    yield from make_shop(tmp_path, monkeypatch)


def test_aura_dead_letters_lists_retries_and_purges_on_postgres(
    shop: Path, fresh_postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = url_of(fresh_postgres_dsn)
    (shop / "pyproject.toml").write_text('[tool.aura]\nmodules = "shop"\n')
    monkeypatch.chdir(shop)
    monkeypatch.setenv("AURA_DATABASE", url)  # where the platform's database is, as in CI
    flag = shop / "shop" / "mailer" / "broken"
    flag.write_text("")
    with Platform(
        Platform.discover("shop"), database=PostgresDatabase(url), durable=True
    ) as platform:
        for n in (1, 2):
            platform.bus.publish("order.placed", {"n": n}, "orders")

    status, text = aura("dead-letters", "list")
    assert status == 0
    lines = text.splitlines()
    assert lines[-1] == "2 dead letters."
    assert re.fullmatch(
        r"\d+  mailer:shop\.mailer\.send failed on 'order\.placed' \(event "
        r"[0-9a-f-]{36}, 1 attempt\): ConnectionError: smtp down for order 1",
        lines[0],
    )
    assert aura("dead-letters", "retry") == (
        1,
        "Retried: 0 delivered, 2 failed again, 0 held back by the policy, 0 with no subscriber.\n",
    )
    flag.unlink()
    first_id = lines[0].split()[0]
    absent = str(int(first_id) + 1000)
    assert aura("dead-letters", "purge", "--id", absent) == (
        2,
        f"aura dead-letters: error: No dead letter with the id {absent!r} in {masked(url)}; "
        "nothing was purged. 'aura dead-letters list' prints the ids there are.\n",
    )
    assert aura("dead-letters", "purge", "--database", url, "--id", first_id) == (
        0,
        "Purged 1 dead letter.\n",
    )
    assert aura("dead-letters", "retry") == (
        0,
        "Retried: 1 delivered, 0 failed again, 0 held back by the policy, 0 with no subscriber.\n",
    )
    assert aura("dead-letters", "list") == (0, "0 dead letters.\n")
    with PostgresDatabase(url) as database:
        states = database.query("SELECT status FROM aura_publications ORDER BY id")
    assert [row["status"] for row in states] == ["COMPLETED"]  # the other was purged


def test_aura_dead_letters_refuses_a_postgres_database_no_platform_ran_on_and_creates_nothing(
    tmp_path: Path, fresh_postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = url_of(fresh_postgres_dsn)
    monkeypatch.chdir(tmp_path)
    for action in (["list"], ["purge", "--all"], ["retry", "--modules", "modules"]):
        assert aura("dead-letters", *action, "--database", url) == (
            2,
            f"aura dead-letters: error: The PostgreSQL database {masked(url)} holds no Aura "
            "tables (aura_publications): no durable platform has run on it. Nothing was "
            "changed. Pass --database with the URL of a platform built with durable=True.\n",
        )
    with PostgresDatabase(url) as database:
        tables = database.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )
    assert tables == []


# --- the how-to's example ------------------------------------------------------------------------


def _block(page: str, name: str) -> str:
    """The body of the page's code block with ``:name: name``, dedented."""
    found = re.search(
        rf"^\.\. code-block:: \w+\n   :name: {re.escape(name)}\n\n((?:   .*\n|\n)+)",
        page,
        re.MULTILINE,
    )
    assert found is not None, f"{HOWTO.name} has no code block named {name!r}"
    return textwrap.dedent(found.group(1)).strip("\n") + "\n"


def test_the_how_to_example_runs_on_postgres_and_prints_what_the_page_shows(
    tmp_path: Path, fresh_postgres_dsn: str
) -> None:
    page = HOWTO.read_text()
    example = tmp_path / "example.py"
    example.write_text(_block(page, "postgresql-example"))
    env = {name: value for name, value in os.environ.items() if name != "AURA_DATABASE"}
    env["AURA_DATABASE"] = url_of(fresh_postgres_dsn)

    result = subprocess.run(
        [sys.executable, str(example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == _block(page, "postgresql-example-output")

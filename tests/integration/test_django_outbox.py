"""The outbox inside Django's own transactions (aura.integrations.django).

Each case runs on a SQLite file and on a private PostgreSQL database, each a Django database
alias of its own added for the test: an event published inside ``transaction.atomic()``
commits with it and is delivered after it, or is discarded with its rollback.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import psycopg.conninfo
import pytest
from django.apps import apps
from django.conf import settings
from django.db import OperationalError, connections, transaction
from django.utils.functional import empty

from aura import EventCatalog, Module, Platform
from aura.exceptions import (
    ConfigurationError,
    TransactionMismatchError,
    TransactionRequiredError,
)
from aura.integrations.django import DjangoDatabase

CHILD = Path(__file__).with_name("django_child.py")
EVENT = "dj_test.order.placed"
_aliases = itertools.count()


@pytest.fixture(autouse=True, scope="module")
def django_settings() -> Iterator[None]:
    """Django configured for this module's tests only, then unconfigured again.

    Django's settings and app registry are the process's. Configured at import (at
    collection), they made pytest-django set up Django's test environment for the whole
    session, and then again in each in-process pytester run of the session (``tests/plugin``),
    whose every test then failed with "setup_test_environment() was already called".
    """
    if settings.configured:  # a DJANGO_SETTINGS_MODULE: pytest-django guards its databases
        pytest.skip(
            "Django is already configured in this process (DJANGO_SETTINGS_MODULE?): these "
            "tests configure Django's databases themselves; run them without it"
        )
    settings.configure(DATABASES={}, USE_TZ=True, INSTALLED_APPS=[])
    django.setup()
    yield
    connections.close_all()
    vars(connections).pop("settings", None)  # the cached DATABASES of the settings about to go
    connections._settings = None
    settings._wrapped = empty
    # The app registry back to unpopulated, as at import, so that a later django.setup()
    # in this process loads its own INSTALLED_APPS instead of finding this one's "ready".
    apps.app_configs = {}
    apps.apps_ready = apps.models_ready = apps.ready = apps.loading = False
    apps.ready_event.clear()
    apps.clear_cache()


def postgres_settings(dsn: str) -> dict[str, Any]:
    parts = psycopg.conninfo.conninfo_to_dict(dsn)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts["dbname"],
        "USER": parts.get("user", ""),
        "PASSWORD": parts.get("password", ""),
        "HOST": parts.get("host", ""),
        "PORT": parts.get("port", ""),
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def database_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "app.db")}
    return postgres_settings(request.getfixturevalue("fresh_postgres_dsn"))


@pytest.fixture
def alias(database_settings: dict[str, Any]) -> Iterator[str]:
    """A Django database alias of this test's own."""
    name = f"aura_test_{next(_aliases)}"
    default = connections.settings.get("default", {"ENGINE": "django.db.backends.dummy"})
    filled = connections.configure_settings({"default": default, name: database_settings})
    connections.settings[name] = filled[name]
    with connections[name].cursor() as cursor:
        cursor.execute("CREATE TABLE t_orders (n INTEGER NOT NULL)")
        cursor.execute("CREATE TABLE t_shipments (n INTEGER NOT NULL)")
    yield name
    connections[name].close()
    del connections[name]
    del connections.settings[name]


class Shop:
    """orders publishes in its atomic block; shipping writes a row per delivery (and counts)."""

    def __init__(self, alias: str, **database: Any) -> None:
        self.alias = alias
        self.runs: list[int] = []
        self.fail_on: set[int] = set()
        orders = Module("orders")
        orders.publishes(EVENT)
        shipping = Module("shipping")

        @shipping.subscribe(EVENT, name="ship")
        def ship(data: dict[str, Any]) -> None:
            self.runs.append(data["n"])
            with connections[alias].cursor() as cursor:
                cursor.execute("INSERT INTO t_shipments VALUES (%s)", [data["n"]])
            if data["n"] in self.fail_on:
                raise RuntimeError(f"no stock for order {data['n']}")

        self.database = DjangoDatabase(alias, **database)
        self.platform = Platform(
            [orders, shipping],
            database=self.database,
            durable=True,
            poll_interval=None,
            catalog=EventCatalog(),
        )

    def place(self, n: int) -> None:
        with connections[self.alias].cursor() as cursor:
            cursor.execute("INSERT INTO t_orders VALUES (%s)", [n])
        self.platform.bus.publish(EVENT, {"n": n}, "orders")

    def count(self, table: str) -> int:
        with connections[self.alias].cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            return int(cursor.fetchone()[0])


@pytest.fixture
def shop(alias: str) -> Iterator[Shop]:
    shop = Shop(alias)
    yield shop
    shop.platform.close()


def test_an_event_published_in_atomic_commits_with_it_and_is_delivered_after_it(
    shop: Shop,
) -> None:
    with transaction.atomic(using=shop.alias):
        shop.place(1)
        assert shop.runs == []
        assert shop.database.in_transaction
    assert shop.runs == [1]
    assert shop.count("t_orders") == 1
    assert shop.count("t_shipments") == 1
    statuses = shop.database.query("SELECT status FROM aura_publications")
    assert [row["status"] for row in statuses] == ["COMPLETED"]


def test_a_rollback_discards_the_event_its_publications_and_its_delivery(shop: Shop) -> None:
    def declined() -> None:
        with transaction.atomic(using=shop.alias):
            shop.place(1)
            raise RuntimeError("payment declined")

    with pytest.raises(RuntimeError, match="payment declined"):
        declined()
    assert shop.runs == []
    assert shop.count("aura_events") == 0
    assert shop.count("aura_publications") == 0
    assert shop.count("t_orders") == 0


def test_a_handler_s_writes_roll_back_with_its_failure_into_a_dead_letter(shop: Shop) -> None:
    shop.fail_on.add(2)
    for n in (1, 2):
        with transaction.atomic(using=shop.alias):
            shop.place(n)
    assert shop.runs == [1, 2]
    assert shop.count("t_shipments") == 1  # the failed delivery's INSERT rolled back
    [letter] = shop.platform.bus.dead_letters()
    assert (letter.error_type, letter.error_message) == ("RuntimeError", "no stock for order 2")
    rows = shop.database.query(
        "SELECT e.data, p.status FROM aura_publications p "
        "JOIN aura_events e ON e.event_id = p.event_id ORDER BY p.status"
    )
    assert [(json.loads(row["data"])["n"], row["status"]) for row in rows] == [
        (1, "COMPLETED"),
        (2, "FAILED"),
    ]


def test_the_protocol_reads_rows_by_name_and_counts_what_a_statement_changed(
    alias: str,
) -> None:
    database = DjangoDatabase(alias)
    added = database.executemany("INSERT INTO t_orders VALUES (?)", [(1,), (2,), (3,)])
    assert added.rowcount == 3
    assert database.executemany("INSERT INTO t_orders VALUES (?)", []).rowcount == 0
    changed = database.execute("UPDATE t_orders SET n = n * 10 WHERE n >= ?", (2,))
    assert changed.rowcount == 2
    rows = database.query("SELECT n, n + 1 AS next FROM t_orders ORDER BY n")
    assert [dict(row) for row in rows] == [
        {"n": 1, "next": 2},
        {"n": 20, "next": 21},
        {"n": 30, "next": 31},
    ]
    assert list(rows[0].keys()) == ["n", "next"]
    assert database.query_one("SELECT n FROM t_orders WHERE n = :n", {"n": 20}) == {"n": 20}
    assert database.query_one("SELECT n FROM t_orders WHERE n = ?", (99,)) is None
    # '%' in a literal is not a placeholder, on either backend
    assert database.query_one("SELECT '100%' AS p WHERE ? = 1", (1,)) == {"p": "100%"}
    assert database.dialect == connections[alias].vendor
    assert database.path.endswith(str(connections.settings[alias]["NAME"]))


def test_a_savepoint_rolled_back_discards_only_the_events_published_inside_it(
    shop: Shop,
) -> None:
    def inner() -> None:
        with transaction.atomic(using=shop.alias):
            shop.place(2)
            raise RuntimeError("this one only")

    with transaction.atomic(using=shop.alias):
        shop.place(1)
        with pytest.raises(RuntimeError, match="this one only"):
            inner()
        assert shop.runs == []
    assert shop.runs == [1]
    assert shop.count("aura_events") == 1
    assert shop.count("t_orders") == 1


def test_close_leaves_django_s_connection_to_django(shop: Shop) -> None:
    shop.database.execute("SELECT 1")
    shop.platform.close()
    assert shop.database.closed
    assert connections[shop.alias].connection is not None  # still open, still Django's
    assert shop.count("t_orders") == 0


def test_two_worker_threads_deliver_each_event_once_on_their_own_connections(
    alias: str,
) -> None:
    total = 20
    lock = threading.Lock()
    ran: list[int] = []
    wrappers: dict[str, Any] = {}  # delivering thread -> its Django connection
    all_ran = threading.Event()
    orders = Module("orders")
    orders.publishes(EVENT)
    shipping = Module("shipping")

    @shipping.subscribe(EVENT, name="ship")
    def ship(data: dict[str, Any]) -> None:
        with connections[alias].cursor() as cursor:  # in the delivery's atomic block
            cursor.execute("INSERT INTO t_shipments VALUES (%s)", [data["n"]])
        with lock:
            wrappers[threading.current_thread().name] = connections[alias]
            ran.append(data["n"])
            if len(ran) == total:
                all_ran.set()

    platform = Platform(
        [orders, shipping],
        database=DjangoDatabase(alias),
        durable=True,
        workers=2,
        poll_interval=30.0,
        catalog=EventCatalog(),
    )
    try:
        platform.start()
        for n in range(total):
            with transaction.atomic(using=alias):
                with connections[alias].cursor() as cursor:
                    cursor.execute("INSERT INTO t_orders VALUES (%s)", [n])
                platform.bus.publish(EVENT, {"n": n}, "orders")
        assert all_ran.wait(60)
    finally:
        platform.close()  # joins the workers: the last delivery's COMPLETED mark is written
    assert sorted(ran) == list(range(total))
    database = DjangoDatabase(alias)
    shipped = database.query("SELECT n, COUNT(*) AS c FROM t_shipments GROUP BY n ORDER BY n")
    assert [(row["n"], row["c"]) for row in shipped] == [(n, 1) for n in range(total)]
    statuses = database.query("SELECT status, COUNT(*) AS c FROM aura_publications GROUP BY status")
    assert [(row["status"], row["c"]) for row in statuses] == [("COMPLETED", total)]
    assert wrappers
    assert all(name.startswith("aura-worker-") for name in wrappers)
    assert connections[alias] not in wrappers.values()  # each worker had a connection of its own
    # the worker threads have ended: their connections were closed, not left to the collector
    assert [wrapper.connection for wrapper in wrappers.values()] == [None] * len(wrappers)


def test_a_connection_broken_under_a_thread_is_reopened_at_its_next_use(
    fresh_postgres_dsn: str,
) -> None:
    name = f"aura_test_{next(_aliases)}"
    connections.settings[name] = connections.configure_settings(
        {
            "default": {"ENGINE": "django.db.backends.dummy"},
            name: postgres_settings(fresh_postgres_dsn),
        }
    )[name]
    try:
        database = DjangoDatabase(name)
        pid = database.query_one("SELECT pg_backend_pid() AS pid")["pid"]
        with psycopg.connect(fresh_postgres_dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        with pytest.raises(OperationalError):  # what the server's restart left this thread
            database.execute("SELECT 1")
        again = database.query_one("SELECT pg_backend_pid() AS pid")
        assert again is not None
        assert again["pid"] != pid
        with database.transaction():
            assert database.in_transaction
    finally:
        connections[name].close()
        del connections[name]
        del connections.settings[name]


# --- bad input: a typed error, and nothing written -------------------------------------------


def test_a_publish_outside_atomic_is_refused_when_a_transaction_is_required(alias: str) -> None:
    shop = Shop(alias, require_transaction=True)
    try:
        with pytest.raises(TransactionRequiredError) as raised:
            shop.place(1)
        assert str(raised.value) == (
            f"Event {EVENT!r} was published outside any transaction of {shop.database.path}, "
            "and that database requires one (require_transaction=True): it would commit "
            "alone, apart from the writes it announces. Publish inside the unit of work "
            "(`with transaction.atomic():`), or set 'REQUIRE_TRANSACTION': False in "
            "settings.AURA (DjangoDatabase(using, require_transaction=False) when you build "
            "it). Nothing was written."
        )
        assert shop.count("aura_events") == 0
    finally:
        shop.platform.close()


def test_an_unknown_alias_is_refused_naming_the_ones_there_are() -> None:
    with pytest.raises(ConfigurationError) as raised:
        DjangoDatabase("replica")
    assert str(raised.value).startswith("Django has no database 'replica'; its DATABASES are: ")
    assert str(raised.value).endswith(". Pass one of them as DjangoDatabase(using=...).")


def test_an_unsupported_vendor_is_refused(alias: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections[alias], "vendor", "mysql")  # a third-party edge
    with pytest.raises(ConfigurationError) as raised:
        DjangoDatabase(alias)
    assert str(raised.value) == (
        f"DjangoDatabase supports SQLite and PostgreSQL, and Django's database {alias!r} is "
        "on mysql. Keep Aura's registry on a supported database: point "
        "DjangoDatabase(using=...) at a sqlite3 or postgresql DATABASES entry."
    )


def test_a_schema_script_inside_atomic_runs_in_it_and_rolls_back_with_it(shop: Shop) -> None:
    script = "CREATE TABLE t_inner (n INTEGER);\nCREATE INDEX t_inner_n ON t_inner (n);"
    with transaction.atomic(using=shop.alias):
        shop.database.executescript(script)
        shop.database.execute("INSERT INTO t_inner VALUES (?)", (1,))
        assert shop.count("t_inner") == 1
        transaction.set_rollback(True, using=shop.alias)
    tables = connections[shop.alias].introspection.table_names()
    assert "t_inner" not in tables  # the schema went with the block
    with transaction.atomic(using=shop.alias):
        shop.database.executescript(script)
    assert "t_inner" in connections[shop.alias].introspection.table_names()


@pytest.mark.parametrize("required", [False, True])
def test_a_publish_inside_another_alias_s_atomic_block_is_refused(
    alias: str, tmp_path: Path, required: bool
) -> None:
    shop = Shop(alias, require_transaction=required)
    other = f"aura_other_{next(_aliases)}"
    connections.settings[other] = connections.configure_settings(
        {
            "default": {"ENGINE": "django.db.backends.dummy"},
            other: {"ENGINE": "django.db.backends.sqlite3", "NAME": str(tmp_path / "o.db")},
        }
    )[other]
    try:
        with (
            transaction.atomic(using=other),
            pytest.raises(TransactionMismatchError) as refused,
        ):
            shop.platform.bus.publish(EVENT, {"n": 1}, "orders")
        assert str(refused.value) == (
            f"An Aura statement ran inside transaction.atomic(using={other!r}), and the "
            f"platform's database is Django's {alias!r}: an event published there would "
            "commit alone, apart from that block's writes. Publish inside "
            f"transaction.atomic(using={alias!r}), or give the platform "
            f"DjangoDatabase({other!r}). Nothing was written."
        )
        assert shop.count("aura_events") == 0
        assert shop.runs == []
    finally:
        shop.platform.close()
        connections[other].close()
        del connections[other]
        del connections.settings[other]


def test_a_platform_built_inside_atomic_publishes_and_delivers_after_the_commit(
    alias: str,
) -> None:
    orders = Module("orders")
    orders.publishes(EVENT)
    shipping = Module("shipping")
    ran: list[int] = []
    shipping.subscribe(EVENT, name="ship")(lambda data: ran.append(data["n"]))
    with transaction.atomic(using=alias):
        platform = Platform(
            [orders, shipping],
            database=DjangoDatabase(alias),
            durable=True,
            poll_interval=None,
            catalog=EventCatalog(),
        )
        platform.start()
        platform.bus.publish(EVENT, {"n": 7}, "orders")
        assert ran == []
    assert ran == [7]
    platform.close()


# --- crashes and concurrent processes -----------------------------------------------------------


def run_child(role: str, database: dict[str, Any], *options: object) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(CHILD), role, json.dumps(database), *map(str, options)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if "--kill" in options:
        assert done.returncode == -9, done.stderr
        return {}
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.splitlines()[-1]))


def effects(alias: str) -> list[int]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM dj_effects GROUP BY event_id")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize("kill", ["before-write", "after-write"])
def test_a_process_killed_after_the_commit_and_before_delivery_delivers_once_after_restart(
    alias: str, database_settings: dict[str, Any], kill: str
) -> None:
    run_child("publish", database_settings, "--events", 3, "--kill", kill)
    assert effects(alias) == []
    assert run_child("deliver", database_settings, "--expect", 1) == {"delivered": 1}
    assert effects(alias) == [1]  # exactly once, by a handler that is not idempotent


def test_two_processes_delivering_together_apply_each_event_once(fresh_postgres_dsn: str) -> None:
    database = postgres_settings(fresh_postgres_dsn)
    run_child("publish-only", database, "--events", 200)
    command = [sys.executable, str(CHILD), "deliver", json.dumps(database)]
    children = [
        subprocess.Popen(
            [*command, "--expect", "200", "--workers", "2"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    delivered = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        delivered.append(json.loads(out.splitlines()[-1])["delivered"])
    with psycopg.connect(fresh_postgres_dsn) as connection:
        counts = connection.execute("SELECT COUNT(*) FROM dj_effects GROUP BY event_id").fetchall()
    assert len(counts) == 200
    assert {row[0] for row in counts} == {1}
    assert sum(delivered) == 200


def test_the_database_s_momentary_failures_are_told_from_the_code_s(alias: str) -> None:
    import sqlite3

    from django.db import IntegrityError, InterfaceError, OperationalError

    database = DjangoDatabase(alias)
    assert database.is_transient(InterfaceError("connection already closed"))
    assert not database.is_transient(IntegrityError("UNIQUE constraint failed"))
    assert not database.is_transient(RuntimeError("database is locked"))
    if database.dialect == "sqlite":
        locked = OperationalError("database is locked")
        locked.__cause__ = sqlite3.OperationalError("database is locked")
        assert database.is_transient(locked)
        assert not database.is_transient(OperationalError("no such table: shop_orders"))
    else:
        assert database.is_transient(OperationalError("server closed the connection"))

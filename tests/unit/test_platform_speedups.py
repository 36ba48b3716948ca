"""What makes a platform per test cheap, and why it changes nothing a test can see.

Schema scripts copied from a template into each in-memory database; a platform built from the
same declarations as an earlier one reusing what that one decided (its validated graph, how
its handlers and start hooks are injected).
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

from aura.database import Database
from aura.exceptions import ContainerError
from aura.module import Module
from aura.platform import Platform

_names = itertools.count(1)


def unique(stem: str) -> str:
    """A table name no other test uses: templates are shared by the whole process."""
    return f"{stem}_{next(_names)}_{id(object())}"


def full_schema(table: str) -> str:
    """A schema script with a table, an index, a partial unique index, a trigger and a view."""
    return f"""
-- {table}: one of everything; a semicolon in a comment; is no statement end
CREATE TABLE IF NOT EXISTS {table}_parent (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT);
CREATE TABLE IF NOT EXISTS {table} (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER NOT NULL REFERENCES {table}_parent (id),
    status TEXT NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'done')),
    note TEXT DEFAULT 'semi;colon'
);
CREATE INDEX IF NOT EXISTS {table}_parent_index ON {table} (parent_id);
CREATE UNIQUE INDEX IF NOT EXISTS {table}_one_new ON {table} (parent_id) WHERE status = 'new';
CREATE TABLE IF NOT EXISTS {table}_log (what TEXT);
CREATE TRIGGER IF NOT EXISTS {table}_logged AFTER INSERT ON {table}
BEGIN
    INSERT INTO {table}_log (what) VALUES ('inserted; ' || NEW.id);
END;
/* a block comment */ CREATE VIEW IF NOT EXISTS {table}_open AS
    SELECT * FROM {table} WHERE status = 'new'
"""


def schema_of(connection: sqlite3.Connection | Database) -> list[tuple[Any, ...]]:
    sql = "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name"
    if isinstance(connection, Database):
        return [tuple(row) for row in connection.query(sql)]
    return connection.execute(sql).fetchall()


def scripted(*scripts: str) -> sqlite3.Connection:
    """What running the scripts themselves makes."""
    connection = sqlite3.connect(":memory:")
    for script in scripts:
        connection.executescript(script)
    return connection


def run(*scripts: str) -> Database:
    database = Database()
    for script in scripts:
        database.executescript(script)
    return database


# --- the schema copy -----------------------------------------------------------------------------


def test_a_copied_schema_has_the_same_tables_indexes_triggers_and_views_as_the_scripts() -> None:
    script = full_schema(unique("orders"))

    first, second = run(script), run(script)

    assert (first.scripts_copied, second.scripts_copied) == (0, 1)
    expected = schema_of(scripted(script))
    assert len(expected) == 8
    assert schema_of(first) == schema_of(second) == expected


def test_a_copied_schema_behaves_like_the_scripted_one() -> None:
    table = unique("orders")
    script = full_schema(table)
    run(script)

    copy = run(script)

    assert copy.scripts_copied == 1
    assert copy.query_one("PRAGMA foreign_keys")[0] == 1  # type: ignore[index]
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
        copy.execute(f"INSERT INTO {table} (parent_id) VALUES (99)")
    copy.execute(f"INSERT INTO {table}_parent (name) VALUES ('p')")
    copy.execute(f"INSERT INTO {table} (id, parent_id) VALUES (7, 1)")
    assert [tuple(r) for r in copy.query(f"SELECT what FROM {table}_log")] == [("inserted; 7",)]
    assert [r["id"] for r in copy.query(f"SELECT id FROM {table}_open")] == [7]
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        copy.execute(f"INSERT INTO {table} (id, parent_id) VALUES (8, 1)")


def test_a_second_database_sees_none_of_the_first_ones_rows() -> None:
    table = unique("orders")
    script = full_schema(table)
    first = run(script)
    first.execute(f"INSERT INTO {table}_parent (name) VALUES ('kept in the first')")

    second = run(script)

    assert second.scripts_copied == 1
    assert second.query(f"SELECT * FROM {table}_parent") == []
    assert second.query("SELECT * FROM sqlite_sequence") == []
    second.execute(f"INSERT INTO {table}_parent (name) VALUES ('second')")
    assert [r["id"] for r in second.query(f"SELECT id FROM {table}_parent")] == [1]
    assert len(first.query(f"SELECT * FROM {table}_parent")) == 1


def test_scripts_are_copied_only_in_the_order_they_ran() -> None:
    one, two = f"CREATE TABLE {unique('one')} (a);", f"CREATE TABLE {unique('two')} (b);"
    run(one, two)

    same_order = run(one, two)
    other_order = run(two, one)

    assert same_order.scripts_copied == 2
    assert other_order.scripts_copied == 0
    assert sorted(schema_of(other_order)) == sorted(schema_of(scripted(one, two)))


def test_a_script_after_any_other_write_runs_and_keeps_what_was_written() -> None:
    one, two = f"CREATE TABLE {unique('one')} (a);", f"CREATE TABLE {unique('two')} (b);"
    run(one, two)
    database = Database()
    database.executescript(one)
    database.execute("CREATE TABLE own (x)")
    database.execute("INSERT INTO own VALUES (1)")

    database.executescript(two)

    assert database.scripts_copied == 1  # the first script only
    assert [tuple(r) for r in database.query("SELECT x FROM own")] == [(1,)]


def test_a_query_that_wrote_between_scripts_is_not_undone_by_a_copy() -> None:
    table = unique("one")
    one, two = f"CREATE TABLE {table} (a);", f"CREATE TABLE {unique('two')} (b);"
    run(one, two)
    database = run(one)

    database.query(f"INSERT INTO {table} VALUES (5) RETURNING a")
    database.executescript(two)

    assert database.scripts_copied == 1
    assert [tuple(r) for r in database.query(f"SELECT a FROM {table}")] == [(5,)]


def test_a_read_between_scripts_still_lets_the_next_one_be_copied() -> None:
    table = unique("one")
    one, two = f"CREATE TABLE {table} (a);", f"CREATE TABLE {unique('two')} (b);"
    run(one, two)
    database = run(one)

    assert database.query(f"PRAGMA table_info({table})")[0]["name"] == "a"
    database.executescript(two)

    assert database.scripts_copied == 2


@pytest.mark.parametrize(
    ("script", "check", "expected"),
    [
        (
            "CREATE TABLE {t} (a); INSERT INTO {t} VALUES (1);",
            "SELECT count(*) FROM {t}",
            1,
        ),
        (
            "PRAGMA foreign_keys = OFF; CREATE TABLE {t} (a);",
            "PRAGMA foreign_keys",
            0,
        ),
        (
            "CREATE TABLE {t} AS SELECT 1 AS a;",
            "SELECT count(*) FROM {t}",
            1,
        ),
        (
            "CREATE TABLE temp.{t} (a);",
            "SELECT count(*) FROM temp.sqlite_master WHERE name = '{t}'",
            1,
        ),
        (
            "CREATE TEMP TABLE {t} (a);",
            "SELECT count(*) FROM temp.sqlite_master WHERE name = '{t}'",
            1,
        ),
    ],
    ids=["insert", "pragma", "create-as-select", "temp-schema", "temp-table"],
)
def test_a_script_that_is_not_pure_schema_runs_in_every_database(
    script: str, check: str, expected: int
) -> None:
    table = unique("t")
    text = script.format(t=table)

    databases = [run(text) for _ in range(3)]

    for database in databases:
        assert database.scripts_copied == 0
        assert database.query_one(check.format(t=table))[0] == expected  # type: ignore[index]


def test_a_file_database_always_runs_its_scripts(tmp_path: Path) -> None:
    script = full_schema(unique("orders"))
    run(script)

    files = [Database(tmp_path / f"{n}.db") for n in range(2)]
    for database in files:
        database.executescript(script)

    assert [database.scripts_copied for database in files] == [0, 0]
    assert schema_of(files[1]) == schema_of(scripted(script))


def test_databases_of_many_threads_each_get_the_whole_schema() -> None:
    script = full_schema(unique("orders"))
    expected = schema_of(scripted(script))
    schemas: list[list[tuple[Any, ...]]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def build() -> None:
        try:
            start.wait()
            for _ in range(5):
                database = run(script)
                schemas.append(schema_of(database))
                database.close()
        except BaseException as error:  # collected, to fail the test in its own thread
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(schemas) == 40
    assert all(schema == expected for schema in schemas)


# --- platforms of the reference modules -----------------------------------------------------------


def test_a_second_platform_of_the_reference_modules_copies_each_module_schema() -> None:
    packages = Platform.discover("modules")
    Platform(packages).start().close()

    with Platform(packages) as platform:
        assert platform.database.scripts_copied == 4
        tables = {row["name"] for row in platform.database.query("SELECT name FROM sqlite_master")}
    assert {"users_users", "mentalhealth_sessions", "notifications_outbox", "billing_charges"} <= (
        tables
    )


def test_a_platform_sees_none_of_the_users_an_earlier_platform_registered() -> None:
    packages = Platform.discover("modules")
    with Platform(packages) as first:
        first.database.execute(
            "INSERT INTO users_users (email, name, role, registered_at) "
            "VALUES ('ada@example.com', 'Ada', 'patient', '2026-01-01T00:00:00+00:00')"
        )
        assert len(first.database.query("SELECT * FROM users_users")) == 1

    with Platform(packages) as second:
        assert second.database.query("SELECT * FROM users_users") == []


# --- blueprints: what a platform of the same declarations reuses ----------------------------------


class Clock:
    """A service each platform builds its own of."""


def tables_module(started: list[Any], table: str) -> Module:
    keeper = Module("keeper")
    keeper.add_service("Clock", Clock)
    keeper.publishes("kept.*")

    @keeper.on_start
    def create(database: Database, clock: Clock, greeting: str = "no greeting") -> None:
        database.executescript(f"CREATE TABLE IF NOT EXISTS {table} (a);")
        started.append((clock, greeting))

    return keeper


def test_start_hooks_run_for_every_platform_even_when_their_script_is_copied() -> None:
    started: list[Any] = []
    keeper = tables_module(started, unique("kept"))

    platforms = [Platform([keeper]).start() for _ in range(3)]

    assert len(started) == 3
    assert [p.database.scripts_copied for p in platforms] == [0, 1, 1]
    assert [clock for clock, _ in started] == [p.container.resolve(Clock) for p in platforms]


def test_a_start_hook_sees_a_key_registered_before_start_even_from_a_blueprint() -> None:
    started: list[Any] = []
    keeper = tables_module(started, unique("kept"))
    Platform([keeper]).start()

    greeted = Platform([keeper])
    greeted.container.register_instance("greeting", "hello")
    greeted.start()
    Platform([keeper]).start()

    assert [greeting for _, greeting in started] == ["no greeting", "hello", "no greeting"]


def test_each_platforms_handlers_get_that_platforms_services() -> None:
    received: list[tuple[dict[str, Any], Clock]] = []
    keeper = tables_module([], unique("kept"))

    @keeper.subscribe("kept.thing")
    def on_thing(data: dict[str, Any], clock: Clock) -> None:
        received.append((data, clock))

    platforms = [Platform([keeper]).start() for _ in range(2)]
    for number, platform in enumerate(platforms):
        platform.bus.publish("kept.thing", {"n": number}, "keeper")

    assert received == [({"n": n}, p.container.resolve(Clock)) for n, p in enumerate(platforms)]
    assert received[0][1] is not received[1][1]


class Needy:
    def __init__(self, missing_dependency: Clock) -> None:
        self.missing_dependency = missing_dependency


def test_a_declaration_changed_after_a_platform_was_built_is_validated_again() -> None:
    keeper = Module("keeper")
    keeper.add_service("Clock", Clock)
    Platform([keeper]).close()

    keeper.provide("needy", Needy, lifetime="transient")
    keeper.services.clear()  # the Clock it needs is gone

    with pytest.raises(ContainerError) as caught:
        Platform([keeper])
    assert str(caught.value) == (
        "Container validation found 1 problem:\n"
        "  - Cannot build 'needy': parameter 'missing_dependency' of Needy needs Clock or "
        "'missing_dependency', and no registration matches. Register one, or give "
        "'missing_dependency' a default."
    )

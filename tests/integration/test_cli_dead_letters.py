"""``aura dead-letters list|retry|purge`` on a durable platform's SQLite file."""

from __future__ import annotations

import io
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aura.cli import main
from aura.database import Database
from aura.platform import Platform

SHOP = {
    "shop/__init__.py": "",
    "shop/mailer/__init__.py": """
from pathlib import Path
from aura.module import Module

module = Module("mailer")
FLAG = Path(__file__).parent / "broken"


@module.subscribe("order.placed")
def send(data: dict) -> None:
    if FLAG.exists():
        raise ConnectionError(f"smtp down for order {data['n']}")
""",
}


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    yield from make_shop(tmp_path, monkeypatch)


def make_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Write the ``shop`` package under ``tmp_path``, importable; forget it afterwards."""
    for name, text in SHOP.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [n for n in sys.modules if n == "shop" or n.startswith("shop.")]:
        del sys.modules[name]


def aura(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def failed_orders(shop: Path, *numbers: int) -> Path:
    """Publish ``order.placed`` for each of ``numbers`` while the mailer is broken (it stays so):
    one dead letter each, in the shop's database, whose path is returned."""
    database = shop / "aura.db"
    (shop / "shop" / "mailer" / "broken").write_text("")
    with Platform(Platform.discover("shop"), database=database, durable=True) as platform:
        for n in numbers:
            platform.bus.publish("order.placed", {"n": n}, "orders")
    return database


def test_dead_letters_are_listed_retried_and_purged(shop: Path) -> None:
    database = failed_orders(shop, 1, 2)
    flag = shop / "shop" / "mailer" / "broken"

    status, text = aura("dead-letters", "list", "--database", str(database))
    assert status == 0
    lines = text.splitlines()
    assert lines[-1] == "2 dead letters."
    assert re.fullmatch(
        r"\d+  mailer:shop\.mailer\.send failed on 'order\.placed' \(event "
        r"[0-9a-f-]{36}, 1 attempt\): ConnectionError: smtp down for order 1",
        lines[0],
    )

    status, text = aura("dead-letters", "retry", "--database", str(database), "--modules", "shop")
    assert (status, text) == (
        1,
        "Retried: 0 delivered, 2 failed again, 0 held back by the policy, 0 with no subscriber.\n",
    )
    status, text = aura(
        "dead-letters", "retry", "--database", str(database), "--max-attempts", "2"
    )  # each has had its 2 attempts: the policy given holds them back
    assert (status, text) == (
        0,
        "Retried: 0 delivered, 0 failed again, 2 held back by the policy, 0 with no subscriber.\n",
    )
    flag.unlink()
    first_id = aura("dead-letters", "list", "--database", str(database))[1].split()[0]
    status, text = aura("dead-letters", "purge", "--database", str(database), "--id", first_id)
    assert (status, text) == (0, "Purged 1 dead letter.\n")
    status, text = aura("dead-letters", "retry", "--database", str(database), "--modules", "shop")
    assert (status, text) == (
        0,
        "Retried: 1 delivered, 0 failed again, 0 held back by the policy, 0 with no subscriber.\n",
    )
    assert aura("dead-letters", "list", "--database", str(database)) == (0, "0 dead letters.\n")
    assert aura("dead-letters", "purge", "--database", str(database), "--all") == (
        0,
        "Purged 0 dead letters.\n",
    )


def test_retry_without_max_attempts_retries_every_letter_whatever_its_attempts_or_clock(
    shop: Path,
) -> None:
    database = failed_orders(shop, 1, 2)
    # One spent a database retry's ten attempts; the other failed an hour "from now": the
    # clock was stepped back since.
    of_order = "event_id = (SELECT event_id FROM aura_events WHERE data = ?)"
    later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    with Database(database) as opened:
        opened.execute(f"UPDATE aura_publications SET attempts = 10 WHERE {of_order}", ('{"n":1}',))
        opened.execute(
            f"UPDATE aura_publications SET last_failed_at = ? WHERE {of_order}",
            (later, '{"n":2}'),
        )
    (shop / "shop" / "mailer" / "broken").unlink()

    status, text = aura("dead-letters", "retry", "--database", str(database), "--modules", "shop")

    assert (status, text) == (
        0,
        "Retried: 2 delivered, 0 failed again, 0 held back by the policy, 0 with no subscriber.\n",
    )
    assert aura("dead-letters", "list", "--database", str(database)) == (0, "0 dead letters.\n")


FACTORY = """
import os
from pathlib import Path

from aura import Platform


def make_platform():
    return Platform(
        Platform.discover("shop"),
        database=Path(os.environ["SHOP_DATABASE"]),
        durable=True,
        completed_publications="delete",
    )


def not_durable():
    return Platform([], database=Path(os.environ["SHOP_DATABASE"]))


def unset():
    return os.environ["SHOP_NOWHERE"]


NOT_CALLABLE = 3
"""


def test_dead_letters_through_the_applications_own_platform_factory(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (shop / "shop" / "app.py").write_text(FACTORY)
    database = failed_orders(shop, 1, 2)
    monkeypatch.setenv("SHOP_DATABASE", str(database))
    (shop / "shop" / "mailer" / "broken").unlink()
    factory = ("--platform", "shop.app:make_platform")

    status, text = aura("dead-letters", "list", *factory)
    assert (status, text.splitlines()[-1]) == (0, "2 dead letters.")
    letter = text.split()[0]
    assert aura("dead-letters", "purge", *factory, "--id", letter) == (0, "Purged 1 dead letter.\n")
    assert aura("dead-letters", "retry", *factory) == (
        0,
        "Retried: 1 delivered, 0 failed again, 0 held back by the policy, 0 with no subscriber.\n",
    )
    # The application's settings held: its completed_publications="delete" left no row behind.
    with Database(database) as opened:
        assert opened.query("SELECT status FROM aura_publications") == []


def test_the_platform_factory_comes_from_tool_aura(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (shop / "shop" / "app.py").write_text(FACTORY)
    (shop / "pyproject.toml").write_text('[tool.aura]\nplatform = "shop.app:make_platform"\n')
    monkeypatch.setenv("SHOP_DATABASE", str(shop / "aura.db"))
    monkeypatch.chdir(shop)
    assert aura("dead-letters", "list") == (0, "0 dead letters.\n")
    assert (shop / "aura.db").exists()  # the factory's database, not the default var/aura.db
    assert not (shop / "var").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--platform", "shop.app:make_platform", "--database", "x.db"),
            "--database and a platform factory ('shop.app:make_platform') both say where the "
            "dead letters are. Give one: the factory builds the application's platform, its "
            "database and modules included; or drop it (--platform, platform in [tool.aura]) "
            "and pass --database.",
        ),
        (
            ("--platform", "shop.app"),
            "The platform factory 'shop.app' is not 'package.module:function'. Name the function "
            "that builds the application's platform, e.g. --platform shop.app:make_platform.",
        ),
        (
            ("--platform", "shop.app:missing"),
            "The platform factory 'shop.app:missing' cannot be loaded: AttributeError: module "
            "'shop.app' has no attribute 'missing'. Name a function that takes no arguments and "
            "returns the application's Platform.",
        ),
        (
            ("--platform", "shop.app:NOT_CALLABLE"),
            "The platform factory 'shop.app:NOT_CALLABLE' names int 3, which cannot be called. "
            "Name a function that takes no arguments and returns the application's Platform.",
        ),
        (
            ("--platform", "shop.app:unset"),
            "The platform factory 'shop.app:unset' raised KeyError: 'SHOP_NOWHERE'. Run it where "
            "the application runs (its environment, its settings), or fix what it says.",
        ),
        (
            ("--platform", "shop.app:not_durable"),
            "The platform factory 'shop.app:not_durable' built a platform without "
            "durable=True: it keeps no dead letters to list, retry or purge. Build it with "
            "durable=True, as the application runs.",
        ),
    ],
)
def test_a_platform_factory_that_cannot_serve_is_refused_naming_why(
    shop: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...], message: str
) -> None:
    (shop / "shop" / "app.py").write_text(FACTORY)
    monkeypatch.setenv("SHOP_DATABASE", str(shop / "aura.db"))
    monkeypatch.chdir(shop)  # a project without pyproject.toml: the table is [tool.aura]
    assert aura("dead-letters", "list", *args) == (2, f"aura dead-letters: error: {message}\n")
    assert not (shop / "aura.db").exists() or "not_durable" in args[1]


def test_purge_needs_to_be_told_what(tmp_path: Path) -> None:
    database = tmp_path / "aura.db"
    with Platform([], database=database, durable=True):
        pass
    assert aura("dead-letters", "purge", "--database", str(database)) == (
        2,
        "aura dead-letters: error: Say what to purge: --all, --id ID (repeatable) or "
        "--older-than-days N.\n",
    )


@pytest.mark.parametrize(
    ("choice", "named"),
    [
        (["--all", "--id", "2"], "--all and --id"),
        (["--all", "--older-than-days", "3"], "--all and --older-than-days"),
        (["--id", "1", "--older-than-days", "1000"], "--id and --older-than-days"),
    ],
)
def test_purge_refuses_two_ways_of_choosing_and_drops_nothing(
    shop: Path, choice: list[str], named: str
) -> None:
    database = shop / "aura.db"
    (shop / "shop" / "mailer" / "broken").write_text("")
    with Platform(Platform.discover("shop"), database=database, durable=True) as platform:
        for n in (1, 2):
            platform.bus.publish("order.placed", {"n": n}, "orders")
    before = _digest(database)
    assert aura("dead-letters", "purge", "--database", str(database), *choice) == (
        2,
        f"aura dead-letters: error: purge takes one way of choosing what it drops, got {named}. "
        "Pass --all (every dead letter), --id ID (repeatable: those) or --older-than-days N "
        "(those last failed N days ago or more); nothing was purged.\n",
    )
    assert _digest(database) == before


def test_purge_by_an_id_that_is_not_there_names_it_and_drops_nothing(shop: Path) -> None:
    database = shop / "aura.db"
    (shop / "shop" / "mailer" / "broken").write_text("")
    with Platform(Platform.discover("shop"), database=database, durable=True) as platform:
        platform.bus.publish("order.placed", {"n": 1}, "orders")
        [letter] = platform.bus.dead_letters()
    status, text = aura(
        "dead-letters", "purge", "--database", str(database), "--id", letter.id, "--id", "nosuch"
    )
    assert (status, text) == (
        2,
        f"aura dead-letters: error: No dead letter with the id 'nosuch' in {database}; nothing "
        "was purged. 'aura dead-letters list' prints the ids there are.\n",
    )
    assert aura(
        "dead-letters", "purge", "--database", str(database), "--id", "gone", "--id", "nosuch"
    ) == (
        2,
        f"aura dead-letters: error: No dead letter with the ids 'gone', 'nosuch' in {database}; "
        "nothing was purged. 'aura dead-letters list' prints the ids there are.\n",
    )
    assert aura("dead-letters", "purge", "--database", str(database), "--id", " ") == (
        2,
        "aura dead-letters: error: --id needs a dead letter's id, got ' '. Pass the ids that "
        "'aura dead-letters list' prints.\n",
    )
    assert aura("dead-letters", "list", "--database", str(database))[1].endswith("1 dead letter.\n")
    assert aura("dead-letters", "purge", "--database", str(database), "--id", letter.id) == (
        0,
        "Purged 1 dead letter.\n",
    )


def test_a_missing_database_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.aura]\nmodules = "shop"\n')
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nope.db"
    assert aura("dead-letters", "list", "--database", str(missing)) == (
        2,
        f"aura dead-letters: error: No database at {missing}. Pass --database with the "
        "platform's SQLite file, or set "
        f"database in [tool.aura] in {tmp_path.resolve() / 'pyproject.toml'}.\n",
    )


def test_the_database_comes_from_tool_aura_relative_to_the_project(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (shop / "pyproject.toml").write_text('[tool.aura]\nmodules = "shop"\ndatabase = "db/a.db"\n')
    (shop / "sub").mkdir()
    monkeypatch.chdir(shop / "sub")
    monkeypatch.delenv("AURA_DATABASE", raising=False)
    with Platform(Platform.discover("shop"), database=_made(shop / "db" / "a.db"), durable=True):
        pass
    assert aura("dead-letters", "list") == (0, "0 dead letters.\n")


def _made(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# --- bad input: refused with what was given, what is expected and the fix; nothing changed ----


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("days", ["-1", "nan", "inf", "1e308", "99999999999"])
def test_a_purge_age_below_zero_too_large_or_not_a_number_is_refused_and_purges_nothing(
    shop: Path, days: str
) -> None:
    database = failed_orders(shop, 1)
    before = _digest(database)
    status, text = aura(
        "dead-letters", "purge", "--database", str(database), "--older-than-days", days
    )
    assert (status, text) == (
        2,
        "aura dead-letters: error: --older-than-days must be a number of days from 0 to 36525 "
        f"(a century), got {float(days)!r}. Pass e.g. --older-than-days 7 (those last failed a "
        "week ago or more), or --all.\n",
    )
    assert _digest(database) == before
    assert aura("dead-letters", "list", "--database", str(database))[1].endswith("1 dead letter.\n")


def test_retry_numbers_are_checked_before_anything_runs(shop: Path) -> None:
    database = shop / "aura.db"
    with Platform(Platform.discover("shop"), database=database, durable=True):
        pass
    assert aura("dead-letters", "retry", "--database", str(database), "--max-attempts", "0") == (
        2,
        "aura dead-letters: error: --max-attempts must be a whole number of at least 1, got 0. "
        "Pass e.g. --max-attempts 5 (attempts in all, the first delivery included).\n",
    )
    for backoff in ("-3", "1e12", "nan"):
        assert aura("dead-letters", "retry", "--database", str(database), "--backoff", backoff) == (
            2,
            "aura dead-letters: error: --backoff must be a number of seconds from 0 to 31536000 "
            f"(a year), got {float(backoff)!r}. Pass e.g. --backoff 30.\n",
        )
    for action, options, named in (
        ("list", ["--max-attempts", "3"], "--max-attempts is"),
        ("purge", ["--all", "--backoff", "30"], "--backoff is"),
        ("list", ["--modules", "shop", "--max-attempts", "2"], "--max-attempts and --modules are"),
    ):
        both = " and " in named
        assert aura("dead-letters", action, "--database", str(database), *options) == (
            2,
            f"aura dead-letters: error: {named} for 'retry' alone: 'dead-letters {action}' "
            f"would ignore {'them' if both else 'it'}. Drop {'them' if both else 'it'}, or run "
            "'aura dead-letters retry ...'.\n",
        )
    assert aura("dead-letters", "list", "--database", str(database), "--all") == (
        2,
        "aura dead-letters: error: --all, --id and --older-than-days choose what 'purge' "
        "drops; 'dead-letters list' takes none of them. Run 'aura dead-letters purge ...' "
        "instead.\n",
    )


def test_a_file_that_is_not_sqlite_is_named_and_left_alone(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    notes.write_text("these are my notes, not a database\n")
    before = _digest(notes)
    for action in ("list", "purge"):
        args = ["dead-letters", action, "--database", str(notes)] + (
            ["--all"] if action == "purge" else []
        )
        assert aura(*args) == (
            2,
            f"aura dead-letters: error: {notes} is not an SQLite database (it does not start "
            "with SQLite's header). Pass --database with the platform's database file.\n",
        )
    assert _digest(notes) == before


def test_someone_elses_sqlite_file_is_neither_switched_to_wal_nor_given_a_table(
    tmp_path: Path,
) -> None:
    import sqlite3
    from contextlib import closing

    other = tmp_path / "app.db"
    with closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE customers (name TEXT)")
        db.execute("INSERT INTO customers VALUES ('Ada')")
        db.commit()
    before = _digest(other)
    for args in (["list"], ["purge", "--all"]):
        assert aura("dead-letters", *args, "--database", str(other)) == (
            2,
            f"aura dead-letters: error: {other} is an SQLite database but not an Aura one: it "
            "has neither aura_publications nor aura_dead_letters. Nothing was changed. Pass "
            "--database with the file of a platform built with durable=True.\n",
        )
    assert _digest(other) == before
    with closing(sqlite3.connect(other)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("customers",)]


def test_a_damaged_database_is_reported_without_a_traceback(tmp_path: Path) -> None:
    damaged = tmp_path / "aura.db"
    with Platform([], database=damaged, durable=True):
        pass
    data = bytearray(damaged.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # the schema page, overwritten
    damaged.write_bytes(bytes(data))
    status, text = aura("dead-letters", "list", "--database", str(damaged))
    assert status == 2
    assert text.startswith(
        f"aura dead-letters: error: {damaged} cannot be read as an SQLite database: "
    )
    assert text.endswith(
        "It may be damaged; restore it from a backup, or pass --database with another file.\n"
    )


def test_damage_past_the_first_page_is_reported_without_a_traceback(shop: Path) -> None:
    damaged = shop / "aura.db"
    (shop / "shop" / "mailer" / "broken").write_text("")
    with Platform(Platform.discover("shop"), database=damaged, durable=True) as platform:
        for n in range(300):
            platform.bus.publish("order.placed", {"n": n}, "orders")
    data = bytearray(damaged.read_bytes())
    data[8192:] = b"A" * (len(data) - 8192)  # every page after the second
    damaged.write_bytes(bytes(data))
    for action, kept in (("list", "Nothing was changed"), ("purge", "Nothing was purged")):
        status, text = aura(
            "dead-letters", action, *(["--all"] * (action == "purge")), "--database", str(damaged)
        )
        assert (status, text) == (
            2,
            f"aura dead-letters: error: Cannot {action} dead letters in {damaged}: database "
            f"disk image is malformed. {kept}; it may be damaged: restore it from a backup, or "
            "pass --database with another file.\n",
        )
    assert damaged.read_bytes() == bytes(data)


def test_a_folder_given_as_the_database_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "var"
    folder.mkdir()
    status, text = aura("dead-letters", "list", "--database", str(folder))
    assert (status, text) == (
        2,
        f"aura dead-letters: error: Cannot read the database {folder}: Is a directory. Check "
        "the path and its permissions.\n",
    )


def test_a_retry_the_database_fails_is_handed_back_and_exits_1(shop: Path) -> None:
    """The disk is full while the retried handler writes: not "failed again" — the row is
    delivered again by the platform after a wait — and the command says so, exit status 1."""
    mailer = shop / "shop" / "mailer" / "__init__.py"
    mailer.write_text(
        mailer.read_text()
        + """

import sqlite3

FULL = Path(__file__).parent / "full"


@module.subscribe("order.paid")
def archive(data: dict) -> None:
    if FLAG.exists():
        raise ConnectionError("archive down")
    if FULL.exists():
        raise sqlite3.OperationalError("database or disk is full")
"""
    )
    database = shop / "aura.db"
    folder = shop / "shop" / "mailer"
    (folder / "broken").write_text("")
    with Platform(Platform.discover("shop"), database=database, durable=True) as platform:
        platform.bus.publish("order.paid", {"n": 1}, "orders")
    (folder / "broken").unlink()
    (folder / "full").write_text("")
    status, text = aura("dead-letters", "retry", "--database", str(database), "--modules", "shop")
    assert (status, text) == (
        1,
        "Retried: 0 delivered, 0 failed again, 0 held back by the policy, 0 with no subscriber, "
        "1 handed back to delivery (the database failed; the platform delivers them again after "
        "a wait).\n",
    )
    assert aura("dead-letters", "list", "--database", str(database)) == (0, "0 dead letters.\n")


@pytest.mark.parametrize(
    ("failure", "message"),
    [
        (
            "database is locked",
            "{path} is locked by another process (database is locked); the dead letters not "
            "retried yet are kept. Try again when it is idle.",
        ),
        (
            "disk I/O error",
            "Cannot retry dead letters in {path}: disk I/O error. The dead letters not retried "
            "yet are kept; check the database (disk space, permissions) and try again.",
        ),
    ],
)
def test_a_retry_the_database_stops_is_a_typed_error_not_a_traceback(
    shop: Path, monkeypatch: pytest.MonkeyPatch, failure: str, message: str
) -> None:
    database = shop / "aura.db"
    (shop / "shop" / "mailer" / "broken").write_text("")
    with Platform(Platform.discover("shop"), database=database, durable=True) as platform:
        platform.bus.publish("order.placed", {"n": 1}, "orders")

    def stopped(self: object, policy: object = None) -> None:
        raise sqlite3.OperationalError(failure)  # the driver, as a busy or broken file makes it

    monkeypatch.setattr("aura.bus.EventBus.retry_dead_letters", stopped)
    status, text = aura("dead-letters", "retry", "--database", str(database), "--modules", "shop")
    assert (status, text) == (
        2,
        f"aura dead-letters: error: {message.format(path=database)}\n",
    )
    monkeypatch.undo()
    assert aura("dead-letters", "list", "--database", str(database))[1].endswith("1 dead letter.\n")


def test_an_empty_database_is_refused_not_read_as_the_default(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `aura dead-letters purge --all --database "$DB"` with DB unset: the default database's
    # letters must stay.
    monkeypatch.chdir(shop)
    monkeypatch.delenv("AURA_DATABASE", raising=False)
    (shop / "pyproject.toml").write_text('[tool.aura]\nmodules = "shop"\n')
    database = shop / "var" / "aura.db"
    database.parent.mkdir()
    flag = shop / "shop" / "mailer" / "broken"
    flag.write_text("")
    with Platform(Platform.discover("shop"), database=database, durable=True) as platform:
        platform.bus.publish("order.placed", {"n": 1}, "orders")
    before = _digest(database)

    assert aura("dead-letters", "purge", "--all", "--database", "") == (
        2,
        "aura dead-letters: error: --database is empty (''): an unset shell variable? Pass "
        "the platform's SQLite file (var/aura.db) or a postgresql:// URL, or leave --database "
        "out for database in [tool.aura] or the default. Nothing was opened.\n",
    )
    monkeypatch.setenv("AURA_DATABASE", " ")
    assert aura("dead-letters", "purge", "--all") == (
        2,
        "aura dead-letters: error: $AURA_DATABASE is empty (' '): an unset shell variable? "
        "Pass the platform's SQLite file (var/aura.db) or a postgresql:// URL, or unset "
        "AURA_DATABASE for database in [tool.aura] or the default. Nothing was opened.\n",
    )
    monkeypatch.delenv("AURA_DATABASE")
    assert _digest(database) == before
    assert aura("dead-letters", "list")[1].endswith("1 dead letter.\n")  # the default, unharmed


def test_a_folder_or_a_file_that_is_not_sqlite_is_refused_by_every_opener(tmp_path: Path) -> None:
    from aura.database import Database
    from aura.exceptions import ConfigurationError

    folder = tmp_path / "data"
    folder.mkdir()
    text = tmp_path / "notes.txt"
    text.write_text("my notes\n")
    damaged = tmp_path / "damaged.db"
    with sqlite3.connect(damaged) as connection:
        connection.execute("CREATE TABLE t (x)")
        connection.executemany("INSERT INTO t VALUES (?)", [(n,) for n in range(5000)])
    connection.close()
    damaged.write_bytes(damaged.read_bytes()[:20_000])
    kept = {path: path.read_bytes() for path in (text, damaged)}
    refusals = {
        folder: f"The database {folder} is a folder. Pass the path of an SQLite file in it, e.g. "
        f"{folder}/aura.db (created if missing).",
        text: f"The database {text} is a file but not an SQLite database (it starts with "
        "b'my notes'). Pass the path of an SQLite file (a new one is created); this one was "
        "left as it is.",
        damaged: f"Cannot open {damaged} as an SQLite database: database disk image is "
        "malformed. Pass the path of an SQLite file (a new one is created), or restore this "
        "one from a backup; nothing was written to it.",
    }
    for path, message in refusals.items():
        with pytest.raises(ConfigurationError) as refused:
            Database(path)
        assert str(refused.value) == message
        with pytest.raises(ConfigurationError) as refused:
            Platform([], database=path)
        assert str(refused.value) == message
    assert {path: path.read_bytes() for path in kept} == kept
    assert sorted(path.name for path in tmp_path.iterdir()) == ["damaged.db", "data", "notes.txt"]


def _read_only_run(folder: Path, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a Python that sees ``folder`` read-only: as root (who writes through
    permissions) in a mount namespace of its own where ``folder`` is bound read-only; as anyone
    else with the folder and its files made read-only."""
    python = [sys.executable, "-c", code]
    if os.geteuid() != 0:
        for path in (*folder.iterdir(), folder):
            path.chmod(0o555 if path.is_dir() else 0o444)
        return subprocess.run(python, capture_output=True, text=True, check=False)
    if shutil.which("unshare") is None:
        pytest.skip("needs unshare(1) to make a folder read-only for root")
    script = f'mount --bind -o ro "{folder}" "{folder}" && exec "$@"'
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", *python],
        capture_output=True,
        text=True,
        check=False,
    )
    if "mount" in done.stderr and done.returncode != 0:
        pytest.skip(f"no mount namespace here: {done.stderr.strip()}")
    return done


def test_a_healthy_database_this_process_cannot_write_names_the_permissions(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    database = folder / "aura.db"
    with closing(sqlite3.connect(database)) as db:  # a rollback-journal file: opening
        db.execute("CREATE TABLE t (x)")  # it switches to WAL, a write
        db.commit()
    code = (
        "from aura.database import Database\n"
        "from aura.exceptions import ConfigurationError\n"
        "try:\n"
        f"    Database({str(database)!r})\n"
        "except ConfigurationError as error:\n"
        "    print(error)\n"
        f"reader = Database({str(database)!r}, read_only=True)\n"
        "print(reader.query('SELECT COUNT(*) AS n FROM t')[0]['n'])"
    )
    done = _read_only_run(folder, code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"Cannot write to {database}: attempt to write a readonly database. Give this process "
        "write access to the file and its folder (SQLite writes its journal beside it), or open "
        "it with read_only=True to read it; nothing was written to it.",
        "0",
    ]

"""The opt-in PostgreSQL plugin (``aura.testing.postgres``) end to end, in fresh projects run by
pytester in their own processes (each with its own environment): a test on ``fresh_postgres_dsn``
really writes and reads a row on a private cluster; without binaries the test is skipped with
the reason, or fails with it when ``AURA_REQUIRE_POSTGRES=1``; without psycopg the fixture names
the extra; and Aura's own plugin does not load it. One cluster is started in this file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aura.testing.postgres import BINDIR_VARIABLE, UNAVAILABLE, locate_server, postgres_url

NOTES = """
import psycopg
import pytest


@pytest.mark.parametrize("text", ["first", "second"])
def test_a_row_is_written_and_read_back(fresh_postgres_dsn, text):
    # Both tests create the same table: each must have a database of its own.
    with psycopg.connect(fresh_postgres_dsn) as connection:
        connection.execute("CREATE TABLE notes (id int PRIMARY KEY, text text NOT NULL)")
        connection.execute("INSERT INTO notes VALUES (1, %s)", [text])
    with psycopg.connect(fresh_postgres_dsn) as connection:
        assert connection.execute("SELECT id, text FROM notes").fetchall() == [(1, text)]
        (database,) = connection.execute("SELECT current_database()").fetchone()
        assert database.startswith("t_"), database


def test_sqlalchemy_takes_the_same_database_as_a_url(fresh_postgres_dsn, fresh_postgres_url):
    import sqlalchemy

    engine = sqlalchemy.create_engine(fresh_postgres_url)
    with engine.connect() as connection:
        name = connection.exec_driver_sql("SELECT current_database()").scalar_one()
    engine.dispose()
    assert f"dbname={name}" in fresh_postgres_dsn
"""

OPTIONS = ("-p", "no:randomly", "-p", "no:cacheprovider", "-rs")
ENABLED = ("-p", "aura.testing.postgres", *OPTIONS)


def test_a_test_on_a_fresh_database_writes_and_reads_a_row(pytester: pytest.Pytester) -> None:
    locate_server(os.environ)  # this machine's server: skips, or fails on CI, without one
    pytester.makepyfile(test_notes=NOTES)

    result = pytester.runpytest_subprocess(*ENABLED, timeout=180)

    result.assert_outcomes(passed=3)


@pytest.mark.parametrize(
    ("dsn", "url"),
    [
        (
            "user=postgres dbname=t_1 host=127.0.0.1 port=55432",
            "postgresql+psycopg://postgres@127.0.0.1:55432/t_1",
        ),
        (
            "user=a@b password='p/w:x' dbname=shop host='/tmp/pg sock' port=5432 sslmode=disable",
            "postgresql+psycopg://a%40b:p%2Fw%3Ax@/shop?host=/tmp/pg%20sock&port=5432"
            "&sslmode=disable",
        ),
        ("postgresql://u:pw@localhost:5/db", "postgresql+psycopg://u:pw@localhost:5/db"),
        ("user=me host=::1 port=5433 dbname=shop", "postgresql+psycopg://me@[::1]:5433/shop"),
    ],
)
def test_a_dsn_becomes_a_url_sqlalchemy_reads_back_the_same(dsn: str, url: str) -> None:
    import sqlalchemy
    from psycopg import conninfo

    assert postgres_url(dsn) == url
    parsed = sqlalchemy.make_url(url)
    given = conninfo.conninfo_to_dict(dsn)
    assert (parsed.username, parsed.password, parsed.database) == (
        given.get("user"),
        given.get("password"),
        given["dbname"],
    )
    assert (parsed.host or parsed.query.get("host")) == given["host"]


@pytest.fixture
def no_binaries(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> pytest.Pytester:
    """A project whose process finds no PostgreSQL: nothing on PATH, the fallback nowhere."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv(BINDIR_VARIABLE, str(tmp_path / "nowhere" / "*" / "bin"))
    monkeypatch.delenv("AURA_TEST_DSN", raising=False)
    monkeypatch.delenv("AURA_REQUIRE_POSTGRES", raising=False)
    pytester.makepyfile(test_notes=NOTES)
    return pytester


def test_without_binaries_the_tests_are_skipped_with_the_reason(
    no_binaries: pytest.Pytester,
) -> None:
    result = no_binaries.runpytest_subprocess(*ENABLED, timeout=120)

    result.assert_outcomes(skipped=3)
    skips = [line for line in result.outlines if line.startswith("SKIPPED")]
    assert [line.split()[1] for line in skips] == ["[2]", "[1]"], result.outlines  # per test
    assert all(line.endswith(f": {UNAVAILABLE}") for line in skips), skips  # one reason


def test_without_binaries_the_tests_fail_when_postgres_is_required(
    no_binaries: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AURA_REQUIRE_POSTGRES", "1")

    result = no_binaries.runpytest_subprocess(*ENABLED, timeout=120)

    result.assert_outcomes(errors=3)
    assert result.outlines.count(UNAVAILABLE) == 3, result.outlines  # each setup's failure
    result.stdout.fnmatch_lines(
        [
            "*ERROR at setup of test_a_row_is_written_and_read_back?first?*",
            "*ERROR at setup of test_a_row_is_written_and_read_back?second?*",
        ]
    )


def test_without_psycopg_the_fixture_names_the_extra(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A server that is never connected to: the fixture stops at psycopg's import.
    monkeypatch.setenv("AURA_TEST_DSN", "postgresql://postgres@127.0.0.1:1/postgres")
    pytester.makeconftest(
        """
import sys

sys.modules["psycopg"] = None  # not installed: importing it raises ImportError

pytest_plugins = ["aura.testing.postgres"]  # the plugin itself imports without psycopg
"""
    )
    pytester.makepyfile("def test_uses_a_database(fresh_postgres_dsn):\n    pass\n")

    result = pytester.runpytest_subprocess(*OPTIONS, timeout=120)

    result.assert_outcomes(errors=1)
    errors = [line.removeprefix("E").strip() for line in result.outlines if line.startswith("E ")]
    assert errors == [
        "aura.exceptions.MissingExtraError: aura.testing.postgres needs psycopg, which is not "
        "installed. Install Aura's postgres extra: pip install 'aura-modulith[postgres]'"
    ]


def test_aura_s_own_plugin_does_not_load_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_uses_a_database(fresh_postgres_dsn):\n    pass\n")

    result = pytester.runpytest_subprocess(*OPTIONS, timeout=120)

    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["E       fixture 'fresh_postgres_dsn' not found"])
    assert "aura.testing.postgres" not in result.stdout.str()

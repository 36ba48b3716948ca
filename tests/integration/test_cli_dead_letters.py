"""``aura dead-letters list|retry|purge`` on a durable platform's SQLite file."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aura.cli import main
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


def test_dead_letters_are_listed_retried_and_purged(shop: Path) -> None:
    database = shop / "aura.db"
    flag = shop / "shop" / "mailer" / "broken"
    flag.write_text("")
    with Platform(Platform.discover("shop"), database=database, durable=True) as platform:
        for n in (1, 2):
            platform.bus.publish("order.placed", {"n": n}, "orders")

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


def test_purge_needs_to_be_told_what(tmp_path: Path) -> None:
    database = tmp_path / "aura.db"
    with Platform([], database=database, durable=True):
        pass
    assert aura("dead-letters", "purge", "--database", str(database)) == (
        2,
        "Say what to purge: --all, --id ID (repeatable) or --older-than-days N.\n",
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

"""Helpers for the reliability suite: a durable platform and a snapshot of all its state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aura.platform import Platform


@pytest.fixture
def durable_platform(tmp_path: Path) -> Iterator[Platform]:
    """The repository's platform on a real SQLite file, with durable events."""
    with Platform(
        Platform.discover("modules"), database=tmp_path / "aura.db", durable=True
    ) as platform:
        yield platform


def snapshot(platform: Platform) -> dict[str, Any]:
    """Everything observable about a platform's state: runtime registrations and stored rows."""
    tables = [
        row["name"]
        for row in platform.database.query(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    return {
        "subscriptions": [
            (s.pattern, s.subscriber_module, s.handler_name) for s in platform.bus.subscriptions()
        ],
        "dead_letters": [letter.id for letter in platform.bus.dead_letters()],
        "services": [(i.module_name, i.service_name) for i in platform.registry.services()],
        "container": [str(key) for key in platform.container.keys()],  # noqa: SIM118  # not a dict
        "rows": {
            table: [tuple(row) for row in platform.database.query(f"SELECT * FROM {table}")]
            for table in tables
        },
    }

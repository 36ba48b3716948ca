"""Aura's harness for pytest-django tests: the project's own platform, recorded.

Enable it beside pytest-django, in the project's ``conftest.py``::

    pytest_plugins = ["aura.integrations.django.testing"]

It replaces Aura's ``aura_platform`` fixture with one building the Django project's platform
for each test (its apps' modules on Django's database, as ``settings.AURA`` says, without
delivery workers), started and recorded by ``aura_trace``: ``published_events``,
``service_calls``, ``override`` and the Gherkin steps of ``aura.testing.bdd`` see what views,
management commands and handlers publish and call. While the test runs,
``aura.integrations.django.platform()`` is that platform, so views use it.

The test needs database access, as every test touching Django's database: a test without
``db``, ``transactional_db`` or ``@pytest.mark.django_db`` is given ``db``.

- With ``db`` the test runs inside a transaction that is never committed, so nothing is
  delivered unless the test asks: ``with django_capture_on_commit_callbacks(execute=True):``
  around the request (or the publish) delivers after it, as a commit would.
- With ``transactional_db`` (``@pytest.mark.django_db(transaction=True)``) commits are real:
  events are delivered after each commit, as in production.

Either way ``published_events`` records an event once its transaction commits (an event rolled
back was never published), and Aura's tables are emptied before each test: pytest-django's
flush after a transactional test empties only the models' tables.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from aura.integrations.django import runtime
from aura.platform import Platform
from aura.testing import Trace
from aura.testing.plugin import under_test

__all__ = ["aura_platform"]

_DATABASE_FIXTURES = (
    "db",
    "transactional_db",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
)
_AURA_TABLES = ("aura_publications", "aura_events", "aura_dead_letters")


@pytest.fixture
def aura_platform(request: pytest.FixtureRequest, aura_trace: Trace) -> Iterator[Platform]:
    """The Django project's platform for this test, started, recorded by ``aura_trace``, and
    what ``aura.integrations.django.platform()`` returns until the test ends."""
    if request.node.get_closest_marker("django_db") is None and not any(
        name in request.fixturenames for name in _DATABASE_FIXTURES
    ):
        request.getfixturevalue("db")
    else:
        for name in _DATABASE_FIXTURES:
            if name in request.fixturenames:
                request.getfixturevalue(name)
    platform = runtime.build_platform(workers=None, poll_interval=None)
    _forget_earlier_tests(platform)
    with runtime.use_platform(platform), under_test(request, aura_trace, platform):
        yield platform


def _forget_earlier_tests(platform: Platform) -> None:
    """Empty Aura's tables: what an earlier transactional test committed there (its dead
    letters, its unfinished publications) is not this test's. In a ``db`` test the deletion is
    rolled back with the rest of the test."""
    database: Any = platform.database
    present = set(database.table_names())
    with database.transaction():
        for table in _AURA_TABLES:
            if table in present:
                database.execute(f"DELETE FROM {table}")

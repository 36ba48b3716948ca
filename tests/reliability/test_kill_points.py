"""SIGKILL at each step of a durable delivery, then recovery: nothing lost, nothing twice.

Each test runs children on one SQLite file (see ``durable_worker.py``): the handler is not
idempotent (it INSERTs one row per call, in the delivery's transaction), and a child kills
itself with SIGKILL at a chosen step of the delivery of event ``AT`` of ``EVENTS``. What the
kill left is checked first (so each test proves its kill landed where it says), then a
recovery child (short lease) finishes the work and the counts are checked: every event the
publisher committed is stored, each applied exactly once, no dead letter, every publication
COMPLETED.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.durable_worker import finished, killed, spawn, tally

EVENTS = 30
AT = 15  # the event a child dies on: a middle one


def recovered(tmp_path: Path, database: Path, *options: object) -> None:
    """Run a recovery child until nothing is left to deliver."""
    finished(spawn(tmp_path, "recovery", "recover", database, "--lease", 0.5, *options))


def assert_each_event_applied_once(database: Path, published: int) -> None:
    """Stored == committed, each effect exactly once, no dead letter, all COMPLETED."""
    counts = tally(database)
    assert counts.events == counts.orders == set(range(published)), counts.render()
    assert (counts.lost, counts.twice) == ([], {}), counts.render()
    assert counts.statuses == {"COMPLETED": published}, counts.render()
    assert counts.dead_letters == 0, counts.render()


@pytest.mark.parametrize(
    ("step", "left_as", "effects_left"),
    [
        pytest.param("before-delivery", "PROCESSING", 0, id="a-after-publish-before-delivery"),
        pytest.param("before-write", "PROCESSING", 0, id="b-in-handler-before-its-write"),
        pytest.param("after-write", "PROCESSING", 0, id="c-in-handler-after-write-uncommitted"),
        pytest.param("after-completed", "COMPLETED", 1, id="d-after-completed-committed"),
    ],
)
@pytest.mark.parametrize(
    "batch",
    [
        pytest.param(False, id="one-transaction-per-event"),
        pytest.param(True, id="all-in-one-transaction"),
    ],
)
def test_a_publisher_killed_during_a_delivery_loses_nothing_and_applies_each_event_once(
    tmp_path: Path, step: str, left_as: str, effects_left: int, batch: bool
) -> None:
    database = tmp_path / "aura.db"
    # One event per transaction: it dies on event AT, so AT + 1 were committed. All in one
    # transaction: all EVENTS were, and those after AT are left undelivered too.
    committed = EVENTS if batch else AT + 1

    publisher = spawn(
        tmp_path,
        "publisher",
        *("publish", database, "--events", EVENTS, "--kill", step, "--at", AT),
        *(("--batch",) if batch else ()),
    )
    killed(publisher)
    left = tally(database)
    assert left.events == left.orders == set(range(committed)), left.render()
    assert left.rows[AT][0] == left_as, left.render()  # the kill landed at this step
    assert left.effects[AT] == effects_left, left.render()
    assert all(left.rows[n][0] == "COMPLETED" for n in range(AT)), left.render()
    assert all(left.rows[n][0] == "PROCESSING" for n in range(AT + 1, committed)), left.render()

    recovered(tmp_path, database)
    assert_each_event_applied_once(database, committed)


def test_a_dead_letter_retry_killed_after_the_handler_wrote_is_applied_once(
    tmp_path: Path,
) -> None:
    database = tmp_path / "aura.db"
    finished(spawn(tmp_path, "publisher", "publish", database, "--events", EVENTS, "--fail-at", AT))
    failed = tally(database)
    assert (failed.dead_letters, failed.rows[AT][0], failed.effects[AT]) == (1, "FAILED", 0), (
        failed.render()
    )

    retrier = spawn(tmp_path, "retrier", "retry", database, "--kill", "after-write", "--at", AT)
    killed(retrier)
    left = tally(database)
    assert (left.rows[AT][0], left.effects[AT]) == ("PROCESSING", 0), left.render()

    recovered(tmp_path, database, "--retry")
    assert_each_event_applied_once(database, EVENTS)


def test_a_worker_killed_right_after_it_claimed_a_publication_loses_nothing(
    tmp_path: Path,
) -> None:
    database = tmp_path / "aura.db"
    # All EVENTS published in one transaction; the publisher dies before delivering any.
    publisher = spawn(
        tmp_path,
        "publisher",
        *("publish", database, "--events", EVENTS, "--batch"),
        *("--kill", "before-delivery", "--at", 0),
    )
    killed(publisher)
    orphaned = tally(database)
    assert orphaned.statuses == {"PROCESSING": EVENTS}, orphaned.render()
    dead_owner = orphaned.rows[0][1]

    claimer = spawn(tmp_path, "claimer", "claim", database, "--kill", "after-claim", "--at", AT)
    killed(claimer)
    left = tally(database)
    assert all(left.rows[n][0] == "COMPLETED" for n in range(AT)), left.render()
    status, owner = left.rows[AT]
    assert status == "PROCESSING", left.render()
    assert owner not in (None, dead_owner), left.render()  # the claimer's, now dead too
    assert left.effects[AT] == 0, left.render()

    recovered(tmp_path, database)
    assert_each_event_applied_once(database, EVENTS)

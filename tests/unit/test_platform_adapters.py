"""Platform(...) takes its stores and the bus's policies as arguments (a composition root)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from aura import Event, InMemoryEventStore, Module, Platform
from aura.dead_letters import InMemoryDeadLetterStore
from aura.exceptions import EventValidationError, HandlerTimeoutError
from aura.store import EventStore, SqliteEventStore


def ledger(handler: Any) -> Module:
    module = Module("ledger")
    module.publishes("ledger.*")
    module.subscribe("ledger.opened")(handler)
    return module


def test_a_dead_letter_store_given_is_the_one_the_bus_keeps_letters_in() -> None:
    letters = InMemoryDeadLetterStore()

    def fails(data: dict[str, Any]) -> None:
        raise RuntimeError("down")

    with Platform([ledger(fails)], dead_letters=letters) as platform:
        platform.start()
        platform.bus.publish("ledger.opened", {"n": 1}, "ledger")
        assert platform.bus.dead_letter_store is letters
    assert [letter.error_message for letter in letters.list()] == ["down"]


def test_an_event_store_given_is_registered_for_injection() -> None:
    store = InMemoryEventStore()
    with Platform([ledger(lambda data: None)], event_store=store) as platform:
        assert platform.event_store is store
        assert platform.container.resolve(EventStore) is store


def test_durable_fills_only_the_stores_not_given(tmp_path: Path) -> None:
    letters = InMemoryDeadLetterStore()
    with Platform(
        [ledger(lambda data: None)], database=tmp_path / "a.db", durable=True, dead_letters=letters
    ) as platform:
        assert isinstance(platform.event_store, SqliteEventStore)
        assert platform.journal is not None
        assert platform.bus.dead_letter_store is letters
    with Platform([ledger(lambda data: None)], database=tmp_path / "b.db", durable=True) as other:
        # The durable default: the journal's failed publications are the dead letters.
        assert other.bus.dead_letter_store is other.journal.dead_letters  # type: ignore[union-attr]


def test_max_event_size_reaches_the_bus() -> None:
    with (
        Platform([ledger(lambda data: None)], max_event_size=10) as platform,
        pytest.raises(EventValidationError),
    ):
        platform.bus.publish("ledger.opened", {"note": "x" * 50}, "ledger")


def test_handler_timeout_reaches_the_bus() -> None:
    async def slow(event: Event) -> None:
        await asyncio.sleep(1)

    with Platform([ledger(slow)], handler_timeout=0.01) as platform:
        platform.start()
        asyncio.run(platform.bus.apublish("ledger.opened", {"n": 1}, "ledger"))
        [letter] = platform.bus.dead_letters()
    assert letter.error_type == HandlerTimeoutError.__qualname__


def test_a_given_store_is_kept_even_when_it_is_empty_and_falsy(tmp_path: Path) -> None:
    class Sized(InMemoryDeadLetterStore):
        def __len__(self) -> int:
            return len(self.list())

    letters = Sized()
    with Platform(
        [ledger(lambda data: None)], database=tmp_path / "a.db", durable=True, dead_letters=letters
    ) as platform:
        assert platform.bus.dead_letter_store is letters


def _flaky() -> tuple[list[int], list[bool], Any]:
    """A handler that records each run and fails while ``down[0]``."""
    runs: list[int] = []
    down = [True]

    def record(data: dict[str, Any]) -> None:
        runs.append(data["n"])
        if down[0]:
            raise RuntimeError("down")

    return runs, down, record


def test_a_durable_platforms_own_dead_letter_store_retries_by_running_the_handler(
    tmp_path: Path,
) -> None:
    """Its letters have no publication id: a retry claims the journal's FAILED row first, so the
    handler runs (once) and the row is COMPLETED."""
    runs, down, record = _flaky()
    letters = InMemoryDeadLetterStore()
    database = tmp_path / "a.db"
    with Platform([ledger(record)], database=database, durable=True, dead_letters=letters) as p:
        assert p.journal is not None
        p.bus.publish("ledger.opened", {"n": 1}, "ledger")
        [letter] = letters.list()
        down[0] = False
        report = p.bus.retry_dead_letters()
        assert [retried.id for retried in report.succeeded] == [letter.id]
        assert runs == [1, 1]
        assert [r["status"] for r in p.journal.publications()] == ["COMPLETED"]
        assert letters.list() == []


def test_a_letter_of_its_own_store_whose_row_was_retried_elsewhere_is_not_reported_delivered(
    tmp_path: Path,
) -> None:
    runs, down, record = _flaky()
    letters = InMemoryDeadLetterStore()
    database = tmp_path / "a.db"
    with Platform([ledger(record)], database=database, durable=True, dead_letters=letters) as p:
        p.bus.publish("ledger.opened", {"n": 2}, "ledger")
        down[0] = False
        # Another process retries the journal's own dead letter (the FAILED row).
        with Platform([ledger(record)], database=database, durable=True) as other:
            assert len(other.bus.retry_dead_letters().succeeded) == 1
        assert runs == [2, 2]
        report = p.bus.retry_dead_letters()
        assert report.succeeded == report.failed == ()
        assert runs == [2, 2]  # the handler did not run a third time, nor was it claimed to
        assert p.bus.dead_letters() == []  # settled elsewhere: the letter is removed


@pytest.mark.parametrize("poll", [0, -1, float("inf"), float("nan"), 86_400, True, "1"])
def test_a_poll_interval_that_no_worker_could_sleep_is_refused_before_anything_opens(
    tmp_path: Path, poll: Any
) -> None:
    from aura.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError) as refused:
        Platform([], database=tmp_path / "aura.db", durable=True, poll_interval=poll)
    assert str(refused.value) == (
        "poll_interval must be a number of seconds above 0 and below a day, or None (no "
        f"delivery worker), got {poll!r}. Pass e.g. poll_interval=1.0; nothing was opened."
    )
    assert not (tmp_path / "aura.db").exists()

"""Durable delivery under faults, in one process: each reproduced loss or duplicate of the
landed registry, now a regression test, counted as published vs stored vs delivered vs
dead-lettered vs effects. The handler is deliberately not idempotent: it inserts a row per call,
so a second application shows as a second row."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aura.database import Database
from aura.dead_letters import RetryPolicy
from aura.events import Event
from aura.exceptions import DuplicateSubscriberError, HandlerSignatureError
from aura.module import Module
from aura.platform import Platform
from tests.reliability.durable_worker import until

Handler = Callable[..., Any]


def ledger(body: Handler | None = None, *, retry: RetryPolicy | None = None) -> list[Module]:
    """``orders`` publishes ``order.placed``; ``ledger`` applies each once per call (a row)."""
    orders = Module("orders")
    orders.publishes("order.*")
    books = Module("ledger")

    @books.on_start
    def create(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS ledger_entries (n INTEGER)")

    @books.subscribe("order.placed", retry=retry)
    def apply(data: dict[str, Any], database: Database) -> None:
        database.execute("INSERT INTO ledger_entries VALUES (?)", (data["n"],))
        if body is not None:
            body(data)

    return [orders, books]


def effects(platform: Platform) -> list[int]:
    return [row["n"] for row in platform.database.query("SELECT n FROM ledger_entries ORDER BY n")]


def accounted(platform: Platform) -> dict[str, int]:
    rows = platform.database.query(
        "SELECT status, COUNT(*) AS n FROM aura_publications GROUP BY status"
    )
    return {row["status"]: row["n"] for row in rows}


def stored(platform: Platform) -> int:
    row = platform.database.query_one("SELECT COUNT(*) AS n FROM aura_events")
    assert row is not None
    return int(row["n"])


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "aura.db"


def durable(path: Path, modules: list[Module], **options: Any) -> Platform:
    options.setdefault("poll_interval", None)  # no background worker unless a test wants one
    return Platform(modules, database=path, durable=True, **options)


def held(platform: Platform) -> threading.Event:
    """Hold back each pass of the delivery worker of ``platform`` (built, not yet started)
    until the event returned is set: what the test looks at first cannot change under it."""
    worker = platform._worker
    assert worker is not None
    assert not worker._threads  # not started yet: its first pass is held back too
    deliver_due = worker._deliver_due
    go = threading.Event()

    def when_let_go() -> object:
        go.wait(30)
        return deliver_due()

    worker._deliver_due = when_let_go
    return go


# --- loss: BaseException, cancellation ---------------------------------------------------------


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, SystemExit])
def test_an_interrupted_handler_leaves_a_dead_letter_that_a_retry_applies_once(
    path: Path, interruption: type[BaseException]
) -> None:
    broken = [True]

    def interrupted(data: dict[str, Any]) -> None:
        if broken[0]:
            raise interruption("stop")

    with durable(path, ledger(interrupted)) as first:
        first.start()
        with pytest.raises(interruption):
            first.bus.publish("order.placed", {"n": 1}, "orders")
        [letter] = first.bus.dead_letters()
        assert (letter.error_type, letter.attempts) == (interruption.__qualname__, 1)
        assert accounted(first) == {"FAILED": 1}
        assert effects(first) == []  # the interrupted handler's write was rolled back
    broken[0] = False
    with durable(path, ledger(interrupted)) as second:
        second.start()
        report = second.bus.retry_dead_letters()
        assert (len(report.succeeded), len(report.failed)) == (1, 0)
        assert effects(second) == [1]
        assert accounted(second) == {"COMPLETED": 1}
        assert second.bus.dead_letters() == []


def test_an_async_handler_cancelled_by_a_timeout_leaves_a_dead_letter(path: Path) -> None:
    orders, books = ledger()
    books.handlers.clear()
    calls: list[int] = []

    @books.subscribe("order.placed")
    async def slow(data: dict[str, Any]) -> None:
        calls.append(data["n"])
        if len(calls) == 1:
            await asyncio.sleep(10)

    async def publish_with_a_deadline(platform: Platform) -> None:
        async with asyncio.timeout(0.05):
            await platform.bus.apublish("order.placed", {"n": 1}, "orders")

    with durable(path, [orders, books]) as platform:
        platform.start()
        with pytest.raises(TimeoutError):
            asyncio.run(publish_with_a_deadline(platform))
        [letter] = platform.bus.dead_letters()
        assert letter.error_type == "CancelledError"
        report = asyncio.run(platform.bus.aretry_dead_letters())
        assert len(report.succeeded) == 1
        assert calls == [1, 1]
        assert accounted(platform) == {"COMPLETED": 1}


# --- loss: what escapes a delivery -----------------------------------------------------------


class FailingObserver:
    def on_published(self, event: Event) -> None:
        pass

    def on_delivered(self, delivery: object) -> None:
        raise RuntimeError("observer down")


def test_a_failing_observer_stops_no_later_event_of_the_same_commit(path: Path) -> None:
    with durable(path, ledger()) as platform:
        platform.start()
        platform.bus.add_observer(FailingObserver())
        with platform.transaction():
            for n in (1, 2, 3):
                platform.bus.publish("order.placed", {"n": n}, "orders")
        assert effects(platform) == [1, 2, 3]
        assert accounted(platform) == {"COMPLETED": 3}


class BrokenLetters:
    """A dead-letter store whose disk is gone."""

    def add(self, letter: object) -> None:
        raise OSError("no space left on device")

    def replace(self, letter: object) -> None:
        raise OSError("no space left on device")

    def remove(self, letter_id: str) -> None:
        raise OSError("no space left on device")

    def list(self) -> list[Any]:
        return []


def test_a_dead_letter_store_that_cannot_write_stops_no_later_event() -> None:
    seen: list[int] = []

    def fails_on_one(data: dict[str, Any]) -> None:
        seen.append(data["n"])
        if data["n"] == 1:
            raise ValueError("bad order")

    with Platform(ledger(fails_on_one), dead_letters=BrokenLetters()) as platform:  # type: ignore[arg-type]
        platform.start()
        with platform.transaction():  # the caller's commit stands: nothing raises to it
            for n in (1, 2, 3):
                platform.bus.publish("order.placed", {"n": n}, "orders")
        assert seen == [1, 2, 3]
        assert effects(platform) == [1, 2, 3]  # in memory: each write commits on its own


# --- loss: the clock --------------------------------------------------------------------------


def test_a_clock_stepped_back_after_a_crash_does_not_strand_a_delivery(path: Path) -> None:
    with durable(path, ledger(), lease=5.0) as first:
        first.start()
        first.bus.publish("order.placed", {"n": 1}, "orders")
        # What a crash leaves when the clock then steps back an hour: PROCESSING, owned by a
        # dead process, under a lease that (by the stepped clock) ends an hour from now.
        first.database.execute(
            "UPDATE aura_publications SET status = 'PROCESSING', owner = 'dead', "
            "due_at = (julianday('now') - 2440587.5) * 86400.0 + 3605"
        )
        first.database.execute("DELETE FROM ledger_entries")
    with durable(path, ledger(), lease=5.0) as second:
        second.start()
        assert effects(second) == [1]
        assert accounted(second) == {"COMPLETED": 1}


def test_a_clock_stepped_back_after_a_failure_does_not_hold_its_retry_back(path: Path) -> None:
    failures = [ValueError("payment provider down")]

    def fails_once(data: dict[str, Any]) -> None:
        if failures:
            raise failures.pop()

    policy = RetryPolicy(max_attempts=3, backoff=60)
    with durable(path, ledger(fails_once, retry=policy)) as first:
        first.start()
        first.bus.publish("order.placed", {"n": 1}, "orders")
        assert accounted(first) == {"FAILED": 1}  # its retry due in a minute
        # The clock then steps back an hour: by it, the retry is due an hour and a minute
        # from now, much further ahead than the minute it was given.
        first.database.execute("UPDATE aura_publications SET due_at = due_at + 3600")
    with durable(path, ledger(fails_once, retry=policy)) as second:
        second.start()  # delivers what is due, by the database's clock
        assert effects(second) == [1]
        assert accounted(second) == {"COMPLETED": 1}


def test_a_failed_row_written_before_its_wait_was_kept_waits_its_time_out(path: Path) -> None:
    # A FAILED row of an earlier Aura (or of an older process in a rolling deploy): its lease is
    # its last claim's, shorter than its retry's backoff. It is not due before its time.
    def fails(data: dict[str, Any]) -> None:
        raise ValueError("payment provider down")

    policy = RetryPolicy(max_attempts=3, backoff=3600)
    with durable(path, ledger(fails, retry=policy)) as first:
        first.start()
        first.bus.publish("order.placed", {"n": 1}, "orders")
        first.database.execute("UPDATE aura_publications SET lease = 30")
    ran: list[int] = []
    with durable(path, ledger(lambda data: ran.append(data["n"]), retry=policy)) as second:
        second.start()
        assert ran == []
        assert accounted(second) == {"FAILED": 1}


# --- handler forms ----------------------------------------------------------------------------


def test_generators_and_async_generators_are_refused_when_they_subscribe(path: Path) -> None:
    def generator(data: dict[str, Any]) -> Iterator[None]:
        yield None

    async def agenerator(data: dict[str, Any]) -> Any:
        yield None

    with durable(path, ledger()) as platform:
        for handler, kind in ((generator, "a generator"), (agenerator, "an async generator")):
            with pytest.raises(HandlerSignatureError) as refused:
                platform.bus.subscribe("order.placed", handler, "ledger")
            assert str(refused.value) == (
                f"Handler {handler.__module__}.{handler.__qualname__} for 'order.placed' is "
                f"{kind} function: calling it only creates a generator, so its body would "
                "never run. Make it a plain function (def) or a coroutine function (async def) "
                "without 'yield'."
            )


def test_a_sync_callable_returning_a_coroutine_fails_into_a_dead_letter(path: Path) -> None:
    ran: list[int] = []

    async def work(data: dict[str, Any]) -> None:
        ran.append(data["n"])

    with durable(path, ledger()) as platform:
        platform.start()
        platform.bus.subscribe("order.placed", lambda data: work(data), "mailer", name="wrapped")
        platform.bus.publish("order.placed", {"n": 1}, "orders")
        [letter] = platform.bus.dead_letters()
        assert ran == []
        assert letter.error_message == (
            "Handler mailer:wrapped returned a coroutine instead of doing its work: it was "
            "subscribed as a synchronous handler, so nothing awaited it and its body never ran. "
            "Subscribe the async function itself (async def), which the bus then awaits under "
            "apublish()."
        )
        assert accounted(platform) == {"COMPLETED": 1, "FAILED": 1}  # never COMPLETED


# --- duplication: another process on the same file ------------------------------------------


def test_a_second_platform_starting_on_the_file_leaves_in_flight_deliveries_alone(
    path: Path,
) -> None:
    entered, release = threading.Event(), threading.Event()
    calls: list[int] = []  # the handler's runs, not only its database effects

    def slow(data: dict[str, Any]) -> None:
        calls.append(data["n"])
        if data["n"] == 0:
            entered.set()
            release.wait(10)

    first = durable(path, ledger(slow))
    first.start()
    publisher = threading.Thread(
        target=lambda: [first.bus.publish("order.placed", {"n": n}, "orders") for n in range(10)]
    )
    publisher.start()
    assert entered.wait(10)
    # While the first delivers event 0 (and owns 1..9, queued), a second process starts and
    # a dead-letter retry runs: neither may take what the first owns.
    with durable(path, ledger(slow), poll_interval=0.01) as second:
        second.start()
        assert second.bus.retry_dead_letters().succeeded == ()
        release.set()
        publisher.join(10)
    assert sorted(calls) == list(range(10))  # no handler ran twice, in either process
    assert effects(first) == list(range(10))
    assert accounted(first) == {"COMPLETED": 10}
    first.close()


def test_two_concurrent_retries_of_a_dead_letter_apply_it_once(path: Path) -> None:
    gate = threading.Barrier(2)
    broken = [True]

    def fails_first(data: dict[str, Any]) -> None:
        if broken[0]:
            raise ConnectionError("smtp down")

    with durable(path, ledger(fails_first)) as platform:
        platform.start()
        for n in range(5):
            platform.bus.publish("order.placed", {"n": n}, "orders")
    broken[0] = False
    platforms = [durable(path, ledger(fails_first)) for _ in range(2)]
    reports: list[Any] = []

    def retry(platform: Platform) -> None:
        gate.wait()
        reports.append(platform.bus.retry_dead_letters())

    threads = [threading.Thread(target=retry, args=(p,)) for p in platforms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(len(r.succeeded) for r in reports) in ([0, 5], [1, 4], [2, 3])
    assert sum(len(r.succeeded) for r in reports) == 5
    assert effects(platforms[0]) == list(range(5))  # each once: the claim let one retry run it
    assert accounted(platforms[0]) == {"COMPLETED": 5}
    for platform in platforms:
        platform.close()


def test_a_lock_timeout_before_the_handler_is_no_dead_letter_and_is_applied_once(
    path: Path,
) -> None:
    # No delivery worker: the handed-back row is due again after 1 s (or at once, below), and
    # a worker's pass could deliver it before the asserts that it was not, or take it from
    # the test's own resubmit_incomplete().
    with Platform(
        ledger(), database=Database(path, timeout=0.05), durable=True, poll_interval=None
    ) as platform:
        platform.start()
        other = sqlite3.connect(path, isolation_level=None)
        with platform.transaction():
            # Another process takes the write lock between the commit and the delivery.
            platform.database.on_commit(lambda: other.execute("BEGIN IMMEDIATE"))
            platform.bus.publish("order.placed", {"n": 1}, "orders")
        other.execute("ROLLBACK")
        other.close()
        assert effects(platform) == []
        assert platform.bus.dead_letters() == []  # the handler never ran: nothing failed in it
        [row] = platform.journal.publications()  # type: ignore[union-attr]
        # Handed back when the lock came free, or still leased if even that was locked out.
        assert (row["status"], row["attempts"]) in (("PUBLISHED", 0), ("PROCESSING", 1))
        platform.database.execute("UPDATE aura_publications SET due_at = 0")
        platform.bus.resubmit_incomplete()
        assert effects(platform) == [1]
        assert accounted(platform) == {"COMPLETED": 1}


# --- subscriber identity ----------------------------------------------------------------------


def test_one_name_for_two_subscriptions_that_can_receive_one_event_is_refused(
    path: Path,
) -> None:
    def record(data: dict[str, Any]) -> None:
        pass

    with durable(path, ledger()) as platform:
        first = platform.bus.subscribe("order.placed", record, "audit")
        with pytest.raises(DuplicateSubscriberError) as refused:
            platform.bus.subscribe("order.*", record, "audit")
        place = f"{__file__}:{record.__code__.co_firstlineno}"
        name = f"{record.__module__}.{record.__qualname__}"
        assert str(refused.value) == (
            f"Module 'audit' already has a subscriber named {name!r} (to 'order.placed', "
            f"handler at {place}); this one (to 'order.*', handler at {place}) needs a name of "
            "its own: pass subscribe(..., name='...'), unique within the module."
        )
        # Patterns that never select one event may share it; a name of its own always works.
        platform.bus.subscribe("order.paid", record, "audit")
        platform.bus.subscribe("order.*", record, "audit", name="every_order")
        first.cancel()
        platform.bus.subscribe("order.placed", record, "audit")  # free again once cancelled


def test_a_dead_letter_retry_goes_to_exactly_the_subscriber_that_failed(path: Path) -> None:
    calls: list[str] = []

    class Mailer:
        def __init__(self, name: str, broken: bool) -> None:
            self.name, self.broken = name, broken

        def __call__(self, data: dict[str, Any]) -> None:
            calls.append(self.name)
            if self.broken:
                raise ConnectionError(f"{self.name} down")

    sms, email = Mailer("sms", broken=False), Mailer("email", broken=True)
    with durable(path, ledger()) as platform:
        platform.start()
        platform.bus.subscribe("order.placed", sms, "mailer", name="sms")
        platform.bus.subscribe("order.placed", email, "mailer", name="email")
        platform.bus.publish("order.placed", {"n": 1}, "orders")
        [letter] = platform.bus.dead_letters()
        assert letter.handler_name == "email"
        email.broken = False
        platform.bus.retry_dead_letters()
        assert calls == ["sms", "email", "email"]
        assert accounted(platform) == {"COMPLETED": 3}


# --- automatic retries ------------------------------------------------------------------------


def test_a_retry_policy_redelivers_a_failure_by_itself_until_it_succeeds(path: Path) -> None:
    failures = [2]

    def flaky(data: dict[str, Any]) -> None:
        if failures[0]:
            failures[0] -= 1
            raise ConnectionError("smtp down")

    policy = RetryPolicy(max_attempts=5, backoff=0.05, multiplier=1.0)
    platform = durable(path, ledger(flaky, retry=policy), poll_interval=0.02)
    # The retry is due 50 ms after the failure: a worker's pass could claim it (PROCESSING, so
    # not listed) before the test looks at the first dead letter. Held back until then.
    looked = held(platform)
    with platform:
        platform.start()
        platform.bus.publish("order.placed", {"n": 1}, "orders")
        [letter] = platform.bus.dead_letters()  # the first failure is a dead letter at once
        assert letter.attempts == 1
        looked.set()
        until(lambda: accounted(platform) == {"COMPLETED": 1}, 20, "the worker's retries")
        assert effects(platform) == [1]  # the failed attempts' writes were rolled back
        [row] = platform.journal.publications()  # type: ignore[union-attr]
        assert row["attempts"] == 3


def test_a_subscriber_out_of_attempts_stays_a_dead_letter(path: Path) -> None:
    def broken(data: dict[str, Any]) -> None:
        raise ConnectionError("smtp down")

    policy = RetryPolicy(max_attempts=2, backoff=0.0)
    with durable(path, ledger(broken, retry=policy), poll_interval=0.02) as platform:
        platform.start()
        platform.bus.publish("order.placed", {"n": 1}, "orders")

        def spent() -> bool:  # while a retry runs, the letter is PROCESSING, not listed
            [row] = platform.journal.publications()  # type: ignore[union-attr]
            return (row["status"], row["attempts"]) == ("FAILED", 2)

        until(spent, 20, "the second attempt to fail")
        threading.Event().wait(0.1)  # and no third attempt comes (five polls)
        [letter] = platform.bus.dead_letters()
        assert letter.attempts == 2
        assert effects(platform) == []


# --- a full disk ------------------------------------------------------------------------------


def test_a_disk_full_during_the_delivery_loses_nothing_and_raises_nothing_to_the_publisher(
    path: Path,
) -> None:
    def big_write(data: dict[str, Any], database: Database) -> None:
        database.execute("INSERT INTO ledger_blobs VALUES (?)", ("x" * 200_000,))

    orders, books = ledger()

    @books.on_start
    def create_blobs(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS ledger_blobs (body TEXT)")

    books.subscribe("order.placed", name="blob")(big_write)
    with durable(path, [orders, books], lease=0.2) as platform:
        platform.start()
        pages = platform.database.query_one("PRAGMA page_count")[0]  # type: ignore[index]
        platform.database.execute(f"PRAGMA max_page_count = {pages + 8}")  # the disk is full
        event = platform.bus.publish("order.placed", {"n": 1}, "orders")  # does not raise
        assert stored(platform) == 1  # the event and its publications were recorded
        assert platform.database.query("SELECT * FROM ledger_blobs") == []
        assert accounted(platform).get("COMPLETED") == 1  # the blob's delivery did not complete
        platform.database.execute("PRAGMA max_page_count = 1073741823")  # space again
        # What failed is due again: after the transient retry's 0.5 s wait, or its 0.2 s lease.
        deadline = time.monotonic() + 20  # generous for a loaded machine; success ends it early
        while time.monotonic() < deadline:
            platform.bus.resubmit_incomplete()
            platform.bus.retry_dead_letters()
            if accounted(platform) == {"COMPLETED": 2}:
                break
            threading.Event().wait(0.05)
        assert accounted(platform) == {"COMPLETED": 2}
        assert effects(platform) == [1]  # the plain handler: once
        rows = platform.database.query("SELECT COUNT(*) AS n FROM ledger_blobs")
        assert rows[0]["n"] == 1  # the big write: once, after the disk had room
        assert platform.bus.dead_letters() == []
        assert platform.event_store is not None
        assert [e.event_id for e in platform.event_store.read()] == [event.event_id]


# --- what the review found ---------------------------------------------------------------------


class RaisingOnPublished:
    def on_published(self, event: Event) -> None:
        raise RuntimeError("observer down")

    def on_delivered(self, delivery: object) -> None:
        pass


def test_an_observer_failing_on_a_committed_event_neither_raises_nor_stops_delivery(
    path: Path,
) -> None:
    with durable(path, ledger()) as platform:
        platform.start()
        platform.bus.add_observer(RaisingOnPublished())
        with platform.transaction():  # returns: the commit stands
            for n in (1, 2, 3):
                platform.bus.publish("order.placed", {"n": n}, "orders")
        platform.bus.publish("order.placed", {"n": 4}, "orders")  # outside one, the same
        assert effects(platform) == [1, 2, 3, 4]
        assert accounted(platform) == {"COMPLETED": 4}


def test_a_handler_exiting_the_process_does_not_stop_the_delivery_workers(path: Path) -> None:
    def exits_on_one(data: dict[str, Any]) -> None:
        if data["n"] == 1:
            raise SystemExit(2)  # argparse in a handler, say

    with durable(path, ledger(exits_on_one), workers=1, poll_interval=0.05) as platform:
        platform.start()
        for n in range(1, 6):
            platform.bus.publish("order.placed", {"n": n}, "orders")
        # Its housekeeping pass may deliver 2 to 5 while a delivery thread still writes 1's
        # dead letter: wait for both.
        until(
            lambda: effects(platform) == [2, 3, 4, 5] and len(platform.bus.dead_letters()) == 1,
            20,
            "the workers to deliver 2 to 5 and keep 1 as a dead letter",
        )
        assert effects(platform) == [2, 3, 4, 5]
        [letter] = platform.bus.dead_letters()
        assert letter.error_type == "SystemExit"


def test_an_async_subscriber_is_refused_where_workers_deliver(path: Path) -> None:
    orders, books = ledger()

    @books.subscribe("order.paid")
    async def notify(data: dict[str, Any]) -> None:
        pass

    with pytest.raises(HandlerSignatureError) as refused:
        durable(path, [orders, books], workers=1)
    name = f"{notify.__module__}.{notify.__qualname__}"
    assert str(refused.value) == (
        f"Handler {name} for 'order.paid' is async, and this platform's delivery workers "
        "(workers=N) run synchronous handlers only: nothing would ever deliver to it. Make it a "
        "plain function, or build the platform without workers= (the publishing call then "
        "awaits it under apublish())."
    )


def test_rows_no_subscriber_here_can_take_never_hide_those_it_can(path: Path) -> None:
    with durable(path, ledger()) as platform:
        platform.start()
        # 1,500 due publications of a subscriber a deploy renamed, older than ours.
        platform.database.executemany(
            "INSERT INTO aura_publications (event_id, event_type, subscriber_module, handler, "
            "status, attempts, due_at, published_at, updated_at) VALUES "
            "(?, 'order.placed', 'ledger', 'renamed', 'PUBLISHED', 0, 0, '', '')",
            [(f"gone-{n}",) for n in range(1500)],
        )
        platform.bus.publish("order.placed", {"n": 1}, "orders")
        platform.database.execute(  # ours, as a crash would leave it: due
            "UPDATE aura_publications SET status = 'PUBLISHED', owner = NULL, due_at = 1 "
            "WHERE handler <> 'renamed'"
        )
        platform.database.execute("DELETE FROM ledger_entries")
        report = platform.bus.resubmit_incomplete()
        assert report.delivered == 1
        assert effects(platform) == [1]
        assert len(report.unroutable) == 100  # reported, a page of them


@pytest.mark.parametrize("workers", [None, 1], ids=["inline", "workers"])
def test_start_names_the_backlog_no_subscriber_here_can_take(
    path: Path, caplog: pytest.LogCaptureFixture, workers: int | None
) -> None:
    """What a crash left due to a subscriber since removed is named at start, whether start()
    delivers the backlog itself or leaves it to the delivery threads (workers=N)."""
    shipping = Module("shipping")

    @shipping.subscribe("order.placed", name="ship")
    def ship(data: dict[str, Any]) -> None: ...

    with Platform([shipping], database=path, durable=True, workers=0) as publisher:
        event = publisher.bus.publish("order.placed", {"n": 1}, "orders")
    with (
        caplog.at_level(logging.WARNING, "aura.platform"),
        Platform([Module("shipping")], database=path, durable=True, workers=workers),
    ):
        pass
    assert [r.getMessage() for r in caplog.records if r.name == "aura.platform"] == [
        "1 unfinished publication(s) were not resubmitted: their subscriber is gone: "
        f"shipping:ship ({event.event_id})"
    ]


def test_a_platform_dropped_without_close_takes_its_lease_thread_with_it(path: Path) -> None:
    """Every started durable platform renews leases on a thread of its own; one dropped
    without close() is still collected, and its thread ends."""
    import gc
    import threading

    platform = Platform(ledger(), database=path, durable=True, poll_interval=None)
    platform.start()
    assert platform.journal is not None
    name = f"aura-worker-{platform.journal.owner}-lease"
    assert [t.name for t in threading.enumerate() if t.name == name] == [name]
    database = platform.database
    del platform
    gc.collect()
    deadline = time.monotonic() + 5  # its renewal pause is 10 s: it must end before
    while any(t.name == name for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    database.close()
    assert not any(t.name == name for t in threading.enumerate())


def test_the_leases_are_renewed_while_the_bus_is_still_used_without_its_platform(
    path: Path,
) -> None:
    """The lease thread lives as long as the journal it renews, not the Platform object: code
    that keeps only the bus still has its long deliveries' leases renewed."""
    import gc
    import threading

    platform = Platform(ledger(), database=path, durable=True, poll_interval=None)
    platform.start()
    bus, database = platform.bus, platform.database
    assert platform.journal is not None
    name = f"aura-worker-{platform.journal.owner}-lease"
    del platform
    gc.collect()
    try:
        assert any(t.name == name for t in threading.enumerate())
    finally:
        del bus
        gc.collect()
        database.close()

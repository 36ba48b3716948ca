"""Regressions found in review: transactions, async durability, timeouts, replay, the gateway."""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from aura.bus import EventBus
from aura.database import Database
from aura.events import Event
from aura.exceptions import ConfigurationError, EventDeliveryError, ServiceTimeoutError
from aura.module import Module
from aura.platform import Platform
from aura.store import SqliteEventStore


def ledger_module() -> Module:
    module = Module("ledger")
    module.publishes("ledger.*")

    @module.on_start
    def create(database: Database) -> None:
        database.execute("CREATE TABLE IF NOT EXISTS ledger_rows (name TEXT)")

    return module


@pytest.mark.parametrize("durable", [False, True])
def test_an_event_published_in_a_handlers_rolled_back_transaction_is_not_delivered(
    tmp_path: Path, durable: bool
) -> None:
    module = ledger_module()
    seen: list[Any] = []

    @module.subscribe("ledger.opened")
    def open_then_fail(data: dict[str, Any], database: Database, bus: EventBus) -> None:
        try:
            with database.transaction():
                bus.publish("ledger.second", {"n": data["n"]}, "ledger")
                raise ValueError("abort the second step")
        except ValueError:
            pass

    module.subscribe("ledger.second")(seen.append)
    with Platform([module], database=tmp_path / "aura.db", durable=durable) as platform:
        platform.bus.publish("ledger.opened", {"n": 1}, "ledger")
        assert seen == []
        if platform.event_store is not None:
            assert [e.event_type for e in platform.event_store.read()] == ["ledger.opened"]


def test_concurrent_async_durable_deliveries_keep_each_others_writes(tmp_path: Path) -> None:
    module = ledger_module()

    @module.subscribe("ledger.slow")
    async def slow(data: dict[str, Any]) -> None:
        await asyncio.sleep(0.05)
        raise RuntimeError("slow one fails")

    @module.subscribe("ledger.fast")
    async def fast(data: dict[str, Any], database: Database) -> None:
        database.execute("INSERT INTO ledger_rows VALUES ('fast')")

    with Platform([module], database=tmp_path / "aura.db", durable=True) as platform:

        async def main() -> None:
            await asyncio.gather(
                platform.bus.apublish("ledger.slow", {}, "ledger"),
                platform.bus.apublish("ledger.fast", {}, "ledger"),
            )

        asyncio.run(main())
        assert platform.event_store is not None
        assert sorted(e.event_type for e in platform.event_store.read()) == [
            "ledger.fast",
            "ledger.slow",
        ]
        assert [r["name"] for r in platform.database.query("SELECT * FROM ledger_rows")] == ["fast"]
        assert platform.journal is not None
        statuses = {
            r["handler"].rsplit(".", 1)[-1]: r["status"] for r in platform.journal.publications()
        }
        assert statuses == {"slow": "FAILED", "fast": "COMPLETED"}


def test_a_timed_call_inside_a_transaction_runs_inline_and_rolls_back_when_late(
    tmp_path: Path,
) -> None:
    writes = Module("writes")

    class Writer:
        def __init__(self, database: Database) -> None:
            self.database = database

        def write(self, seconds: float) -> str:
            self.database.execute("INSERT INTO ledger_rows VALUES ('w')")
            time.sleep(seconds)
            return "done"

    writes.add_service("Writer", Writer, timeout=0.1)
    with Platform([ledger_module(), writes], database=tmp_path / "aura.db") as platform:
        writer = platform.registry.get_service("writes", "Writer")
        with platform.transaction():
            assert writer.write(0) == "done"  # no worker waiting on the caller's lock
        with pytest.raises(ServiceTimeoutError), platform.transaction():
            writer.write(0.2)
        rows = platform.database.query("SELECT * FROM ledger_rows")
        assert len(rows) == 1  # the late call's write rolled back with its caller


def test_async_subscribers_are_resubmitted_by_aresubmit(tmp_path: Path) -> None:
    seen: list[Any] = []
    module = ledger_module()

    @module.subscribe("ledger.opened")
    async def remember(data: dict[str, Any]) -> None:
        seen.append(data["n"])

    path = tmp_path / "aura.db"
    with Platform([module], database=path, durable=True) as first:
        assert first.journal is not None
        first.journal.accepted(
            Event.create("ledger.opened", {"n": 7}, "ledger"), tuple(first.bus.subscriptions())
        )
    with Platform([module], database=path, durable=True) as second:
        assert seen == []  # start() cannot await: left for aresubmit
        report = asyncio.run(second.bus.aresubmit_incomplete())
        assert (report.delivered, seen) == (1, [7])


def test_replay_rebuilds_without_recording_or_publishing(tmp_path: Path) -> None:
    module = ledger_module()
    projected: list[Any] = []

    @module.subscribe("ledger.opened", idempotent=True)
    def project(data: dict[str, Any], bus: EventBus) -> None:
        projected.append(data["n"])
        bus.publish("ledger.projected", {"n": data["n"]}, "ledger")

    with Platform([module], database=tmp_path / "aura.db", durable=True) as platform:
        platform.bus.publish("ledger.opened", {"n": 1}, "ledger")
        assert platform.event_store is not None
        before = [e.event_id for e in platform.event_store.read()]
        assert platform.event_store.replay(platform.bus, event_type="ledger.opened") == 1
        assert projected == [1, 1]  # the idempotent projection is rebuilt too
        assert [e.event_id for e in platform.event_store.read()] == before


def test_replaying_to_async_subscribers_is_refused(tmp_path: Path) -> None:
    bus = EventBus()

    async def handler(data: dict[str, Any]) -> None:
        pass

    bus.subscribe("ledger.opened", handler, "ledger")
    with pytest.raises(EventDeliveryError, match="are async"):
        bus.replay(Event.create("ledger.opened", {}, "ledger"))


def test_executescript_inside_a_transaction_is_refused(tmp_path: Path) -> None:
    with Database(tmp_path / "x.db") as database:
        database.execute("CREATE TABLE t (n INTEGER)")

        def script_in_transaction() -> None:
            with database.transaction():
                database.execute("INSERT INTO t VALUES (1)")
                database.executescript("CREATE TABLE u (n INTEGER);")

        with pytest.raises(ConfigurationError, match="cannot run inside a transaction"):
            script_in_transaction()
        assert database.query("SELECT * FROM t") == []


def test_a_synchronous_retry_runs_the_sync_letters_and_sets_the_async_ones_aside() -> None:
    bus = EventBus()
    calls: list[str] = []

    def sync_fails(data: Any) -> None:
        calls.append("sync")
        raise RuntimeError("down")

    async def async_fails(data: Any) -> None:
        raise RuntimeError("down")

    bus.subscribe("ledger.opened", sync_fails, "ledger")
    bus.subscribe("ledger.opened", async_fails, "audit")
    asyncio.run(bus.apublish("ledger.opened", {}, "ledger"))
    report = bus.retry_dead_letters()
    assert calls == ["sync", "sync"]  # the sync letter was retried (and failed again)
    assert [letter.subscriber_module for letter in report.failed] == ["ledger"]
    assert [letter.subscriber_module for letter in report.needs_async] == ["audit"]
    assert len(bus.dead_letters()) == 2


def test_store_event_on_a_second_store_of_the_same_database_stores_once(tmp_path: Path) -> None:
    with Platform([ledger_module()], database=tmp_path / "aura.db", durable=True) as platform:
        other = SqliteEventStore(platform.database, bus=platform.bus)
        event = other.store_event("ledger.opened", {"n": 1}, "ledger")
        assert other.read() == [event]


def test_serve_frees_its_port_when_startup_fails(tmp_path: Path) -> None:
    from aura.web import serve
    from aura.web.auth import TokenAuthority

    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    with (
        Platform([ledger_module()], database=tmp_path / "aura.db") as platform,
        pytest.raises(ConfigurationError),
    ):
        serve(platform, auth=TokenAuthority.generate(), port=port, max_body_bytes=-1)
    again = socket.socket()
    again.bind(("127.0.0.1", port))  # the port is free again
    again.close()


def test_gateway_logs_escape_control_characters_and_metrics_bound_methods(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from aura.web import Gateway
    from aura.web.auth import TokenAuthority

    authority = TokenAuthority.generate()
    operator = {"Authorization": f"Bearer {authority.issue('ops', roles=['operator'])}"}
    with Platform([ledger_module()], database=tmp_path / "aura.db") as platform:
        gateway = Gateway(platform, auth=authority)
        try:
            with caplog.at_level(logging.INFO, logger="aura.gateway"):
                gateway.call("GET", "/api/x%0Ahttp.request forged=1")
                for method in ("X1", "X2", "X3"):
                    gateway.call(method, "/health")
            assert all("\n" not in record.getMessage() for record in caplog.records)
            metrics = gateway.call("GET", "/metrics", headers=operator).text
            assert 'method="OTHER"' in metrics
            assert 'method="X1"' not in metrics
        finally:
            gateway.close()


def test_two_captures_at_once_charge_the_session_once(tmp_path: Path) -> None:
    import threading

    from contracts.errors import BusinessRuleError
    from modules.billing.domain import PaymentGateway, PaymentResult

    class SlowGateway(PaymentGateway):
        def __init__(self) -> None:
            self.charges: list[str] = []

        def charge(
            self, patient_id: int, amount_cents: int, currency: str, reference: str
        ) -> PaymentResult:
            self.charges.append(reference)
            time.sleep(0.05)  # the other capture arrives while the provider answers
            return PaymentResult(approved=True, reason=None, transaction_id=f"t-{reference}")

    gateway = SlowGateway()
    with Platform(Platform.discover("modules"), database=tmp_path / "aura.db") as platform:
        with platform.container.override(PaymentGateway, gateway):
            billing = platform.registry.get_service("billing", "BillingService")
            billing.create_session_charge(7, 42)
            outcomes: list[str] = []

            def capture() -> None:
                try:
                    outcomes.append(billing.capture_session_charge(42)["status"])
                except BusinessRuleError:
                    outcomes.append("refused")

            threads = [threading.Thread(target=capture) for _ in range(2)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        assert sorted(outcomes) == ["captured", "refused"]
        assert len(gateway.charges) == 1
        assert len(platform.database.query("SELECT * FROM billing_payments")) == 1

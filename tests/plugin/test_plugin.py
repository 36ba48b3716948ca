"""The pytest plugin, end to end with pytester, in a fresh project with a two-module app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aura.testing.export import trace_file_stem

APP = {
    "shop/__init__.py": "",
    "shop/contracts.py": """
from abc import ABC, abstractmethod


class CatalogContract(ABC):
    @abstractmethod
    def price_of(self, sku: str) -> int: ...
""",
    "shop/catalog/__init__.py": """
from aura.bus import EventBus
from aura.module import Module
from shop.contracts import CatalogContract

module = Module("catalog")
module.publishes("product.*")


class Catalog(CatalogContract):
    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.prices = {"apple": 3, "pear": 5}

    def price_of(self, sku: str) -> int:
        if sku not in self.prices:
            raise LookupError(f"unknown sku {sku}")
        return self.prices[sku]

    def add(self, sku: str, price: int) -> None:
        self.prices[sku] = price
        self.bus.publish("product.added", {"sku": sku, "price": price}, "catalog")


module.add_service("Catalog", Catalog, contract=CatalogContract)
""",
    "shop/orders/__init__.py": """
from aura import event_bus, service_registry
from aura.module import Module

module = Module("orders", depends_on=["catalog"])
module.publishes("order.*")
placed = []


class Orders:
    def place(self, sku: str, quantity: int) -> dict:
        price = service_registry.get_service("catalog", "Catalog").price_of(sku)
        order = {"sku": sku, "quantity": quantity, "total": price * quantity}
        event_bus.publish("order.placed", order, "orders")
        return order


module.add_service("Orders", Orders)


@module.subscribe("product.added")
def announce(data: dict) -> None:
    if data["price"] < 0:
        raise ValueError(f"negative price for {data['sku']}")
    event_bus.publish("order.catalog_changed", {"sku": data["sku"]}, "orders")
""",
    "pytest.ini": """
[pytest]
aura_modules = shop
""",
}


@pytest.fixture
def shop(pytester: pytest.Pytester) -> pytest.Pytester:
    for name, text in APP.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pytester.syspathinsert()
    return pytester


def run(pytester: pytest.Pytester, test: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_flow=test)
    return pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider", *args)


# --- fixtures ------------------------------------------------------------------------------------


def test_published_events_records_a_flow_and_asserts_on_it(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
from aura.testing import ANY, where

def test_flow(aura_platform, published_events):
    orders = aura_platform.registry.get_service("orders", "Orders")
    orders.place("apple", 2)
    published_events.assert_published("order.placed", sku="apple", total=6)
    published_events.assert_published("order.placed", times=1, quantity=where(lambda q: q > 1))
    published_events.assert_not_published("order.cancelled")
    assert len(published_events) == 1
    assert "order.placed" in published_events
    assert published_events.types() == ["order.placed"]
    assert published_events.one().data == {"sku": "apple", "quantity": 2, "total": 6}
    assert published_events.from_module("orders").first() is published_events.last()
    assert published_events.matching(sku=ANY).of_type("order.placed")[0].source_module == "orders"
""",
    )
    result.assert_outcomes(passed=1)


def test_a_near_miss_shows_the_closest_event_and_every_recorded_one(
    shop: pytest.Pytester,
) -> None:
    result = run(
        shop,
        """
def test_flow(aura_platform, published_events):
    orders = aura_platform.registry.get_service("orders", "Orders")
    orders.place("apple", 2)
    orders.place("pear", 1)
    published_events.assert_published("order.placed", sku="apple", total=7)
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected an event 'order.placed' with sku='apple', total=7; "
            "0 matched among 2 of that type:",
            "E *#1 total=6 (≠ 7)",
            "E *#2 sku='pear' (≠ 'apple'), total=5 (≠ 7)",
            'E *Closest: #1 order.placed from orders {"sku": "apple", "quantity": 2, "total": 6} '
            "correlation=*",
            "E *Recorded events (2):",
            'E *#1 order.placed from orders {"sku": "apple", "quantity": 2, "total": 6} '
            "correlation=*",
            'E *#2 order.placed from orders {"sku": "pear", "quantity": 1, "total": 5} '
            "correlation=*",
        ]
    )


def test_a_failing_test_reports_the_aura_trace(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
def test_flow(aura_platform):
    aura_platform.registry.get_service("orders", "Orders").place("apple", 1)
    assert False, "boom"
""",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- aura trace -*",
            # in causal order: the test's call, then what it caused, nested under it
            "   call (outside any module) -> orders.Orders.place() ok (*ms)",
            "     call orders -> catalog.Catalog.price_of() ok (*ms)",
            '     #1 order.placed from orders {"sku": "apple", "quantity": 1, "total": 3} '
            "correlation=*",
        ]
    )


def test_service_calls_records_cross_module_calls(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
import pytest

def test_calls(aura_platform, service_calls):
    orders = aura_platform.registry.get_service("orders", "Orders")
    orders.place("apple", 1)
    with pytest.raises(LookupError):
        orders.place("plum", 1)
    service_calls.assert_called("catalog", "Catalog", "price_of", times=2, caller="orders")
    service_calls.assert_not_called("orders", "Orders", "cancel")
    assert [c.outcome for c in service_calls.to("catalog")] == ["ok", "LookupError"]
    assert len(service_calls.failed()) == 2
    assert len(service_calls.by(None)) == 2

def test_a_missing_call_is_explained(aura_platform, service_calls):
    service_calls.assert_called("catalog", "Catalog", "price_of")
""",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "E *AssertionError: Expected catalog.Catalog.price_of() to be called at least once; "
            "it was called 0 times.",
            "E *Recorded calls: none.",
        ]
    )


def test_the_seed_globals_point_at_each_tests_platform(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
import aura

def test_one(aura_platform, published_events):
    assert aura.event_bus.subscriptions("product.added")
    aura.event_bus.publish("order.noted", {"n": 1}, "orders")
    assert len(published_events) == 1

def test_two(aura_platform, published_events):
    assert len(published_events) == 0
    assert aura.service_registry.is_registered("catalog", "Catalog")

def test_after():
    assert not aura.event_bus.subscriptions("product.added")
""",
    )
    result.assert_outcomes(passed=3)


def test_fixtures_give_this_tests_runtime(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
def test_runtime(aura_platform, event_bus, service_registry, container):
    assert event_bus is aura_platform.bus
    assert service_registry is aura_platform.registry
    assert container is aura_platform.container
    assert list(aura_platform.modules) == ["catalog", "orders"]
""",
    )
    result.assert_outcomes(passed=1)


# --- markers and modes ---------------------------------------------------------------------------


def test_aura_modules_selects_modules_and_their_dependencies(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
import pytest

@pytest.mark.aura_platform("catalog")
def test_catalog_alone(aura_platform):
    assert list(aura_platform.modules) == ["catalog"]

@pytest.mark.aura_platform("orders")
def test_orders_with_dependencies(aura_platform):
    assert list(aura_platform.modules) == ["catalog", "orders"]
""",
    )
    result.assert_outcomes(passed=2)


def test_standalone_mode_replaces_dependencies_with_recording_fakes(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
import pytest

@pytest.mark.aura_platform("orders", mode="standalone")
def test_orders_alone(aura_platform, service_calls):
    catalog = aura_platform.container.resolve("catalog.Catalog")
    catalog.returns("price_of", 10)
    order = aura_platform.registry.get_service("orders", "Orders").place("kiwi", 3)
    assert order["total"] == 30
    assert [(c.method, c.args) for c in catalog.calls] == [("price_of", ("kiwi",))]
    service_calls.assert_called("catalog", "Catalog", "price_of", caller="orders")
""",
    )
    result.assert_outcomes(passed=1)


def test_an_unknown_module_name_is_a_usage_error(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
import pytest

@pytest.mark.aura_platform("inventory")
def test_x(aura_platform):
    pass

@pytest.mark.aura_platform("orders", mode="sideways")
def test_y(aura_platform):
    pass
""",
    )
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(
        [
            "*aura_platform names 'inventory', which is not among the discovered modules: "
            "catalog, orders.",
            "*aura_platform mode 'sideways' is not known: use 'standalone', 'direct' or 'all'.",
        ]
    )


def test_override_replaces_a_service_for_one_test_even_once_built(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
class CheapCatalog:
    def price_of(self, sku):
        return 1

def test_overridden(aura_platform, override, published_events):
    orders = aura_platform.registry.get_service("orders", "Orders")
    orders.place("apple", 1)  # the real catalog is built and used first
    override("catalog", "Catalog", CheapCatalog())
    aura_platform.registry.get_service("orders", "Orders").place("apple", 4)
    published_events.assert_published("order.placed", total=4)

def test_a_block_ends_it(aura_platform, override):
    orders = aura_platform.registry.get_service("orders", "Orders")
    with override("catalog", "Catalog", CheapCatalog()):
        assert orders.place("apple", 2)["total"] == 2
    assert orders.place("apple", 2)["total"] == 6

def test_real_again(aura_platform, published_events):
    aura_platform.registry.get_service("orders", "Orders").place("apple", 4)
    published_events.assert_published("order.placed", total=12)
""",
    )
    result.assert_outcomes(passed=3)


def test_override_replaces_a_container_key_and_refuses_a_wrong_call(
    shop: pytest.Pytester,
) -> None:
    result = run(
        shop,
        """
import pytest

from aura.exceptions import OverrideError

def test_key(aura_platform, override):
    override("clock", "fake clock")
    assert aura_platform.container.resolve("clock") == "fake clock"

def test_wrong(aura_platform, override):
    with pytest.raises(OverrideError) as caught:
        override("catalog")
    assert str(caught.value) == (
        "override takes (key, replacement) or (module, service, replacement), got 1 argument: "
        "override(PaymentGateway, fake) or override('billing', 'BillingService', fake)."
    )

def test_gone(aura_platform):
    assert not aura_platform.container.is_registered("clock")
""",
    )
    result.assert_outcomes(passed=3)


def test_the_aura_platform_marker_takes_platforms_arguments(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
import pytest

@pytest.mark.aura_platform("catalog", durable=True, database="file")
def test_durable_on_a_file(aura_platform):
    assert list(aura_platform.modules) == ["catalog"]
    assert aura_platform.durable
    assert str(aura_platform.database.path).endswith("aura.db")

@pytest.mark.aura_platform("orders", mode="standalone")
def test_standalone(aura_platform):
    assert sorted(aura_platform.modules) == ["catalog", "orders"]
    assert aura_platform.modules["catalog"].description == "recording stand-in for catalog"

@pytest.mark.aura_platform("orders", dureble=True)
def test_typo(aura_platform):
    pass

@pytest.mark.aura_platform(mode="standalone")
def test_no_modules(aura_platform):
    pass

@pytest.mark.aura_modules("orders")
def test_old_name(aura_platform):
    pass
""",
    )
    result.assert_outcomes(passed=2, errors=3)
    result.stdout.fnmatch_lines(
        [
            "*aura_platform does not take 'dureble'; it takes module names and mode, durable, "
            "database, poll_interval: @pytest.mark.aura_platform('users', mode='standalone', "
            "durable=True, database='file').",
            "*aura_platform mode 'standalone' needs the modules under test: "
            "@pytest.mark.aura_platform('users', mode='standalone').",
            "*test_flow.py::test_old_name: the aura_modules marker is now aura_platform, with the "
            "same arguments: @pytest.mark.aura_platform(*modules, mode=...).",
        ],
        consecutive=False,
    )


def test_a_durable_test_platform_delivers_what_is_due_again_when_the_test_says_so(
    shop: pytest.Pytester,
) -> None:
    """No delivery worker by default: a retry due after its backoff waits for the test's own
    resubmit_incomplete(), so nothing changes between its steps; poll_interval asks for one."""
    result = run(
        shop,
        """
import threading
import time

import pytest

from aura.dead_letters import RetryPolicy

RUNS = []


def flaky(data):
    RUNS.append(data["n"])
    if len(RUNS) == 1:
        raise ConnectionError("the mail server is down")


def workers_of(platform):
    # This platform's delivery threads (other tests' may still be winding down in-process).
    # Its lease renewal (the "-lease" thread) runs with or without them.
    name = f"aura-worker-{platform.journal.owner}"
    return [
        t for t in threading.enumerate()
        if t.name.startswith(name) and not t.name.endswith("-lease")
    ]


def subscribe(platform):
    RUNS.clear()
    platform.bus.subscribe(
        "order.placed", flaky, "catalog", retry=RetryPolicy(max_attempts=3, backoff=0.05)
    )


@pytest.mark.aura_allow_handler_errors
@pytest.mark.aura_platform(durable=True, database="file")
def test_without_a_worker(aura_platform):
    subscribe(aura_platform)
    aura_platform.bus.publish("order.placed", {"n": 1}, "orders")
    assert not workers_of(aura_platform)
    time.sleep(0.3)  # the retry was due after 0.05 s: no one delivered it
    assert RUNS == [1]
    assert len(aura_platform.bus.dead_letters()) == 1
    assert aura_platform.bus.resubmit_incomplete().delivered == 1
    assert RUNS == [1, 1]
    assert aura_platform.bus.dead_letters() == []


@pytest.mark.aura_allow_handler_errors
@pytest.mark.aura_platform(durable=True, database="file", poll_interval=0.02)
def test_with_a_worker(aura_platform):
    subscribe(aura_platform)
    aura_platform.bus.publish("order.placed", {"n": 1}, "orders")
    assert workers_of(aura_platform)
    deadline = time.monotonic() + 20
    while RUNS != [1, 1]:
        assert time.monotonic() < deadline, "the worker never retried"
        time.sleep(0.02)
    while aura_platform.bus.dead_letters():
        assert time.monotonic() < deadline, "the retry never completed"
        time.sleep(0.02)


@pytest.mark.aura_platform(durable=True, poll_interval=0)
def test_zero(aura_platform):
    pass


@pytest.mark.aura_platform(durable=True, poll_interval="1")
def test_text(aura_platform):
    pass


@pytest.mark.aura_platform(durable=True, poll_interval=float("inf"))
def test_forever(aura_platform):
    pass


@pytest.mark.aura_platform(poll_interval=0.05)
def test_not_durable(aura_platform):
    pass
""",
    )
    result.assert_outcomes(passed=2, errors=4)
    refused = (
        "*aura_platform poll_interval must be a number of seconds above 0 and below a day, or "
        "None (no delivery worker, the default), got {}: "
        "@pytest.mark.aura_platform(durable=True, poll_interval=0.05)."
    )
    result.stdout.fnmatch_lines(
        [
            refused.format("0"),
            refused.format("'1'"),
            refused.format("inf"),
            "*aura_platform poll_interval=0.05 sets a durable platform's delivery worker, and "
            "this one is not durable: add durable=True, or drop poll_interval.",
        ],
        consecutive=False,
    )


# --- handler failures ----------------------------------------------------------------------------


def test_a_handler_failure_fails_the_test_at_teardown(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
def test_flow(aura_platform):
    catalog = aura_platform.container.resolve("catalog.Catalog")
    catalog.add("plum", -1)
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*1 event handler failed during this test (mark it "
            "@pytest.mark.aura_allow_handler_errors or call published_events.expect_failures(...)"
            " if that is expected):",
            "*  orders:shop.orders.announce on 'product.added' (*): ValueError: negative price "
            "for plum",
        ]
    )


def test_the_handler_failure_shows_its_frames_without_carets(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
def test_flow(aura_platform):
    aura_platform.container.resolve("catalog.Catalog").add("plum", -1)
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    failure = result.stdout.str().split("1 event handler failed during this test", 1)[1]
    failure = failure.split("Captured log", 1)[0]  # the log record keeps Python's own text
    assert 'raise ValueError(f"negative price for {data' in failure
    assert not [
        line for line in failure.splitlines() if set(line.strip()) <= {"^", "~"} and line.strip()
    ]


def test_a_test_that_fails_is_not_failed_again_for_its_handlers(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
def test_flow(aura_platform):
    aura_platform.container.resolve("catalog.Catalog").add("plum", -1)
    assert False, "the test's own failure"
""",
    )
    result.assert_outcomes(failed=1)  # not also an error at teardown
    result.stdout.fnmatch_lines(["*-> #1 to orders:*announce FAILED ValueError: negative price*"])


def test_expected_handler_failures_pass(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
import pytest

@pytest.mark.aura_allow_handler_errors
def test_marked(aura_platform):
    aura_platform.container.resolve("catalog.Catalog").add("plum", -1)

def test_declared(aura_platform, published_events):
    published_events.expect_failures("orders", "product.added")
    aura_platform.container.resolve("catalog.Catalog").add("plum", -1)
    [failure] = published_events.failed_deliveries()
    assert failure.subscriber_module == "orders"
""",
    )
    result.assert_outcomes(passed=2)


# --- time and traces -----------------------------------------------------------------------------


def test_frozen_time_drives_event_timestamps(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
from datetime import datetime, timezone

def test_time(aura_platform, published_events, frozen_time):
    frozen_time.move_to("2030-01-07T09:00:00+00:00")
    aura_platform.registry.get_service("orders", "Orders").place("apple", 1)
    frozen_time.tick(90)
    assert frozen_time.now() == datetime(2030, 1, 7, 9, 1, 30, tzinfo=timezone.utc)
    aura_platform.registry.get_service("orders", "Orders").place("apple", 1)
    first, second = published_events
    assert first.timestamp == datetime(2030, 1, 7, 9, 0, tzinfo=timezone.utc)
    assert (second.timestamp - first.timestamp).total_seconds() == 90
""",
    )
    result.assert_outcomes(passed=1)


def test_trace_dir_writes_json_and_mermaid_per_test(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
def test_flow(aura_platform):
    aura_platform.container.resolve("catalog.Catalog").add("fig", 2)
""",
        "--aura-trace-dir",
        "traces",
    )
    result.assert_outcomes(passed=1)
    traces = Path(shop.path / "traces")
    stem = trace_file_stem("test_flow.py::test_flow")
    entries = json.loads((traces / f"{stem}.json").read_text())
    assert [entry["kind"] for entry in entries] == ["event", "delivery", "event"]
    assert entries[0]["event_type"] == "product.added"
    assert entries[1]["subscriber_module"] == "orders"
    mermaid = (traces / f"{stem}.mmd").read_text()
    assert mermaid.splitlines() == [
        "sequenceDiagram",
        "    participant catalog",
        "    participant orders",
        "    Note over catalog: #35;1 publishes product.added",
        "    catalog-)orders: #35;1 product.added",
        "    Note over orders: #35;2 publishes order.catalog_changed",
    ]


def test_trace_files_are_unique_and_bounded_for_any_test_id(shop: pytest.Pytester) -> None:
    long = "x" * 300
    result = run(
        shop,
        f"""
import pytest

@pytest.mark.parametrize("case", ["a/b", "a_b", "{long}"])
def test_flow(aura_platform, case):
    aura_platform.container.resolve("catalog.Catalog").add("fig", 2)
""",
        "--aura-trace-dir",
        "traces",
    )
    result.assert_outcomes(passed=3)
    names = sorted(path.name for path in (shop.path / "traces").iterdir())
    assert len(names) == 6  # a JSON and a Mermaid file each: no two tests share a file
    assert max(len(name) for name in names) <= 120
    assert (
        shop.path / "traces" / f"{trace_file_stem('test_flow.py::test_flow[a/b]')}.json"
    ).exists()


def test_a_file_database_option_gives_each_test_a_sqlite_file(shop: pytest.Pytester) -> None:
    result = run(
        shop,
        """
def test_file(aura_platform):
    assert aura_platform.database.path.endswith("aura.db")
""",
        "--aura-database",
        "file",
    )
    result.assert_outcomes(passed=1)


def test_tests_without_aura_fixtures_are_untouched(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_plain():\n    assert 1 + 1 == 2\n")
    result = pytester.runpytest("-p", "no:randomly")
    result.assert_outcomes(passed=1)
    assert "aura" not in result.stdout.str().split("collected")[1]


def test_a_call_the_declarations_do_not_allow_fails_the_test_at_teardown(
    shop: pytest.Pytester,
) -> None:
    (shop.path / "shop" / "audit").mkdir()
    (shop.path / "shop" / "audit" / "__init__.py").write_text(
        """
from aura import service_registry
from aura.module import Module

module = Module("audit")  # declares no dependency on catalog


@module.subscribe("order.placed")
def price_again(data: dict) -> None:
    service_registry.get_service("catalog", "Catalog").price_of(data["sku"])
"""
    )
    result = run(
        shop,
        """
def test_flow(aura_platform):
    aura_platform.registry.get_service("orders", "Orders").place("apple", 1)
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*audit called catalog.Catalog.price_of() (1 time), but does not declare 'catalog' "
            "in depends_on.*",
        ]
    )


# --- a platform the project builds, run as the harness's ------------------------------------------


def test_a_platform_built_by_the_project_keeps_the_harness_s_checks(
    shop: pytest.Pytester,
) -> None:
    # The project's own aura_platform (its database, its options) through under_test: recorded,
    # and a handler failure or an undeclared call still fails the test at teardown.
    shop.makeconftest(
        """
import pytest

from aura import Platform
from aura.testing.plugin import under_test
from shop import catalog, orders

built = []


@pytest.fixture
def aura_platform(request, aura_trace, tmp_path):
    platform = Platform([catalog, orders], database=tmp_path / "own.db", durable=True)
    built.append(platform)
    with under_test(request, aura_trace, platform):
        yield platform
"""
    )
    result = run(
        shop,
        """
from aura import service_registry
from conftest import built


def test_recorded(aura_platform, published_events):
    assert aura_platform.started and aura_platform.database.path.endswith("own.db")
    service_registry.get_service("orders", "Orders").place("apple", 2)
    published_events.assert_published("order.placed", total=6)


def test_a_failing_handler_fails_the_test(aura_platform):
    service_registry.get_service("catalog", "Catalog").add("plum", -1)


def test_the_platform_is_closed_after_each_test():
    assert [platform.closed for platform in built] == [True, True]
""",
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*1 event handler failed during this test*",
            "*orders:shop.orders.announce on 'product.added'*ValueError: negative price for plum",
        ]
    )


def test_a_marker_the_projects_own_platform_fixture_would_ignore_is_refused(
    shop: pytest.Pytester,
) -> None:
    # The marker asks for orders alone, catalog a stand-in; the project's fixture builds both
    # real ones. Run as it is, the test would pass against the real catalog.
    shop.makeconftest(
        """
import pytest

from aura import Platform
from aura.testing.plugin import under_test
from shop import catalog, orders


@pytest.fixture
def aura_platform(request, aura_trace):
    with under_test(request, aura_trace, Platform([catalog, orders])) as platform:
        yield platform
"""
    )
    result = run(
        shop,
        """
import pytest


@pytest.mark.aura_platform("orders", mode="standalone")
def test_marked(aura_platform):
    raise AssertionError("never runs")


def test_unmarked(aura_platform):
    assert list(aura_platform.modules) == ["catalog", "orders"]
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ConfigurationError: test_flow.py::test_marked is marked "
            "aura_platform('orders', mode='standalone'), but its aura_platform fixture is "
            "aura_platform (conftest.py:8), which builds the platform itself: the marker's "
            "modules and mode would be ignored, and every module would run. Build the platform "
            "the marker asks for in that fixture and pass under_test(..., applies_marker=True), "
            "or remove the marker."
        ]
    )

"""Runtime verification: a platform checked against its modules' declarations."""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from aura.bus import EventBus
from aura.container import Container
from aura.events import EventCatalog, event_contract
from aura.findings import Finding
from aura.module import Module
from aura.platform import Platform
from aura.registry import ServiceCall, ServiceRegistry
from aura.verification import SOURCE, find_cycles, patterns_overlap, verify, verify_calls

from .depot import BROKEN, write_project


@pytest.fixture
def broken_depot(pytester: pytest.Pytester) -> Platform:
    write_project(pytester, BROKEN)
    platform = Platform(Platform.discover("depot.modules"))
    yield platform
    platform.close()


def test_the_platform_keeps_every_promise_it_declares() -> None:
    with Platform(Platform.discover("modules")) as platform:
        result = verify(platform)
        counts = (
            f"{len(platform.modules)} modules, {len(platform.registry.services())} services, "
            f"{len(platform.bus.subscriptions())} subscriptions"
        )
    assert result.problems == ()
    assert result.render() == f"Platform verification: no problems ({counts})."


def test_every_broken_promise_is_reported_at_once_with_its_fix(
    broken_depot: Platform, pytester: pytest.Pytester
) -> None:
    result = verify(broken_depot)
    # Each at what to change: the class that misses a method, the handler's @subscribe line.
    billing = pytester.path / "depot" / "modules" / "billing" / "__init__.py"
    assert [(p.rule, p.module, p.subject, p.location) for p in result.problems] == [
        ("contract-not-implemented", "billing", "Ledger", f"{billing}:23"),
        ("event-without-contract", "billing", "parcel.lost", f"{billing}:8"),
        ("event-without-publisher", "billing", "parcel.lost", f"{billing}:8"),
    ]
    assert result.render() == "\n".join(
        [
            "Platform verification: 3 problems (3 modules, 4 services, 2 subscriptions).",
            f"- [contract-not-implemented] {billing}:23: Service billing.Ledger (Ledger) does not "
            "implement LedgerContract: missing method total(self) -> 'int'.",
            "  Fix: Implement every method of LedgerContract with the contract's signature.",
            f"- [event-without-contract] {billing}:8: billing subscribes "
            "depot.modules.billing.refund to 'parcel.lost', which has no event contract. "
            "Did you mean 'parcel.shipped'?",
            "  Fix: Declare the event with @event_contract('parcel.lost') on a dataclass in the "
            "platform's contracts, or correct the event type.",
            f"- [event-without-publisher] {billing}:8: billing subscribes "
            "depot.modules.billing.refund to 'parcel.lost', which no module declares it "
            "publishes. Did you mean 'parcel.shipped'?",
            "  Fix: Add publishes('parcel.lost') to the declaration of the module that publishes "
            "it, or correct the event type.",
        ]
    )


def test_the_result_is_data_with_stable_keys(
    broken_depot: Platform, pytester: pytest.Pytester
) -> None:
    data = verify(broken_depot).to_dict()
    assert data["ok"] is False
    assert data["modules"] == ["billing", "shipping", "stock"]
    assert [problem["key"] for problem in data["problems"]] == [
        "contract-not-implemented billing Ledger",
        "event-without-contract billing parcel.lost",
        "event-without-publisher billing parcel.lost",
    ]
    assert data["problems"][0] == {
        "source": "platform verification",
        "module": "billing",
        "rule": "contract-not-implemented",
        "subject": "Ledger",
        "key": "contract-not-implemented billing Ledger",
        "message": "Service billing.Ledger (Ledger) does not implement LedgerContract: missing "
        "method total(self) -> 'int'.",
        "fix": "Implement every method of LedgerContract with the contract's signature.",
        "location": f"{pytester.path / 'depot' / 'modules' / 'billing' / '__init__.py'}:23",
    }


def test_recorded_calls_to_undeclared_modules_are_problems(broken_depot: Platform) -> None:
    calls: list[ServiceCall] = []
    broken_depot.registry.add_observer(calls.append)
    broken_depot.registry.get_service("billing", "Invoices").invoice("apple")
    assert [(c.caller_module, c.provider_module) for c in calls] == [  # as each call returns
        ("shipping", "stock"),  # declared
        ("billing", "shipping"),  # not declared
        (None, "billing"),  # the test itself: outside any module
    ]
    result = verify_calls(broken_depot, calls)
    assert result.problems == (
        Finding(
            source=SOURCE,
            module="billing",
            rule="undeclared-call",
            subject="shipping.Shipping.ship",
            message=(
                "billing called shipping.Shipping.ship() (1 time), but does not declare "
                "'shipping' in depends_on."
            ),
            fix=(
                "Add 'shipping' to depends_on of module 'billing', or react to shipping's "
                "events instead of calling it."
            ),
        ),
    )
    assert result.problems[0] in verify(broken_depot, calls=calls).problems


def test_a_cycle_of_declared_dependencies_is_reported_as_its_path() -> None:
    # A Platform refuses cycles when it is built; verify() still judges any set of declarations.
    parts = SimpleNamespace(
        modules={"a": Module("a", depends_on=["b"]), "b": Module("b", depends_on=["a"])},
        registry=ServiceRegistry(),
        bus=EventBus(),
        container=Container(),
    )
    assert [(p.rule, p.message) for p in verify(parts).problems] == [
        ("dependency-cycle", "Modules depend on each other in a cycle: a -> b -> a."),
    ]


class CounterContract(ABC):
    @abstractmethod
    def count(self) -> int: ...


class Counter(CounterContract):
    def count(self) -> int:
        return 1


class Broken:
    pass


def test_a_factory_is_judged_by_its_annotation_or_by_what_it_built() -> None:
    def annotated() -> Broken:
        return Broken()

    def built():  # unannotated on purpose: judged by what it built
        return Counter()

    def unbuilt():  # unannotated and never built: judged when it is
        return Broken()

    module = Module("counting")
    module.add_service("Annotated", annotated, contract=CounterContract)
    module.add_service("Built", built, contract=CounterContract)
    module.add_service("Unbuilt", unbuilt, contract=CounterContract)
    module.add_service("Ready", Counter(), contract=CounterContract)
    with Platform([module]) as platform:
        platform.registry.get_service("counting", "Built")
        problems = verify(platform).problems
    assert [(p.rule, p.subject) for p in problems] == [
        ("contract-not-implemented", "Annotated"),
    ]


def test_a_pattern_subscription_needs_a_contract_and_a_publisher_among_what_it_selects() -> None:
    catalog = EventCatalog()

    @event_contract("counter.reset", catalog=catalog)
    @dataclass
    class CounterReset:
        value: int

    counting = Module("counting")
    counting.publishes("counter.reset")
    watching = Module("watching")
    watching.subscribe("counter.*")(print)
    watching.subscribe("gauge.*")(print)
    with Platform([counting, watching], catalog=catalog) as platform:
        problems = verify(platform).problems
    assert [(p.rule, p.subject) for p in problems] == [
        ("event-without-contract", "gauge.*"),
        ("event-without-publisher", "gauge.*"),
    ]


# --- graphs and patterns -------------------------------------------------------------------------


def test_every_cycle_is_found_once_starting_at_its_smallest_module() -> None:
    graph = {"c": ["a"], "a": ["b"], "b": ["c", "a"], "d": ["d"]}
    assert find_cycles(graph) == [("a", "b", "a"), ("a", "b", "c", "a"), ("d", "d")]


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        ("user.deactivated", "user.deactivated", True),
        ("user.*", "user.deactivated", True),
        ("*", "payment.failed", True),
        ("user.*", "*.deactivated", True),
        ("user.*", "payment.failed", False),
        ("user.deactivated", "user.deactivated.late", False),
    ],
)
def test_patterns_overlap_when_they_can_select_a_common_event_type(
    first: str, second: str, overlap: bool
) -> None:
    assert patterns_overlap(first, second) is overlap
    assert patterns_overlap(second, first) is overlap


def _decorated(function: object) -> object:
    return function


class _Handler:
    def __call__(self, data: dict) -> None: ...

    def method(self, data: dict) -> None: ...


@_decorated
def _handled(data: dict) -> None: ...


def _wrapping(function: Any) -> Any:
    @functools.wraps(function)
    def wrapper(*args: Any) -> Any:
        return function(*args)

    return wrapper


@_wrapping
def _wrapped(data: dict) -> None: ...


def test_defined_at_names_the_line_to_change_or_nothing() -> None:
    from aura.verification import defined_at

    lines = Path(__file__).read_text().splitlines()
    here = Path(__file__)

    def line_of(text: str) -> int:
        return lines.index(text) + 1

    assert defined_at(_handled) == f"{here}:{line_of('@_decorated')}"  # the decorator line
    assert defined_at(_wrapped) == f"{here}:{line_of('@_wrapping')}"  # not inside the wrapper
    assert (
        defined_at(_Handler().method)
        == f"{here}:{line_of('    def method(self, data: dict) -> None: ...')}"
    )
    assert (
        defined_at(_Handler())
        == f"{here}:{line_of('    def __call__(self, data: dict) -> None: ...')}"
    )
    assert defined_at(_Handler) == f"{here}:{line_of('class _Handler:')}"
    assert defined_at(len) == ""  # a builtin: no source
    namespace: dict[str, object] = {}
    exec("def made(data):\n    pass\n", namespace)
    assert defined_at(namespace["made"]) == ""  # compiled from a string

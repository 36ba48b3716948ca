"""Code outside any module acts as a service's owner; cross-module callers keep the contract."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

import pytest

from aura import context
from aura.registry import ServiceCall, ServiceRegistry
from aura.testing.plugin import FrozenClock


class LedgerContract(ABC):
    @abstractmethod
    def balance(self, account: int) -> int: ...


class Ledger(LedgerContract):
    def __init__(self) -> None:
        self.entries: dict[int, int] = {}

    def balance(self, account: int) -> int:
        return self.entries.get(account, 0)

    def book(self, account: int, amount: int) -> None:
        """An operation of the module's own, not in the cross-module contract."""
        self.entries[account] = self.balance(account) + amount

    def slow(self) -> str:
        time.sleep(0.02)  # real time passes, even under frozen time
        return "done"


@pytest.fixture
def registry() -> ServiceRegistry:
    registry = ServiceRegistry()
    registry.register_service("billing", "Ledger", Ledger, contract=LedgerContract)
    return registry


def test_a_test_outside_any_module_drives_the_modules_own_operations(
    registry: ServiceRegistry,
) -> None:
    calls: list[ServiceCall] = []
    registry.add_observer(calls.append)
    ledger = registry.get_service("billing", "Ledger")
    ledger.book(7, 30)
    assert ledger.balance(7) == 30
    assert [(c.caller_module, c.method) for c in calls] == [(None, "book"), (None, "balance")]


def test_what_the_owner_cannot_call_is_named_with_what_it_offers(
    registry: ServiceRegistry,
) -> None:
    ledger = registry.get_service("billing", "Ledger")
    with pytest.raises(AttributeError) as caught:
        ledger.refund(7)
    assert str(caught.value) == (
        "'refund' is not a public method of billing.Ledger (Ledger); code outside any module "
        "(a test, a script) can use: balance, book, slow."
    )


def test_another_module_still_gets_only_the_contract_and_the_refusal_names_it(
    registry: ServiceRegistry,
) -> None:
    with context.module_scope("mentalhealth"):
        ledger = registry.get_service("billing", "Ledger")
        assert ledger.balance(7) == 0
        with pytest.raises(AttributeError) as caught:
            ledger.book(7, 30)
    assert str(caught.value) == (
        "'book' is not part of LedgerContract; module 'mentalhealth' can use only: balance. Add "
        "it to LedgerContract, or call it from module 'billing' itself."
    )


def test_call_durations_are_real_under_frozen_time(
    registry: ServiceRegistry, frozen_time: FrozenClock
) -> None:
    calls: list[ServiceCall] = []
    registry.add_observer(calls.append)
    assert registry.get_service("billing", "Ledger").slow() == "done"
    assert calls[0].duration >= 0.015
    assert calls[0].started_at <= frozen_time.now()

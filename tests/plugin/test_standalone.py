"""Standalone mode end to end with pytester: stand-ins that can be fed and fakes that are strict."""

from __future__ import annotations

import pytest

CLUB = {
    "club/__init__.py": "",
    "club/contracts.py": """
from abc import ABC, abstractmethod
from dataclasses import dataclass

from aura.events import event_contract


class MembersContract(ABC):
    @abstractmethod
    def plan_of(self, member_id: int) -> str: ...

    @abstractmethod
    def note(self, member_id: int, text: str) -> None: ...


@event_contract("member.left")
@dataclass(frozen=True)
class MemberLeftEvent:
    member_id: int
    reason: str
""",
    "club/members/__init__.py": """
from aura.module import Module
from club.contracts import MembersContract

module = Module("members")
module.publishes("member.left", "member.joined")


class Members(MembersContract):
    def plan_of(self, member_id: int) -> str:
        raise ConnectionError("the real members module must not run in standalone mode")

    def note(self, member_id: int, text: str) -> None:
        raise ConnectionError("the real members module must not run in standalone mode")


module.add_service("Members", Members, contract=MembersContract)
""",
    "club/billing/__init__.py": """
from aura import event_bus, service_registry
from aura.module import Module

module = Module("billing", depends_on=["members"])
module.publishes("refund.issued")
PRICES = {"basic": 10, "gold": 30}
REFUNDS = []


def refund(member_id: int) -> dict:
    members = service_registry.get_service("members", "Members")
    amount = PRICES[members.plan_of(member_id)]
    members.note(member_id, f"refunded {amount}")
    REFUNDS.append((member_id, amount))
    event_bus.publish("refund.issued", {"member_id": member_id, "amount": amount}, "billing")
    return {"member_id": member_id, "amount": amount}


class Billing:
    def refund_now(self, member_id: int) -> dict:
        return refund(member_id)


module.add_service("Billing", Billing)


@module.subscribe("member.left")
def refund_on_leaving(data: dict) -> None:
    refund(data["member_id"])
""",
    "pytest.ini": """
[pytest]
aura_modules = club
""",
}

UNCONFIGURED = (
    "FakeMembersContract.plan_of(7) was called, but the test did not say what it answers "
    "(club.contracts.MembersContract.plan_of returns str). Configure it: fake = "
    "container.resolve('members.Members'), then fake.returns('plan_of', value) or "
    "fake.answers('plan_of', function)."
)


@pytest.fixture
def club(pytester: pytest.Pytester) -> pytest.Pytester:
    for name, text in CLUB.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pytester.syspathinsert()
    return pytester


def run(pytester: pytest.Pytester, test: str) -> pytest.RunResult:
    pytester.makepyfile(test_club=test)
    return pytester.runpytest("-p", "no:randomly", "-p", "no:cacheprovider")


def test_a_test_feeds_the_module_under_test_with_its_dependencys_events(
    club: pytest.Pytester,
) -> None:
    result = run(
        club,
        """
import pytest

from club.billing import REFUNDS


@pytest.mark.aura_platform("billing", mode="standalone")
def test_leaving_refunds(aura_platform, published_events):
    members = aura_platform.container.resolve("members.Members")
    members.returns("plan_of", "gold")
    aura_platform.bus.publish("member.left", {"member_id": 7, "reason": "moved"}, "members")
    published_events.assert_published("refund.issued", member_id=7, amount=30)
    assert REFUNDS == [(7, 30)]
    assert [(c.method, c.args) for c in members.calls] == [
        ("plan_of", (7,)),
        ("note", (7, "refunded 30")),  # returns None: needs no configuration
    ]
""",
    )
    result.assert_outcomes(passed=1)


def test_the_stand_in_still_refuses_events_its_module_does_not_declare(
    club: pytest.Pytester,
) -> None:
    result = run(
        club,
        """
import pytest

from aura.exceptions import UndeclaredEventError


@pytest.mark.aura_platform("billing", mode="standalone")
def test_undeclared(aura_platform):
    with pytest.raises(UndeclaredEventError) as caught:
        aura_platform.bus.publish("member.banned", {"member_id": 7}, "members")
    assert str(caught.value) == (
        "Module 'members' published 'member.banned', which it does not declare. It declares: "
        "member.left, member.joined. Add members.publishes('member.banned') to the module's "
        "declaration."
    )
""",
    )
    result.assert_outcomes(passed=1)


def test_the_dependencys_event_contracts_still_validate_what_a_test_publishes(
    club: pytest.Pytester,
) -> None:
    result = run(
        club,
        """
import pytest

from aura.exceptions import EventValidationError
from club.billing import REFUNDS


@pytest.mark.aura_platform("billing", mode="standalone")
def test_invalid(aura_platform, published_events):
    with pytest.raises(EventValidationError):
        aura_platform.bus.publish("member.left", {"member_id": "seven"}, "members")
    published_events.assert_not_published("member.left")
    assert REFUNDS == []
""",
    )
    result.assert_outcomes(passed=1)


def test_an_unconfigured_fake_called_from_a_handler_fails_the_test_with_the_fix(
    club: pytest.Pytester,
) -> None:
    result = run(
        club,
        """
import pytest


@pytest.mark.aura_platform("billing", mode="standalone")
def test_forgot_to_configure(aura_platform):
    aura_platform.bus.publish("member.left", {"member_id": 7, "reason": "moved"}, "members")
""",
    )
    result.assert_outcomes(passed=1, errors=1)  # the handler's failure is reported at teardown
    failure = next(line for line in result.outlines if "FakeNotConfiguredError: " in line)
    assert "refund_on_leaving on 'member.left'" in failure
    assert failure.endswith(f"): FakeNotConfiguredError: {UNCONFIGURED}")


def test_an_unconfigured_fake_called_by_the_module_under_test_fails_the_test_with_the_fix(
    club: pytest.Pytester,
) -> None:
    result = run(
        club,
        """
import pytest


@pytest.mark.aura_platform("billing", mode="standalone")
def test_forgot_to_configure(aura_platform, service_calls):
    aura_platform.registry.get_service("billing", "Billing").refund_now(7)
""",
    )
    result.assert_outcomes(failed=1)
    errors = [line[1:].strip() for line in result.outlines if line.startswith("E ")]
    assert errors == [f"aura.exceptions.FakeNotConfiguredError: {UNCONFIGURED}"]
    assert "fakes.py" not in result.stdout.str()  # the traceback ends where billing called


def test_a_configured_answer_of_the_wrong_type_fails_where_the_module_calls_it(
    club: pytest.Pytester,
) -> None:
    result = run(
        club,
        """
import pytest

from aura.exceptions import ContractViolationError


@pytest.mark.aura_platform("billing", mode="standalone")
def test_wrong_answer(aura_platform, service_calls):
    members = aura_platform.container.resolve("members.Members")
    members.answers("plan_of", lambda member_id: member_id)
    with pytest.raises(ContractViolationError) as caught:
        aura_platform.registry.get_service("billing", "Billing").refund_now(7)
    assert str(caught.value) == (
        "FakeMembersContract.plan_of(7) answered 7 (int) from the function given to "
        "answers('plan_of', ...), but club.contracts.MembersContract.plan_of returns str. "
        "Make the function return that type."
    )
    service_calls.assert_called("members", "Members", "plan_of", caller="billing")
""",
    )
    result.assert_outcomes(passed=1)

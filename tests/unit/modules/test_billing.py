"""The billing module: session charges driven by session events, payments, subscriptions."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aura.events import thaw_json
from aura.platform import Platform
from aura.testing import FrozenClock, Overrides, PublishedEvents
from contracts.errors import BusinessRuleError, NotFoundError
from contracts.users import UserServiceContract
from modules.billing.domain import PaymentGateway
from modules.billing.infrastructure import DecliningPaymentGateway, GatewayAttempt

NOW = "2025-03-01T10:00:00+00:00"


pytestmark = pytest.mark.aura_platform("billing", mode="standalone")


class Members(UserServiceContract):
    """The users module's service as billing sees it: users 7 and 8 active, 9 deactivated;
    ``asked`` records the users billing asked about."""

    def __init__(self) -> None:
        self.active = {7: True, 8: True, 9: False}
        self.asked: list[int] = []

    def register_user(self, email: str, name: str, role: str) -> dict[str, Any]:
        raise NotImplementedError  # billing never registers anyone

    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        self.asked.append(user_id)
        return {"id": user_id, "role": "patient"} if user_id in self.active else None

    def get_user_profile(self, user_id: int) -> dict[str, Any]:
        raise NotImplementedError

    def is_user_active(self, user_id: int) -> bool:
        return self.active.get(user_id, False)

    def update_profile(
        self, user_id: int, *, name: str | None = None, email: str | None = None
    ) -> dict[str, Any]:
        raise NotImplementedError

    def deactivate_user(self, user_id: int) -> dict[str, Any]:
        raise NotImplementedError


@pytest.fixture
def members() -> Members:
    return Members()


@pytest.fixture
def platform(aura_platform: Platform, override: Overrides, members: Members) -> Platform:
    """The harness's platform of this test: billing alone, on an in-memory database, asking
    ``members`` for the users module's service."""
    override("users", "UserService", members)
    return aura_platform


@pytest.fixture
def declining(override: Overrides) -> DecliningPaymentGateway:
    """A declining payment gateway in place of the local one, for this test."""
    gateway = DecliningPaymentGateway()
    override(PaymentGateway, gateway)
    return gateway


@pytest.fixture
def service(platform: Platform) -> Any:
    return platform.registry.get_service("billing", "BillingService")


def scheduled(platform: Platform, *, session_id: int = 42, **extra: Any) -> None:
    data = {"session_id": session_id, "patient_id": 7, "therapist_id": 3, "scheduled_at": NOW}
    platform.bus.publish("therapy_session.scheduled", {**data, **extra}, "mentalhealth")


def completed(platform: Platform, session_id: int = 42) -> None:
    data = {"session_id": session_id, "patient_id": 7, "therapist_id": 3, "completed_at": NOW}
    platform.bus.publish("therapy_session.completed", data, "mentalhealth")


def cancelled(platform: Platform, session_id: int = 42) -> None:
    data = {
        "session_id": session_id,
        "patient_id": 7,
        "therapist_id": 3,
        "reason": "patient ill",
        "cancelled_at": NOW,
    }
    platform.bus.publish("therapy_session.cancelled", data, "mentalhealth")


def rows(platform: Platform, table: str) -> list[dict[str, Any]]:
    return [dict(row) for row in platform.database.query(f"SELECT * FROM {table} ORDER BY id")]


def charge_status(platform: Platform, session_id: int) -> str:
    row = platform.database.query_one(
        "SELECT status FROM billing_charges WHERE session_id = ?", (session_id,)
    )
    assert row is not None
    return str(row["status"])


def dead_letters(platform: Platform) -> list[str]:
    return [letter.describe() for letter in platform.bus.dead_letter_store.list()]


# --- charging booked sessions --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "amount_cents"),
    [
        ({"session_type": "individual"}, 9000),
        ({"session_type": "couples"}, 12000),
        ({"session_type": "group"}, 4000),
        ({"session_type": "family"}, 9000),
        ({}, 9000),
    ],
    ids=["individual", "couples", "group", "unknown-type", "no-type"],
)
def test_a_scheduled_session_gets_a_pending_charge_priced_by_its_type(
    platform: Platform,
    published_events: PublishedEvents,
    extra: dict[str, Any],
    amount_cents: int,
    frozen_time: FrozenClock,
) -> None:
    frozen_time.move_to(NOW)
    scheduled(platform, **extra)
    assert rows(platform, "billing_charges") == [
        {
            "id": 1,
            "session_id": 42,
            "patient_id": 7,
            "amount_cents": amount_cents,
            "currency": "EUR",
            "status": "pending",
            "created_at": NOW,
            "updated_at": NOW,
        }
    ]
    assert published_events.from_module("billing").types() == []
    assert dead_letters(platform) == []


def test_a_redelivered_scheduled_event_does_not_charge_twice(platform: Platform) -> None:
    scheduled(platform)
    scheduled(platform)
    assert len(rows(platform, "billing_charges")) == 1
    assert dead_letters(platform) == []


def test_the_service_creates_a_charge_and_returns_it(service: Any) -> None:
    charge = service.create_session_charge(7, 42)
    assert charge == {
        "id": 1,
        "session_id": 42,
        "patient_id": 7,
        "amount_cents": 9000,
        "currency": "EUR",
        "status": "pending",
    }
    assert service.get_session_charge(42) == charge


def test_asking_again_for_a_charged_session_returns_the_existing_charge(service: Any) -> None:
    first = service.create_session_charge(7, 42, session_type="group")
    assert service.create_session_charge(7, 42, session_type="couples") == first


def test_a_charged_session_cannot_be_charged_to_another_patient(
    platform: Platform, service: Any
) -> None:
    service.create_session_charge(7, 42)
    with pytest.raises(BusinessRuleError) as caught:
        service.create_session_charge(8, 42)
    assert str(caught.value) == "Session 42 is already charged to patient 7, not patient 8."
    assert [row["patient_id"] for row in rows(platform, "billing_charges")] == [7]


def test_a_session_without_a_charge_has_none(service: Any) -> None:
    assert service.get_session_charge(42) is None


# --- capturing completed sessions ----------------------------------------------------------------


def test_a_completed_session_is_captured_through_the_gateway(
    platform: Platform, published_events: PublishedEvents, service: Any, frozen_time: FrozenClock
) -> None:
    scheduled(platform, session_type="couples")
    frozen_time.move_to(NOW)
    completed(platform)
    assert service.get_session_charge(42)["status"] == "captured"
    assert rows(platform, "billing_payments") == [
        {
            "id": 1,
            "charge_id": 1,
            "session_id": 42,
            "patient_id": 7,
            "amount_cents": 12000,
            "currency": "EUR",
            "status": "completed",
            "reason": None,
            "transaction_id": "local-1",
            "created_at": NOW,
        }
    ]
    assert rows(platform, "billing_gateway_transactions") == [
        {
            "id": 1,
            "reference": "session-42",
            "patient_id": 7,
            "amount_cents": 12000,
            "currency": "EUR",
            "created_at": NOW,
        }
    ]
    assert thaw_json(published_events.of_type("payment.completed").one().data) == {
        "payment_id": 1,
        "patient_id": 7,
        "amount_cents": 12000,
        "currency": "EUR",
        "paid_at": NOW,
        "session_id": 42,
    }
    assert dead_letters(platform) == []


def test_a_redelivered_completed_event_does_not_capture_twice(
    platform: Platform, published_events: PublishedEvents
) -> None:
    scheduled(platform)
    completed(platform)
    completed(platform)
    assert len(rows(platform, "billing_payments")) == 1
    assert len(rows(platform, "billing_gateway_transactions")) == 1
    published_events.assert_published("payment.completed", times=1)
    assert dead_letters(platform) == []


def test_a_declined_charge_fails_and_publishes_payment_failed(
    platform: Platform,
    published_events: PublishedEvents,
    declining: DecliningPaymentGateway,
    frozen_time: FrozenClock,
) -> None:
    scheduled(platform)
    frozen_time.move_to(NOW)
    completed(platform)
    assert charge_status(platform, 42) == "failed"
    assert declining.attempts == [GatewayAttempt(7, 9000, "EUR", "session-42")]
    payments = rows(platform, "billing_payments")
    assert [(p["status"], p["reason"], p["transaction_id"]) for p in payments] == [
        ("failed", "card declined", None)
    ]
    assert thaw_json(published_events.of_type("payment.failed").one().data) == {
        "payment_id": 1,
        "patient_id": 7,
        "amount_cents": 9000,
        "currency": "EUR",
        "reason": "card declined",
        "failed_at": NOW,
        "session_id": 42,
    }
    published_events.assert_not_published("payment.completed")


def test_a_failed_charge_is_not_tried_again_on_redelivery(
    platform: Platform, declining: DecliningPaymentGateway
) -> None:
    scheduled(platform)
    completed(platform)
    completed(platform)
    assert len(declining.attempts) == 1
    assert dead_letters(platform) == []


def test_the_service_captures_a_pending_charge(platform: Platform, service: Any) -> None:
    service.create_session_charge(7, 42)
    assert service.capture_session_charge(42) == {
        "id": 1,
        "session_id": 42,
        "patient_id": 7,
        "amount_cents": 9000,
        "currency": "EUR",
        "status": "captured",
    }


def test_capturing_a_session_without_a_charge_is_refused(
    platform: Platform, published_events: PublishedEvents, service: Any
) -> None:
    with pytest.raises(NotFoundError) as caught:
        service.capture_session_charge(42)
    assert str(caught.value) == "No charge for session 42."
    assert rows(platform, "billing_payments") == []
    assert rows(platform, "billing_gateway_transactions") == []
    assert published_events.types() == []


def test_capturing_a_captured_charge_is_refused(
    platform: Platform, published_events: PublishedEvents, service: Any
) -> None:
    service.create_session_charge(7, 42)
    service.capture_session_charge(42)
    announced = len(published_events)
    with pytest.raises(BusinessRuleError) as caught:
        service.capture_session_charge(42)
    assert str(caught.value) == (
        "Charge for session 42 is captured; only a pending charge can be captured."
    )
    assert len(rows(platform, "billing_payments")) == 1
    assert len(rows(platform, "billing_gateway_transactions")) == 1
    assert published_events.since(announced).types() == []


def test_completing_a_session_without_a_charge_leaves_a_dead_letter(
    platform: Platform, published_events: PublishedEvents
) -> None:
    published_events.expect_failures("billing", "therapy_session.completed")
    completed(platform)
    assert [letter.error_message for letter in platform.bus.dead_letter_store.list()] == [
        "No charge for session 42."
    ]
    [failure] = published_events.failed_deliveries()
    assert (failure.handler_name, str(failure.error)) == (
        "modules.billing.handlers.on_session_completed",
        "No charge for session 42.",
    )
    assert rows(platform, "billing_payments") == []


def test_the_local_gateway_books_a_reference_once(platform: Platform) -> None:
    gateway = platform.container.resolve(PaymentGateway)
    first = gateway.charge(7, 9000, "EUR", "session-42")
    again = gateway.charge(7, 9000, "EUR", "session-42")
    assert first.approved
    assert again == first
    assert len(rows(platform, "billing_gateway_transactions")) == 1


# --- voiding cancelled sessions ------------------------------------------------------------------


def test_a_cancelled_session_voids_its_pending_charge(
    platform: Platform, published_events: PublishedEvents, service: Any
) -> None:
    scheduled(platform)
    cancelled(platform)
    assert service.get_session_charge(42)["status"] == "void"
    assert rows(platform, "billing_payments") == []
    assert published_events.from_module("billing").types() == []
    assert dead_letters(platform) == []


def test_a_captured_charge_is_not_voided_but_logged(
    platform: Platform, service: Any, caplog: pytest.LogCaptureFixture
) -> None:
    scheduled(platform)
    completed(platform)
    before = rows(platform, "billing_charges")
    with caplog.at_level(logging.WARNING, logger="modules.billing.application"):
        cancelled(platform)
    assert rows(platform, "billing_charges") == before
    assert len(rows(platform, "billing_payments")) == 1
    assert caplog.messages == [
        "Charge for session 42 is captured, so it was not voided; refund it by hand if the "
        "patient is owed money."
    ]
    assert dead_letters(platform) == []


def test_cancelling_a_session_without_a_charge_does_nothing(
    platform: Platform, published_events: PublishedEvents, service: Any
) -> None:
    cancelled(platform)
    assert rows(platform, "billing_charges") == []
    assert published_events.from_module("billing").types() == []
    assert dead_letters(platform) == []
    assert service.void_session_charge(42) is None


def test_the_service_voids_a_pending_charge_once(service: Any) -> None:
    service.create_session_charge(7, 42)
    voided = service.void_session_charge(42)
    assert voided["status"] == "void"
    assert service.void_session_charge(42) == voided


# --- subscriptions -------------------------------------------------------------------------------


@pytest.mark.parametrize(("plan", "amount_cents"), [("basic", 2900), ("premium", 4900)])
def test_a_user_activates_a_subscription(
    platform: Platform,
    published_events: PublishedEvents,
    service: Any,
    plan: str,
    amount_cents: int,
    frozen_time: FrozenClock,
) -> None:
    frozen_time.move_to(NOW)
    subscription = service.activate_subscription(7, plan)
    assert subscription == {
        "id": 1,
        "user_id": 7,
        "plan": plan,
        "amount_cents": amount_cents,
        "currency": "EUR",
        "interval": "monthly",
        "status": "active",
        "activated_at": NOW,
    }
    assert [row["plan"] for row in rows(platform, "billing_subscriptions")] == [plan]
    assert thaw_json(published_events.of_type("subscription.activated").one().data) == {
        "subscription_id": 1,
        "user_id": 7,
        "plan": plan,
        "activated_at": NOW,
    }


def test_an_unknown_plan_is_refused(
    platform: Platform, published_events: PublishedEvents, service: Any
) -> None:
    with pytest.raises(BusinessRuleError) as caught:
        service.activate_subscription(7, "gold")
    assert str(caught.value) == "Unknown plan 'gold'. Choose one of: basic, premium."
    assert rows(platform, "billing_subscriptions") == []
    assert published_events.types() == []


def test_a_second_active_subscription_is_refused(
    platform: Platform, published_events: PublishedEvents, service: Any
) -> None:
    service.activate_subscription(7, "basic")
    announced = len(published_events)
    with pytest.raises(BusinessRuleError) as caught:
        service.activate_subscription(7, "premium")
    assert str(caught.value) == (
        "User 7 already has an active basic subscription (id 1). A user can hold one active "
        "subscription at a time."
    )
    assert [row["plan"] for row in rows(platform, "billing_subscriptions")] == ["basic"]
    assert published_events.since(announced).types() == []


@pytest.mark.parametrize(
    ("user_id", "error", "message"),
    [
        (
            404,
            NotFoundError,
            "User 404 does not exist, so no subscription was started. Subscribe a registered "
            "user's id.",
        ),
        (
            9,
            BusinessRuleError,
            "User 9 is deactivated, so no subscription was started. Only an active user can "
            "start a subscription.",
        ),
    ],
)
def test_a_subscription_is_only_for_a_user_who_exists_and_is_active(
    platform: Platform,
    published_events: PublishedEvents,
    service: Any,
    members: Members,
    user_id: int,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as caught:
        service.activate_subscription(user_id, "basic")
    assert str(caught.value) == message
    assert members.asked == [user_id]  # the users module was asked, through the registry
    assert rows(platform, "billing_subscriptions") == []
    assert published_events.types() == []


def test_each_user_holds_their_own_subscription(service: Any) -> None:
    service.activate_subscription(7, "basic")
    assert service.activate_subscription(8, "basic")["user_id"] == 8

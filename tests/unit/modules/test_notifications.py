"""The notifications module: session and payment emails, recorded, announced, never doubled."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from aura.events import Event, thaw_json
from aura.platform import Platform
from aura.testing import FrozenClock, Overrides, PublishedEvents
from contracts.users import UserServiceContract
from modules.notifications.application import EmailService
from modules.notifications.domain import (
    EmailBackend,
    format_money,
    format_time,
    payment_failed_message,
)
from modules.notifications.infrastructure import FailingEmailBackend, OutboxEmailBackend

NOW = "2025-03-01T09:30:00+00:00"
PATIENT = {"id": 7, "email": "ada@example.com", "name": "Ada", "role": "patient"}
THERAPIST = {"id": 8, "email": "bell@example.com", "name": "Dr Bell", "role": "therapist"}
SCHEDULED = {
    "session_id": 12,
    "patient_id": 7,
    "therapist_id": 8,
    "scheduled_at": "2025-03-10T15:00:00+00:00",
    "session_type": "individual",
}
CANCELLED = {
    "session_id": 12,
    "patient_id": 7,
    "therapist_id": 8,
    "reason": "therapist unavailable",
    "cancelled_at": NOW,
}
PAYMENT_FAILED = {
    "payment_id": 5,
    "patient_id": 7,
    "amount_cents": 8000,
    "currency": "EUR",
    "reason": "card declined",
    "failed_at": NOW,
    "session_id": 12,
}
WHEN = "Monday 10 March 2025 at 15:00 UTC"


class FakeUserService(UserServiceContract):
    """The users module as notifications sees it: known users, and every call recorded."""

    def __init__(self, *users: dict[str, Any]) -> None:
        self.users = {user["id"]: user for user in users}
        self.calls: list[tuple[str, int]] = []

    def register_user(self, email: str, name: str, role: str) -> dict[str, Any]:
        user = {"id": len(self.users) + 1, "email": email, "name": name, "role": role}
        self.users[user["id"]] = user
        return user

    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        self.calls.append(("get_user_by_id", user_id))
        return self.users.get(user_id)

    def get_user_profile(self, user_id: int) -> dict[str, Any]:
        return self.users[user_id]

    def is_user_active(self, user_id: int) -> bool:
        return user_id in self.users

    def update_profile(
        self, user_id: int, *, name: str | None = None, email: str | None = None
    ) -> dict[str, Any]:
        return self.users[user_id]

    def deactivate_user(self, user_id: int) -> dict[str, Any]:
        return self.users[user_id]


pytestmark = pytest.mark.aura_platform("notifications", mode="standalone")


def of(events: Iterable[Event], *event_types: str) -> list[tuple[str, dict[str, Any]]]:
    """The events of these types as (type, plain data), to compare whole."""
    return [
        (event.event_type, thaw_json(event.data))
        for event in events
        if event.event_type in event_types
    ]


@pytest.fixture
def users() -> FakeUserService:
    return FakeUserService(PATIENT, THERAPIST)


@pytest.fixture
def platform(aura_platform: Platform, override: Overrides, users: FakeUserService) -> Platform:
    """The harness's platform of notifications, whose users service is ``users``."""
    override("users", "UserService", users)
    return aura_platform


def outbox(platform: Platform) -> list[tuple[str, str, str]]:
    rows = platform.database.query(
        "SELECT recipient, subject, body FROM notifications_outbox ORDER BY id"
    )
    return [(row["recipient"], row["subject"], row["body"]) for row in rows]


def notifications(platform: Platform) -> list[dict[str, Any]]:
    rows = platform.database.query("SELECT * FROM notifications_notifications ORDER BY id")
    return [dict(row) for row in rows]


def record(
    id: int, recipient_id: int, template: str, reference: str, **rest: Any
) -> dict[str, Any]:
    return {
        "id": id,
        "recipient_id": recipient_id,
        "channel": "email",
        "template": template,
        "reference": reference,
        "status": "sent",
        "error": None,
        "created_at": NOW,
        **rest,
    }


def sent(notification_id: int, recipient_id: int, template: str, reference: str) -> Any:
    return (
        "notification.sent",
        {
            "notification_id": notification_id,
            "recipient_id": recipient_id,
            "channel": "email",
            "template": template,
            "reference": reference,
            "sent_at": NOW,
        },
    )


def failed(
    notification_id: int, recipient_id: int, template: str, reference: str, error: str
) -> Any:
    return (
        "notification.failed",
        {
            "notification_id": notification_id,
            "recipient_id": recipient_id,
            "channel": "email",
            "template": template,
            "reference": reference,
            "error": error,
            "failed_at": NOW,
        },
    )


# --- a scheduled session -------------------------------------------------------------------------


def test_a_scheduled_session_emails_the_patient_and_the_therapist(
    platform: Platform, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    platform.bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert outbox(platform) == [
        (
            "ada@example.com",
            f"Your therapy session on {WHEN} is confirmed",
            f"Hello Ada,\n\nYour therapy session (#12) on {WHEN} is confirmed.\n"
            "If you cannot attend, please cancel it ahead of time.\n",
        ),
        (
            "bell@example.com",
            f"New therapy session on {WHEN}",
            f"Hello Dr Bell,\n\nA patient booked a therapy session (#12) with you on {WHEN}.\n",
        ),
    ]


def test_each_email_is_recorded_and_announced_in_the_same_flow(
    platform: Platform, published_events: PublishedEvents, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    scheduled = platform.bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert notifications(platform) == [
        record(1, 7, "session_confirmation", "session:12"),
        record(2, 8, "session_notification", "session:12"),
    ]
    assert of(published_events, "notification.sent", "notification.failed") == [
        sent(1, 7, "session_confirmation", "session:12"),
        sent(2, 8, "session_notification", "session:12"),
    ]
    announced = published_events.of_type("notification.sent")
    assert {e.correlation_id for e in announced} == {scheduled.correlation_id}
    assert {e.causation_id for e in announced} == {scheduled.event_id}
    assert platform.bus.dead_letters() == []


def test_the_recipients_are_looked_up_through_the_users_service(
    platform: Platform, users: FakeUserService
) -> None:
    platform.bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert users.calls == [("get_user_by_id", 7), ("get_user_by_id", 8)]


def test_a_failing_backend_records_and_announces_failures_without_raising(
    platform: Platform, published_events: PublishedEvents, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    backend = FailingEmailBackend()
    with platform.container.override(EmailBackend, backend):
        platform.bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert of(published_events, "notification.sent", "notification.failed") == [
        failed(1, 7, "session_confirmation", "session:12", "smtp down"),
        failed(2, 8, "session_notification", "session:12", "smtp down"),
    ]
    assert notifications(platform) == [
        record(1, 7, "session_confirmation", "session:12", status="failed", error="smtp down"),
        record(2, 8, "session_notification", "session:12", status="failed", error="smtp down"),
    ]
    assert [to for to, _, _ in backend.attempts] == ["ada@example.com", "bell@example.com"]
    assert outbox(platform) == []
    assert platform.bus.dead_letters() == []


def test_the_service_receives_its_backend_when_built_and_the_default_comes_back_after_a_swap(
    platform: Platform, published_events: PublishedEvents, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    # The backend is a constructor port: an override must be entered before the service is
    # first used. The service built inside the block is forgotten when it ends.
    failing = FailingEmailBackend()
    with platform.container.override(EmailBackend, failing):
        platform.bus.publish("payment.failed", PAYMENT_FAILED, "billing")
        assert platform.container.resolve(EmailService).backend is failing
    platform.bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert isinstance(platform.container.resolve(EmailService).backend, OutboxEmailBackend)
    assert [
        event_type
        for event_type, _ in of(published_events, "notification.sent", "notification.failed")
    ] == [
        "notification.failed",
        "notification.sent",
        "notification.sent",
    ]
    assert len(outbox(platform)) == 2


def test_the_failing_backend_raises_connection_error_with_its_message() -> None:
    with pytest.raises(ConnectionError) as caught:
        FailingEmailBackend(error="relay refused").send("ada@example.com", "Hi", "Body")
    assert str(caught.value) == "relay refused"


def test_a_redelivered_event_sends_nothing_twice(
    platform: Platform, published_events: PublishedEvents, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    platform.bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    platform.bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert len(outbox(platform)) == 2
    assert len(notifications(platform)) == 2
    published_events.assert_published("notification.sent", times=2)


def test_a_failed_email_is_sent_when_its_event_comes_again(
    platform: Platform, published_events: PublishedEvents, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    with platform.container.override(EmailBackend, FailingEmailBackend()):
        platform.bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    platform.bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    assert [to for to, _, _ in outbox(platform)] == ["ada@example.com", "bell@example.com"]
    assert [row["status"] for row in notifications(platform)] == [
        "failed",
        "failed",
        "sent",
        "sent",
    ]
    assert of(published_events, "notification.sent") == [
        sent(3, 7, "session_confirmation", "session:12"),
        sent(4, 8, "session_notification", "session:12"),
    ]


def test_an_unknown_recipient_is_recorded_as_a_failed_notification(
    platform: Platform, published_events: PublishedEvents, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    platform.bus.publish(
        "therapy_session.scheduled", {**SCHEDULED, "patient_id": 99}, "mentalhealth"
    )
    assert of(published_events, "notification.sent", "notification.failed") == [
        failed(1, 99, "session_confirmation", "session:12", "Unknown user 99"),
        sent(2, 8, "session_notification", "session:12"),
    ]
    assert notifications(platform)[0] == record(
        1, 99, "session_confirmation", "session:12", status="failed", error="Unknown user 99"
    )
    assert [to for to, _, _ in outbox(platform)] == ["bell@example.com"]
    assert platform.bus.dead_letters() == []


# --- cancellations and payments ------------------------------------------------------------------


def test_a_cancelled_session_tells_the_patient_and_the_therapist(
    platform: Platform, published_events: PublishedEvents, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    platform.bus.publish("therapy_session.cancelled", CANCELLED, "mentalhealth")
    assert outbox(platform) == [
        (
            "ada@example.com",
            "Therapy session cancelled",
            "Hello Ada,\n\nThe therapy session (#12) was cancelled. "
            "Reason: therapist unavailable.\n",
        ),
        (
            "bell@example.com",
            "Therapy session cancelled",
            "Hello Dr Bell,\n\nThe therapy session (#12) was cancelled. "
            "Reason: therapist unavailable.\n",
        ),
    ]
    assert of(published_events, "notification.sent") == [
        sent(1, 7, "session_cancelled", "session:12"),
        sent(2, 8, "session_cancelled", "session:12"),
    ]


def test_a_failed_payment_tells_the_patient(
    platform: Platform, published_events: PublishedEvents, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    platform.bus.publish("payment.failed", PAYMENT_FAILED, "billing")
    assert outbox(platform) == [
        (
            "ada@example.com",
            "Your payment of 80.00 EUR failed",
            "Hello Ada,\n\nWe could not take your payment #5 of 80.00 EUR for session #12: "
            "card declined.\nPlease check your payment method.\n",
        )
    ]
    assert of(published_events, "notification.sent") == [sent(1, 7, "payment_failed", "payment:5")]


def test_a_failed_payment_of_an_unknown_patient_is_recorded_as_failed(
    platform: Platform, published_events: PublishedEvents, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    platform.bus.publish("payment.failed", {**PAYMENT_FAILED, "patient_id": 99}, "billing")
    assert of(published_events, "notification.failed") == [
        failed(1, 99, "payment_failed", "payment:5", "Unknown user 99")
    ]
    assert outbox(platform) == []


# --- the service as other modules see it ---------------------------------------------------------


def test_send_email_sends_a_given_message_once_and_returns_its_record(
    platform: Platform, published_events: PublishedEvents, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    service = platform.registry.get_service("notifications", "EmailService")
    first = service.send_email(PATIENT, "welcome", "Welcome", "Hello Ada", "user:7")
    again = service.send_email(PATIENT, "welcome", "Welcome", "Hello Ada", "user:7")
    assert first == again == record(1, 7, "welcome", "user:7")
    assert outbox(platform) == [("ada@example.com", "Welcome", "Hello Ada")]
    assert of(published_events, "notification.sent") == [sent(1, 7, "welcome", "user:7")]


def test_a_confirmation_without_a_known_time_leaves_it_out(platform: Platform) -> None:
    service = platform.registry.get_service("notifications", "EmailService")
    service.send_session_confirmation(PATIENT, 3)
    assert outbox(platform) == [
        (
            "ada@example.com",
            "Your therapy session is confirmed",
            "Hello Ada,\n\nYour therapy session (#3) is confirmed.\n"
            "If you cannot attend, please cancel it ahead of time.\n",
        )
    ]


def test_notifications_for_lists_a_users_attempts_oldest_first(
    platform: Platform, frozen_time: FrozenClock
) -> None:
    frozen_time.move_to(NOW)
    platform.bus.publish("payment.failed", PAYMENT_FAILED, "billing")
    platform.bus.publish("therapy_session.scheduled", SCHEDULED, "mentalhealth")
    service = platform.registry.get_service("notifications", "EmailService")
    assert service.notifications_for(7) == [
        record(1, 7, "payment_failed", "payment:5"),
        record(2, 7, "session_confirmation", "session:12"),
    ]
    assert service.notifications_for(42) == []


def test_the_email_service_resolves_by_its_seed_container_name(platform: Platform) -> None:
    assert isinstance(platform.container.resolve("email_service"), EmailService)


# --- rendering -----------------------------------------------------------------------------------


def test_times_and_amounts_are_rendered_for_people() -> None:
    assert format_time(datetime(2025, 3, 10, 15, 0, tzinfo=UTC)) == WHEN
    assert format_money(8000, "EUR") == "80.00 EUR"
    assert format_money(5, "USD") == "0.05 USD"


def test_a_failed_payment_without_a_session_names_only_the_payment() -> None:
    message = payment_failed_message(None, 5, 1250, "EUR", "expired card")
    assert message.body == (
        "Hello,\n\nWe could not take your payment #5 of 12.50 EUR: expired card.\n"
        "Please check your payment method.\n"
    )

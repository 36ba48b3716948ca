"""The harness on the repository's own platform: fixtures, factories, modes, stubs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aura.platform import Platform
from aura.testing import ANY, Overrides, PublishedEvents, RecordingFake, ServiceCalls
from contracts.errors import BusinessRuleError
from tests.factories import TherapistFactory, TherapySessionFactory, UserFactory


def test_a_scheduled_session_flows_to_notifications_and_billing(
    published_events: PublishedEvents, service_calls: ServiceCalls
) -> None:
    session = TherapySessionFactory()
    scheduled = published_events.of_type("therapy_session.scheduled").one()
    assert scheduled.data["session_id"] == session["id"]
    flow = published_events.flow_of(scheduled)
    flow.assert_correlated()
    assert flow.types() == ["therapy_session.scheduled", "notification.sent", "notification.sent"]
    flow.assert_published("notification.sent", times=1, template="session_confirmation")
    service_calls.assert_called("users", "UserService", "is_user_active", caller="mentalhealth")


@pytest.mark.aura_platform("mentalhealth", "billing")
def test_only_the_chosen_modules_run(
    aura_platform: Platform, published_events: PublishedEvents
) -> None:
    assert list(aura_platform.modules) == ["users", "mentalhealth", "billing"]
    TherapySessionFactory()
    published_events.assert_not_published("notification.sent")


@pytest.mark.aura_platform("mentalhealth", mode="standalone")
def test_mentalhealth_alone_against_a_recording_users_fake(
    aura_platform: Platform, published_events: PublishedEvents
) -> None:
    users: RecordingFake = aura_platform.container.resolve("users.UserService")
    users.answers(
        "get_user_by_id",
        lambda user_id: {"id": user_id, "role": "patient" if user_id == 1 else "therapist"},
    )
    users.returns("is_user_active", True)
    sessions = aura_platform.registry.get_service("mentalhealth", "TherapySessionService")
    when = datetime.now(UTC) + timedelta(days=2)
    sessions.schedule_session(1, 2, when)
    published_events.assert_published(
        "therapy_session.scheduled", patient_id=1, therapist_id=2, session_id=ANY
    )
    assert [call.method for call in users.calls] == [
        "get_user_by_id",
        "is_user_active",
        "get_user_by_id",
        "is_user_active",
    ]


def test_a_stubbed_users_service_makes_the_patient_inactive(
    override: Overrides, published_events: PublishedEvents
) -> None:
    patient = UserFactory()
    therapist = TherapistFactory()

    class InactiveUsers:
        def get_user_by_id(self, user_id: int) -> dict[str, Any]:
            return {"id": user_id, "role": "patient" if user_id == patient["id"] else "therapist"}

        def is_user_active(self, user_id: int) -> bool:
            return False

    override("users", "UserService", InactiveUsers())
    with pytest.raises(BusinessRuleError, match=r"^Patient is not active$"):
        TherapySessionFactory(patient=patient, therapist=therapist)
    published_events.assert_not_published("therapy_session.scheduled")


def test_time_moves_and_stamps_events(frozen_time: Any, published_events: PublishedEvents) -> None:
    frozen_time.move_to("2030-01-07T08:00:00+00:00")
    UserFactory()
    frozen_time.tick(timedelta(hours=1))
    UserFactory()
    first, second = published_events.of_type("user.registered")
    assert first.timestamp == datetime(2030, 1, 7, 8, tzinfo=UTC)
    assert second.timestamp - first.timestamp == timedelta(hours=1)

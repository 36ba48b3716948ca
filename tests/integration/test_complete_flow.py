"""The seed's "complete communication flow", end to end on a real SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aura.platform import Platform
from aura.testing import FrozenClock, PublishedEvents, ServiceCalls, Trace
from contracts.errors import BusinessRuleError
from modules.billing.domain import PaymentGateway
from modules.billing.infrastructure import DecliningPaymentGateway
from modules.notifications.domain import EmailBackend
from modules.notifications.infrastructure import FailingEmailBackend

NOW = datetime(2030, 1, 6, 9, 0, tzinfo=UTC)
SESSION_AT = datetime(2030, 1, 7, 10, 0, tzinfo=UTC)


@pytest.fixture
def clock(frozen_time: FrozenClock) -> FrozenClock:
    """The test's frozen time, at NOW: a day before the session is booked for."""
    frozen_time.move_to(NOW)
    return frozen_time


# Built by hand, not by the aura_platform fixture: each test runs on a real SQLite file with and
# without durable events, and the restart test opens two platforms on one file.
@pytest.fixture(params=[False, True], ids=["in-memory-events", "durable-events"])
def platform(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> Iterator[Platform]:
    modules = Platform.discover("modules")
    with Platform(modules, database=tmp_path / "aura.db", durable=request.param) as running:
        yield running


@pytest.fixture
def trace(platform: Platform) -> Iterator[Trace]:
    recording = Trace().attach(platform.bus, platform.registry)
    yield recording
    recording.detach()


def service(platform: Platform, module: str, name: str) -> Any:
    return platform.registry.get_service(module, name)


def register_pair(platform: Platform) -> tuple[dict[str, Any], dict[str, Any]]:
    users = service(platform, "users", "UserService")
    patient = users.register_user("pat@example.com", "Pat Doe", "patient")
    therapist = users.register_user("dr.t@example.com", "Dr T", "therapist")
    return patient, therapist


def rows(platform: Platform, sql: str) -> list[dict[str, Any]]:
    return [dict(row) for row in platform.database.query(sql)]


def test_scheduling_notifies_both_users_and_creates_a_pending_charge(
    platform: Platform, trace: Trace
) -> None:
    patient, therapist = register_pair(platform)
    sessions = service(platform, "mentalhealth", "TherapySessionService")
    session = sessions.schedule_session(patient["id"], therapist["id"], SESSION_AT)

    events = PublishedEvents(trace)
    flow = events.events[2:]  # after the two registrations
    assert [e.event_type for e in flow] == [
        "therapy_session.scheduled",
        "notification.sent",
        "notification.sent",
    ]
    scheduled = flow[0]
    assert dict(scheduled.data) == {
        "session_id": session["id"],
        "patient_id": patient["id"],
        "therapist_id": therapist["id"],
        "scheduled_at": "2030-01-07T10:00:00+00:00",
        "duration_minutes": 50,
        "session_type": "individual",
    }
    assert {e.correlation_id for e in flow} == {scheduled.correlation_id}
    assert all(e.causation_id == scheduled.event_id for e in flow[1:])
    assert [e.data["recipient_id"] for e in flow[1:]] == [patient["id"], therapist["id"]]

    outbox = rows(platform, "SELECT recipient, subject FROM notifications_outbox ORDER BY id")
    assert [row["recipient"] for row in outbox] == ["pat@example.com", "dr.t@example.com"]
    charges = rows(
        platform, "SELECT session_id, patient_id, amount_cents, status FROM billing_charges"
    )
    assert charges == [
        {
            "session_id": session["id"],
            "patient_id": patient["id"],
            "amount_cents": 9000,
            "status": "pending",
        }
    ]
    ServiceCalls(trace).assert_called(
        "users", "UserService", "is_user_active", times=2, caller="mentalhealth"
    )
    ServiceCalls(trace).assert_called(
        "users", "UserService", "get_user_by_id", caller="notifications"
    )
    assert platform.bus.dead_letters() == []


def test_completing_a_session_captures_the_charge(
    platform: Platform, trace: Trace, clock: FrozenClock
) -> None:
    patient, therapist = register_pair(platform)
    sessions = service(platform, "mentalhealth", "TherapySessionService")
    session = sessions.schedule_session(patient["id"], therapist["id"], SESSION_AT)
    clock.move_to(SESSION_AT + timedelta(minutes=1))
    sessions.start_session(session["id"])
    sessions.complete_session(session["id"])

    events = PublishedEvents(trace)
    events.assert_sequence(
        [
            "therapy_session.scheduled",
            "therapy_session.started",
            "therapy_session.completed",
            "payment.completed",
        ]
    )
    [payment] = events.assert_published(
        "payment.completed", session_id=session["id"], patient_id=patient["id"], amount_cents=9000
    )
    assert payment.causation_id == events.of_type("therapy_session.completed").one().event_id
    assert rows(platform, "SELECT status FROM billing_charges") == [{"status": "captured"}]


def test_a_declined_payment_notifies_the_patient(
    platform: Platform, trace: Trace, clock: FrozenClock
) -> None:
    patient, therapist = register_pair(platform)
    sessions = service(platform, "mentalhealth", "TherapySessionService")
    with platform.container.override(PaymentGateway, DecliningPaymentGateway()):
        session = sessions.schedule_session(patient["id"], therapist["id"], SESSION_AT)
        clock.move_to(SESSION_AT + timedelta(minutes=1))
        sessions.start_session(session["id"])
        sessions.complete_session(session["id"])
    events = PublishedEvents(trace)
    events.assert_published("payment.failed", session_id=session["id"], reason="card declined")
    events.assert_published(
        "notification.sent", recipient_id=patient["id"], template="payment_failed"
    )


def test_a_failing_email_backend_never_undoes_the_scheduling(
    platform: Platform, trace: Trace
) -> None:
    patient, therapist = register_pair(platform)
    sessions = service(platform, "mentalhealth", "TherapySessionService")
    with platform.container.override(EmailBackend, FailingEmailBackend()):
        session = sessions.schedule_session(patient["id"], therapist["id"], SESSION_AT)
    events = PublishedEvents(trace)
    events.assert_published("notification.failed", times=2, error="smtp down")
    assert sessions.get_session(session["id"])["status"] == "scheduled"
    assert rows(platform, "SELECT COUNT(*) AS n FROM notifications_outbox") == [{"n": 0}]
    assert rows(platform, "SELECT status FROM billing_charges") == [{"status": "pending"}]


def test_deactivating_a_patient_cancels_sessions_and_voids_charges(
    platform: Platform, trace: Trace
) -> None:
    patient, therapist = register_pair(platform)
    sessions = service(platform, "mentalhealth", "TherapySessionService")
    session = sessions.schedule_session(patient["id"], therapist["id"], SESSION_AT)
    service(platform, "users", "UserService").deactivate_user(patient["id"])
    events = PublishedEvents(trace)
    events.assert_sequence(["user.deactivated", "therapy_session.cancelled"])
    events.assert_published(
        "therapy_session.cancelled", session_id=session["id"], reason="user deactivated"
    )
    assert rows(platform, "SELECT status FROM billing_charges") == [{"status": "void"}]
    events.assert_published("notification.sent", template="session_cancelled", times=2)


def test_an_inactive_patient_is_refused_and_nothing_is_written_or_published(
    platform: Platform, trace: Trace
) -> None:
    patient, therapist = register_pair(platform)
    service(platform, "users", "UserService").deactivate_user(patient["id"])
    before = len(trace.events())
    sessions = service(platform, "mentalhealth", "TherapySessionService")
    with pytest.raises(BusinessRuleError) as caught:
        sessions.schedule_session(patient["id"], therapist["id"], SESSION_AT)
    assert str(caught.value) == "Patient is not active"
    assert len(trace.events()) == before
    assert rows(platform, "SELECT COUNT(*) AS n FROM mentalhealth_sessions") == [{"n": 0}]
    assert rows(platform, "SELECT COUNT(*) AS n FROM billing_charges") == [{"n": 0}]


@pytest.mark.usefixtures("clock")  # the reopened platform only reads: NOW throughout is alike
def test_the_data_survives_a_restart_on_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "aura.db"
    with Platform(Platform.discover("modules"), database=path) as first:
        patient, therapist = register_pair(first)
        service(first, "mentalhealth", "TherapySessionService").schedule_session(
            patient["id"], therapist["id"], SESSION_AT
        )
    with Platform(Platform.discover("modules"), database=path) as second:
        [session] = service(second, "mentalhealth", "TherapySessionService").list_sessions(
            patient["id"]
        )
        assert session["status"] == "scheduled"
        assert service(second, "users", "UserService").is_user_active(therapist["id"])


@pytest.mark.usefixtures("clock")
def test_a_durable_platform_records_every_publication_of_the_flow(tmp_path: Path) -> None:
    with Platform(Platform.discover("modules"), database=tmp_path / "aura.db", durable=True) as p:
        patient, therapist = register_pair(p)
        service(p, "mentalhealth", "TherapySessionService").schedule_session(
            patient["id"], therapist["id"], SESSION_AT
        )
        assert p.journal is not None
        statuses = {row["status"] for row in p.journal.publications()}
        assert statuses == {"COMPLETED"}
        assert p.event_store is not None
        assert [e.event_type for e in p.event_store.read()] == [
            "user.registered",
            "user.registered",
            "therapy_session.scheduled",
            "notification.sent",
            "notification.sent",
        ]

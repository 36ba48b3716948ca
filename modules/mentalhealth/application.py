"""The mentalhealth use cases: schedule, start, complete and cancel therapy sessions.

Another module is reached only through the registry, at call time: the users module's
``UserService`` answers whether a patient and a therapist exist and are active (the seed's
``ScheduleTherapySessionUseCase``). Every refusal happens before anything is written or published.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aura.bus import EventBus
from aura.database import Database
from aura.registry import ServiceRegistry
from contracts.errors import BusinessRuleError, NotFoundError
from contracts.mentalhealth import TherapySessionContract
from contracts.users import UserServiceContract
from modules.mentalhealth.domain import (
    SessionRepository,
    SessionType,
    TherapySession,
    check_schedule_time,
    ensure_therapist_free,
)

__all__ = ["MODULE_NAME", "USER_DEACTIVATED", "TherapySessionService"]

MODULE_NAME = "mentalhealth"
USER_DEACTIVATED = "user deactivated"
"""The reason recorded on sessions cancelled because a participant was deactivated."""


class TherapySessionService(TherapySessionContract):
    """Schedules and runs therapy sessions; publishes ``therapy_session.*`` events."""

    def __init__(
        self,
        repository: SessionRepository,
        database: Database,
        bus: EventBus,
        registry: ServiceRegistry,
    ) -> None:
        self.repository = repository
        self.database = database
        self.bus = bus
        self.registry = registry

    def schedule_session(
        self,
        patient_id: int,
        therapist_id: int,
        scheduled_at: datetime,
        session_type: str = "individual",
    ) -> dict[str, Any]:
        """Book a session between an active patient and an active, free therapist."""
        kind = SessionType.parse(session_type)
        starts_at = check_schedule_time(scheduled_at, _now())
        self._check_participants(patient_id, therapist_id)
        with self.database.transaction():
            # Checked inside the write transaction so two concurrent bookings cannot both pass.
            booked = self.repository.booked_for_therapist(therapist_id)
            ensure_therapist_free(booked, therapist_id, starts_at)
            session = self.repository.add(TherapySession(patient_id, therapist_id, starts_at, kind))
            # Published inside the transaction: recorded with the session, delivered on commit.
            self.bus.publish(
                "therapy_session.scheduled",
                {
                    **_participants(session),
                    "scheduled_at": starts_at.isoformat(),
                    "session_type": kind.value,
                },
                MODULE_NAME,
            )
        return session.to_dict()

    def get_session(self, session_id: int) -> dict[str, Any] | None:
        """Return a session, or ``None`` when there is no such session."""
        session = self.repository.get(session_id)
        return session.to_dict() if session is not None else None

    def start_session(self, session_id: int) -> dict[str, Any]:
        """Move a scheduled session to in progress."""
        with self.database.transaction():
            session = self._require(session_id).start()
            self.repository.save(session)
            data = {**_participants(session), "started_at": _now().isoformat()}
            self.bus.publish("therapy_session.started", data, MODULE_NAME)
        return session.to_dict()

    def complete_session(self, session_id: int) -> dict[str, Any]:
        """Move an in-progress session to completed."""
        with self.database.transaction():
            session = self._require(session_id).complete()
            self.repository.save(session)
            data = {**_participants(session), "completed_at": _now().isoformat()}
            self.bus.publish("therapy_session.completed", data, MODULE_NAME)
        return session.to_dict()

    def cancel_session(self, session_id: int, reason: str) -> dict[str, Any]:
        """Cancel a scheduled session."""
        with self.database.transaction():
            session = self._require(session_id).cancel(reason)
            self.repository.save(session)
            self._publish_cancelled(session, _now())
        return session.to_dict()

    def list_sessions(self, user_id: int) -> list[dict[str, Any]]:
        """Return the sessions where the user is patient or therapist, oldest first."""
        return [session.to_dict() for session in self.repository.for_user(user_id)]

    def cancel_future_sessions_of(
        self, user_id: int, reason: str = USER_DEACTIVATED
    ) -> list[dict[str, Any]]:
        """Cancel the user's scheduled sessions that have not begun yet; return them.

        Sessions already cancelled are not scheduled any more, so calling it twice cancels
        nothing the second time.
        """
        now = _now()
        with self.database.transaction():
            cancelled = [
                session.cancel(reason)
                for session in self.repository.scheduled_for_user(user_id)
                if session.scheduled_at > now
            ]
            for session in cancelled:
                self.repository.save(session)
                self._publish_cancelled(session, now)
        return [session.to_dict() for session in cancelled]

    # --- internals ------------------------------------------------------------------------------

    def _check_participants(self, patient_id: int, therapist_id: int) -> None:
        users: UserServiceContract = self.registry.get_service("users", "UserService")
        _check_participant(users, patient_id, "patient")
        _check_participant(users, therapist_id, "therapist")

    def _require(self, session_id: int) -> TherapySession:
        session = self.repository.get(session_id)
        if session is None:
            raise NotFoundError(f"Session {session_id} does not exist.")
        return session

    def _publish_cancelled(self, session: TherapySession, cancelled_at: datetime) -> None:
        data = {
            **_participants(session),
            "reason": session.cancel_reason,
            "cancelled_at": cancelled_at.isoformat(),
        }
        self.bus.publish("therapy_session.cancelled", data, MODULE_NAME)


def _check_participant(users: UserServiceContract, user_id: int, role: str) -> None:
    """Refuse an unknown user, a user of another role, or an inactive one (in that order)."""
    title = role.capitalize()
    user = users.get_user_by_id(user_id)
    if user is None:
        raise NotFoundError(f"{title} {user_id} does not exist.")
    if user.get("role") != role:
        raise BusinessRuleError(f"User {user_id} is not a {role}.")
    if not users.is_user_active(user_id):
        raise BusinessRuleError(f"{title} is not active")  # the seed's exact message


def _participants(session: TherapySession) -> dict[str, Any]:
    return {
        "session_id": session.id,
        "patient_id": session.patient_id,
        "therapist_id": session.therapist_id,
    }


def _now() -> datetime:
    return datetime.now(UTC)

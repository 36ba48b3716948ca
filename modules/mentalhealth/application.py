"""The mentalhealth use cases: schedule, start, complete and cancel therapy sessions.

Whether a patient and a therapist exist and are active is asked of the ``Participants`` port
(the users module's ``UserService``, as the module's ``__init__`` wires it), as the seed's
``ScheduleTherapySessionUseCase`` asks. Every refusal happens before anything is written or
published.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypedDict

from aura.bus import EventBus
from contracts.errors import NotFoundError
from contracts.events import (
    TherapySessionCancelledEvent,
    TherapySessionCompletedEvent,
    TherapySessionScheduledEvent,
    TherapySessionStartedEvent,
)
from contracts.mentalhealth import TherapySessionContract
from modules.mentalhealth.domain import (
    InactiveParticipantError,
    Participants,
    SessionRepository,
    SessionType,
    SessionUnitOfWork,
    TherapySession,
    UnknownParticipantError,
    check_schedule_time,
    ensure_therapist_free,
)

__all__ = ["USER_DEACTIVATED", "TherapySessionService"]

USER_DEACTIVATED = "user deactivated"
"""The reason recorded on sessions cancelled because a participant was deactivated."""


class TherapySessionService(TherapySessionContract):
    """Schedules and runs therapy sessions; publishes ``therapy_session.*`` events.

    Its ports come through the constructor: the repository, the unit of work each change runs
    in, and the participants (the users module) that bookings are checked against.
    """

    def __init__(
        self,
        repository: SessionRepository,
        unit_of_work: SessionUnitOfWork,
        bus: EventBus,
        participants: Participants,
    ) -> None:
        self.repository = repository
        self.unit_of_work = unit_of_work
        self.bus = bus
        self.participants = participants

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
        _check_participant(self.participants, patient_id, "patient")
        _check_participant(self.participants, therapist_id, "therapist")
        with self.unit_of_work.transaction():
            # Checked inside the write transaction so two concurrent bookings cannot both pass.
            booked = self.repository.booked_for_therapist(therapist_id)
            ensure_therapist_free(booked, therapist_id, starts_at)
            session = self.repository.add(TherapySession(patient_id, therapist_id, starts_at, kind))
            # Published inside the transaction: recorded with the session, delivered on commit.
            self.bus.publish(
                TherapySessionScheduledEvent(
                    **_ids(session),
                    scheduled_at=starts_at,
                    duration_minutes=kind.duration_minutes,
                    session_type=kind.value,
                )
            )
        return session.to_dict()

    def get_session(self, session_id: int) -> dict[str, Any] | None:
        """Return a session, or ``None`` when there is no such session."""
        session = self.repository.get(session_id)
        return session.to_dict() if session is not None else None

    def start_session(self, session_id: int) -> dict[str, Any]:
        """Move a scheduled session to in progress."""
        with self.unit_of_work.transaction():
            session = self._require(session_id).start()
            self.repository.save(session)
            self.bus.publish(TherapySessionStartedEvent(**_ids(session), started_at=_now()))
        return session.to_dict()

    def complete_session(self, session_id: int) -> dict[str, Any]:
        """Move an in-progress session to completed."""
        with self.unit_of_work.transaction():
            session = self._require(session_id).complete()
            self.repository.save(session)
            self.bus.publish(TherapySessionCompletedEvent(**_ids(session), completed_at=_now()))
        return session.to_dict()

    def cancel_session(self, session_id: int, reason: str) -> dict[str, Any]:
        """Cancel a scheduled session."""
        with self.unit_of_work.transaction():
            session = self._require(session_id).cancel(reason)
            self.repository.save(session)
            self._publish_cancelled(session, _now())
        return session.to_dict()

    def list_sessions(self, user_id: int) -> list[dict[str, Any]]:
        """Return the sessions where the user is patient or therapist, oldest first."""
        return [session.to_dict() for session in self.repository.for_user(user_id)]

    def list_patients(self, therapist_id: int) -> list[dict[str, Any]]:
        """Return the patients of the therapist's sessions (any status), by id.

        Each is ``{"id", "name", "email", "active"}`` as the users module answers now; a patient
        it no longer knows is left out. An id that is no therapist's has no patients.
        """
        patients = []
        for patient_id in self.repository.patients_of(therapist_id):
            user = self.participants.get_user_by_id(patient_id)
            if user is None:
                continue
            patients.append(
                {
                    "id": patient_id,
                    "name": user["name"],
                    "email": user["email"],
                    "active": bool(user["active"]),
                }
            )
        return patients

    def cancel_future_sessions_of(
        self, user_id: int, reason: str = USER_DEACTIVATED
    ) -> list[dict[str, Any]]:
        """Cancel the user's scheduled sessions that have not begun yet; return them.

        Sessions already cancelled are not scheduled any more, so calling it twice cancels
        nothing the second time.
        """
        now = _now()
        with self.unit_of_work.transaction():
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

    def _require(self, session_id: int) -> TherapySession:
        session = self.repository.get(session_id)
        if session is None:
            raise NotFoundError(f"Session {session_id} does not exist.")
        return session

    def _publish_cancelled(self, session: TherapySession, cancelled_at: datetime) -> None:
        assert session.cancel_reason is not None  # cancel() always records the reason
        self.bus.publish(
            TherapySessionCancelledEvent(
                **_ids(session), reason=session.cancel_reason, cancelled_at=cancelled_at
            )
        )


def _check_participant(participants: Participants, user_id: int, role: str) -> None:
    """Refuse an unknown user or one of another role alike, then an inactive one.

    A user of another role is answered as nobody is: "User 7 is not a therapist" would tell
    whoever books that user 7 exists and is a patient.
    """
    user = participants.get_user_by_id(user_id)
    if user is None or user.get("role") != role:
        raise UnknownParticipantError.of(role, user_id)
    if not participants.is_user_active(user_id):
        raise InactiveParticipantError.of(role, user_id)


class _SessionIds(TypedDict):
    """The fields every ``therapy_session.*`` event starts with."""

    session_id: int
    patient_id: int
    therapist_id: int


def _ids(session: TherapySession) -> _SessionIds:
    assert session.id is not None  # only stored sessions are announced
    return {
        "session_id": session.id,
        "patient_id": session.patient_id,
        "therapist_id": session.therapist_id,
    }


def _now() -> datetime:
    return datetime.now(UTC)

"""The mentalhealth module over HTTP: schedule, look up, list, start, complete and cancel sessions,
and list a therapist's patients.

Served by the gateway under ``/api/mentalhealth``; each endpoint calls the module's own service,
and each route says who may call it (:func:`add_routes`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from aura.access import AccessRequest, Principal, allow_if, owner, role
from aura.module import Module
from contracts.errors import BusinessRuleError, NotFoundError
from contracts.http import BodyId, Id
from modules.mentalhealth.application import TherapySessionService
from modules.mentalhealth.domain import ParticipantError, UnknownParticipantError

__all__ = ["START_EARLY", "Cancellation", "NewSession", "PatientOut", "SessionOut", "add_routes"]


class NewSession(BaseModel):
    """A session to book between a patient and a therapist."""

    model_config = ConfigDict(extra="forbid")  # a field it does not know: 422, not dropped

    patient_id: BodyId
    therapist_id: BodyId
    scheduled_at: AwareDatetime = Field(examples=["2030-01-07T10:00:00+00:00"])
    session_type: Literal["individual", "couples", "group"] = "individual"


class Cancellation(BaseModel):
    """Why a session is cancelled."""

    model_config = ConfigDict(extra="forbid")  # a field it does not know: 422, not dropped

    reason: str = Field(max_length=500, examples=["patient request"])


class SessionOut(BaseModel):
    """A therapy session."""

    id: int
    patient_id: int
    therapist_id: int
    scheduled_at: datetime
    session_type: str
    status: str
    cancel_reason: str | None


class PatientOut(BaseModel):
    """A patient of a therapist, as the users module knows them now."""

    id: int
    name: str
    email: str
    active: bool


def schedule_session(
    session: NewSession, caller: Principal, sessions: TherapySessionService
) -> SessionOut:
    """Book a session between an active patient and an active, free therapist.

    A therapist who cannot be booked (nobody has the id, a user who is no therapist, an inactive
    one) is answered to all but operators as an unknown id is, 404 ``Therapist 7 does not
    exist.``: whoever books must not learn whether another person's account exists, what it is
    or whether it is active. The patient needs no such care: a patient books for themselves, a
    therapist for a patient they already see.
    """
    try:
        booked = sessions.schedule_session(
            session.patient_id,
            session.therapist_id,
            _in_utc(session.scheduled_at),
            session.session_type,
        )
    except ParticipantError as refusal:
        if refusal.role == "therapist" and not caller.has_role("operator"):
            raise UnknownParticipantError.of(refusal.role, refusal.user_id) from None
        raise
    return SessionOut(**booked)


def get_session(session_id: Id, sessions: TherapySessionService) -> SessionOut:
    """Return a session."""
    found = sessions.get_session(session_id)
    if found is None:
        raise NotFoundError(f"Session {session_id} does not exist.")
    return SessionOut(**found)


def list_sessions(user_id: Id, sessions: TherapySessionService) -> list[SessionOut]:
    """Return the sessions where the user is patient or therapist, oldest first."""
    return [SessionOut(**session) for session in sessions.list_sessions(user_id)]


def start_session(session_id: Id, caller: Principal, sessions: TherapySessionService) -> SessionOut:
    """Move a scheduled session to in progress.

    Its therapist may start it from :data:`START_EARLY` before its time, not sooner: a session
    booked for next week cannot be started and completed today (which captures its charge).
    Operators may start one at any time.
    """
    if not caller.has_role("operator"):
        found = sessions.get_session(session_id)
        if found is not None:  # the rule let the caller in, so it is theirs
            opens = datetime.fromisoformat(found["scheduled_at"]) - START_EARLY
            if datetime.now(UTC) < opens:
                minutes = int(START_EARLY.total_seconds() // 60)
                raise BusinessRuleError(
                    f"Session {session_id} is scheduled for {found['scheduled_at']}; its "
                    f"therapist can start it from {minutes} minutes before, at "
                    f"{opens.isoformat()}. Ask an operator to start it sooner."
                )
    return SessionOut(**sessions.start_session(session_id))


def complete_session(session_id: Id, sessions: TherapySessionService) -> SessionOut:
    """Move an in-progress session to completed (its charge is captured)."""
    return SessionOut(**sessions.complete_session(session_id))


def cancel_session(
    session_id: Id, cancellation: Cancellation, sessions: TherapySessionService
) -> SessionOut:
    """Cancel a scheduled session."""
    return SessionOut(**sessions.cancel_session(session_id, cancellation.reason))


def list_patients(therapist_id: Id, sessions: TherapySessionService) -> list[PatientOut]:
    """Return the therapist's patients: those of their sessions, whatever their status, by id."""
    return [PatientOut(**patient) for patient in sessions.list_patients(therapist_id)]


START_EARLY = timedelta(minutes=15)
"""How long before its time a therapist may start a session."""


def _in_utc(moment: datetime) -> datetime:
    """Return ``moment`` in UTC, refusing one that UTC cannot hold (year 9999 west of Greenwich)."""
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise BusinessRuleError(
            f"scheduled_at {moment.isoformat()} is out of range: choose a date before 9999-12-31."
        ) from None


# --- who may do what -----------------------------------------------------------------------------


def _session_of(request: AccessRequest) -> dict[str, Any] | None:
    session: dict[str, Any] | None = request.resolve(TherapySessionService).get_session(
        request.params["session_id"]
    )
    return session


def _is_participant(principal: Principal, request: AccessRequest) -> bool:
    session = _session_of(request)
    return session is not None and principal.user_id in (
        session["patient_id"],
        session["therapist_id"],
    )


def _is_therapist(principal: Principal, request: AccessRequest) -> bool:
    session = _session_of(request)
    return session is not None and principal.user_id == session["therapist_id"]


def _is_their_patient(principal: Principal, request: AccessRequest) -> bool:
    patient_id = request.value("session.patient_id")
    sessions = request.resolve(TherapySessionService).list_sessions(principal.user_id)
    return any(
        session["therapist_id"] == principal.user_id
        and session["patient_id"] == patient_id
        and session["status"] != "cancelled"  # a booking the patient called off is no bond
        for session in sessions
    )


OPERATOR = role("operator")
PARTICIPANT = allow_if(_is_participant, "the session's patient or therapist", reads=["session_id"])
# A participant who is not the therapist learns nothing new from a 403; anyone else gets 404.
THERAPIST = PARTICIPANT & allow_if(
    _is_therapist, "the session's therapist", hidden=False, reads=["session_id"]
)
THEIR_PATIENT = allow_if(
    _is_their_patient, "a therapist of the patient", hidden=False, reads=["session"]
)
BOOKER = (role("patient") & owner("session.patient_id")) | (
    role("therapist") & owner("session.therapist_id") & THEIR_PATIENT
)
"""A patient books for themselves; a therapist with themselves, for a patient they already see
(a first session is booked by the patient or an operator); operators for anyone."""


BOOKING_LIMIT = "20/hour"
"""How many sessions one caller may book, and how many cancel, per hour: each sends e-mails to
the other participant, so an unbounded caller could flood a therapist's inbox and calendar.
Operators (a clinic's front desk, bulk imports) are not counted."""


def add_routes(module: Module) -> None:
    """Declare the module's HTTP routes, each with who may call it."""
    limited = {"limit": BOOKING_LIMIT, "unlimited": ["operator"]}
    module.route("POST", "/sessions", status_code=201, allow=BOOKER | OPERATOR, **limited)(
        schedule_session
    )
    module.route("GET", "/sessions/{session_id}", allow=PARTICIPANT | OPERATOR)(get_session)
    module.route("GET", "/users/{user_id}/sessions", allow=owner("user_id") | OPERATOR)(
        list_sessions
    )
    module.route("POST", "/sessions/{session_id}/start", allow=THERAPIST | OPERATOR)(start_session)
    module.route("POST", "/sessions/{session_id}/complete", allow=THERAPIST | OPERATOR)(
        complete_session
    )
    module.route("POST", "/sessions/{session_id}/cancel", allow=PARTICIPANT | OPERATOR, **limited)(
        cancel_session
    )
    # Another therapist's id is answered as a missing one (404): owner() hides it.
    module.route(
        "GET",
        "/therapists/{therapist_id}/patients",
        allow=(role("therapist") & owner("therapist_id")) | OPERATOR,
    )(list_patients)

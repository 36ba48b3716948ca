"""The therapy-session domain: sessions, their rules and state transitions, the repository port.

Pure Python: no database, no bus, no other module. Times are timezone-aware and kept in UTC. The
ports at the end are what the application needs from outside; the module's ``__init__`` wires
their adapters.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from aura.exceptions import ServiceNotAvailableError
from contracts.errors import BusinessRuleError, NotFoundError
from contracts.events import SESSION_MINUTES
from contracts.text import hidden_character
from contracts.unit_of_work import UnitOfWork

__all__ = [
    "BOOKED",
    "SESSION_LENGTH",
    "InactiveParticipantError",
    "ParticipantError",
    "Participants",
    "SessionRepository",
    "SessionStatus",
    "SessionType",
    "SessionUnitOfWork",
    "TherapySession",
    "UnknownParticipantError",
    "UserServiceUnavailableError",
    "check_schedule_time",
    "ensure_therapist_free",
]

SESSION_LENGTH = timedelta(minutes=50)
"""How long every session lasts; a therapist's sessions may not overlap."""

_EXAMPLE_TIME = "2030-01-07T10:00:00+00:00"


class UserServiceUnavailableError(ServiceNotAvailableError):
    """The users module cannot be asked now, so nothing that needs its answer is done.

    The seed's own example of a module's error: the registry's ``ServiceNotAvailableError``
    translated at this module's edge. It stays one, so the gateway still answers 503.
    """


class ParticipantError(Exception):
    """A booking is refused because of one of its participants: ``role`` and ``user_id`` say who.

    Raised as one of its two kinds below, which are the contract's errors (404 and 409 over
    HTTP); the route reads ``role`` to answer a caller who may not learn about that person.
    """

    def __init__(self, message: str, *, role: str, user_id: int) -> None:
        super().__init__(message)
        self.role = role
        self.user_id = user_id


class UnknownParticipantError(ParticipantError, NotFoundError):
    """No user of the participant's role has the id: nobody has it, or a user of another role."""

    @classmethod
    def of(cls, role: str, user_id: int) -> UnknownParticipantError:
        """``Therapist 7 does not exist.``"""
        return cls(f"{role.capitalize()} {user_id} does not exist.", role=role, user_id=user_id)


class InactiveParticipantError(ParticipantError, BusinessRuleError):
    """The participant exists but is not active (the seed's ``"Patient is not active"``)."""

    @classmethod
    def of(cls, role: str, user_id: int) -> InactiveParticipantError:
        """``Therapist is not active``: the seed's exact message, which names nobody."""
        return cls(f"{role.capitalize()} is not active", role=role, user_id=user_id)


class SessionType(StrEnum):
    """The kinds of session a therapist offers."""

    INDIVIDUAL = "individual"
    COUPLES = "couples"
    GROUP = "group"

    @property
    def duration_minutes(self) -> int:
        """How long a session of this type lasts."""
        return SESSION_MINUTES[self.value]

    @classmethod
    def parse(cls, value: str) -> SessionType:
        """Return the session type named ``value``, refusing unknown names."""
        try:
            return cls(value)
        except ValueError:
            choices = ", ".join(kind.value for kind in cls)
            raise BusinessRuleError(
                f"Unknown session type {value!r}; choose one of: {choices}."
            ) from None


class SessionStatus(StrEnum):
    """Where a session is in its life: scheduled -> in_progress -> completed, or cancelled."""

    SCHEDULED = "scheduled"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """The status as words, for messages (``in progress``)."""
        return self.value.replace("_", " ")


BOOKED = frozenset({SessionStatus.SCHEDULED, SessionStatus.IN_PROGRESS})
"""Statuses that hold the therapist's time."""


@dataclasses.dataclass(frozen=True, slots=True)
class TherapySession:
    """One therapy session between a patient and a therapist; transitions return a new value."""

    patient_id: int
    therapist_id: int
    scheduled_at: datetime
    session_type: SessionType
    status: SessionStatus = SessionStatus.SCHEDULED
    cancel_reason: str | None = None
    id: int | None = None
    """``None`` until the repository stores the session."""

    @property
    def ends_at(self) -> datetime:
        """When the session ends."""
        return self.scheduled_at + SESSION_LENGTH

    def overlaps(self, starts_at: datetime) -> bool:
        """Tell whether a session starting at ``starts_at`` would overlap this booked one."""
        return (
            self.status in BOOKED
            and self.scheduled_at < starts_at + SESSION_LENGTH
            and starts_at < self.ends_at
        )

    def start(self) -> TherapySession:
        """Move a scheduled session to in progress."""
        return self._move(
            SessionStatus.SCHEDULED, SessionStatus.IN_PROGRESS, "a scheduled session can be started"
        )

    def complete(self) -> TherapySession:
        """Move an in-progress session to completed."""
        return self._move(
            SessionStatus.IN_PROGRESS,
            SessionStatus.COMPLETED,
            "an in-progress session can be completed",
        )

    def cancel(self, reason: str) -> TherapySession:
        """Cancel a scheduled session for a (non-empty) reason."""
        cancelled = self._move(
            SessionStatus.SCHEDULED, SessionStatus.CANCELLED, "a scheduled session can be cancelled"
        )
        if not isinstance(reason, str) or not reason.strip():
            raise BusinessRuleError(
                f"Cancelling session {self.id} needs a reason, e.g. 'patient request'; "
                f"got {reason!r}."
            )
        reason = reason.strip()
        hidden = hidden_character(reason)  # the reason goes into the other person's e-mail
        if hidden is not None:
            raise BusinessRuleError(
                f"The reason for cancelling session {self.id} holds the control character "
                f"U+{ord(hidden):04X}: a reason is printable text on one line; remove it."
            )
        return dataclasses.replace(cancelled, cancel_reason=reason)

    def to_dict(self) -> dict[str, Any]:
        """Return the session as the contract's plain, JSON-friendly dict."""
        return {
            "id": self.id,
            "patient_id": self.patient_id,
            "therapist_id": self.therapist_id,
            "scheduled_at": self.scheduled_at.isoformat(),
            "session_type": self.session_type.value,
            "status": self.status.value,
            "cancel_reason": self.cancel_reason,
        }

    def _move(self, required: SessionStatus, target: SessionStatus, rule: str) -> TherapySession:
        if self.status is not required:
            raise BusinessRuleError(f"Session {self.id} is {self.status.label}; only {rule}.")
        return dataclasses.replace(self, status=target)


BOOKING_HORIZON = timedelta(days=5 * 365)
"""How far ahead a session may be booked (and what keeps its end within the calendar)."""


def check_schedule_time(scheduled_at: datetime, now: datetime) -> datetime:
    """Return ``scheduled_at`` in UTC, refusing a naive time or one that is not after ``now``."""
    if not isinstance(scheduled_at, datetime):
        raise TypeError(
            f"scheduled_at must be a datetime, got {type(scheduled_at).__name__} "
            f"({scheduled_at!r}). Pass e.g. datetime.fromisoformat({_EXAMPLE_TIME!r})."
        )
    if scheduled_at.utcoffset() is None:
        raise BusinessRuleError(f"scheduled_at must include a timezone, e.g. {_EXAMPLE_TIME}.")
    if scheduled_at <= now:
        raise BusinessRuleError(
            f"Sessions must be scheduled in the future; {scheduled_at.isoformat()} is in the past."
        )
    if scheduled_at - now > BOOKING_HORIZON:
        raise BusinessRuleError(
            f"Sessions can be booked at most {BOOKING_HORIZON.days // 365} years ahead; "
            f"{scheduled_at.isoformat()} is later. Choose a date before "
            f"{(now + BOOKING_HORIZON).date().isoformat()}."
        )
    # One zone in storage keeps comparisons and ISO-text ordering consistent.
    return scheduled_at.astimezone(UTC)


def ensure_therapist_free(
    booked: Iterable[TherapySession], therapist_id: int, starts_at: datetime
) -> None:
    """Refuse a session at ``starts_at`` that overlaps one of the therapist's booked sessions.

    The refusal names neither the other session nor its time: they are another patient's.
    """
    if any(session.overlaps(starts_at) for session in booked):
        minutes = int(SESSION_LENGTH.total_seconds() // 60)
        raise BusinessRuleError(
            f"Therapist {therapist_id} is not free at {starts_at.isoformat()}: another session is "
            f"booked less than {minutes} minutes before or after it (sessions last {minutes} "
            "minutes). Choose another time."
        )


class SessionRepository(ABC):
    """Where therapy sessions are kept (the port; infrastructure implements it)."""

    @abstractmethod
    def add(self, session: TherapySession) -> TherapySession:
        """Store a new session; return it with its id."""

    @abstractmethod
    def get(self, session_id: int) -> TherapySession | None:
        """Return a session, or ``None``."""

    @abstractmethod
    def save(self, session: TherapySession) -> None:
        """Store a stored session's new status and cancel reason."""

    @abstractmethod
    def booked_for_therapist(self, therapist_id: int) -> list[TherapySession]:
        """Return the therapist's scheduled and in-progress sessions."""

    @abstractmethod
    def scheduled_for_user(self, user_id: int) -> list[TherapySession]:
        """Return the scheduled sessions where the user is patient or therapist, oldest first."""

    @abstractmethod
    def for_user(self, user_id: int) -> list[TherapySession]:
        """Return every session where the user is patient or therapist, oldest first."""

    @abstractmethod
    def patients_of(self, therapist_id: int) -> list[int]:
        """Return the ids of the patients of the therapist's sessions (any status), ascending."""


class SessionUnitOfWork(UnitOfWork, Protocol):
    """The transactions the mentalhealth use cases run in (the module's ``__init__`` wires them)."""


class Participants(Protocol):
    """Who may take part in a session: the users module answers, through its contract.

    Any ``UserServiceContract`` satisfies it (a test may pass a fake of the users service).
    """

    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        """Return the user (with its ``role``), or ``None`` when there is no such user."""
        ...

    def is_user_active(self, user_id: int) -> bool:
        """Tell whether the user may book or give sessions (an unknown user may not)."""
        ...

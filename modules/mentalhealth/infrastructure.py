"""SQLite storage of therapy sessions: the ``mentalhealth_sessions`` table of the platform's DB."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import datetime
from typing import Any

from aura.database import Database
from aura.exceptions import ServiceNotAvailableError
from aura.registry import ServiceRegistry
from contracts.users import UserServiceContract
from modules.mentalhealth.domain import (
    Participants,
    SessionRepository,
    SessionStatus,
    SessionType,
    SessionUnitOfWork,
    TherapySession,
    UserServiceUnavailableError,
)

__all__ = ["RegistryParticipants", "SqliteSessionRepository", "create_tables", "unit_of_work"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS mentalhealth_sessions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    patient_id    INTEGER NOT NULL,
    therapist_id  INTEGER NOT NULL,
    scheduled_at  TEXT    NOT NULL,
    session_type  TEXT    NOT NULL CHECK (session_type IN ('individual', 'couples', 'group')),
    status        TEXT    NOT NULL
                  CHECK (status IN ('scheduled', 'in_progress', 'completed', 'cancelled')),
    cancel_reason TEXT
);
CREATE INDEX IF NOT EXISTS mentalhealth_sessions_by_therapist
    ON mentalhealth_sessions (therapist_id, status);
CREATE INDEX IF NOT EXISTS mentalhealth_sessions_by_patient
    ON mentalhealth_sessions (patient_id, status);
"""

_COLUMNS = "id, patient_id, therapist_id, scheduled_at, session_type, status, cancel_reason"
_OF_USER = "(patient_id = :user OR therapist_id = :user)"
# scheduled_at is stored as UTC ISO-8601 text, whose text order is its time order.
_OLDEST_FIRST = "ORDER BY scheduled_at, id"


def create_tables(database: Database) -> None:
    """Create the module's tables (start hook; safe to run again)."""
    database.executescript(_SCHEMA)


def unit_of_work(database: Database) -> SessionUnitOfWork:
    """Return the module's unit of work: the platform's database, which holds the events too."""
    return database


class RegistryParticipants(Participants):
    """The users module's ``UserService``, asked through the registry on every call.

    Looked up per call, never kept: a users service replaced later (a test's stub) is the one
    asked, and each call goes through the registry's proxy for this module, with its circuit
    breaker and its place in the recorded service calls.
    """

    def __init__(self, registry: ServiceRegistry) -> None:
        self.registry = registry

    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        """Return the user, or ``None``."""
        return self._users().get_user_by_id(user_id)

    def is_user_active(self, user_id: int) -> bool:
        """Tell whether the user is active."""
        return self._users().is_user_active(user_id)

    def _users(self) -> UserServiceContract:
        # The seed's "Service Unavailability" example: the registry's error becomes this
        # module's own, naming what could not be done.
        try:
            users: UserServiceContract = self.registry.get_service("users", "UserService")
        except ServiceNotAvailableError as exc:
            raise UserServiceUnavailableError(
                f"User service is currently unavailable, so the session cannot be checked: {exc}"
            ) from exc
        return users


class SqliteSessionRepository(SessionRepository):
    """Keeps sessions in the ``mentalhealth_sessions`` table."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def add(self, session: TherapySession) -> TherapySession:
        """Store a new session; return it with its id."""
        cursor = self.database.execute(
            "INSERT INTO mentalhealth_sessions (patient_id, therapist_id, scheduled_at, "
            "session_type, status, cancel_reason) VALUES (?, ?, ?, ?, ?, ?)",
            (
                session.patient_id,
                session.therapist_id,
                session.scheduled_at.isoformat(),
                session.session_type.value,
                session.status.value,
                session.cancel_reason,
            ),
        )
        return dataclasses.replace(session, id=cursor.lastrowid)

    def get(self, session_id: int) -> TherapySession | None:
        """Return a session, or ``None``."""
        row = self.database.query_one(
            f"SELECT {_COLUMNS} FROM mentalhealth_sessions WHERE id = ?", (session_id,)
        )
        return _session(row) if row is not None else None

    def save(self, session: TherapySession) -> None:
        """Store a stored session's new status and cancel reason."""
        self.database.execute(
            "UPDATE mentalhealth_sessions SET status = ?, cancel_reason = ? WHERE id = ?",
            (session.status.value, session.cancel_reason, session.id),
        )

    def booked_for_therapist(self, therapist_id: int) -> list[TherapySession]:
        """Return the therapist's scheduled and in-progress sessions."""
        rows = self.database.query(
            f"SELECT {_COLUMNS} FROM mentalhealth_sessions "
            "WHERE therapist_id = ? AND status IN ('scheduled', 'in_progress') "
            f"{_OLDEST_FIRST}",
            (therapist_id,),
        )
        return [_session(row) for row in rows]

    def scheduled_for_user(self, user_id: int) -> list[TherapySession]:
        """Return the scheduled sessions where the user is patient or therapist, oldest first."""
        rows = self.database.query(
            f"SELECT {_COLUMNS} FROM mentalhealth_sessions "
            f"WHERE {_OF_USER} AND status = 'scheduled' {_OLDEST_FIRST}",
            {"user": user_id},
        )
        return [_session(row) for row in rows]

    def for_user(self, user_id: int) -> list[TherapySession]:
        """Return every session where the user is patient or therapist, oldest first."""
        rows = self.database.query(
            f"SELECT {_COLUMNS} FROM mentalhealth_sessions WHERE {_OF_USER} {_OLDEST_FIRST}",
            {"user": user_id},
        )
        return [_session(row) for row in rows]

    def patients_of(self, therapist_id: int) -> list[int]:
        """Return the ids of the patients of the therapist's sessions (any status), ascending."""
        rows = self.database.query(
            "SELECT DISTINCT patient_id FROM mentalhealth_sessions WHERE therapist_id = ? "
            "ORDER BY patient_id",
            (therapist_id,),
        )
        return [int(row["patient_id"]) for row in rows]


def _session(row: sqlite3.Row) -> TherapySession:
    return TherapySession(
        id=row["id"],
        patient_id=row["patient_id"],
        therapist_id=row["therapist_id"],
        scheduled_at=datetime.fromisoformat(row["scheduled_at"]),
        session_type=SessionType(row["session_type"]),
        status=SessionStatus(row["status"]),
        cancel_reason=row["cancel_reason"],
    )

"""The mentalhealth module's contract: therapy sessions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

__all__ = ["TherapySessionContract"]


class TherapySessionContract(ABC):
    """Scheduling and running therapy sessions."""

    @abstractmethod
    def schedule_session(
        self,
        patient_id: int,
        therapist_id: int,
        scheduled_at: datetime,
        session_type: str = "individual",
    ) -> dict[str, Any]:
        """Book a session between an active patient and an active, free therapist."""

    @abstractmethod
    def get_session(self, session_id: int) -> dict[str, Any] | None:
        """Return a session, or ``None`` when there is no such session."""

    @abstractmethod
    def start_session(self, session_id: int) -> dict[str, Any]:
        """Move a scheduled session to in progress."""

    @abstractmethod
    def complete_session(self, session_id: int) -> dict[str, Any]:
        """Move an in-progress session to completed."""

    @abstractmethod
    def cancel_session(self, session_id: int, reason: str) -> dict[str, Any]:
        """Cancel a scheduled session."""

    @abstractmethod
    def list_sessions(self, user_id: int) -> list[dict[str, Any]]:
        """Return the sessions where the user is patient or therapist, oldest first."""

"""The notifications module's contract: email to patients and therapists."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["EmailServiceContract"]


class EmailServiceContract(ABC):
    """Sends email through a pluggable backend and records each attempt."""

    @abstractmethod
    def send_email(
        self, recipient: dict[str, Any], template: str, subject: str, body: str, reference: str
    ) -> dict[str, Any]:
        """Send one email; return the notification record (status ``sent`` or ``failed``)."""

    @abstractmethod
    def send_session_confirmation(
        self, patient: dict[str, Any] | int, session_id: int
    ) -> dict[str, Any]:
        """Confirm a booked session to its patient: a user, or a user id (as the seed passes)."""

    @abstractmethod
    def send_session_notification(
        self, therapist: dict[str, Any] | int, session_id: int
    ) -> dict[str, Any]:
        """Tell a therapist (a user, or a user id) about a booked session."""

    @abstractmethod
    def notifications_for(self, user_id: int) -> list[dict[str, Any]]:
        """Return every notification sent or attempted to a user, oldest first."""

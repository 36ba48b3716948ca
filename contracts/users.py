"""The users module's contract: what other modules may ask of it."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["UserServiceContract"]


class UserServiceContract(ABC):
    """Patients and therapists: registration, profiles, activity."""

    @abstractmethod
    def register_user(self, email: str, name: str, role: str) -> dict[str, Any]:
        """Register a patient or therapist; return the new user."""

    @abstractmethod
    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        """Get user by ID, or ``None`` when there is no such user."""

    @abstractmethod
    def get_user_profile(self, user_id: int) -> dict[str, Any]:
        """Return a user's public profile; raise ``LookupError`` for an unknown user."""

    @abstractmethod
    def is_user_active(self, user_id: int) -> bool:
        """Check if user is active (an unknown user is not)."""

    @abstractmethod
    def update_profile(
        self, user_id: int, *, name: str | None = None, email: str | None = None
    ) -> dict[str, Any]:
        """Change a user's name or email; return the updated user."""

    @abstractmethod
    def deactivate_user(self, user_id: int) -> dict[str, Any]:
        """Deactivate a user's account; return the updated user."""

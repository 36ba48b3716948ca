"""The billing module's contract: session charges and subscriptions."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

__all__ = ["BillingServiceContract"]


class BillingServiceContract(ABC):
    """Charges for sessions and subscription plans."""

    @abstractmethod
    def create_session_charge(self, patient_id: int, session_id: int) -> dict[str, Any]:
        """Create the pending charge of a booked session."""

    @abstractmethod
    def capture_session_charge(self, session_id: int) -> dict[str, Any]:
        """Capture a session's pending charge through the payment gateway."""

    @abstractmethod
    def void_session_charge(self, session_id: int) -> dict[str, Any] | None:
        """Void a session's pending charge; ``None`` when it has none."""

    @abstractmethod
    def get_session_charge(self, session_id: int) -> dict[str, Any] | None:
        """Return a session's charge, or ``None``."""

    @abstractmethod
    def activate_subscription(self, user_id: int, plan: str) -> dict[str, Any]:
        """Start a subscription plan for a user."""

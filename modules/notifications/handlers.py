"""Event handlers: the notifications module reacting to sessions and payments."""

from __future__ import annotations

from typing import Any

from modules.notifications.application import EmailService

__all__ = ["on_payment_failed", "on_session_cancelled", "on_session_scheduled"]


def on_session_scheduled(data: dict[str, Any], email_service: EmailService) -> None:
    """Confirm a booked session to its patient and tell its therapist."""
    email_service.notify_session_scheduled(
        data["session_id"],
        data["patient_id"],
        data["therapist_id"],
        scheduled_at=data.get("scheduled_at"),
    )


def on_session_cancelled(data: dict[str, Any], email_service: EmailService) -> None:
    """Tell a cancelled session's patient and therapist."""
    email_service.notify_session_cancelled(
        data["session_id"], data["patient_id"], data["therapist_id"], data["reason"]
    )


def on_payment_failed(data: dict[str, Any], email_service: EmailService) -> None:
    """Tell a patient that their payment failed."""
    email_service.notify_payment_failed(
        data["payment_id"],
        data["patient_id"],
        data["amount_cents"],
        data["currency"],
        data["reason"],
        session_id=data.get("session_id"),
    )

"""Event handlers: the notifications module reacting to sessions and payments.

Each handler is annotated with its event's contract class, so the bus hands it an instance; the
service is injected by its type.
"""

from __future__ import annotations

from contracts.events import (
    PaymentFailedEvent,
    TherapySessionCancelledEvent,
    TherapySessionScheduledEvent,
)
from modules.notifications.application import EmailService

__all__ = ["on_payment_failed", "on_session_cancelled", "on_session_scheduled"]


def on_session_scheduled(event: TherapySessionScheduledEvent, email_service: EmailService) -> None:
    """Confirm a booked session to its patient and tell its therapist."""
    email_service.notify_session_scheduled(
        event.session_id, event.patient_id, event.therapist_id, scheduled_at=event.scheduled_at
    )


def on_session_cancelled(event: TherapySessionCancelledEvent, email_service: EmailService) -> None:
    """Tell a cancelled session's patient and therapist."""
    email_service.notify_session_cancelled(
        event.session_id, event.patient_id, event.therapist_id, event.reason
    )


def on_payment_failed(event: PaymentFailedEvent, email_service: EmailService) -> None:
    """Tell a patient that their payment failed."""
    email_service.notify_payment_failed(
        event.payment_id,
        event.patient_id,
        event.amount_cents,
        event.currency,
        event.reason,
        session_id=event.session_id,
    )

"""Event handlers of the mentalhealth module."""

from __future__ import annotations

from contracts.events import UserDeactivatedEvent
from modules.mentalhealth.application import USER_DEACTIVATED, TherapySessionService

__all__ = ["on_user_deactivated"]


def on_user_deactivated(
    event: UserDeactivatedEvent, therapy_session_service: TherapySessionService
) -> None:
    """Cancel a deactivated user's future sessions, as patient or as therapist.

    Idempotent: a redelivered event finds those sessions already cancelled. The bus hands the
    event over as its contract class; the service is injected by its type.
    """
    therapy_session_service.cancel_future_sessions_of(event.user_id, reason=USER_DEACTIVATED)

"""Event handlers of the mentalhealth module."""

from __future__ import annotations

from typing import Any

from modules.mentalhealth.application import USER_DEACTIVATED, TherapySessionService

__all__ = ["on_user_deactivated"]


def on_user_deactivated(
    data: dict[str, Any], therapy_session_service: TherapySessionService
) -> None:
    """Cancel a deactivated user's future sessions, as patient or as therapist.

    Idempotent: a redelivered event finds those sessions already cancelled. The service is
    injected by its container name, ``therapy_session_service``.
    """
    therapy_session_service.cancel_future_sessions_of(data["user_id"], reason=USER_DEACTIVATED)

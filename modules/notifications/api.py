"""The notifications module over HTTP: the notifications sent (or attempted) to a user.

Served by the gateway under ``/api/notifications``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field

from aura.access import owner, role
from aura.module import Module
from modules.notifications.application import EmailService

__all__ = ["NotificationOut", "add_routes"]

UserId = Annotated[int, Field(ge=1, le=2**53 - 1)]


class NotificationOut(BaseModel):
    """One notification sent, or attempted, to a user."""

    id: int
    recipient_id: int
    channel: str
    template: str
    reference: str
    status: str
    error: str | None
    created_at: datetime


def list_notifications(user_id: UserId, emails: EmailService) -> list[NotificationOut]:
    """Return every notification sent or attempted to a user, oldest first."""
    return [NotificationOut(**record) for record in emails.notifications_for(user_id)]


def add_routes(module: Module) -> None:
    """Declare the module's HTTP routes: a user reads their own notifications; operators all."""
    module.route(
        "GET", "/users/{user_id}/notifications", allow=owner("user_id") | role("operator")
    )(list_notifications)

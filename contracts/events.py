"""Event contracts of the Aura platform: every standard event of the seed, version 1.

Importing this module registers each contract in ``aura.events.default_catalog``, so every bus
that uses the default catalog validates these events on publish.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aura.events import event_contract

__all__ = [
    "NotificationFailedEvent",
    "NotificationSentEvent",
    "PaymentCompletedEvent",
    "PaymentFailedEvent",
    "SubscriptionActivatedEvent",
    "TherapySessionCancelledEvent",
    "TherapySessionCompletedEvent",
    "TherapySessionScheduledEvent",
    "TherapySessionStartedEvent",
    "UserDeactivatedEvent",
    "UserRegisteredEvent",
    "UserUpdatedEvent",
]


# --- users ---------------------------------------------------------------------------------------


@event_contract("user.registered", version=1)
@dataclass(frozen=True)
class UserRegisteredEvent:
    """A patient or therapist joined the platform."""

    user_id: int
    email: str
    name: str
    role: str
    registered_at: datetime


@event_contract("user.updated", version=1)
@dataclass(frozen=True)
class UserUpdatedEvent:
    """A user's profile changed; ``changed_fields`` names what changed."""

    user_id: int
    changed_fields: list[str]
    updated_at: datetime


@event_contract("user.deactivated", version=1)
@dataclass(frozen=True)
class UserDeactivatedEvent:
    """A user's account was deactivated; their future sessions are cancelled."""

    user_id: int
    role: str
    deactivated_at: datetime


# --- therapy sessions ----------------------------------------------------------------------------


@event_contract("therapy_session.scheduled", version=1)
@dataclass(frozen=True)
class TherapySessionScheduledEvent:
    """A session was booked (the seed's dataclass, with a default session type)."""

    session_id: int
    patient_id: int
    therapist_id: int
    scheduled_at: datetime
    session_type: str = "individual"
    correlation_id: str | None = None


@event_contract("therapy_session.started", version=1)
@dataclass(frozen=True)
class TherapySessionStartedEvent:
    """A scheduled session began."""

    session_id: int
    patient_id: int
    therapist_id: int
    started_at: datetime


@event_contract("therapy_session.completed", version=1)
@dataclass(frozen=True)
class TherapySessionCompletedEvent:
    """A session ended normally; billing captures its charge."""

    session_id: int
    patient_id: int
    therapist_id: int
    completed_at: datetime


@event_contract("therapy_session.cancelled", version=1)
@dataclass(frozen=True)
class TherapySessionCancelledEvent:
    """A scheduled session was called off; billing voids its charge."""

    session_id: int
    patient_id: int
    therapist_id: int
    reason: str
    cancelled_at: datetime


# --- payments ------------------------------------------------------------------------------------


@event_contract("payment.completed", version=1)
@dataclass(frozen=True)
class PaymentCompletedEvent:
    """A charge was captured."""

    payment_id: int
    patient_id: int
    amount_cents: int
    currency: str
    paid_at: datetime
    session_id: int | None = None


@event_contract("payment.failed", version=1)
@dataclass(frozen=True)
class PaymentFailedEvent:
    """A charge could not be captured; the patient is told."""

    payment_id: int
    patient_id: int
    amount_cents: int
    currency: str
    reason: str
    failed_at: datetime
    session_id: int | None = None


@event_contract("subscription.activated", version=1)
@dataclass(frozen=True)
class SubscriptionActivatedEvent:
    """A user started a subscription plan."""

    subscription_id: int
    user_id: int
    plan: str
    activated_at: datetime


# --- notifications -------------------------------------------------------------------------------


@event_contract("notification.sent", version=1)
@dataclass(frozen=True)
class NotificationSentEvent:
    """A notification left the platform."""

    notification_id: int
    recipient_id: int
    channel: str
    template: str
    reference: str
    sent_at: datetime


@event_contract("notification.failed", version=1)
@dataclass(frozen=True)
class NotificationFailedEvent:
    """A notification could not be sent; what caused it is not undone."""

    notification_id: int
    recipient_id: int
    channel: str
    template: str
    reference: str
    error: str
    failed_at: datetime

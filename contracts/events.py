"""Event contracts of the Aura platform: every standard event of the seed, version 1, and the
versions after it (``therapy_session.scheduled`` is at version 2, with an upcaster from 1).

Importing this module registers each contract in ``aura.events.default_catalog``, so every bus
that uses the default catalog validates these events on publish. Modules publish instances,
``bus.publish(TherapySessionScheduledEvent(...))``, and handlers annotated with a contract class
receive one; the data on the bus is the same as the seed's dicts carried.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import PlainSerializer, SerializerFunctionWrapHandler, model_serializer

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
    "TherapySessionScheduledEventV1",
    "TherapySessionStartedEvent",
    "Timestamp",
    "UserDeactivatedEvent",
    "UserRegisteredEvent",
    "UserUpdatedEvent",
]

Timestamp = Annotated[
    datetime, PlainSerializer(datetime.isoformat, return_type=str, when_used="json")
]
"""A timezone-aware moment, written in an event's data as ``datetime.isoformat()`` writes it.

``2030-01-07T10:00:00+00:00``, as the seed's publishers wrote it by hand, rather than pydantic's
``...Z``: an event published as an instance carries the same data as one published as a dict.
"""


# --- users ---------------------------------------------------------------------------------------


@event_contract("user.registered", version=1)
@dataclass(frozen=True)
class UserRegisteredEvent:
    """A patient or therapist joined the platform."""

    user_id: int
    email: str
    name: str
    role: str
    registered_at: Timestamp


@event_contract("user.updated", version=1)
@dataclass(frozen=True)
class UserUpdatedEvent:
    """A user's profile changed; ``changed_fields`` names what changed."""

    user_id: int
    changed_fields: list[str]
    updated_at: Timestamp


@event_contract("user.deactivated", version=1)
@dataclass(frozen=True)
class UserDeactivatedEvent:
    """A user's account was deactivated; their future sessions are cancelled."""

    user_id: int
    role: str
    deactivated_at: Timestamp


# --- therapy sessions ----------------------------------------------------------------------------


@event_contract("therapy_session.scheduled", version=1)
@dataclass(frozen=True)
class TherapySessionScheduledEventV1:
    """A session was booked: the seed's shape, version 1 (read as version 2 by its upcaster)."""

    session_id: int
    patient_id: int
    therapist_id: int
    scheduled_at: Timestamp
    session_type: str = "individual"
    correlation_id: str | None = None


SESSION_MINUTES = {"individual": 50, "couples": 80, "group": 90}
"""How long a session of each type lasts: what a version 1 event, which said nothing of it,
is read as."""


def scheduled_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 of ``therapy_session.scheduled`` read as version 2: its duration from its type."""
    minutes = SESSION_MINUTES.get(data.get("session_type", "individual"), 50)
    return {"duration_minutes": minutes, **data}  # a duration already there is kept


@event_contract("therapy_session.scheduled", version=2, upcasters={1: scheduled_v1_to_v2})
@dataclass(frozen=True)
class TherapySessionScheduledEvent:
    """A session was booked, for how long (version 2: ``duration_minutes`` is new, and
    required; stored version 1 events get their type's usual length)."""

    session_id: int
    patient_id: int
    therapist_id: int
    scheduled_at: Timestamp
    duration_minutes: int
    session_type: str = "individual"
    correlation_id: str | None = None

    @model_serializer(mode="wrap")
    def _without_absent_correlation_id(
        self, serialize: SerializerFunctionWrapHandler
    ) -> dict[str, Any]:
        # The envelope carries the flow's correlation id; this seed field is written only when
        # given, so the data stays what the seed's publishers sent.
        data: dict[str, Any] = serialize(self)
        if data.get("correlation_id") is None:
            data.pop("correlation_id", None)
        return data


@event_contract("therapy_session.started", version=1)
@dataclass(frozen=True)
class TherapySessionStartedEvent:
    """A scheduled session began."""

    session_id: int
    patient_id: int
    therapist_id: int
    started_at: Timestamp


@event_contract("therapy_session.completed", version=1)
@dataclass(frozen=True)
class TherapySessionCompletedEvent:
    """A session ended normally; billing captures its charge."""

    session_id: int
    patient_id: int
    therapist_id: int
    completed_at: Timestamp


@event_contract("therapy_session.cancelled", version=1)
@dataclass(frozen=True)
class TherapySessionCancelledEvent:
    """A scheduled session was called off; billing voids its charge."""

    session_id: int
    patient_id: int
    therapist_id: int
    reason: str
    cancelled_at: Timestamp


# --- payments ------------------------------------------------------------------------------------


@event_contract("payment.completed", version=1)
@dataclass(frozen=True)
class PaymentCompletedEvent:
    """A charge was captured."""

    payment_id: int
    patient_id: int
    amount_cents: int
    currency: str
    paid_at: Timestamp
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
    failed_at: Timestamp
    session_id: int | None = None


@event_contract("subscription.activated", version=1)
@dataclass(frozen=True)
class SubscriptionActivatedEvent:
    """A user started a subscription plan."""

    subscription_id: int
    user_id: int
    plan: str
    activated_at: Timestamp


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
    sent_at: Timestamp


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
    failed_at: Timestamp

"""Billing's event handlers: charge booked sessions, capture completed ones, void cancelled ones.

Each is annotated with its event's contract class, so the bus hands it an instance, and is safe to
run twice for the same event, since dead letters can be retried: the session id is the key of
its one charge.
"""

from __future__ import annotations

import logging

from contracts.events import (
    TherapySessionCancelledEvent,
    TherapySessionCompletedEvent,
    TherapySessionScheduledEvent,
)
from modules.billing.application import BillingService
from modules.billing.domain import DEFAULT_SESSION_TYPE, ChargeStatus

__all__ = ["on_session_cancelled", "on_session_completed", "on_session_scheduled"]

logger = logging.getLogger(__name__)


def on_session_scheduled(
    event: TherapySessionScheduledEvent, billing_service: BillingService
) -> None:
    """Open the pending charge of a booked session; a redelivery finds it already open."""
    billing_service.create_session_charge(
        event.patient_id,
        event.session_id,
        session_type=event.session_type or DEFAULT_SESSION_TYPE,
    )


def on_session_completed(
    event: TherapySessionCompletedEvent, billing_service: BillingService
) -> None:
    """Capture a completed session's charge, unless an earlier delivery already settled it.

    A session without a charge raises NotFoundError on purpose: the event becomes a dead letter
    that someone can look at and retry, rather than a session silently never billed.
    """
    charge = billing_service.get_session_charge(event.session_id)
    if charge is not None and charge["status"] != ChargeStatus.PENDING:
        logger.info("Charge for session %s is already %s.", event.session_id, charge["status"])
        return
    billing_service.capture_session_charge(event.session_id)


def on_session_cancelled(
    event: TherapySessionCancelledEvent, billing_service: BillingService
) -> None:
    """Void a cancelled session's pending charge; a session without one needs nothing."""
    billing_service.void_session_charge(event.session_id)

"""Billing's event handlers: charge booked sessions, capture completed ones, void cancelled ones.

Each is safe to run twice for the same event, since dead letters can be retried: the session id
is the key of its one charge.
"""

from __future__ import annotations

import logging
from typing import Any

from modules.billing.application import BillingService
from modules.billing.domain import DEFAULT_SESSION_TYPE, ChargeStatus

__all__ = ["on_session_cancelled", "on_session_completed", "on_session_scheduled"]

logger = logging.getLogger(__name__)


def on_session_scheduled(data: dict[str, Any], billing_service: BillingService) -> None:
    """Open the pending charge of a booked session; a redelivery finds it already open."""
    billing_service.create_session_charge(
        data["patient_id"],
        data["session_id"],
        session_type=data.get("session_type") or DEFAULT_SESSION_TYPE,
    )


def on_session_completed(data: dict[str, Any], billing_service: BillingService) -> None:
    """Capture a completed session's charge, unless an earlier delivery already settled it.

    A session without a charge raises NotFoundError on purpose: the event becomes a dead letter
    that someone can look at and retry, rather than a session silently never billed.
    """
    session_id = data["session_id"]
    charge = billing_service.get_session_charge(session_id)
    if charge is not None and charge["status"] != ChargeStatus.PENDING:
        logger.info("Charge for session %s is already %s.", session_id, charge["status"])
        return
    billing_service.capture_session_charge(session_id)


def on_session_cancelled(data: dict[str, Any], billing_service: BillingService) -> None:
    """Void a cancelled session's pending charge; a session without one needs nothing."""
    billing_service.void_session_charge(data["session_id"])

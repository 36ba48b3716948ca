"""Billing's use cases: charge sessions, capture and void charges, activate subscriptions."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, TypedDict

from aura.bus import EventBus
from contracts.billing import BillingServiceContract
from contracts.errors import NotFoundError
from contracts.events import (
    PaymentCompletedEvent,
    PaymentFailedEvent,
    SubscriptionActivatedEvent,
)
from modules.billing.domain import (
    DEFAULT_SESSION_TYPE,
    Accounts,
    BillingRepository,
    BillingUnitOfWork,
    Charge,
    ChargeStatus,
    Payment,
    PaymentGateway,
    PaymentStatus,
    Subscription,
    ensure_may_subscribe,
    ensure_no_active_subscription,
    plan_named,
)

__all__ = ["BillingService"]

logger = logging.getLogger(__name__)


class BillingService(BillingServiceContract):
    """Charges for therapy sessions, captured through a payment gateway, and subscriptions.

    Its ports (repository, payment gateway, unit of work, the accounts a subscription is for)
    come through the constructor; the module's ``__init__`` wires the adapters.
    """

    def __init__(
        self,
        repository: BillingRepository,
        gateway: PaymentGateway,
        unit_of_work: BillingUnitOfWork,
        bus: EventBus,
        accounts: Accounts,
    ) -> None:
        self.repository = repository
        self.gateway = gateway
        self.unit_of_work = unit_of_work
        self.bus = bus
        self.accounts = accounts

    # --- session charges ------------------------------------------------------------------------

    def create_session_charge(
        self, patient_id: int, session_id: int, *, session_type: str = DEFAULT_SESSION_TYPE
    ) -> dict[str, Any]:
        """Create the pending charge of a booked session, priced by ``session_type``.

        A session has one charge: asking again for the same patient returns the existing charge,
        so a redelivered ``therapy_session.scheduled`` event does not charge twice.
        """
        with self.unit_of_work.transaction():
            existing = self.repository.charge_for_session(session_id)
            if existing is not None:
                existing.ensure_same_patient(patient_id)
                logger.info("Session %s already has charge %s.", session_id, existing.id)
                return existing.to_dict()
            now = datetime.now(UTC)
            charge = Charge.for_session(session_id, patient_id, session_type, now)
            return self.repository.add_charge(charge).to_dict()

    def capture_session_charge(self, session_id: int) -> dict[str, Any]:
        """Capture a session's pending charge through the payment gateway.

        The charge becomes ``captured`` and ``payment.completed`` is published, or, when the
        gateway declines, ``failed`` and ``payment.failed``. Either way one payment is recorded.
        """
        with self.unit_of_work.transaction():
            # Read, charge and write in one transaction: a concurrent capture or void waits for
            # it and then finds the charge settled, so a session is never charged twice, nor
            # after it was voided. The per-session reference also lets a provider recognise a
            # retried capture.
            charge = self._charge(session_id)
            charge.ensure_capturable()
            result = self.gateway.charge(
                charge.patient_id, charge.amount_cents, charge.currency, charge.reference
            )
            now = datetime.now(UTC)
            settled = charge.settled(result, now)
            self.repository.update_charge(settled)
            payment = self.repository.add_payment(Payment.of(settled, result, now))
            self._publish_payment(payment)  # recorded with the payment, delivered on commit
        return settled.to_dict()

    def void_session_charge(self, session_id: int) -> dict[str, Any] | None:
        """Void a session's pending charge; ``None`` when it has none.

        A charge that is no longer pending is returned unchanged: a captured one needs a refund,
        which is a person's decision, so it is only logged.
        """
        with self.unit_of_work.transaction():
            charge = self.repository.charge_for_session(session_id)
            if charge is None:
                return None
            if not charge.voidable:
                _log_not_voided(charge)
                return charge.to_dict()
            voided = charge.voided(datetime.now(UTC))
            self.repository.update_charge(voided)
            return voided.to_dict()

    def get_session_charge(self, session_id: int) -> dict[str, Any] | None:
        """Return a session's charge, or ``None``."""
        charge = self.repository.charge_for_session(session_id)
        return None if charge is None else charge.to_dict()

    def charges_for_patient(self, patient_id: int) -> list[dict[str, Any]]:
        """Return a patient's session charges, oldest first."""
        return [charge.to_dict() for charge in self.repository.charges_for_patient(patient_id)]

    # --- subscriptions --------------------------------------------------------------------------

    def activate_subscription(self, user_id: int, plan: str) -> dict[str, Any]:
        """Start a subscription plan (``basic`` or ``premium``) for a user.

        Refuses an unknown plan, a user who does not exist or is deactivated (the users
        module says), and a second active subscription of the same user.
        """
        chosen = plan_named(plan)
        ensure_may_subscribe(self.accounts, user_id)
        with self.unit_of_work.transaction():
            ensure_no_active_subscription(user_id, self.repository.active_subscription(user_id))
            subscription = self.repository.add_subscription(
                Subscription.start(chosen, user_id, datetime.now(UTC))
            )
            assert subscription.id is not None  # the repository stored it
            # Published inside the transaction: recorded with the plan, delivered on commit.
            self.bus.publish(
                SubscriptionActivatedEvent(
                    subscription_id=subscription.id,
                    user_id=subscription.user_id,
                    plan=subscription.plan,
                    activated_at=subscription.activated_at,
                )
            )
        return subscription.to_dict()

    # --- internals ------------------------------------------------------------------------------

    def _charge(self, session_id: int) -> Charge:
        charge = self.repository.charge_for_session(session_id)
        if charge is None:
            raise NotFoundError(f"No charge for session {session_id}.")
        return charge

    def _publish_payment(self, payment: Payment) -> None:
        assert payment.id is not None  # the repository stored it
        attempt: _PaymentAttempt = {
            "payment_id": payment.id,
            "patient_id": payment.patient_id,
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
            "session_id": payment.session_id,
        }
        if payment.status is PaymentStatus.COMPLETED:
            self.bus.publish(PaymentCompletedEvent(**attempt, paid_at=payment.created_at))
        else:
            reason = payment.reason or ""
            self.bus.publish(
                PaymentFailedEvent(**attempt, reason=reason, failed_at=payment.created_at)
            )


class _PaymentAttempt(TypedDict):
    """The fields both ``payment.*`` events share."""

    payment_id: int
    patient_id: int
    amount_cents: int
    currency: str
    session_id: int | None


def _log_not_voided(charge: Charge) -> None:
    if charge.status is ChargeStatus.VOID:  # a redelivered cancellation: nothing to tell
        logger.info("Charge for session %s is already void.", charge.session_id)
    else:
        logger.warning(
            "Charge for session %s is %s, so it was not voided; refund it by hand if the "
            "patient is owed money.",
            charge.session_id,
            charge.status,
        )

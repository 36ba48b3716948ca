"""Billing's domain: charges for sessions, payments, subscription plans and their rules.

Pure Python: no database, no bus. State changes return new frozen objects; refusals raise
:class:`~contracts.errors.BusinessRuleError` before anything is written.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any, Protocol

from aura.exceptions import ServiceNotAvailableError
from contracts.errors import BusinessRuleError, NotFoundError
from contracts.unit_of_work import UnitOfWork

__all__ = [
    "CURRENCY",
    "DEFAULT_SESSION_TYPE",
    "PLANS",
    "SESSION_PRICES_CENTS",
    "Accounts",
    "AccountsUnavailableError",
    "BillingRepository",
    "BillingUnitOfWork",
    "Charge",
    "ChargeStatus",
    "Payment",
    "PaymentGateway",
    "PaymentResult",
    "PaymentStatus",
    "Plan",
    "Subscription",
    "SubscriptionStatus",
    "ensure_may_subscribe",
    "ensure_no_active_subscription",
    "plan_named",
    "session_price_cents",
]

CURRENCY = "EUR"
DEFAULT_SESSION_TYPE = "individual"
SESSION_PRICES_CENTS: Mapping[str, int] = MappingProxyType(
    {"individual": 9000, "couples": 12000, "group": 4000}
)


def session_price_cents(session_type: str | None) -> int:
    """Return the price of a session type; an unknown or missing type is billed as individual."""
    default = SESSION_PRICES_CENTS[DEFAULT_SESSION_TYPE]
    return SESSION_PRICES_CENTS.get(session_type or DEFAULT_SESSION_TYPE, default)


# --- payment gateway -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class PaymentResult:
    """What a payment gateway answered: approved (with a transaction id) or declined (a reason)."""

    approved: bool
    reason: str | None = None
    transaction_id: str | None = None


class PaymentGateway(ABC):
    """Takes money from a patient; pluggable so tests and deployments choose the provider."""

    @abstractmethod
    def charge(
        self, patient_id: int, amount_cents: int, currency: str, reference: str
    ) -> PaymentResult:
        """Charge ``amount_cents``; ``reference`` is the idempotency key of the attempt."""


# --- charges -------------------------------------------------------------------------------------


class ChargeStatus(StrEnum):
    """Where a session's charge stands."""

    PENDING = "pending"
    CAPTURED = "captured"
    FAILED = "failed"
    VOID = "void"


@dataclasses.dataclass(frozen=True, slots=True)
class Charge:
    """The amount a patient owes for one session; pending until captured or voided."""

    session_id: int
    patient_id: int
    amount_cents: int
    currency: str
    status: ChargeStatus
    created_at: datetime
    updated_at: datetime
    id: int | None = None

    @classmethod
    def for_session(
        cls, session_id: int, patient_id: int, session_type: str | None, now: datetime
    ) -> Charge:
        """Open the pending charge of a booked session, priced by its type."""
        return cls(
            session_id=session_id,
            patient_id=patient_id,
            amount_cents=session_price_cents(session_type),
            currency=CURRENCY,
            status=ChargeStatus.PENDING,
            created_at=now,
            updated_at=now,
        )

    @property
    def reference(self) -> str:
        """The gateway reference: one per session, so a retried capture cannot charge twice."""
        return f"session-{self.session_id}"

    def ensure_same_patient(self, patient_id: int) -> None:
        """Refuse to reuse this charge for another patient (a conflicting redelivery)."""
        if patient_id != self.patient_id:
            raise BusinessRuleError(
                f"Session {self.session_id} is already charged to patient {self.patient_id}, "
                f"not patient {patient_id}."
            )

    def ensure_capturable(self) -> None:
        """Refuse to capture a charge that is no longer pending."""
        if self.status is not ChargeStatus.PENDING:
            raise BusinessRuleError(
                f"Charge for session {self.session_id} is {self.status}; only a pending charge "
                "can be captured."
            )

    def settled(self, result: PaymentResult, now: datetime) -> Charge:
        """Return the charge captured (approved) or failed (declined) by the gateway."""
        self.ensure_capturable()
        status = ChargeStatus.CAPTURED if result.approved else ChargeStatus.FAILED
        return dataclasses.replace(self, status=status, updated_at=now)

    @property
    def voidable(self) -> bool:
        """Whether the charge can still be voided (only a pending one can)."""
        return self.status is ChargeStatus.PENDING

    def voided(self, now: datetime) -> Charge:
        """Return the charge voided; only a pending charge can be."""
        if not self.voidable:
            raise BusinessRuleError(
                f"Charge for session {self.session_id} is {self.status}; only a pending charge "
                "can be voided."
            )
        return dataclasses.replace(self, status=ChargeStatus.VOID, updated_at=now)

    def to_dict(self) -> dict[str, Any]:
        """Return the charge as the service contract shows it."""
        return {
            "id": self.id,
            "session_id": self.session_id,
            "patient_id": self.patient_id,
            "amount_cents": self.amount_cents,
            "currency": self.currency,
            "status": str(self.status),
        }


# --- payments ------------------------------------------------------------------------------------


class PaymentStatus(StrEnum):
    """The outcome of one capture attempt."""

    COMPLETED = "completed"
    FAILED = "failed"


@dataclasses.dataclass(frozen=True, slots=True)
class Payment:
    """One capture attempt of a charge, as the gateway answered it."""

    charge_id: int
    session_id: int
    patient_id: int
    amount_cents: int
    currency: str
    status: PaymentStatus
    reason: str | None
    transaction_id: str | None
    created_at: datetime
    id: int | None = None

    @classmethod
    def of(cls, charge: Charge, result: PaymentResult, now: datetime) -> Payment:
        """Record the gateway's answer for ``charge``; a decline always carries a reason."""
        if charge.id is None:
            raise ValueError("A payment needs a stored charge (with an id).")
        status = PaymentStatus.COMPLETED if result.approved else PaymentStatus.FAILED
        reason = None if result.approved else (result.reason or "declined by the payment gateway")
        return cls(
            charge_id=charge.id,
            session_id=charge.session_id,
            patient_id=charge.patient_id,
            amount_cents=charge.amount_cents,
            currency=charge.currency,
            status=status,
            reason=reason,
            transaction_id=result.transaction_id,
            created_at=now,
        )


# --- subscriptions -------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Plan:
    """A subscription plan: its name and monthly price."""

    name: str
    amount_cents: int
    interval: str = "monthly"
    currency: str = CURRENCY


PLANS: Mapping[str, Plan] = MappingProxyType(
    {"basic": Plan("basic", 2900), "premium": Plan("premium", 4900)}
)


def plan_named(name: str) -> Plan:
    """Return the plan called ``name``; refuse an unknown one, naming the plans there are."""
    plan = PLANS.get(name)
    if plan is None:
        raise BusinessRuleError(f"Unknown plan {name!r}. Choose one of: {', '.join(PLANS)}.")
    return plan


class SubscriptionStatus(StrEnum):
    """Where a subscription stands."""

    ACTIVE = "active"


@dataclasses.dataclass(frozen=True, slots=True)
class Subscription:
    """A user's subscription to a plan."""

    user_id: int
    plan: str
    amount_cents: int
    currency: str
    interval: str
    status: SubscriptionStatus
    activated_at: datetime
    id: int | None = None

    @classmethod
    def start(cls, plan: Plan, user_id: int, now: datetime) -> Subscription:
        """Activate ``plan`` for a user."""
        return cls(
            user_id=user_id,
            plan=plan.name,
            amount_cents=plan.amount_cents,
            currency=plan.currency,
            interval=plan.interval,
            status=SubscriptionStatus.ACTIVE,
            activated_at=now,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the subscription as the service shows it."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "plan": self.plan,
            "amount_cents": self.amount_cents,
            "currency": self.currency,
            "interval": self.interval,
            "status": str(self.status),
            "activated_at": self.activated_at.isoformat(),
        }


class Accounts(Protocol):
    """Who may hold a subscription: the users module answers, through its contract.

    Any ``UserServiceContract`` satisfies it (a test may pass a fake of the users service).
    """

    def get_user_by_id(self, user_id: int) -> dict[str, Any] | None:
        """Return the user, or ``None`` when there is no such user."""
        ...

    def is_user_active(self, user_id: int) -> bool:
        """Tell whether the user is active (an unknown user is not)."""
        ...


class AccountsUnavailableError(ServiceNotAvailableError):
    """The users module cannot be asked, so a subscription cannot be checked."""


def ensure_may_subscribe(accounts: Accounts, user_id: int) -> None:
    """Refuse a subscription for a user who does not exist, then for one who is not active."""
    if accounts.get_user_by_id(user_id) is None:
        raise NotFoundError(
            f"User {user_id} does not exist, so no subscription was started. Subscribe a "
            "registered user's id."
        )
    if not accounts.is_user_active(user_id):
        raise BusinessRuleError(
            f"User {user_id} is deactivated, so no subscription was started. Only an active "
            "user can start a subscription."
        )


def ensure_no_active_subscription(user_id: int, active: Subscription | None) -> None:
    """Refuse a second active subscription for the same user."""
    if active is not None:
        raise BusinessRuleError(
            f"User {user_id} already has an active {active.plan} subscription (id {active.id}). "
            "A user can hold one active subscription at a time."
        )


# --- repository ----------------------------------------------------------------------------------


class BillingRepository(ABC):
    """Where billing keeps its charges, payments and subscriptions."""

    @abstractmethod
    def charge_for_session(self, session_id: int) -> Charge | None:
        """Return the charge of a session, or ``None``."""

    @abstractmethod
    def charges_for_patient(self, patient_id: int) -> list[Charge]:
        """Return a patient's charges, oldest first."""

    @abstractmethod
    def add_charge(self, charge: Charge) -> Charge:
        """Store a new charge; return it with its id."""

    @abstractmethod
    def update_charge(self, charge: Charge) -> None:
        """Store a stored charge's new status."""

    @abstractmethod
    def add_payment(self, payment: Payment) -> Payment:
        """Store a capture attempt; return it with its id."""

    @abstractmethod
    def active_subscription(self, user_id: int) -> Subscription | None:
        """Return the user's active subscription, or ``None``."""

    @abstractmethod
    def add_subscription(self, subscription: Subscription) -> Subscription:
        """Store a new subscription; return it with its id."""


class BillingUnitOfWork(UnitOfWork, Protocol):
    """The transactions billing's use cases run in (the module's ``__init__`` wires them)."""

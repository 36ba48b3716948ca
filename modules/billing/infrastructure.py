"""Billing's infrastructure: SQLite storage and the payment gateways."""

from __future__ import annotations

import dataclasses
import sqlite3
from datetime import UTC, datetime

from aura.database import Database
from modules.billing.domain import (
    BillingRepository,
    BillingUnitOfWork,
    Charge,
    ChargeStatus,
    Payment,
    PaymentGateway,
    PaymentResult,
    Subscription,
    SubscriptionStatus,
)

__all__ = [
    "DecliningPaymentGateway",
    "GatewayAttempt",
    "LocalPaymentGateway",
    "SqliteBillingRepository",
    "create_tables",
    "unit_of_work",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS billing_charges (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL UNIQUE,
    patient_id INTEGER NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'captured', 'failed', 'void')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS billing_charges_patient ON billing_charges (patient_id);
CREATE TABLE IF NOT EXISTS billing_payments (
    id INTEGER PRIMARY KEY,
    charge_id INTEGER NOT NULL REFERENCES billing_charges (id),
    session_id INTEGER NOT NULL,
    patient_id INTEGER NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed', 'failed')),
    reason TEXT,
    transaction_id TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS billing_subscriptions (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    plan TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    interval TEXT NOT NULL,
    status TEXT NOT NULL,
    activated_at TEXT NOT NULL
);
-- The database, too, holds at most one active subscription per user.
CREATE UNIQUE INDEX IF NOT EXISTS billing_subscriptions_one_active
    ON billing_subscriptions (user_id) WHERE status = 'active';
CREATE TABLE IF NOT EXISTS billing_gateway_transactions (
    id INTEGER PRIMARY KEY,
    reference TEXT NOT NULL UNIQUE,
    patient_id INTEGER NOT NULL,
    amount_cents INTEGER NOT NULL,
    currency TEXT NOT NULL,
    created_at TEXT NOT NULL
);
"""


def create_tables(database: Database) -> None:
    """Create billing's tables (the module's start hook); existing tables are kept."""
    database.executescript(SCHEMA)


def unit_of_work(database: Database) -> BillingUnitOfWork:
    """Return the module's unit of work: the platform's database, which holds the events too."""
    return database


class SqliteBillingRepository(BillingRepository):
    """Billing's tables in the platform's SQLite database."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def charge_for_session(self, session_id: int) -> Charge | None:
        """Return the charge of a session, or ``None``."""
        row = self.database.query_one(
            "SELECT * FROM billing_charges WHERE session_id = ?", (session_id,)
        )
        return None if row is None else _charge(row)

    def charges_for_patient(self, patient_id: int) -> list[Charge]:
        """Return a patient's charges, oldest first."""
        rows = self.database.query(
            "SELECT * FROM billing_charges WHERE patient_id = ? ORDER BY id", (patient_id,)
        )
        return [_charge(row) for row in rows]

    def add_charge(self, charge: Charge) -> Charge:
        """Store a new charge; return it with its id."""
        cursor = self.database.execute(
            "INSERT INTO billing_charges (session_id, patient_id, amount_cents, currency, status,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                charge.session_id,
                charge.patient_id,
                charge.amount_cents,
                charge.currency,
                str(charge.status),
                charge.created_at.isoformat(),
                charge.updated_at.isoformat(),
            ),
        )
        return dataclasses.replace(charge, id=cursor.lastrowid)

    def update_charge(self, charge: Charge) -> None:
        """Store a stored charge's new status."""
        self.database.execute(
            "UPDATE billing_charges SET status = ?, updated_at = ? WHERE id = ?",
            (str(charge.status), charge.updated_at.isoformat(), charge.id),
        )

    def add_payment(self, payment: Payment) -> Payment:
        """Store a capture attempt; return it with its id."""
        cursor = self.database.execute(
            "INSERT INTO billing_payments (charge_id, session_id, patient_id, amount_cents,"
            " currency, status, reason, transaction_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                payment.charge_id,
                payment.session_id,
                payment.patient_id,
                payment.amount_cents,
                payment.currency,
                str(payment.status),
                payment.reason,
                payment.transaction_id,
                payment.created_at.isoformat(),
            ),
        )
        return dataclasses.replace(payment, id=cursor.lastrowid)

    def active_subscription(self, user_id: int) -> Subscription | None:
        """Return the user's active subscription, or ``None``."""
        row = self.database.query_one(
            "SELECT * FROM billing_subscriptions WHERE user_id = ? AND status = ?",
            (user_id, str(SubscriptionStatus.ACTIVE)),
        )
        return None if row is None else _subscription(row)

    def add_subscription(self, subscription: Subscription) -> Subscription:
        """Store a new subscription; return it with its id."""
        cursor = self.database.execute(
            "INSERT INTO billing_subscriptions (user_id, plan, amount_cents, currency, interval,"
            " status, activated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                subscription.user_id,
                subscription.plan,
                subscription.amount_cents,
                subscription.currency,
                subscription.interval,
                str(subscription.status),
                subscription.activated_at.isoformat(),
            ),
        )
        return dataclasses.replace(subscription, id=cursor.lastrowid)


def _charge(row: sqlite3.Row) -> Charge:
    return Charge(
        id=row["id"],
        session_id=row["session_id"],
        patient_id=row["patient_id"],
        amount_cents=row["amount_cents"],
        currency=row["currency"],
        status=ChargeStatus(row["status"]),
        created_at=datetime.fromisoformat(row["created_at"]),
        updated_at=datetime.fromisoformat(row["updated_at"]),
    )


def _subscription(row: sqlite3.Row) -> Subscription:
    return Subscription(
        id=row["id"],
        user_id=row["user_id"],
        plan=row["plan"],
        amount_cents=row["amount_cents"],
        currency=row["currency"],
        interval=row["interval"],
        status=SubscriptionStatus(row["status"]),
        activated_at=datetime.fromisoformat(row["activated_at"]),
    )


# --- payment gateways ----------------------------------------------------------------------------


class LocalPaymentGateway(PaymentGateway):
    """The default gateway: approves every charge and books it in ``billing_gateway_transactions``.

    Like a real provider it treats ``reference`` as an idempotency key: charging the same
    reference again returns the first transaction instead of taking the money twice.
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    def charge(
        self, patient_id: int, amount_cents: int, currency: str, reference: str
    ) -> PaymentResult:
        """Approve the charge; return its transaction id (``local-<n>``)."""
        with self.database.transaction():
            row = self.database.query_one(
                "SELECT id FROM billing_gateway_transactions WHERE reference = ?", (reference,)
            )
            if row is not None:
                return PaymentResult(approved=True, transaction_id=f"local-{row['id']}")
            cursor = self.database.execute(
                "INSERT INTO billing_gateway_transactions (reference, patient_id, amount_cents,"
                " currency, created_at) VALUES (?, ?, ?, ?, ?)",
                (reference, patient_id, amount_cents, currency, datetime.now(UTC).isoformat()),
            )
        return PaymentResult(approved=True, transaction_id=f"local-{cursor.lastrowid}")


@dataclasses.dataclass(frozen=True, slots=True)
class GatewayAttempt:
    """One call a test gateway received."""

    patient_id: int
    amount_cents: int
    currency: str
    reference: str


class DecliningPaymentGateway(PaymentGateway):
    """A test double that declines every charge with ``reason`` and records each attempt."""

    def __init__(self, reason: str = "card declined") -> None:
        self.reason = reason
        self.attempts: list[GatewayAttempt] = []

    def charge(
        self, patient_id: int, amount_cents: int, currency: str, reference: str
    ) -> PaymentResult:
        """Decline the charge, remembering that it was asked for."""
        self.attempts.append(GatewayAttempt(patient_id, amount_cents, currency, reference))
        return PaymentResult(approved=False, reason=self.reason)

"""The billing module: charges for therapy sessions and subscription plans.

It reacts to session events (charge when booked, capture when completed, void when cancelled)
and depends on ``users`` only to check, through its ``UserService``, that a subscription is for
a user who exists and is active (the ``Accounts`` adapter wired here).
"""

from __future__ import annotations

from aura.module import Module
from contracts.billing import BillingServiceContract
from modules.billing.api import add_routes
from modules.billing.application import BillingService
from modules.billing.domain import Accounts, BillingRepository, BillingUnitOfWork, PaymentGateway
from modules.billing.handlers import (
    on_session_cancelled,
    on_session_completed,
    on_session_scheduled,
)
from modules.billing.infrastructure import (
    LocalPaymentGateway,
    RegistryAccounts,
    SqliteBillingRepository,
    create_tables,
    unit_of_work,
)

__all__ = ["module"]

module = Module(
    "billing",
    depends_on=["users"],
    description="Charges for therapy sessions, captured through a payment gateway; subscriptions.",
)
module.publishes("payment.completed", "payment.failed", "subscription.activated")
module.provide(BillingRepository, SqliteBillingRepository)
module.provide(PaymentGateway, LocalPaymentGateway)
module.provide(Accounts, RegistryAccounts)
# Transient: the unit of work is the platform's database, which the container must not dispose.
module.provide(BillingUnitOfWork, unit_of_work, lifetime="transient")
module.add_service("BillingService", BillingService, contract=BillingServiceContract)
module.on_start(create_tables)
module.subscribe("therapy_session.scheduled")(on_session_scheduled)
module.subscribe("therapy_session.completed")(on_session_completed)
module.subscribe("therapy_session.cancelled")(on_session_cancelled)
add_routes(module)

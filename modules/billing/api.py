"""The billing module over HTTP: a patient's charges and subscription activation.

Served by the gateway under ``/api/billing``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from aura.access import owner, role
from aura.module import Module
from contracts.http import BodyId, Id
from modules.billing.application import BillingService

__all__ = ["ChargeOut", "NewSubscription", "SubscriptionOut", "add_routes"]


class ChargeOut(BaseModel):
    """What a patient owes for one session."""

    id: int
    session_id: int
    patient_id: int
    amount_cents: int
    currency: str
    status: str


class NewSubscription(BaseModel):
    """A plan to start for a user."""

    model_config = ConfigDict(extra="forbid")  # a field it does not know: 422, not dropped

    user_id: BodyId
    plan: Literal["basic", "premium"]


class SubscriptionOut(BaseModel):
    """A user's subscription to a plan."""

    id: int
    user_id: int
    plan: str
    amount_cents: int
    currency: str
    interval: str
    status: str
    activated_at: datetime


def list_charges(patient_id: Id, billing: BillingService) -> list[ChargeOut]:
    """Return a patient's session charges, oldest first."""
    return [ChargeOut(**charge) for charge in billing.charges_for_patient(patient_id)]


def activate_subscription(
    subscription: NewSubscription, billing: BillingService
) -> SubscriptionOut:
    """Start a subscription plan for a user."""
    started = billing.activate_subscription(subscription.user_id, subscription.plan)
    return SubscriptionOut(**started)


OPERATOR = role("operator")


def add_routes(module: Module) -> None:
    """Declare the module's HTTP routes, each with who may call it.

    A patient sees their own charges and starts a plan for themselves; operators do both for
    anyone.
    """
    module.route("GET", "/patients/{patient_id}/charges", allow=owner("patient_id") | OPERATOR)(
        list_charges
    )
    module.route(
        "POST",
        "/subscriptions",
        status_code=201,
        allow=owner("subscription.user_id") | OPERATOR,
    )(activate_subscription)

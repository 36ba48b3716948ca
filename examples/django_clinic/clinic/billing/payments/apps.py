"""The payments app, one of the billing module's two."""

from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    """Payments: part of the billing module."""

    name = "clinic.billing.payments"
    label = "payments"
    aura_module = "clinic.billing"

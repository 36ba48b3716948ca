"""The invoices app, one of the billing module's two."""

from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    """Invoices: part of the billing module."""

    name = "clinic.billing.invoices"
    label = "invoices"
    aura_module = "clinic.billing"

    def ready(self) -> None:
        """Attach the billing module's handlers, now that the models can be imported."""
        from clinic.billing.invoices import handlers  # noqa: F401

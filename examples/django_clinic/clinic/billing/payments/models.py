"""The payments' table."""

from django.db import models

from clinic.billing.invoices.models import Invoice


class Payment(models.Model):
    """Money the front desk took against an invoice (one module: a foreign key is fine)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    amount_cents = models.PositiveIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)

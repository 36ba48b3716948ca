"""The invoices' table."""

from django.db import models


class Invoice(models.Model):
    """What a patient owes for one appointment: ``open``, then ``paid`` or ``void``."""

    class Status(models.TextChoices):
        OPEN = "open"
        PAID = "paid"
        VOID = "void"

    # Ids of the appointments and patients modules, not foreign keys.
    appointment_id = models.PositiveBigIntegerField(unique=True)
    patient_id = models.PositiveBigIntegerField(db_index=True)
    amount_cents = models.PositiveIntegerField()
    status = models.CharField(max_length=4, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(auto_now_add=True)

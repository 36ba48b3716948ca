"""The notifications' table."""

from django.db import models


class Notification(models.Model):
    """One message a patient was sent."""

    class Kind(models.TextChoices):
        BOOKED = "booked"
        CANCELLED = "cancelled"

    patient_id = models.PositiveBigIntegerField(db_index=True)  # the patients module's id
    appointment_id = models.PositiveBigIntegerField()  # the appointments module's id
    kind = models.CharField(max_length=10, choices=Kind.choices)
    text = models.TextField()
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("sent_at", "pk")

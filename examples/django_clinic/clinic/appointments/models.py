"""The appointments' table."""

from typing import ClassVar

from django.db import models


class Appointment(models.Model):
    """A patient's appointment with a therapist: ``booked``, then maybe ``cancelled``."""

    class Kind(models.TextChoices):
        INTAKE = "intake"
        SESSION = "session"

    class Status(models.TextChoices):
        BOOKED = "booked"
        CANCELLED = "cancelled"

    FEES_CENTS: ClassVar[dict[str, int]] = {Kind.INTAKE: 15000, Kind.SESSION: 9000}

    # The patients module's id, not a foreign key: modules share ids, not tables.
    patient_id = models.PositiveBigIntegerField(db_index=True)
    therapist = models.CharField(max_length=100)
    starts_at = models.DateTimeField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    fee_cents = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BOOKED)

    class Meta:
        ordering = ("starts_at", "pk")

    def as_json(self) -> dict[str, object]:
        """The appointment as its patient sees it."""
        return {
            "appointment_id": self.pk,
            "therapist": self.therapist,
            "starts_at": self.starts_at.isoformat(),
            "kind": self.kind,
            "fee_cents": self.fee_cents,
            "status": self.status,
        }

"""The patients' table."""

from django.conf import settings
from django.db import models


class Patient(models.Model):
    """A patient of the clinic, who logs in as one Django user."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="patient"
    )
    full_name = models.CharField(max_length=200)
    active = models.BooleanField(default=True, help_text="False once the patient is discharged.")

    def __str__(self) -> str:
        return self.full_name

"""What the patients module offers the others: the PatientDirectory."""

from clinic.contracts import PatientDirectory
from clinic.patients import module
from clinic.patients.models import Patient


@module.service("PatientDirectory", contract=PatientDirectory)
class Directory:
    """The patients' directory, read from the patients' table."""

    def patient_of(self, user_id: int) -> int | None:
        """The id of the patient who logs in as user ``user_id``, or ``None``."""
        found: int | None = (
            Patient.objects.filter(user_id=user_id).values_list("pk", flat=True).first()
        )
        return found

    def is_active(self, patient_id: int) -> bool:
        """Whether patient ``patient_id`` is in care (not discharged)."""
        return Patient.objects.filter(pk=patient_id, active=True).exists()

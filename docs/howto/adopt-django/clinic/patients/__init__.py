"""Patients: who is registered at the clinic."""

from aura import Module

module = Module("patients")


@module.service(name="PatientDirectory")
class PatientDirectory:
    """What other modules may ask about patients."""

    def is_registered(self, patient_id: int) -> bool:
        from clinic.patients.models import Patient

        return Patient.objects.filter(pk=patient_id).exists()

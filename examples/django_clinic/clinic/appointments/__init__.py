"""The appointments module: patients book and cancel their appointments."""

import clinic.contracts  # noqa: F401  (registers the events' contracts)
from aura import Module

module = Module(
    "appointments",
    depends_on=["patients"],  # asks the PatientDirectory who is booking
    description="Patients' appointments with their therapists.",
)
module.publishes("appointment.booked", "appointment.cancelled")

"""What the clinic's modules promise each other: the events they publish and the services they
offer, each with its contract. Modules import these, never each other's code."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aura import event_contract


@event_contract("appointment.booked")
@dataclass
class AppointmentBooked:
    """A patient booked an appointment (appointments)."""

    appointment_id: int
    patient_id: int
    therapist: str
    starts_at: str  # ISO 8601, UTC
    fee_cents: int


@event_contract("appointment.cancelled")
@dataclass
class AppointmentCancelled:
    """A patient cancelled an appointment (appointments)."""

    appointment_id: int
    patient_id: int
    therapist: str
    starts_at: str


@event_contract("invoice.opened")
@dataclass
class InvoiceOpened:
    """Billing opened the invoice of a booked appointment (billing)."""

    invoice_id: int
    appointment_id: int
    patient_id: int
    amount_cents: int


@event_contract("invoice.paid")
@dataclass
class InvoicePaid:
    """An invoice is paid in full (billing)."""

    invoice_id: int
    appointment_id: int
    amount_cents: int


class PatientDirectory(Protocol):
    """The patients module's contract: who is a patient, and whether they may book."""

    def patient_of(self, user_id: int) -> int | None:
        """The id of the patient who logs in as user ``user_id``, or ``None``."""
        ...

    def is_active(self, patient_id: int) -> bool:
        """Whether patient ``patient_id`` is in care (not discharged)."""
        ...

"""What the modules tell each other: the events, typed."""

from dataclasses import dataclass

from aura import event_contract


@event_contract("visit.booked")
@dataclass(frozen=True)
class VisitBooked:
    visit_id: int
    patient_id: int
    fee_cents: int

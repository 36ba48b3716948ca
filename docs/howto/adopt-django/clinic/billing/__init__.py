"""Billing: an invoice for each visit booked."""

from aura import Module
from clinic.contracts import VisitBooked

module = Module("billing")


@module.subscribe("visit.booked", name="open_invoice")
def open_invoice(event: VisitBooked) -> None:
    # A durable delivery runs in an atomic block of its own: this row commits with it.
    from clinic.billing.models import Invoice

    Invoice.objects.create(visit_id=event.visit_id, amount_cents=event.fee_cents)

"""Billing's reactions to appointments: a booking opens an invoice, a cancellation voids it.

A durable delivery runs in an atomic block of its own on Django's connection: what a handler
writes with the ORM commits together with the delivery's COMPLETED mark, or not at all.
"""

from aura import EventBus
from clinic.billing import module
from clinic.billing.invoices.models import Invoice
from clinic.contracts import AppointmentBooked, AppointmentCancelled, InvoiceOpened


@module.subscribe("appointment.booked", name="open_invoice")
def open_invoice(booked: AppointmentBooked, bus: EventBus) -> None:
    """On ``appointment.booked``: an open invoice for the appointment's fee."""
    invoice = Invoice.objects.create(
        appointment_id=booked.appointment_id,
        patient_id=booked.patient_id,
        amount_cents=booked.fee_cents,
    )
    bus.publish(
        InvoiceOpened(
            invoice_id=invoice.pk,
            appointment_id=invoice.appointment_id,
            patient_id=invoice.patient_id,
            amount_cents=invoice.amount_cents,
        )
    )


@module.subscribe("appointment.cancelled", name="void_invoice")
def void_invoice(cancelled: AppointmentCancelled) -> None:
    """On ``appointment.cancelled``: its invoice is void, unless it is paid already (a refund
    is the front desk's decision)."""
    Invoice.objects.filter(
        appointment_id=cancelled.appointment_id, status=Invoice.Status.OPEN
    ).update(status=Invoice.Status.VOID)

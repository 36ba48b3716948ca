"""Notifications' reactions: a patient is told of each booking and cancellation.

The row is written before the SMS is sent, in the delivery's transaction: if the gateway fails,
the row rolls back with the delivery, which is kept as a dead letter and sent again on retry.
"""

from datetime import datetime

from clinic.contracts import AppointmentBooked, AppointmentCancelled
from clinic.notifications import module
from clinic.notifications.models import Notification
from clinic.notifications.sms import SmsGateway


@module.subscribe("appointment.booked", name="confirm_booking")
def confirm_booking(booked: AppointmentBooked, sms: SmsGateway) -> None:
    """On ``appointment.booked``: "Your appointment with ... is booked."."""
    text = f"Your appointment with {booked.therapist} on {_when(booked.starts_at)} is booked."
    _notify(sms, booked.patient_id, booked.appointment_id, Notification.Kind.BOOKED, text)


@module.subscribe("appointment.cancelled", name="confirm_cancellation")
def confirm_cancellation(cancelled: AppointmentCancelled, sms: SmsGateway) -> None:
    """On ``appointment.cancelled``: "Your appointment with ... is cancelled."."""
    text = (
        f"Your appointment with {cancelled.therapist} on {_when(cancelled.starts_at)} is cancelled."
    )
    _notify(sms, cancelled.patient_id, cancelled.appointment_id, Notification.Kind.CANCELLED, text)


def _notify(sms: SmsGateway, patient_id: int, appointment_id: int, kind: str, text: str) -> None:
    Notification.objects.create(
        patient_id=patient_id, appointment_id=appointment_id, kind=kind, text=text
    )
    sms.send(patient_id, text)


def _when(starts_at: str) -> str:
    """``2030-01-07T09:00:00+00:00`` -> ``7 January 2030 at 09:00 UTC``."""
    moment = datetime.fromisoformat(starts_at)
    return f"{moment.day} {moment:%B %Y at %H:%M} UTC"

"""The appointments' JSON API: a patient books, lists, reads and cancels their own appointments.

Each view runs as the appointments module (AuraMiddleware): it reaches the patients module
through its PatientDirectory contract only, and publishes in the transaction of the writes each
event announces, so billing and notifications hear of a booking once it is committed, never of
one rolled back.
"""

from datetime import UTC

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from aura.integrations.django import module_services
from clinic.appointments.forms import BookingForm
from clinic.appointments.models import Appointment
from clinic.contracts import AppointmentBooked, AppointmentCancelled, PatientDirectory
from clinic.http import ApiError, api, json_body


@api("GET", "POST")
def appointments(request: HttpRequest) -> JsonResponse:
    """GET: the patient's appointments. POST: book one (``therapist``, ``starts_at``, ``kind``)."""
    patient_id = _patient_id(request)
    if request.method == "GET":
        own = Appointment.objects.filter(patient_id=patient_id)
        return JsonResponse({"appointments": [each.as_json() for each in own]})
    form = BookingForm(json_body(request))
    if not form.is_valid():
        raise ApiError(400, "The booking is incomplete or invalid.", errors=form.errors)
    booking = form.cleaned_data
    with transaction.atomic():
        appointment = Appointment.objects.create(
            patient_id=patient_id,
            therapist=booking["therapist"],
            starts_at=booking["starts_at"].astimezone(UTC),
            kind=booking["kind"],
            fee_cents=Appointment.FEES_CENTS[booking["kind"]],
        )
        module_services("appointments").publish(
            AppointmentBooked(
                appointment_id=appointment.pk,
                patient_id=patient_id,
                therapist=appointment.therapist,
                starts_at=appointment.starts_at.isoformat(),
                fee_cents=appointment.fee_cents,
            )
        )
        # Read last, in the booking's transaction: a discharge committed while the booking was
        # being written is seen, and raising here takes back the appointment and its event.
        if not _directory().is_active(patient_id):
            raise ApiError(403, f"Patient {patient_id} is discharged and cannot book.")
    return JsonResponse(appointment.as_json(), status=201)


@api("GET")
def appointment(request: HttpRequest, appointment_id: int) -> JsonResponse:
    """One of the patient's appointments; someone else's is not found."""
    return JsonResponse(_own(request, appointment_id).as_json())


@api("POST")
def cancel(request: HttpRequest, appointment_id: int) -> JsonResponse:
    """Cancel one of the patient's appointments."""
    with transaction.atomic():
        appointment = _own(request, appointment_id, for_update=True)
        if appointment.status == Appointment.Status.CANCELLED:
            raise ApiError(409, f"Appointment {appointment_id} is already cancelled.")
        appointment.status = Appointment.Status.CANCELLED
        appointment.save(update_fields=["status"])
        module_services("appointments").publish(
            AppointmentCancelled(
                appointment_id=appointment.pk,
                patient_id=appointment.patient_id,
                therapist=appointment.therapist,
                starts_at=appointment.starts_at.isoformat(),
            )
        )
    return JsonResponse(appointment.as_json())


def _directory() -> PatientDirectory:
    directory: PatientDirectory = module_services("appointments").get_service(
        "patients", "PatientDirectory"
    )
    return directory


def _patient_id(request: HttpRequest) -> int:
    """The patient the logged-in user is; 403 for a user who is no patient."""
    patient_id = _directory().patient_of(request.user.pk)
    if patient_id is None:
        raise ApiError(403, "Only the clinic's patients have appointments.")
    return patient_id


def _own(request: HttpRequest, appointment_id: int, *, for_update: bool = False) -> Appointment:
    """The patient's appointment ``appointment_id``; 404 for another patient's, which is not
    told apart from one that does not exist."""
    found = Appointment.objects.filter(pk=appointment_id, patient_id=_patient_id(request))
    appointment = (found.select_for_update() if for_update else found).first()
    if appointment is None:
        raise ApiError(404, f"You have no appointment {appointment_id}.")
    return appointment

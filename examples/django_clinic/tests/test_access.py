"""Who may see and change what: a patient reaches only their own appointments (another's is not
found, as if it did not exist), an anonymous request is answered 401, a user who is no patient
403, and only the front desk records payments."""

from __future__ import annotations

import pytest
from clinic.billing.invoices.models import Invoice
from clinic_client import Clinic

from aura.testing import PublishedEvents

pytestmark = pytest.mark.django_db(transaction=True)

ANONYMOUS = {"detail": "Log in to use the clinic's API."}


@pytest.fixture
def adas_appointment(clinic: Clinic) -> int:
    """The id of an appointment ada booked (delivered: billing opened its invoice)."""
    clinic.patient("ada")
    clinic.login("ada")
    return int(clinic.book().json()["appointment_id"])


def test_a_patient_sees_only_their_own_appointments(clinic: Clinic, adas_appointment: int) -> None:
    clinic.patient("grace")
    clinic.login("grace")
    graces = clinic.book(therapist="Dr. Okafor").json()["appointment_id"]

    listed = clinic.request("GET", "/appointments/").json()["appointments"]
    own = clinic.request("GET", f"/appointments/{graces}/")
    other = clinic.request("GET", f"/appointments/{adas_appointment}/")
    missing = clinic.request("GET", "/appointments/999/")

    assert [(a["appointment_id"], a["therapist"]) for a in listed] == [(graces, "Dr. Okafor")]
    assert own.status_code == 200
    assert (other.status_code, missing.status_code) == (404, 404)
    assert other.json() == {"detail": f"You have no appointment {adas_appointment}."}


def test_another_patient_cannot_cancel_an_appointment(
    clinic: Clinic, adas_appointment: int, published_events: PublishedEvents
) -> None:
    before = published_events.mark()
    clinic.patient("grace")
    clinic.login("grace")

    response = clinic.cancel(adas_appointment)

    assert response.status_code == 404
    assert response.json() == {"detail": f"You have no appointment {adas_appointment}."}
    assert published_events.since(before).events == []
    assert Invoice.objects.get().status == "open"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/appointments/"),
        ("POST", "/appointments/"),
        ("GET", "/appointments/1/"),
        ("POST", "/appointments/1/cancel/"),
        ("POST", "/billing/invoices/1/payments/"),
    ],
)
def test_an_anonymous_request_is_answered_401(
    clinic: Clinic, published_events: PublishedEvents, method: str, path: str
) -> None:
    response = clinic.request(method, path, {})

    assert response.status_code == 401
    assert response.json() == ANONYMOUS
    assert published_events.events == []


def test_a_user_who_is_no_patient_is_answered_403(clinic: Clinic) -> None:
    clinic.user("front-desk", staff=True)
    clinic.login("front-desk")

    response = clinic.request("GET", "/appointments/")

    assert response.status_code == 403
    assert response.json() == {"detail": "Only the clinic's patients have appointments."}


def test_a_wrong_method_is_answered_405_with_the_allowed_ones(clinic: Clinic) -> None:
    clinic.patient("ada")
    clinic.login("ada")

    response = clinic.request("DELETE", "/appointments/1/")

    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json() == {"detail": "DELETE is not allowed here."}

import pytest
from clinic.billing.models import Invoice
from clinic.patients.models import Patient


@pytest.mark.django_db(transaction=True)  # real commits: deliveries run after each one
def test_a_booked_visit_is_invoiced(client, published_events):
    patient = Patient.objects.create(name="Ada")
    response = client.post(
        "/visits/", {"patient_id": patient.pk, "fee_cents": 9000}, content_type="application/json"
    )
    assert response.status_code == 201
    published_events.assert_published("visit.booked", patient_id=patient.pk, fee_cents=9000)
    assert Invoice.objects.get().amount_cents == 9000


def test_with_db_the_delivery_waits_for_the_commit(
    client, published_events, django_capture_on_commit_callbacks
):
    patient = Patient.objects.create(name="Grace")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/visits/", {"patient_id": patient.pk, "fee_cents": 1}, content_type="application/json"
        )
        assert not Invoice.objects.exists()  # not committed yet
    assert Invoice.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_an_unknown_patient_books_nothing(client, published_events, service_calls):
    response = client.post(
        "/visits/", {"patient_id": 404, "fee_cents": 1}, content_type="application/json"
    )
    assert response.status_code == 404
    assert published_events.events == []
    [call] = service_calls.calls
    assert (call.caller_module, call.provider_module, call.method) == (
        "visits",
        "patients",
        "is_registered",
    )

"""A booking crosses the modules through the outbox: written with the appointment, delivered to
billing and notifications once it commits (with ``db`` when the test captures the commit, with
``transactional_db`` at each real commit), and never when it rolls back."""

from __future__ import annotations

import os

import pytest
from clinic.appointments.models import Appointment
from clinic.billing.invoices.models import Invoice
from clinic.notifications.models import Notification
from clinic_client import Clinic
from django.db import connection
from pytest_django import DjangoCaptureOnCommitCallbacks

from aura import Platform
from aura.testing import PublishedEvents, ServiceCalls


def statuses(platform: Platform) -> list[str]:
    """The status of each publication (one per event and subscriber) in Aura's registry, in
    the clinic's own database."""
    rows = platform.database.query("SELECT status FROM aura_publications ORDER BY status")
    return [row["status"] for row in rows]


def test_the_suite_runs_on_the_database_example_database_names(aura_platform: Platform) -> None:
    expected = "postgresql" if os.environ.get("EXAMPLE_DATABASE") == "postgresql" else "sqlite"
    assert connection.vendor == expected
    assert aura_platform.database.dialect == expected  # Aura's outbox is on Django's connection


def test_with_db_a_booking_is_delivered_when_its_captured_commit_runs(
    clinic: Clinic,
    published_events: PublishedEvents,
    django_capture_on_commit_callbacks: DjangoCaptureOnCommitCallbacks,
) -> None:
    ada = clinic.patient("ada")
    clinic.login("ada")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = clinic.book(**{"X-Correlation-ID": "booking-1"})
        assert Invoice.objects.count() == 0  # not committed yet: nothing delivered
        assert published_events.events == []

    assert response.status_code == 201, response.content
    assert response.headers["X-Correlation-ID"] == "booking-1"
    assert callbacks  # the delivery waited for the commit, as Django's own callbacks do
    appointment_id = response.json()["appointment_id"]
    assert response.json() == {
        "appointment_id": appointment_id,
        "therapist": "Dr. Rivera",
        "starts_at": "2030-01-07T09:00:00+00:00",
        "kind": "session",
        "fee_cents": 9000,
        "status": "booked",
    }
    assert [(e.event_type, e.source_module) for e in published_events] == [
        ("appointment.booked", "appointments"),
        ("invoice.opened", "billing"),
    ]
    assert {(e.correlation_id, e.metadata["user_id"]) for e in published_events} == {
        ("booking-1", ada.user.pk)  # the request's id and user, on the handler's event too
    }
    published_events.assert_published(
        "appointment.booked", times=1, appointment_id=appointment_id, patient_id=ada.pk
    )
    invoice = Invoice.objects.get()
    assert (invoice.appointment_id, invoice.patient_id, invoice.amount_cents, invoice.status) == (
        appointment_id,
        ada.pk,
        9000,
        "open",
    )
    published_events.assert_published("invoice.opened", invoice_id=invoice.pk, amount_cents=9000)
    assert [(n.patient_id, n.kind) for n in Notification.objects.all()] == [(ada.pk, "booked")]


def test_with_db_nothing_is_delivered_without_a_commit(
    clinic: Clinic, aura_platform: Platform, published_events: PublishedEvents
) -> None:
    clinic.patient("ada")
    clinic.login("ada")

    assert clinic.book().status_code == 201

    # Written in the test's transaction, which never commits: recorded for billing and
    # notifications, not delivered.
    assert statuses(aura_platform) == ["PROCESSING", "PROCESSING"]
    assert published_events.events == []
    assert (Invoice.objects.count(), Notification.objects.count()) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_with_transactional_db_each_commit_delivers(
    clinic: Clinic, aura_platform: Platform, published_events: PublishedEvents
) -> None:
    ada = clinic.patient("ada")
    clinic.login("ada")

    booked = clinic.book(kind="intake").json()
    assert Invoice.objects.get().status == "open"  # delivered when the booking committed
    cancelled = clinic.cancel(booked["appointment_id"])

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert published_events.types() == [
        "appointment.booked",
        "invoice.opened",
        "appointment.cancelled",
    ]
    assert len({e.correlation_id for e in published_events}) == 2  # one per request
    invoice = Invoice.objects.get()
    assert (invoice.amount_cents, invoice.status) == (15000, "void")
    assert [n.text for n in Notification.objects.filter(patient_id=ada.pk)] == [
        "Your appointment with Dr. Rivera on 7 January 2030 at 09:00 UTC is booked.",
        "Your appointment with Dr. Rivera on 7 January 2030 at 09:00 UTC is cancelled.",
    ]
    # Each delivery (two events, two subscribers each) committed with its handler's writes.
    assert statuses(aura_platform) == ["COMPLETED"] * 4


@pytest.mark.django_db(transaction=True)
def test_a_booking_rolled_back_after_its_publish_leaves_no_row_and_no_event(
    clinic: Clinic, aura_platform: Platform, published_events: PublishedEvents
) -> None:
    ada = clinic.patient("ada", active=False)
    clinic.login("ada")

    response = clinic.book()

    assert response.status_code == 403
    assert response.json() == {"detail": f"Patient {ada.pk} is discharged and cannot book."}
    assert Appointment.objects.count() == 0
    assert published_events.events == []
    assert statuses(aura_platform) == []  # the event rolled back with the appointment
    assert (Invoice.objects.count(), Notification.objects.count()) == (0, 0)


@pytest.mark.django_db(transaction=True)
def test_the_booking_asks_the_patients_module_through_its_contract(
    clinic: Clinic, service_calls: ServiceCalls
) -> None:
    clinic.patient("ada")
    clinic.login("ada")

    clinic.book()

    assert [
        (c.caller_module, c.provider_module, c.service_name, c.method) for c in service_calls
    ] == [
        ("appointments", "patients", "PatientDirectory", "patient_of"),
        ("appointments", "patients", "PatientDirectory", "is_active"),
    ]


def test_an_invalid_booking_is_answered_400_and_publishes_nothing(
    clinic: Clinic, aura_platform: Platform, published_events: PublishedEvents
) -> None:
    clinic.patient("ada")
    clinic.login("ada")

    response = clinic.book(starts_at="next tuesday", kind="massage")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "The booking is incomplete or invalid.",
        "errors": {
            "starts_at": ["Enter a valid date/time."],
            "kind": ["Select a valid choice. massage is not one of the available choices."],
        },
    }
    assert Appointment.objects.count() == 0
    assert statuses(aura_platform) == []


@pytest.mark.django_db(transaction=True)
def test_an_appointment_is_cancelled_once(
    clinic: Clinic, published_events: PublishedEvents
) -> None:
    clinic.patient("ada")
    clinic.login("ada")
    appointment_id = clinic.book().json()["appointment_id"]
    assert clinic.cancel(appointment_id).status_code == 200

    again = clinic.cancel(appointment_id)

    assert again.status_code == 409
    assert again.json() == {"detail": f"Appointment {appointment_id} is already cancelled."}
    published_events.assert_published("appointment.cancelled", times=1)
